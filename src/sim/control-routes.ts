/**
 * The simulator's own control API, under `/__sim` (no auth: it is a local test double):
 *   GET    /__sim/state[?events=none|recent|all]  accounts, connections, stats
 *   GET    /__sim/stats                           counters, throttles, peak windows
 *   GET    /__sim/requests[?endpoint=&account=&status=&limit=]  recorded requests (authorization masked)
 *   POST   /__sim/reset                           forget everything (state, requests, stats, faults)
 *   GET    /__sim/catalog/:account                catalog counts: items, variants, categories, jobs (in progress, peak, refused)
 *   GET    /__sim/faults                          the fault rules
 *   POST   /__sim/faults                          add one rule or an array → 201 {faults}
 *   DELETE /__sim/faults                          clear all rules
 *   DELETE /__sim/faults/:id                      remove one rule
 *   POST   /__sim/connections/:id/activate        make a PENDING connection ACTIVE
 *   POST   /__sim/connections/:id/status          {"status":"ACTIVE"|"PENDING"|"FAILED"}
 *   GET    /__sim/webhooks                        every account's system webhooks (secrets as fingerprints) and the delivery attempts
 *   POST   /__sim/webhooks/:id/deliver            {"topic"?, "email"?, "profileId"?, "properties"?, "count"?}: deliver now, signed → {attempt}
 *   POST   /__sim/accounts/:id/webhook-access     {"enabled": false} → that account's Webhooks API answers 403 permission_denied
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { EndpointName } from '../klaviyo/endpoints.ts';
import { inProgress } from './catalog-store.ts';
import { faultRuleSchema, type FaultRule } from './faults.ts';
import { settleCatalog } from './handlers/catalog.ts';
import type { Simulator } from './simulator.ts';
import { maskSecret } from './snapshot.ts';
import { secretFingerprint, signingSecret } from './webhook-deliveries.ts';

const statusBody = z.object({ status: z.enum(['ACTIVE', 'PENDING', 'FAILED']) });
const deliverBody = z
  .object({
    topic: z.string().min(1).optional(),
    email: z.string().min(3).optional(),
    profileId: z.string().min(1).optional(),
    properties: z.record(z.string(), z.unknown()).optional(),
    count: z.number().int().min(1).max(1000).optional(),
  })
  .strict();
const accessBody = z.object({ enabled: z.boolean() }).strict();

export function controlRoutes(sim: Simulator): Hono {
  const app = new Hono();

  app.get('/state', (c) => {
    const events = c.req.query('events');
    const mode = events === 'none' || events === 'all' ? events : 'recent';
    return c.json(sim.snapshot({ events: mode, maskSecrets: true }));
  });

  app.get('/stats', (c) => c.json(sim.stats({ maskSecrets: true })));

  // Counts only (no content): what the sandbox and the catalog benchmark read (issue 15).
  app.get('/catalog/:account', (c) => {
    const account = sim.account(c.req.param('account'));
    if (!account) return c.json({ error: 'no such account' }, 404);
    const now = sim.options.now();
    const s = settleCatalog(account, now);
    return c.json({
      items: s.items.size,
      variants: s.variants.size,
      categories: s.categories.size,
      jobs: s.jobs.size,
      inProgress: inProgress(s, now),
      peakInProgress: s.peakInProgress,
      refusedAtCap: s.refusedAtCap,
    });
  });

  app.get('/requests', (c) => {
    const status = c.req.query('status');
    const limit = Number(c.req.query('limit') ?? 1000);
    const filter: { endpoint?: EndpointName; account?: string; status?: number } = {};
    const endpoint = c.req.query('endpoint');
    const account = c.req.query('account');
    if (endpoint) filter.endpoint = endpoint as EndpointName;
    if (account) filter.account = account;
    if (status) filter.status = Number(status);
    const requests = sim.requests(filter).slice(-Math.max(1, limit));
    return c.json({
      requests: requests.map((r) => ({
        ...r,
        account: r.mode === 'direct' && r.account ? maskSecret(r.account) : r.account,
        headers: r.headers['authorization'] ? { ...r.headers, authorization: maskAuthorization(r.headers['authorization']) } : r.headers,
      })),
    });
  });

  app.post('/reset', (c) => {
    sim.reset();
    return c.json({ ok: true });
  });

  app.get('/faults', (c) => c.json({ faults: sim.faults.list() }));

  app.post('/faults', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: 'Body must be a JSON fault rule or an array of them.' }, 400);
    }
    const parsed = z.union([faultRuleSchema, z.array(faultRuleSchema)]).safeParse(body);
    if (!parsed.success) return c.json({ error: 'Invalid fault rule.', issues: parsed.error.issues }, 400);
    return c.json({ faults: sim.faults.add(parsed.data as FaultRule | FaultRule[]) }, 201);
  });

  app.delete('/faults', (c) => {
    const count = sim.faults.list().length;
    sim.faults.clear();
    return c.json({ cleared: count });
  });

  app.delete('/faults/:id', (c) =>
    sim.faults.remove(c.req.param('id')) ? c.json({ removed: c.req.param('id') }) : c.json({ error: 'No such fault rule.' }, 404),
  );

  app.post('/connections/:id/activate', (c) =>
    sim.connections.activate(c.req.param('id'))
      ? c.json({ connection: sim.connections.get(c.req.param('id')) })
      : c.json({ error: 'Connection not found' }, 404),
  );

  app.post('/connections/:id/status', async (c) => {
    const parsed = statusBody.safeParse(await c.req.json().catch(() => null));
    if (!parsed.success) return c.json({ error: 'Body must be {"status":"ACTIVE"|"PENDING"|"FAILED"}.' }, 400);
    return sim.connections.setStatus(c.req.param('id'), parsed.data.status)
      ? c.json({ connection: sim.connections.get(c.req.param('id')) })
      : c.json({ error: 'Connection not found' }, 404);
  });

  app.get('/webhooks', (c) => {
    const now = sim.options.now();
    const webhooks = [...sim.state.accounts.values()].flatMap((a) =>
      [...a.webhooks.values()].map(({ secrets, ...w }) => ({
        account: a.mode === 'direct' ? maskSecret(a.id) : a.id,
        ...w,
        signingSecret: secretFingerprint(signingSecret({ ...w, secrets }, now)),
        secrets: secrets.map((x) => ({ fingerprint: secretFingerprint(x.key), from: x.from })),
      })),
    );
    return c.json({
      webhooks,
      deliveries: sim.webhookDeliveries().map((d) => ({ ...d, account: d.account.startsWith('pk_') ? maskSecret(d.account) : d.account })),
    });
  });

  app.post('/webhooks/:id/deliver', async (c) => {
    const parsed = deliverBody.safeParse(await c.req.json().catch(() => ({})));
    if (!parsed.success) return c.json({ error: 'Invalid body.', issues: parsed.error.issues }, 400);
    const id = c.req.param('id');
    const hook = [...sim.state.accounts.values()].map((a) => a.webhooks.get(id)).find((w) => w !== undefined);
    if (!hook) return c.json({ error: 'Webhook not found' }, 404);
    const { topic = hook.topics[0]!, count = 1, properties = {}, profileId } = parsed.data;
    // Without a profile, one is made up (a profile the rules can act on).
    const email = parsed.data.email ?? (profileId === undefined ? `webhook-test-${Date.now()}@example.com` : undefined);
    const attempt = await sim.deliver(
      id,
      Array.from({ length: count }, () => ({ topic, profileId, properties })),
      { email },
    );
    return c.json({ attempt });
  });

  app.post('/accounts/:id/webhook-access', async (c) => {
    const parsed = accessBody.safeParse(await c.req.json().catch(() => null));
    if (!parsed.success) return c.json({ error: 'Body must be {"enabled": true|false}.' }, 400);
    sim.setWebhookAccess(c.req.param('id'), parsed.data.enabled);
    return c.json({ account: c.req.param('id'), webhookAccess: parsed.data.enabled });
  });

  return app;
}

function maskAuthorization(value: string): string {
  const [scheme, ...rest] = value.split(' ');
  const secret = rest.join(' ');
  return secret ? `${scheme} ${maskSecret(secret)}` : maskSecret(value);
}
