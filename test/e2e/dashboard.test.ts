/**
 * Issue #6: the queue dashboard in a real browser (Debian's chromium, driven by playwright-core):
 * without the admin token it is 401; with it, every queue is listed and a failed job shows its
 * error. A screenshot is written to test/artifacts/ (ignored by git).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.ts';
import { eventually } from '../support/wait.ts';

const ADMIN = 'dashboard-admin-token';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let h: Harness;
let browser: Browser;

beforeAll(async () => {
  h = await startHarness({ name: 'dash', env: { RELAY_ADMIN_TOKEN: ADMIN } });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('dashboard at /ops/queues', () => {
  it('exists where the browser is expected', () => {
    expect(existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`).toBe(true);
  });

  it('refuses a browser without the token', async () => {
    const page = await browser.newPage();
    // A headless browser cannot show the login prompt, so the navigation itself errors; the
    // response it got is what matters.
    const response = page.waitForResponse((r) => r.url().endsWith('/ops/queues'));
    await page.goto(`${h.service.url}/ops/queues`).catch(() => undefined);
    const res = await response;
    expect(res.status()).toBe(401);
    expect(res.headers()['www-authenticate']).toMatch(/^Basic/);
    await page.close();
  });

  it('lists every queue and shows a failed job\'s error, with identifiers masked', async () => {
    const email = `dash-${Math.random().toString(36).slice(2, 8)}@example.com`;
    h.sim.faults.add({ rejectItems: { emails: [email], detail: 'Simulated rejection for the dashboard' } });
    await h.post('/v1/events', { id: `dash-${Date.now()}`, event: 'Placed Order', profile: { email } });
    await eventually(async () => (await h.service.queues.get('events', 'default').getJobCounts('failed')).failed === 1, 15_000);

    const context = await browser.newContext({ httpCredentials: { username: 'oncall', password: ADMIN }, viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const res = await page.goto(`${h.service.url}/ops/queues`);
    expect(res?.status()).toBe(200);
    for (const q of ['events.default', 'profiles.default', 'webhooks.default']) await page.getByText(q, { exact: false }).first().waitFor({ timeout: 15_000 });

    await page.goto(`${h.service.url}/ops/queues/queue/events.default?status=failed`);
    await page.getByText('Simulated rejection for the dashboard', { exact: false }).first().waitFor({ timeout: 15_000 });
    const html = await page.content();
    expect(html).not.toContain(email);
    // The operations API masks them the same way.
    const dl = await (await fetch(`${h.service.url}/ops/dead-letters`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    expect(dl).toContain('Simulated rejection for the dashboard');
    expect(dl).not.toContain(email);
    mkdirSync('test/artifacts', { recursive: true });
    await page.screenshot({ path: 'test/artifacts/dashboard-failed-job.png', fullPage: true });
    expect(existsSync('test/artifacts/dashboard-failed-job.png')).toBe(true);
    await context.close();
  }, 60_000);
});
