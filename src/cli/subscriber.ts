/**
 * `nbpy subscriber run <name>`: one subscriber process (see docs/STORAGE.md).
 *
 *   BusSubscriber (publishers whose topic the `topics` prefixes match) -> SequenceTracker
 *     -> StoragePipeline (batches, retries, durable spool) -> InfluxDB or the embedded DuckDB file
 *
 * - Backpressure: after each bus message the loop awaits the pipeline's capacity, so while the store
 *   is up but behind, records wait in ZeroMQ's receive queue (rcvHwm) instead of being spooled.
 *   While the store is down the pipeline always has capacity: batches go to the durable spool.
 * - Sequence holes seen by the tracker are stored as gap records (reason 'sequence', the exact
 *   missing range) in the events measurement, and counted.
 * - Embedded mode: DuckDB allows one writing process per file, so each subscriber owns
 *   `<dataDir>/embedded/<name>.duckdb` and serves read access to it over its status port
 *   (`/store/count`, `/store/newest`, `/store/latest`, `/store/stats`). InfluxDB mode serves the same
 *   routes by querying InfluxDB, so callers have one code path.
 * - SIGTERM/SIGINT: read what the publishers already sent (see `stop` below), then flush everything
 *   held (waiting for the store for most of shutdown.phaseTimeoutMs; what cannot be written stays in
 *   the durable spool), exit 0.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Config, SubscriberConfig } from '../config/schema.js';
import type { NbpyError } from '../core/errors.js';
import { UsageError } from '../core/errors.js';
import { systemClock } from '../core/clock.js';
import type { BusRecord, GapRecord } from '../core/records.js';
import { BusSubscriber, tcpEndpoint } from '../bus/subscriber.js';
import { curveClientKeys } from '../bus/curve.js';
import { SequenceTracker } from '../core/sequence.js';
import { GapRecovery, type LostCause } from '../bus/gap-recovery.js';
import { DurableWatermark } from '../bus/durable-watermark.js';
import { StopDrain, takeFromSavedJournal, unreadAtStop, type FinalSeq } from '../bus/stop-drain.js';
import { openJournalFile, readSessionFile } from './session-file.js';
import { RetransmitClient } from '../bus/retransmit.js';
import { createRegistry, mirrorCounter, mirrorGauge, startStatusServer } from '../health/status-server.js';
import { HEALTH_MEASUREMENT_SCHEMA, HealthWriter, RateMeter } from './health-writer.js';
import { createLogger } from '../logging/logger.js';
import { signalReady } from '../supervisor/child.js';
import { InfluxClient, credentialsFromEnv } from '../storage/influx/client.js';
import { InfluxSink } from '../storage/influx/writer.js';
import { InfluxAdmin } from '../storage/influx/admin.js';
import { EmbeddedSink } from '../storage/embedded/store.js';
import { EmbeddedRetentionAdmin } from '../storage/embedded/admin.js';
import { StoragePipeline, estimateHeapBytes } from '../storage/pipeline.js';
import { EmbeddedReader, InfluxReader, storeRoutes, type StoreReader } from '../storage/reader.js';
import { DROP_REASONS, type Sink, type WriteTarget } from '../storage/sink.js';
import { loadFromCommand, table, wantsJson, printJson } from './common.js';

/** How often a subscriber writes its pipeline health points (`influxdb.healthMeasurement`), ms. */
export const HEALTH_POINT_INTERVAL_MS = 10_000;

/** A publisher silent this long during a stop has nothing more in flight for this subscriber. */
const DRAIN_QUIET_MS = 500;

/** Why a range could not be recovered, for the log line (GapRecovery's causes). */
const LOST_CAUSE_TEXT: Record<LostCause, string> = {
  not_in_journal: 'no longer in the publisher journal; a larger publishers[].journal keeps more',
  no_answer: 'no answer from the publisher within recovery.holdTimeoutMs',
  hold_limit: 'holding more records behind it would pass recovery.maxHeldRecords',
};

export function findSubscriber(cfg: Config, name: string): SubscriberConfig {
  const s = cfg.subscribers.find((x) => x.name === name);
  if (!s)
    throw new UsageError(`no subscriber named "${name}" in the config (subscribers: ${cfg.subscribers.map((x) => x.name).join(', ')})`);
  return s;
}

/** The publishers a subscriber reads: enabled ones whose topic one of its prefixes matches. */
export function publishersFor(cfg: Config, sc: SubscriberConfig): Config['publishers'] {
  return cfg.publishers.filter((p) => p.enabled && sc.topics.some((t) => p.topic.startsWith(t)));
}

