/**
 * Per-profile order under faults: a handful of profiles each get the same script of operations —
 * upserts (with lists), list adds and removes, list subscribes and unsubscribes — whose final
 * state depends on the order they take effect in. Each profile's operations are posted back to
 * back (the next once the previous got a 2xx; a refused one is re-posted with the same id first),
 * to alternating API processes; the profiles start one after another, so that their scripts
 * straddle the faults.
 *
 * The expected end state is computed from the script with the simulator's semantics
 * (src/sim/handlers/subscriptions.ts, lists.ts): a list subscribe sets email consent SUBSCRIBED
 * and adds to the list; a list unsubscribe of a member leaves the list with a list suppression
 * (consent unchanged), of a non-member unsubscribes globally.
 */
import { RELAY_KEY, sleep } from '../faults/harness.ts';

const LIST_A = 'ClustA1';
const LIST_B = 'ClustB2';
const LIST_C = 'ClustC3';
const NEWS = 'ClustN4';

type Op =
  | { kind: 'upsert'; firstName: string; step: number; lists?: string[] }
  | { kind: 'add' | 'remove'; list: string }
  | { kind: 'subscribe' | 'unsubscribe'; list: string };

/** The script of profile `i`: nine operations, the eighth differing between even and odd profiles. */
function script(i: number): Op[] {
  return [
    { kind: 'upsert', firstName: 'v1', step: 1, lists: [LIST_A] },
    { kind: 'subscribe', list: NEWS },
    { kind: 'add', list: LIST_B },
    { kind: 'upsert', firstName: 'v4', step: 4 },
    { kind: 'unsubscribe', list: NEWS },
    { kind: 'remove', list: LIST_A },
    { kind: 'subscribe', list: NEWS },
    i % 2 === 0 ? { kind: 'remove', list: LIST_B } : { kind: 'unsubscribe', list: NEWS },
    { kind: 'upsert', firstName: `final-${i}`, step: 9, lists: [LIST_C] },
  ];
}

export interface Expected {
  readonly email: string;
  readonly firstName: string;
  readonly step: number;
  readonly lists: readonly string[];
  readonly consent: 'SUBSCRIBED' | 'UNSUBSCRIBED' | 'NEVER_SUBSCRIBED';
  /** The subscribe/unsubscribe calls Klaviyo should see for this profile, in order. */
  readonly subscriptionKinds: readonly ('subscribe' | 'unsubscribe')[];
}

function model(email: string, ops: readonly Op[]): Expected {
  const lists = new Set<string>();
  let firstName = '';
  let step = 0;
  let consent: Expected['consent'] = 'NEVER_SUBSCRIBED';
  const kinds: ('subscribe' | 'unsubscribe')[] = [];
  for (const op of ops) {
    switch (op.kind) {
      case 'upsert':
        firstName = op.firstName;
        step = op.step;
        for (const l of op.lists ?? []) lists.add(l);
        break;
      case 'add':
        lists.add(op.list);
        break;
      case 'remove':
        lists.delete(op.list);
        break;
      case 'subscribe':
        consent = 'SUBSCRIBED';
        lists.add(op.list);
        kinds.push('subscribe');
        break;
      case 'unsubscribe':
        if (lists.has(op.list)) lists.delete(op.list);
        else consent = 'UNSUBSCRIBED';
        kinds.push('unsubscribe');
        break;
    }
  }
  return { email, firstName, step, lists: [...lists].sort(), consent, subscriptionKinds: kinds };
}

function request(email: string, op: Op, id: string): { path: string; method: 'POST' | 'DELETE'; body: unknown } {
  switch (op.kind) {
    case 'upsert':
      return {
        path: '/v1/profiles',
        method: 'POST',
        body: { id, email, first_name: op.firstName, properties: { step: op.step }, ...(op.lists ? { lists: op.lists } : {}) },
      };
    case 'add':
    case 'remove':
      return { path: `/v1/lists/${op.list}/members`, method: op.kind === 'add' ? 'POST' : 'DELETE', body: { id, profiles: [{ email }] } };
    case 'subscribe':
    case 'unsubscribe':
      return {
        path: `/v1/lists/${op.list}/members`,
        method: op.kind === 'subscribe' ? 'POST' : 'DELETE',
        body: { id, profiles: [{ email }], consent: { email: true }, source: 'Cluster' },
      };
  }
}

