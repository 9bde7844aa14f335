/**
 * The console's model of the live system (pure state, no I/O): per-topic rates, lag, gaps,
 * sessions and staleness computed from bus records and heartbeats, the services' last /health
 * answers, and a sampler that turns any number of records into at most one chart point per series
 * per sample interval. The server (server.ts) feeds it and pushes its output to browsers; time comes
 * in as arguments so tests drive it without sleeping.
 */
import { HEARTBEAT_TOPIC, type BusRecord } from '../core/records.js';
import { SequenceTracker } from '../core/sequence.js';

/** What the console knows up front about a service (from the config). */
export interface ServiceSpec {
  name: string;
  kind: 'publisher' | 'subscriber';
  /** `http://127.0.0.1:16558/health` */
  healthUrl: string;
  /** Publishers: their data topic. */
  topic?: string;
  venue?: string;
}

export interface ConsoleModelOptions {
  /** A topic with no record and no heartbeat for this long is STALE (default 5000). */
  staleAfterMs?: number;
  /** Most distinct chart series kept; further ones are counted in `series_dropped` (default 256). */
  maxSeries?: number;
  /** Consecutive failed /health polls after which a service that answered before is STALE (default 2). */
  healthFailuresForStale?: number;
}

/** One chart series: a price of one instrument on one topic. */
export interface SeriesDef {
  id: number;
  topic: string;
  instrument: string;
  /** `mid`, `bid`, `ask`, `price`, `back`, `lay`. */
  field: string;
}

/** One sampled point: [series id, time ms (receive time), value]. */
export type Point = [number, number, number];

export interface PointsBatch {
  /** Series first seen since the previous batch. */
  defs: SeriesDef[];
  points: Point[];
}

export type TopicState = 'ok' | 'waiting' | 'stale';

export interface TopicSnapshot {
  topic: string;
  venue: string;
  publishers: string[];
  state: TopicState;
  /** Why it is stale (empty when not). */
  stale_reason: string;
  records: number;
  rate_per_s: number;
  /** Mean now - ts_event_us over the last interval (ms); null without records in it. */
  lag_ms: number | null;
  /** Mean now - ts_recv_us over the last interval (ms): venue receive to console. */
  recv_lag_ms: number | null;
  /** Gap records published (reconnects, checksum, ...), by reason. */
  gaps: number;
  gap_reasons: Record<string, number>;
  /** Holes in seq seen on the bus by the console itself. */
  seq_gaps: number;
  seq_missing: number;
  sessions: number;
  last_record_age_ms: number | null;
  last_heartbeat_age_ms: number | null;
  /** The venue connection state from the last heartbeat (null before one). */
  connected: boolean | null;
}

export type ServiceState = 'ok' | 'degraded' | 'down' | 'stale' | 'waiting';

export interface ServiceSnapshot {
  name: string;
  kind: 'publisher' | 'subscriber';
  url: string;
  /** `stale` = the process did not answer /health. */
  state: ServiceState;
  ready: boolean | null;
  restarts: number | null;
  detail: string;
  last_answer_age_ms: number | null;
  /** The last /health body (null before one). */
  health: Record<string, unknown> | null;
}

interface TopicAcc {
  topic: string;
  venue: string;
  publishers: Set<string>;
  records: number;
  recordsAtTick: number;
  rate: number;
  lagSum: number;
  recvLagSum: number;
  lagN: number;
  lag: number | null;
  recvLag: number | null;
  gaps: number;
  gapReasons: Record<string, number>;
  tracker: SequenceTracker;
  lastRecordMs: number | null;
  lastHbMs: number | null;
  connected: boolean | null;
  publisherService?: string;
}

interface ServiceAcc {
  spec: ServiceSpec;
  lastAnswerMs: number | null;
  lastCheckMs: number | null;
  ok: boolean | null;
  failures: number;
  error: string;
  health: Record<string, unknown> | null;
}

const num = (s: string | null | undefined): number | null => {
  if (s === null || s === undefined) return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
};

/** The prices a record contributes to the charts (field -> value). */
export function chartValues(r: BusRecord): [string, number][] {
  switch (r.kind) {
    case 'tick': {
      const bid = num(r.bid);
      const ask = num(r.ask);
      if (bid !== null && ask !== null) return [['mid', (bid + ask) / 2]];
      const last = num(r.last) ?? bid ?? ask;
      return last === null ? [] : [['mid', last]];
    }
    case 'depth': {
      const out: [string, number][] = [];
      const bid = num(r.bids[0]?.[0]);
      const ask = num(r.asks[0]?.[0]);
      if (bid !== null) out.push(['bid', bid]);
      if (ask !== null) out.push(['ask', ask]);
      return out;
    }
    case 'trade': {
      const p = num(r.price);
      return p === null ? [] : [['price', p]];
    }
    case 'runner': {
      const out: [string, number][] = [];
      const back = num(r.back[0]?.[0]);
      const lay = num(r.lay[0]?.[0]);
      if (back !== null) out.push(['back', back]);
      if (lay !== null) out.push(['lay', lay]);
      return out;
    }
    default:
      return [];
  }
}

