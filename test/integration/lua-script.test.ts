/**
 * The Lua loader (src/lua/script.ts), on real Redis (and on a Redis Cluster in `npm run
 * test:cluster`): named keys and arguments reach the script in the header's order, lists included;
 * a script with a list of keys is routed by its keys on an auto-pipelining connection, in a tick
 * shared with commands for other nodes; a header that disagrees with its module does not load; and
 * every script file of the service compiles and is declared by a module.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkContract, luaScript } from '../../src/lua/script.ts';
import { createRedis, waitForRedis } from '../../src/redis.ts';
import { deleteKeys, REDIS_URL, testRedis, uniquePrefix } from '../support/redis.ts';

const prefix = uniquePrefix('lua');
const dir = new URL('../support/lua/', import.meta.url);
const ECHO = luaScript({ name: 'echo', dir, keys: ['first', 'rest[]'], args: ['label', 'values[]'], reply: (raw) => raw as string[] });
const ECHO_FIXED = luaScript({ name: 'echo-fixed', dir, keys: ['key'], args: ['label'], reply: (raw) => raw as string[] });

let worker: Redis;
let api: Redis;
beforeAll(async () => {
  worker = testRedis();
  // The API's connection does not auto-pipeline (src/redis.ts); scripts must still work on one that does.
  api = createRedis(REDIS_URL, 'api', { enableAutoPipelining: true }) as Redis;
  await Promise.all([waitForRedis(worker, 10_000), waitForRedis(api, 10_000)]);
  for (const c of [worker, api]) {
    ECHO.define(c);
    ECHO_FIXED.define(c);
  }
});
afterAll(async () => {
  worker?.disconnect();
  api?.disconnect();
  await deleteKeys(`${prefix}:*`);
});

describe('named keys and arguments', () => {
  it('reach the script in the order the header gives, lists spread in place', async () => {
    const k = (n: string) => `${prefix}:{echo}:${n}`;
    for (const redis of [worker, api]) {
      const out = await ECHO.run(redis, { keys: { first: k('a'), rest: [k('b'), k('c')] }, args: { label: 'x', values: ['1', 2, '3'] } });
      expect(out).toEqual([k('a'), k('b'), k('c'), '|', 'x', '1', '2', '3']);
      expect(await ECHO.run(redis, { keys: { first: k('a'), rest: [] }, args: { label: 'only', values: [] } })).toEqual([k('a'), '|', 'only']);
      expect(await ECHO_FIXED.run(redis, { keys: { key: k('a') }, args: { label: 'y' } })).toEqual([k('a'), 'y']);
    }
  });

  it('in a pipeline too', async () => {
    const pipe = worker.pipeline();
    ECHO_FIXED.queue(pipe, { keys: { key: `${prefix}:{p}:1` }, args: { label: 'one' } });
    ECHO.queue(pipe, { keys: { first: `${prefix}:{p}:2`, rest: [`${prefix}:{p}:3`] }, args: { label: 'two', values: ['v'] } });
    const res = (await pipe.exec()) ?? [];
    expect(res.map(([err]) => err)).toEqual([null, null]);
    expect(ECHO_FIXED.reply(res[0]![1])).toEqual([`${prefix}:{p}:1`, 'one']);
    expect(ECHO.reply(res[1]![1])).toEqual([`${prefix}:{p}:2`, `${prefix}:{p}:3`, '|', 'two', 'v']);
  });

  it('a script with a list of keys shares an auto-pipelined tick with commands for other slots: every call is answered', async () => {
    // It leads with its key count: routed by that, it would join the pipeline of slot("2")'s node,
    // which a cluster refuses when its keys live elsewhere. Tags spread the calls over the nodes.
    for (let round = 0; round < 10; round++) {
      const tags = Array.from({ length: 8 }, (_, i) => `t${round}-${i}`);
      const results = await Promise.all([
        ...tags.map((t) => ECHO.run(api, { keys: { first: `${prefix}:{${t}}:a`, rest: [`${prefix}:{${t}}:b`] }, args: { label: t, values: [] } })),
        api.set(`${prefix}:{2}:neighbour`, String(round)),
      ]);
      expect(results.slice(0, -1)).toEqual(tags.map((t) => [`${prefix}:{${t}}:a`, `${prefix}:{${t}}:b`, '|', t]));
    }
  });

  it('first run on an auto-pipelined connection while a pipeline waits: that pipeline and the call are answered', async () => {
    // The dedupe memory's find script was defined on its first /ops/find; a send's commands were
    // pending in an auto-pipeline made before it, which then broke ('results[i] is not iterable',
    // a 500). A script defined late goes out in a pipeline of its own.
    const fresh = createRedis(REDIS_URL, 'api') as Redis;
    try {
      await waitForRedis(fresh, 10_000);
      const late = luaScript({ name: 'echo-fixed', dir, keys: ['key'], args: ['label'], reply: (raw) => raw as string[] });
      const [set, echoed, got] = await Promise.all([
        fresh.set(`${prefix}:{late}:a`, '1'),
        late.run(fresh, { keys: { key: `${prefix}:{late}:b` }, args: { label: 'late' } }),
        fresh.get(`${prefix}:{late}:a`),
      ]);
      expect([set, echoed, got]).toEqual(['OK', [`${prefix}:{late}:b`, 'late'], '1']);
    } finally {
      fresh.disconnect();
    }
  });

  it('a pipeline from a connection the script was never defined on is refused before anything is sent', () => {
    const fresh = createRedis(REDIS_URL, 'worker', { lazyConnect: true }) as Redis;
    try {
      expect(() => ECHO_FIXED.queue(fresh.pipeline(), { keys: { key: `${prefix}:{f}` }, args: { label: 'z' } })).toThrow(/not defined on this connection/);
    } finally {
      fresh.disconnect();
    }
  });
});

describe('the contract header', () => {
  const header = [
    '-- What it does.',
    '--',
    '-- KEYS[1] a  the key',
    '-- ARGV[1] b  one',
    '-- ARGV[2] c  two',
    '-- Returns 0.',
    'local X = 5',
    'return 0',
    '',
  ].join('\n');
  const spec = { name: 'inline', keys: ['a'], args: ['b', 'c'], reply: Number } as const;

  it('loads when it names the keys and arguments in the module’s order', () => {
    expect(() => checkContract(spec, header)).not.toThrow();
    expect(() => checkContract({ ...spec, constants: { X: 5 } }, header)).not.toThrow();
  });

  it('does not load when they disagree', () => {
    expect(() => checkContract({ ...spec, args: ['c', 'b'] }, header)).toThrow(/ARGV entry 1 is "b" in the header, "c" in the module/);
    expect(() => checkContract({ ...spec, args: ['b'] }, header)).toThrow(/lists 2 ARGV lines, the module declares 1/);
    expect(() => checkContract({ ...spec, keys: ['a', 'd'] }, header)).toThrow(/lists 1 KEYS lines/);
    expect(() => checkContract(spec, header.replace('ARGV[2] c', 'ARGV[3] c'))).toThrow(/c is ARGV\[3\] in the header, ARGV\[2\] in the module/);
    expect(() => checkContract(spec, header.replace('-- Returns 0.\n', ''))).toThrow(/does not say what it returns/);
    expect(() => checkContract({ ...spec, constants: { X: 6 } }, header)).toThrow(/expected "local X = 6"/);
  });
});

describe("the service's scripts", () => {
  const srcLua = new URL('../../src/lua/', import.meta.url);
  const files = readdirSync(srcLua).filter((f) => f.endsWith('.lua'));

  it('each compiles on Redis', async () => {
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) expect(await worker.script('LOAD', readFileSync(new URL(f, srcLua), 'utf8')), f).toMatch(/^[0-9a-f]{40}$/);
  });

  it('each is declared by the module that owns it (whose loading checks the header)', async () => {
    const owners: Record<string, string> = {};
    const sources = ['src', 'workers'].flatMap((d) =>
      (readdirSync(new URL(`../../${d}/`, import.meta.url), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => `${d}/${f}`),
    );
    for (const path of sources) {
      const text = readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
      for (const m of text.matchAll(/luaScript\(\{\s*name: '([a-z-]+)'/g)) owners[m[1]!] = path;
    }
    expect(Object.keys(owners).sort()).toEqual(files.map((f) => f.replace(/\.lua$/, '')).sort());
    // Importing the owners loads every script: a header that disagrees with its module throws here.
    for (const path of new Set(Object.values(owners))) await import(/* @vite-ignore */ new URL(`../../${path}`, import.meta.url).href);
  });
});
