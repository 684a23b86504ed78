/**
 * Issue 19 §4: per Maton key, the gateway's use in the last minute and each lane's share of it,
 * where operators look — /ops/status (`gatewayKeys`), /metrics (`relay_gateway_utilisation`,
 * `relay_gateway_lane_share`) and `relay status`. Two accounts on the harness's one key, weights 3
 * and 1 from RELAY_CONFIG; each gets events; the figures must match what the simulator saw.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { percent, renderStatus } from '../../src/cli/status.ts';
import { Metrics } from '../../src/metrics.ts';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { CONNECTION, RELAY_KEY, startHarness, type Harness } from '../support/harness.ts';
import { parseExposition } from '../support/prom-format.ts';
import { waitUntil } from '../support/wait.ts';

const ADMIN = 'gateway-use-visibility-admin';
const KEY_B = 'gateway-use-visibility-key-b';
let h: Harness;
const tag = `gwv-${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  h = await startHarness({
    name: 'gateway-use',
    metrics: new Metrics({ defaultMetrics: false }),
    env: { RELAY_ADMIN_TOKEN: ADMIN },
    file: parseRelayConfig(
      {
        accounts: { default: { weight: 3 }, shop_b: { connection: 'conn-shop-b' } },
        sources: [{ name: 'b', keySha256: createHash('sha256').update(KEY_B).digest('hex'), account: 'shop_b' }],
      },
      {},
    ),
  });
}, 30_000);
afterAll(async () => {
  await h?.close();
});

const post = (key: string, n: number, k: string) =>
  fetch(`${h.service.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      events: Array.from({ length: n }, (_, i) => ({ id: `${tag}-${k}-${i}`, event: 'Viewed Product', profile: { email: `${tag}-${k}-${i}@example.com` } })),
    }),
  });

describe('gateway use per key and lane share', () => {
  it('shows in /ops/status, /metrics and relay status, matching the calls the gateway saw', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await post(RELAY_KEY, 5, `a${i}`)).status).toBe(202);
      expect((await post(KEY_B, 5, `b${i}`)).status).toBe(202);
      await new Promise((r) => setTimeout(r, 150));
    }
    const accepted = () => h.sim.requests({}).filter((r) => r.status !== null && r.status < 300 && r.mode === 'gateway');
    await waitUntil('both accounts delivered', () => new Set(accepted().map((r) => r.account)).size === 2 && accepted().length >= 2, {
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    // Let the last calls settle so the counts compare.
    await new Promise((r) => setTimeout(r, 500));
    const calls = h.sim.requests({}).filter((r) => r.mode === 'gateway');
    const byAccount = (a: string) => calls.filter((r) => r.account === a).length;

    const res = await fetch(`${h.service.url}/ops/status`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    const s = (await res.json()) as any;
    expect(s.gatewayKeys).toHaveLength(1);
    const k = s.gatewayKeys[0];
    expect(k).toMatchObject({ limitPerSecond: 10, windowMs: 60_000, callsLastMinute: calls.length, otherCalls: 0, saturated: false });
    expect(k.key).toMatch(/^[0-9a-f]{12}$/);
    expect(k.utilisation).toBeCloseTo(calls.length / 600, 6);
    const lane = (name: string) => k.lanes.find((l: any) => l.lane === name);
    expect(lane('default')).toMatchObject({ weight: 3, calls: byAccount(CONNECTION) });
    expect(lane('shop_b')).toMatchObject({ weight: 1, calls: byAccount('conn-shop-b') });
    expect(lane('default').share + lane('shop_b').share).toBeCloseTo(1, 6);

    const samples = parseExposition(await (await fetch(`${h.service.url}/metrics`)).text());
    const util = samples.filter((x) => x.name === 'relay_gateway_utilisation');
    expect(util).toHaveLength(1);
    expect(util[0]!.value).toBeCloseTo(k.utilisation, 6);
    const shares = samples.filter((x) => x.name === 'relay_gateway_lane_share');
    expect(Object.fromEntries(shares.map((x) => [x.labels['lane'], x.value]))).toEqual({ default: lane('default').share, shop_b: lane('shop_b').share });

    const text = renderStatus(s);
    // Percentages as the status prints them (whole numbers; five calls in a minute are `<1 %` of 10/s).
    expect(text).toMatch(new RegExp(`key ${k.key} +${calls.length} +${percent(k.utilisation, 1)} of 10/s`));
    expect(text).toMatch(new RegExp(` {2}shop_b +1 +${byAccount('conn-shop-b')} +${percent(byAccount('conn-shop-b'), calls.length)}\n`));
    expect(text).not.toMatch(/limits delivery/);
    // A saturated key says what to do about it.
    expect(renderStatus({ ...s, gatewayKeys: [{ ...k, utilisation: 0.95, saturated: true }] })).toMatch(/is at 95 % of its 10 requests\/s: it limits delivery/);
  }, 40_000);
});
