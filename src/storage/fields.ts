/**
 * Record -> point mapping shared by every sink (InfluxDB line protocol, the embedded store), so a
 * record lands as the same measurement, tags, fields and point identity in both. Pure: no I/O.
 *
 * Point identity (what makes a replayed batch overwrite itself instead of doubling) is InfluxDB's:
 * measurement + retention policy + tag set + timestamp. The timestamp is nanoseconds derived from
 * the record, not from the clock: `ts_event_us * 1000 + (seq mod 1000)`. Records of one series that
 * share a microsecond (a snapshot burst) thus get distinct nanoseconds without any high-cardinality
 * tag, while the microsecond stays exact. Only when one batch holds more than that for one series
 * and microsecond does {@link assignPointTimesNs} move the extra points to the next free nanosecond
 * (deterministically, so the same batch replayed still lands on the same points).
 */
import type { BusRecord } from '../core/records.js';
import type { MeasurementSchema } from '../config/schema.js';
import type { DropReason, WriteTarget } from './sink.js';

export type FieldValue = number | string | boolean;

/** One point, ready for a store. */
export interface Point {
  measurement: string;
  /** Tag values; a tag the record has no (or an empty) value for is absent, as in InfluxDB. */
  tags: Record<string, string>;
  /** Field values already typed per the measurement schema (float/integer -> number). */
  fields: Record<string, FieldValue>;
  /** Venue event time, µs since epoch (`ts_event_us`), exact. */
  timeUs: number;
  /** Publisher session and seq: which record this point came from (identity within a µs). */
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
  const explicit = target.measurements[record.kind];
  if (explicit) return explicit;
  if (EVENT_KINDS.has(record.kind) && target.eventsMeasurement) return target.eventsMeasurement;
  return null;
}

/** Level arrays are flattened to `<prefix>_<n>_price` / `<prefix>_<n>_qty` (n from 1, best first). */
const LEVEL_PREFIX: Readonly<Record<string, string>> = { bids: 'bid', asks: 'ask', back: 'back', lay: 'lay' };

/** Every scalar of a record by its field name, level arrays flattened. Nulls are left out. */
export function flattenRecord(record: BusRecord): Map<string, FieldValue> {
  const flat = new Map<string, FieldValue>();
  for (const [key, value] of Object.entries(record)) {
    if (value === null || value === undefined) continue;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      flat.set(key, value);
      continue;
    }
    const prefix = LEVEL_PREFIX[key];
    if (prefix && Array.isArray(value)) {
      (value as readonly (readonly unknown[])[]).forEach((level, i) => {
        const [price, qty] = level;
        if (typeof price === 'string' || typeof price === 'number') flat.set(`${prefix}_${i + 1}_price`, price);
        if (typeof qty === 'string' || typeof qty === 'number') flat.set(`${prefix}_${i + 1}_qty`, qty);
      });
    }
  }
  return flat;
}

function coerce(value: FieldValue, type: MeasurementSchema['fields'][string]): FieldValue | undefined {
  switch (type) {
    case 'float': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      return Number.isFinite(n) ? n : undefined;
    }
    case 'integer': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : NaN;
      return Number.isSafeInteger(n) ? n : undefined;
    }
    case 'string':
      return String(value);
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 'true') return true;
      if (value === 'false') return false;
      return undefined;
  }
}

/**
 * Map one record to a point of `measurement` under its schema: tags and fields are the schema's
 * keys looked up in the record (see {@link flattenRecord}); keys the record lacks are left out;
 * values are typed per the schema (decimal strings become floats). Drops: no schema ->
 * `no_measurement`; a value that cannot take the schema's type, or no field at all -> `invalid_record`.
 */
