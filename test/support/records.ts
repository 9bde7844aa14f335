/** Bus records for unit tests: a tick of session `s1` whose times follow its seq. */
import type { BusRecord, TickRecord } from '../../src/core/records.js';

export function tickRecord(seq: number, over: Partial<TickRecord> = {}): BusRecord {
  return {
    v: 1,
    topic: 'kraken.tick',
    venue: 'kraken',
    kind: 'tick',
    publisher: 'kraken_tick',
    session: 's1',
    seq,
    ts_event_us: 1_700_000_000_000_000 + seq,
    ts_recv_us: 1_700_000_000_000_000 + seq,
    instrument: 'BTC/USD',
    bid: '1.0',
    ask: '1.1',
    bid_qty: null,
    ask_qty: null,
    last: null,
    volume: null,
    tradeable: true,
    ...over,
  };
}

/** tickRecord(a) .. tickRecord(b). */
export const tickRecords = (a: number, b: number, over: Partial<TickRecord> = {}): BusRecord[] =>
  Array.from({ length: b - a + 1 }, (_, i) => tickRecord(a + i, over));