/** The embedded store file of one subscriber (DuckDB: one writing process per file). */
export function embeddedFileFor(cfg: Config, subscriber: string): string {
  return join(resolve(cfg.dataDir), 'embedded', `${subscriber}.duckdb`);
}

/** The spool directory of one subscriber. */
export function spoolDirFor(cfg: Config, subscriber: string): string {
  return join(resolve(cfg.dataDir), 'spool', subscriber);
}

/**
 * A gap record for a sequence hole seen by this subscriber: stored in the events measurement under
 * the publisher's session, at seq = first missing seq (a seq that never reached us, so the point
 * identity cannot collide with a stored record of that session).
 */
export function sequenceGapRecord(
  seen: Pick<BusRecord, 'v' | 'topic' | 'venue' | 'publisher' | 'session' | 'ts_event_us'>,
  first: number,
  last: number,
  prevEventUs: number,
  subscriber: string,
  nowUs: number,
): GapRecord {
  return {
    v: seen.v,
    topic: seen.topic,
    venue: seen.venue,
    kind: 'gap',
    publisher: seen.publisher,
    session: seen.session,
    seq: first,
    ts_event_us: seen.ts_event_us,
    ts_recv_us: nowUs,
    instrument: '',
    reason: 'sequence',
    gap_start_us: prevEventUs || seen.ts_event_us,
    gap_end_us: seen.ts_event_us,
    detail: `subscriber ${subscriber} did not receive seq ${first}-${last} (${last - first + 1} records) of ${seen.publisher} session ${seen.session}`,
    first_missing_seq: first,
    last_missing_seq: last,
  };
}

/** Where a subscriber keeps the last seq it released per publisher session (read back on restart). */
export function recoveryStateFile(cfg: Config, subscriber: string): string {
  return join(resolve(cfg.runDir), 'recovery', `${subscriber}.json`);
}

interface RecoveryState {
  sessions: { session: string; publisher: string; last: number }[];
}

function readRecoveryState(file: string): RecoveryState['sessions'] {
  if (!existsSync(file)) return [];
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as RecoveryState;
    return Array.isArray(s.sessions)
      ? s.sessions.filter((x) => typeof x.session === 'string' && typeof x.publisher === 'string' && Number.isSafeInteger(x.last))
      : [];
  } catch {
    return [];
  }
}

function writeRecoveryState(file: string, sessions: RecoveryState['sessions']): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify({ sessions } satisfies RecoveryState));
  renameSync(`${file}.tmp`, file);
}

interface TopicStats {
  records: number;
  last_mono_ms: number;
  gaps: number;
  missing: number;
}

