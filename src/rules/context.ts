/**
 * What a rule sees of a webhook item, and who it is about.
 *
 * System webhooks carry a Klaviyo event (the Get Event shape): its `event_properties` are the
 * item's properties and `relationships.profile.data.id` is the profile. Flow webhook bodies are
 * whatever the flow's template says; the profile is taken from `profile` (an object of
 * identifiers) or from top-level `email`, `phone_number`, `external_id`, `profile_id`.
 */
import type { ProfileRef } from '../model/profile-operation.ts';

export interface RuleContext {
  readonly topic?: string;
  readonly flow?: string;
  readonly properties: Record<string, unknown>;
  readonly payload?: unknown;
  readonly body?: unknown;
  readonly profile?: ProfileRef;
}

const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

export function systemWebhookContext(topic: string, payload: unknown): RuleContext {
  const data = obj(obj(payload).data);
  const kid = str(obj(obj(obj(data.relationships).profile).data).id);
  return { topic, payload, properties: obj(obj(data.attributes).event_properties), profile: kid ? { kid } : undefined };
}

export function flowWebhookContext(flow: string, body: unknown): RuleContext {
  const b = obj(body);
  const p = obj(b.profile);
  const pick = (field: string) => str(p[field]) ?? str(b[field]);
  const ref: ProfileRef = {
    ...(pick('email') ? { email: pick('email') } : {}),
    ...(pick('phone_number') ? { phone_number: pick('phone_number') } : {}),
    ...(pick('external_id') ? { external_id: pick('external_id') } : {}),
    ...((str(p.id) ?? str(b.profile_id)) ? { kid: str(p.id) ?? str(b.profile_id) } : {}),
  };
  return { flow, body, properties: b.properties !== undefined ? obj(b.properties) : b, profile: Object.keys(ref).length > 0 ? ref : undefined };
}

/** `properties.Campaign Name` → ctx.properties['Campaign Name']. */
export function valueAt(ctx: RuleContext, path: string): unknown {
  let node: unknown = ctx;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}
