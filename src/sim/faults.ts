/**
 * Scripted faults. Rules are checked in order for every API request (gateway `/klaviyo/api/…`
 * and direct `/api/…`); the first rule that matches fires, its `times` counter drops by one and
 * it is removed at zero.
 *
 * Where faults sit in the pipeline (see api-pipeline.ts): right after the request is routed and
 * its caller identified — before authentication, limits and validation — so a forced 401, 429
 * or 5xx works whatever the request. A fault that answers (`status`, `rejectItems`) changes no
 * state and consumes no rate-limit quota. `latencyMs` delays, then the request is handled
 * normally (even if the client has given up meanwhile — the "applied but timed out" case);
 * `hang` never answers until the client aborts or the simulator closes.
 */
import { z } from 'zod';
import { ENDPOINTS, type EndpointName } from '../klaviyo/endpoints.ts';
import { selectItems, type MatchedItem } from './body-items.ts';

export interface FaultRule {
  id?: string;
  match?: { endpoint?: EndpointName; account?: string; method?: string };
  /** How many times the rule fires; default unlimited. */
  times?: number;
  /** Probability 0..1 that the rule fires for a matching request (default 1). */
  rate?: number;
  /** Delay, then continue (normal handling unless status/hang/rejectItems is also set). */
  latencyMs?: number;
  /** Never answer (until the client gives up or the simulator closes). */
  hang?: boolean;
  /** Answer with this status instead of handling the request. */
  status?: number;
  /** Sets Retry-After (a 429 without it gets `Retry-After: 1`). */
  retryAfterS?: number;
  /** Body shape for `status`: Klaviyo JSON:API errors (default) or the gateway's `{"error": …}`. */
  source?: 'gateway' | 'klaviyo';
  /** Explicit body, overriding the generated one. */
  body?: unknown;
  /**
   * 400 naming each item of the request whose profile email or metric name is listed (a pointer
   * per item unless `withPointers === false`); the whole request is rejected, as Klaviyo rejects
   * a bulk request. The rule only matches requests containing at least one such item.
   */
  rejectItems?: { emails?: string[]; metrics?: string[]; detail?: string; withPointers?: boolean };
}

export interface FaultRuleState extends FaultRule {
  id: string;
  /** Firings left; null = unlimited. */
  remaining: number | null;
  fired: number;
}

export interface FaultControl {
  /** Appends one rule or several; returns them with their ids. */
  add(rule: FaultRule | FaultRule[]): FaultRuleState[];
  remove(id: string): boolean;
  clear(): void;
  list(): FaultRuleState[];
}

const endpointNames = Object.keys(ENDPOINTS) as [EndpointName, ...EndpointName[]];

export const faultRuleSchema = z
  .object({
    id: z.string().min(1).optional(),
    match: z
      .object({
        endpoint: z.enum(endpointNames).optional(),
        account: z.string().optional(),
        method: z.string().optional(),
      })
      .strict()
      .optional(),
    times: z.number().int().positive().optional(),
    rate: z.number().min(0).max(1).optional(),
    latencyMs: z.number().nonnegative().optional(),
    hang: z.boolean().optional(),
    status: z.number().int().min(100).max(599).optional(),
    retryAfterS: z.number().int().nonnegative().optional(),
    source: z.enum(['gateway', 'klaviyo']).optional(),
    body: z.unknown().optional(),
    rejectItems: z
      .object({
        emails: z.array(z.string()).optional(),
        metrics: z.array(z.string()).optional(),
        detail: z.string().optional(),
        withPointers: z.boolean().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export interface FaultRequest {
  endpoint: EndpointName | undefined;
  account: string | undefined;
  method: string;
  /** The parsed JSON body, or undefined (read lazily: only rejectItems rules need it). */
  body: () => unknown;
  emailOfProfile: (id: string) => string | null | undefined;
}

export interface FaultDecision {
  rule: FaultRuleState;
  /** For rejectItems rules: the items to reject. */
  items: MatchedItem[];
}

export class Faults implements FaultControl {
  private rules: FaultRuleState[] = [];
  private seq = 0;

  constructor(private readonly random: () => number) {}

  add(rule: FaultRule | FaultRule[]): FaultRuleState[] {
    const added = (Array.isArray(rule) ? rule : [rule]).map((r) => {
      const parsed = faultRuleSchema.parse(r) as FaultRule;
      const state: FaultRuleState = { ...parsed, id: parsed.id ?? `fault-${++this.seq}`, remaining: parsed.times ?? null, fired: 0 };
      return state;
    });
    this.rules.push(...added);
    return added.map((r) => ({ ...r }));
  }

  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    return this.rules.length !== before;
  }

  clear(): void {
    this.rules = [];
  }

  list(): FaultRuleState[] {
    return this.rules.map((r) => ({ ...r }));
  }

  /** The rule that fires for this request, if any (its counters already updated). */
  pick(req: FaultRequest): FaultDecision | null {
    for (const rule of this.rules) {
      const m = rule.match;
      if (m?.endpoint !== undefined && m.endpoint !== req.endpoint) continue;
      if (m?.account !== undefined && m.account !== req.account) continue;
      if (m?.method !== undefined && m.method.toUpperCase() !== req.method.toUpperCase()) continue;
      let items: MatchedItem[] = [];
      if (rule.rejectItems) {
        items = selectItems(req.endpoint, req.body(), rule.rejectItems, req.emailOfProfile);
        if (items.length === 0) continue;
      }
      if (rule.rate !== undefined && rule.rate < 1 && !(this.random() < rule.rate)) continue;
      rule.fired++;
      if (rule.remaining !== null && --rule.remaining <= 0) this.rules = this.rules.filter((r) => r !== rule);
      return { rule: { ...rule }, items };
    }
    return null;
  }
}
