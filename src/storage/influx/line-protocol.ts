/**
 * Records -> InfluxDB 1.x line protocol. Pure. The record -> point mapping (measurement, tags,
 * typed fields, point identity, drops) is the one of ../fields.ts, shared with the embedded store;
 * this file only formats points as lines.
 *
 * POINT IDENTITY: tags = configured tags + `session`; timestamp = ts_event_us * 1000 + (seq % 1000)
 * ns, precision=ns (see ../fields.ts for the reasoning and the bound).
 *
 * ESCAPING (checked against influxd 1.6.7): measurement names escape `,` and space; tag keys, tag
 * values and field keys escape `,`, `=` and space; a backslash is otherwise literal. A tag value
 * whose backslash sits right before `,`, `=`, space or at its very end cannot be expressed in 1.x
 * line protocol at all: such a record is rejected as `invalid_record` (by the shared mapping, so
 * the embedded store rejects it too). String fields are double-quoted with `\` and `"` escaped.
 * Empty tag values are omitted (InfluxDB rejects them).
 *
 * FIELDS. A float is always written as a float literal (`1797.30`, `1`, never `1i`); decimal
 * strings go through unchanged (no binary float round trip). Integers get `i`.
 */
import type { BusRecord } from '../../core/records.js';
import type { FieldType, MeasurementSchema } from '../../config/schema.js';
import type { DropReason, WriteTarget } from '../sink.js';
import {
  SESSION_TAG,
  compileSchema,
  mapRecord,
  measurementFor,
  plainDecimal,
  pointTimeNs,
  typedValue,
  type FieldValue,
  type Point,
} from '../fields.js';

export { SESSION_TAG, pointTimeNs, tagValueExpressible } from '../fields.js';

const MEAS_RE = /[, ]/;
const KEY_RE = /[,= ]/;

export function escapeMeasurement(name: string): string {
  return MEAS_RE.test(name) ? name.replace(/[, ]/g, '\\$&') : name;
}

/** Escape a tag key, tag value or field key. */
export function escapeKey(s: string): string {
  return KEY_RE.test(s) ? s.replace(/[,= ]/g, '\\$&') : s;
}

