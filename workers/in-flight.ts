/**
 * How many jobs each BullMQ Worker of a class holds active (issue 12).
 *
 * Concurrency is what feeds a batcher: to fill a 1,000-event bulk request the workers must hold
 * many jobs active at once. Each class of a lane and kind has its own budget of items in flight —
 * 8,000 each — so a live job never waits for a slot held by bulk work. The budget is
 * split among the class's active queues (one per source) by the source's weight, and each Worker's
 * concurrency adapts to its share: jobs carry 1 to 100 items, so it keeps about
 * `share / average items per job` jobs active.
 *
 * With 8,000 bulk items in flight a million-event drain fills its batches (the budget covers
 * eight full bulk requests while the next ones fill; 3,000 made batches ~90% full,
 * bench/results/2026-11-27.json).
 */
import type { Worker } from 'bullmq';
import { MAX_ITEMS_PER_JOB } from '../src/queues.ts';

/**
 * Live gets as many as bulk: a live class with a backlog (an import not marked bulk, or priorities
 * off) must fill bulk requests like bulk does; with 2,000 it drained at a third of the ceiling
 * (test/integration/live-backlog.test.ts). Live items are in flight only while they wait, so a
 * quiet live class costs nothing; both classes busy hold up to twice the items of one.
 */
export const LIVE_ITEMS_IN_FLIGHT = 8000;
export const BULK_ITEMS_IN_FLIGHT = 8000;
export const MIN_CONCURRENCY = 8;
/** A queue counts as active while it holds jobs, or started one this recently. */
export const ACTIVE_MS = 5000;

interface Member {
  readonly weight: number;
  avgItems: number;
  running: number;
  lastActive: number;
}

/** What the share changes of a Worker. */
type Resizable = Pick<Worker, 'concurrency'>;

export class InFlightShare {
  private readonly members = new Map<Resizable, Member>();

  /**
   * @param target items in flight for the whole class (of one lane and kind)
   * @param max upper bound on one Worker's concurrency (RELAY_WORKER_CONCURRENCY)
   */
  constructor(
    private readonly target: number,
    private readonly max: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The concurrency a new Worker of this weight starts with, before it has seen a job: as if jobs
   * were full (MAX_ITEMS_PER_JOB items), and it adapts up from there when they are smaller.
   * Assuming one item per job, a Worker started on a backlog of full jobs took more than twice its
   * share before the average caught up (4,400 items against a share of 2,000, seen in
   * test/integration/source-fairness.test.ts).
   */
  initial(weight: number): number {
    return this.bounded((this.target * weight) / (this.activeWeight(undefined) + weight) / MAX_ITEMS_PER_JOB);
  }

  add<D extends { items: readonly unknown[] }>(worker: Worker<D, unknown>, weight: number): void {
    const m: Member = { weight, avgItems: MAX_ITEMS_PER_JOB, running: 0, lastActive: 0 };
    this.members.set(worker, m);
    worker.on('active', (job) => {
      m.running++;
      m.lastActive = this.now();
      m.avgItems = m.avgItems * 0.9 + Math.max(1, job.data.items.length) * 0.1;
      this.adapt(worker, m);
    });
    // Every job that stops being active (completed, failed, delayed, retried) ends in one of these.
    const done = () => {
      m.running = Math.max(0, m.running - 1);
    };
    worker.on('completed', done);
    worker.on('failed', done);
  }

  private activeWeight(self: Member | undefined): number {
    const now = this.now();
    let total = self?.weight ?? 0;
    for (const o of this.members.values()) if (o !== self && (o.running > 0 || now - o.lastActive < ACTIVE_MS)) total += o.weight;
    return total;
  }

  private bounded(items: number): number {
    return Math.max(MIN_CONCURRENCY, Math.min(this.max, Math.round(items)));
  }

  private adapt(worker: Resizable, m: Member): void {
    const want = this.bounded((this.target * m.weight) / this.activeWeight(m) / m.avgItems);
    if (Math.abs(want - worker.concurrency) / worker.concurrency > 0.1) worker.concurrency = want;
  }
}
