/** `relay status` shows the sources with ingest limits (their limits and queued bytes) when there are any. */
import { describe, expect, it } from 'vitest';
import { renderStatus, type Status } from '../../src/cli/status.ts';

const base: Status = { at: '2026-11-27T10:00:00.000Z', queues: [], lanes: [] };

describe('relay status: sources with limits', () => {
  it('a table of them: rate and burst, queued bytes and their limit', () => {
    const text = renderStatus({
      ...base,
      sources: [
        { source: 'shop-eu', eventsPerSecond: 500, burst: 5000, queuedBytesLimit: 268435456, queuedBytes: 1048576 },
        { source: 'flow-vip', eventsPerSecond: 2, burst: 2 },
      ],
    });
    expect(text).toMatch(/^SOURCE\s+EVENTS\/S LIMIT\s+QUEUED BYTES\s+QUEUED BYTES LIMIT$/m);
    expect(text).toMatch(/^shop-eu\s+500 \(burst 5,000\)\s+1,048,576\s+268,435,456$/m);
    expect(text).toMatch(/^flow-vip\s+2 \(burst 2\)\s+—\s+—$/m);
  });

  it('none when no source has limits (or the relay predates them)', () => {
    expect(renderStatus(base)).not.toContain('QUEUED BYTES');
    expect(renderStatus({ ...base, sources: [] })).not.toContain('QUEUED BYTES');
  });
});
