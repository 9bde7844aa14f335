/**
 * Records -> InfluxDB 1.x line protocol, driven by the measurement schemas of the config
 * (`influxdb.measurements`: tag keys and typed fields). Pure.
 *
 * POINT IDENTITY. InfluxDB keeps one point per measurement + tag set + timestamp and silently
 * overwrites on a repeat, so two distinct records must never map to the same triple, while the
 * same record must always map to the same triple (a retried or replayed batch then overwrites
 * itself instead of doubling). We use:
 *
 *   tags      = the configured tags + `session` (the publisher session UUID)
 *   timestamp = ts_event_us * 1000 + (seq % 1000)   nanoseconds, precision=ns
 *
 * - Two publishers, or two sessions of one publisher (a restart whose book snapshot repeats the
 *   venue time of the last update, a replay looped over the same file), differ in `session`, so
 *   they can never collide whatever their times and seqs. A session UUID is unique per start.
 * - Inside one session `seq` is unique. The point time stays exactly the venue time to the
 *   microsecond; the three sub-microsecond digits carry `seq % 1000`, so records of one series
 *   sharing one microsecond are distinct as long as fewer than 1000 seqs of the session lie between
 *   the first and the last of them. Real feeds come nowhere near (one venue message yields at most
 *   a few records per series); the bound is checked by the unit tests and stated in the report.
 * - `session` is a tag rather than a string field: it costs one index entry per series per
 *   publisher start (a few hundred series per month at most) instead of 36 bytes per point, and it
 *   is what makes the identity hold across sessions. It is therefore not also written as a field.
 * - Nothing here depends on state or arrival order: the identity is a function of the record.
 *
 * ESCAPING (checked against influxd 1.6.7): measurement names escape `,` and space; tag keys, tag
 * values and field keys escape `,`, `=` and space; a backslash is otherwise literal. A tag value
 * whose backslash sits right before `,`, `=`, space or at its very end cannot be expressed in 1.x
 * line protocol at all: such a record is rejected as `invalid_record`, never altered. String
 * fields are double-quoted with `\` and `"` escaped; newlines inside them are accepted.
 * Empty tag values are omitted (InfluxDB rejects them).
 *
 * FIELDS. Same name as the record field where it exists; depth `bids`/`asks` -> `bid_N_price`,
 * `bid_N_qty`, `ask_N_...`; runner `back`/`lay` -> `back_N_price`, `lay_N_qty`, ...; null or absent
 * -> the field is omitted. A float is always written as a float literal (`1797.30`, `1`, never
 * `1i`); decimal strings go through unchanged (no binary float round trip). Integers get `i`.
 * A record left with no field at all still yields a point: `seq` is written.
 */
import type { BusRecord } from '../../core/records.js';
import type { FieldType, MeasurementSchema } from '../../config/schema.js';
import type { DropReason, WriteTarget } from '../sink.js';

/** The tag added to every point so that distinct publisher sessions never share a point identity. */
export const SESSION_TAG = 'session';

const MEAS_RE = /[, ]/;
const KEY_RE = /[,= ]/;
/** A backslash before a special character or at the end: not expressible in a 1.x tag value. */
const BAD_BACKSLASH_RE = /\\(?=[,= ]|$)/;

export function escapeMeasurement(name: string): string {
  return MEAS_RE.test(name) ? name.replace(/[, ]/g, '\\$&') : name;
}

/** Escape a tag key, tag value or field key. */
export function escapeKey(s: string): string {
  return KEY_RE.test(s) ? s.replace(/[,= ]/g, '\\$&') : s;
}

/** Whether a tag value can be written at all (see the backslash rule above). */
export function tagValueExpressible(s: string): boolean {
  return s.indexOf('\\') === -1 || !BAD_BACKSLASH_RE.test(s);
}

