/**
 * StoragePipeline: records in, batches out to a Sink, nothing lost while the store is down.
 *
 *   push() -> Batcher (size/bytes/age) -> memory queue -> up to `concurrency` writers -> Sink
 *                                             \-> spool on disk ONLY while the store is down
 *
 * - BACKPRESSURE, not spilling, while the store is up but behind: push() never blocks, and the
 *   memory queue grows past `maxQueuedBatches` only if the caller ignores {@link hasCapacity} /
 *   {@link waitForCapacity}. The subscriber awaits waitForCapacity() after each bus message, so it
 *   stops reading its ZeroMQ socket (records wait in ZeroMQ's receive queue) instead of writing
 *   a healthy store's backlog to disk. The spool is for outages.
 * - MEMORY BOUND: every record held in memory (batcher, queue, in flight, waiting for a spool
 *   append) is counted at {@link estimateHeapBytes}; past `maxHeldBytes` there is no capacity, in an
 *   outage too. A batch count alone did not bound memory: a depth record is ~10x a tick, and while
 *   the store was down capacity was unconditional, so a spool slower than the bus (one fsync per
 *   batch) let the chain of pending appends, each holding its records, grow without end.
 * - Retriable errors (store unreachable, 5xx, timeouts) are retried FOREVER with capped
 *   exponential backoff and jitter. While the store is down there is always capacity: batches beyond
 *   the memory queue go to the durable spool, so memory stays bounded whatever the outage length.
 * - Once the store answers again, writers alternate between the memory queue and the spool (oldest
 *   first), so the backlog drains while live data keeps flowing. Several batches are in flight at
 *   once and order does not matter: every record has its own point identity (see fields.ts).
 * - A non-retriable error fails the batch (counted, logged); drops the sink reports are counted by
 *   reason. The spool refusing a batch (full) is a `spool_full` drop, logged as an error.
 * - flush() hands on the partial batch and waits until everything held is written; if the store
 *   is down it moves what is held in memory to the spool instead, so SIGTERM loses nothing.
 */
import { Packr } from 'msgpackr';
import { systemClock, type Clock } from '../core/clock.js';
import { NbpyError } from '../core/errors.js';
import type { BusRecord } from '../core/records.js';
import { Batcher, type BatchSettings } from './batcher.js';
import type { DropReason, Sink, WriteTarget } from './sink.js';
import { Overflow } from './overflow.js';
import { Spool } from './spool.js';

export type PipelineLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface BackoffSettings {
  /** First retry delay, ms. */
  baseMs: number;
  /** Cap on a retry delay, ms. */
  maxMs: number;
}

/**
 * Capped exponential backoff with "equal jitter": half the capped delay fixed, half random, so
 * writers that failed together do not retry in lockstep yet never retry immediately.
 */
export function backoffDelayMs(attempt: number, s: BackoffSettings, random: () => number = Math.random): number {
  const capped = Math.min(s.maxMs, s.baseMs * 2 ** Math.min(attempt, 30));
  return capped / 2 + random() * (capped / 2);
}

export interface PipelineOptions extends BatchSettings {
  sink: Sink;
  target: WriteTarget;
  /** Directory of the durable outage spool. */
  spoolDir: string;
  /** Cap on the spool's size, bytes (config `spoolMaxBytes`). */
  spoolMaxBytes: number;
  log?: PipelineLog;
  clock?: Clock;
  /** Batches written at the same time (default 4). */
  concurrency?: number;
  /** Batches held in memory beyond those in flight before spilling to disk (default 8). */
  maxQueuedBatches?: number;
  /**
   * Cap on the records held in memory, bytes as {@link estimateHeapBytes} counts them (config
   * `maxHeldBytes`; default 24 MiB). Past it {@link hasCapacity} is false. Batches retrying against
   * a down store are not counted against it (at most `concurrency` of them, and the spool must keep
   * taking new data meanwhile).
   */
  maxHeldBytes?: number;
  backoff?: BackoffSettings;
  random?: () => number;
  /**
   * Called with each batch once it is safe: written, appended to the spool, or dropped and counted
   * (never twice for one push; a batch replayed from the spool was reported when it was spooled).
   */
  onDurable?: (records: readonly BusRecord[]) => void;
  /**
   * How long a caller waits for capacity while the store is up but slow before what memory cannot
   * hold goes to the spool instead (default 2000 ms; see `overflow`).
   */
  overflowAfterMs?: number;
}

