/** `relay privacy delete|suppress|unsuppress` (issue 16), run as a user does, against a running relay and the simulator. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONNECTION, RELAY_KEY, startHarness, type Harness } from '../support/harness.ts';
import { noStack, runRelay } from '../support/relay-cli.ts';
import { waitUntil } from '../support/wait.ts';

let h: Harness;
let env: Record<string, string>;
const tag = Math.random().toString(36).slice(2, 8);

beforeAll(async () => {
  h = await startHarness({ name: 'cli-privacy' });
  env = { RELAY_URL: h.service.url!, RELAY_API_KEYS: RELAY_KEY };
});
afterAll(async () => {
  await h?.close();
});

describe('relay privacy', () => {
  it('delete erases a person and says what it removed, without the identifier', async () => {
    const email = `cli-${tag}@example.com`;
    expect((await h.post('/v1/events', { id: `cli-${tag}`, event: 'Placed Order', profile: { email } })).status).toBe(202);
    await waitUntil('delivered', () => h.sim.eventsFor(CONNECTION, { email }).length === 1);
    await waitUntil('its job completed', async () => (await h.queue('events').getJobCounts('completed')).completed! >= 1);
    const r = await runRelay(['privacy', 'delete', '--email', email], env, 25_000);
    noStack(r);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Erased from the relay \(subject [0-9a-f]{32}\)/);
    // Its delivered job keeps no payload since issue 18 (src/job-data.ts completedJobData): the
    // relay holds nothing of the person once the event is delivered, and says so.
    expect(r.stdout).toContain('The relay held nothing of this person.');
    expect(r.stdout).not.toContain(email);
    await waitUntil('Klaviyo got the deletion job', () => h.sim.privacyOps(CONNECTION).some((o) => o.kind === 'deletion' && o.email === email));
  });

  it('suppress and unsuppress send the addresses to Klaviyo', async () => {
    const a = `sup-a-${tag}@example.com`;
    const b = `sup-b-${tag}@example.com`;
    const r = await runRelay(['privacy', 'suppress', '--email', a, '--email', b], env, 25_000);
    expect(r.code).toBe(0);
    await waitUntil('both suppressed', () => [a, b].every((e) => h.sim.profileByEmail(CONNECTION, e)?.suppressedAt));
    expect((await runRelay(['privacy', 'unsuppress', '--email', a], env, 25_000)).code).toBe(0);
    await waitUntil('a unsuppressed', () => h.sim.profileByEmail(CONNECTION, a)?.suppressedAt === null);
    expect(h.sim.profileByEmail(CONNECTION, b)?.suppressedAt).not.toBeNull();
  });

  it('a usage error for two identifiers, or none', async () => {
    const two = await runRelay(['privacy', 'delete', '--email', 'a@example.com', '--phone', '+15005550006'], env, 25_000);
    expect(two.code).toBe(2);
    expect(two.stderr).toContain('exactly one of --email, --phone or --profile-id');
    expect((await runRelay(['privacy', 'forget'], env, 25_000)).code).toBe(2);
  });
});
