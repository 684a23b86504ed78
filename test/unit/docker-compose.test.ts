/**
 * docker-compose.yml cannot be run here (no Docker engine), so its structure is checked: it
 * parses, the default stack and the cluster profile have what the README promises, every command
 * points at a file the Dockerfile's build produces, and every relay setting it passes is one the
 * service reads.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, type ProcessRoles } from '../../src/config.ts';

interface Service {
  image?: string;
  build?: string;
  volumes?: string[];
  command?: string | string[];
  profiles?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
}
const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, Service> };
const dockerfile = readFileSync('Dockerfile', 'utf8');

/** What each command the compose file runs is: the API alone, the workers alone, or both. */
const ROLES: Record<string, ProcessRoles> = {
  'dist/src/server.js': { api: true, workers: false },
  'dist/workers/main.js': { api: false, workers: true },
  'dist/src/main.js': { api: true, workers: true },
};
/** The relay services' environments, `${VAR:-default}` resolved from `shell` (the operator's) or to the default. */
function relayServices(shell: Record<string, string> = {}) {
  return Object.entries(compose.services)
    .filter(([, s]) => s.build)
    .map(([name, s]) => {
      const cmd = s.command as string[];
      const env = Object.fromEntries(
        Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v).replace(/\$\{([A-Z_]+):-([^}]*)\}/g, (_m, n: string, d: string) => shell[n] ?? d)]),
      );
      return { name, cmd, env, roles: ROLES[cmd[1]!]! };
    });
}

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
    expect(cluster.map(([n]) => n).sort()).toEqual(
      ['api-cluster', 'redis-cluster-init', ...[1, 2, 3, 4, 5, 6].map((i) => `redis-node-${i}`), 'worker-cluster'].sort(),
    );
    expect(String(compose.services['redis-cluster-init']!.command)).toContain('--cluster-replicas 1');
    expect(compose.services['worker-cluster']!.deploy?.replicas).toBe(2);
    expect(compose.services['api-cluster']!.environment!.REDIS_URL).toMatch(/^redis\+cluster:\/\//);
  });

  it('has an observability profile: Prometheus scraping the relay, Grafana provisioned with its dashboard', () => {
    const obs = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('observability'));
    expect(obs.map(([n]) => n).sort()).toEqual(['grafana', 'prometheus']);
    // Every file mounted from the repository exists.
    for (const [name, s] of obs) {
      for (const v of s.volumes ?? []) {
        const from = v.split(':')[0]!;
        if (from.startsWith('./')) expect(existsSync(from), `${name} mounts ${from}`).toBe(true);
      }
    }
    const prometheus = parse(readFileSync('ops/prometheus.yml', 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const targets = prometheus.scrape_configs.flatMap((j) => j.static_configs.flatMap((c) => c.targets));
    // The API's port and the workers' RELAY_METRICS_PORT default, on the compose services' names.
    expect(targets.sort()).toEqual([`api:3000`, `worker:${loadConfig({ RELAY_API_KEYS: 'x'.repeat(16) }).metricsPort}`]);
    expect(compose.services.prometheus!.volumes).toContain('./ops/alerts.yml:/etc/prometheus/alerts.yml:ro');
    expect(prometheus.rule_files).toEqual(['/etc/prometheus/alerts.yml']);
    const datasource = parse(readFileSync('ops/grafana/provisioning/datasources/prometheus.yml', 'utf8')) as { datasources: { url: string }[] };
    expect(datasource.datasources[0]!.url).toBe('http://prometheus:9090');
    const provider = parse(readFileSync('ops/grafana/provisioning/dashboards/relay.yml', 'utf8')) as { providers: { options: { path: string } }[] };
    expect(compose.services.grafana!.volumes).toContain(`./ops/grafana-dashboard.json:${provider.providers[0]!.options.path}/klaviyo-relay.json:ro`);
  });

  it('runs files the image builds, with settings the service accepts', () => {
    expect(dockerfile).toContain('npm run build');
    const services = relayServices({ MATON_API_KEY: 'operator-maton-key', MATON_CONNECTION_ID: 'conn_1', RELAY_API_KEYS: 'operator-relay-key-0001' });
    expect(services.length).toBeGreaterThan(0);
    for (const { name, cmd, env, roles } of services) {
      expect(cmd[0], name).toBe('node');
      expect(Object.keys(ROLES), name).toContain(cmd[1]);
      // With the credentials the header asks for, every variable resolves to a valid configuration.
      expect(loadConfig(env, roles).klaviyo.mode, name).toBe('gateway');
    }
  });

  it('runs in production: without credentials it refuses to start instead of opening the sandbox', () => {
    // The image and every relay service say NODE_ENV=production.
    expect(dockerfile.split(/^FROM /m).at(-1)).toMatch(/^ENV NODE_ENV=production$/m);
    for (const { name, env, roles } of relayServices()) {
      expect(env.NODE_ENV, name).toBe('production');
      // Nothing set in the shell: the workers name the missing credentials, the API the missing keys.
      let message = '';
      try {
        const c = loadConfig(env, roles);
        message = `started in ${c.klaviyo.mode} mode`;
      } catch (err) {
        message = (err as Error).message;
      }
      if (roles.workers) expect(message, name).toMatch(/MATON_API_KEY \(\+ MATON_CONNECTION_ID\) or KLAVIYO_API_KEY/);
      else expect(message, name).toMatch(/RELAY_API_KEYS: set at least one key/);
      // Not even an explicit RELAY_SANDBOX=true opens the sandbox here.
      expect(() => loadConfig({ ...env, RELAY_SANDBOX: 'true', RELAY_API_KEYS: 'operator-relay-key-0001' }, roles), name).toThrow(
        /RELAY_SANDBOX: true is refused under NODE_ENV=production/,
      );
    }
  });
});
