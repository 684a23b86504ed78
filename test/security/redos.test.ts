/**
 * Issue 11, defect 2: no regular expression that meets request data may backtrack badly (ReDoS).
 *
 * The regexes are found, not listed: every .ts file under src/ and workers/ is parsed (rolldown's
 * TypeScript parser, as vite exports it) and the test collects
 * - every regex literal and every `new RegExp(…)` / `RegExp(…)`;
 * - every regex zod applies because of a zod call in the source (`z.email()`, `z.iso.datetime({…})`,
 *   `z.string().regex(…)`, `z.regexes.email`, …): each such call is evaluated with its literal
 *   arguments and the patterns of the schema it returns are read back from zod.
 * Each must be `safe` by recheck. The few that are not and never see request data (the operator's
 * own settings and command line) are exempted below, each with its reason; an exemption that no
 * longer matches an unsafe regex fails, so the list cannot go stale. A `RegExp` built from a
 * non-literal is refused unless listed below with the regexes it builds.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { check } from 'recheck';
import { parseAst } from 'vite';
import * as zod from 'zod';
import { describe, expect, it } from 'vitest';
import { ENDPOINTS } from '../../src/klaviyo/endpoints.ts';

const ROOT = join(import.meta.dirname, '../..');
const DIRS = ['src', 'workers'];

interface Found {
  readonly file: string;
  readonly line: number;
  readonly source: string;
  readonly flags: string;
  readonly via: 'literal' | 'RegExp' | 'zod';
}

/** Unsafe by recheck, and why that is acceptable: none of these ever sees request data. */
const EXEMPT: readonly { file: string; source: string; reason: string }[] = [
  { file: 'src/config.ts', source: '\\/+$', reason: 'trims the operator’s URL settings at start-up' },
  { file: 'src/cli/http.ts', source: '\\/+$', reason: 'trims the CLI user’s own RELAY_URL' },
  { file: 'src/cli/connections.ts', source: '\\/+$', reason: 'trims the CLI user’s own MATON_CONNECTIONS_URL' },
  {
    file: 'src/cli/args.ts',
    source: '(\\d+(?:\\.\\d+)?)(ms|s|m|h|d|w)',
    reason: 'splits the CLI user’s own duration argument, already checked by an anchored safe regex',
  },
  { file: 'src/sim/options.ts', source: '\\/+$', reason: 'trims the simulator’s Klaviyo origin option, set by code' },
];

/** `RegExp`s built from non-literals: where, and the regexes they build (checked like the others). */
const DYNAMIC: Readonly<Record<string, () => RegExp[]>> = {
  // The simulator's route table: every endpoint path, `{param}` → `([^/]+)` (as routes.ts builds it).
  'src/sim/routes.ts': () =>
    Object.values(ENDPOINTS).map((spec) => new RegExp(`^${spec.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, '([^/]+)')}$`)),
  // blameByIndex(prefix): the prefixes its callers pass (workers/profiles/dispatcher.ts).
  'workers/klaviyo-call.ts': () =>
    ['/data', '/data/attributes/profiles/data'].map((prefix) => new RegExp(`^${prefix.replace(/[/-]/g, (c) => `\\${c}`)}/(\\d+)(?:/|$)`)),
};

function* tsFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) yield* tsFiles(p);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield p;
  }
}

type Node = { type: string; start: number; [k: string]: unknown };
const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && typeof (v as Node).type === 'string';

class Unresolvable extends Error {}

/**
 * The value of an expression made of the zod import, property access, calls and literals — enough
 * for `z.iso.datetime({ offset: true })` or `z.string().trim().pipe(z.email())`. Anything else
 * (a local variable, a spread) is Unresolvable: its own parts are visited on their own.
 */
