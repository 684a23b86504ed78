/**
 * Issue 19: the gateway margin covers the spread from a request's *send* to the gateway's count, not
 * a worker's stall between its grant and its send. A grant's entry in the key's log moves to the
 * moment its request leaves (`Grant.sent`, src/lua/quota-sent.lua), so a request that leaves late
 * keeps the key's slot busy until a window after it really left. Without that, a send 600 ms late
 * and ten grants a window after the original grant put 11 into one second — what the overloaded
 * four-account benchmark saw (grant → arrival p99 234–319 ms against a 40 ms margin, 429s).
 */
import { describe, expect, it } from 'vitest';
import { createQuotaGovernor, GATEWAY_MARGIN_MS, type QuotaScope } from '../../src/quota/governor.ts';
import { gatewayRig } from '../support/gateway-lanes.ts';
import { busiestWindow } from '../support/sliding-window.ts';
import { waitUntil } from '../support/wait.ts';

const { prefix, conns, limits, limit: LIMIT } = gatewayRig('gov-sent', GATEWAY_MARGIN_MS);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('quota governor: a grant is logged when its request leaves (real Redis)', () => {
  it('workers that stall between grant and send still never put more than 10 sends into any second', async () => {
    const governors = conns.map((c) => createQuotaGovernor(c, prefix, limits));
    const scope: QuotaScope = { keyId: 'stalls', klaviyoAccount: 'lane0', viaGateway: true };
    const sends: number[] = [];
    let stalled = 0;
    const until = Date.now() + 4000;
    // Twelve takers on two connections keep the key saturated; one request in five stalls
    // 300–700 ms after its grant (a GC pause, a busy event loop), the rest leave at once.
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const g = governors[i % governors.length]!;
        while (Date.now() < until) {
          const grant = await g.take(scope, 'bulk_create_events');
          if (Math.random() < 0.2) {
            stalled++;
            await sleep(300 + Math.floor(Math.random() * 400));
          }
          grant.sent();
          sends.push(Date.now());
        }
      }),
    );
    expect(stalled).toBeGreaterThan(5);
    // A request is counted where it left (loopback: no network spread); the margin covers the
    // few ms between this clock and the Redis clock the entry moved to.
    expect(busiestWindow(sends, 1000).count, `${sends.length} sends`).toBeLessThanOrEqual(LIMIT);
    // Still packed: stalls cost the key only the time the stalled slots were held.
    expect(sends.length).toBeGreaterThanOrEqual(20);
  }, 20_000);

  it('a send so late that its entry left the log widens the margin (the spread outgrew it)', async () => {
    const g = createQuotaGovernor(conns[0]!, prefix, limits);
    const scope: QuotaScope = { keyId: 'late', klaviyoAccount: 'lane0', viaGateway: true };
    const grant = await g.take(scope, 'bulk_create_events');
    expect(g.gatewayMarginMs()).toBe(GATEWAY_MARGIN_MS);
    await sleep(1000 + GATEWAY_MARGIN_MS + 200);
    grant.sent();
    await waitUntil('the margin to widen', () => g.gatewayMarginMs() === GATEWAY_MARGIN_MS + 20, { timeoutMs: 2000 });
  });

  it('a widened margin narrows back a step at a time once nothing widens it', async () => {
    const g = createQuotaGovernor(conns[0]!, prefix, { ...limits, gatewayMarginRelaxMs: 300 });
    const scope: QuotaScope = { keyId: 'relax', klaviyoAccount: 'lane0', viaGateway: true };
    const late = await g.take(scope, 'bulk_create_events');
    await sleep(1000 + GATEWAY_MARGIN_MS + 200);
    late.sent();
    await waitUntil('the margin to widen', () => g.gatewayMarginMs() === GATEWAY_MARGIN_MS + 20, { timeoutMs: 2000 });
    (await g.take(scope, 'bulk_create_events')).sent();
    expect(g.gatewayMarginMs()).toBe(GATEWAY_MARGIN_MS + 20);
    await sleep(350);
    (await g.take(scope, 'bulk_create_events')).sent();
    expect(g.gatewayMarginMs()).toBe(GATEWAY_MARGIN_MS);
  });

  it('a prompt send keeps the margin', async () => {
    const g = createQuotaGovernor(conns[0]!, prefix, limits);
    const scope: QuotaScope = { keyId: 'prompt', klaviyoAccount: 'lane0', viaGateway: true };
    for (let i = 0; i < 5; i++) (await g.take(scope, 'bulk_create_events')).sent();
    await sleep(200);
    expect(g.gatewayMarginMs()).toBe(GATEWAY_MARGIN_MS);
  });
});
