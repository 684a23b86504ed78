/**
 * Klaviyo system-webhook subscriptions, managed by the relay (issue 17): what `/ops/webhooks` and
 * `relay webhooks …` do. One owner for the order of steps that keeps deliveries flowing:
 *
 * - create: a strong secret is made here and accepted (as "pending": any webhook id not otherwise
 *   known) BEFORE Klaviyo is asked to create the webhook, since Klaviyo may sign a delivery before
 *   its answer is back; then it is bound to the new id.
 * - rotate: the new secret is accepted first, then Klaviyo is PATCHed, then the old secret retires
 *   after the grace period — or a minute after the first delivery verified with the new one
 *   (src/webhooks/klaviyo-secrets.ts); secrets older than the old one retire at once. A PATCH refused by Klaviyo drops the new secret again; a
 *   PATCH whose outcome is unknown (timeout, network) keeps both, unretired.
 * - delete: Klaviyo's webhook, then the secrets here.
 * - test: a delivery signed here with the webhook's newest secret, POSTed to its full URL, which
 *   must reach a relay that verifies it — i.e. one that reads these secrets — and answer 200.
 *
 * Every change is written to the audit log, with secrets as fingerprints. Klaviyo calls are paced
 * by the Webhooks API client (1/s, 15/min).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { KlaviyoApiError, KlaviyoTransportError } from '../errors.ts';
import type { KlaviyoWebhook, WebhooksApi } from '../klaviyo/webhooks.ts';
import { klaviyoSignature } from '../webhooks/klaviyo-signature.ts';
import type { StoredSecret, WebhookRecord, WebhookSecretStore } from '../webhooks/secret-store.ts';
import type { AuditEntry } from './audit.ts';

/** A webhook being created is accepted this long without its id (Klaviyo's answer is much faster). */
const PENDING_TTL_MS = 10 * 60_000;
/** Default grace before a rotated-out secret stops being accepted. */
export const DEFAULT_GRACE_MS = 10 * 60_000;
/** The topic of a self-test delivery: no Klaviyo topic, so no rule acts on it. */
export const SELF_TEST_TOPIC = 'event:relay.self_test';
const TEST_TIMEOUT_MS = 10_000;

