/** `relay find (--id | --email | --phone | --external-id) <value>`: GET /ops/find. */
import { parse } from './args.ts';
import { UsageError } from './errors.ts';
import { ago, out, outJson, table } from './format.ts';
import { relay, relayTarget } from './http.ts';

const OPTIONS = {
  id: { type: 'string' },
  email: { type: 'string' },
  phone: { type: 'string' },
  'phone-number': { type: 'string' },
  'external-id': { type: 'string' },
} as const;

interface Found {
  ref?: string;
  queue: string;
  jobId?: string;
  state: string;
  acceptedAt?: number;
  via: 'id' | 'scan';
  note?: string;
}

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS, 'find');
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]} (say what it is: --id, --email, --phone or --external-id)`, 'find');
  const query: Record<string, string> = {};
  if (values.id !== undefined) query['id'] = values.id;
  if (values.email !== undefined) query['email'] = values.email;
  const phone = values.phone ?? values['phone-number'];
  if (phone !== undefined) query['phone_number'] = phone;
  if (values['external-id'] !== undefined) query['external_id'] = values['external-id'];
  if (Object.keys(query).length === 0) throw new UsageError('give one of --id, --email, --phone, --external-id', 'find');
  for (const [k, v] of Object.entries(query))
    if (v.trim() === '') throw new UsageError(`--${k.replace('_number', '').replace('_', '-')} needs a value`, 'find');
  const t = await relayTarget(values, env, 'find');
  const res = await relay(t, `/ops/find?${new URLSearchParams(query)}`, { auth: 'admin', label: 'searching the queues' });
  const body = res.body as { query: Record<string, string>; jobs: Found[] };
  if (values.json) {
    outJson(body);
    return 0;
  }
  const what = Object.entries(query)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  if (body.jobs.length === 0) {
    out(`Nothing found for ${what}.`);
    if (!query['id']) out('(a search by person looks at the most recent jobs of each state only; completed jobs keep no personal data)');
    return 0;
  }
  const now = Date.now();
  const jobs = body.jobs.filter((j) => j.ref);
  const delivered = body.jobs.filter((j) => !j.ref);
  if (jobs.length > 0) {
    out(
      table(
        [{ header: 'ref' }, { header: 'state' }, { header: 'accepted' }, { header: 'found by' }],
        jobs.map((j) => [j.ref!, j.state, ago(j.acceptedAt, now), j.via === 'id' ? 'id' : 'scan']),
      ),
    );
  }
  for (const d of delivered) out(`${jobs.length > 0 ? '\n' : ''}${d.queue}: ${d.state}${d.note ? ` — ${d.note}` : ''}`);
  if (jobs.some((j) => j.state === 'failed')) out('\nA failed job is a dead letter: relay dlq show <ref>');
  return 0;
}
