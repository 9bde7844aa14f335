/**
 * The Kraken FeedSession: frames in, draft records and requests out (src/venues/connector.ts).
 * No I/O: the reconnect loop and `nbpy replay` drive it.
 *
 * - Live sessions speak v2: on open they subscribe (book feeds also subscribe to `instrument` for
 *   the checksum precisions), and on a checksum mismatch they reset that symbol's book, emit a
 *   `checksum` gap and resubscribe that symbol only, dropping its updates until the new snapshot.
 * - Replay sessions send nothing and accept v1 and v2 frames, detected per frame.
 * - Trades are deduplicated on (symbol, trade_id) across reconnects with a bounded window.
 */
import type { Draft } from '../../core/records.js';
import type { Frame, FrameError, FrameResult, FeedCounter, FeedSession } from '../connector.js';
import { KrakenBook } from './book.js';
import { JsonNum, parseLosslessJson, type JsonValue } from './lossless-json.js';
import {
  bookTimeV1,
  bookTimeV2,
  checksumGap,
  depthFromBook,
  statusFromV1,
  statusFromV2,
  subscribeErrorStatus,
  tickFromV1,
  tickFromV2,
  tradeFromV1,
  tradeFromV2,
} from './normalise.js';
import { parseV1, parseV1Value, type V1Message } from './parse-v1.js';
import { parseV2Value, type ParseError, type V2Message } from './parse.js';
import { KRAKEN_BOOK_DEPTHS, pingRequest, subscribeRequest, unsubscribeRequest, type KrakenBookDepth } from './protocol.js';

export interface KrakenSessionOptions {
  /** Levels per side put in each depth record. */
  publishLevels: number;
  /** What to subscribe to on open (live). Absent = replay: nothing is sent, v1 and v2 are accepted. */
  subscribe?: {
    feed: 'ticker' | 'book' | 'trade';
    instruments: readonly string[];
    bookDepth: KrakenBookDepth;
  };
  /** Trade ids remembered per symbol for de-duplication (default 2000). */
  dedupeWindow?: number;
}

interface BookState {
  book: KrakenBook;
  /** True until a snapshot arrives (at start, and after a checksum failure). */
  awaitingSnapshot: boolean;
  /** Receive time of the last message whose checksum verified (or the snapshot). */
  lastGoodUs: number;
}

/** A bounded set of recent ids: the oldest is forgotten first. */
class RecentIds {
  private readonly set = new Set<string>();
  private readonly ring: string[] = [];
  private pos = 0;
  constructor(private readonly cap: number) {}
  /** Add `id`; false when it was already present. */
  add(id: string): boolean {
    if (this.set.has(id)) return false;
    if (this.ring.length < this.cap) this.ring.push(id);
    else {
      this.set.delete(this.ring[this.pos] as string);
      this.ring[this.pos] = id;
      this.pos = (this.pos + 1) % this.cap;
    }
    this.set.add(id);
    return true;
  }
}

const sampleOf = (text: string): string => text.slice(0, 200);

/** Smallest Kraken depth that holds a snapshot of `levels` levels per side (replay without an ack). */
function depthForSnapshot(levels: number): number {
  for (const d of KRAKEN_BOOK_DEPTHS) if (levels <= d) return d;
  return levels;
}

class Out {
  records: Draft[] = [];
  send: string[] = [];
  errors: FrameError[] = [];
  counters?: Partial<Record<FeedCounter, number>>;
  constructor(readonly text: string) {}
  bump(c: FeedCounter, by = 1): void {
    this.counters ??= {};
    this.counters[c] = (this.counters[c] ?? 0) + by;
  }
  error(code: string, message: string): void {
    this.errors.push({ code, message, sample: sampleOf(this.text) });
  }
  parseError(e: ParseError): void {
    this.error(e.code, e.message);
  }
}

/** Kraken v1/v2 session; see the file comment. Build it with the factories below. */
export class KrakenFeedSession implements FeedSession {
  private readonly booksV2 = new Map<string, BookState>();
  private readonly booksV1 = new Map<string, BookState>();
  /** price/qty precision per v2 symbol from the instrument channel. */
  private readonly precisions = new Map<string, { price: number | undefined; qty: number | undefined }>();
  /** Book depth per v2 symbol learnt from subscribe acks (replay). */
  private readonly ackDepth = new Map<string, number>();
  private readonly recentTrades = new Map<string, RecentIds>();
  private reqId = 0;
  private readonly dedupeWindow: number;

  constructor(private readonly opts: KrakenSessionOptions) {
    this.dedupeWindow = opts.dedupeWindow ?? 2000;
  }