export class ConsoleModel {
  private readonly topics = new Map<string, TopicAcc>();
  private readonly services = new Map<string, ServiceAcc>();
  private readonly series = new Map<string, SeriesDef>();
  private readonly newDefs: SeriesDef[] = [];
  /** Latest value per series since the last flush (the sample): id -> [t, v]. */
  private readonly pending = new Map<number, [number, number]>();
  private readonly staleAfterMs: number;
  private readonly maxSeries: number;
  private readonly failuresForStale: number;
  private lastTickMs: number;
  readonly totals = { records_in: 0, heartbeats_in: 0, series_dropped: 0, points_sampled: 0 };

  constructor(
    services: ServiceSpec[],
    private readonly startMs: number,
    opts: ConsoleModelOptions = {},
  ) {
    this.staleAfterMs = opts.staleAfterMs ?? 5000;
    this.maxSeries = opts.maxSeries ?? 256;
    this.failuresForStale = opts.healthFailuresForStale ?? 2;
    this.lastTickMs = startMs;
    for (const s of services) {
      this.services.set(s.name, { spec: s, lastAnswerMs: null, lastCheckMs: null, ok: null, failures: 0, error: '', health: null });
      if (s.kind === 'publisher' && s.topic) {
        const t = this.topic(s.topic, s.venue ?? '');
        t.publishers.add(s.name);
        t.publisherService = s.name;
      }
    }
  }

  private topic(name: string, venue: string): TopicAcc {
    let t = this.topics.get(name);
    if (!t) {
      t = {
        topic: name,
        venue,
        publishers: new Set(),
        records: 0,
        recordsAtTick: 0,
        rate: 0,
        lagSum: 0,
        recvLagSum: 0,
        lagN: 0,
        lag: null,
        recvLag: null,
        gaps: 0,
        gapReasons: {},
        tracker: new SequenceTracker(),
        lastRecordMs: null,
        lastHbMs: null,
        connected: null,
      };
      this.topics.set(name, t);
    }
    if (!t.venue) t.venue = venue;
    return t;
  }

  /** Feed a batch of records received at `nowMs` (wall clock). */
  observe(records: readonly BusRecord[], nowMs: number): void {
    const nowUs = nowMs * 1000;
    for (const r of records) {
      if (r.kind === 'heartbeat' || r.topic === HEARTBEAT_TOPIC) {
        if (r.kind !== 'heartbeat') continue;
        this.totals.heartbeats_in++;
        const t = this.topic(r.data_topic, r.venue);
        t.publishers.add(r.publisher);
        t.lastHbMs = nowMs;
        t.connected = r.connected;
        t.tracker.observe(r);
        continue;
      }
      this.totals.records_in++;
      const t = this.topic(r.topic, r.venue);
      if (!t.publishers.has(r.publisher)) t.publishers.add(r.publisher);
      t.records++;
      t.lastRecordMs = nowMs;
      t.lagSum += (nowUs - r.ts_event_us) / 1000;
      t.recvLagSum += (nowUs - r.ts_recv_us) / 1000;
      t.lagN++;
      t.tracker.observe(r);
      if (r.kind === 'gap') {
        t.gaps++;
        t.gapReasons[r.reason] = (t.gapReasons[r.reason] ?? 0) + 1;
        continue;
      }
      const values = chartValues(r);
      if (values.length === 0) continue;
      const tMs = Math.floor(r.ts_recv_us / 1000);
      for (const [field, v] of values) {
        const id = this.seriesId(r.topic, r.instrument, field);
        if (id === null) continue;
        this.pending.set(id, [tMs, v]);
      }
    }
  }

  private seriesId(topic: string, instrument: string, field: string): number | null {
    const key = `${topic}\u0000${instrument}\u0000${field}`;
    const got = this.series.get(key);
    if (got) return got.id;
    if (this.series.size >= this.maxSeries) {
      this.totals.series_dropped++;
      return null;
    }
    const def: SeriesDef = { id: this.series.size + 1, topic, instrument, field };
    this.series.set(key, def);
    this.newDefs.push(def);
    return def.id;
  }

  /**
   * Take the sample: the latest value of every series updated since the previous call (so at most
   * one point per series per call, however many records arrived), and the series defined since.
   */
  flushPoints(): PointsBatch {
    const points: Point[] = [];
    for (const [id, [t, v]] of this.pending) points.push([id, t, v]);
    this.pending.clear();
    this.totals.points_sampled += points.length;
    const defs = this.newDefs.splice(0);
    return { defs, points };
  }

  /** Every series defined so far (for a browser that connects late). */
  allSeries(): SeriesDef[] {
    return [...this.series.values()];
  }