export async function runSubscriber(cfg: Config, name: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const sc = findSubscriber(cfg, name);
  const clock = systemClock;
  const log = createLogger({ service: name, level: cfg.logging.level });
  const pubs = publishersFor(cfg, sc);
  if (pubs.length === 0)
    throw new UsageError(
      `subscribers.${name}: no enabled publisher has a topic matching ${sc.topics.join(', ')}; check publishers[].topic`,
    );
  const endpoints = [...new Set(pubs.map((p) => tcpEndpoint(p.connectHost, p.port)))];
  const target: WriteTarget = {
    measurements: sc.measurements,
    eventsMeasurement: cfg.influxdb.eventsMeasurement,
    retentionPolicy: sc.retentionPolicy,
  };
  const measurements = [...new Set([...Object.values(sc.measurements), cfg.influxdb.eventsMeasurement])];
  const sinkLog = (level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}) => log[level](fields, msg);
  // The health measurement's schema, also for configs that do not list it.
  const healthMeasurement = cfg.influxdb.healthMeasurement;
  const schemas = {
    ...cfg.influxdb.measurements,
    [healthMeasurement]: cfg.influxdb.measurements[healthMeasurement] ?? HEALTH_MEASUREMENT_SCHEMA,
  };

  // ------------------------------------------------------------------ the store
  let sink: Sink;
  let reader: StoreReader;
  let stats: () => Promise<unknown>;
  let prepare: () => Promise<void>;
  let writeTimeoutMs: (() => number) | undefined;
  if (cfg.storage.backend === 'influxdb') {
    const client = new InfluxClient({
      url: cfg.backing.influxdb.url,
      credentials: credentialsFromEnv(cfg.backing.influxdb.credentials, env),
      requestTimeoutMs: cfg.influxdb.requestTimeoutMs,
      gzip: sc.gzip,
    });
    const influxSink = new InfluxSink({ client, database: cfg.influxdb.database, measurements: schemas, log: sinkLog });
    writeTimeoutMs = () => client.writeTimeoutMs;
    const admin = new InfluxAdmin({ client, influxdb: cfg.influxdb });
    sink = influxSink;
    reader = new InfluxReader({ client, database: cfg.influxdb.database, retentionPolicy: sc.retentionPolicy, sink });
    stats = () => admin.stats();
    prepare = async () => {
      await influxSink.open();
      // Idempotent: the database and policies the writes need (normally made by `nbpy retention create`).
      const { changed } = await admin.create();
      if (changed.length) log.info({ changed }, 'created InfluxDB database / retention policies');
    };
  } else {
    const file = embeddedFileFor(cfg, name);
    const embedded = new EmbeddedSink({
      path: file,
      measurements: schemas,
      retentionPolicies: cfg.influxdb.retentionPolicies,
      logger: { warn: (o, m) => log.warn(o, m) },
    });
    const admin = new EmbeddedRetentionAdmin(embedded, { retentionPolicies: cfg.influxdb.retentionPolicies });
    sink = embedded;
    reader = new EmbeddedReader(embedded);
    stats = () => admin.stats();
    prepare = async () => {
      await embedded.open();
      await admin.create();
    };
    log.info({ file }, 'embedded store: this subscriber owns its DuckDB file');
  }

  let storeAnswered = false;
  try {
    await prepare();
    storeAnswered = true;
  } catch (e) {
    const err = e as NbpyError;
    if (err.retriable === false && err.code !== undefined && !/ECONN|TIMEOUT|NETWORK/i.test(err.code)) {
      log.fatal({ code: err.code }, `store setup failed: ${err.message}`);
      await new Promise((r) => setTimeout(r, 50));
      return 1;
    }
    log.warn({ code: err.code }, `store not reachable at start (${err.message}); records will be spooled until it answers`);
  }

  const pipeline = new StoragePipeline({
    sink,
    target,
    batchSize: sc.batchSize,
    flushIntervalMs: sc.flushIntervalMs,
    // The first batch after a start goes at once (`nbpy start` validates that data reaches the store).
    firstBatchMs: 100,
    maxBatchBytes: sc.maxBatchBytes,
    maxHeldBytes: sc.maxHeldBytes,
    spoolDir: spoolDirFor(cfg, name),
    spoolMaxBytes: sc.spoolMaxBytes,
    overflowAfterMs: sc.overflowAfterMs,
    log: sinkLog,
    onDurable: (records) => durableMark.durable(records),
  });
  /** What of the recovery-managed sessions is safe in the store: the resume point persisted below. */
  const durableMark = new DurableWatermark();

  // ------------------------------------------------------------------ the bus
  // Everything a publisher sent before this subscriber got its first record counts as missing (and
  // is asked for from the publisher's journal): a subscriber exists to store all of it.
  const tracker = new SequenceTracker({ reportHead: true });
  const lastEventUs = new Map<string, number>();
  const topics = new Map<string, TopicStats>();
  let recordsIn = 0;
  let seqGapRecords = 0;
  /** The last data record read per publisher session (the context of a gap record at the stop). */
  const lastRecord = new Map<string, BusRecord>();
  const topicSessions = new Map<string, Set<string>>();
  const curveKeys = curveClientKeys(cfg.bus.curve, env);
  const bus = new BusSubscriber({
    endpoints,
    topics: sc.topics,
    rcvHwm: sc.rcvHwm,
    maxMessageBytes: cfg.bus.maxMessageBytes,
    curve: curveKeys,
    onDecodeError: (err, hex) =>
      log.warn({ sample_hex: hex }, `undecodable bus payload skipped (${err.message}); further ones are only counted`),
  });
  const covers = (topic: string) => sc.topics.some((t) => topic.startsWith(t));

  // ------------------------------------------------------------------ gap recovery (docs/RECOVERY.md)
  // Publishers with a retransmitPort: holes are requested from their journal and released in order;
  // what the journal no longer has becomes a gap record. Others: holes are stored as gaps at once.
  const retransmitters = new Map<string, RetransmitClient>();
  const unmanaged = { gaps: 0, records: 0 };
  let pipelineOpen = true;
  const recoveryFile = recoveryStateFile(cfg, name);
  const recovery = sc.recovery.enabled
    ? new GapRecovery({
        holdTimeoutMs: sc.recovery.holdTimeoutMs,
        maxHeldRecords: sc.recovery.maxHeldRecords,
        nowMs: () => clock.monoMs(),
        onRequest: (req) => {
          retransmitters.get(req.publisher)?.request(req.session, req.first, req.last);
          log.info({ ...req }, 'sequence hole: requesting retransmission');
        },
        gapRecord: (l) => {
          seqGapRecords++;
          log.warn(
            { publisher: l.publisher, session: l.session, first: l.first, last: l.last, topic: l.context.topic, cause: l.cause },
            `sequence gap not recoverable (${LOST_CAUSE_TEXT[l.cause]}): stored as a gap`,
          );
          return sequenceGapRecord(l.context, l.first, l.last, l.prevEventUs, name, clock.nowUs());
        },
      })
    : undefined;
  /** Woken whenever held records may have been released (the bus loop waits on it while over maxHeldBytes). */
  let onRelease: (() => void) | undefined;
  const releaseRecovered = () => {
    const out = recovery?.take() ?? [];
    if (out.length && pipelineOpen) {
      durableMark.released(out);
      pipeline.push(out);
    }
    onRelease?.();
  };
  if (recovery) {
    for (const p of pubs) {
      if (p.retransmitPort === undefined) continue;
      retransmitters.set(
        p.name,
        new RetransmitClient({
          endpoint: tcpEndpoint(p.connectHost, p.retransmitPort),
          onReply: (rep) => {
            recovery.recovered(rep.session, rep.records);
            recovery.unavailable(rep.session, rep.unavailable);
            releaseRecovered();
          },
          onError: (e) => log.warn({ publisher: p.name }, `retransmission reply skipped: ${e.message}`),
          onReset: (waitedMs) =>
            log.warn(
              { publisher: p.name, waited_ms: Math.round(waitedMs) },
              'retransmission: no reply to a request; asking again on a new connection',
            ),
          onConnectionEvent: (event, address, error) =>
            log.info({ publisher: p.name, event, address, error }, `retransmission connection: ${event}`),
          curve: curveKeys,
        }),
      );
    }
    // Our own restart: resume the sessions we had released up to, so what was published while we were
    // down is requested as soon as the next record of that session arrives.
    for (const x of readRecoveryState(recoveryFile)) {
      if (!retransmitters.has(x.publisher)) continue;
      tracker.seed(x.session, x.publisher, x.last);
      recovery.seed(x.session, x.publisher, x.last);
    }
  }
  const saveRecovery = () => {
    if (!recovery) return;
    try {
      // Resume from what the store has (or the spool), not from what was merely released: records
      // still in memory when this process is killed are asked for again after the restart.
      writeRecoveryState(
        recoveryFile,
        recovery
          .released()
          .filter((x) => retransmitters.has(x.publisher))
          .map((x) => ({ ...x, last: durableMark.bound(x.session, x.last) })),
      );
    } catch (e) {
      log.warn({}, `cannot write ${recoveryFile}: ${(e as Error).message}`);
    }
  };
  let ticks = 0;
  const recoveryTimer = recovery
    ? setInterval(() => {
        recovery.tick();
        releaseRecovered();
        if (++ticks % 4 === 0) saveRecovery();
      }, 250)
    : undefined;
  recoveryTimer?.unref();
  const topicStats = (topic: string): TopicStats => {
    let t = topics.get(topic);
    if (!t) topics.set(topic, (t = { records: 0, last_mono_ms: -1, gaps: 0, missing: 0 }));
    return t;
  };

  // ------------------------------------------------------------------ status
  const registry = createRegistry(name);
  const st = () => pipeline.stats();
  mirrorCounter(registry, 'nbpy_records_in_total', 'data records received from the bus', () => recordsIn);
  mirrorCounter(registry, 'nbpy_points_written_total', 'points the store accepted', () => st().points_written);
  mirrorCounter(
    registry,
    'nbpy_batches_total',
    'batches by outcome',
    () => ({ ok: st().batches_ok, failed: st().batches_failed, retried: st().batches_retried }),
    'reason',
    ['ok', 'failed', 'retried'],
  );
  mirrorCounter(
    registry,
    'nbpy_points_dropped_total',
    'points dropped, by reason',
    () => st().dropped_by_reason as Record<string, number>,
    'reason',
    DROP_REASONS,
  );
  mirrorCounter(registry, 'nbpy_store_outages_total', 'times the store became unreachable', () => st().outage_count);
  mirrorCounter(
    registry,
    'nbpy_store_overflows_total',
    'times the store was slower than the bus for overflowAfterMs and batches went to the spool',
    () => st().overflows,
  );
  mirrorGauge(registry, 'nbpy_queue_depth', 'records held in memory', () => st().queue_depth);
  mirrorGauge(
    registry,
    'nbpy_held_bytes',
    'estimated heap bytes of the records held in memory (bound: maxHeldBytes)',
    () => st().held_bytes,
  );
  mirrorGauge(registry, 'nbpy_spool_bytes', 'bytes in the durable outage spool', () => st().spool_bytes);
  mirrorGauge(registry, 'nbpy_write_latency_ms', 'latency of the last batch write, ms', () => st().last_write_latency_ms);
  mirrorGauge(registry, 'nbpy_write_window', 'store writes allowed at once now (halved on a failed write)', () => st().write_window);
  mirrorGauge(registry, 'nbpy_lag_ms', 'venue event time of the newest written record -> now, ms', () => st().lag_ms);
  mirrorGauge(registry, 'nbpy_store_up', '1 while the store answers', () => (st().store_up ? 1 : 0));
  mirrorCounter(registry, 'nbpy_bus_seq_gaps_total', 'sequence holes seen on the bus', () => tracker.gaps);
  mirrorCounter(registry, 'nbpy_bus_seq_missing_total', 'records missing inside sequence holes', () => tracker.missing);
  mirrorCounter(registry, 'nbpy_bus_decode_errors_total', 'undecodable bus payloads', () => bus.stats.decode_errors);
  const rs = () => {
    const r = recovery?.snapshot();
    return {
      recovered_gaps: r?.gaps_recovered ?? 0,
      unrecovered_gaps: (r?.gaps_unrecovered ?? 0) + unmanaged.gaps,
      recovered_records: r?.records_recovered ?? 0,
      unrecovered_records: (r?.records_unrecovered ?? 0) + unmanaged.records,
      held_records: r?.held ?? 0,
      duplicate_records: r?.duplicates ?? 0,
      repeated_requests: r?.requests_repeated ?? 0,
    };
  };
  mirrorCounter(
    registry,
    'nbpy_bus_gaps_recovered_total',
    'sequence holes fully recovered from publisher journals',
    () => rs().recovered_gaps,
  );
  mirrorCounter(registry, 'nbpy_bus_records_recovered_total', 'records recovered by retransmission', () => rs().recovered_records);
  mirrorCounter(registry, 'nbpy_bus_gaps_unrecovered_total', 'sequence gaps stored as gap records', () => rs().unrecovered_gaps);
  mirrorCounter(registry, 'nbpy_bus_records_unrecovered_total', 'records lost inside stored sequence gaps', () => rs().unrecovered_records);
  mirrorGauge(registry, 'nbpy_bus_records_held', 'records held back behind open sequence holes', () => rs().held_records);
  mirrorCounter(registry, 'nbpy_retransmit_resets_total', 'retransmission connections replaced after no reply', () =>
    [...retransmitters.values()].reduce((n, c) => n + c.stats.resets, 0),
  );

  let ready = false;
  let stopping = false;
  const health = () => {
    const s = st();
    const status: 'ok' | 'degraded' | 'down' = stopping ? 'degraded' : !s.store_up || !ready ? 'degraded' : 'ok';
    return {
      service: name,
      kind: 'subscriber',
      ready,
      status,
      backend: cfg.storage.backend,
      store_up: s.store_up,
      records_in: recordsIn,
      points_written: s.points_written,
      queue_depth: s.queue_depth,
      held_bytes: s.held_bytes,
      spool_bytes: s.spool_bytes,
      spool_batches: s.spool_batches,
      dropped_by_reason: s.dropped_by_reason,
      batches: { ok: s.batches_ok, failed: s.batches_failed, retried: s.batches_retried },
      outages: s.outage_count,
      overflows: s.overflows,
      write_latency_ms: s.last_write_latency_ms,
      write_window: s.write_window,
      ...(writeTimeoutMs ? { write_timeout_ms: writeTimeoutMs() } : {}),
      lag_ms: s.lag_ms,
      seq_gaps: tracker.gaps,
      seq_missing: tracker.missing,
      seq_gap_records: seqGapRecords,
      ...rs(),
      retransmit: Object.fromEntries([...retransmitters].map(([pub, c]) => [pub, { ...c.stats }])),
      decode_errors: bus.stats.decode_errors,
      sessions: tracker.sessionCount(),
      endpoints,
      topics: Object.fromEntries(
        [...topics].map(([t, v]) => [
          t,
          {
            records: v.records,
            last_record_age_ms: v.last_mono_ms < 0 ? -1 : Math.round(clock.monoMs() - v.last_mono_ms),
            gaps: v.gaps,
            missing: v.missing,
          },
        ]),
      ),
    };
  };
  const status = await startStatusServer({
    host: sc.bindHost === '0.0.0.0' ? '0.0.0.0' : '127.0.0.1',
    port: sc.port,
    registry,
    token: env.NBPY_STATUS_TOKEN,
    health,
    routes: storeRoutes(reader, { measurements, stats }),
  }).catch((e: Error) => {
    bus.close();
    throw new UsageError(`subscribers.${name}: ${e.message}`);
  });

  // Ready: the bus socket is connecting (ZeroMQ reconnects by itself) and the store answered, or the
  // spool is open to take everything while it does not.
  ready = true;
  signalReady(env);
  log.info(
    {
      endpoints,
      topics: sc.topics,
      backend: cfg.storage.backend,
      store_up: storeAnswered,
      status_port: status.port,
      instance: randomUUID(),
    },
    'subscriber ready',
  );

  // ------------------------------------------------------------------ pipeline health into the store
  // Best effort (docs/HEALTH.md "Pipeline health in the store"): written beside the data, not spooled.
  const healthWriter = new HealthWriter({
    sink,
    service: name,
    measurement: healthMeasurement,
    retentionPolicy: sc.retentionPolicy,
    clock,
    onError: (e) => log.debug({}, `health point not written: ${e.message}`),
  });
  const rates = new RateMeter();
  healthWriter.start(() => {
    const s = st();
    const nowMs = clock.monoMs();
    const drops = Object.values(s.dropped_by_reason as Record<string, number>).reduce((a, n) => a + n, 0);
    return [...new Set(pubs.map((p) => p.topic))].map((topic) => {
      const t = topicStats(topic);
      return {
        topic,
        records_per_s: rates.rate(topic, t.records, nowMs),
        lag_ms: s.lag_ms ?? 0,
        gaps: t.gaps,
        drops,
        restarts: Math.max(0, (topicSessions.get(topic)?.size ?? 0) - 1),
        queue_depth: s.queue_depth,
        spool_bytes: s.spool_bytes,
      };
    });
  }, HEALTH_POINT_INTERVAL_MS);

  // ------------------------------------------------------------------ stop
  // A stop first reads what the publishers already sent and this subscriber has not read yet (behind a
  // slow store it can be many seconds of records, in ZeroMQ's queues in this very process): without
  // that, `nbpy stop` (publishers first, then subscribers) would lose them. It reads until each
  // publisher is caught up (a heartbeat sent after the stop began has arrived: everything it sent
  // before is in) or quiet (nothing from it for DRAIN_QUIET_MS: stopped and drained), at most a third
  // of shutdown.phaseTimeoutMs; what the store cannot take meanwhile goes to the spool.
  let resolveStop: () => void = () => {};
  const stopped = new Promise<void>((r) => (resolveStop = r));
  const drain = new StopDrain({
    publishers: pubs.map((p) => p.name),
    quietMs: DRAIN_QUIET_MS,
    maxMs: Math.max(DRAIN_QUIET_MS * 2, cfg.shutdown.phaseTimeoutMs / 3),
  });
  let drainTimer: NodeJS.Timeout | undefined;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    drain.begin(clock.monoMs(), clock.nowUs());
    log.info({ signal }, 'stopping: reading what the publishers already sent, then flushing what is held');
    pipeline.drainToSpool();
    drainTimer = setInterval(() => {
      const now = clock.monoMs();
      const state = drain.state(now);
      if (state === 'reading') return;
      if (state === 'limit')
        log.warn(
          { waited_ms: Math.round(drain.elapsedMs(now)), still_sending: drain.pending(now) },
          'stopping: publishers still sending; bus intake closed at the drain limit',
        );
      clearInterval(drainTimer);
      bus.close();
    }, 50);
    resolveStop();
  };
  const onTerm = () => stop('SIGTERM');
  const onInt = () => stop('SIGINT');
  process.once('SIGTERM', onTerm);
  process.once('SIGINT', onInt);

  // ------------------------------------------------------------------ the loop
  let heldRecordBytes = 0;
  try {
    for await (const batch of bus.batches()) {
      const data: BusRecord[] = [];
      const now = clock.monoMs();
      for (const r of batch) {
        drain.observe(r, now);
        const managed = recovery !== undefined && retransmitters.has(r.publisher);
        for (const ev of tracker.observe(r, covers)) {
          if (ev.type === 'gap' && ev.first !== undefined && ev.last !== undefined) {
            const topic = r.kind === 'heartbeat' ? r.data_topic : r.topic;
            const t = topicStats(topic);
            t.gaps++;
            t.missing += ev.last - ev.first + 1;
            if (managed) {
              recovery.hole(ev.session, ev.publisher, ev.first, ev.last, r.kind === 'heartbeat' ? { ...r, topic } : r);
              continue;
            }
            unmanaged.gaps++;
            unmanaged.records += ev.last - ev.first + 1;
            seqGapRecords++;
            data.push(
              sequenceGapRecord(
                r.kind === 'heartbeat' ? { ...r, topic } : r,
                ev.first,
                ev.last,
                lastEventUs.get(r.session) ?? 0,
                name,
                clock.nowUs(),
              ),
            );
            log.warn({ publisher: ev.publisher, session: ev.session, first: ev.first, last: ev.last, topic }, 'sequence gap on the bus');
          }
        }
        if (r.kind === 'heartbeat') continue;
        const t = topicStats(r.topic);
        let sessions = topicSessions.get(r.topic);
        if (!sessions) topicSessions.set(r.topic, (sessions = new Set()));
        sessions.add(r.session);
        t.records++;
        t.last_mono_ms = now;
        lastEventUs.set(r.session, r.ts_event_us);
        lastRecord.set(r.session, r);
        recordsIn++;
        if (managed) recovery.accept(r);
        else data.push(r);
      }
      if (recovery) {
        const released = recovery.take();
        durableMark.released(released);
        for (const x of released) data.push(x);
      }
      if (data.length) pipeline.push(data);
      // Backpressure: do not read the socket again until the pipeline has room (or the store is down).
      await Promise.race([pipeline.waitForCapacity(), stopped]);
      // Records held behind an open sequence hole count against the same memory bound: while they
      // fill it, stop reading (the hole is closed by the retransmit socket or the hold timeout).
      if (recovery && batch.length) heldRecordBytes = estimateHeapBytes(batch[batch.length - 1]!);
      while (recovery && !stopping && recovery.snapshot().held * heldRecordBytes > sc.maxHeldBytes)
        await Promise.race([new Promise<void>((r) => (onRelease = r)), stopped]);
      onRelease = undefined;
    }
  } catch (e) {
    if (!stopping) log.error({}, `bus receive failed: ${(e as Error).message}`);
  }
  clearInterval(drainTimer);
  bus.close();
  if (recoveryTimer) clearInterval(recoveryTimer);
  await Promise.all([...retransmitters.values()].map((c) => c.close()));
  // Publishers that stopped cleanly (their session file on this host says so) answer no retransmission
  // requests any more; what they saved of their journal at the stop is all there is of those sessions.
  const finals = new Map(pubs.map((p) => [p.name, stopping ? readSessionFile(cfg, p.name) : undefined]));
  /** Sessions of cleanly stopped publishers that this run read (a seeded resume point is not a read). */
  const endedHere = (f: FinalSeq | undefined): f is FinalSeq => f?.clean_stop === true && lastRecord.has(f.session);
  const savedJournals = new Map<string, ReturnType<typeof openJournalFile>>();
  const savedJournal = (publisher: string) => {
    if (!savedJournals.has(publisher)) savedJournals.set(publisher, openJournalFile(cfg, publisher));
    return savedJournals.get(publisher);
  };
  // Taking records from saved journals may last until half the phase has gone since the stop began
  // (the drain included), so the flush below still ends by three quarters of it: the supervisor kills
  // at the phase limit.
  const recoverUntil = clock.monoMs() + Math.max(0, cfg.shutdown.phaseTimeoutMs / 2 - drain.elapsedMs(clock.monoMs()));
  const takeIo = (push: (records: BusRecord[]) => void) => ({
    push,
    roomFor: () => pipeline.heldBytes <= sc.maxHeldBytes,
    deadlineReached: () => clock.monoMs() >= recoverUntil,
  });
  let recoveredAtStop = 0;
  let unreadRecords = 0;
  try {
    if (recovery) {
      // Holes still open in such a session are filled from the saved journal where it can, and the rest
      // become gap records now, with what was held behind them released: waiting for an answer that will
      // not come would drop them without a word.
      if (pipelineOpen)
        for (const [publisher, f] of finals) {
          if (!endedHere(f)) continue;
          const open = recovery.openRange(f.session);
          if (open) {
            const { recovered } = await takeFromSavedJournal(
              savedJournal(publisher),
              { session: f.session, first: open[0], last: open[1] },
              takeIo((records) => {
                recovery.recovered(f.session, records);
                releaseRecovered();
              }),
            );
            recoveredAtStop += recovered;
          }
          recovery.ended(f.session);
        }
      releaseRecovered();
      const held = recovery.snapshot().held;
      // Records still held (behind a hole of a publisher that may still run) are not stored now: the
      // saved resume point (below, once the pipeline is flushed) makes the next run ask its journal.
      if (held) log.warn({ held, open_holes: recovery.openHoles() }, 'stopping with records held behind an open sequence hole');
    }
    // What a cleanly stopped publisher published and this subscriber never read (the drain limit closed
    // the intake first, or the publisher's linger ran out): taken from the journal the publisher saved
    // at its stop, on this host; what that lacks (or what time does not allow) is stored as a gap with
    // its exact range, ending when the publisher stopped.
    if (stopping && pipelineOpen) {
      for (const u of unreadAtStop(
        pubs.map((p) => p.name),
        (p) => {
          const f = finals.get(p);
          return endedHere(f) ? f : undefined;
        },
        (session) => tracker.lastSeq(session),
      )) {
        const pc = pubs.find((p) => p.name === u.publisher)!;
        const t = topicStats(pc.topic);
        const { recovered, lastTaken, missing } = await takeFromSavedJournal(
          savedJournal(u.publisher),
          u,
          takeIo((records) => pipeline.push(records)),
        );
        recoveredAtStop += recovered;
        t.records += recovered;
        if (lastTaken) {
          lastEventUs.set(u.session, lastTaken.ts_event_us);
          log.info(
            { publisher: u.publisher, session: u.session, first: u.first, last: lastTaken.seq, recovered },
            'stopping: read what the bus did not bring from the journal the publisher saved at its stop',
          );
        }
        for (const [first, last, cause] of missing) {
          const context = { ...lastRecord.get(u.session)!, ts_event_us: u.endUs };
          const n = last - first + 1;
          unreadRecords += n;
          seqGapRecords++;
          t.gaps++;
          t.missing += n;
          log.warn(
            { publisher: u.publisher, session: u.session, first, last, records: n, cause },
            'stopping: the publisher stopped before this subscriber read the rest of its session; stored as a gap',
          );
          pipeline.push([sequenceGapRecord(context, first, last, lastEventUs.get(u.session) ?? 0, name, clock.nowUs())]);
        }
      }
    }
  } finally {
    // Open saved journals are closed however the stop goes.
    for (const j of savedJournals.values()) j?.close();
  }
  pipelineOpen = false;
  await healthWriter.stop();

  // ------------------------------------------------------------------ flush and exit
  // What is left of the phase after the drain (and what the saved journals gave), less a quarter for
  // the spool and the exit.
  const phaseMs = cfg.shutdown.phaseTimeoutMs;
  const t0 = clock.monoMs();
  const flushMs = Math.max(phaseMs / 4, phaseMs * 0.75 - drain.elapsedMs(t0));
  const closed = await pipeline.close({ deadlineMs: flushMs }).then(
    () => true,
    (e: Error) => {
      log.error({}, `flush failed: ${e.message}`);
      return false;
    },
  );
  saveRecovery();
  const s = st();
  log.info(
    {
      flushed_in_ms: Math.round(clock.monoMs() - t0),
      records_in: recordsIn,
      unread_at_stop: unreadRecords,
      recovered_at_stop: recoveredAtStop,
      points_written: s.points_written,
      spool_batches: s.spool_batches,
      spool_bytes: s.spool_bytes,
      dropped_by_reason: s.dropped_by_reason,
    },
    s.spool_batches
      ? 'stopped; the spool keeps what the store did not take (replayed on next start)'
      : 'stopped; everything held was written',
  );
  await sink.close().catch(() => undefined);
  await status.close();
  process.off('SIGTERM', onTerm);
  process.off('SIGINT', onInt);
  log.flush?.();
  return closed ? 0 : 1;
}

export function registerSubscriber(program: Command): void {
  const subscriber = program.command('subscriber').description('bus subscribers that write records into the store');
  subscriber
    .command('run <name>')
    .description('run one subscriber in the foreground (bus -> store), as the service manager does')
    .action(async (name: string, _opts, cmd: Command) => {
      const { config } = loadFromCommand(cmd);
      process.exitCode = await runSubscriber(config, name);
    });
  subscriber
    .command('list')
    .description('list the configured subscribers')
    .option('--json', 'print as JSON')
    .action((_opts, cmd: Command) => {
      const { config } = loadFromCommand(cmd);
      const rows = config.subscribers.map((s) => ({
        name: s.name,
        topics: s.topics.join(','),
        publishers: publishersFor(config, s)
          .map((p) => p.name)
          .join(','),
        status_port: s.port,
        store:
          config.storage.backend === 'embedded'
            ? embeddedFileFor(config, s.name)
            : `${config.backing.influxdb.url} ${config.influxdb.database}.${s.retentionPolicy}`,
      }));
      if (wantsJson(cmd)) printJson(rows);
      else console.log(table(rows));
    });
}