export function recordToPoint(record: BusRecord, schema: MeasurementSchema | undefined, measurement: string): PointResult {
  if (!schema) return { ok: false, reason: 'no_measurement', detail: `no schema for measurement ${measurement} (influxdb.measurements)` };
  if (!Number.isSafeInteger(record.ts_event_us) || record.ts_event_us < 0) {
    return { ok: false, reason: 'invalid_record', detail: `ts_event_us ${String(record.ts_event_us)} is not a non-negative integer` };
  }
  const flat = flattenRecord(record);
  const tags: Record<string, string> = {};
  for (const tag of schema.tags) {
    const v = flat.get(tag);
    if (v === undefined) continue;
    const s = String(v);
    if (s !== '') tags[tag] = s;
  }
  const fields: Record<string, FieldValue> = {};
  for (const [field, type] of Object.entries(schema.fields)) {
    const v = flat.get(field);
    if (v === undefined) continue;
    const typed = coerce(v, type);
    if (typed === undefined) {
      return { ok: false, reason: 'invalid_record', detail: `${measurement}.${field}: ${JSON.stringify(v)} is not a ${type}` };
    }
    fields[field] = typed;
  }
  if (Object.keys(fields).length === 0) {
    return { ok: false, reason: 'invalid_record', detail: `${record.kind} record has none of the fields of ${measurement}` };
  }
  return { ok: true, point: { measurement, tags, fields, timeUs: record.ts_event_us, session: record.session, seq: record.seq } };
}

/** Stable key of a point's series: measurement + sorted tag set. */
export function seriesKey(point: Pick<Point, 'measurement' | 'tags'>): string {
  const keys = Object.keys(point.tags).sort();
  let out = point.measurement;
  for (const k of keys) out += `,${k}=${point.tags[k]}`;
  return out;
}

/**
 * The InfluxDB timestamp (ns) of each point, in order: `timeUs * 1000 + (seq mod 1000)`, moved to
 * the next free nanosecond of its series when another point of the batch already holds it. The
 * same record twice in a batch (same series, µs, session and seq) gets the same timestamp, so it is
 * one point. Deterministic: the same batch always gives the same timestamps.
 */
export function assignPointTimesNs(points: readonly Point[]): bigint[] {
  const byRecord = new Map<string, bigint>();
  const used = new Map<string, Set<bigint>>();
  /** Per series, where the last overflow probe ended: keeps a 10k-point burst linear, not quadratic. */
  const overflowNext = new Map<string, bigint>();
  const out: bigint[] = [];
  for (const p of points) {
    const series = seriesKey(p);
    const recordKey = `${series}\u0000${p.timeUs}\u0000${p.session}\u0000${p.seq}`;
    const seen = byRecord.get(recordKey);
    if (seen !== undefined) {
      out.push(seen);
      continue;
    }
    let taken = used.get(series);
    if (!taken) used.set(series, (taken = new Set()));
    const offset = Number.isSafeInteger(p.seq) ? ((p.seq % 1000) + 1000) % 1000 : 0;
    let ns = BigInt(p.timeUs) * 1000n + BigInt(offset);
    if (taken.has(ns)) {
      const hint = overflowNext.get(series);
      if (hint !== undefined && hint > ns) ns = hint;
      while (taken.has(ns)) ns += 1n;
      overflowNext.set(series, ns + 1n);
    }
    taken.add(ns);
    byRecord.set(recordKey, ns);
    out.push(ns);
  }
  return out;
}

/** Points of a batch, with their timestamps, and what was dropped (with one sample detail per reason). */
export interface BatchPoints {
  points: Point[];
  timesNs: bigint[];
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
  const drop = (reason: DropReason, detail: string) => {
    dropped[reason] = (dropped[reason] ?? 0) + 1;
    samples[reason] ??= detail;
  };
  for (const record of records) {
    const measurement = measurementFor(record, target);
    if (!measurement) {
      drop('no_measurement', `no measurement for ${record.kind} records on topic ${record.topic}`);
      continue;
    }
    const r = recordToPoint(record, Object.hasOwn(schemas, measurement) ? schemas[measurement] : undefined, measurement);
    if (r.ok) points.push(r.point);
    else drop(r.reason, r.detail);
  }
  return { points, timesNs: assignPointTimesNs(points), dropped, samples };
}
