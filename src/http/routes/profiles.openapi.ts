/** POST /v1/profiles in the OpenAPI document (src/http/openapi/route-doc.ts). */
import { MAX_PROFILES_PER_REQUEST, ProfileUpsertSchema } from '../../model/profile-requests.ts';
import { type RouteDoc, V1_ERRORS } from '../openapi/route-doc.ts';
import { singleOrBatchSchema } from '../parse-batch.ts';
import { AcceptedSchema } from './events.openapi.ts';

export const profilesDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/profiles',
    summary: 'Create or update one profile, or up to 1,000',
    description:
      "Klaviyo's profile-import semantics: a field set to null clears it, an omitted one is left alone. `lists` adds the profile to those lists after the upsert. " +
      '`id` identifies this update (not the person): the same id from the same key is applied once. Operations on one profile are applied in the order they were accepted.',
    tags: ['ingest'],
    security: ['relayKey', 'standardWebhooks'],
    body: singleOrBatchSchema('profiles', ProfileUpsertSchema, MAX_PROFILES_PER_REQUEST),
    responses: { 202: { description: 'Redis (or the spool) holds every operation', schema: AcceptedSchema }, ...V1_ERRORS },
    examples: [
      { summary: 'One profile', status: 202, body: { id: 'upd-1', email: 'ada@example.com', first_name: 'Ada', properties: { plan: 'pro' } } },
      { summary: 'A field that is not known', status: 400, body: { email: 'ada@example.com', nickname: 'ada' } },
    ],
  },
];
