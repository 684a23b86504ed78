/** GET /healthz and /readyz in the OpenAPI document (src/http/openapi/route-doc.ts). */
import { z } from 'zod';
import type { RouteDoc } from '../openapi/route-doc.ts';

const ReadySchema = z.object({
  status: z.enum(['ready', 'degraded', 'not ready']).meta({ description: 'degraded: Redis is away but the spool takes work' }),
  checks: z.record(z.string(), z.boolean()).meta({ description: 'redis, accepting, and workers where they run in this process' }),
});

export const healthDocs: RouteDoc[] = [
  {
    method: 'get',
    path: '/healthz',
    summary: 'Liveness: the process answers',
    tags: ['health'],
    security: [],
    responses: { 200: { description: 'Alive', schema: z.object({ status: z.literal('ok') }) } },
    examples: [{ summary: 'Alive', status: 200 }],
  },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: work can be accepted',
    tags: ['health'],
    security: [],
    responses: { 200: { description: 'Ready (or degraded: spooling)', schema: ReadySchema }, 503: { description: 'Not ready', schema: ReadySchema } },
    examples: [{ summary: 'Ready', status: 200 }],
  },
];
