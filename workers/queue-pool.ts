/**
 * One BullMQ Worker per queue, for every queue in the catalog (src/queue-catalog.ts), including
 * queues that appear while the workers run: ingest registers a queue before its first job, and the
 * pool looks at the registry every few seconds, so a source added on the API side is served
 * without restarting the workers.
 *
 * The queues of the sources in this process's own configuration are registered and opened at
 * start: their first job is served at once instead of at the next look, and a lane's pause (which
 * pauses the registered queues) covers them before their first job.
 *
 * A new queue of a paused lane gets no Worker until the lane is resumed: the lane's pause paused
 * the queues it knew of, and this one may have been registered after.
 */
import type { Worker } from 'bullmq';
import type { Logger } from '../src/log.ts';
import { isLegacy, queueName, type JobKind, type QueueCatalog, type QueueRef } from '../src/queue-catalog.ts';

export const DISCOVER_EVERY_MS = 5000;

export interface QueuePoolDeps {
  readonly catalog: QueueCatalog;
  readonly lanes: readonly string[];
  readonly kinds: readonly JobKind[];
  /** Opens the Worker for a queue: its processor, concurrency and event handlers. */
  readonly open: (ref: QueueRef) => Worker;
  /** Whether the lane is paused now. */
  readonly paused: (lane: string) => Promise<boolean>;
  /** Queues to register and serve from the start (the configured sources'). */
  readonly known?: readonly QueueRef[];
  readonly log: Logger;
  readonly intervalMs?: number;
}

export interface QueuePool {
  /** Every Worker opened so far. */
  workers(): readonly Worker[];
  /**
   * Stop looking for new queues; the Workers are the caller's to close. A look in progress opens
   * nothing more (it is not waited for: with Redis away it could wait as long as the outage).
   */
  stop(): void;
}

export async function startQueuePool(deps: QueuePoolDeps): Promise<QueuePool> {
  const open = new Map<string, Worker>();
  let stopped = false;
  let running: Promise<void> | undefined;

  async function discover(): Promise<Worker[]> {
    const opened: Worker[] = [];
    for (const lane of deps.lanes) {
      let paused: boolean | undefined;
      for (const kind of deps.kinds) {
        for (const ref of await deps.catalog.list(kind, lane)) {
          if (stopped) return opened;
          const name = queueName(ref);
          if (open.has(name)) continue;
          if (!isLegacy(ref)) {
            paused ??= await deps.paused(lane);
            if (paused) continue;
          }
          const w = deps.open(ref);
          open.set(name, w);
          opened.push(w);
          if (!isLegacy(ref)) deps.log.info({ queue: name }, 'serving a new queue');
        }
      }
    }
    return opened;
  }

  // At start every known queue gets its Worker before the runtime says it is ready.
  for (const ref of deps.known ?? []) if (deps.lanes.includes(ref.lane)) await deps.catalog.register(ref);
  const first = await discover();
  await Promise.all(first.map((w) => w.waitUntilReady()));

  const timer = setInterval(() => {
    if (running || stopped) return;
    running = discover()
      .then(() => undefined)
      .catch((err: unknown) => deps.log.warn({ err }, 'could not read the queue registry; trying again'))
      .finally(() => (running = undefined));
  }, deps.intervalMs ?? DISCOVER_EVERY_MS);
  timer.unref();

  return {
    workers: () => [...open.values()],
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
