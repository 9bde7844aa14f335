/**
 * Pipeline health into the store, so Grafana can chart it next to the data: every N seconds a
 * subscriber writes one `nbpy_health` point per topic (tags service, topic; fields records_per_s,
 * lag_ms, gaps, drops, restarts, queue_depth, spool_bytes) through the same Sink it stores records with.
 *
 * The point travels as a `status` record (kind `status`, status `health`) carrying the health fields,
 * mapped to `influxdb.healthMeasurement` by the write target, so every sink driver stores it with
 * its usual record -> point mapping and no special path. Health points are best effort: when the
 * store is down they are counted as failed and not spooled (the spool is for market data).
 */
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../core/clock.js';
import { WIRE_FORMAT_VERSION, type BusRecord, type StatusRecord } from '../core/records.js';
import type { MeasurementSchema } from '../config/schema.js';
import type { Sink, WriteResult, WriteTarget } from '../storage/sink.js';

/** Schema of the health measurement, for configs that do not define it in influxdb.measurements. */
export const HEALTH_MEASUREMENT_SCHEMA: MeasurementSchema = {
  tags: ['service', 'topic'],
  fields: {
    records_per_s: 'float',
    lag_ms: 'float',
    gaps: 'integer',
    drops: 'integer',
    restarts: 'integer',
    queue_depth: 'integer',
    spool_bytes: 'integer',
  },
};

/** One topic's pipeline health at one moment. Counters are totals since the process started. */
export interface PipelineHealthSample {
  topic: string;
  records_per_s: number;
  lag_ms: number;
  gaps: number;
  drops: number;
  restarts: number;
  queue_depth: number;
  spool_bytes: number;
}

/** The record that carries one sample (pure). */
export function healthRecord(service: string, sample: PipelineHealthSample, nowUs: number, seq: number, session: string): BusRecord {
  const rec: StatusRecord & Omit<PipelineHealthSample, 'topic'> & { service: string } = {
    v: WIRE_FORMAT_VERSION,
    topic: sample.topic,
    venue: 'nbpy',
    kind: 'status',
    publisher: service,
    session,
    seq,
    ts_event_us: nowUs,
    ts_recv_us: nowUs,
    instrument: '',
    status: 'health',
    detail: '',
    service,
    records_per_s: finite(sample.records_per_s),
    lag_ms: finite(sample.lag_ms),
    gaps: int(sample.gaps),
    drops: int(sample.drops),
    restarts: int(sample.restarts),
    queue_depth: int(sample.queue_depth),
    spool_bytes: int(sample.spool_bytes),
  };
  return rec;
}

const finite = (n: number) => (Number.isFinite(n) ? n : 0);
const int = (n: number) => (Number.isFinite(n) ? Math.max(0, Math.round(n)) : 0);

/** Records per second from a growing counter, per key (pure state; time passed in). */
export class RateMeter {
  private readonly last = new Map<string, { total: number; atMs: number }>();
  /** Rate since the previous call for `key` (0 on the first call, or after a counter reset). */
  rate(key: string, total: number, atMs: number): number {
    const prev = this.last.get(key);
    this.last.set(key, { total, atMs });
    if (!prev || atMs <= prev.atMs || total < prev.total) return 0;
    return ((total - prev.total) * 1000) / (atMs - prev.atMs);
  }
}

export interface HealthWriterOptions {
  sink: Sink;
  /** The subscriber's name (tag `service`). */
  service: string;
  /** `influxdb.healthMeasurement`. */
  measurement: string;
  retentionPolicy: string;
  clock?: Clock;
  /** Called when a write fails (store down); the sample is not retried. */
  onError?: (err: Error) => void;
}

export interface HealthWriterStats {
  points_written: number;
  writes_failed: number;
}

export class HealthWriter {
  private readonly clock: Clock;
  private readonly session = randomUUID();
  private seq = 0;
  private timer: { cancel(): void } | undefined;
  private stopped = false;
  private inflight: Promise<unknown> = Promise.resolve();
  readonly stats: HealthWriterStats = { points_written: 0, writes_failed: 0 };
  readonly target: WriteTarget;

  constructor(private readonly opts: HealthWriterOptions) {
    this.clock = opts.clock ?? systemClock;
    this.target = {
      measurements: { status: opts.measurement },
      eventsMeasurement: opts.measurement,
      retentionPolicy: opts.retentionPolicy,
    };
  }

  /** Write one point per sample now. Never throws: failures are counted and reported to onError. */
  async write(samples: readonly PipelineHealthSample[]): Promise<WriteResult | undefined> {
    if (samples.length === 0) return { written: 0, dropped: {} };
    const now = this.clock.nowUs();
    const records = samples.map((s) => healthRecord(this.opts.service, s, now, ++this.seq, this.session));
    try {
      const res = await this.opts.sink.write(records, this.target);
      this.stats.points_written += res.written;
      return res;
    } catch (e) {
      this.stats.writes_failed++;
      this.opts.onError?.(e as Error);
      return undefined;
    }
  }

  /** Every `intervalMs`, take `sample()` and write it (one write at a time). */
  start(sample: () => PipelineHealthSample[], intervalMs: number): void {
    this.stopped = false;
    const tick = () => {
      if (this.stopped) return;
      this.inflight = this.write(sample()).finally(() => {
        if (!this.stopped) this.timer = this.clock.setTimeout(tick, intervalMs);
      });
    };
    this.timer = this.clock.setTimeout(tick, intervalMs);
  }

  /** Stop the timer and wait for a write in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.inflight;
  }
}
