import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { FakeClock } from '../core/clock.js';
import { NbpyError } from '../core/errors.js';
import type { BusRecord, TickRecord } from '../core/records.js';
import { StoragePipeline, backoffDelayMs, estimateHeapBytes } from './pipeline.js';
import type { Sink, WriteResult, WriteTarget } from './sink.js';

class FakeSink implements Sink {
  readonly kind = 'embedded' as const;
  up = true;
  fatal = false;
  stored = new Map<string, number>();
  calls = 0;
  order: number[] = [];
  async open() {}
  async write(records: readonly BusRecord[]): Promise<WriteResult> {
    this.calls++;
    await tick();
    if (this.fatal) throw new NbpyError('E_BAD', 'bad request', false);
    if (!this.up) throw new NbpyError('E_DOWN', 'store down', true);
    for (const r of records) this.stored.set(`${r.session}:${r.seq}`, r.seq);
    this.order.push(records[0]!.seq);
    return { written: records.length, dropped: {} };
  }
  async count() {
    return this.stored.size;
  }
  async close() {}
}

const target: WriteTarget = { measurements: { tick: 'kraken_tick' }, eventsMeasurement: 'nbpy_events', retentionPolicy: 'high_frequency' };
let seq = 0;
const rec = (): TickRecord => ({
  v: 1,
  topic: 'kraken.tick',
  venue: 'kraken',
  kind: 'tick',
  publisher: 'p',
  session: 's',
  seq: ++seq,
  ts_event_us: 1_700_000_000_000_000,
  ts_recv_us: 1_700_000_000_000_000,
  instrument: 'XBT/USD',
  bid: '1',
  bid_qty: '1',
  ask: '2',
  ask_qty: '1',
  last: null,
  volume: null,
  tradeable: true,
});
const recs = (n: number) => Array.from({ length: n }, rec);
/** Push like the subscriber does: one chunk, then wait for capacity (backpressure). */
async function pushPaced(p: StoragePipeline, n: number, chunk = 10): Promise<void> {
  for (let i = 0; i < n; i += chunk) {
    await p.waitForCapacity();
    p.push(recs(Math.min(chunk, n - i)));
  }
}

async function until(cond: () => boolean, clock?: FakeClock, what = 'condition'): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    clock?.advance(100);
    await new Promise((r) => setTimeout(r, 1));
  }
}

function make(sink: Sink, dir: string, clock: FakeClock, extra: Partial<ConstructorParameters<typeof StoragePipeline>[0]> = {}) {
  const logs: string[] = [];
  const p = new StoragePipeline({
    sink,
    target,
    batchSize: 10,
    flushIntervalMs: 1000,
    maxBatchBytes: 1e9,
    spoolDir: dir,
    spoolMaxBytes: 1e8,
    clock,
    concurrency: 2,
    maxQueuedBatches: 2,
    backoff: { baseMs: 100, maxMs: 1000 },
    random: () => 0.5,
    log: (_l, m) => logs.push(m),
    ...extra,
  });
  return { p, logs };
}

test('backoff: exponential, capped, jittered within [cap/2, cap]', () => {
  const s = { baseMs: 100, maxMs: 5000 };
  assert.equal(
    backoffDelayMs(0, s, () => 0),
    50,
  );
  assert.equal(
    backoffDelayMs(0, s, () => 1),
    100,
  );
  assert.equal(
    backoffDelayMs(3, s, () => 1),
    800,
  );
  assert.equal(
    backoffDelayMs(50, s, () => 1),
    5000,
  );
  assert.equal(
    backoffDelayMs(50, s, () => 0),
    2500,
  );
});

test('writes batches and counts; age flush via the clock', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-pipe-'));
  const clock = new FakeClock();
  const sink = new FakeSink();
  const { p } = make(sink, dir, clock);
  p.push(recs(25));
  await until(() => sink.stored.size === 20, undefined, '2 full batches');
  clock.advance(1000);
  await until(() => sink.stored.size === 25, undefined, 'age flush');
  const st = p.stats();
  assert.equal(st.records_in, 25);
  assert.equal(st.points_written, 25);
  assert.equal(st.batches_ok, 3);
  assert.equal(st.store_up, true);
  assert.equal(st.queue_depth, 0);
  await p.close();
  rmSync(dir, { recursive: true });
});

