/**
 * Shared pieces live below their users (issue 13): what both the API and the workers use — the
 * quota governor, the done marks and delivered counters, the Lua scripts — lives in src/, and
 * nothing in src/ reaches into workers/. The one exception is the runtime that starts the workers
 * (src/runtime/service.ts): it composes both sides, it is not shared by them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url);
const COMPOSES_WORKERS = new Set(['src/runtime/service.ts']);

it('nothing in src/ imports from workers/, but the runtime that starts them', () => {
  const found: string[] = [];
  for (const f of readdirSync(new URL('src/', ROOT), { recursive: true }) as string[]) {
    if (!f.endsWith('.ts')) continue;
    const path = `src/${f}`;
    const text = readFileSync(new URL(path, ROOT), 'utf8');
    for (const m of text.matchAll(/\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'/g)) {
      const spec = m[1] ?? m[2]!;
      if (/(^|\/)workers\//.test(spec) && !COMPOSES_WORKERS.has(path)) found.push(`${path} → ${spec}`);
    }
  }
  expect(found).toEqual([]);
  // The exception is still what it says: it starts the workers and nothing else from there.
  const service = readFileSync(new URL('src/runtime/service.ts', ROOT), 'utf8');
  expect([...service.matchAll(/from '([^']*workers\/[^']*)'/g)].map((m) => m[1])).toEqual(['../../workers/start.ts']);
});
