/** The example config in the repository stays valid, and its documented key matches its digest. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadRelayConfig } from '../../src/relay-config.ts';

describe('relay.example.yaml', () => {
  it('loads, and the example key hashes to the digest it lists', () => {
    const cfg = loadRelayConfig('relay.example.yaml', {});
    expect(cfg.sources[0]!.keySha256).toEqual([createHash('sha256').update('example-eu-key').digest('hex')]);
    expect(cfg.rules).toHaveLength(3);
  });
});