  onOpen(_nowUs: number): string[] {
    const sub = this.opts.subscribe;
    if (!sub) return [];
    const symbols = sub.instruments;
    switch (sub.feed) {
      case 'book':
        return [
          subscribeRequest('instrument', undefined, { snapshot: true }, ++this.reqId),
          subscribeRequest('book', symbols, { depth: sub.bookDepth, snapshot: true }, ++this.reqId),
        ];
      case 'ticker':
        return [subscribeRequest('ticker', symbols, { snapshot: true }, ++this.reqId)];
      case 'trade':
        // the snapshot refills trades missed while disconnected; dedupe drops the ones already seen
        return [subscribeRequest('trade', symbols, { snapshot: true }, ++this.reqId)];
    }
  }

  keepAlive(_nowUs: number): string[] {
    return [pingRequest(++this.reqId)];
  }

  reset(): void {
    // books are derived state; precisions and the trade-dedupe window deliberately survive reconnects
    this.booksV2.clear();
    this.booksV1.clear();
  }

  onFrame(frame: Frame): FrameResult {
    const out = new Out(frame.text);
    try {
      this.dispatch(frame, out);
    } catch (e) {
      out.error('internal', e instanceof Error ? e.message : String(e));
    }
    const result: FrameResult = { records: out.records, send: out.send, errors: out.errors };
    if (out.counters) result.counters = out.counters;
    return result;
  }

