import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, SANDBOX_DEV_KEY } from '../../src/config.ts';

describe('config', () => {
  it('defaults to sandbox mode with the dev key when nothing is set', () => {
    const c = loadConfig({});
    expect(c.klaviyo.mode).toBe('sandbox');
    expect(c.port).toBe(3000);
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.klaviyo.gatewayUrl).toBe('https://api.maton.ai');
    expect(c.klaviyo.baseUrl).toBe('https://a.klaviyo.com');
    expect(c.klaviyo.revision).toBe('2026-07-15');
    expect(c.apiKeys).toEqual([SANDBOX_DEV_KEY]);
    expect(c.usingDevKey).toBe(true);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('picks gateway mode when MATON_API_KEY is set, direct when KLAVIYO_API_KEY is', () => {
    const g = loadConfig({ MATON_API_KEY: 'mk', MATON_CONNECTION_ID: 'c1', RELAY_API_KEYS: 'abcdefgh-abcdefgh', MATON_GATEWAY_URL: 'https://api.maton.ai/' });
    expect(g.klaviyo.mode).toBe('gateway');
    expect(g.klaviyo.gatewayUrl).toBe('https://api.maton.ai');
    expect(g.klaviyo.connectionId).toBe('c1');
    const d = loadConfig({ KLAVIYO_API_KEY: 'pk_x', RELAY_API_KEYS: 'abcdefgh-abcdefgh, ijklmnop-ijklmnop' });
    expect(d.klaviyo.mode).toBe('direct');
    expect(d.apiKeys).toEqual(['abcdefgh-abcdefgh', 'ijklmnop-ijklmnop']);
    expect(d.usingDevKey).toBe(false);
  });

  it('treats empty strings as unset', () => {
    const c = loadConfig({ MATON_API_KEY: '', KLAVIYO_API_KEY: '  ', PORT: '4000' });
    expect(c.klaviyo.mode).toBe('sandbox');
    expect(c.port).toBe(4000);
  });

  it('reports every problem at once', () => {
    let err: unknown;
    try {
      loadConfig({ PORT: 'eighty', REDIS_URL: 'http://x', KLAVIYO_REVISION: 'latest', LOG_LEVEL: 'loud' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const name of ['PORT', 'REDIS_URL', 'KLAVIYO_REVISION', 'LOG_LEVEL']) expect(problems).toContain(name);
    expect((err as ConfigError).problems).toHaveLength(4);
  });

  it('requires relay keys outside the sandbox and refuses two modes at once', () => {
    expect(() => loadConfig({ MATON_API_KEY: 'mk' })).toThrow(/RELAY_API_KEYS/);
    expect(() => loadConfig({ MATON_API_KEY: 'mk', KLAVIYO_API_KEY: 'pk', RELAY_API_KEYS: 'abcdefgh-abcdefgh' })).toThrow(/both set/);
    expect(() => loadConfig({ RELAY_API_KEYS: 'short' })).toThrow(/at least 16/);
  });

  it('reads the payload keys (the first seals) and the retention settings, and names every bad key', () => {
    const k1 = Buffer.alloc(32, 1).toString('base64');
    const k2 = Buffer.alloc(32, 2).toString('base64');
    const c = loadConfig({ RELAY_PAYLOAD_KEYS: ` k2:${k2}, k1:${k1} `, RELAY_AUDIT_KEEP_S: '86400', RELAY_PROFILE_ID_CACHE_TTL_S: '3600' });
    expect(c.privacy.payloadKeys.map((k) => k.id)).toEqual(['k2', 'k1']);
    expect(c.privacy.payloadKeys[0]!.key.equals(Buffer.alloc(32, 2))).toBe(true);
    expect(c.privacy).toMatchObject({ auditKeepS: 86_400, profileIdCacheTtlS: 3600 });
    expect(loadConfig({}).privacy).toMatchObject({ payloadKeys: [], auditKeepS: 90 * 86_400, profileIdCacheTtlS: 30 * 86_400 });
    let err: unknown;
    try {
      loadConfig({ RELAY_PAYLOAD_KEYS: `short:${Buffer.alloc(16).toString('base64')},no-colon,k1:${k1},k1:${k1},bad id:${k1}` });
    } catch (e) {
      err = e;
    }
    const problems = (err as ConfigError).problems.join('\n');
    expect(problems).toContain('key short must be 32 bytes');
    expect(problems).toContain('each entry is <key id>:<key>');
    expect(problems).toContain('key id k1 is listed twice');
    // The keys themselves are never echoed.
    expect(problems).not.toContain(k1);
  });
});
