/**
 * Segment's HTTP Tracking API as the Segment and RudderStack SDKs speak it (POST /v1/batch and the
 * single calls /v1/track, /v1/identify, /v1/page, /v1/screen, /v1/group, /v1/alias).
 *
 * Lenient on purpose: the SDKs add fields of their own (`_metadata`, `channel`, `integrations`,
 * `context.library`…), so unknown fields are ignored rather than refused, and ids may be numbers
 * (both SDKs historically accepted them). What the mapping needs is typed here; what it makes is
 * then validated by the same schemas as /v1/events, /v1/orders and /v1/profiles.
 */
import { z } from 'zod';

export const MESSAGE_TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

/** Segment's limits: 32 KB per message, 500 KB per request (decompressed); over them → 400. */
export const MAX_MESSAGE_BYTES = 32 * 1024;
export const MAX_BATCH_BYTES = 500 * 1024;

const record = z.record(z.string(), z.unknown());
const optionalRecord = record.nullable().optional();
/** A string id, or a number (made a string); null and "" are absent. */
const id = z
  .union([z.string(), z.number().finite().transform(String)])
  .nullable()
  .optional();
const text = z.string().nullable().optional();

export const SegmentMessageSchema = z
  .object({
    type: z.enum(MESSAGE_TYPES, { message: `must be one of ${MESSAGE_TYPES.join(', ')}` }),
    messageId: id,
    timestamp: text,
    originalTimestamp: text,
    sentAt: text,
    userId: id,
    anonymousId: id,
    event: text,
    name: text,
    category: text,
    properties: optionalRecord,
    traits: optionalRecord,
    context: optionalRecord,
    groupId: id,
    previousId: id,
  })
  .loose();

export type SegmentMessage = z.infer<typeof SegmentMessageSchema>;

/** What a batch request carries around its messages (`context` is merged into each message's). */
export const BatchEnvelopeSchema = z
  .object({
    batch: z.array(z.unknown()).min(1, 'must contain at least one message'),
    sentAt: text,
    context: optionalRecord,
  })
  .loose();

export type BatchEnvelope = z.infer<typeof BatchEnvelopeSchema>;

/** BatchEnvelopeSchema's verdict without its copy of the batch, for the common envelope (same contract as isPlainMessage). */
export function isPlainEnvelope(b: unknown): b is BatchEnvelope {
  if (!isRecord(b)) return false;
  const r = b as Record<string, unknown>;
  return (
    Array.isArray(r.batch) &&
    r.batch.length > 0 &&
    (r.sentAt === undefined || r.sentAt === null || typeof r.sentAt === 'string') &&
    (r.context === undefined || r.context === null || isRecord(r.context))
  );
}

const ID_FIELDS = ['messageId', 'userId', 'anonymousId', 'groupId', 'previousId'] as const;
const TEXT_FIELDS = ['timestamp', 'originalTimestamp', 'sentAt', 'event', 'name', 'category'] as const;
const RECORD_FIELDS = ['properties', 'traits', 'context'] as const;
const isRecord = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * A shortcut through SegmentMessageSchema for the common message (ingest of a 500-message batch
 * spent most of its mapping time in zod's copies): true only when the schema would accept `m` and
 * return an equal value — string ids (a number is made a string by the schema, so it goes there),
 * strings or null for the texts, objects or null for the records. Anything else: the schema decides
 * and words the errors. test/unit/tracking-map.test.ts checks the contract.
 */
export function isPlainMessage(m: unknown): m is SegmentMessage {
  if (!isRecord(m)) return false;
  const r = m as Record<string, unknown>;
  if (!(MESSAGE_TYPES as readonly unknown[]).includes(r.type)) return false;
  for (const f of ID_FIELDS) {
    const v = r[f];
    if (v !== undefined && v !== null && typeof v !== 'string') return false;
  }
  for (const f of TEXT_FIELDS) {
    const v = r[f];
    if (v !== undefined && v !== null && typeof v !== 'string') return false;
  }
  for (const f of RECORD_FIELDS) {
    const v = r[f];
    if (v !== undefined && v !== null && !isRecord(v)) return false;
  }
  return true;
}