/** Quote a string field value. */
export function quoteString(s: string): string {
  return '"' + (s.indexOf('\\') === -1 && s.indexOf('"') === -1 ? s : s.replace(/[\\"]/g, '\\$&')) + '"';
}

/** A typed value (../fields.ts typedValue) as a line-protocol field value. */
export function formatField(type: FieldType, v: FieldValue): string {
  switch (type) {
    case 'float':
      return String(v);
    case 'integer':
      return `${String(v)}i`;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'string':
      return quoteString(String(v));
  }
}

/** Encode a raw value as a field of the given type, or undefined (it cannot take the type). */
export function encodeField(type: FieldType, v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return undefined;
  const typed = typedValue(type, v);
  return typed === undefined ? undefined : formatField(type, typed);
}

/** Why a record could not become a line. */
export interface LineFailure {
  reason: DropReason;
  detail: string;
}

export interface BuiltLines {
  lines: string[];
  /** The newest ts_event_us among the records turned into lines (0 when none). */
  maxEventUs: number;
  dropped: Partial<Record<DropReason, number>>;
  /** One sample per drop reason, for the log. */
  samples: Partial<Record<DropReason, string>>;
}

interface Formatting {
  prefix: string;
  /** Escaped field keys and types by field key. */
  fields: Map<string, { key: string; type: FieldType }>;
  /** The schema's fields in order, with their getters and escaped keys (the fast path). */
  list: { escaped: string; type: FieldType; get: (r: Readonly<Record<string, unknown>>) => unknown }[];
  /** Tag values joined -> escaped `measurement,tags` (series repeat endlessly; escape once). */
  seriesCache: Map<string, string>;
}

/** Turns records into lines through the shared mapping. */
export class LineBuilder {
  private formats = new Map<string, Formatting>();

  constructor(private readonly schemas: Readonly<Record<string, MeasurementSchema>>) {}

  private format(name: string): Formatting {
    let f = this.formats.get(name);
    if (f) return f;
    const c = compileSchema(this.schemas[name]!);
    f = {
      prefix: escapeMeasurement(name),
      fields: new Map(c.fields.map((x) => [x.key, { key: escapeKey(x.key), type: x.type }])),
      list: c.fields.map((x) => ({ escaped: escapeKey(x.key), type: x.type, get: x.get })),
      seriesCache: new Map(),
    };
    this.formats.set(name, f);
    return f;
  }

  /** The measurement a record goes to under a target, or undefined. */
  measurementFor(rec: BusRecord, target: WriteTarget): string | undefined {
    return measurementFor(rec, target) ?? undefined;
  }

  /** A mapped point -> one line. */
  pointLine(p: Point): string {
    const f = this.format(p.measurement);
    let cacheKey = p.session;
    for (const k in p.tags) cacheKey += '\u0000' + k + '\u0001' + p.tags[k];
    let out = f.seriesCache.get(cacheKey);
    if (out === undefined) {
      // Tag keys sorted with session among them (InfluxDB's preferred order).
      const keys = [...Object.keys(p.tags), SESSION_TAG].sort();
      out = f.prefix;
      for (const k of keys) out += ',' + escapeKey(k) + '=' + escapeKey(k === SESSION_TAG ? p.session : p.tags[k]!);
      // Bounded: a runaway tag (a bug upstream) must not grow memory without end.
      if (f.seriesCache.size >= 100_000) f.seriesCache.clear();
      f.seriesCache.set(cacheKey, out);
    }
    let sep = ' ';
    for (const k in p.fields) {
      const fm = f.fields.get(k)!;
      out += sep + fm.key + '=' + formatField(fm.type, p.fields[k]!);
      sep = ',';
    }
    return out + ' ' + pointTimeNs(p.timeUs, p.seq);
  }

  /** One record -> one line, or why not. */
  line(rec: BusRecord, target: WriteTarget): string | LineFailure {
    const r = mapRecord(rec, target, this.schemas);
    if (!r.ok) return { reason: r.reason, detail: r.detail };
    return this.pointLine(r.point);
  }

  /**
   * One record -> one line without the intermediate Point (the hot path: the Point's tag and field
   * objects were a third of the subscriber's garbage). Falls back to {@link line} for anything but
   * the plain case, so drops and their details stay those of the shared mapping; the test checks
   * that both paths give the same line for every record.
   */
  fastLine(rec: BusRecord, target: WriteTarget): string | LineFailure {
    const measurement = measurementFor(rec, target);
    const schema = measurement !== null && Object.hasOwn(this.schemas, measurement) ? this.schemas[measurement] : undefined;
    const ts = rec.ts_event_us;
    const seq = rec.seq;
    const session = rec.session;
    if (
      !schema ||
      !Number.isSafeInteger(ts) ||
      ts < 0 ||
      !Number.isSafeInteger(seq) ||
      seq < 0 ||
      typeof session !== 'string' ||
      session.indexOf('\\') !== -1
    )
      return this.line(rec, target);
    const f = this.format(measurement!);
    const c = compileSchema(schema);
    const r = rec as unknown as Readonly<Record<string, unknown>>;
    let cacheKey = session;
    for (const t of c.tags) {
      const v = t.get(r);
      if (v === null || v === undefined) continue;
      const tv = typeof v === 'string' ? v : String(v);
      if (tv === '') continue;
      if (tv.indexOf('\\') !== -1) return this.line(rec, target);
      cacheKey += '\u0000' + t.key + '\u0001' + tv;
    }
    let out = f.seriesCache.get(cacheKey);
    if (out === undefined) return this.line(rec, target);
    let sep = ' ';
    const fields = f.list;
    for (let i = 0; i < fields.length; i++) {
      const fd = fields[i]!;
      const v = fd.get(r);
      if (v === null || v === undefined) continue;
      let text: string;
      if (fd.type === 'float' && typeof v === 'string' && plainDecimal(v)) text = v;
      else if (fd.type === 'boolean' && typeof v === 'boolean') text = v ? 'true' : 'false';
      else {
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return this.line(rec, target);
        const typed = typedValue(fd.type, v);
        if (typed === undefined) return this.line(rec, target);
        text = formatField(fd.type, typed);
      }
      out += sep + fd.escaped + '=' + text;
      sep = ',';
    }
    if (sep === ' ') return this.line(rec, target);
    return out + ' ' + pointTimeNs(ts, seq);
  }

  /** Many records -> lines plus the drops by reason. */
  build(records: readonly BusRecord[], target: WriteTarget): BuiltLines {
    const lines: string[] = [];
    const dropped: Partial<Record<DropReason, number>> = {};
    const samples: Partial<Record<DropReason, string>> = {};
    let maxEventUs = 0;
    for (const rec of records) {
      const l = this.fastLine(rec, target);
      if (typeof l === 'string') {
        lines.push(l);
        if (rec.ts_event_us > maxEventUs) maxEventUs = rec.ts_event_us;
      } else {
        dropped[l.reason] = (dropped[l.reason] ?? 0) + 1;
        samples[l.reason] ??= l.detail;
      }
    }
    return { lines, maxEventUs, dropped, samples };
  }
}