test('outage: bounded memory, spill to spool, retried forever, backlog replayed before newer data, nothing lost', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-pipe-'));
  const clock = new FakeClock();
  const sink = new FakeSink();
  const { p, logs } = make(sink, dir, clock);
  sink.up = false;
  const first = seq + 1;
  await pushPaced(p, 200);
  await until(() => p.stats().spool_batches >= 16, clock, 'spill to spool');
  const st = p.stats();
  assert.equal(st.store_up, false);
  assert.equal(st.outage_count, 1);
  assert.ok(st.queue_depth <= 40, `memory bounded (queue_depth ${st.queue_depth})`);
  assert.ok(st.batches_retried > 0);
  assert.ok(logs.some((m) => m.includes('store unavailable')));
  sink.up = true;
  await until(() => sink.stored.size === 200, clock, 'replay');
  p.push(recs(10));
  await p.flush();
  assert.equal(sink.stored.size, 210);
  assert.equal(p.stats().spool_batches, 0);
  assert.equal(p.stats().store_up, true);
  // Newer data (the last push) is written after the backlog.
  assert.equal(sink.order.at(-1), first + 200);
  await p.close();
  rmSync(dir, { recursive: true });
});

test('flush() with the store down puts everything on disk; a new pipeline replays it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-pipe-'));
  const clock = new FakeClock();
  const sink = new FakeSink();
  sink.up = false;
  const { p } = make(sink, dir, clock);
  p.push(recs(55));
  await until(() => p.stats().store_up === false, clock, 'outage noticed');
  await p.close();
  assert.equal(p.stats().queue_depth, 0);
  assert.equal(p.stats().spool_batches, 6);
  const sink2 = new FakeSink();
  const { p: p2 } = make(sink2, dir, clock);
  await p2.flush();
  assert.equal(sink2.stored.size, 55);
  assert.equal(p2.stats().spool_bytes, 0);
  await p2.close();
  rmSync(dir, { recursive: true });
});

test('non-retriable errors fail the batch and are counted; spool_full drops are counted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-pipe-'));
  const clock = new FakeClock();
  const sink = new FakeSink();
  sink.fatal = true;
  const { p } = make(sink, dir, clock);
  p.push(recs(10));
  await p.flush();
  assert.equal(p.stats().batches_failed, 1);
  assert.equal(p.stats().dropped_by_reason.bad_request, 10);
  await p.close();

  const sink2 = new FakeSink();
  sink2.up = false;
  const { p: p2, logs } = make(sink2, dir, clock, { spoolMaxBytes: 1 });
  await pushPaced(p2, 100);
  await until(() => (p2.stats().dropped_by_reason.spool_full ?? 0) > 0, clock, 'spool full');
  assert.ok(logs.some((m) => m.includes('spool is full')));
  sink2.up = true;
  await p2.flush();
  const st = p2.stats();
  assert.equal(sink2.stored.size + (st.dropped_by_reason.spool_full ?? 0), 100, 'every record either stored or counted');
  await p2.close();
  rmSync(dir, { recursive: true });
});

/** A sink whose writes hang until `release()`: a store slower than the bus. */
class StalledSink extends FakeSink {
  private gate: Promise<void> = new Promise(() => {});
  private open_: () => void = () => {};
  constructor() {
    super();
    this.gate = new Promise((r) => (this.open_ = r));
  }
  release() {
    this.open_();
  }
  override async write(records: readonly BusRecord[]): Promise<WriteResult> {
    await this.gate;
    return super.write(records);
  }
}

/** The subscriber's way of pushing: wait for capacity, then push 10 records, 30 times. */
function producer(p: StoragePipeline): { done: Promise<void>; pushed: () => number } {
  let pushed = 0;
  const done = (async () => {
    for (let i = 0; i < 30; i++) {
      await p.waitForCapacity();
      p.push(recs(10));
      pushed += 10;
    }
  })();
  return { done, pushed: () => pushed };
}