  private dispatch(frame: Frame, out: Out): void {
    const text = frame.text;
    let i = 0;
    while (i < text.length && text.charCodeAt(i) <= 0x20) i++;
    if (text.charCodeAt(i) === 0x5b) {
      const r = parseV1(text);
      if (r.ok) this.onV1(r.msg, frame, out);
      else out.parseError(r.error);
      return;
    }
    let v: JsonValue;
    try {
      v = parseLosslessJson(text);
    } catch (e) {
      out.error('json', e instanceof Error ? e.message : String(e));
      return;
    }
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof JsonNum) && 'event' in v) {
      const r = parseV1Value(v);
      if (r.ok) this.onV1(r.msg, frame, out);
      else out.parseError(r.error);
      return;
    }
    const r = parseV2Value(v);
    if (r.ok) this.onV2(r.msg, frame, out);
    else out.parseError(r.error);
  }

  // ------------------------------------------------------------------ v2

  private onV2(msg: V2Message, frame: Frame, out: Out): void {
    const recv = frame.receivedAtUs;
    switch (msg.kind) {
      case 'heartbeat':
        out.bump('venue_heartbeats');
        return;
      case 'pong':
        return;
      case 'status':
        out.bump('status_messages');
        for (const s of msg.data) out.records.push(statusFromV2(s, recv));
        return;
      case 'error':
        out.error('venue_error', `${msg.method ?? 'request'}: ${msg.error}`);
        return;
      case 'ack':
        if (!msg.success) {
          const what = `${msg.method} ${msg.channel ?? ''} ${msg.symbol ?? ''}`.replace(/\s+/g, ' ').trim();
          out.error('venue_error', `${what}: ${msg.error ?? 'refused'}`);
          if (msg.method === 'subscribe' && msg.symbol !== null) {
            out.records.push(subscribeErrorStatus(msg.symbol, msg.channel ?? '', msg.error ?? 'refused', recv));
          }
        } else if (msg.method === 'subscribe' && msg.channel === 'book' && msg.symbol !== null && msg.depth !== null) {
          this.ackDepth.set(msg.symbol, msg.depth);
          const st = this.booksV2.get(msg.symbol);
          if (st) st.book.depth = msg.depth;
        }
        return;
      case 'instrument':
        for (const p of msg.pairs) {
          const prec = { price: p.price_precision ?? undefined, qty: p.qty_precision ?? undefined };
          this.precisions.set(p.symbol, prec);
          this.booksV2.get(p.symbol)?.book.setPrecision(prec.price, prec.qty);
        }
        return;
      case 'ticker':
        for (const t of msg.data) out.records.push(tickFromV2(t, recv));
        return;
      case 'trade': {
        const snapshot = msg.type === 'snapshot';
        for (const t of msg.data) {
          if (this.firstSighting(t.symbol, t.trade_id)) out.records.push(tradeFromV2(t, snapshot, recv));
        }
        return;
      }
      case 'book': {
        const snapshot = msg.type === 'snapshot';
        for (const d of msg.data) {
          const st = this.bookV2(d.symbol, snapshot ? Math.max(d.bids.length, d.asks.length) : 0);
          if (snapshot) {
            st.book.clear();
            st.awaitingSnapshot = false;
          } else if (st.awaitingSnapshot) continue; // no base book: wait for the (re)subscription snapshot
          let bad = false;
          for (const l of d.bids) bad = !st.book.apply('bid', l.price, l.qty) || bad;
          for (const l of d.asks) bad = !st.book.apply('ask', l.price, l.qty) || bad;
          if (bad) out.error('schema', `${d.symbol}: price out of range`);
          st.book.truncate();
          this.finishBook(d.symbol, st, snapshot, d.checksum, bookTimeV2(d.timestamp, recv), recv, out, true);
        }
        return;
      }
    }
  }

  private bookV2(symbol: string, snapshotLevels: number): BookState {
    let st = this.booksV2.get(symbol);
    if (!st) {
      const depth = this.opts.subscribe?.bookDepth ?? this.ackDepth.get(symbol) ?? depthForSnapshot(snapshotLevels || 10);
      const prec = this.precisions.get(symbol);
      st = { book: new KrakenBook(depth, prec?.price, prec?.qty), awaitingSnapshot: true, lastGoodUs: 0 };
      this.booksV2.set(symbol, st);
    }
    return st;
  }

  // ------------------------------------------------------------------ v1

  private onV1(msg: V1Message, frame: Frame, out: Out): void {
    const recv = frame.receivedAtUs;
    switch (msg.kind) {
      case 'heartbeat':
        out.bump('venue_heartbeats');
        return;
      case 'pong':
        return;
      case 'systemStatus':
        out.bump('status_messages');
        out.records.push(statusFromV1(msg, recv));
        return;
      case 'subscriptionStatus':
        if (msg.status === 'error') {
          out.error('venue_error', `subscribe ${msg.name ?? ''} ${msg.pair ?? ''}: ${msg.error ?? 'refused'}`);
          if (msg.pair !== null) out.records.push(subscribeErrorStatus(msg.pair, msg.name ?? '', msg.error ?? 'refused', recv));
        }
        return;
      case 'ticker':
        out.records.push(tickFromV1(msg, recv));
        return;
      case 'trade':
        for (const t of msg.trades) {
          // v1 has no trade id: the (time, price, volume, side) tuple identifies a print
          if (this.firstSighting(msg.pair, `${t.time}|${t.price}|${t.qty}|${t.side}`)) out.records.push(tradeFromV1(msg.pair, t, recv));
        }
        return;
      case 'book': {
        let st = this.booksV1.get(msg.pair);
        if (!st) {
          st = { book: new KrakenBook(msg.depth), awaitingSnapshot: true, lastGoodUs: 0 };
          this.booksV1.set(msg.pair, st);
        }
        st.book.depth = msg.depth;
        const snapshot = msg.type === 'snapshot';
        if (snapshot) {
          st.book.clear();
          st.awaitingSnapshot = false;
        } else if (st.awaitingSnapshot) return;
        let bad = false;
        for (const l of msg.asks) bad = !st.book.apply('ask', l.price, l.qty) || bad;
        for (const l of msg.bids) bad = !st.book.apply('bid', l.price, l.qty) || bad;
        if (bad) out.error('schema', `${msg.pair}: price out of range`);
        st.book.truncate();
        this.finishBook(msg.pair, st, snapshot, msg.checksum, bookTimeV1(msg.asks, msg.bids, recv), recv, out, false);
        return;
      }
    }
  }

  // ------------------------------------------------------------------ shared

  private finishBook(
    symbol: string,
    st: BookState,
    snapshot: boolean,
    checksum: number | null,
    tsEventUs: number,
    recvUs: number,
    out: Out,
    v2: boolean,
  ): void {
    const computed = checksum === null ? null : st.book.checksum();
    const ok = computed === checksum;
    out.records.push(depthFromBook(symbol, st.book, this.opts.publishLevels, snapshot, checksum, ok, tsEventUs, recvUs));
    if (ok) {
      st.lastGoodUs = recvUs;
      return;
    }
    out.bump('checksum_failures');
    out.records.push(checksumGap(symbol, checksum as number, computed as number, st.lastGoodUs || recvUs, recvUs));
    st.book.clear();
    st.awaitingSnapshot = true;
    const sub = this.opts.subscribe;
    if (v2 && sub?.feed === 'book') {
      const opts = { depth: sub.bookDepth };
      out.send.push(unsubscribeRequest('book', [symbol], opts, ++this.reqId));
      out.send.push(subscribeRequest('book', [symbol], { ...opts, snapshot: true }, ++this.reqId));
      out.bump('resubscribes');
    }
  }

  /** True the first time (symbol, id) is seen within the dedupe window. */
  private firstSighting(symbol: string, id: string): boolean {
    let ids = this.recentTrades.get(symbol);
    if (!ids) {
      ids = new RecentIds(this.dedupeWindow);
      this.recentTrades.set(symbol, ids);
    }
    return ids.add(id);
  }
}

/** A live v2 session for one configured Kraken publisher. */
export function createKrakenFeedSession(cfg: {
  feed: 'ticker' | 'book' | 'trade';
  instruments: readonly string[];
  bookDepth: KrakenBookDepth;
  publishLevels: number;
}): KrakenFeedSession {
  return new KrakenFeedSession({
    publishLevels: cfg.publishLevels,
    subscribe: { feed: cfg.feed, instruments: cfg.instruments, bookDepth: cfg.bookDepth },
  });
}

/** A session for recorded Kraken frames (v1 and v2, detected per frame); it never asks to send. */
export function createKrakenReplaySession(opts: { publishLevels: number }): KrakenFeedSession {
  return new KrakenFeedSession({ publishLevels: opts.publishLevels });
}
