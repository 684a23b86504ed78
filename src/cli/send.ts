/** `relay send`: one test event to POST /v1/events with the API key; prints the relay's answer. */
import { randomBytes } from 'node:crypto';
import { noPositionals, number, parse } from './args.ts';
import { UsageError } from './errors.ts';
import { out, outJson } from './format.ts';
import { relay, relayTarget } from './http.ts';

const OPTIONS = {
  event: { type: 'string' },
  email: { type: 'string' },
  phone: { type: 'string' },
  'external-id': { type: 'string' },
  value: { type: 'string' },
  id: { type: 'string' },
} as const;

export const DEFAULT_EMAIL = 'relay-test@example.com';

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS, 'send');
  noPositionals(positionals, 'send');
  const value = number(values.value, '--value', 'send');
  const event = values.event ?? 'Placed Order';
  if (event.trim() === '') throw new UsageError('--event needs a metric name', 'send');
  const profile: Record<string, string> = {};
  if (values.email !== undefined) profile['email'] = values.email;
  if (values.phone !== undefined) profile['phone_number'] = values.phone;
  if (values['external-id'] !== undefined) profile['external_id'] = values['external-id'];
  if (Object.keys(profile).length === 0) profile['email'] = DEFAULT_EMAIL;
  const id = values.id ?? `relay-send-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const body = { id, event, profile, ...(value !== undefined ? { value } : {}), properties: { source: 'relay send' } };

  const t = await relayTarget(values, env, 'send');
  const res = await relay(t, '/v1/events', { method: 'POST', body, auth: 'key', label: 'posting the event' });
  if (values.json) {
    outJson(res.body);
    return 0;
  }
  const r = res.body as { accepted?: number; duplicates?: number; spooled?: boolean };
  out(`${res.status} ${JSON.stringify(res.body)}`);
  if (r.duplicates) out(`The relay had already accepted id ${id}: not queued again (send another --id).`);
  else
    out(
      `Accepted "${event}" for ${Object.values(profile)[0]} as id ${id}${r.spooled ? ' (spooled: Redis is unreachable, it moves in when Redis returns)' : ''}.`,
    );
  out(`Follow it: relay find --id ${id}`);
  return 0;
}
