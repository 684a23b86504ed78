/** POST|DELETE /v1/lists/{listId}/members in the OpenAPI document (src/http/openapi/route-doc.ts). */
import { z } from 'zod';
import { ListIdSchema, ListMembersSchema } from '../../model/profile-requests.ts';
import { type RouteDoc, spooledField, V1_ERRORS } from '../openapi/route-doc.ts';

export const ListAcceptedSchema = z.object({
  accepted: z.number().int().meta({ description: 'Profiles in the request' }),
  id: z.string().meta({ description: 'The request id (yours, or generated)' }),
  duplicates: z.number().int(),
  spooled: spooledField,
});

const params = z.object({ listId: ListIdSchema.meta({ description: 'A Klaviyo list id' }) });
const common = {
  path: '/v1/lists/{listId}/members',
  tags: ['ingest'],
  security: ['relayKey', 'standardWebhooks'],
  params,
  body: ListMembersSchema,
  responses: { 202: { description: 'Redis (or the spool) holds every operation', schema: ListAcceptedSchema }, ...V1_ERRORS },
} as const;

export const listsDocs: RouteDoc[] = [
  {
    ...common,
    method: 'post',
    summary: 'Add profiles to a list, or subscribe them',
    description: 'Without `consent`: list membership only. With `consent`: subscribe the channels set to true (email needs `email`, SMS needs `phone_number`).',
    examples: [
      {
        summary: 'Add two profiles',
        status: 202,
        params: { listId: 'Y6nRLr' },
        body: { profiles: [{ email: 'ada@example.com' }, { external_id: 'cust-42' }] },
      },
      {
        summary: 'Subscribe to email',
        status: 202,
        params: { listId: 'Y6nRLr' },
        body: { id: 'sub-1', profiles: [{ email: 'ada@example.com' }], consent: { email: true }, source: 'Checkout' },
      },
      { summary: 'A list id that is not one', status: 400, params: { listId: 'bad.id' }, body: { profiles: [{ email: 'ada@example.com' }] } },
    ],
  },
  {
    ...common,
    method: 'delete',
    summary: 'Remove profiles from a list, or unsubscribe them',
    description: 'Without `consent`: removes membership. With `consent`: unsubscribes those channels for this list (`"global": true`: account-wide).',
    examples: [
      { summary: 'Remove a profile', status: 202, params: { listId: 'Y6nRLr' }, body: { profiles: [{ email: 'ada@example.com' }] } },
      { summary: '`global` without consent', status: 400, params: { listId: 'Y6nRLr' }, body: { profiles: [{ email: 'ada@example.com' }], global: true } },
    ],
  },
];