  /** Close the rate/lag interval (call about once a second). */
  tick(nowMs: number): void {
    const dt = (nowMs - this.lastTickMs) / 1000;
    this.lastTickMs = nowMs;
    for (const t of this.topics.values()) {
      if (dt > 0) t.rate = (t.records - t.recordsAtTick) / dt;
      t.recordsAtTick = t.records;
      t.lag = t.lagN ? t.lagSum / t.lagN : null;
      t.recvLag = t.lagN ? t.recvLagSum / t.lagN : null;
      t.lagSum = t.recvLagSum = t.lagN = 0;
    }
  }

  /** Record the outcome of one /health poll: the parsed body, or the error when it did not answer. */
  serviceHealth(name: string, nowMs: number, result: { body: Record<string, unknown> } | { error: string }): void {
    const s = this.services.get(name);
    if (!s) return;
    s.lastCheckMs = nowMs;
    if ('body' in result) {
      s.ok = true;
      s.failures = 0;
      s.error = '';
      s.health = result.body;
      s.lastAnswerMs = nowMs;
    } else {
      // One slow answer on a loaded machine is not a dead process: stale after consecutive misses.
      s.failures++;
      s.error = result.error;
      if (s.ok === null || s.failures >= this.failuresForStale) s.ok = false;
    }
  }

  private serviceSnapshot(s: ServiceAcc, nowMs: number): ServiceSnapshot {
    const h = s.health;
    let state: ServiceState;
    if (s.ok === null) state = nowMs - this.startMs > this.staleAfterMs ? 'stale' : 'waiting';
    else if (!s.ok) state = 'stale';
    else {
      const st = h?.status;
      state = st === 'ok' || st === 'degraded' || st === 'down' ? st : 'ok';
    }
    const restarts = typeof h?.restarts === 'number' ? h.restarts : null;
    let detail = s.error;
    if (!detail && s.ok === null) detail = 'no answer yet';
    return {
      name: s.spec.name,
      kind: s.spec.kind,
      url: s.spec.healthUrl,
      state,
      ready: s.ok && h ? h.ready === true : null,
      restarts,
      detail,
      last_answer_age_ms: s.lastAnswerMs === null ? null : nowMs - s.lastAnswerMs,
      health: h,
    };
  }

  private topicSnapshot(t: TopicAcc, nowMs: number, services: Map<string, ServiceSnapshot>): TopicSnapshot {
    const lastSeen = Math.max(t.lastRecordMs ?? -Infinity, t.lastHbMs ?? -Infinity);
    const reasons: string[] = [];
    let state: TopicState = 'ok';
    if (!Number.isFinite(lastSeen)) {
      if (nowMs - this.startMs > this.staleAfterMs) reasons.push(`nothing received for ${Math.round((nowMs - this.startMs) / 1000)} s`);
      else state = 'waiting';
    } else if (nowMs - lastSeen > this.staleAfterMs) {
      reasons.push(`no record or heartbeat for ${Math.round((nowMs - lastSeen) / 1000)} s`);
    }
    if (t.connected === false) reasons.push('publisher reports venue disconnected');
    const svc = t.publisherService ? services.get(t.publisherService) : undefined;
    if (svc?.state === 'stale' && svc.detail !== 'no answer yet') reasons.push(`publisher ${svc.name} not answering /health`);
    if (svc?.state === 'down') reasons.push(`publisher ${svc.name} reports down`);
    if (reasons.length) state = 'stale';
    return {
      topic: t.topic,
      venue: t.venue,
      publishers: [...t.publishers],
      state,
      stale_reason: reasons.join('; '),
      records: t.records,
      rate_per_s: Math.round(t.rate * 10) / 10,
      lag_ms: t.lag === null ? null : Math.round(t.lag * 10) / 10,
      recv_lag_ms: t.recvLag === null ? null : Math.round(t.recvLag * 10) / 10,
      gaps: t.gaps,
      gap_reasons: { ...t.gapReasons },
      seq_gaps: t.tracker.gaps,
      seq_missing: t.tracker.missing,
      sessions: t.tracker.sessionCount(),
      last_record_age_ms: t.lastRecordMs === null ? null : nowMs - t.lastRecordMs,
      last_heartbeat_age_ms: t.lastHbMs === null ? null : nowMs - t.lastHbMs,
      connected: t.connected,
    };
  }

  /** The whole picture at `nowMs`. */
  snapshot(nowMs: number): { now_ms: number; topics: TopicSnapshot[]; services: ServiceSnapshot[]; totals: ConsoleModel['totals'] } {
    const services = new Map<string, ServiceSnapshot>();
    for (const s of this.services.values()) services.set(s.spec.name, this.serviceSnapshot(s, nowMs));
    const topics = [...this.topics.values()]
      .sort((a, b) => a.topic.localeCompare(b.topic))
      .map((t) => this.topicSnapshot(t, nowMs, services));
    return { now_ms: nowMs, topics, services: [...services.values()], totals: { ...this.totals } };
  }
}
