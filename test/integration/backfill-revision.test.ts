/**
 * Issue 13 (contract): `backfill` exists on create_event and bulk_create_events from revision
 * 2026-07-15 on. A relay pinned to an older KLAVIYO_REVISION sends the events without it; with the
 * default revision it is sent as given. What the simulator received, over real sockets.
 */
import { describe, expect, it } from 'vitest';
import { CONNECTION, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';

type Attributes = Record<string, unknown> & { profile?: { data: { attributes: { email?: string } } } };

/** Every event the simulator accepted for this account, as sent: its attributes, by profile email. */
type Sent = Attributes & { revision: string; endpoint: string };

function sentEvents(h: Harness): Map<string, Sent> {
  const out = new Map<string, Sent>();
  for (const r of h.sim.requests({ account: CONNECTION })) {
    if (r.status !== 202 || !r.body) continue;
    const revision = r.headers['revision']!;
    const data = (r.body as { data: { attributes: any } }).data;
    if (r.endpoint === 'create_event') {
      out.set(data.attributes.profile.data.attributes.email, { ...data.attributes, revision, endpoint: r.endpoint });
    } else if (r.endpoint === 'bulk_create_events') {
      for (const entry of data.attributes['events-bulk-create'].data) {
        const email = entry.attributes.profile.data.attributes.email;
        for (const ev of entry.attributes.events.data) out.set(email, { ...ev.attributes, revision, endpoint: r.endpoint });
      }
    }
  }
  return out;
}

const tag = () => Math.random().toString(36).slice(2, 10);
const ev = (email: string, backfill: boolean) => ({ id: `${email}-id`, event: 'Placed Order', profile: { email }, backfill });

/** One lone backfill event (create_event), then a batch of three (bulk), one of them `backfill: false`. */
async function send(h: Harness) {
  const t = tag();
  const emails = [`lone-${t}@example.com`, `b1-${t}@example.com`, `b2-${t}@example.com`, `nb-${t}@example.com`];
  expect((await h.post('/v1/events', ev(emails[0]!, true))).status).toBe(202);
  // Delivered before the batch is posted, so that it goes alone.
  await waitUntil('the lone event delivered', () => sentEvents(h).has(emails[0]!), { timeoutMs: 15_000 });
  const batch = { events: [ev(emails[1]!, true), ev(emails[2]!, true), ev(emails[3]!, false)] };
  expect((await h.post('/v1/events', batch, { headers: { 'X-Relay-Priority': 'bulk' } })).status).toBe(202);
  return waitUntil(
    'all four events delivered',
    () => {
      const sent = sentEvents(h);
      return emails.every((e) => sent.has(e)) && emails.map((e) => sent.get(e)!);
    },
    { timeoutMs: 15_000 },
  );
}

describe('backfill and KLAVIYO_REVISION', () => {
  it('an older revision: the events are sent without `backfill`', async () => {
    const h = await startHarness({ name: 'backfill-old', env: { KLAVIYO_REVISION: '2026-04-15' } });
    try {
      const sent = await send(h);
      expect(sent.map((a) => a.endpoint)).toEqual(['create_event', 'bulk_create_events', 'bulk_create_events', 'bulk_create_events']);
      for (const attrs of sent) {
        expect(attrs.revision).toBe('2026-04-15');
        expect(attrs).not.toHaveProperty('backfill');
      }
    } finally {
      await h.close();
    }
  }, 30_000);

  it('the default revision: `backfill` is sent as given', async () => {
    const h = await startHarness({ name: 'backfill-default' });
    try {
      const sent = await send(h);
      expect(sent.map((a) => a.endpoint)).toEqual(['create_event', 'bulk_create_events', 'bulk_create_events', 'bulk_create_events']);
      expect(sent.map((a) => a.revision)).toEqual(['2026-07-15', '2026-07-15', '2026-07-15', '2026-07-15']);
      expect(sent.map((a) => a.backfill)).toEqual([true, true, true, false]);
    } finally {
      await h.close();
    }
  }, 30_000);
});