export interface PipelineStats {
  records_in: number;
  points_written: number;
  batches_ok: number;
  batches_failed: number;
  batches_retried: number;
  dropped_by_reason: Partial<Record<DropReason, number>>;
  /** Records held in memory: waiting in the batcher, queued, and in flight. */
  queue_depth: number;
  /** Estimated heap bytes of every record held in memory (bounded by `maxHeldBytes`). */
  held_bytes: number;
  spool_bytes: number;
  spool_batches: number;
  last_write_latency_ms: number;
  /** Venue time of the newest record of the last batch written -> now, ms. */
  lag_ms: number;
  store_up: boolean;
  outage_count: number;
  /** Writes allowed at once now: `concurrency`, less while the store fails writes (AIMD). */
  write_window: number;
  /** Times the store was slower than intake for `overflowAfterMs` and batches went to the spool. */
  overflows: number;
}

interface Batch {
  records: BusRecord[];
  /** {@link estimateHeapBytes} of the records. */
  bytes: number;
  /** Spool id when the batch came from disk. */
  spoolId?: number;
}

/** Rough line-protocol size of a record, for `maxBatchBytes` (no need to be exact). */
export function estimateRecordBytes(r: BusRecord): number {
  let n = 160;
  if (r.kind === 'depth') n += (r.bids.length + r.asks.length) * 40;
  else if (r.kind === 'runner') n += (r.back.length + r.lay.length) * 40;
  return n;
}

/**
 * Rough JS heap size of a decoded record, for `maxHeldBytes` (measured on Node 20: ~450 B for a
 * msgpack-decoded tick, ~2.6 KB for a 10+10-level depth record, i.e. ~110 B per level).
 */
export function estimateHeapBytes(r: BusRecord): number {
  let n = 450;
  if (r.kind === 'depth') n += (r.bids.length + r.asks.length) * 110;
  else if (r.kind === 'runner') n += (r.back.length + r.lay.length) * 110;
  return n;
}

function heapBytesOf(records: readonly BusRecord[]): number {
  let n = 0;
  for (const r of records) n += estimateHeapBytes(r);
  return n;
}

const packr = new Packr({ useRecords: false, moreTypes: false });

export class StoragePipeline {
  private readonly sink: Sink;
  private readonly target: WriteTarget;
  private readonly clock: Clock;
  private readonly log: PipelineLog;
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private readonly maxHeldBytes: number;
  private readonly backoff: BackoffSettings;
  private readonly random: () => number;
  private readonly onDurable: (records: readonly BusRecord[]) => void;
  private readonly batcher: Batcher<BusRecord>;
  private readonly spool: Spool;
  private queue: Batch[] = [];
  private inflight = 0;
  /**
   * Writes allowed at once now (AIMD, 1..concurrency): halved when the store fails a write, one more
   * per write it takes. A store slowed by a busy machine gets fewer requests at a time, not more.
   */
  private window: number;
  private inflightRecords = 0;
  private queuedRecords = 0;
  /** Heap-estimated bytes: in the batcher, queued, in flight, waiting for a spool append. */
  private pendingBytes = 0;
  private queuedBytes = 0;
  private inflightBytes = 0;
  private spoolingBytes = 0;
  /** Spool appends started and not finished: they count as "spool in use" for ordering. */
  private spoolAppending = 0;
  private spoolChain: Promise<unknown> = Promise.resolve();
  private taking = false;
  private spill = false;
  /** Stopping: the caller reads what is left on the bus without waiting; beyond memory it goes to the spool. */
  private draining = false;
  /** The store up but slower than intake for `overflowAfterMs`: what memory cannot hold is spooled. */
  private readonly overflow: Overflow;
  private overflowTimer: { cancel(): void } | undefined;
  private closed = false;
  private waiters: (() => void)[] = [];
  private sleepers = new Set<() => void>();
  private downSinceMs = 0;
  private spoolFullLogged = false;
  private preferSpool = false;
  private capacityWaiters: (() => void)[] = [];
  private s: PipelineStats = {
    records_in: 0,
    points_written: 0,
    batches_ok: 0,
    batches_failed: 0,
    batches_retried: 0,
    dropped_by_reason: {},
    queue_depth: 0,
    held_bytes: 0,
    spool_bytes: 0,
    spool_batches: 0,
    last_write_latency_ms: 0,
    lag_ms: 0,
    store_up: true,
    outage_count: 0,
    overflows: 0,
    write_window: 0,
  };

