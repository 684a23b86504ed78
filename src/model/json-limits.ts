/**
 * Size and shape limits for free-form JSON (event and profile properties).
 *
 * Klaviyo rejects strings over 100 KB and events with more than 400 properties (OpenAPI
 * descriptions of create_event). Depth is our own bound: free-form JSON is walked here and in the
 * workers, and a hostile 10,000-level nesting must cost nothing but a 400.
 */
import { KLAVIYO_LIMITS } from '../klaviyo/endpoints.ts';

export const MAX_JSON_DEPTH = 32;

export interface JsonProblem {
  message: string;
  path: (string | number)[];
}

export function checkJsonValue(value: unknown, opts: { maxKeys?: number } = {}): JsonProblem[] {
  const problems: JsonProblem[] = [];
  if (opts.maxKeys !== undefined && value && typeof value === 'object' && !Array.isArray(value)) {
    const n = Object.keys(value).length;
    if (n > opts.maxKeys) problems.push({ message: `has ${n} properties; Klaviyo accepts at most ${opts.maxKeys}`, path: [] });
  }
  // Iterative walk: no recursion, so depth cannot overflow the stack.
  const stack: { v: unknown; path: (string | number)[] }[] = [{ v: value, path: [] }];
  while (stack.length > 0 && problems.length < 10) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string') {
      // Byte length, not characters: Klaviyo's limit is 100 KB.
      if (v.length > KLAVIYO_LIMITS.maxStringBytes / 4 && Buffer.byteLength(v) > KLAVIYO_LIMITS.maxStringBytes) {
        problems.push({ message: 'is a string over 100 KB; Klaviyo rejects those', path });
      }
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) problems.push({ message: 'must be a finite number', path });
    } else if (v && typeof v === 'object') {
      if (path.length >= MAX_JSON_DEPTH) {
        problems.push({ message: `is nested deeper than ${MAX_JSON_DEPTH} levels`, path });
        continue;
      }
      if (Array.isArray(v)) v.forEach((item, i) => stack.push({ v: item, path: [...path, i] }));
      else for (const [k, item] of Object.entries(v)) stack.push({ v: item, path: [...path, k] });
    }
  }
  return problems;
}
