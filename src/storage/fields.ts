/**
 * Record -> point mapping: the ONE mapping every store uses (InfluxDB line protocol in
 * ./influx/line-protocol.ts, the DuckDB tables in ./embedded/store.ts), so a record lands as the same
 * measurement, tags, fields and point identity in both. Pure: no I/O.
 *
 * POINT IDENTITY (see docs/STORAGE.md). InfluxDB keeps one point per measurement + tag set + timestamp
 * and silently overwrites a repeat; the embedded store's primary key is the same triple. So:
 *
 *   tags      = the measurement's configured tags + `session` (the publisher session UUID)
 *   timestamp = ts_event_us * 1000 + (seq % 1000)   nanoseconds
 *
 * - The identity is a function of the record alone (no state, no arrival order, no batch): the same
 *   record always maps to the same point, so a retried or replayed batch overwrites itself.
 * - Two sessions (two publishers, or one publisher restarted) differ in `session`: never a collision.
 * - Inside one session `seq` is unique, and the sub-microsecond digits carry `seq % 1000`. Two distinct
 *   records of one session and one series collide only when they share the microsecond of event time
 *   AND their seqs differ by a multiple of 1000. BOUND: that needs >= 1000 records of one session
 *   and series in one microsecond of event time (more precisely: 1001 seqs of the session spanning
 *   records of one series and one µs). Real feeds come nowhere near: one venue frame yields a few
 *   records per series. Beyond the bound the later record overwrites the earlier one, in both stores
 *   alike; no within-batch shifting is done (it would make the identity depend on the batch).
 *
 * VALUES. A field is read under its schema name (depth `bids`/`asks` -> `bid_N_price`/`bid_N_qty`,
 * `ask_N_...`; runner `back`/`lay` -> `back_N_...`, `lay_N_...`); null or absent -> left out. Typed by
 * the schema: a float stays the venue's decimal text (`"1797.30"`; normalised to have a digit on both
 * sides of the point) so no store rounds it through a binary float on the way (InfluxDB parses the
 * text; DuckDB converts it once to DOUBLE); integers are safe JS integers; booleans; strings.
 *
 * DROPS (counted by reason by the sink, one sample logged per reason):
 * - no measurement for the kind, or no schema for the measurement -> `no_measurement`;
 * - ts_event_us or seq not a non-negative safe integer, a value that cannot take its schema type,
 *   a record with none of the schema's fields, or a tag value InfluxDB 1.x line protocol cannot
 *   express (a backslash before `,`, `=`, space or at the end) -> `invalid_record`. The same rule in
 *   both stores, so the two never disagree on what was stored.
 */
import type { BusRecord } from '../core/records.js';
import type { FieldType, MeasurementSchema } from '../config/schema.js';
import type { DropReason, WriteTarget } from './sink.js';

/** The tag added to every point so that distinct publisher sessions never share a point identity. */
export const SESSION_TAG = 'session';

/** float -> decimal text; integer -> number; boolean; string. */
export type FieldValue = number | string | boolean;

/** One point, ready for a store. */
export interface Point {
  measurement: string;
  /** Configured tag values (not `session`); a tag the record has no (or an empty) value for is absent. */
  tags: Record<string, string>;
  /** Typed per the measurement schema (see the file comment). */
  fields: Record<string, FieldValue>;
  /** Venue event time, µs since epoch (`ts_event_us`), exact. */
  timeUs: number;
  /** Publisher session: part of the identity (a tag in InfluxDB, a key column in DuckDB). */
  session: string;
  seq: number;
}

export type PointResult = { ok: true; point: Point } | { ok: false; reason: DropReason; detail: string };

/** Record kinds that go to the events measurement rather than `target.measurements`. */
const EVENT_KINDS: ReadonlySet<string> = new Set(['gap', 'status']);

/**
 * The measurement a record goes to under `target`, or null (dropped as `no_measurement`).
 * `target.measurements[kind]` wins; gap and status default to `target.eventsMeasurement`.
 */
export function measurementFor(record: Pick<BusRecord, 'kind'>, target: WriteTarget): string | null {
  const explicit = Object.hasOwn(target.measurements, record.kind) ? target.measurements[record.kind] : undefined;
  if (explicit) return explicit;
  if (EVENT_KINDS.has(record.kind) && target.eventsMeasurement) return target.eventsMeasurement;
  return null;
}

