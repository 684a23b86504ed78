/**
 * docker-compose.yml cannot be run here (no Docker engine), so its structure is checked: it
 * parses, the default stack and the cluster profile have what the README promises, every command
 * points at a file the Dockerfile's build produces, and every relay setting it passes is one the
 * service reads.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.ts';

interface Service {
  image?: string;
  build?: string;
  command?: string | string[];
  profiles?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
}
const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, Service> };
const dockerfile = readFileSync('Dockerfile', 'utf8');

describe('docker-compose.yml', () => {
  it('runs Redis with AOF and noeviction, the API and a worker by default', () => {
    const byDefault = Object.entries(compose.services).filter(([, s]) => !s.profiles);
    expect(byDefault.map(([n]) => n).sort()).toEqual(['api', 'redis', 'worker']);
    const redis = compose.services.redis!.command as string[];
    expect(redis).toEqual(expect.arrayContaining(['--appendonly', 'yes', '--maxmemory-policy', 'noeviction']));
    expect(compose.services.api!.ports).toEqual(['3000:3000']);
  });

  it('has a cluster profile: six nodes, the init job, the API and two workers', () => {
    const cluster = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('cluster'));
    expect(cluster.map(([n]) => n).sort()).toEqual(['api-cluster', 'redis-cluster-init', ...[1, 2, 3, 4, 5, 6].map((i) => `redis-node-${i}`), 'worker-cluster'].sort());
    expect(String(compose.services['redis-cluster-init']!.command)).toContain('--cluster-replicas 1');
    expect(compose.services['worker-cluster']!.deploy?.replicas).toBe(2);
    expect(compose.services['api-cluster']!.environment!.REDIS_URL).toMatch(/^redis\+cluster:\/\//);
  });

  it('runs files the image builds, with settings the service accepts', () => {
    expect(dockerfile).toContain('npm run build');
    for (const [name, s] of Object.entries(compose.services)) {
      if (!s.build) continue;
      const cmd = s.command as string[];
      expect(cmd[0], name).toBe('node');
      expect(['dist/src/server.js', 'dist/src/main.js', 'dist/workers/main.js'], name).toContain(cmd[1]);
      // Every variable resolves to a valid configuration (the ${VAR:-default} forms at their defaults).
      const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')]));
      expect(() => loadConfig(env), name).not.toThrow();
    }
  });
});
