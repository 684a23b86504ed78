/**
 * Rules: an inbound webhook topic or flow name, with simple conditions on the item, mapped to
 * actions — add to list, remove from list, update profile properties, create an event.
 *
 * Evaluation is pure. Every piece of work it produces has a key derived from the item's id and
 * the rule and action positions, so a redelivered webhook or a reprocessed job yields the same
 * keys, which ingest recognises and Klaviyo's unique_id absorbs.
 */
import { ruleActionId, ruleActionKey } from '../item-keys.ts';
import type { EventItem, ProfileItem } from '../job-data.ts';
import type { Rule, RulePredicate } from '../relay-config.ts';
import { valueAt, type RuleContext } from './context.ts';

export interface RuleOutcome {
  /** Indexes of the rules that applied. */
  readonly applied: number[];
  /** Rules whose trigger matched but whose conditions did not hold. */
  readonly filtered: number;
  /** Actions skipped because the item names no profile. */
  readonly noProfile: number;
  readonly events: EventItem[];
  readonly ops: ProfileItem[];
}

export function triggers(rule: Rule, ctx: Pick<RuleContext, 'topic' | 'flow'>): boolean {
  return 'topic' in rule.on ? rule.on.topic === ctx.topic : rule.on.flow === ctx.flow;
}

export function holds(p: RulePredicate, v: unknown): boolean {
  if (p.exists !== undefined && (v !== undefined && v !== null) !== p.exists) return false;
  if ('equals' in p && p.equals !== undefined && !same(v, p.equals)) return false;
  if ('notEquals' in p && p.notEquals !== undefined && same(v, p.notEquals)) return false;
  if (p.in && !p.in.some((x) => same(v, x))) return false;
  if (p.contains !== undefined && !(typeof v === 'string' ? v.includes(p.contains) : Array.isArray(v) && v.includes(p.contains))) return false;
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (p.gt !== undefined && !(n > p.gt)) return false;
  if (p.gte !== undefined && !(n >= p.gte)) return false;
  if (p.lt !== undefined && !(n < p.lt)) return false;
  if (p.lte !== undefined && !(n <= p.lte)) return false;
  return true;
}

function same(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'object' && a !== null && JSON.stringify(a) === JSON.stringify(b));
}

export function evaluate(rules: readonly Rule[], ctx: RuleContext, origin: { id: string }, itemId: string): RuleOutcome {
  const out: RuleOutcome = { applied: [], filtered: 0, noProfile: 0, events: [], ops: [] };
  rules.forEach((rule, r) => {
    if (!triggers(rule, ctx)) return;
    if (rule.when && !Object.entries(rule.when).every(([path, p]) => holds(p, valueAt(ctx, path)))) {
      (out as { filtered: number }).filtered++;
      return;
    }
    out.applied.push(r);
    rule.do.forEach((action, a) => {
      const member = ctx.profile;
      if (!member) {
        (out as { noProfile: number }).noProfile++;
        return;
      }
      const key = ruleActionKey(origin.id, itemId, r, a);
      const id = ruleActionId(itemId, r, a);
      if ('addToList' in action) out.ops.push({ key, id, operation: { op: 'list-add', listId: action.addToList, member } });
      else if ('removeFromList' in action) out.ops.push({ key, id, operation: { op: 'list-remove', listId: action.removeFromList, member } });
      else if ('updateProfile' in action)
        out.ops.push({ key, id, operation: { op: 'upsert', profile: { ...member, properties: action.updateProfile.properties } } });
      else {
        const { metric, properties, value } = action.createEvent;
        out.events.push({ key, id, event: { event: metric, profile: member, properties: { ...properties }, ...(value !== undefined ? { value } : {}) } });
      }
    });
  });
  return out;
}