/** The point time in ns as a decimal string (beyond 2^53, so never through a JS number). */
export function pointTimeNs(tsEventUs: number, seq: number): string {
  const sub = seq % 1000;
  if (tsEventUs === 0) return String(sub);
  return tsEventUs + (sub < 10 ? '00' : sub < 100 ? '0' : '') + sub;
}

/** The point time in ns as a bigint. */
export function pointTimeNsBig(tsEventUs: number, seq: number): bigint {
  return BigInt(tsEventUs) * 1000n + BigInt(seq % 1000);
}

/** A backslash before a special character or at the end: not expressible in a 1.x tag value. */
const BAD_BACKSLASH_RE = /\\(?=[,= ]|$)/;
/** Whether a tag value can be stored in every backend (see the file comment). */
export function tagValueExpressible(s: string): boolean {
  return s.indexOf('\\') === -1 || !BAD_BACKSLASH_RE.test(s);
}

const FLOAT_RE = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const INT_RE = /^[-+]?\d+$/;

/** Fast path for the common shape `123` / `123.45` (digits, one inner point); the regex handles the rest. */
export function plainDecimal(v: string): boolean {
  const n = v.length;
  if (n === 0) return false;
  let dot = -1;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c === 46) {
      if (dot !== -1) return false;
      dot = i;
    } else if (c < 48 || c > 57) return false;
  }
  return dot !== 0 && dot !== n - 1;
}

/** A value typed per the schema, or undefined when it cannot take the type. */
export function typedValue(type: FieldType, v: FieldValue): FieldValue | undefined {
  switch (type) {
    case 'float':
      if (typeof v === 'string') {
        if (plainDecimal(v)) return v;
        if (!FLOAT_RE.test(v)) return undefined;
        // Normalise to a digit on both sides of the point (line protocol wants it; DuckDB does not mind).
        if (v.endsWith('.')) return v + '0';
        const dot = v.indexOf('.');
        if (dot === 0 || (dot === 1 && (v[0] === '-' || v[0] === '+'))) return v.slice(0, dot) + '0' + v.slice(dot);
        return v;
      }
      if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
      return v ? '1' : '0';
    case 'integer':
      if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
      if (typeof v === 'string') {
        if (!INT_RE.test(v)) return undefined;
        const n = Number(v);
        return Number.isSafeInteger(n) ? n : undefined;
      }
      return v ? 1 : 0;
    case 'boolean':
      if (typeof v === 'boolean') return v;
      if (v === 'true') return true;
      if (v === 'false') return false;
      return undefined;
    case 'string':
      return String(v);
  }
}

type Getter = (r: Readonly<Record<string, unknown>>) => unknown;
const LEVEL_RE = /^(bid|ask|back|lay)_(\d+)_(price|qty)$/;
const LEVEL_SOURCE: Readonly<Record<string, string>> = { bid: 'bids', ask: 'asks', back: 'back', lay: 'lay' };

/** How a schema key is read from a record. */
export function fieldGetter(key: string): Getter {
  const m = LEVEL_RE.exec(key);
  if (!m) return (r) => r[key];
  const src = LEVEL_SOURCE[m[1]!]!;
  const idx = Number(m[2]) - 1;
  const part = m[3] === 'price' ? 0 : 1;
  return (r) => {
    const levels = r[src];
    if (!Array.isArray(levels)) return r[key];
    const level = levels[idx] as readonly unknown[] | undefined;
    return level ? level[part] : undefined;
  };
}

/** A measurement schema compiled for mapping. */
export interface CompiledSchema {
  /** Configured tags (not `session`), sorted by key. */
  tags: { key: string; get: Getter }[];
  /** Fields in schema order; keys that are tags or `session` are left out (they are identity). */
  fields: { key: string; type: FieldType; get: Getter }[];
}
const compiledSchemas = new WeakMap<MeasurementSchema, CompiledSchema>();

export function compileSchema(schema: MeasurementSchema): CompiledSchema {
  let c = compiledSchemas.get(schema);
  if (!c) {
    const tagKeys = [...new Set(schema.tags)].filter((t) => t !== SESSION_TAG).sort();
    c = {
      tags: tagKeys.map((key) => ({ key, get: fieldGetter(key) })),
      fields: Object.entries(schema.fields)
        .filter(([f]) => f !== SESSION_TAG && !tagKeys.includes(f))
        .map(([key, type]) => ({ key, type, get: fieldGetter(key) })),
    };
    compiledSchemas.set(schema, c);
  }
  return c;
}

