/** RELAY_CONFIG `limits:` on sources, Klaviyo webhooks and flows, and RELAY_MAX_QUEUED_BYTES. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { parseRelayConfig, RelayConfigError } from '../../src/relay-config.ts';
import { burstOf, limitedSources } from '../../src/ingest/source-limits.ts';

const KEY = 'a'.repeat(64);

function problems(raw: unknown): string {
  try {
    parseRelayConfig(raw, {});
  } catch (err) {
    if (err instanceof RelayConfigError) return err.problems.join('\n');
    throw err;
  }
  return '';
}

describe('source limits in RELAY_CONFIG', () => {
  it('are optional, and named by the id their work carries', () => {
    const file = parseRelayConfig(
      {
        sources: [
          { name: 'shop', keySha256: KEY, limits: { eventsPerSecond: 50, burst: 500, queuedBytes: 64 * 1024 ** 2 } },
          { name: 'pos', keySha256: KEY.replace('a', 'b') },
        ],
        klaviyoWebhooks: { secrets: ['kl-secret-0123456789'], limits: { eventsPerSecond: 100 } },
        flows: { vip: { secret: 'flow-secret-0123456789', limits: { queuedBytes: 1_000_000 } }, quiet: { secret: 'flow-secret-0123456789' } },
      },
      {},
    );
    expect(limitedSources(file)).toEqual([
      { id: 'src-shop', name: 'shop', limits: { eventsPerSecond: 50, burst: 500, queuedBytes: 64 * 1024 ** 2 } },
      { id: 'klaviyo-webhooks', name: 'klaviyo-webhooks', limits: { eventsPerSecond: 100 } },
      { id: 'flow-vip', name: 'flow-vip', limits: { queuedBytes: 1_000_000 } },
    ]);
  });

  it('the burst defaults to one second of the rate (at least one item)', () => {
    expect(burstOf({ eventsPerSecond: 50 })).toBe(50);
    expect(burstOf({ eventsPerSecond: 2.5 })).toBe(3);
    expect(burstOf({ eventsPerSecond: 0.1 })).toBe(1);
    expect(burstOf({ eventsPerSecond: 50, burst: 5 })).toBe(5);
  });

  it('bad values are refused, each named by its path', () => {
    const text = problems({
      sources: [
        { name: 'a', keySha256: KEY, limits: { eventsPerSecond: 0 } },
        { name: 'b', keySha256: KEY, limits: { burst: 10 } },
        { name: 'c', keySha256: KEY, limits: { queuedBytes: -1 } },
        { name: 'd', keySha256: KEY, limits: { eventsPerSecond: 10, burst: 1.5 } },
        { name: 'e', keySha256: KEY, limits: { requestsPerSecond: 10 } },
      ],
      flows: { vip: { secret: 'flow-secret-0123456789', limits: { queuedBytes: '1MB' } } },
    });
    expect(text).toMatch(/sources\.0\.limits\.eventsPerSecond: /);
    expect(text).toMatch(/sources\.1\.limits\.burst: needs `eventsPerSecond`/);
    expect(text).toMatch(/sources\.2\.limits\.queuedBytes: /);
    expect(text).toMatch(/sources\.3\.limits\.burst: /);
    expect(text).toMatch(/sources\.4\.limits: .*requestsPerSecond/);
    expect(text).toMatch(/flows\.vip\.limits\.queuedBytes: /);
  });
});

describe('RELAY_MAX_QUEUED_BYTES', () => {
  it('defaults to 1 GiB per queue; 0 turns it off; anything else is refused by name', () => {
    expect(loadConfig({}).ingest.maxQueuedBytes).toBe(1024 ** 3);
    expect(loadConfig({ RELAY_MAX_QUEUED_BYTES: '0' }).ingest.maxQueuedBytes).toBe(0);
    expect(() => loadConfig({ RELAY_MAX_QUEUED_BYTES: 'lots' })).toThrow(/RELAY_MAX_QUEUED_BYTES/);
  });
});
