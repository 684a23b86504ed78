/**
 * What the relay's processes complained about: their warn/error JSON lines (and any non-JSON
 * stderr, e.g. a stack trace), grouped by message, from the logs the harness keeps under
 * test/artifacts/cluster-logs/<scenario>/. Cluster trouble (CROSSSLOT, MOVED, CLUSTERDOWN,
 * UNBLOCKED, READONLY…) shows up here with the process and the first time it was seen.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LogGroup {
  readonly key: string;
  count: number;
  readonly first: string;
  readonly processes: Set<string>;
}

export interface LogDigest {
  readonly groups: LogGroup[];
  /** "3× msg (api-1, worker-3)", most frequent first. */
  readonly summary: string;
}

export function logDigest(dir: string): LogDigest {
  const groups = new Map<string, LogGroup>();
  const add = (key: string, proc: string, line: string) => {
    let g = groups.get(key);
    if (!g) {
      g = { key, count: 0, first: line.slice(0, 2000), processes: new Set() };
      groups.set(key, g);
    }
    g.count++;
    g.processes.add(proc);
  };
  for (const file of readdirSync(dir).filter((f) => /^(api|worker)-\d+\.log$/.test(f))) {
    const proc = file.replace(/\.log$/, '');
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      if (!line.trim() || line.startsWith('===') || line.startsWith('klaviyo-relay ') || line.startsWith('  ')) continue;
      let rec: Record<string, unknown> | undefined;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        add(`(not JSON) ${line.slice(0, 160)}`, proc, line);
        continue;
      }
      if (typeof rec['level'] !== 'number' || rec['level'] < 40) continue;
      const err = (rec['err'] ?? rec['error']) as { message?: string } | string | undefined;
      const errText = typeof err === 'string' ? err : (err?.message ?? '');
      add(`${rec['level'] >= 50 ? 'error' : 'warn'}: ${String(rec['msg'] ?? '')}${errText ? ` — ${errText.slice(0, 160)}` : ''}`, proc, line);
    }
  }
  const sorted = [...groups.values()].sort((a, b) => b.count - a.count);
  return {
    groups: sorted,
    summary: sorted
      .slice(0, 12)
      .map((g) => `${g.count}× ${g.key} (${[...g.processes].sort().join(', ')})`)
      .join(' | '),
  };
}
