/**
 * Kraken raw messages -> draft records (src/core/records.ts). Pure functions of the raw message
 * and the receive time; v1 and v2 have separate functions. Decimals pass through as the venue
 * wrote them; `ts_event_us` is the venue time when the message has one, else the receive time.
 */
import { epochSecondsTextToUs, rfc3339ToUs } from '../../core/clock.js';
import type { DepthRecord, Draft, GapRecord, StatusRecord, TickRecord, TradeRecord } from '../../core/records.js';
import type { KrakenBook } from './book.js';
import type { V1BookLevel, V1Message } from './parse-v1.js';
import type { V2StatusData, V2Ticker, V2Trade } from './parse.js';

const venueTime = (ts: string | null, recvUs: number): number => (ts === null ? recvUs : (rfc3339ToUs(ts) ?? recvUs));

/** v2 ticker entry -> tick. `{"symbol":"BTC/USD","bid":…,"bid_qty":…,"ask":…,"ask_qty":…,"last":…,"volume":…}` */
export function tickFromV2(t: V2Ticker, recvUs: number): Draft<TickRecord> {
  return {
    kind: 'tick',
    venue: 'kraken',
    instrument: t.symbol,
    ts_event_us: venueTime(t.timestamp, recvUs),
    ts_recv_us: recvUs,
    bid: t.bid,
    bid_qty: t.bid_qty,
    ask: t.ask,
    ask_qty: t.ask_qty,
    last: t.last,
    volume: t.volume,
    tradeable: true,
  };
}

/** v1 ticker -> tick (no venue time in v1 ticker frames). */
export function tickFromV1(t: Extract<V1Message, { kind: 'ticker' }>, recvUs: number): Draft<TickRecord> {
  return {
    kind: 'tick',
    venue: 'kraken',
    instrument: t.pair,
    ts_event_us: recvUs,
    ts_recv_us: recvUs,
    bid: t.bid,
    bid_qty: t.bid_qty,
    ask: t.ask,
    ask_qty: t.ask_qty,
    last: t.last,
    volume: t.volume,
    tradeable: true,
  };
}

/** v2 trade entry -> trade. */
export function tradeFromV2(t: V2Trade, snapshot: boolean, recvUs: number): Draft<TradeRecord> {
  return {
    kind: 'trade',
    venue: 'kraken',
    instrument: t.symbol,
    ts_event_us: venueTime(t.timestamp, recvUs),
    ts_recv_us: recvUs,
    price: t.price,
    qty: t.qty,
    side: t.side,
    trade_id: t.trade_id,
    ord_type: t.ord_type,
    snapshot,
  };
}

/** v1 trade entry -> trade (v1 has no trade id: ""). */
export function tradeFromV1(pair: string, t: Extract<V1Message, { kind: 'trade' }>['trades'][number], recvUs: number): Draft<TradeRecord> {
  return {
    kind: 'trade',
    venue: 'kraken',
    instrument: pair,
    ts_event_us: epochSecondsTextToUs(t.time) ?? recvUs,
    ts_recv_us: recvUs,
    price: t.price,
    qty: t.qty,
    side: t.side,
    trade_id: '',
    ord_type: t.ord_type,
    snapshot: false,
  };
}

/** The book after one message -> depth record with the top `levels` per side, best first. */
export function depthFromBook(
  symbol: string,
  book: KrakenBook,
  levels: number,
  snapshot: boolean,
  checksum: number | null,
  checksumOk: boolean,
  tsEventUs: number,
  recvUs: number,
): Draft<DepthRecord> {
  return {
    kind: 'depth',
    venue: 'kraken',
    instrument: symbol,
    ts_event_us: tsEventUs,
    ts_recv_us: recvUs,
    bids: book.top('bid', levels),
    asks: book.top('ask', levels),
    snapshot,
    checksum,
    checksum_ok: checksumOk,
  };
}

/** v2 book entry event time: its `timestamp` (snapshots may have none). */
export const bookTimeV2 = venueTime;

/** v1 book event time: the latest level time in the message (v1 levels carry epoch seconds). */
export function bookTimeV1(asks: V1BookLevel[], bids: V1BookLevel[], recvUs: number): number {
  let best = -1;
  for (const side of [asks, bids]) {
    for (const l of side) {
      const us = epochSecondsTextToUs(l.time);
      if (us !== null && us > best) best = us;
    }
  }
  return best < 0 ? recvUs : best;
}

/** v2 `status` channel entry -> status record. */
export function statusFromV2(s: V2StatusData, recvUs: number): Draft<StatusRecord> {
  const detail = [`api_version=${s.api_version ?? ''}`, `version=${s.version ?? ''}`, `connection_id=${s.connection_id ?? ''}`].join(' ');
  return { kind: 'status', venue: 'kraken', instrument: '', ts_event_us: recvUs, ts_recv_us: recvUs, status: s.system, detail };
}

/** v1 `systemStatus` event -> status record. */
export function statusFromV1(s: Extract<V1Message, { kind: 'systemStatus' }>, recvUs: number): Draft<StatusRecord> {
  const detail = [`api_version=v1`, `version=${s.version ?? ''}`, `connection_id=${s.connection_id ?? ''}`].join(' ');
  return { kind: 'status', venue: 'kraken', instrument: '', ts_event_us: recvUs, ts_recv_us: recvUs, status: s.status, detail };
}

/** A subscription the venue refused -> status record naming the symbol and the venue's error. */
export function subscribeErrorStatus(symbol: string, channel: string, error: string, recvUs: number): Draft<StatusRecord> {
  return {
    kind: 'status',
    venue: 'kraken',
    instrument: symbol,
    ts_event_us: recvUs,
    ts_recv_us: recvUs,
    status: 'subscribe_error',
    detail: `${channel} ${symbol}: ${error}`,
  };
}

/** A book checksum mismatch -> gap record (the symbol's book is dropped and re-snapshotted). */
export function checksumGap(symbol: string, expected: number, computed: number, lastGoodUs: number, recvUs: number): Draft<GapRecord> {
  return {
    kind: 'gap',
    venue: 'kraken',
    instrument: symbol,
    ts_event_us: recvUs,
    ts_recv_us: recvUs,
    reason: 'checksum',
    gap_start_us: lastGoodUs,
    gap_end_us: recvUs,
    detail: `${symbol}: book checksum ${computed} != venue ${expected}; book reset, resubscribing for a snapshot`,
    first_missing_seq: 0,
    last_missing_seq: 0,
  };
}
