/**
 * Who sent a /v1 request: `Authorization: Bearer <key>` (looked up by digest), or — for sources
 * configured with a signing secret — a Standard Webhooks signature over the raw body
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature`). Anything else is 401.
 *
 * Everything that does not need the body is checked before the body is read: an unauthenticated
 * client must not make the API buffer RELAY_MAX_BODY_BYTES, nor HMAC them. So it is two steps:
 *   authenticate:    the bearer key; or the signature's headers (present, well-formed, timestamp in
 *                    tolerance) and which sources may have signed it → then the body is read (bounded)
 *   verifySignature: the HMAC over the raw body, with those sources' secrets only.
 * A signing sender may name its source in the URL (`?source=<name>`): then only that source's
 * secrets are tried, and one HMAC of the body is all an unauthenticated request can cost per secret.
 *
 * Signed requests are also checked against the replay cache (src/webhooks/replay-cache.ts). An
 * exact copy of a request already accepted (same id, timestamp and signature, from every source
 * that may have signed it) is answered before its body is read: 202, nothing enqueued — a sender's
 * retry of a message it got no answer for is not an error. A copy of one being processed now gets
 * 409 with Retry-After. Once the signature names the source, the id is claimed for this request
 * (a re-signed retry of an accepted message is answered as a replay there) and kept only if the
 * request is answered 2xx.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from '../../log.ts';
import type { Source, SourceRegistry } from '../../sources.ts';
import { requestFingerprint, type ReplayCache, type ReplayState } from '../../webhooks/replay-cache.ts';
import { checkStandardHeaders, verifyStandardBody, type StandardHeaders } from '../../webhooks/standard-webhooks.ts';
import { jsonError } from '../errors.ts';
import { header } from '../header.ts';
import type { JsonBodyEnv } from './json-body.ts';

/** A signed request whose headers passed: the sources that may have signed it, checked once the body is read. */
export interface PendingSignature {
  readonly headers: StandardHeaders;
  /** Tells an exact copy of this request from another that reuses its id (replay-cache.ts). */
  readonly fingerprint: string;
  readonly candidates: readonly { readonly source: Source; readonly secrets: readonly string[] }[];
}

export type AuthEnv = { Variables: { source: Source; signed?: PendingSignature } };

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** A message accepted before: 2xx, so the sender stops retrying; nothing is enqueued again. */
function replayed(c: Context, id: string) {
  return c.json({ replayed: true, webhook_id: id, message: 'This message (webhook-id) was accepted before; nothing was enqueued again' }, 202);
}

function answerFor(c: Context, state: ReplayState, id: string) {
  if (state === 'accepted') return replayed(c, id);
  c.header('Retry-After', '1');
  return jsonError(c, 409, 'in_progress', 'A request with this webhook-id is being processed now; retry in a moment');
}

/** Without Redis a replay cannot be told from a first delivery: retry rather than risk doing it twice. */
function replayCacheDown(c: Context) {
  c.header('Retry-After', '2');
  return jsonError(c, 503, 'unavailable', 'Signed requests cannot be checked for replays while Redis is unavailable; retry with the same webhook-id');
}

export function authenticate<E extends AuthEnv & JsonBodyEnv>(sources: SourceRegistry, replay?: ReplayCache): MiddlewareHandler<E> {
  return async function authenticate(c, next) {
    const authorization = header(c, 'authorization');
    if (authorization) {
      const m = BEARER.exec(authorization);
      const source = m ? sources.byKey(m[1]!) : undefined;
      if (!source) {
        c.header('WWW-Authenticate', m ? 'Bearer error="invalid_token"' : 'Bearer');
        return jsonError(c, 401, 'unauthorized', m ? 'The API key is not valid' : 'Send "Authorization: Bearer <key>" with one of the relay\'s API keys');
      }
      c.set('source', source);
      return next();
    }
    const signature = header(c, 'webhook-signature');
    if (signature) {
      const checked = checkStandardHeaders({ id: header(c, 'webhook-id'), timestamp: header(c, 'webhook-timestamp'), signature });
      if (!checked.ok) return jsonError(c, 401, 'unauthorized', `The webhook signature is not valid: ${checked.reason}`);
      const named = c.req.query('source');
      const candidates = named === undefined ? sources.signing() : sources.signing().filter((s) => s.source.name === named);
      if (candidates.length === 0) {
        return jsonError(
          c,
          401,
          'unauthorized',
          named === undefined
            ? 'No source authenticates with a webhook signature'
            : `No source named ${JSON.stringify(named)} authenticates with a webhook signature`,
        );
      }
      const fingerprint = requestFingerprint(checked.headers.timestamp, signature);
      if (replay) {
        let state: ReplayState | undefined;
        try {
          // Only when every source that may have signed it agrees: another source may use the same id.
          state = await replay.peek(
            candidates.map((x) => x.source.id),
            checked.headers.id,
            fingerprint,
          );
        } catch {
          return replayCacheDown(c);
        }
        if (state) return answerFor(c, state, checked.headers.id);
      }
      c.set('signed', { headers: checked.headers, fingerprint, candidates });
      return next();
    }
    c.header('WWW-Authenticate', 'Bearer');
    return jsonError(c, 401, 'unauthorized', 'Send "Authorization: Bearer <key>" with one of the relay\'s API keys, or a Standard Webhooks signature');
  };
}

/**
 * After the body is read: a signed request's HMAC, which names its source; then its webhook-id is
 * claimed for this request and settled by the answer. Bearer requests pass through.
 */
export function verifySignature<E extends AuthEnv & JsonBodyEnv>(replay?: ReplayCache, log?: Logger): MiddlewareHandler<E> {
  return async function verifySignature(c, next) {
    const signed: PendingSignature | undefined = c.get('signed');
    if (!signed) return next();
    const rawBody = c.get('rawBody');
    const source = signed.candidates.find(({ secrets }) => verifyStandardBody(signed.headers, rawBody, secrets) >= 0)?.source;
    if (!source) return jsonError(c, 401, 'unauthorized', 'The webhook signature is not valid for any source');
    c.set('source', source);
    if (!replay) return next();
    const { id } = signed.headers;
    let claim: Awaited<ReturnType<ReplayCache['claim']>>;
    try {
      claim = await replay.claim(source.id, id, signed.fingerprint);
    } catch {
      return replayCacheDown(c);
    }
    if ('state' in claim) return answerFor(c, claim.state, id);
    let accepted = false;
    try {
      await next();
      accepted = c.res.status >= 200 && c.res.status < 300;
    } finally {
      // Released unless accepted: the sender's retry must be processed. If this fails, the claim expires.
      await replay
        .settle(source.id, id, signed.fingerprint, claim.token, accepted)
        .catch((err: unknown) => log?.warn({ err, source: source.name }, 'could not settle a webhook-id in the replay cache'));
    }
  };
}
