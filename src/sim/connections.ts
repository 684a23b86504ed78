/**
 * A stand-in for Maton's connection API (docs/klaviyo-and-maton.md §6), enough for an ops CLI:
 *   GET    /connections?app=klaviyo&status=ACTIVE  → {"connections":[…]}
 *   POST   /connections {"app":"klaviyo"}          → {"connection":{… status:"PENDING", url}}
 *   GET    /connections/{id}                       → {"connection":{…}}
 *   DELETE /connections/{id}                       → {}
 * with the gateway's Bearer auth. A created connection turns ACTIVE `connectionActivateMs` after
 * creation (checked lazily against the simulator clock) or when activated through the control
 * API. Only ACTIVE connections are usable as `Maton-Connection`. When the simulator is started
 * without a `connections` list, any id is accepted and registered (ACTIVE) on first use; a
 * deleted id stays refused.
 */
import { Hono } from 'hono';
import { randomToken, uuid } from './ids.ts';
import type { ResolvedOptions } from './options.ts';
import { matonTime } from './time.ts';

export type ConnectionStatus = 'ACTIVE' | 'PENDING' | 'FAILED';

export interface MatonConnection {
  connection_id: string;
  status: ConnectionStatus;
  creation_time: string;
  last_updated_time: string;
  url: string;
  app: string;
  method: string;
  metadata: Record<string, unknown>;
}

interface Entry {
  id: string;
  status: ConnectionStatus;
  createdAt: number;
  updatedAt: number;
  activateAt: number | null;
  url: string;
  app: string;
  method: string;
}

export interface ConnectionControl {
  list(filter?: { app?: string; status?: string; method?: string }): MatonConnection[];
  get(id: string): MatonConnection | undefined;
  create(app?: string, method?: string): MatonConnection;
  activate(id: string): boolean;
  setStatus(id: string, status: ConnectionStatus): boolean;
  delete(id: string): boolean;
}

export class ConnectionRegistry implements ConnectionControl {
  private readonly entries = new Map<string, Entry>();
  private readonly deleted = new Set<string>();

  constructor(private readonly opts: ResolvedOptions) {
    this.seed();
  }

  private seed(): void {
    const now = this.opts.now();
    for (const id of this.opts.connections ?? []) this.entries.set(id, this.entry(id, 'ACTIVE', now, 'klaviyo', 'OAUTH2'));
  }

  private entry(id: string, status: ConnectionStatus, now: number, app: string, method: string): Entry {
    return {
      id,
      status,
      createdAt: now,
      updatedAt: now,
      activateAt: null,
      url: `https://connect.maton.ai/?session_token=${randomToken(40)}`,
      app,
      method,
    };
  }

  private refresh(e: Entry): Entry {
    if (e.status === 'PENDING' && e.activateAt !== null && this.opts.now() >= e.activateAt) {
      e.status = 'ACTIVE';
      e.updatedAt = e.activateAt;
      e.activateAt = null;
    }
    return e;
  }

  private view(e: Entry): MatonConnection {
    this.refresh(e);
    return {
      connection_id: e.id,
      status: e.status,
      creation_time: matonTime(e.createdAt),
      last_updated_time: matonTime(e.updatedAt),
      url: e.url,
      app: e.app,
      method: e.method,
      metadata: {},
    };
  }

  /** Whether a gateway request may use this connection (registering it in permissive mode). */
  resolve(id: string): 'ok' | 'unknown' | 'inactive' {
    const e = this.entries.get(id);
    if (e) return this.refresh(e).status === 'ACTIVE' && e.app === 'klaviyo' ? 'ok' : 'inactive';
    if (this.opts.connections !== null || this.deleted.has(id)) return 'unknown';
    this.entries.set(id, this.entry(id, 'ACTIVE', this.opts.now(), 'klaviyo', 'OAUTH2'));
    return 'ok';
  }

  list(filter: { app?: string; status?: string; method?: string } = {}): MatonConnection[] {
    return [...this.entries.values()]
      .map((e) => this.view(e))
      .filter(
        (c) =>
          (filter.app === undefined || c.app === filter.app) &&
          (filter.status === undefined || c.status === filter.status.toUpperCase()) &&
          (filter.method === undefined || c.method === filter.method.toUpperCase()),
      );
  }

  get(id: string): MatonConnection | undefined {
    const e = this.entries.get(id);
    return e ? this.view(e) : undefined;
  }

  create(app = 'klaviyo', method = 'OAUTH2'): MatonConnection {
    const now = this.opts.now();
    const e = this.entry(uuid(), 'PENDING', now, app, method);
    e.activateAt = now + this.opts.connectionActivateMs;
    this.entries.set(e.id, e);
    return this.view(e);
  }

  activate(id: string): boolean {
    return this.setStatus(id, 'ACTIVE');
  }

  setStatus(id: string, status: ConnectionStatus): boolean {
    const e = this.entries.get(id);
    if (!e) return false;
    e.status = status;
    e.activateAt = null;
    e.updatedAt = this.opts.now();
    return true;
  }

  delete(id: string): boolean {
    const existed = this.entries.delete(id);
    if (existed) this.deleted.add(id);
    return existed;
  }

  reset(): void {
    this.entries.clear();
    this.deleted.clear();
    this.seed();
  }
}

/** The `/connections` routes. `authorize` applies the gateway's Bearer-key rule. */
export function connectionRoutes(registry: ConnectionRegistry, authorize: (authorization: string | undefined) => boolean): Hono {
  const app = new Hono();
  app.use('*', async (c, next) => {
    if (!authorize(c.req.header('authorization'))) return c.json({ error: 'Invalid API key' }, 401);
    await next();
  });
  app.get('/', (c) => {
    const filter: { app?: string; status?: string; method?: string } = {};
    for (const key of ['app', 'status', 'method'] as const) {
      const v = c.req.query(key);
      if (v) filter[key] = v;
    }
    return c.json({ connections: registry.list(filter) });
  });
  app.post('/', async (c) => {
    let body: Record<string, unknown>;
    try {
      body = (await c.req.json()) as Record<string, unknown>;
    } catch {
      return c.json({ error: 'Request body must be JSON' }, 400);
    }
    if (typeof body['app'] !== 'string' || body['app'] === '') return c.json({ error: 'app is required' }, 400);
    const method = typeof body['method'] === 'string' ? body['method'].toUpperCase() : 'OAUTH2';
    return c.json({ connection: registry.create(body['app'], method) });
  });
  app.get('/:id', (c) => {
    const conn = registry.get(c.req.param('id'));
    return conn ? c.json({ connection: conn }) : c.json({ error: 'Connection not found' }, 404);
  });
  app.delete('/:id', (c) => (registry.delete(c.req.param('id')) ? c.json({}) : c.json({ error: 'Connection not found' }, 404)));
  return app;
}
