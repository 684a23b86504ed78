/**
 * `relay privacy delete --email <e> | --phone <+E164> | --profile-id <id>`: erase a person through
 * POST /v1/privacy/deletions with the API key (issue 16); prints what the relay removed, where.
 * `relay privacy suppress|unsuppress --email <e> [--email <e>…]`: POST|DELETE /v1/suppressions.
 */
import { noPositionals, parse, subcommand } from './args.ts';
import { UsageError } from './errors.ts';
import { out, outJson } from './format.ts';
import { relay, relayTarget } from './http.ts';

const DELETE_OPTIONS = {
  email: { type: 'string' },
  phone: { type: 'string' },
  'profile-id': { type: 'string' },
  id: { type: 'string' },
} as const;

const SUPPRESS_OPTIONS = { email: { type: 'string', multiple: true } } as const;

interface ErasureRecord {
  subject: string;
  removed: Record<string, number>;
  where: { place: string; state?: string; count: number }[];
}

async function erase(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse(argv, DELETE_OPTIONS, 'privacy');
  noPositionals(positionals, 'privacy');
  const given = [
    values.email !== undefined ? { email: values.email } : undefined,
    values.phone !== undefined ? { phone_number: values.phone } : undefined,
    values['profile-id'] !== undefined ? { profile_id: values['profile-id'] } : undefined,
  ].filter((g) => g !== undefined);
  if (given.length !== 1) throw new UsageError('give exactly one of --email, --phone or --profile-id', 'privacy');
  const t = await relayTarget(values, env, 'privacy');
  const body = { ...given[0], ...(values.id !== undefined ? { id: values.id } : {}) };
  const res = await relay(t, '/v1/privacy/deletions', { method: 'POST', body, auth: 'key', label: 'requesting the erasure' });
  if (values.json) {
    outJson(res.body);
    return 0;
  }
  const r = res.body as { ids: string[]; erasures: ErasureRecord[] };
  const e = r.erasures[0]!;
  out(`Erased from the relay (subject ${e.subject}); Klaviyo's deletion job is queued as id ${r.ids[0]}.`);
  const removed = Object.entries(e.removed).filter(([, n]) => n > 0);
  out(removed.length === 0 ? 'The relay held nothing of this person.' : `Removed: ${removed.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  for (const w of e.where) out(`  ${w.place}${w.state ? ` (${w.state})` : ''}: ${w.count}`);
  return 0;
}

async function suppression(argv: string[], env: NodeJS.ProcessEnv, suppress: boolean): Promise<number> {
  const { values, positionals } = parse(argv, SUPPRESS_OPTIONS, 'privacy');
  noPositionals(positionals, 'privacy');
  const emails = values.email ?? [];
  if (emails.length === 0) throw new UsageError('give at least one --email', 'privacy');
  const t = await relayTarget(values, env, 'privacy');
  const res = await relay(t, '/v1/suppressions', { method: suppress ? 'POST' : 'DELETE', body: { emails }, auth: 'key', label: 'sending the suppressions' });
  if (values.json) outJson(res.body);
  else out(`${suppress ? 'Suppression' : 'Unsuppression'} of ${emails.length} address(es) queued: ${JSON.stringify(res.body)}`);
  return 0;
}

const SUBS = 'delete, suppress or unsuppress';

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { sub, rest } = subcommand(argv);
  switch (sub) {
    case 'delete':
      return erase(rest, env);
    case 'suppress':
      return suppression(rest, env, true);
    case 'unsuppress':
      return suppression(rest, env, false);
    case undefined:
      throw new UsageError(`give a subcommand: ${SUBS}`, 'privacy');
    default:
      throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}: ${SUBS}`, 'privacy');
  }
}
