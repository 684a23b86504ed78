/**
 * `relay`: the operators' command line (bin/relay.js runs this). Finds the command, loads only its
 * module, and turns every failure into one readable message and an exit status: 0 done, 1 failed,
 * 2 usage error. Never a stack trace (RELAY_CLI_DEBUG=1 shows one for an unexpected error).
 */
import { existsSync, readFileSync } from 'node:fs';
import { firstPositional } from './args.ts';
import { CliError, UsageError } from './errors.ts';
import { HELP, helpFor, SUMMARY, TOP_HELP, usageFor } from './help.ts';

export type Run = (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Run>> = {
  status: async () => (await import('./status.ts')).run,
  dlq: async () => (await import('./dlq.ts')).run,
  pause: async () => (await import('./lanes.ts')).pause,
  resume: async () => (await import('./lanes.ts')).resume,
  find: async () => (await import('./find.ts')).run,
  send: async () => (await import('./send.ts')).run,
  privacy: async () => (await import('./privacy.ts')).run,
  connections: async () => (await import('./connections.ts')).run,
  doctor: async () => (await import('./doctor.ts')).run,
  webhooks: async () => (await import('./webhooks.ts')).run,
};

/** Commands with subcommands: their help is per subcommand. */
const SUBCOMMANDS: Record<string, readonly string[]> = {
  dlq: ['list', 'show', 'replay'],
  connections: ['list', 'create', 'get', 'delete'],
  webhooks: ['topics', 'list', 'create', 'rotate', 'delete', 'test'],
};

function version(): string {
  // src/cli/main.ts, or its compiled copy dist/src/cli/main.js (the package root is one level up).
  const candidates = ['../../package.json', '../../../package.json'].map((p) => new URL(p, import.meta.url));
  const file = candidates.find((u) => existsSync(u)) ?? candidates[0]!;
  const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name: string; version: string };
  return `${pkg.name} ${pkg.version}`;
}

function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

async function dispatch(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const at = firstPositional(argv);
  if (at < 0) {
    if (argv.includes('--version') || argv.includes('-v') || argv.includes('-V')) {
      process.stdout.write(`${version()}\n`);
      return 0;
    }
    if (wantsHelp(argv) || argv.length === 0) {
      (argv.length === 0 ? process.stderr : process.stdout).write(`${argv.length === 0 ? SUMMARY : TOP_HELP}\n`);
      return argv.length === 0 ? 2 : 0;
    }
    throw new UsageError(`give a command (${argv[0]} is an option)`);
  }
  let name = argv[at]!;
  const rest = [...argv.slice(0, at), ...argv.slice(at + 1)];
  if (name === 'help') {
    const topic = rest.filter((a) => !a.startsWith('-')).join(' ');
    process.stdout.write(`${topic && (HELP[topic] ?? HELP[topic.split(' ')[0]!]) ? helpFor(topic) : TOP_HELP}\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  if (wantsHelp(rest)) {
    const subs = SUBCOMMANDS[name];
    const sub = subs ? rest[firstPositional(rest)] : undefined;
    if (sub && subs?.includes(sub)) name = `${name} ${sub}`;
    process.stdout.write(`${helpFor(name)}\n`);
    return 0;
  }
  return (await load())(rest, env);
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<never> {
  // `relay status | head`: a closed pipe is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  let code: number;
  try {
    code = await dispatch(argv, env);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`relay: ${err.message}\n${usageFor(err.command)}\n`);
      code = 2;
    } else if (err instanceof CliError) {
      process.stderr.write(`relay: ${err.message}\n`);
      code = err.exitCode;
    } else {
      const e = err as Error;
      process.stderr.write(`relay: unexpected error: ${e?.message ?? String(err)}\n`);
      if (env['RELAY_CLI_DEBUG']) process.stderr.write(`${e?.stack ?? ''}\n`);
      code = 1;
    }
  }
  // Exit once stdout has taken everything (pipes may be asynchronous), without waiting for idle
  // keep-alive sockets or timers.
  return new Promise<never>(() => process.stdout.write('', () => process.exit(code)));
}
