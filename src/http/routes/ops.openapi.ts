/** /ops (dead letters, status, lanes, find, audit) in the OpenAPI document (src/http/openapi/route-doc.ts). */
import { z } from 'zod';
import { errorResponse, OPS_ERRORS, type RouteDoc } from '../openapi/route-doc.ts';
import { EmptySchema, FilterSchema, FindSchema, PageSchema, ReplaySchema } from './ops.ts';

const ops = { tags: ['ops'], security: ['adminToken', 'adminBasic'] } as const;
const invalid = errorResponse('The filter or body is not valid; `issues` names the fields');
const notFound = errorResponse('Nothing with that reference');

const DeadLetterPageSchema = z
  .object({
    total: z.number().int(),
    offset: z.number().int(),
    deadLetters: z
      .array(z.object({ ref: z.string() }).loose())
      .meta({ description: 'Each with its ref (<queue>/<job id>), items, error, source, lane, class' }),
    truncated: z.boolean(),
    next: z.number().int().optional(),
  })
  .loose();

const ReplayResultSchema = z
  .object({
    dryRun: z.boolean(),
    priority: z.enum(['live', 'bulk']),
    jobs: z.number().int(),
    items: z.number().int(),
    refs: z.array(z.string()),
    preview: z.array(z.object({ ref: z.string(), endpoint: z.string(), body: z.unknown() })).optional(),
  })
  .loose();

const StatusSchema = z
  .object({ at: z.string(), classes: z.array(z.unknown()), queues: z.array(z.unknown()), lanes: z.array(z.unknown()) })
  .loose()
  .meta({ description: 'Per lane × kind × class: waiting, active, delayed, dead letters, oldest age, delivered rate; per lane: paused, quota headroom' });

const laneParams = z.object({ lane: z.string().meta({ description: 'A lane (Klaviyo account) name: default, or one of RELAY_CONFIG `accounts`' }) });
/** GET /ops/audit's `limit`: 1–1000, default 100 (a value that is not a number counts as the default). */
const AuditQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(1000).optional() });

export const opsDocs: RouteDoc[] = [
  {
    ...ops,
    method: 'get',
    path: '/ops/dead-letters',
    summary: 'List dead letters',
    description: 'Filtered by kind, lane, class, Klaviyo error code or status, source, time; paged by limit (1–1000) and offset.',
    query: FilterSchema.extend(PageSchema.shape),
    responses: { 200: { description: 'A page of dead letters', schema: DeadLetterPageSchema }, 400: invalid, ...OPS_ERRORS },
    examples: [
      { summary: 'Events rejected with a 400', status: 200, query: { kind: 'events', status: '400', limit: '10' } },
      { summary: 'A limit out of range', status: 400, query: { limit: '5000' } },
      { summary: 'No token', status: 401, auth: false },
    ],
  },
  {
    ...ops,
    method: 'get',
    path: '/ops/dead-letters/{queue}/{jobId}',
    summary: 'One dead letter, with its data',
    params: z.object({ queue: z.string(), jobId: z.string() }),
    responses: { 200: { description: 'The dead letter', schema: z.object({ ref: z.string(), data: z.unknown() }).loose() }, 404: notFound, ...OPS_ERRORS },
    examples: [{ summary: 'A reference that names nothing', status: 404, params: { queue: 'events.default', jobId: 'no-such-job' } }],
  },
  {
    ...ops,
    method: 'post',
    path: '/ops/dead-letters/replay',
    summary: 'Send dead letters again',
    description: 'By filter, by `ids`, or `"all": true`; `"dryRun": true` shows what would be sent. Jobs go back as bulk unless `"priority": "live"`.',
    body: ReplaySchema,
    responses: {
      200: { description: 'What was (or would be) sent again', schema: ReplayResultSchema },
      400: invalid,
      415: errorResponse('The body is not JSON'),
      ...OPS_ERRORS,
    },
    examples: [
      { summary: 'Preview a replay of everything', status: 200, body: { all: true, dryRun: true } },
      { summary: 'No filter and no "all"', status: 400, body: {} },
    ],
  },
  {
    ...ops,
    method: 'get',
    path: '/ops/status',
    summary: 'Queues, lanes, quotas and sources now',
    responses: { 200: { description: 'The status', schema: StatusSchema }, ...OPS_ERRORS },
    examples: [{ summary: 'Now', status: 200 }],
  },
  ...(['pause', 'resume'] as const).map(
    (action): RouteDoc => ({
      ...ops,
      method: 'post',
      path: `/ops/lanes/{lane}/${action}`,
      summary: action === 'pause' ? 'Pause a lane: its jobs wait, nothing is sent to its account' : 'Resume a paused lane',
      params: laneParams,
      body: EmptySchema,
      responses: {
        200: { description: 'Done', schema: z.object({ lane: z.string(), [action === 'pause' ? 'paused' : 'resumed']: z.literal(true) }) },
        400: invalid,
        404: errorResponse('No such lane'),
        415: errorResponse('The body is not JSON'),
        ...OPS_ERRORS,
      },
      examples: [
        { summary: `${action} the default lane`, status: 200, params: { lane: 'default' }, body: {} },
        { summary: 'A lane that does not exist', status: 404, params: { lane: 'nowhere' }, body: {} },
      ],
    }),
  ),
  {
    ...ops,
    method: 'get',
    path: '/ops/find',
    summary: 'Find the jobs holding an item or a person',
    description: 'By the caller’s item id, or by email, phone number or external id: where each job is (waiting, delayed, dead letter…).',
    query: FindSchema,
    responses: {
      200: { description: 'The jobs found', schema: z.object({ query: z.record(z.string(), z.string()), jobs: z.array(z.unknown()) }) },
      400: invalid,
      ...OPS_ERRORS,
    },
    examples: [
      { summary: 'By id', status: 200, query: { id: 'order-1001' } },
      { summary: 'Nothing to look for', status: 400 },
    ],
  },
  {
    ...ops,
    method: 'get',
    path: '/ops/audit',
    summary: 'The audit log: who paused, resumed, replayed, made webhooks',
    query: AuditQuerySchema,
    responses: {
      200: {
        description: 'The newest entries first',
        schema: z.object({ entries: z.array(z.object({ at: z.string(), actor: z.string(), action: z.string() }).loose()) }),
      },
      ...OPS_ERRORS,
    },
    examples: [{ summary: 'The last 10', status: 200, query: { limit: '10' } }],
  },
];
