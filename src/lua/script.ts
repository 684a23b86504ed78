/**
 * The relay's Lua scripts as typed Redis commands.
 *
 * Each script is a file beside this module, `<name>.lua`, whose header comment is its contract:
 * one line per key (`-- KEYS[1] name  meaning`), one per argument (`-- ARGV[2] name  meaning and
 * units`) and what it returns (`-- Returns …`). The module that owns the decision a script makes
 * declares it once with `luaScript`, naming its keys and arguments in the header's order; callers
 * pass them by name (`{ keys: { pending }, args: { member, … } }`) and never see a position. The
 * names are checked against the header when the module loads, so the two cannot drift apart.
 *
 * A name ending in `[]` is a list: its values take consecutive positions (`-- KEYS[2..] items`).
 * A script whose keys are all single has a fixed number of keys, so its first argument is its
 * first key: ioredis routes (and auto-pipelines) a custom command by its first argument, which
 * must be a key of the right slot on a Redis Cluster (src/ingest/enqueue.ts tells how a leading
 * numkeys once misrouted the ingest claim). A script with a list of keys leads with the count, so
 * on an auto-pipelining connection it is sent in a pipeline of its own, which ioredis routes by
 * the keys themselves.
 *
 * ioredis's defineCommand sends a script by EVALSHA, and by EVAL the first time on a connection
 * and after NOSCRIPT (Redis restarted or failed over): the body travels once per connection, not
 * with every call on the hot path.
 *
 * The files are read when this module loads, from beside it: `npm run build` copies them next to
 * the compiled module (scripts/build.mjs).
 */
import { readFileSync } from 'node:fs';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis.ts';

type Arg = string | number | Buffer;
type BaseName<N extends string> = N extends `${infer B}[]` ? B : N;
/** `['job', 'items[]']` → `{ job: V; items: readonly V[] }` */
type Named<Ns extends readonly string[], V> = { readonly [N in Ns[number] as BaseName<N>]: N extends `${string}[]` ? readonly V[] : V };

export interface ScriptCall<K extends readonly string[], A extends readonly string[]> {
  readonly keys: Named<K, string>;
  readonly args: Named<A, Arg>;
}

export interface LuaScript<K extends readonly string[], A extends readonly string[], R> {
  /** The command's name on a connection. */
  readonly name: string;
  /**
   * Defines the command on a connection; does nothing if it is there already. Call it when the
   * connection is set up, before traffic: ioredis copies a connection's commands into each
   * (auto-)pipeline as the pipeline is created, so a command defined while one is pending is
   * missing from it — its first call then breaks that whole pipeline ("results[i] is not
   * iterable", and every command of the pipeline hangs; test/integration/queued-bytes.test.ts).
   */
  define(redis: RedisClient): void;
  run(redis: RedisClient, call: ScriptCall<K, A>): Promise<R>;
  /** Adds the call to a pipeline made from a connection the script was defined on; read its result with `reply`. */
  queue(pipe: ChainableCommander, call: ScriptCall<K, A>): void;
  /** The script's reply, as `run` returns it. */
  reply(raw: unknown): R;
}

export interface ScriptSpec<K extends readonly string[], A extends readonly string[], R> {
  /** The file `<name>.lua`, beside this module. */
  readonly name: string;
  /** The directory the file is in instead (a URL ending in `/`; tests' own scripts). */
  readonly dir?: URL;
  readonly keys: K;
  readonly args: A;
  /** Turns the raw reply into what callers get (it is `unknown` to the type checker). */
  readonly reply: (raw: unknown) => R;
  /**
   * Values the script spells out itself that TypeScript owns too (e.g. a hash field's prefix):
   * the file must declare each as `local NAME = <value>`, or the module does not load.
   */
  readonly constants?: Readonly<Record<string, string | number>>;
}

type Command = (this: unknown, ...args: Arg[]) => unknown;