function evaluate(n: Node, zodNames: ReadonlySet<string>): unknown {
  switch (n.type) {
    case 'Identifier':
      if (zodNames.has(n['name'] as string)) return zod.z;
      throw new Unresolvable();
    case 'Literal': {
      const regex = n['regex'] as { pattern: string; flags: string } | undefined;
      return regex ? new RegExp(regex.pattern, regex.flags) : n['value'];
    }
    case 'TemplateLiteral':
      if ((n['expressions'] as Node[]).length > 0) throw new Unresolvable();
      return (n['quasis'] as { value: { cooked: string } }[])[0]!.value.cooked;
    case 'UnaryExpression':
      if (n['operator'] === '-') return -(evaluate(n['argument'] as Node, zodNames) as number);
      throw new Unresolvable();
    case 'ArrayExpression':
      return (n['elements'] as Node[]).map((e) => evaluate(e, zodNames));
    case 'ObjectExpression': {
      const out: Record<string, unknown> = {};
      for (const p of n['properties'] as Node[]) {
        const key = p['key'] as Node | undefined;
        if (p.type !== 'Property' || p['computed'] || !key) throw new Unresolvable();
        out[(key['name'] ?? key['value']) as string] = evaluate(p['value'] as Node, zodNames);
      }
      return out;
    }
    case 'MemberExpression': {
      const object = evaluate(n['object'] as Node, zodNames) as Record<string, unknown>;
      const prop = n['property'] as Node;
      const name = n['computed'] ? evaluate(prop, zodNames) : prop['name'];
      if (object === null || object === undefined) throw new Unresolvable();
      return object[name as string];
    }
    case 'CallExpression': {
      const callee = n['callee'] as Node;
      if (callee.type !== 'MemberExpression') throw new Unresolvable();
      const self = evaluate(callee['object'] as Node, zodNames) as Record<string, unknown>;
      const fn = evaluate(callee, zodNames);
      if (typeof fn !== 'function') throw new Unresolvable();
      const args = (n['arguments'] as Node[]).map((a) => evaluate(a, zodNames));
      return (fn as (...a: unknown[]) => unknown).apply(self, args);
    }
    default:
      throw new Unresolvable();
  }
}

/** The regexes a zod schema applies by itself: its format's pattern and those of its checks. */
function zodPatterns(v: unknown): RegExp[] {
  if (v instanceof RegExp) return [v];
  const inner = (v as { _zod?: { def?: { pattern?: unknown; checks?: unknown[] }; bag?: { patterns?: Set<unknown> } } } | null)?._zod;
  if (!inner) return [];
  const out = new Set<unknown>([inner.def?.pattern, ...(inner.bag?.patterns ?? [])]);
  for (const ch of inner.def?.checks ?? []) {
    const c = (ch as { _zod?: { def?: { pattern?: unknown }; bag?: { patterns?: Set<unknown> } } })._zod;
    out.add(c?.def?.pattern);
    for (const p of c?.bag?.patterns ?? []) out.add(p);
  }
  return [...out].filter((x): x is RegExp => x instanceof RegExp);
}

/** The names under which a file imports zod's `z` (or the module). */
function zodImports(program: Node): Set<string> {
  const names = new Set<string>();
  for (const stmt of program['body'] as Node[]) {
    if (stmt.type !== 'ImportDeclaration' || (stmt['source'] as Node)['value'] !== 'zod') continue;
    for (const s of stmt['specifiers'] as Node[]) {
      const imported = s['imported'] as Node | undefined;
      if (s.type === 'ImportNamespaceSpecifier' || imported?.['name'] === 'z') names.add((s['local'] as Node)['name'] as string);
    }
  }
  return names;
}

function discover(): { found: Found[]; dynamic: { file: string; line: number }[] } {
  const found: Found[] = [];
  const dynamic: { file: string; line: number }[] = [];
  for (const dir of DIRS) {
    for (const path of tsFiles(join(ROOT, dir))) {
      const file = relative(ROOT, path);
      const text = readFileSync(path, 'utf8');
      const lineOf = (offset: number) => text.slice(0, offset).split('\n').length;
      const program = parseAst(text, { lang: 'ts' }) as unknown as Node;
      const zodNames = zodImports(program);
      const add = (re: RegExp, at: number, via: Found['via']) => found.push({ file, line: lineOf(at), source: re.source, flags: re.flags, via });
      const visit = (n: unknown): void => {
        if (Array.isArray(n)) {
          for (const x of n) visit(x);
          return;
        }
        if (!isNode(n)) return;
        const regex = n.type === 'Literal' ? (n['regex'] as { pattern: string; flags: string } | undefined) : undefined;
        if (regex) add(new RegExp(regex.pattern, regex.flags), n.start, 'literal');
        const callee = n['callee'] as Node | undefined;
        if ((n.type === 'NewExpression' || n.type === 'CallExpression') && callee?.type === 'Identifier' && callee['name'] === 'RegExp') {
          const [source, flags] = n['arguments'] as Node[];
          if (source?.type === 'Literal' && typeof source['value'] === 'string' && (!flags || flags.type === 'Literal')) {
            add(new RegExp(source['value'], (flags?.['value'] as string | undefined) ?? ''), n.start, 'RegExp');
          } else dynamic.push({ file, line: lineOf(n.start) });
        }
        if (zodNames.size > 0 && (n.type === 'CallExpression' || n.type === 'MemberExpression')) {
          try {
            for (const re of zodPatterns(evaluate(n, zodNames))) add(re, n.start, 'zod');
          } catch {
            // Not a zod expression (Unresolvable), or zod refused arguments it was given out of
            // context: its parts are visited on their own.
          }
        }
        for (const [k, v] of Object.entries(n)) if (k !== 'type' && typeof v === 'object') visit(v);
      };
      visit(program);
    }
  }
  return { found, dynamic };
}

