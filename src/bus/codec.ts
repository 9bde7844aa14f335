/**
 * The bus wire format (docs/wire-format.md is the contract for other languages):
 * a ZeroMQ multipart message `[topic, payload]`, payload = msgpack array of one or more records,
 * each a msgpack map with string keys (no msgpack extensions, no records/structures extension).
 */
import { Packr, type Options } from 'msgpackr';
import { RECORD_KINDS, WIRE_FORMAT_VERSION, type BusRecord } from '../core/records.js';

/**
 * msgpackr options for everything nbpy puts on a ZeroMQ socket (bus payloads, retransmission
 * frames). Plain maps only: `useRecords: false` keeps msgpackr's structure extension off so any
 * msgpack library decodes the bytes; int64 values that fit in a double come back as numbers.
 */
export const WIRE_PACKR_OPTIONS: Readonly<Options> = Object.freeze({
  useRecords: false,
  int64AsType: 'number',
  mapsAsObjects: true,
  variableMapSize: true,
});

const packr = new Packr({ ...WIRE_PACKR_OPTIONS });

/**
 * An integer as the wire wants it. msgpackr writes a JS number outside the 32-bit range as a
 * float64; the contract says integers (µs times, sequence numbers) are msgpack integers, so such
 * values go out as int64 via BigInt. Non-integers and 32-bit values pass through unchanged.
 */
export const wireInt = (v: number): number | bigint => ((v > 0xffffffff || v < -0x80000000) && Number.isInteger(v) ? BigInt(v) : v);

function wireSafe(record: BusRecord): Record<string, unknown> {
  // The fields that can leave the 32-bit range are known: times in µs and counters. Converting just
  // those keeps encoding fast (a generic walk over every key halves the bus throughput).
  const out: Record<string, unknown> = {
    ...record,
    seq: wireInt(record.seq),
    ts_event_us: wireInt(record.ts_event_us),
    ts_recv_us: wireInt(record.ts_recv_us),
  };
  if (record.kind === 'gap') {
    out.gap_start_us = wireInt(record.gap_start_us);
    out.gap_end_us = wireInt(record.gap_end_us);
    out.first_missing_seq = wireInt(record.first_missing_seq);
    out.last_missing_seq = wireInt(record.last_missing_seq);
  }
  return out;
}

export function encodeBatch(records: readonly BusRecord[]): Buffer {
  return packr.pack(records.map(wireSafe));
}

export class DecodeError extends Error {
  readonly code = 'E_DECODE';
}

const KINDS = new Set<string>(RECORD_KINDS);

/** Decode a payload into records, checking the envelope fields every consumer relies on. */
export function decodeBatch(payload: Uint8Array): BusRecord[] {
  let value: unknown;
  try {
    value = packr.unpack(payload);
  } catch (e) {
    throw new DecodeError(`payload is not msgpack: ${(e as Error).message}`);
  }
  const list = Array.isArray(value) ? value : [value];
  for (const r of list) {
    if (typeof r !== 'object' || r === null) throw new DecodeError('record is not a map');
    const rec = r as Record<string, unknown>;
    if (rec.v !== WIRE_FORMAT_VERSION) throw new DecodeError(`unsupported wire format version ${JSON.stringify(rec.v)}`);
    if (typeof rec.topic !== 'string' || typeof rec.kind !== 'string' || !KINDS.has(rec.kind))
      throw new DecodeError('record lacks topic or a known kind');
    if (typeof rec.seq !== 'number' || typeof rec.session !== 'string') throw new DecodeError('record lacks seq or session');
  }
  return list as BusRecord[];
}