export function luaScript<const K extends readonly string[], const A extends readonly string[], R>(spec: ScriptSpec<K, A, R>): LuaScript<K, A, R> {
  const file = new URL(`${spec.name}.lua`, spec.dir ?? new URL('.', import.meta.url));
  const lua = readFileSync(file, 'utf8');
  checkContract(spec, lua);
  const name = `relay_${spec.name.replaceAll('-', '_')}`;
  const fixedKeys = spec.keys.every((k) => !k.endsWith('[]'));

  /** The call's values in the header's order (led by the number of keys when it varies). */
  function flatten(call: ScriptCall<K, A>): Arg[] {
    const argv: Arg[] = [];
    const put = (names: readonly string[], values: Readonly<Record<string, Arg | readonly Arg[]>>) => {
      for (const n of names) {
        const v = values[n.endsWith('[]') ? n.slice(0, -2) : n];
        if (v === undefined) throw new TypeError(`${spec.name}.lua: no value for ${n}`);
        if (Array.isArray(v)) for (const x of v as readonly Arg[]) argv.push(x);
        else argv.push(v as Arg);
      }
    };
    put(spec.keys, call.keys as Readonly<Record<string, string | readonly string[]>>);
    const numKeys = argv.length;
    put(spec.args, call.args as Readonly<Record<string, Arg | readonly Arg[]>>);
    return fixedKeys ? argv : [numKeys, ...argv];
  }

  function commandOf(target: RedisClient | ChainableCommander): Command {
    const fn = (target as unknown as Record<string, Command | undefined>)[name];
    if (!fn) throw new Error(`${spec.name}.lua is not defined on this connection (define it when the connection is set up)`);
    return fn;
  }

  const script: LuaScript<K, A, R> = {
    name,
    define(redis) {
      if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys: fixedKeys ? spec.keys.length : undefined });
    },
    async run(redis, call) {
      // Defined late (a setup that forgot it): this call must not join an auto-pipeline that was
      // created before the command existed (see define), so it goes out in a pipeline of its own.
      const late = !(name in redis);
      script.define(redis);
      const argv = flatten(call);
      if (!redis.options.enableAutoPipelining || (fixedKeys && !late)) return spec.reply(await commandOf(redis).apply(redis, argv));
      const pipe = redis.pipeline();
      commandOf(pipe).apply(pipe, argv);
      const [[err, raw] = [null, undefined]] = (await pipe.exec()) ?? [];
      if (err) throw err;
      return spec.reply(raw);
    },
    queue(pipe, call) {
      commandOf(pipe).apply(pipe, flatten(call));
    },
    reply: spec.reply,
  };
  return script;
}

/** The header must name the keys and arguments in the declared order, and say what the script returns. */
export function checkContract(spec: ScriptSpec<readonly string[], readonly string[], unknown>, lua: string): void {
  const header = lua.slice(0, lua.search(/^(?!--)/m)).split('\n');
  const fail = (what: string) => {
    throw new Error(`${spec.name}.lua: ${what}`);
  };
  for (const [section, names] of [
    ['KEYS', spec.keys],
    ['ARGV', spec.args],
  ] as const) {
    const lines = header.filter((l) => l.startsWith(`-- ${section}[`));
    if (lines.length !== names.length) fail(`the header lists ${lines.length} ${section} lines, the module declares ${names.length} (${names.join(', ')})`);
    let position: number | undefined = 1;
    names.forEach((n, i) => {
      const list = n.endsWith('[]');
      const base = list ? n.slice(0, -2) : n;
      const m = /^-- \w+\[([^\]]+)\] (\S+)/.exec(lines[i]!);
      if (m?.[2] !== base) fail(`${section} entry ${i + 1} is "${m?.[2]}" in the header, "${base}" in the module`);
      if (!list && position !== undefined && m?.[1] !== String(position))
        fail(`${base} is ${section}[${m?.[1]}] in the header, ${section}[${position}] in the module`);
      position = list || position === undefined ? undefined : position + 1;
    });
  }
  if (!header.some((l) => l.startsWith('-- Returns'))) fail('the header does not say what it returns ("-- Returns …")');
  for (const [k, v] of Object.entries(spec.constants ?? {})) {
    const literal = typeof v === 'number' ? String(v) : `'${v}'`;
    if (!lua.includes(`local ${k} = ${literal}\n`)) fail(`expected "local ${k} = ${literal}" (the value TypeScript uses)`);
  }
}