export class WebhookAdminError extends Error {
  override readonly name = 'WebhookAdminError';
  constructor(
    readonly status: 400 | 404 | 409 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface SecretView {
  readonly fingerprint: string;
  readonly addedAt: string;
  readonly retiresAt?: string;
}

export interface WebhookView extends KlaviyoWebhook {
  readonly lane: string;
  /** The relay holds a secret of it, so it can verify its deliveries. */
  readonly ours: boolean;
  /** The full URL, when the relay created it (Klaviyo answers it truncated). */
  readonly url?: string;
  /** Accepted secrets held here (2 or more: a rotation is under way). */
  readonly secrets: readonly SecretView[];
  readonly deliveries: { readonly verified: number; readonly refused: number };
}

export interface LocalWebhookView {
  readonly id: string;
  readonly lane: string;
  readonly url?: string;
  readonly topics?: readonly string[];
  readonly secrets: readonly SecretView[];
  readonly deliveries: { readonly verified: number; readonly refused: number };
}

export interface CreateInput {
  readonly lane: string;
  readonly url: string;
  readonly topics: readonly string[];
  readonly name?: string;
  readonly description?: string;
}

export interface SelfTest {
  readonly webhook: string;
  readonly url: string;
  readonly ok: boolean;
  readonly status: number | null;
  readonly ms: number;
  readonly secret: string;
  /** What went wrong, in words, when not ok. */
  readonly problem?: string;
  readonly answer?: unknown;
}

export interface WebhookAdminDeps {
  readonly lanes: readonly string[];
  /** The lane's Webhooks API; undefined when this process has no Klaviyo credentials. */
  readonly api: (lane: string) => WebhooksApi | undefined;
  readonly store: WebhookSecretStore;
  readonly appendAudit: (entry: AuditEntry) => Promise<void>;
  /** Per-webhook delivery counters (`verified:<id>`, `refused:<id>`). */
  readonly deliveryStats: () => Promise<Record<string, string>>;
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
}

export interface KlaviyoWebhookAdmin {
  topics(lane: string, signal?: AbortSignal): Promise<string[]>;
  list(lane: string, signal?: AbortSignal): Promise<WebhookView[]>;
  get(id: string, lane: string | undefined, signal?: AbortSignal): Promise<WebhookView>;
  local(): Promise<LocalWebhookView[]>;
  create(input: CreateInput, actor: string, signal?: AbortSignal): Promise<{ webhook: WebhookView; secret: StoredSecret }>;
  rotate(
    id: string,
    opts: { lane?: string; graceMs: number },
    actor: string,
    signal?: AbortSignal,
  ): Promise<{ webhook: WebhookView; secret: StoredSecret; retiring: SecretView[] }>;
  remove(id: string, lane: string | undefined, actor: string, signal?: AbortSignal): Promise<{ deleted: string; atKlaviyo: boolean }>;
  test(id: string): Promise<SelfTest>;
}

/** A webhook secret: 32 random bytes, base64url (43 characters). */
export function newWebhookSecret(): string {
  return randomBytes(32).toString('base64url');
}

const iso = (ms: number) => new Date(ms).toISOString();
const secretView = (s: StoredSecret): SecretView => ({
  fingerprint: s.fingerprint,
  addedAt: iso(s.addedAt),
  ...(s.retireAt !== undefined ? { retiresAt: iso(s.retireAt) } : {}),
});

export function createKlaviyoWebhookAdmin(deps: WebhookAdminDeps): KlaviyoWebhookAdmin {
  const now = deps.now ?? Date.now;
  const doFetch = deps.fetch ?? fetch;

  function apiFor(lane: string): WebhooksApi {
    if (!deps.lanes.includes(lane)) throw new WebhookAdminError(404, 'not_found', `No lane named ${JSON.stringify(lane)} (known: ${deps.lanes.join(', ')})`);
    const api = deps.api(lane);
    if (!api)
      throw new WebhookAdminError(
        503,
        'klaviyo_unavailable',
        'This relay process has no Klaviyo credentials (an API-only process without MATON_API_KEY or KLAVIYO_API_KEY): run the command against one that has them',
      );
    return api;
  }

  async function counts(): Promise<(id: string) => { verified: number; refused: number }> {
    const stats = await deps.deliveryStats().catch(() => ({}) as Record<string, string>);
    return (id) => ({ verified: Number(stats[`verified:${id}`] ?? 0), refused: Number(stats[`refused:${id}`] ?? 0) });
  }

  async function view(w: KlaviyoWebhook, lane: string, stats?: (id: string) => { verified: number; refused: number }): Promise<WebhookView> {
    const [record, secrets] = await Promise.all([deps.store.record(w.id), deps.store.secrets(w.id)]);
    return {
      ...w,
      lane: record?.lane ?? lane,
      ours: secrets.length > 0,
      ...(record?.url ? { url: record.url } : {}),
      secrets: secrets.map(secretView),
      deliveries: (stats ?? (await counts()))(w.id),
    };
  }

  async function laneOf(id: string, given: string | undefined): Promise<string> {
    return given ?? (await deps.store.record(id))?.lane ?? 'default';
  }

  return {
    topics: (lane, signal) => apiFor(lane).topics(signal),

    async list(lane, signal) {
      const hooks = await apiFor(lane).list(signal);
      const stats = await counts();
      return Promise.all(hooks.map((w) => view(w, lane, stats)));
    },

    async get(id, lane, signal) {
      const l = await laneOf(id, lane);
      return view(await apiFor(l).get(id, signal), l);
    },

    async local() {
      const [records, stats] = await Promise.all([deps.store.records(), counts()]);
      return Promise.all(
        records.map(async (r) => ({
          id: r.id,
          lane: r.lane,
          ...(r.url ? { url: r.url } : {}),
          ...(r.topics ? { topics: r.topics } : {}),
          secrets: (await deps.store.secrets(r.id)).map(secretView),
          deliveries: stats(r.id),
        })),
      );
    },

    async create(input, actor, signal) {
      const api = apiFor(input.lane);
      const value = newWebhookSecret();
      const nonce = randomUUID();
      // Accepted before Klaviyo knows it: Klaviyo may sign a delivery before its 201 is back here.
      await deps.store.addPending(nonce, value, PENDING_TTL_MS);
      let created: KlaviyoWebhook;
      try {
        created = await api.create(
          { name: input.name ?? 'klaviyo-relay', description: input.description, endpointUrl: input.url, secret: value, topics: input.topics },
          signal,
        );
      } catch (err) {
        // A create whose outcome is unknown keeps the pending secret until it expires (README: rotate it then).
        if (!(err instanceof KlaviyoTransportError)) await deps.store.dropPending(nonce);
        throw err;
      }
      const record: WebhookRecord = {
        id: created.id,
        lane: input.lane,
        url: input.url,
        name: created.name,
        topics: created.topics.length > 0 ? created.topics : input.topics,
        createdAt: now(),
        createdBy: actor,
      };
      const secret = await deps.store.bind(nonce, record, value);
      await deps.appendAudit({
        actor,
        action: 'webhook.create',
        lane: input.lane,
        webhook: created.id,
        url: input.url,
        topics: record.topics,
        secret: secret.fingerprint,
      });
      return { webhook: await view(created, input.lane), secret };
    },

    async rotate(id, opts, actor, signal) {
      const lane = await laneOf(id, opts.lane);
      const api = apiFor(lane);
      const before = await deps.store.secrets(id);
      const value = newWebhookSecret();
      // 1. Accepted everywhere from now on (all API processes read the same Redis).
      const secret = await deps.store.add(id, value);
      // 2. Klaviyo signs with it from now on (after its own propagation).
      let updated: KlaviyoWebhook;
      try {
        updated = await api.update(id, { secret: value }, signal);
      } catch (err) {
        // Refused: Klaviyo keeps the old secret, so the new one goes. Unknown (timeout, network):
        // Klaviyo may sign with either, so both stay, unretired.
        if (!(err instanceof KlaviyoTransportError)) await deps.store.drop(id, secret.fingerprint);
        else
          await deps.appendAudit({
            actor,
            action: 'webhook.rotate.unknown',
            lane,
            webhook: id,
            secret: secret.fingerprint,
            detail: 'Klaviyo did not answer the PATCH: both secrets stay accepted',
          });
        throw err;
      }
      // 3. The one Klaviyo signed with until now retires after the grace period (sooner once the
      // new one is seen in use); older ones (a rotation during a rotation's grace) at once, so that
      // rotations never pile secrets up.
      const retireAt = now() + opts.graceMs;
      const retiring: SecretView[] = [];
      for (const [i, old] of before.entries()) {
        const at = i === 0 ? retireAt : now();
        await deps.store.retire(id, old.fingerprint, at);
        if (i === 0) retiring.push({ fingerprint: old.fingerprint, addedAt: iso(old.addedAt), retiresAt: iso(Math.min(at, old.retireAt ?? at)) });
      }
      if (!(await deps.store.record(id)))
        await deps.store.saveRecord({ id, lane, name: updated.name, topics: updated.topics, createdAt: now(), createdBy: actor });
      await deps.appendAudit({
        actor,
        action: 'webhook.rotate',
        lane,
        webhook: id,
        secret: secret.fingerprint,
        retiring: retiring.map((r) => ({ secret: r.fingerprint, at: r.retiresAt })),
      });
      return { webhook: await view(updated, lane), secret, retiring };
    },

    async remove(id, lane, actor, signal) {
      const l = await laneOf(id, lane);
      let atKlaviyo = true;
      try {
        await apiFor(l).remove(id, signal);
      } catch (err) {
        // Already gone at Klaviyo: what is left here goes all the same.
        if (!(err instanceof KlaviyoApiError && err.status === 404)) throw err;
        atKlaviyo = false;
      }
      const known = (await deps.store.record(id)) !== undefined || (await deps.store.secrets(id)).length > 0;
      if (!atKlaviyo && !known) throw new WebhookAdminError(404, 'not_found', `No webhook ${id} at Klaviyo or here`);
      await deps.store.remove(id);
      await deps.appendAudit({ actor, action: 'webhook.delete', lane: l, webhook: id, atKlaviyo });
      return { deleted: id, atKlaviyo };
    },

    async test(id) {
      const [record, secrets] = await Promise.all([deps.store.record(id), deps.store.secrets(id)]);
      const newest = secrets[0];
      if (!newest || !record?.url)
        throw new WebhookAdminError(
          404,
          'not_found',
          newest
            ? `The relay does not know webhook ${id}'s full URL (it was not created here; Klaviyo answers URLs truncated)`
            : `The relay holds no secret of webhook ${id}: it was not created or rotated here`,
        );
      const at = now();
      const nonce = randomUUID();
      const body = JSON.stringify({
        data: [
          {
            topic: SELF_TEST_TOPIC,
            external_id: `relay-self-test-${nonce}`,
            payload: { data: { type: 'event', id: `relay-self-test-${nonce}`, attributes: { datetime: iso(at), event_properties: {} } } },
          },
        ],
        meta: { klaviyo_webhook_id: id, timestamp: iso(at), relay_self_test: true },
      });
      const timestamp = new Date(at).toUTCString();
      const started = Date.now();
      const base = { webhook: id, url: record.url, secret: newest.fingerprint };
      try {
        const res = await doFetch(record.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'klaviyo-webhook-id': id,
            'klaviyo-timestamp': timestamp,
            'klaviyo-signature': klaviyoSignature(newest.value, body, timestamp),
          },
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(TEST_TIMEOUT_MS),
        });
        const text = await res.text();
        let answer: unknown = text.slice(0, 500);
        try {
          answer = JSON.parse(text);
        } catch {
          /* not JSON: shown as text */
        }
        const ms = Date.now() - started;
        const received = (answer as { received?: unknown } | undefined)?.received;
        if (res.status === 200 && received === 1) return { ...base, ok: true, status: 200, ms, answer };
        const problem =
          res.status === 401
            ? 'the URL reaches a relay that does not hold this secret (another deployment, or another Redis)'
            : res.status === 404
              ? 'nothing answers POST there as the relay does: check the path (/webhooks/klaviyo) and what your proxy forwards'
              : res.status >= 300 && res.status < 400
                ? `redirected to ${res.headers.get('location') ?? '?'}: Klaviyo does not follow redirects; give the final URL`
                : res.status === 200
                  ? 'the URL answered 200 but not as the relay does'
                  : `the URL answered ${res.status}`;
        return { ...base, ok: false, status: res.status, ms, problem, answer };
      } catch (err) {
        const e = err as { name?: string; cause?: { code?: string; message?: string } };
        const why = e.name === 'TimeoutError' ? `no answer within ${TEST_TIMEOUT_MS / 1000} s` : (e.cause?.code ?? e.cause?.message ?? String(err));
        return { ...base, ok: false, status: null, ms: Date.now() - started, problem: `the URL is not reachable from the relay (${why})` };
      }
    },
  };
}