test('backpressure: a slow but healthy store makes the caller wait; nothing is spooled', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-pipe-'));
  const clock = new FakeClock();
  const sink = new StalledSink();
  const { p } = make(sink, dir, clock);
  const prod = producer(p);
  // 2 in flight + 2 queued = 4 batches, then the producer must wait.
  await until(() => !p.hasCapacity(), undefined, 'queue full');
  for (let i = 0; i < 20; i++) await tick();
  assert.ok(prod.pushed() <= 60, `producer held back (pushed ${prod.pushed()})`);
  assert.equal(p.stats().spool_batches, 0, 'nothing spooled while the store is up');
  sink.release();
  await prod.done;
  await p.flush();
  assert.equal(sink.stored.size, 300);
  assert.equal(p.stats().spool_bytes, 0);
  await p.close();
  rmSync(dir, { recursive: true });
});

/** Push 10-record chunks while the pipeline has capacity; resolves after `n` records or when it blocks. */
async function pushUntilBlocked(p: StoragePipeline, n: number): Promise<{ pushed: number; maxHeld: number }> {
  let pushed = 0;
  let maxHeld = 0;
  while (pushed < n) {
    const ready = await Promise.race([p.waitForCapacity().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 200))]);
    if (!ready) break;
    p.push(recs(10));
    pushed += 10;
    maxHeld = Math.max(maxHeld, p.stats().held_bytes);
  }
  return { pushed, maxHeld };
}

test('memory bound: a stalled store stops intake at maxHeldBytes, whatever maxQueuedBatches allows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-pipe-'));
  const clock = new FakeClock();
  const sink = new StalledSink();
  const maxHeldBytes = 100 * estimateHeapBytes(rec());
  const { p } = make(sink, dir, clock, { maxQueuedBatches: 1000, maxHeldBytes });
  const { pushed, maxHeld } = await pushUntilBlocked(p, 10_000);
  assert.ok(pushed < 10_000, 'intake must stop while the store does not take anything');
  assert.ok(maxHeld <= maxHeldBytes + 10 * estimateHeapBytes(rec()), `held ${maxHeld} B, bound ${maxHeldBytes} B`);
  assert.equal(p.hasCapacity(), false);
  assert.equal(p.stats().spool_batches, 0, 'a slow store is backpressure, not an outage');
  sink.release();
  await p.close();
  assert.equal(sink.stored.size, pushed, 'everything taken is written');
  assert.equal(p.stats().held_bytes, 0);
  rmSync(dir, { recursive: true });
});

test('memory bound: during an outage the spool path is bounded too (pending appends count)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-pipe-'));
  const clock = new FakeClock();
  const sink = new FakeSink();
  sink.up = false;
  const maxHeldBytes = 100 * estimateHeapBytes(rec());
  const { p } = make(sink, dir, clock, { maxHeldBytes });
  // First write fails: the store is down; then pushes go to the spool, as fast as it writes.
  p.push(recs(10));
  await until(() => !p.stats().store_up, clock, 'outage seen');
  const { pushed, maxHeld } = await pushUntilBlocked(p, 5_000);
  assert.equal(pushed, 5_000, 'the spool keeps taking data during an outage');
  // Without the bound the producer outruns the spool's fsyncs and every batch waits in memory. The
  // batches retrying in flight (concurrency 2 x 10 records) are outside the bound by design.
  const slack = (10 + 2 * 10) * estimateHeapBytes(rec());
  assert.ok(maxHeld <= maxHeldBytes + slack, `held ${maxHeld} B, bound ${maxHeldBytes} B`);
  sink.up = true;
  await until(() => sink.stored.size === 5_010, clock, 'backlog replayed');
  await p.close();
  rmSync(dir, { recursive: true });
});

test('onDurable: every pushed record reported once, when written or spooled (not when replayed from the spool)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-pipe-'));
  const clock = new FakeClock();
  const sink = new FakeSink();
  const durable: number[] = [];
  const onDurable = (rs: readonly BusRecord[]) => durable.push(...rs.map((r) => r.seq));
  const { p } = make(sink, dir, clock, { onDurable });
  const first = seq + 1;
  await pushPaced(p, 30);
  await p.flush();
  assert.equal(durable.length, 30, 'written');
  assert.deepEqual(new Set(durable), new Set(Array.from({ length: 30 }, (_, i) => first + i)));
  // Store down: a batch is reported when it reaches the spool; those in memory or retrying are not.
  sink.up = false;
  await pushPaced(p, 100);
  await until(() => p.stats().spool_batches >= 5, clock, 'spill to spool');
  assert.equal(durable.length - 30, p.stats().spool_batches * 10, 'exactly the spooled batches reported');
  assert.equal(sink.stored.size, 30);
  sink.up = true;
  await until(() => sink.stored.size === 130, clock, 'replay');
  await p.flush();
  assert.equal(durable.length, 130, 'all reported, a replayed batch not twice');
  assert.equal(new Set(durable).size, 130);
  // A batch the store rejects for good is dropped, counted, and reported (nothing to resume for).
  sink.fatal = true;
  p.push(recs(10));
  await p.flush();
  assert.equal(durable.length, 140);
  await p.close();
  rmSync(dir, { recursive: true });
});

