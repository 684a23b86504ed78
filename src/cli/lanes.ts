/** `relay pause <lane>`, `relay resume <lane>`: POST /ops/lanes/{lane}/pause|resume. */
import { onePositional, parse } from './args.ts';
import { CliError, UsageError } from './errors.ts';
import { out, outJson } from './format.ts';
import { describeError, relay, relayTarget } from './http.ts';

async function act(action: 'pause' | 'resume', argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse(argv, {}, action);
  const lane = onePositional(positionals, 'lane (relay status lists them)', action);
  if (!/^[a-z0-9_-]{1,32}$/.test(lane)) throw new UsageError(`${JSON.stringify(lane)} is not a lane name (a-z, 0-9, _ and -)`, action);
  const t = await relayTarget(values, env, action);
  const res = await relay(t, `/ops/lanes/${lane}/${action}`, { method: 'POST', auth: 'admin', accept: [404] });
  if (res.status === 404) throw new CliError(`${(res.body as { message?: string }).message ?? describeError(res)}`);
  if (values.json) outJson(res.body);
  else if (action === 'pause') out(`Lane ${lane} paused: its jobs wait (nothing is lost) until \`relay resume ${lane}\`.`);
  else out(`Lane ${lane} resumed: delivering again.`);
  return 0;
}

export const pause = (argv: string[], env: NodeJS.ProcessEnv) => act('pause', argv, env);
export const resume = (argv: string[], env: NodeJS.ProcessEnv) => act('resume', argv, env);