  constructor(opts: PipelineOptions) {
    this.sink = opts.sink;
    this.target = opts.target;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? (() => {});
    this.concurrency = opts.concurrency ?? 4;
    this.window = this.concurrency;
    this.maxQueued = opts.maxQueuedBatches ?? 8;
    this.maxHeldBytes = opts.maxHeldBytes ?? 24 * 1024 * 1024;
    this.backoff = opts.backoff ?? { baseMs: 100, maxMs: 30_000 };
    this.random = opts.random ?? Math.random;
    this.onDurable = opts.onDurable ?? (() => {});
    this.overflow = new Overflow(opts.overflowAfterMs ?? 2000);
    this.spool = Spool.open({ dir: opts.spoolDir, maxBytes: opts.spoolMaxBytes, log: this.log });
    if (this.spool.count)
      this.log('info', `spool holds ${this.spool.count} batches (${this.spool.bytes} bytes) from before; replaying them first`, {
        spool_dir: opts.spoolDir,
      });
    this.batcher = new Batcher<BusRecord>(opts, this.clock, (items) => this.enqueue(items), estimateRecordBytes);
    this.pump();
  }

  /**
   * Hand records to the pipeline. Never blocks: a caller that can wait (the bus subscriber) awaits
   * {@link waitForCapacity} between pushes; while the store is down, batches spill to the spool.
   */
  push(records: readonly BusRecord[]): void {
    if (this.closed) throw new NbpyError('E_PIPELINE_CLOSED', 'push() after close(): the storage pipeline is shut down', false);
    this.s.records_in += records.length;
    for (const r of records) {
      this.pendingBytes += estimateHeapBytes(r);
      this.batcher.add(r);
    }
    // A partial batch that alone fills half the bound goes now rather than at its age limit (without
    // this, a small maxHeldBytes would stall the caller for up to flushIntervalMs).
    if (this.pendingBytes * 2 >= this.maxHeldBytes) this.batcher.flush();
  }

  /** Estimated heap bytes of the records held in memory. */
  get heldBytes(): number {
    return this.pendingBytes + this.queuedBytes + this.inflightBytes + this.spoolingBytes;
  }

  /**
   * Room for more: held bytes below `maxHeldBytes`, and the memory queue below `maxQueuedBatches`
   * or the store down (then the spool takes new batches, as fast as it writes them).
   */
  hasCapacity(): boolean {
    if (this.closed || this.draining) return true;
    if (!this.s.store_up || this.overflow.active) return this.heldBytes - this.inflightBytes < this.maxHeldBytes;
    return this.heldBytes < this.maxHeldBytes && this.queue.length < this.maxQueued;
  }

  /**
   * Stopping: from now on the caller may push without waiting for capacity (it is reading what is
   * left on the bus). What the memory queue cannot take goes to the durable spool, store up or not,
   * and is written by this pipeline while it runs or by the next one.
   */
  drainToSpool(): void {
    this.draining = true;
    this.wakeCapacity();
  }

  /** Resolves once {@link hasCapacity} holds (at once when it already does). */
  waitForCapacity(): Promise<void> {
    if (this.hasCapacity()) return Promise.resolve();
    const checkInMs = this.overflow.constrained(this.clock.monoMs());
    if (checkInMs !== undefined && !this.overflowTimer) {
      this.overflowTimer = this.clock.setTimeout(() => {
        this.overflowTimer = undefined;
        if (!this.s.store_up || this.closed || !this.overflow.due(this.clock.monoMs())) return;
        if (this.overflow.shouldLog(this.clock.monoMs()))
          this.log('warn', `storage: the store is slower than the bus for ${this.overflow.afterMs} ms; spooling what memory cannot hold`, {
            queue_depth: this.stats().queue_depth,
          });
        this.wakeCapacity();
      }, checkInMs);
    }
    return new Promise((resolve) => this.capacityWaiters.push(resolve));
  }