test('write window: halved on each failed write, one more per write taken, and no more writes at once than it allows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-pipe-'));
  const clock = new FakeClock();
  let active = 0;
  let maxActive = 0;
  class CountingSink extends FakeSink {
    override async write(records: readonly BusRecord[]): Promise<WriteResult> {
      maxActive = Math.max(maxActive, ++active);
      try {
        return await super.write(records);
      } finally {
        active--;
      }
    }
  }
  const sink = new CountingSink();
  const { p } = make(sink, dir, clock, { concurrency: 4, maxQueuedBatches: 16 });
  p.push(recs(40));
  await p.flush();
  assert.equal(maxActive, 4, 'four writes at once while the store takes them');
  assert.equal(p.stats().write_window, 4);
  sink.up = false;
  p.push(recs(10));
  await until(() => p.stats().write_window === 1, clock, 'window halved to 1');
  assert.ok(p.stats().batches_retried >= 2);
  sink.up = true;
  await until(() => p.stats().store_up, clock, 'store back');
  maxActive = 0;
  p.push(recs(40));
  await p.flush();
  assert.ok(maxActive < 4, `writes at once while the window grows back from 1: ${maxActive}`);
  assert.equal(p.stats().write_window, 4, 'one more per write taken, up to concurrency');
  await p.close();
  rmSync(dir, { recursive: true });
});

test('drainToSpool: with the store up but slow, intake never waits and what memory cannot take goes to the spool', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-pipe-'));
  const clock = new FakeClock();
  const sink = new StalledSink();
  const { p } = make(sink, dir, clock);
  p.push(recs(100));
  assert.equal(p.hasCapacity(), false, 'a slow store makes the caller wait');
  p.drainToSpool();
  assert.equal(p.hasCapacity(), true, 'not while draining');
  p.push(recs(200));
  await until(() => p.stats().spool_batches > 0, clock, 'spooled');
  assert.equal(p.stats().store_up, true, 'the store is up, only slow');
  sink.release();
  await p.close();
  assert.equal(sink.stored.size, 300, 'everything written in the end');
  rmSync(dir, { recursive: true });
});

test('overflow: a store slower than intake for overflowAfterMs sends what memory cannot hold to the spool, once caught up back to memory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-pipe-'));
  const clock = new FakeClock();
  const sink = new StalledSink();
  const logs: string[] = [];
  const { p } = make(sink, dir, clock, { overflowAfterMs: 2000, log: (_l, m) => logs.push(m) });
  const prod = producer(p);
  await until(() => !p.hasCapacity(), undefined, 'queue full');
  assert.equal(p.stats().overflows, 0);
  clock.advance(1999);
  for (let i = 0; i < 10; i++) await tick();
  assert.ok(prod.pushed() <= 60, `still waiting before overflowAfterMs (pushed ${prod.pushed()})`);
  clock.advance(1);
  await until(() => prod.pushed() === 300, clock, 'the caller no longer waits');
  assert.equal(p.stats().overflows, 1);
  assert.equal(p.stats().store_up, true);
  await until(() => p.stats().spool_batches >= 20, clock, 'what memory could not hold went to the spool');
  assert.equal(logs.filter((m) => m.includes('slower than the bus')).length, 1);
  sink.release();
  await prod.done;
  await p.flush();
  assert.equal(sink.stored.size, 300, 'everything written');
  assert.equal(p.stats().spool_batches, 0);
  // Caught up: a new push goes to memory again, nothing to the spool.
  p.push(recs(10));
  await p.flush();
  assert.equal(p.stats().spool_bytes, 0);
  await p.close();
  rmSync(dir, { recursive: true });
});