/** Map one record to a point of `measurement` under its schema (see the file comment for the rules). */
export function recordToPoint(record: BusRecord, schema: MeasurementSchema | undefined, measurement: string): PointResult {
  if (!schema)
    return { ok: false, reason: 'no_measurement', detail: `measurement "${measurement}" has no schema in influxdb.measurements` };
  const ts = record.ts_event_us;
  const seq = record.seq;
  if (!Number.isSafeInteger(ts) || ts < 0 || !Number.isSafeInteger(seq) || seq < 0) {
    return { ok: false, reason: 'invalid_record', detail: `bad ts_event_us ${String(ts)} or seq ${String(seq)} (${measurement})` };
  }
  if (typeof record.session !== 'string' || !tagValueExpressible(record.session)) {
    return { ok: false, reason: 'invalid_record', detail: `bad session ${JSON.stringify(record.session)} (${measurement})` };
  }
  const c = compileSchema(schema);
  const r = record as unknown as Readonly<Record<string, unknown>>;
  const tags: Record<string, string> = {};
  for (const t of c.tags) {
    const v = t.get(r);
    if (v === null || v === undefined) continue;
    const s = typeof v === 'string' ? v : String(v);
    if (s === '') continue;
    if (!tagValueExpressible(s))
      return {
        ok: false,
        reason: 'invalid_record',
        detail: `tag ${t.key}=${JSON.stringify(s)} cannot be written in line protocol (${measurement})`,
      };
    tags[t.key] = s;
  }
  const fields: Record<string, FieldValue> = {};
  let nFields = 0;
  for (const f of c.fields) {
    const v = f.get(r);
    if (v === null || v === undefined) continue;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
      return { ok: false, reason: 'invalid_record', detail: `${measurement}.${f.key}: ${JSON.stringify(v)} is not a ${f.type}` };
    const typed = typedValue(f.type, v);
    if (typed === undefined)
      return { ok: false, reason: 'invalid_record', detail: `${measurement}.${f.key}: ${JSON.stringify(v)} is not a ${f.type}` };
    fields[f.key] = typed;
    nFields++;
  }
  if (nFields === 0)
    return { ok: false, reason: 'invalid_record', detail: `${record.kind} record has none of the fields of ${measurement}` };
  return { ok: true, point: { measurement, tags, fields, timeUs: ts, session: record.session, seq } };
}

/** Stable key of a point's series: measurement + sorted tag set (without session). */
export function seriesKey(point: Pick<Point, 'measurement' | 'tags'>): string {
  const keys = Object.keys(point.tags).sort();
  let out = point.measurement;
  for (const k of keys) out += `,${k}=${point.tags[k]}`;
  return out;
}

/** Key of a point's full identity: series + session + point time. */
export function identityKey(point: Pick<Point, 'measurement' | 'tags' | 'session' | 'timeUs' | 'seq'>): string {
  return `${seriesKey(point)}\u0000${point.session}\u0000${pointTimeNs(point.timeUs, point.seq)}`;
}

/** Points of a batch and what was dropped (with one sample detail per reason). */
export interface BatchPoints {
  points: Point[];
  dropped: Partial<Record<DropReason, number>>;
  samples: Partial<Record<DropReason, string>>;
}

/** Map a batch of records under `target` and the measurement schemas (config `influxdb.measurements`). */
export function recordsToPoints(
  records: readonly BusRecord[],
  target: WriteTarget,
  schemas: Readonly<Record<string, MeasurementSchema>>,
): BatchPoints {
  const points: Point[] = [];
  const dropped: Partial<Record<DropReason, number>> = {};
  const samples: Partial<Record<DropReason, string>> = {};
  for (const record of records) {
    const r = mapRecord(record, target, schemas);
    if (r.ok) points.push(r.point);
    else {
      dropped[r.reason] = (dropped[r.reason] ?? 0) + 1;
      samples[r.reason] ??= r.detail;
    }
  }
  return { points, dropped, samples };
}

/** One record under a target: measurement lookup + {@link recordToPoint}. */
export function mapRecord(record: BusRecord, target: WriteTarget, schemas: Readonly<Record<string, MeasurementSchema>>): PointResult {
  const measurement = measurementFor(record, target);
  if (!measurement)
    return { ok: false, reason: 'no_measurement', detail: `no measurement for kind "${record.kind}" (topic ${record.topic})` };
  return recordToPoint(record, Object.hasOwn(schemas, measurement) ? schemas[measurement] : undefined, measurement);
}
