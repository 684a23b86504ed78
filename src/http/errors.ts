/**
 * Every error the HTTP API returns has one shape:
 *   {"error": "<code>", "message": "<sentence>", "issues": [{"field": "events[3].profile.email", "message": "..."}]}
 * so a caller can always find which field, in which item of a batch, was wrong.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';

export interface FieldIssue {
  readonly field: string;
  readonly message: string;
  /** Position in a batch, when the request carried several items. */
  readonly index?: number;
}

export function errorBody(error: string, message: string, issues?: readonly FieldIssue[]) {
  return issues && issues.length > 0 ? { error, message, issues } : { error, message };
}

export function jsonError(c: Context, status: ContentfulStatusCode, error: string, message: string, issues?: readonly FieldIssue[]) {
  return c.json(errorBody(error, message, issues), status);
}

/** `['events', 3, 'profile', 'email']` → `events[3].profile.email`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

/** zod issues → field issues, with `prefix` (e.g. `['events', 3]`) in front of each path. */
export function zodIssues(error: z.ZodError, prefix: readonly PropertyKey[] = [], index?: number): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const issue of error.issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push(withIndex({ field: fieldPath([...path, key]), message: 'is not a known field' }, index));
    } else if (issue.code === 'invalid_type' && isMissing(issue)) {
      out.push(withIndex({ field: fieldPath(path) || '(body)', message: 'is required' }, index));
    } else {
      out.push(withIndex({ field: fieldPath(path) || '(body)', message: issue.message }, index));
    }
  }
  return out;
}

/**
 * A missing field, as opposed to one of the wrong type. zod 4 leaves `input` off an issue unless
 * parsed with `reportInput`, so "no input" alone would call `{"id": 5}` a missing id; its default
 * message names what it received.
 */
function isMissing(issue: z.core.$ZodIssueInvalidType): boolean {
  return 'input' in issue ? issue.input === undefined : /received undefined$/.test(issue.message);
}

function withIndex(issue: FieldIssue, index: number | undefined): FieldIssue {
  return index === undefined ? issue : { ...issue, index };
}