  private wakeCapacity(): void {
    if (this.queue.length * 2 <= this.maxQueued) {
      this.overflow.relieved();
      this.overflowTimer?.cancel();
      this.overflowTimer = undefined;
    }
    if (!this.capacityWaiters.length || !this.hasCapacity()) return;
    const w = this.capacityWaiters;
    this.capacityWaiters = [];
    for (const f of w) f();
  }

  stats(): PipelineStats {
    return {
      ...this.s,
      dropped_by_reason: { ...this.s.dropped_by_reason },
      queue_depth: this.batcher.pending + this.queuedRecords + this.inflightRecords,
      overflows: this.overflow.count,
      write_window: this.window,
      held_bytes: this.heldBytes,
      spool_bytes: this.spool.bytes,
      spool_batches: this.spool.count,
    };
  }

  private drop(reason: DropReason, n: number) {
    if (n > 0) this.s.dropped_by_reason[reason] = (this.s.dropped_by_reason[reason] ?? 0) + n;
  }

  private get spoolInUse(): boolean {
    return this.spool.count > 0 || this.spoolAppending > 0;
  }

  private enqueue(records: BusRecord[]): void {
    const bytes = heapBytesOf(records);
    this.pendingBytes -= bytes;
    // Store up: memory (the caller applies backpressure). Store down: memory until the queue is
    // full, then the spool, and everything behind the spool once it is in use (outage order).
    const toMemory =
      !this.spill &&
      (this.s.store_up && !this.draining && !this.overflow.active
        ? true
        : (!this.spoolInUse || this.s.store_up) && this.queue.length < this.maxQueued);
    if (toMemory) {
      this.queue.push({ records, bytes });
      this.queuedRecords += records.length;
      this.queuedBytes += bytes;
      this.pump();
      return;
    }
    void this.toSpool(records, false, bytes);
  }

  /** Durably spool a batch; appends are chained so the file order is the call order. */
  private toSpool(records: BusRecord[], front: boolean, bytes: number): Promise<void> {
    this.spoolAppending++;
    this.spoolingBytes += bytes;
    const p = this.spoolChain.then(async () => {
      let ok = false;
      try {
        ok = await this.spool.append(packr.pack(records), front);
      } catch (e) {
        this.log('error', `spool: cannot write a batch (${(e as Error).message}); ${records.length} records lost`, {});
      }
      this.spoolAppending--;
      this.spoolingBytes -= bytes;
      this.onDurable(records);
      if (!ok) {
        this.drop('spool_full', records.length);
        if (!this.spoolFullLogged) {
          this.spoolFullLogged = true;
          this.log('error', `spool is full (${this.spool.bytes} bytes, cap spoolMaxBytes): dropping batches until the store is back`, {
            records: records.length,
          });
        }
      } else this.spoolFullLogged = false;
      this.pump();
    });
    this.spoolChain = p;
    return p;
  }

  private pump(): void {
    while (this.inflight < this.window && !this.spill) {
      const spoolReady = this.spool.available > 0 && !this.taking && this.s.store_up;
      const b = spoolReady && this.preferSpool ? undefined : this.queue.shift();
      if (b) {
        this.queuedRecords -= b.records.length;
        this.queuedBytes -= b.bytes;
        this.preferSpool = true;
        this.start(b);
        continue;
      }
      if (this.spool.available > 0 && !this.taking) {
        this.preferSpool = false;
        this.taking = true;
        this.inflight++;
        void this.spool.take().then((e) => {
          this.taking = false;
          this.inflight--;
          if (e) {
            const records = packr.unpack(e.payload) as BusRecord[];
            this.start({ records, bytes: heapBytesOf(records), spoolId: e.id });
          }
          this.pump();
        });
      }
      if (spoolReady || this.queue.length === 0) break;
    }
    this.notify();
    this.wakeCapacity();
  }

  private start(b: Batch): void {
    this.inflight++;
    this.inflightRecords += b.records.length;
    this.inflightBytes += b.bytes;
    void this.run(b).finally(() => {
      this.inflight--;
      this.inflightRecords -= b.records.length;
      this.inflightBytes -= b.bytes;
      this.pump();
    });
  }

