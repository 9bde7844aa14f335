/**
 * The message validator's pure parts: tallying what the bus delivered during the window (records
 * per topic, sequence holes within a publisher session, new sessions = publisher restarts) and the
 * verdict over topics, storage and the end-to-end probe. No I/O; times are passed in.
 */
import type { BusRecord } from '../core/records.js';
import { SequenceTracker } from '../core/sequence.js';
import { marketState } from '../health/checks.js';

export interface TopicTally {
  topic: string;
  records: number;
  gaps: number;
  missing: number;
  sessions: Set<string>;
  /** Validator receive time of the last data record (ms, validator clock). */
  lastAtMs: number | null;
  /** The last data record seen (the end-to-end probe traces it into the store). */
  last: BusRecord | null;
}

/** Counts records per topic and sequence holes per publisher session. Heartbeats count for loss, not as records. */
export class BusTally {
  private readonly tracker = new SequenceTracker();
  readonly topics = new Map<string, TopicTally>();
  /** Publisher name -> its data topic (learned from data records and heartbeats). */
  private readonly topicOf = new Map<string, string>();
  heartbeats = 0;

  private tally(topic: string): TopicTally {
    let t = this.topics.get(topic);
    if (!t) this.topics.set(topic, (t = { topic, records: 0, gaps: 0, missing: 0, sessions: new Set(), lastAtMs: null, last: null }));
    return t;
  }

  observe(batch: readonly BusRecord[], atMs: number): void {
    for (const r of batch) {
      const topic = r.kind === 'heartbeat' ? r.data_topic : r.topic;
      this.topicOf.set(r.publisher, topic);
      const t = this.tally(topic);
      t.sessions.add(r.session);
      if (r.kind === 'heartbeat') this.heartbeats++;
      else {
        t.records++;
        t.lastAtMs = atMs;
        t.last = r;
      }
      for (const ev of this.tracker.observe(r)) {
        if (ev.type !== 'gap') continue;
        const gt = this.tally(this.topicOf.get(ev.publisher) ?? topic);
        gt.gaps++;
        gt.missing += (ev.last ?? 0) - (ev.first ?? 0) + 1;
      }
    }
  }
}

export interface TopicReport {
  topic: string;
  records: number;
  rate_per_s: number;
  gaps: number;
  missing: number;
  sessions: number;
  /** Sessions beyond the first seen in the window: publisher restarts. */
  restarts: number;
  flowing: boolean;
  /** Why silence is acceptable (market closed), or why the topic fails. */
  note: string;
}

export interface StorageReport {
  measurement: string;
  /** Points with a time inside the window. */
  points: number | null;
  newest_age_s: number | null;
  fresh: boolean;
  note: string;
}

export interface ProbeReport {
  ok: boolean;
  round_trip_ms: number | null;
  detail: string;
}

export interface ValidateReport {
  ok: boolean;
  mode: 'zmq' | 'influxdb' | 'full';
  window_s: number;
  topics: TopicReport[];
  storage: StorageReport[];
  probe: ProbeReport | null;
  /** One line per failure, naming the topic / measurement. */
  failures: string[];
}

/** Topic reports for the configured topics (and any other topic seen). A closed market's silence is not a failure. */
export function topicReports(
  tally: BusTally,
  configured: readonly { topic: string; venue: string }[],
  windowMs: number,
  nowMs: number,
  /** Betfair market statuses per topic (from the publishers' /health): all suspended = silence expected. */
  betfairStatuses: Readonly<Record<string, readonly string[]>> = {},
): TopicReport[] {
  const out: TopicReport[] = [];
  const seen = new Set<string>();
  for (const c of configured) {
    seen.add(c.topic);
    const t = tally.topics.get(c.topic);
    const records = t?.records ?? 0;
    const market = marketState(c.venue, nowMs, betfairStatuses[c.topic] ?? []);
    const flowing = records > 0;
    out.push({
      topic: c.topic,
      records,
      rate_per_s: round2((records * 1000) / windowMs),
      gaps: t?.gaps ?? 0,
      missing: t?.missing ?? 0,
      sessions: t?.sessions.size ?? 0,
      restarts: Math.max(0, (t?.sessions.size ?? 0) - 1),
      flowing,
      note: flowing ? '' : market.open ? `no records in ${windowMs / 1000}s` : `expected: ${market.note}`,
    });
  }
  for (const t of tally.topics.values()) {
    if (seen.has(t.topic)) continue;
    out.push({
      topic: t.topic,
      records: t.records,
      rate_per_s: round2((t.records * 1000) / windowMs),
      gaps: t.gaps,
      missing: t.missing,
      sessions: t.sessions.size,
      restarts: Math.max(0, t.sessions.size - 1),
      flowing: t.records > 0,
      note: 'not in the config',
    });
  }
  return out;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** The failures that make the validation fail, one line each, naming what failed. */
export function failuresOf(
  report: Pick<ValidateReport, 'topics' | 'storage' | 'probe'>,
  quietTopics: ReadonlySet<string> = new Set(),
): string[] {
  const out: string[] = [];
  for (const t of report.topics) {
    if (!t.flowing && !quietTopics.has(t.topic) && t.note !== 'not in the config' && !t.note.startsWith('expected:'))
      out.push(`topic ${t.topic}: ${t.note || 'no records'}`);
    if (t.gaps > 0) out.push(`topic ${t.topic}: ${t.gaps} sequence gap(s), ${t.missing} record(s) missing`);
  }
  for (const s of report.storage) if (!s.fresh) out.push(`storage ${s.measurement}: ${s.note}`);
  if (report.probe && !report.probe.ok) out.push(`probe: ${report.probe.detail}`);
  return out;
}

/** Storage freshness verdict for one measurement. */
export function storageReport(
  m: { measurement: string; points: number | null; newestUs: number | null; error?: string },
  venues: readonly string[],
  maxNewestAgeS: number,
  nowMs: number,
): StorageReport {
  if (m.error)
    return { measurement: m.measurement, points: null, newest_age_s: null, fresh: false, note: `cannot read the store: ${m.error}` };
  const age = m.newestUs === null ? null : round2(Math.max(0, nowMs / 1000 - m.newestUs / 1e6));
  const closed = venues.length > 0 && venues.every((v) => !marketState(v, nowMs).open);
  if (age !== null && age <= maxNewestAgeS)
    return { measurement: m.measurement, points: m.points, newest_age_s: age, fresh: true, note: '' };
  if (closed)
    return { measurement: m.measurement, points: m.points, newest_age_s: age, fresh: true, note: 'market closed: silence expected' };
  return {
    measurement: m.measurement,
    points: m.points,
    newest_age_s: age,
    fresh: false,
    note: age === null ? 'no recent point in the store' : `newest point ${age}s old (limit ${maxNewestAgeS}s)`,
  };
}