export class ProfileLoad {
  readonly emails: string[];
  readonly expected: Expected[];
  /** Operations answered 2xx (first try or a re-post), and re-posts needed. */
  accepted = 0;
  reposted = 0;
  /** Operations never accepted: their profile's expectation no longer holds. */
  readonly refused: string[] = [];
  readonly answers = new Map<string, number>();
  private readonly run = Date.now().toString(36);

  constructor(readonly profiles: number) {
    this.emails = Array.from({ length: profiles }, (_, i) => `cluster-order-${this.run}-${i}@example.com`);
    this.expected = this.emails.map((e, i) => model(e, script(i)));
  }

  get operations(): number {
    return this.profiles * script(0).length;
  }

  /** Every answer, per profile: when, which API process, the status, and whether the API spooled it (Redis did not take it). */
  readonly log = new Map<string, { k: number; at: number; api: string; status: number; spooled: boolean }[]>();

  private async post(url: string, req: ReturnType<typeof request>, email: string, k: number): Promise<number> {
    let status = 0;
    let spooled = false;
    try {
      const res = await fetch(`${url}${req.path}`, {
        method: req.method,
        headers: { authorization: `Bearer ${RELAY_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(req.body),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await res.text();
      status = res.status;
      spooled = status < 300 && /"spooled"\s*:\s*true/.test(text);
    } catch {
      status = 0;
    }
    const entries = this.log.get(email) ?? [];
    entries.push({ k: k + 1, at: Date.now(), api: url.slice(url.lastIndexOf(':') + 1), status, spooled });
    this.log.set(email, entries);
    return status;
  }

  /** Operations the API answered 2xx from its local spool. */
  spooled(): number {
    let n = 0;
    for (const entries of this.log.values()) n += entries.filter((e) => e.spooled).length;
    return n;
  }

  /** "op 3 @12:00:01.234 api 4711 202 (spooled)" for one profile, for a mismatch's evidence. */
  describePosts(email: string): string {
    return (this.log.get(email) ?? [])
      .map((e) => `op ${e.k} ${new Date(e.at).toISOString().slice(11, 23)} api:${e.api} ${e.status || 'error'}${e.spooled ? ' SPOOLED' : ''}`)
      .join(', ');
  }

  /**
   * Posts each profile's script back to back — the next operation as soon as the previous one got
   * its 2xx, so later operations reach the relay while earlier ones are still queued — profile
   * `i` starting at `i · staggerMs`, so the scripts straddle the faults.
   */
  async runScripts(nextUrl: () => string, staggerMs: number): Promise<void> {
    const t0 = Date.now();
    await Promise.all(
      this.emails.map(async (email, i) => {
        const due = t0 + i * staggerMs;
        if (due > Date.now()) await sleep(due - Date.now());
        const ops = script(i);
        for (let k = 0; k < ops.length; k++) {
          const req = request(email, ops[k]!, `cl-${this.run}-${i}-${k}`);
          let ok = false;
          for (let attempt = 0; attempt < 20 && !ok; attempt++) {
            if (attempt > 0) {
              this.reposted++;
              await sleep(500);
            }
            const status = await this.post(nextUrl(), req, email, k);
            const key = String(status || 'error');
            this.answers.set(key, (this.answers.get(key) ?? 0) + 1);
            ok = status >= 200 && status < 300;
          }
          if (ok) this.accepted++;
          else {
            // The rest of this profile's script would no longer mean what the model says.
            this.refused.push(`${email} operation ${k + 1}`);
            return;
          }
        }
      }),
    );
  }

  statusSummary(): string {
    return [...this.answers]
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([s, c]) => `${s}×${c}`)
      .join(' ');
  }
}

interface SimProfileView {
  email: string | null;
  attributes: { first_name?: string | null };
  properties: Record<string, unknown>;
  lists: string[];
  consent: { email?: { status: string } };
}

interface SimSubscriptionOp {
  kind: 'subscribe' | 'unsubscribe';
  email: string | null;
  listId: string | null;
  global: boolean;
}

export interface ProfileVerdict {
  /** Profiles whose end state is as the script says. */
  readonly matching: number;
  /** One line per mismatch: what was expected, what the simulator holds. */
  readonly mismatches: string[];
  /** Subscription calls Klaviyo received more than once in a row (a redelivery; harmless). */
  readonly repeatedCalls: number;
}

/** Compares the simulator's profiles and subscription calls with the scripts' expected end states. */
export async function checkProfiles(simUrl: string, account: string, load: ProfileLoad): Promise<ProfileVerdict> {
  const state = (await (await fetch(`${simUrl}/__sim/state?events=none`)).json()) as {
    accounts: { id: string; profiles: SimProfileView[]; subscriptionOps: SimSubscriptionOp[] }[];
  };
  const acct = state.accounts.find((a) => a.id === account);
  const mismatches: string[] = [];
  let matching = 0;
  let repeatedCalls = 0;
  for (const exp of load.expected) {
    const p = acct?.profiles.find((x) => x.email === exp.email);
    const ops = (acct?.subscriptionOps ?? []).filter((o) => o.email === exp.email);
    // A call re-sent after a worker died (it had landed, the ack was lost) shows up twice in a row.
    const collapsed = ops.filter((o, i) => i === 0 || !(o.kind === ops[i - 1]!.kind && o.listId === ops[i - 1]!.listId));
    repeatedCalls += ops.length - collapsed.length;
    const got = {
      firstName: p?.attributes.first_name ?? null,
      step: p?.properties['step'] ?? null,
      lists: [...(p?.lists ?? [])].sort(),
      consent: p?.consent.email?.status ?? 'NEVER_SUBSCRIBED',
      subscriptionKinds: collapsed.map((o) => o.kind),
      global: ops.filter((o) => o.global).length,
    };
    const want = {
      firstName: exp.firstName,
      step: exp.step,
      lists: [...exp.lists],
      consent: exp.consent,
      subscriptionKinds: [...exp.subscriptionKinds],
      global: exp.consent === 'UNSUBSCRIBED' ? 1 : 0,
    };
    if (JSON.stringify(got) === JSON.stringify(want)) matching++;
    else mismatches.push(`${exp.email}: expected ${JSON.stringify(want)}, simulator has ${p ? JSON.stringify(got) : 'no such profile'}`);
  }
  return { matching, mismatches, repeatedCalls };
}

interface RecordedRequestView {
  at: number;
  method: string;
  path: string;
  endpoint?: string;
  status: number | null;
  body?: unknown;
}

/**
 * What Klaviyo received for one profile, in arrival order: each call that names its email or its
 * profile id (ms since the first, endpoint, list, status, first_name/step of an upsert). For a
 * mismatch's evidence.
 */
export async function profileTimeline(simUrl: string, account: string, email: string): Promise<string> {
  const state = (await (await fetch(`${simUrl}/__sim/state?events=none`)).json()) as {
    accounts: { id: string; profiles: { id: string; email: string | null }[] }[];
  };
  const id = state.accounts.find((a) => a.id === account)?.profiles.find((p) => p.email === email)?.id;
  const { requests } = (await (await fetch(`${simUrl}/__sim/requests?account=${encodeURIComponent(account)}&limit=5000`)).json()) as {
    requests: RecordedRequestView[];
  };
  const mine = requests.filter((r) => {
    const text = JSON.stringify(r.body ?? '');
    return text.includes(email) || (id !== undefined && (text.includes(`"${id}"`) || r.path.includes(id)));
  });
  const t0 = mine[0]?.at ?? 0;
  return `from ${new Date(t0).toISOString().slice(11, 23)}: ${mine
    .map((r) => {
      const b = r.body as { data?: { attributes?: Record<string, unknown>; relationships?: { list?: { data?: { id?: string } } } } } | undefined;
      const attrs = b?.data?.attributes ?? {};
      const list = /\/lists\/([^/]+)\//.exec(r.path)?.[1] ?? b?.data?.relationships?.list?.data?.id;
      const what =
        r.endpoint === 'create_or_update_profile'
          ? ` first_name=${String(attrs['first_name'] ?? '-')} step=${String((attrs['properties'] as Record<string, unknown> | undefined)?.['step'] ?? '-')}`
          : list
            ? ` list=${list}`
            : '';
      return `+${r.at - t0}ms ${r.endpoint ?? r.path}${what} → ${r.status ?? 'pending'}`;
    })
    .join(', ')}`;
}