/** Quote a string field value. */
export function quoteString(s: string): string {
  return '"' + (s.indexOf('\\') === -1 && s.indexOf('"') === -1 ? s : s.replace(/[\\"]/g, '\\$&')) + '"';
}

const FLOAT_RE = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** Fast path for the common shape `123` / `123.45` (digits, one inner point); the regex handles the rest. */
function plainDecimal(v: string): boolean {
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
const INT_RE = /^[-+]?\d+$/;

/** Encode a value as a field of the given type, or undefined (field omitted). */
export function encodeField(type: FieldType, v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  switch (type) {
    case 'float':
      if (typeof v === 'string') {
        if (plainDecimal(v)) return v;
        if (!FLOAT_RE.test(v)) return undefined;
        // Line protocol wants a digit on both sides of the point.
        if (v.endsWith('.')) return v + '0';
        const dot = v.indexOf('.');
        if (dot === 0 || (dot === 1 && (v[0] === '-' || v[0] === '+'))) return v.slice(0, dot) + '0' + v.slice(dot);
        return v;
      }
      if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
      if (typeof v === 'boolean') return v ? '1' : '0';
      return undefined;
    case 'integer':
      if (typeof v === 'number') return Number.isSafeInteger(v) ? `${v}i` : Number.isFinite(v) ? `${Math.trunc(v)}i` : undefined;
      if (typeof v === 'string') return INT_RE.test(v) ? `${v}i` : undefined;
      if (typeof v === 'boolean') return v ? '1i' : '0i';
      return undefined;
    case 'boolean':
      if (typeof v === 'boolean') return v ? 'true' : 'false';
      if (v === 'true' || v === 'false') return v;
      return undefined;
    case 'string':
      if (typeof v === 'string') return quoteString(v);
      if (typeof v === 'number' || typeof v === 'boolean') return quoteString(String(v));
      return undefined;
  }
}

type Getter = (r: Record<string, unknown>) => unknown;

const LEVEL_RE = /^(bid|ask|back|lay)_(\d+)_(price|qty)$/;
const LEVEL_SOURCE: Record<string, string> = { bid: 'bids', ask: 'asks', back: 'back', lay: 'lay' };

/** How a schema field is read from a record. */
export function fieldGetter(field: string): Getter {
  const m = LEVEL_RE.exec(field);
  if (m) {
    const src = LEVEL_SOURCE[m[1]!]!;
    const idx = Number(m[2]) - 1;
    const part = m[3] === 'price' ? 0 : 1;
    return (r) => {
      const levels = r[src];
      if (!Array.isArray(levels)) return r[field];
      const lvl = levels[idx] as readonly unknown[] | undefined;
      return lvl ? lvl[part] : undefined;
    };
  }
  return (r) => r[field];
}

interface CompiledMeasurement {
  prefix: string;
  /** Tag values joined -> escaped `measurement,tags` (series keys repeat endlessly; escaping once is enough). */
  seriesCache: Map<string, string>;
  tags: { key: string; get: Getter }[];
  fields: { key: string; type: FieldType; get: Getter }[];
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

/** Compiles the measurement schemas once and turns records into lines. */
export class LineBuilder {
  private compiled = new Map<string, CompiledMeasurement>();

  constructor(private readonly schemas: Readonly<Record<string, MeasurementSchema>>) {}

  private compile(name: string): CompiledMeasurement | undefined {
    let c = this.compiled.get(name);
    if (c) return c;
    const schema = this.schemas[name];
    if (!schema) return undefined;
    const tagNames = [...new Set([...schema.tags, SESSION_TAG])].sort();
    c = {
      prefix: escapeMeasurement(name),
      seriesCache: new Map(),
      tags: tagNames.map((t) => ({ key: escapeKey(t), get: fieldGetter(t) })),
      fields: Object.entries(schema.fields)
        .filter(([f]) => !tagNames.includes(f))
        .map(([f, type]) => ({ key: escapeKey(f), type, get: fieldGetter(f) })),
    };
    this.compiled.set(name, c);
    return c;
  }

  /** The measurement a record goes to under a target, or undefined. */
  measurementFor(rec: BusRecord, target: WriteTarget): string | undefined {
    const m = target.measurements[rec.kind];
    if (m) return m;
    return rec.kind === 'gap' || rec.kind === 'status' ? target.eventsMeasurement : undefined;
  }

  /** One record -> one line, or why not. */
  line(rec: BusRecord, target: WriteTarget): string | LineFailure {
    const name = this.measurementFor(rec, target);
    if (!name) return { reason: 'no_measurement', detail: `no measurement for kind "${rec.kind}" (topic ${rec.topic})` };
    const c = this.compile(name);
    if (!c) return { reason: 'no_measurement', detail: `measurement "${name}" has no schema in influxdb.measurements` };
    const ts = rec.ts_event_us;
    const seq = rec.seq;
    if (!Number.isSafeInteger(ts) || ts < 0 || !Number.isSafeInteger(seq) || seq < 0)
      return { reason: 'invalid_record', detail: `bad ts_event_us ${ts} or seq ${seq} (${name})` };
    const r = rec as unknown as Record<string, unknown>;
    const values: string[] = new Array(c.tags.length);
    for (let i = 0; i < c.tags.length; i++) {
      const v = c.tags[i]!.get(r);
      values[i] = v === null || v === undefined ? '' : typeof v === 'string' ? v : String(v);
    }
    const cacheKey = values.join('\u0000');
    let out = c.seriesCache.get(cacheKey);
    if (out === undefined) {
      out = c.prefix;
      for (let i = 0; i < c.tags.length; i++) {
        const s = values[i]!;
        if (s === '') continue;
        const key = c.tags[i]!.key;
        if (!tagValueExpressible(s))
          return { reason: 'invalid_record', detail: `tag ${key}=${JSON.stringify(s)} cannot be written in line protocol (${name})` };
        out += ',' + key + '=' + escapeKey(s);
      }
      // Bounded: a runaway tag (a bug upstream) must not grow memory without end.
      if (c.seriesCache.size >= 100_000) c.seriesCache.clear();
      c.seriesCache.set(cacheKey, out);
    }
    let sep = ' ';
    for (const f of c.fields) {
      const v = encodeField(f.type, f.get(r));
      if (v === undefined) continue;
      out += sep + f.key + '=' + v;
      sep = ',';
    }
    if (sep === ' ') out += ' seq=' + seq + 'i';
    return out + ' ' + pointTimeNs(ts, seq);
  }

  /** Many records -> lines plus the drops by reason. */
  build(records: readonly BusRecord[], target: WriteTarget): BuiltLines {
    const lines: string[] = [];
    const dropped: Partial<Record<DropReason, number>> = {};
    const samples: Partial<Record<DropReason, string>> = {};
    let maxEventUs = 0;
    for (const rec of records) {
      const l = this.line(rec, target);
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

/** The point time in ns as a decimal string (beyond 2^53, so never through a JS number). */
export function pointTimeNs(tsEventUs: number, seq: number): string {
  const sub = seq % 1000;
  if (tsEventUs === 0) return String(sub);
  return tsEventUs + (sub < 10 ? '00' : sub < 100 ? '0' : '') + sub;
}
