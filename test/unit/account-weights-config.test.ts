/** RELAY_CONFIG `accounts.<name>.weight` (issue 19): bounds, errors naming the field, and the lanes' quota scopes carrying it. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { buildLanes } from '../../src/lanes.ts';
import { parseRelayConfig, RelayConfigError } from '../../src/relay-config.ts';

function problems(raw: unknown): string[] {
  try {
    parseRelayConfig(raw, {});
  } catch (err) {
    if (err instanceof RelayConfigError) return err.problems;
    throw err;
  }
  return [];
}

const gateway = loadConfig({ MATON_API_KEY: 'maton-key-weights', MATON_CONNECTION_ID: 'conn-default', RELAY_API_KEYS: 'account-weights-test-key-1' });

describe('account weights', () => {
  it('reach each lane’s quota scope; unset is weight 1 (no field)', () => {
    const file = parseRelayConfig({ accounts: { default: { weight: 3 }, eu: { connection: 'conn-eu', weight: 0.5 }, us: { connection: 'conn-us' } } }, {});
    const lanes = buildLanes(gateway, file);
    expect(lanes.map((l) => [l.name, l.scope.klaviyoAccount, l.scope.weight])).toEqual([
      ['default', 'conn-default', 3],
      ['eu', 'conn-eu', 0.5],
      ['us', 'conn-us', undefined],
    ]);
    // One Maton key: one quota scope id for all, so they share its gateway bucket.
    expect(new Set(lanes.map((l) => l.scope.keyId)).size).toBe(1);
  });

  it('refuses weights out of range and a weight-only account other than default, naming the field', () => {
    expect(problems({ accounts: { eu: { connection: 'c', weight: 0 } } }).join('\n')).toMatch(/^accounts\.eu\.weight: must be at least 0\.01/m);
    expect(problems({ accounts: { eu: { connection: 'c', weight: 5000 } } }).join('\n')).toMatch(/^accounts\.eu\.weight: must be at most 1000/m);
    expect(problems({ accounts: { eu: { connection: 'c', weight: 'heavy' } } }).join('\n')).toMatch(/^accounts\.eu\.weight: /m);
    expect(problems({ accounts: { eu: { weight: 2 } } })).toEqual([
      expect.stringMatching(/^accounts\.eu: needs `connection` \(gateway\) or `klaviyoApiKey` \(direct\)/),
    ]);
    expect(problems({ accounts: { default: { weight: 2 } } })).toEqual([]);
  });
});