const { found, dynamic } = discover();
const key = (r: { source: string; flags: string }) => `/${r.source}/${r.flags}`;

describe('every regex in src/ and workers/ is safe from ReDoS (recheck)', () => {
  it('finds the regexes, including the ones zod applies', () => {
    const sources = new Set(found.map((f) => f.source));
    // Spot checks that the discovery works: a literal, a zod format, a zod check and a regex
    // taken from z.regexes.
    expect(found.length).toBeGreaterThan(60);
    expect(sources).toContain('^\\+[1-9]\\d{1,14}$'); // PHONE_E164 (literal)
    expect(sources).toContain(zod.z.regexes.email.source); // z.email() in profile-fields.ts, z.regexes.email in event-fast-path.ts
    expect(found.filter((f) => f.source === zod.z.regexes.email.source).map((f) => f.file)).toEqual(
      expect.arrayContaining(['src/model/profile-fields.ts', 'src/model/event-fast-path.ts']),
    );
    expect(found.some((f) => f.via === 'zod' && f.file === 'src/model/event.ts' && f.source === zod.z.regexes.datetime({ offset: true }).source)).toBe(true);
    expect(found.some((f) => f.via === 'zod' && f.file === 'src/model/profile-requests.ts')).toBe(true);
  });

  it('builds a RegExp from a non-literal only where listed', () => {
    const unlisted = dynamic.filter((d) => !(d.file in DYNAMIC)).map((d) => `${d.file}:${d.line}`);
    expect(unlisted, 'list each in DYNAMIC with the regexes it builds').toEqual([]);
    for (const file of Object.keys(DYNAMIC))
      expect(
        dynamic.some((d) => d.file === file),
        `${file} no longer builds a RegExp: drop it from DYNAMIC`,
      ).toBe(true);
  });

  it('recheck calls each safe (except the exempted operator-only ones)', async () => {
    const distinct = new Map<string, { re: { source: string; flags: string }; where: string[] }>();
    const note = (re: { source: string; flags: string }, where: string) => {
      const k = key(re);
      const entry = distinct.get(k) ?? { re, where: [] };
      entry.where.push(where);
      distinct.set(k, entry);
    };
    for (const f of found) note(f, `${f.file}:${f.line} (${f.via})`);
    for (const [file, build] of Object.entries(DYNAMIC)) for (const re of build()) note(re, `${file} (built)`);

    const unsafe: string[] = [];
    const exemptionsUsed = new Set<number>();
    // One at a time: recheck runs a native checker process, and the machine is shared.
    for (const { re, where } of distinct.values()) {
      const d = await check(re.source, re.flags, { timeout: 20_000, randomSeed: 11 });
      if (d.status === 'safe') continue;
      const files = new Set(where.map((w) => w.split(':')[0]!.split(' ')[0]!));
      const exempt = [...files].every((file) => {
        const i = EXEMPT.findIndex((e) => e.file === file && e.source === re.source);
        if (i >= 0) exemptionsUsed.add(i);
        return i >= 0;
      });
      if (!exempt)
        unsafe.push(
          `${key(re)} at ${where.join(', ')}: ${d.status}${d.status === 'vulnerable' ? ` (${d.complexity.summary}; attack ${JSON.stringify(d.attack.pattern)})` : ''}`,
        );
    }
    expect(unsafe).toEqual([]);
    const stale = EXEMPT.filter((_, i) => !exemptionsUsed.has(i)).map((e) => `${e.file} /${e.source}/`);
    expect(stale, 'exempted but no longer found unsafe: remove from EXEMPT').toEqual([]);
  }, 240_000);
});
