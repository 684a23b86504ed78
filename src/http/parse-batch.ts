/**
 * Request bodies that carry one item, or `{"<plural>": [...]}` with several. Every item is
 * validated; one bad item fails the request with every problem named (field and index), so a
 * request is accepted whole or not at all.
 */
import { z } from 'zod';
import { zodIssues, type FieldIssue } from './errors.ts';

// zod compiles a schema on its first use; building the wrapper per request would pay that every time.
const wrappers = new Map<string, z.ZodType>();
function batchWrapper(plural: string, max: number): z.ZodType {
  const key = `${plural}:${max}`;
  let w = wrappers.get(key);
  if (!w) {
    w = z.object({ [plural]: z.array(z.unknown()).min(1, `must contain at least one item`).max(max, `must contain at most ${max} items`) }).strict();
    wrappers.set(key, w);
  }
  return w;
}

export type Parsed<T> = { ok: true; items: T[]; isBatch: boolean } | { ok: false; issues: FieldIssue[]; message: string };

/**
 * `fast`, when given, may accept an item without zod; it must only say yes to items the schema
 * would accept unchanged (see src/model/event-fast-path.ts).
 */
export function parseSingleOrBatch<S extends z.ZodType>(
  body: unknown,
  plural: string,
  schema: S,
  max: number,
  fast?: (item: unknown) => boolean,
): Parsed<z.infer<S>> {
  const isBatch = body !== null && typeof body === 'object' && !Array.isArray(body) && plural in body;
  let raw: unknown[];
  if (isBatch) {
    const batch = batchWrapper(plural, max).safeParse(body);
    if (!batch.success) return { ok: false, issues: zodIssues(batch.error), message: 'The request body is not valid' };
    raw = (batch.data as Record<string, unknown[]>)[plural]!;
  } else {
    raw = [body];
  }
  const issues: FieldIssue[] = [];
  const items: z.infer<S>[] = [];
  raw.forEach((item, i) => {
    if (fast?.(item)) {
      items.push(item as z.infer<S>);
      return;
    }
    const parsed = schema.safeParse(item);
    if (parsed.success) items.push(parsed.data);
    else issues.push(...(isBatch ? zodIssues(parsed.error, [plural, i], i) : zodIssues(parsed.error)));
  });
  if (issues.length > 0) {
    const bad = new Set(issues.map((x) => x.index)).size;
    return { ok: false, issues, message: isBatch ? `${bad} of ${raw.length} ${plural} are not valid; nothing was accepted` : 'The request body is not valid' };
  }
  return { ok: true, items, isBatch };
}

/** What parseSingleOrBatch accepts, as one zod schema: for the OpenAPI document (src/http/openapi/). */
export function singleOrBatchSchema<S extends z.ZodType>(plural: string, schema: S, max: number) {
  return z.union([schema, z.object({ [plural]: z.array(schema).min(1).max(max) }).strict()]);
}