  private async run(b: Batch): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const t0 = this.clock.monoMs();
      try {
        const res = await this.sink.write(b.records, this.target);
        this.s.last_write_latency_ms = this.clock.monoMs() - t0;
        this.s.points_written += res.written;
        this.s.batches_ok++;
        for (const [k, v] of Object.entries(res.dropped) as [DropReason, number][]) this.drop(k, v);
        let maxUs = 0;
        for (const r of b.records) if (r.ts_event_us > maxUs) maxUs = r.ts_event_us;
        if (maxUs) this.s.lag_ms = (this.clock.nowUs() - maxUs) / 1000;
        if (b.spoolId !== undefined) await this.spool.ack(b.spoolId);
        else this.onDurable(b.records);
        this.window = Math.min(this.concurrency, this.window + 1);
        this.markUp();
        return;
      } catch (e) {
        const err = e as NbpyError;
        if (!err.retriable) {
          this.s.batches_failed++;
          this.drop('bad_request', b.records.length);
          this.log('error', `storage: batch of ${b.records.length} records failed and was dropped: ${err.message}`, { code: err.code });
          if (b.spoolId !== undefined) await this.spool.ack(b.spoolId);
          else this.onDurable(b.records);
          return;
        }
        this.markDown(err);
        this.window = Math.max(1, this.window >> 1);
        this.s.batches_retried++;
        if (this.spill) return this.spillBatch(b);
        await this.sleep(backoffDelayMs(attempt, this.backoff, this.random));
        if (this.spill) return this.spillBatch(b);
      }
    }
  }

  /** Shutdown with the store down: put the batch on disk (in front: it is older than the spool). */
  private async spillBatch(b: Batch): Promise<void> {
    if (b.spoolId !== undefined) this.spool.release(b.spoolId);
    else await this.toSpool(b.records, true, 0);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        t.cancel();
        this.sleepers.delete(wake);
        resolve();
      };
      const t = this.clock.setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  private markDown(err: NbpyError): void {
    if (!this.s.store_up) return;
    this.s.store_up = false;
    this.s.outage_count++;
    this.downSinceMs = this.clock.monoMs();
    this.wakeCapacity();
    this.log('error', `storage: store unavailable (${err.message}); retrying with backoff, spooling to disk meanwhile`, {
      code: err.code,
    });
  }

  private markUp(): void {
    if (this.s.store_up) return;
    this.s.store_up = true;
    this.log('info', `storage: store is back after ${Math.round(this.clock.monoMs() - this.downSinceMs)} ms; replaying the backlog`, {
      spool_batches: this.spool.count,
    });
  }

  private idle(): boolean {
    if (this.inflight > 0 || this.spoolAppending > 0) return false;
    if (this.spill) return true;
    return this.queue.length === 0 && this.spool.count === 0;
  }

  private notify(): void {
    if (!this.idle()) return;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /**
   * Write everything held (the partial batch, the queue, the spool). When the store is down, what
   * is held in memory goes to the spool instead and flush() resolves once it is on disk.
   */
  async flush(opts: { deadlineMs?: number } = {}): Promise<void> {
    this.batcher.flush();
    const deadline = opts.deadlineMs === undefined ? Infinity : this.clock.monoMs() + opts.deadlineMs;
    for (;;) {
      // Past the deadline a slow store counts as down: what is held goes to the durable spool.
      if (!this.s.store_up || this.clock.monoMs() >= deadline) {
        this.spill = true;
        const q = this.queue;
        this.queue = [];
        this.queuedRecords = 0;
        this.queuedBytes = 0;
        for (let i = q.length - 1; i >= 0; i--) void this.toSpool(q[i]!.records, true, q[i]!.bytes);
        for (const wake of [...this.sleepers]) wake();
      }
      if (this.idle()) break;
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        // Re-check when the store goes down while we wait.
        const t = this.clock.setTimeout(resolve, 200);
        this.waiters.push(() => t.cancel());
      });
    }
    await this.spoolChain;
    if (!this.closed) {
      this.spill = false;
      this.pump();
    }
  }

  /**
   * flush() then stop: no more push(). With `deadlineMs`, after that long whatever the store has not
   * taken is put in the spool instead (a write in flight still ends by its own request timeout).
   */
  async close(opts: { deadlineMs?: number } = {}): Promise<void> {
    this.closed = true;
    this.overflowTimer?.cancel();
    this.overflowTimer = undefined;
    this.wakeCapacity();
    await this.flush(opts);
    this.batcher.close();
  }
}
