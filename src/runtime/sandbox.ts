/**
 * Sandbox mode: with no credentials, `npm start` runs the Klaviyo simulator in-process (over a real
 * loopback socket, so the workers' code path is the production one: the gateway client) and
 * mounts a read-only view of what it received at /sandbox on the relay's own port.
 */
import { Hono } from 'hono';
import { startSimulator } from '../sim/index.ts';
import { SANDBOX_CONNECTION, SANDBOX_GATEWAY_KEY } from '../lanes.ts';

export interface Sandbox {
  readonly url: string;
  readonly view: Hono;
  close(): Promise<void>;
}

export async function startSandbox(port: number): Promise<Sandbox> {
  const running = await startSimulator({ port, host: '127.0.0.1', gatewayKeys: [SANDBOX_GATEWAY_KEY] });
  const { sim } = running;
  const view = new Hono();
  view.get('/events', (c) => {
    const events = sim.eventsFor(SANDBOX_CONNECTION).map((e) => {
      const p = sim.account(SANDBOX_CONNECTION)?.profiles.get(e.profileId);
      return { ...e, profile: p ? { id: p.id, email: p.email, phone_number: p.phone_number, external_id: p.external_id } : { id: e.profileId } };
    });
    return c.json({ count: events.length, events });
  });
  view.get('/state', (c) => c.json(sim.snapshot()));
  view.get('/stats', (c) => c.json(sim.stats({ maskSecrets: true })));
  return { url: running.url, view, close: () => running.close() };
}
