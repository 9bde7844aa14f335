/**
 * A local Kraken spot WebSocket v2 server for demo mode, tests and benchmarks. It speaks the v2
 * protocol as described in ../shared/reference/venues.md §1: a `status` message on connect, one
 * ack per symbol per subscribe (req_id echoed), the `instrument` snapshot with precisions, ticker /
 * book / trade snapshots then updates at the configured rate, book checksums computed with the
 * connector's own book code, `heartbeat` after ~1 s of silence, ping -> pong, and faults.
 *
 * Message content is deterministic for a seed (timing is not). Numbers are written as JSON number
 * lexemes at the pair's full precision with trailing zeros, as Kraken does.
 */
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { AddressInfo, Socket } from 'node:net';
import { KrakenBook } from '../venues/kraken/book.js';

export interface KrakenSimulatorFaults {
  /** Drop every connection every N ms (0 = never). */
  dropEveryMs: number;
  /** Every N ms send nothing for `stallMs` (sockets stay open) (0 = never). */
  stallEveryMs: number;
  stallMs: number;
  /** Probability (0-1) that a book message carries a wrong checksum. */
  badChecksumRate: number;
  /** Probability (0-1) of an extra garbage frame per message. */
  garbageRate: number;
}

export interface KrakenSimulatorOptions {
  /** v2 symbols served (`BTC/USD`); subscribing to others gets an error ack. */
  instruments: string[];
  /** Data messages per second per connection across its subscriptions; 0 = as fast as possible. */
  ratePerS: number;
  seed?: number;
  faults?: Partial<KrakenSimulatorFaults>;
  /** Port to listen on (default 0: any free port). */
  port?: number;
  /** Address to bind (default 127.0.0.1). */
  host?: string;
}

export interface KrakenSimulatorStats {
  connections: number;
  connectionsTotal: number;
  messagesSent: number;
  bookMessages: number;
  tickerMessages: number;
  tradeMessages: number;
  heartbeats: number;
  badChecksums: number;
  garbageFrames: number;
  drops: number;
  stalls: number;
  subscribes: number;
  unsubscribes: number;
  pings: number;
}

export interface KrakenSimulator {
  /** `ws://127.0.0.1:<port>/v2` */
  url: string;
  port: number;
  close(): Promise<void>;
  stats(): KrakenSimulatorStats;
  /** Terminate every client connection now. */
  dropAll(): void;
}

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer `units` scaled by 10^-decimals as decimal text with exactly `decimals` digits. */
function fmt(units: number, decimals: number): string {
  if (decimals === 0) return String(units);
  const s = String(units).padStart(decimals + 1, '0');
  return `${s.slice(0, -decimals)}.${s.slice(-decimals)}`;
}

function rfc3339(us: number): string {
  const ms = Math.floor(us / 1000);
  return `${new Date(ms).toISOString().slice(0, 23)}${String(us % 1000).padStart(3, '0')}Z`;
}

const nowUs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);

interface Market {
  symbol: string;
  pricePrecision: number;
  qtyPrecision: number;
  /** Mid price in ticks (units of 10^-pricePrecision). */
  mid: number;
  nextTradeId: number;
  trades: string[];
  volumeUnits: number;
}

type Channel = 'ticker' | 'book' | 'trade';

interface Conn {
  ws: WebSocket;
  /** The connection's TCP socket (corked while a pump writes its frames). */
  socket: Socket;
  rng: () => number;
  subs: { channel: Channel; symbol: string }[];
  books: Map<string, KrakenBook>;
  lastSentMs: number;
  sent: number;
  startMs: number;
  instrument: boolean;
}

