/** POST /v1/privacy/deletions and POST|DELETE /v1/suppressions in the OpenAPI document (src/http/openapi/route-doc.ts). */
import { z } from 'zod';
import { DeletionSchema, MAX_DELETIONS_PER_REQUEST, MAX_SUPPRESSIONS_PER_REQUEST, SuppressionsSchema } from '../../model/privacy-requests.ts';
import { type RouteDoc, V1_ERRORS } from '../openapi/route-doc.ts';
import { singleOrBatchSchema } from '../parse-batch.ts';
import { AcceptedSchema } from './events.openapi.ts';
import { ListAcceptedSchema } from './lists.openapi.ts';

const count = z.number().int();
const ErasureRecordSchema = z.object({
  subject: z.string().meta({ description: 'SHA-256 of the identifier: who, without saying who' }),
  identifier: z.enum(['email', 'phone_number', 'profile_id']),
  requestedAt: z.string(),
  removed: z
    .object({ queued: count, inFlight: count, completed: count, deadLetters: count, profileIdCache: count, audit: count, spool: count })
    .meta({ description: "Items removed from each of the relay's stores" }),
  where: z.array(z.object({ place: z.string(), state: z.string().optional(), count })).meta({ description: 'Each place items were removed from' }),
});

const DeletionsAcceptedSchema = AcceptedSchema.extend({
  erasures: z.array(ErasureRecordSchema).meta({ description: "The erasure's record per person: what the relay removed where (also in the audit stream)" }),
});

const suppressions = {
  path: '/v1/suppressions',
  tags: ['privacy'],
  security: ['relayKey', 'standardWebhooks'],
  body: SuppressionsSchema,
  responses: { 202: { description: 'Redis (or the spool) holds every operation', schema: ListAcceptedSchema }, ...V1_ERRORS },
} as const;

export const privacyDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/privacy/deletions',
    summary: 'Erase a person, or up to 100',
    description:
      `\`{"email"}\`, \`{"phone_number"}\` or \`{"profile_id"}\` (exactly one), or \`{"deletions": [...]}\` with up to ${MAX_DELETIONS_PER_REQUEST}. ` +
      'Before the answer the relay purges its own copies: work not yet delivered is cancelled; delivered and dead-lettered copies, the profile-id cache, the audit stream and the spool lose the person. ' +
      "Then Klaviyo's profile deletion job is queued and retried like any work. Work accepted after the request is new data. The same `id` from the same key is queued once.",
    tags: ['privacy'],
    security: ['relayKey', 'standardWebhooks'],
    body: singleOrBatchSchema('deletions', DeletionSchema, MAX_DELETIONS_PER_REQUEST),
    responses: {
      202: { description: "The relay's copies are purged; Redis (or the spool) holds Klaviyo's deletion jobs", schema: DeletionsAcceptedSchema },
      ...V1_ERRORS,
    },
    examples: [
      { summary: 'By email', status: 202, body: { id: 'gdpr-1', email: 'ada@example.com' } },
      { summary: 'A batch', status: 202, body: { deletions: [{ phone_number: '+15005550006' }, { profile_id: '01J9ZQ0000000000000000000A' }] } },
      { summary: 'Two identifiers', status: 400, body: { email: 'ada@example.com', phone_number: '+15005550006' } },
      { summary: 'No key', status: 401, auth: false, body: { email: 'ada@example.com' } },
    ],
  },
  {
    ...suppressions,
    method: 'post',
    summary: 'Suppress marketing email to up to 1,000 addresses',
    description: `\`{"emails": [...]}\` with up to ${MAX_SUPPRESSIONS_PER_REQUEST}: Klaviyo stops marketing email to them; nobody is erased. Sent to Klaviyo in jobs of up to 100.`,
    examples: [
      { summary: 'Two addresses', status: 202, body: { id: 'supp-1', emails: ['ada@example.com', 'grace@example.com'] } },
      { summary: 'No address', status: 400, body: { emails: [] } },
      { summary: 'No key', status: 401, auth: false, body: { emails: ['ada@example.com'] } },
    ],
  },
  {
    ...suppressions,
    method: 'delete',
    summary: 'Lift the suppression of up to 1,000 addresses',
    description: `\`{"emails": [...]}\` with up to ${MAX_SUPPRESSIONS_PER_REQUEST}: Klaviyo may send them marketing email again (their consent is unchanged). Sent in jobs of up to 100.`,
    examples: [
      { summary: 'One address', status: 202, body: { emails: ['ada@example.com'] } },
      { summary: 'Not an email', status: 400, body: { emails: ['not-an-email'] } },
    ],
  },
];
