/**
 * Size and shape limits for free-form JSON (event and profile properties).
 *
 * Klaviyo rejects strings over 100 KB and events with more than 400 properties (OpenAPI
 * descriptions of create_event). Depth is our own bound: free-form JSON is walked here and in the
 * workers, and a hostile 10,000-level nesting must cost nothing but a 400.
 *
 * This runs for every event at ingest, so the walk allocates nothing unless it finds a problem.
 */
import { KLAVIYO_LIMITS } from '../klaviyo/endpoints.ts';

export const MAX_JSON_DEPTH = 32;

export interface JsonProblem {
  message: string;
  path: (string | number)[];
}

type Found = { message: string; path: (string | number)[] } | undefined;

/** Depth-first, recursion bounded by MAX_JSON_DEPTH; the path is built only on the way out of a problem. */
function walk(v: unknown, depth: number): Found {
  if (typeof v === 'string') {
    // Byte length, not characters: Klaviyo's limit is 100 KB. Cheap test first.
    if (v.length > KLAVIYO_LIMITS.maxStringBytes / 4 && Buffer.byteLength(v) > KLAVIYO_LIMITS.maxStringBytes)
      return { message: 'is a string over 100 KB; Klaviyo rejects those', path: [] };
    return undefined;
  }
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : { message: 'must be a finite number', path: [] };
  if (v === null || typeof v !== 'object') return undefined;
  if (depth >= MAX_JSON_DEPTH) return { message: `is nested deeper than ${MAX_JSON_DEPTH} levels`, path: [] };
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const f = walk(v[i], depth + 1);
      if (f) return { message: f.message, path: [i, ...f.path] };
    }
    return undefined;
  }
  for (const k in v) {
    const f = walk((v as Record<string, unknown>)[k], depth + 1);
    if (f) return { message: f.message, path: [k, ...f.path] };
  }
  return undefined;
}

export function checkJsonValue(value: unknown, opts: { maxKeys?: number } = {}): JsonProblem[] {
  const problems: JsonProblem[] = [];
  if (opts.maxKeys !== undefined && value && typeof value === 'object' && !Array.isArray(value)) {
    let n = 0;
    for (const _ in value) n++;
    if (n > opts.maxKeys) problems.push({ message: `has ${n} properties; Klaviyo accepts at most ${opts.maxKeys}`, path: [] });
  }
  const found = walk(value, 0);
  if (found) problems.push(found);
  return problems;
}

/**
 * Whether `value` holds objects or arrays nested more than `max` deep. Recursion stops at `max`,
 * so a hostile 100,000-level body costs a bounded walk, not a stack overflow. (JSON.parse takes any
 * depth; JSON.stringify, which storing a job needs, overflows the stack after a few thousand.)
 */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (max <= 0) return true;
  for (const v of Array.isArray(value) ? value : Object.values(value)) if (nestedDeeperThan(v, max - 1)) return true;
  return false;
}
