/**
 * OANDA PRICE -> TickRecord draft (pure). Best bid is the highest bid bucket price and best ask the
 * lowest ask, never `bids[0]`/`asks[0]` (bucket order is undocumented, venues.md §2.2) and never the
 * closeout prices. Non-tradeable prices (market closed, weekend snapshot) are kept, marked
 * `tradeable: false`.
 */
import type { Draft, TickRecord } from '../../core/records.js';
import type { OandaBucket, OandaPrice } from './parse.js';

/** Compare two decimal strings exactly (no float rounding): negative, zero or positive like a - b. */
export function compareDecimal(a: string, b: string): number {
  const na = a.startsWith('-');
  const nb = b.startsWith('-');
  if (na !== nb) return isZero(a) && isZero(b) ? 0 : na ? -1 : 1;
  const c = compareAbs(na ? a.slice(1) : a, nb ? b.slice(1) : b);
  return na ? -c : c;
}

function isZero(s: string): boolean {
  return /^-?0*(?:\.0*)?$/.test(s);
}

function compareAbs(a: string, b: string): number {
  const da = a.indexOf('.');
  const db = b.indexOf('.');
  let ia = da === -1 ? a : a.slice(0, da);
  let ib = db === -1 ? b : b.slice(0, db);
  ia = ia.replace(/^0+(?=\d)/, '');
  ib = ib.replace(/^0+(?=\d)/, '');
  if (ia.length !== ib.length) return ia.length - ib.length;
  if (ia !== ib) return ia < ib ? -1 : 1;
  const fa = da === -1 ? '' : a.slice(da + 1);
  const fb = db === -1 ? '' : b.slice(db + 1);
  const n = Math.max(fa.length, fb.length);
  const pa = fa.padEnd(n, '0');
  const pb = fb.padEnd(n, '0');
  return pa === pb ? 0 : pa < pb ? -1 : 1;
}

/** The best bucket: highest price for bids, lowest for asks. */
export function bestBucket(buckets: readonly OandaBucket[], side: 'bid' | 'ask'): OandaBucket | null {
  let best: OandaBucket | null = null;
  for (const b of buckets) {
    if (best === null) best = b;
    else {
      const c = compareDecimal(b.price, best.price);
      if (side === 'bid' ? c > 0 : c < 0) best = b;
    }
  }
  return best;
}

/** Normalise one PRICE; `receivedAtUs` is the local receive time of its line. */
export function normalisePrice(p: OandaPrice, receivedAtUs: number): Draft<TickRecord> {
  const bid = bestBucket(p.bids, 'bid');
  const ask = bestBucket(p.asks, 'ask');
  return {
    kind: 'tick',
    venue: 'oanda',
    instrument: p.instrument,
    ts_event_us: p.timeUs,
    ts_recv_us: receivedAtUs,
    bid: bid?.price ?? null,
    bid_qty: bid?.liquidity ?? null,
    ask: ask?.price ?? null,
    ask_qty: ask?.liquidity ?? null,
    last: null,
    volume: null,
    tradeable: p.tradeable,
  };
}
