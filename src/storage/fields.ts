/**
 * Record -> point mapping shared by every sink (InfluxDB line protocol, the embedded store), so a
 * record lands as the same measurement, tags, fields and point identity in both. Pure: no I/O.
 *
 * Point identity (what makes a replayed batch overwrite itself instead of doubling) is the one of
 * ./influx/line-protocol.ts: measurement + retention policy + tag set + publisher `session` +
 * timestamp, the timestamp being nanoseconds derived from the record, not from the clock:
 * `ts_event_us * 1000 + (seq mod 1000)`. Records of one series that share a microsecond (a
 * snapshot burst) thus get distinct nanoseconds without a high-cardinality tag, and the microsecond
 * stays exact. Beyond that bound (over 1000 seqs of one session and series in one microsecond),
 * {@link assignPointTimesNs} moves the extra points of a batch to the next free nanosecond,
 * deterministically, so the same batch replayed still lands on the same points.
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
  /** Series + session, precomputed by {@link recordToPoint} (see {@link identityKey}). */
  identity?: string;
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

type Getter = (r: Readonly<Record<string, unknown>>) => unknown;
const LEVEL_RE = /^(bid|ask|back|lay)_(\d+)_(price|qty)$/;
const LEVEL_SOURCE: Readonly<Record<string, string>> = { bid: 'bids', ask: 'asks', back: 'back', lay: 'lay' };

/** How a schema key is read from a record (the same lookup as {@link flattenRecord}, compiled). */
function getter(key: string): Getter {
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

interface Compiled {
  /** Tags sorted by key, so the series key needs no sort per point. */
  tags: { key: string; get: Getter }[];
  fields: { key: string; type: MeasurementSchema['fields'][string]; get: Getter }[];
}
const compiledSchemas = new WeakMap<MeasurementSchema, Compiled>();
function compile(schema: MeasurementSchema): Compiled {
  let c = compiledSchemas.get(schema);
  if (!c) {
    c = {
      tags: [...new Set(schema.tags)].sort().map((key) => ({ key, get: getter(key) })),
      fields: Object.entries(schema.fields).map(([key, type]) => ({ key, type, get: getter(key) })),
    };
    compiledSchemas.set(schema, c);
  }
  return c;
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
  const c = compile(schema);
  const r = record as unknown as Readonly<Record<string, unknown>>;
  const tags: Record<string, string> = {};
  let series = measurement;
  for (const t of c.tags) {
    const v = t.get(r);
    if (v === null || v === undefined) continue;
    const s = String(v);
    if (s === '') continue;
    tags[t.key] = s;
    series += `,${t.key}=${s}`;
  }
  const fields: Record<string, FieldValue> = {};
  let nFields = 0;
  for (const f of c.fields) {
    const v = f.get(r);
    if (v === null || v === undefined || (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')) continue;
    const typed = coerce(v, f.type);
    if (typed === undefined) {
      return { ok: false, reason: 'invalid_record', detail: `${measurement}.${f.key}: ${JSON.stringify(v)} is not a ${f.type}` };
    }
    fields[f.key] = typed;
    nFields++;
  }
  if (nFields === 0) {
    return { ok: false, reason: 'invalid_record', detail: `${record.kind} record has none of the fields of ${measurement}` };
  }
  return {
    ok: true,
    point: {
      measurement,
      tags,
      fields,
      timeUs: record.ts_event_us,
      session: record.session,
      seq: record.seq,
      identity: `${series}\u0000${record.session}`,
    },
  };
}

/** Stable key of a point's series: measurement + sorted tag set. */
export function seriesKey(point: Pick<Point, 'measurement' | 'tags'>): string {
  const keys = Object.keys(point.tags).sort();
  let out = point.measurement;
  for (const k of keys) out += `,${k}=${point.tags[k]}`;
  return out;
}

/** Key of a point's identity apart from time: series + publisher session. */
export function identityKey(point: Pick<Point, 'measurement' | 'tags' | 'session'>): string {
  return `${seriesKey(point)}\u0000${point.session}`;
}

/**
 * The InfluxDB timestamp (ns) of each point, in order: `timeUs * 1000 + (seq mod 1000)`, moved to
 * the next free nanosecond of its series and session when another point of the batch already holds
 * it. The same record twice in a batch (same series, session, µs and seq) gets the same timestamp,
 * so it is one point. Deterministic: the same batch always gives the same timestamps.
 */
export function assignPointTimesNs(points: readonly Point[]): bigint[] {
  // Per identity and µs: which sub-µs slots are held and by which seq. Nanoseconds stay (µs, sub)
  // number pairs while probing; the common case (no collision) allocates no Set and no key string.
  const used = new Map<string, Map<number, Map<number, number>>>();
  /** Records moved by a collision, so the same record again lands on the same moved slot. */
  const moved = new Map<string, [number, number]>();
  /** Per identity, where the last overflow probe ended: keeps a 10k-point burst linear, not quadratic. */
  const overflowNext = new Map<string, [number, number]>();
  const out: bigint[] = new Array<bigint>(points.length);
  const holder = (m: Map<number, Map<number, number>>, us: number, sub: number) => m.get(us)?.get(sub);
  const take = (m: Map<number, Map<number, number>>, us: number, sub: number, seq: number) => {
    let slots = m.get(us);
    if (!slots) m.set(us, (slots = new Map()));
    slots.set(sub, seq);
  };
  points.forEach((p, i) => {
    const id = p.identity ?? identityKey(p);
    let taken = used.get(id);
    if (!taken) used.set(id, (taken = new Map()));
    let us = p.timeUs;
    let sub = Number.isSafeInteger(p.seq) ? ((p.seq % 1000) + 1000) % 1000 : 0;
    const natural = holder(taken, us, sub);
    if (natural === undefined) take(taken, us, sub, p.seq);
    else if (natural !== p.seq) {
      const recordKey = `${id}\u0000${p.timeUs}\u0000${p.seq}`;
      const again = moved.get(recordKey);
      if (again) [us, sub] = again;
      else {
        const hint = overflowNext.get(id);
        if (hint && (hint[0] > us || (hint[0] === us && hint[1] > sub))) [us, sub] = hint;
        while (holder(taken, us, sub) !== undefined) if (++sub === 1000) [us, sub] = [us + 1, 0];
        take(taken, us, sub, p.seq);
        overflowNext.set(id, sub === 999 ? [us + 1, 0] : [us, sub + 1]);
        moved.set(recordKey, [us, sub]);
      }
    }
    out[i] = BigInt(us) * 1000n + BigInt(sub);
  });
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
