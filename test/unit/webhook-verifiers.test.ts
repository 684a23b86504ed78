/**
 * Webhook verifiers. Known answers were computed outside this code, with openssl:
 *   cat body ts | openssl dgst -sha256 -hmac 'kl-secret-1'
 *   printf 'msg_1.1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'relay-unit-test-signing-key-32b!' -binary | base64
 * Each failure test changes exactly one thing from a valid delivery.
 */
import { describe, expect, it } from 'vitest';
import { klaviyoSignature, verifyKlaviyoWebhook, type KlaviyoWebhookInput } from '../../src/webhooks/klaviyo-signature.ts';
import { sharedSecretMatches } from '../../src/webhooks/shared-secret.ts';
import { verifyStandardWebhook } from '../../src/webhooks/standard-webhooks.ts';

const BODY =
  '{"data":[{"topic":"event:klaviyo.unsubscribed_from_email_marketing","external_id":"73WCCK7JKtE","payload":{}}],"meta":{"klaviyo_webhook_id":"01KPWEBHOOK"}}';
const TS = 'Tue, 14 Apr 2026 03:50:12 GMT';
const KNOWN = 'f4f35ba09f1b86f300d2035a29bf5d2cfb24b1a4bb49b41add86b9bd29215736';
const NOW = Date.parse(TS) + 30_000;

const valid = (): KlaviyoWebhookInput => ({
  rawBody: BODY,
  signature: KNOWN,
  timestamp: TS,
  webhookId: '01KPWEBHOOK',
  secrets: ['kl-secret-1'],
  toleranceMs: 300_000,
  now: NOW,
});

describe('Klaviyo system webhook signature', () => {
  it('matches the known answer: hex HMAC-SHA256 over the raw body followed by the timestamp', () => {
    expect(klaviyoSignature('kl-secret-1', BODY, TS)).toBe(KNOWN);
    const r = verifyKlaviyoWebhook(valid());
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.body.data[0]!.external_id).toBe('73WCCK7JKtE');
  });

  it('accepts an ISO-8601 timestamp and an upper-case signature', () => {
    const ts = '2026-04-14T03:50:12Z';
    const sig = klaviyoSignature('kl-secret-1', BODY, ts).toUpperCase();
    expect(verifyKlaviyoWebhook({ ...valid(), timestamp: ts, signature: sig }).ok).toBe(true);
  });

  it.each([
    ['missing signature header', { signature: undefined }, 'missing_header'],
    ['missing timestamp header', { timestamp: undefined }, 'missing_header'],
    ['missing webhook id header', { webhookId: undefined }, 'missing_header'],
    ['stale timestamp', { now: Date.parse(TS) + 301_000 }, 'stale_timestamp'],
    ['timestamp from the future', { now: Date.parse(TS) - 301_000 }, 'stale_timestamp'],
    ['unparseable timestamp', { timestamp: 'yesterday' }, 'bad_timestamp'],
    ['wrong secret', { secrets: ['kl-secret-2'] }, 'bad_signature'],
    ['tampered body', { rawBody: BODY.replace('73WCCK7JKtE', '73WCCK7JKtF') }, 'bad_signature'],
    ['truncated signature', { signature: KNOWN.slice(0, 63) }, 'bad_signature'],
    ['signature over another timestamp', { timestamp: 'Tue, 14 Apr 2026 03:50:13 GMT' }, 'bad_signature'],
    ['webhook id mismatch', { webhookId: '01KPOTHER' }, 'webhook_id_mismatch'],
  ] as const)('%s fails (%s)', (_name, change, reason) => {
    expect(verifyKlaviyoWebhook({ ...valid(), ...change })).toEqual({ ok: false, reason });
  });

  it('rotation: the old and the new secret are both accepted', () => {
    expect(verifyKlaviyoWebhook({ ...valid(), secrets: ['kl-secret-new', 'kl-secret-1'] }).ok).toBe(true);
    expect(verifyKlaviyoWebhook({ ...valid(), secrets: ['kl-secret-new', 'kl-secret-1'] })).toMatchObject({ ok: true, secretIndex: 1 });
    const sigNew = klaviyoSignature('kl-secret-new', BODY, TS);
    expect(verifyKlaviyoWebhook({ ...valid(), signature: sigNew, secrets: ['kl-secret-new', 'kl-secret-1'] })).toMatchObject({ ok: true, secretIndex: 0 });
    expect(verifyKlaviyoWebhook({ ...valid(), signature: sigNew, secrets: ['kl-secret-1'] }).ok).toBe(false);
  });

  it('a body that is not a webhook batch is refused even when signed', () => {
    const raw = '{"hello":"world"}';
    expect(verifyKlaviyoWebhook({ ...valid(), rawBody: raw, signature: klaviyoSignature('kl-secret-1', raw, TS) })).toEqual({
      ok: false,
      reason: 'invalid_body',
    });
  });
});

describe('Standard Webhooks signature', () => {
  const secret = 'whsec_cmVsYXktdW5pdC10ZXN0LXNpZ25pbmcta2V5LTMyYiE=';
  const input = {
    rawBody: '{"a":1}',
    id: 'msg_1',
    timestamp: '1700000000',
    signature: 'v1,KtP935WPYGwV01pBRbwJlBjDTP2O0Xl8T77nVdgF14I=',
    secrets: [secret],
    now: 1_700_000_010_000,
  };
  it('matches the known answer', () => {
    expect(verifyStandardWebhook(input)).toEqual({ ok: true, secretIndex: 0 });
  });
  it('accepts one valid signature among several', () => {
    expect(verifyStandardWebhook({ ...input, signature: `v1,AAAA ${input.signature}` }).ok).toBe(true);
  });
  it.each([
    ['missing id', { id: undefined }, 'missing_header'],
    ['stale', { now: 1_700_000_000_000 + 301_000 }, 'stale_timestamp'],
    ['not unix seconds', { timestamp: '2023-11-14T22:13:20Z' }, 'bad_timestamp'],
    ['wrong secret', { secrets: [`whsec_${Buffer.from('another-signing-key-of-32-bytes!').toString('base64')}`] }, 'bad_signature'],
    ['tampered body', { rawBody: '{"a":2}' }, 'bad_signature'],
  ] as const)('%s fails', (_n, change, reason) => {
    expect(verifyStandardWebhook({ ...input, ...change })).toEqual({ ok: false, reason });
  });
});

describe('shared secret', () => {
  it('matches only the exact secret', () => {
    expect(sharedSecretMatches('s3cret-value', 's3cret-value')).toBe(true);
    expect(sharedSecretMatches('s3cret-valu', 's3cret-value')).toBe(false);
    expect(sharedSecretMatches('', 's3cret-value')).toBe(false);
    expect(sharedSecretMatches(undefined, 's3cret-value')).toBe(false);
  });
});
