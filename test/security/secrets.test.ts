/**
 * Issue 11, defect 8 (d): weak secrets are refused when the configuration loads, each with a
 * message that names the setting and never echoes the secret.
 *   - a Standard Webhooks `whsec_` secret must decode to at least 24 bytes: `whsec_` alone (or
 *     garbage after it) decoded to a zero-length HMAC key, with which anyone could sign;
 *   - RELAY_API_KEYS: at least 16 characters (8 were enough);
 *   - Klaviyo webhook and flow secrets: at least 16 characters (any non-empty string was).
 * The sandbox's documented `dev-key` is unchanged (it exists only in sandbox mode).
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, SANDBOX_DEV_KEY } from '../../src/config.ts';
import { parseRelayConfig, RelayConfigError } from '../../src/relay-config.ts';
import { verifyStandardWebhook } from '../../src/webhooks/standard-webhooks.ts';

const whsec = (bytes: number) => `whsec_${Buffer.alloc(bytes, 7).toString('base64')}`;
const GOOD_SIGNING = whsec(24);
const GOOD_SHARED = 'a-shared-secret-0123456789';

function problems(raw: unknown): string[] {
  try {
    parseRelayConfig(raw, {});
  } catch (err) {
    expect(err).toBeInstanceOf(RelayConfigError);
    return (err as RelayConfigError).problems;
  }
  return [];
}

describe('Standard Webhooks signing secrets', () => {
  it.each([
    ['whsec_ with nothing after it', 'whsec_', /sources\.0\.signingSecret: decodes to 0 bytes; use at least 24 random bytes/],
    ['not base64 after whsec_', 'whsec_!!!not*base64!!!', /sources\.0\.signingSecret: is not valid base64 after "whsec_"/],
    ['16 bytes', whsec(16), /sources\.0\.signingSecret: decodes to 16 bytes; use at least 24/],
    ['no whsec_ prefix', 'plain-text-secret-of-some-length', /sources\.0\.signingSecret: must be a Standard Webhooks secret: "whsec_" followed by base64/],
  ])('%s is refused at load, naming the field and not the secret', (_name, secret, message) => {
    const found = problems({ sources: [{ name: 'pos', signingSecret: secret }] });
    expect(found.join('\n')).toMatch(message);
    if (secret.length > 'whsec_'.length) expect(found.join('\n')).not.toContain(secret);
  });

  it('one weak secret in a rotation list is refused too; 24 bytes and more are accepted', () => {
    expect(problems({ sources: [{ name: 'pos', signingSecret: [GOOD_SIGNING, 'whsec_'] }] }).join('\n')).toMatch(
      /sources\.0\.signingSecret\.1: decodes to 0 bytes/,
    );
    expect(problems({ sources: [{ name: 'pos', signingSecret: [GOOD_SIGNING, whsec(64)] }] })).toEqual([]);
  });

  it('a zero-length key verifies nothing, even handed to the verifier directly', () => {
    // What anyone can compute for a `whsec_` secret: the HMAC with an empty key.
    const body = '{"id":"forged","event":"Placed Order","profile":{"email":"x@example.com"}}';
    const ts = String(Math.floor(Date.now() / 1000));
    const forged = `v1,${createHmac('sha256', Buffer.alloc(0)).update(`msg_1.${ts}.${body}`).digest('base64')}`;
    expect(verifyStandardWebhook({ rawBody: body, id: 'msg_1', timestamp: ts, signature: forged, secrets: ['whsec_'] })).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(verifyStandardWebhook({ rawBody: body, id: 'msg_1', timestamp: ts, signature: forged, secrets: ['whsec_####'] })).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });
});

describe('shared secrets of Klaviyo webhooks and flows', () => {
  it('need at least 16 characters, each refusal naming its field', () => {
    const found = problems({
      klaviyoWebhooks: { secrets: [GOOD_SHARED, 'kl-secret'] },
      flows: { vip: { secret: 'flow-secret-1' }, ok: { secret: GOOD_SHARED } },
    }).join('\n');
    expect(found).toMatch(/klaviyoWebhooks\.secrets\.1: use at least 16 characters/);
    expect(found).toMatch(/flows\.vip\.secret: use at least 16 characters/);
    expect(found).not.toMatch(/flows\.ok|secrets\.0/);
    expect(found).not.toContain('flow-secret-1');
    expect(problems({ klaviyoWebhooks: { secrets: [GOOD_SHARED] }, flows: { vip: { secret: GOOD_SHARED } } })).toEqual([]);
  });
});

describe('RELAY_API_KEYS', () => {
  it('need at least 16 characters; the message names the setting, not the key', () => {
    const key = 'fifteen-chars-x';
    expect(key).toHaveLength(15);
    let err: unknown;
    try {
      loadConfig({ MATON_API_KEY: 'mk', RELAY_API_KEYS: `a-good-key-0123456789,${key}` });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([expect.stringMatching(/^RELAY_API_KEYS: every key needs at least 16 characters \(one has 15\)/)]);
    expect((err as ConfigError).message).not.toContain(key);
    expect(loadConfig({ MATON_API_KEY: 'mk', RELAY_API_KEYS: 'sixteen-chars-xx' }).apiKeys).toEqual(['sixteen-chars-xx']);
  });

  it('the sandbox keeps its documented dev-key', () => {
    const c = loadConfig({});
    expect(c.apiKeys).toEqual([SANDBOX_DEV_KEY]);
    expect(SANDBOX_DEV_KEY).toBe('dev-key');
  });
});