/** Start a Kraken v2 simulator on 127.0.0.1. */
export async function startKrakenSimulator(opts: KrakenSimulatorOptions): Promise<KrakenSimulator> {
  const faults: KrakenSimulatorFaults = { dropEveryMs: 0, stallEveryMs: 0, stallMs: 0, badChecksumRate: 0, garbageRate: 0, ...opts.faults };
  const seed = opts.seed ?? 1;
  const marketRng = prng(seed);
  const stats: KrakenSimulatorStats = {
    connections: 0,
    connectionsTotal: 0,
    messagesSent: 0,
    bookMessages: 0,
    tickerMessages: 0,
    tradeMessages: 0,
    heartbeats: 0,
    badChecksums: 0,
    garbageFrames: 0,
    drops: 0,
    stalls: 0,
    subscribes: 0,
    unsubscribes: 0,
    pings: 0,
  };

  const markets = new Map<string, Market>();
  for (const symbol of opts.instruments) {
    const btc = /^(BTC|XBT)\//.test(symbol);
    const base = btc ? 45_000 : symbol.startsWith('ETH/') ? 1_800 : 10 + Math.floor(marketRng() * 90);
    const pricePrecision = btc ? 1 : symbol.startsWith('ETH/') ? 2 : 4;
    markets.set(symbol, {
      symbol,
      pricePrecision,
      qtyPrecision: 8,
      mid: base * 10 ** pricePrecision,
      nextTradeId: 1_000_000 + Math.floor(marketRng() * 1000),
      trades: [],
      volumeUnits: Math.floor(marketRng() * 1e12),
    });
  }

  const conns = new Set<Conn>();
  let connIndex = 0;
  let stalledUntilMs = 0;
  let closed = false;

  const wss = new WebSocketServer({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const port = (wss.address() as AddressInfo).port;

  const send = (c: Conn, text: string): void => {
    if (c.ws.readyState !== WebSocket.OPEN) return;
    c.ws.send(text);
    c.lastSentMs = performance.now();
    stats.messagesSent++;
  };

  const randQty = (rng: () => number, m: Market): string => fmt(1 + Math.floor(rng() * 5 * 10 ** m.qtyPrecision), m.qtyPrecision);
  const levelJson = (price: string, qty: string): string => `{"price":${price},"qty":${qty}}`;

  // ---------------------------------------------------------------- book

  const initialBook = (c: Conn, m: Market, depth: number): KrakenBook => {
    const book = new KrakenBook(depth, m.pricePrecision, m.qtyPrecision);
    for (let i = 0; i < depth; i++) {
      book.apply('bid', fmt(m.mid - 1 - i * 2, m.pricePrecision), randQty(c.rng, m));
      book.apply('ask', fmt(m.mid + 1 + i * 2, m.pricePrecision), randQty(c.rng, m));
    }
    return book;
  };

  const checksumFor = (book: KrakenBook): number => {
    const crc = book.checksum();
    if (faults.badChecksumRate > 0 && marketRng() < faults.badChecksumRate) {
      stats.badChecksums++;
      return (crc + 1) >>> 0;
    }
    return crc;
  };

  const sendBookSnapshot = (c: Conn, m: Market, book: KrakenBook): void => {
    const bids = book.bids.map((l) => levelJson(l.price, l.qty)).join(',');
    const asks = book.asks.map((l) => levelJson(l.price, l.qty)).join(',');
    const cs = checksumFor(book);
    send(
      c,
      `{"channel":"book","type":"snapshot","data":[{"symbol":"${m.symbol}","bids":[${bids}],"asks":[${asks}],"checksum":${cs},"timestamp":"${rfc3339(nowUs())}"}]}`,
    );
    stats.bookMessages++;
  };

  const sendBookUpdate = (c: Conn, m: Market, book: KrakenBook): void => {
    const rng = c.rng;
    const changes: Record<'bid' | 'ask', string[]> = { bid: [], ask: [] };
    const n = 1 + Math.floor(rng() * 3);
    for (let k = 0; k < n; k++) {
      const side = rng() < 0.5 ? 'bid' : 'ask';
      const levels = side === 'bid' ? book.bids : book.asks;
      const dir = side === 'bid' ? -1 : 1;
      const r = rng();
      const worstTicks = levels.length ? Math.round(Number(levels[levels.length - 1]?.price) * 10 ** m.pricePrecision) : m.mid + dir;
      let price: string;
      let qty: string;
      if (r < 0.5 && levels.length > 0) {
        price = (levels[Math.floor(rng() * levels.length)] as { price: string }).price;
        qty = randQty(rng, m);
      } else if (r < 0.75 && levels.length > 1) {
        // delete one level and refill the window beyond the worst, as the venue does
        price = (levels[Math.floor(rng() * levels.length)] as { price: string }).price;
        qty = fmt(0, m.qtyPrecision);
        changes[side].push(levelJson(price, qty));
        book.apply(side, price, qty);
        price = fmt(worstTicks + dir * (1 + Math.floor(rng() * 3)), m.pricePrecision);
        qty = randQty(rng, m);
      } else {
        // a new level somewhere inside the window (never crossing the mid)
        const span = Math.max(1, Math.abs(worstTicks - m.mid));
        price = fmt(m.mid + dir * (1 + Math.floor(rng() * span)), m.pricePrecision);
        qty = randQty(rng, m);
      }
      if (Number(price) <= 0) continue;
      changes[side].push(levelJson(price, qty));
      book.apply(side, price, qty);
    }
    book.truncate();
    const cs = checksumFor(book);
    send(
      c,
      `{"channel":"book","type":"update","data":[{"symbol":"${m.symbol}","bids":[${changes.bid.join(',')}],"asks":[${changes.ask.join(',')}],"checksum":${cs},"timestamp":"${rfc3339(nowUs())}"}]}`,
    );
    stats.bookMessages++;
  };

  // ---------------------------------------------------------------- ticker and trade

  const tickerJson = (c: Conn, m: Market, type: 'snapshot' | 'update'): string => {
    const book = c.books.get(m.symbol);
    const p = m.pricePrecision;
    const bid = book?.bids[0]?.price ?? fmt(m.mid - 1, p);
    const ask = book?.asks[0]?.price ?? fmt(m.mid + 1, p);
    const last = fmt(m.mid + (c.rng() < 0.5 ? -1 : 1), p);
    m.volumeUnits += Math.floor(c.rng() * 1e8);
    const d = [
      `"symbol":"${m.symbol}"`,
      `"bid":${bid}`,
      `"bid_qty":${book?.bids[0]?.qty ?? randQty(c.rng, m)}`,
      `"ask":${ask}`,
      `"ask_qty":${book?.asks[0]?.qty ?? randQty(c.rng, m)}`,
      `"last":${last}`,
      `"volume":${fmt(m.volumeUnits, m.qtyPrecision)}`,
      `"vwap":${fmt(m.mid, p)}`,
      `"low":${fmt(m.mid - 100, p)}`,
      `"high":${fmt(m.mid + 100, p)}`,
      `"change":${fmt(10, p)}`,
      `"change_pct":0.10`,
      `"timestamp":"${rfc3339(nowUs())}"`,
    ];
    stats.tickerMessages++;
    return `{"channel":"ticker","type":"${type}","data":[{${d.join(',')}}]}`;
  };

  const newTrade = (c: Conn, m: Market): string => {
    const side = c.rng() < 0.5 ? 'buy' : 'sell';
    const t = `{"symbol":"${m.symbol}","side":"${side}","price":${fmt(m.mid + (side === 'buy' ? 1 : -1), m.pricePrecision)},"qty":${randQty(c.rng, m)},"ord_type":"${c.rng() < 0.7 ? 'market' : 'limit'}","trade_id":${m.nextTradeId++},"timestamp":"${rfc3339(nowUs())}"}`;
    m.trades.push(t);
    if (m.trades.length > 50) m.trades.shift();
    return t;
  };

  // ---------------------------------------------------------------- requests

  const ack = (c: Conn, method: string, result: Record<string, unknown> | null, reqId: unknown, error?: string, symbol?: string): void => {
    const t = rfc3339(nowUs());
    const o: Record<string, unknown> = { method };
    if (result) o.result = result;
    if (error !== undefined) {
      o.error = error;
      if (symbol !== undefined) o.symbol = symbol;
    }
    o.success = error === undefined;
    o.time_in = t;
    o.time_out = t;
    if (typeof reqId === 'number') o.req_id = reqId;
    send(c, JSON.stringify(o));
  };

  const onRequest = (c: Conn, text: string): void => {
    let req: { method?: unknown; params?: Record<string, unknown>; req_id?: unknown };
    try {
      req = JSON.parse(text) as typeof req;
    } catch {
      ack(c, 'unknown', null, undefined, 'Malformed request');
      return;
    }
    const reqId = req.req_id;
    if (req.method === 'ping') {
      stats.pings++;
      const t = rfc3339(nowUs());
      send(c, JSON.stringify({ method: 'pong', ...(typeof reqId === 'number' ? { req_id: reqId } : {}), time_in: t, time_out: t }));
      return;
    }
    if (req.method !== 'subscribe' && req.method !== 'unsubscribe') {
      ack(c, String(req.method), null, reqId, 'Method not found');
      return;
    }
    const method = req.method;
    const p = req.params ?? {};
    const channel = p.channel;
    if (channel === 'instrument') {
      ack(c, method, { channel: 'instrument', snapshot: true }, reqId);
      if (method === 'subscribe') {
        stats.subscribes++;
        c.instrument = true;
        const pairs = [...markets.values()].map((m) => {
          const [base, quote] = m.symbol.split('/');
          return `{"base":"${base}","quote":"${quote}","symbol":"${m.symbol}","status":"online","price_precision":${m.pricePrecision},"qty_precision":${m.qtyPrecision},"price_increment":${fmt(1, m.pricePrecision)},"qty_increment":${fmt(1, m.qtyPrecision)},"qty_min":${fmt(1, m.qtyPrecision)},"cost_precision":5,"cost_min":0.5,"marginable":false,"has_index":true,"tick_size":${fmt(1, m.pricePrecision)}}`;
        });
        send(c, `{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":[${pairs.join(',')}]}}`);
      } else stats.unsubscribes++;
      return;
    }
    if (channel !== 'ticker' && channel !== 'book' && channel !== 'trade') {
      ack(c, method, null, reqId, `Channel ${String(channel)} not supported`);
      return;
    }
    const symbols = Array.isArray(p.symbol) ? (p.symbol as unknown[]) : [];
    const depth = channel === 'book' ? (p.depth ?? 10) : undefined;
    if (depth !== undefined && ![10, 25, 100, 500, 1000].includes(depth as number)) {
      ack(c, method, null, reqId, 'Invalid depth');
      return;
    }
    const snapshot = p.snapshot ?? channel !== 'trade';
    for (const s of symbols) {
      const m = typeof s === 'string' ? markets.get(s) : undefined;
      if (!m) {
        ack(c, method, null, reqId, 'Currency pair not supported', String(s));
        continue;
      }
      const i = c.subs.findIndex((x) => x.channel === channel && x.symbol === m.symbol);
      if (method === 'unsubscribe') {
        stats.unsubscribes++;
        if (i < 0) {
          ack(c, method, null, reqId, 'Subscription Not Found', m.symbol);
          continue;
        }
        c.subs.splice(i, 1);
        ack(c, method, { channel, symbol: m.symbol, ...(depth !== undefined ? { depth } : {}) }, reqId);
        continue;
      }
      stats.subscribes++;
      if (i >= 0) {
        ack(c, method, null, reqId, 'Already subscribed', m.symbol);
        continue;
      }
      c.subs.push({ channel, symbol: m.symbol });
      ack(c, method, { channel, symbol: m.symbol, snapshot, ...(depth !== undefined ? { depth } : {}) }, reqId);
      if (channel === 'book') {
        let book = c.books.get(m.symbol);
        if (!book || book.depth !== depth) {
          book = initialBook(c, m, depth as number);
          c.books.set(m.symbol, book);
        }
        if (snapshot) sendBookSnapshot(c, m, book);
      } else if (channel === 'ticker') {
        if (snapshot) send(c, tickerJson(c, m, 'snapshot'));
      } else if (snapshot && m.trades.length > 0) {
        send(c, `{"channel":"trade","type":"snapshot","data":[${m.trades.join(',')}]}`);
        stats.tradeMessages++;
      }
    }
  };

  // ---------------------------------------------------------------- data pump

  const GARBAGE = [
    '{"channel":"book","type":"upd',
    'not json at all',
    '{"channel":"nonsense","data":[]}',
    '[1,2,',
    '\u0000\u0001\u0002',
    '{"channel":"book","type":"update","data":[{"symbol":5}]}',
  ];

  const emitOne = (c: Conn): void => {
    const sub = c.subs[Math.floor(c.rng() * c.subs.length)];
    if (!sub) return;
    const m = markets.get(sub.symbol) as Market;
    if (sub.channel === 'book') {
      const book = c.books.get(sub.symbol);
      if (book) sendBookUpdate(c, m, book);
    } else if (sub.channel === 'ticker') send(c, tickerJson(c, m, 'update'));
    else {
      const n = 1 + Math.floor(c.rng() * 2);
      const ts: string[] = [];
      for (let i = 0; i < n; i++) ts.push(newTrade(c, m));
      send(c, `{"channel":"trade","type":"update","data":[${ts.join(',')}]}`);
      stats.tradeMessages++;
    }
    if (faults.garbageRate > 0 && c.rng() < faults.garbageRate) {
      send(c, GARBAGE[Math.floor(c.rng() * GARBAGE.length)] as string);
      stats.garbageFrames++;
    }
    c.sent++;
  };

  const MAX_BUFFERED = 1 << 20;
  const pump = (): void => {
    if (closed) return;
    const now = performance.now();
    if (now >= stalledUntilMs) {
      for (const c of conns) {
        if (c.ws.readyState !== WebSocket.OPEN || c.subs.length === 0) continue;
        // Corked: the frames of one pump go out in one write, not one system call per frame.
        c.socket.cork();
        try {
          if (opts.ratePerS > 0) {
            const due = Math.floor(((now - c.startMs) * opts.ratePerS) / 1000);
            // never burst more than one second's worth after a stall
            if (due - c.sent > opts.ratePerS) c.sent = due - opts.ratePerS;
            while (c.sent < due && c.ws.bufferedAmount < MAX_BUFFERED) emitOne(c);
          } else {
            for (let i = 0; i < 200 && c.ws.bufferedAmount < MAX_BUFFERED; i++) emitOne(c);
          }
        } finally {
          c.socket.uncork();
        }
      }
      for (const c of conns) {
        if (c.subs.length > 0 && now - c.lastSentMs >= 1000) {
          send(c, '{"channel":"heartbeat"}');
          stats.heartbeats++;
        }
      }
    }
    if (opts.ratePerS === 0 && conns.size > 0 && now >= stalledUntilMs) setImmediate(pump);
    else pumpTimer = setTimeout(pump, 5);
  };
  let pumpTimer: NodeJS.Timeout = setTimeout(pump, 5);

  const timers: NodeJS.Timeout[] = [];
  if (faults.dropEveryMs > 0) {
    timers.push(
      setInterval(() => {
        if (conns.size > 0) stats.drops++;
        dropAll();
      }, faults.dropEveryMs),
    );
  }
  if (faults.stallEveryMs > 0 && faults.stallMs > 0) {
    timers.push(
      setInterval(() => {
        stalledUntilMs = performance.now() + faults.stallMs;
        stats.stalls++;
      }, faults.stallEveryMs),
    );
  }

  wss.on('connection', (ws, req) => {
    const c: Conn = {
      ws,
      socket: req.socket,
      rng: prng(seed * 7919 + ++connIndex),
      subs: [],
      books: new Map(),
      lastSentMs: performance.now(),
      sent: 0,
      startMs: performance.now(),
      instrument: false,
    };
    conns.add(c);
    stats.connections = conns.size;
    stats.connectionsTotal++;
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) onRequest(c, (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer)).toString('utf8'));
    });
    ws.on('close', () => {
      conns.delete(c);
      stats.connections = conns.size;
    });
    ws.on('error', () => ws.terminate());
    const connectionId = BigInt(Math.floor(marketRng() * 2 ** 32)) * 2n ** 32n + BigInt(Math.floor(marketRng() * 2 ** 32));
    send(
      c,
      `{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":${connectionId},"system":"online","version":"2.0.10"}]}`,
    );
  });

  function dropAll(): void {
    for (const c of conns) c.ws.terminate();
  }

  return {
    url: `ws://127.0.0.1:${port}/v2`,
    port,
    stats: () => ({ ...stats }),
    dropAll,
    close: async () => {
      closed = true;
      clearTimeout(pumpTimer);
      for (const t of timers) clearInterval(t);
      dropAll();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
