/** RELAY_CONFIG `priorities:` (issue 12): defaults, bounds, and errors that name the field. */
import { describe, expect, it } from 'vitest';
import { EMPTY_RELAY_FILE, parseRelayConfig, RelayConfigError } from '../../src/relay-config.ts';
import { bulkMinimum } from '../../src/quota/governor.ts';

function problems(raw: unknown): string[] {
  try {
    parseRelayConfig(raw, {});
  } catch (err) {
    if (err instanceof RelayConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('priorities in the config file', () => {
  it('defaults to on, bulk minimum 20%, 2 gateway requests/s kept for live', () => {
    expect(EMPTY_RELAY_FILE.priorities).toEqual({ enabled: true, bulkMinShare: 0.2, liveGatewayReserve: 2 });
    // A partial block keeps the other fields' defaults.
    expect(parseRelayConfig({ priorities: { enabled: false } }, {}).priorities).toEqual({ enabled: false, bulkMinShare: 0.2, liveGatewayReserve: 2 });
    expect(parseRelayConfig({ priorities: { bulkMinShare: 0.5, liveGatewayReserve: 0 } }, {}).priorities).toEqual({
      enabled: true,
      bulkMinShare: 0.5,
      liveGatewayReserve: 0,
    });
  });

  it('refuses values out of range, naming the field', () => {
    expect(problems({ priorities: { bulkMinShare: 0.95 } }).join('\n')).toMatch(/^priorities\.bulkMinShare: /m);
    expect(problems({ priorities: { bulkMinShare: -0.1 } }).join('\n')).toMatch(/^priorities\.bulkMinShare: /m);
    expect(problems({ priorities: { liveGatewayReserve: 1.5 } }).join('\n')).toMatch(/^priorities\.liveGatewayReserve: /m);
    expect(problems({ priorities: { enabled: 'yes' } }).join('\n')).toMatch(/^priorities\.enabled: /m);
    expect(problems({ priorities: { bulkShare: 0.3 } }).join('\n')).toMatch(/bulkShare/);
  });

  it('keeps at least one gateway request/s for bulk, against the gateway limit in force', () => {
    expect(problems({ priorities: { liveGatewayReserve: 10 } })).toEqual([expect.stringMatching(/^priorities\.liveGatewayReserve: at most 9 /)]);
    expect(parseRelayConfig({ priorities: { liveGatewayReserve: 9 } }, {}).priorities.liveGatewayReserve).toBe(9);
    expect(problems({ limits: { gatewayPerSecond: 4 }, priorities: { liveGatewayReserve: 4 } })).toEqual([
      expect.stringMatching(/^priorities\.liveGatewayReserve: at most 3 /),
    ]);
    expect(parseRelayConfig({ limits: { gatewayPerSecond: 50 }, priorities: { liveGatewayReserve: 20 } }, {}).priorities.liveGatewayReserve).toBe(20);
  });
});

describe("bulk's minimum of a bucket", () => {
  it('is ceil(share × limit), exact on decimal shares, and never the whole bucket', () => {
    expect(bulkMinimum(0.2, 10)).toBe(2);
    expect(bulkMinimum(0.2, 150)).toBe(30);
    expect(bulkMinimum(0.1, 30)).toBe(3); // 0.1 × 30 is 3.0000000000000004 in floating point
    expect(bulkMinimum(0.25, 10)).toBe(3);
    expect(bulkMinimum(0, 10)).toBe(0);
    expect(bulkMinimum(0.9, 10)).toBe(9);
    // get_accounts allows 1 call a second: bulk gets no guarantee there rather than all of it.
    expect(bulkMinimum(0.2, 1)).toBe(0);
  });
});
