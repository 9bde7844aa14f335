/**
 * A local OANDA v20 pricing-stream server (node:http on 127.0.0.1) for demo mode, tests and
 * benchmarks. It speaks the real protocol (venues.md §2): `GET /v3/accounts/{id}/pricing/stream
 * ?instruments=A,B` with `Authorization: Bearer <token>`, answers 200 with a chunked body of
 * newline-delimited JSON: one snapshot PRICE per instrument, then PRICE lines in OANDA's wire field
 * order and a HEARTBEAT every 5 s. Lines are sometimes split across two chunks, as on the real wire.
 *
 * Weekend mode: the snapshot prices are non-tradeable and only heartbeats follow.
 * Faults: drop every connection every `dropEveryMs`, stall (send nothing, keep the socket) every
 * `stallEveryMs` for `stallMs`, and a garbage line with probability `garbageRate` per message.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface OandaSimulatorFaults {
  dropEveryMs?: number;
  stallEveryMs?: number;
  stallMs?: number;
  /** Probability (0-1) that a message is preceded by a garbage line. */
  garbageRate?: number;
}

export interface OandaSimulatorOptions {
  instruments: string[];
  /** PRICE lines per second per connection (all instruments together); 0 = as fast as possible. */
  ratePerS: number;
  /** Required Bearer token; when unset any token (or none) is accepted. */
  token?: string;
  seed?: number;
  weekend?: boolean;
  faults?: OandaSimulatorFaults;
  port?: number;
  /** Heartbeat interval (OANDA: 5000 ms); tests shorten it. */
  heartbeatMs?: number;
}

export interface OandaSimulatorStats {
  connections: number;
  active: number;
  rejected: number;
  prices: number;
  heartbeats: number;
  garbage: number;
  drops: number;
  stalls: number;
  /** Timers pending on the open streams (a handful per stream; more means they are leaking). */
  timers: number;
}

export interface OandaSimulator {
  url: string;
  port: number;
  close(): Promise<void>;
  /** Destroy every open stream mid-flight (a TCP reset from the client's point of view). */
  dropAll(): void;
  stats(): OandaSimulatorStats;
}

/** mulberry32: small seeded PRNG so runs are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0 || 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BUCKETS = [1_000_000, 2_000_000, 5_000_000, 10_000_000];

interface InstrumentState {
  name: string;
  decimals: number;
  /** Mid price in units of 10^-decimals. */
  mid: number;
}

function initialMid(name: string, rnd: () => number): InstrumentState {
  const jpy = name.endsWith('_JPY');
  const decimals = jpy ? 3 : 5;
  const base = jpy ? 110 + rnd() * 40 : name.startsWith('XAU') ? 1900 + rnd() * 100 : 0.8 + rnd() * 0.6;
  return { name, decimals, mid: Math.round(base * 10 ** decimals) };
}

const fmt = (units: number, decimals: number) => {
  const s = String(units).padStart(decimals + 1, '0');
  return `${s.slice(0, -decimals)}.${s.slice(-decimals)}`;
};

/** RFC 3339 with nanoseconds, as OANDA sends (`2016-10-27T08:38:44.327443673Z`). */
function rfc3339Nanos(ms: number, subMsNanos: number): string {
  const iso = new Date(ms).toISOString(); // ...T08:38:44.327Z
  return `${iso.slice(0, 23)}${String(subMsNanos).padStart(6, '0')}Z`;
}

/** One PRICE line in OANDA's wire field order. */
function priceLine(s: InstrumentState, time: string, tradeable: boolean, levels: number, spread: number): string {
  const bids: string[] = [];
  const asks: string[] = [];
  const half = Math.ceil(spread / 2);
  for (let i = 0; i < levels; i++) {
    const liq = BUCKETS[i % BUCKETS.length]!;
    bids.push(`{"price":"${fmt(s.mid - half - i, s.decimals)}","liquidity":${liq}}`);
    asks.push(`{"price":"${fmt(s.mid + half + i, s.decimals)}","liquidity":${liq}}`);
  }
  const cb = fmt(s.mid - half - levels, s.decimals);
  const ca = fmt(s.mid + half + levels, s.decimals);
  const status = tradeable ? 'tradeable' : 'non-tradeable';
  return `{"type":"PRICE","time":"${time}","bids":[${bids.join(',')}],"asks":[${asks.join(',')}],"closeoutBid":"${cb}","closeoutAsk":"${ca}","status":"${status}","tradeable":${tradeable},"instrument":"${s.name}"}\n`;
}

const GARBAGE = [
  '{"type":"PRICE","time":"2024-01-01T00:00:00.000000000Z","bids":[{"price":"1.1',
  'HTTP/1.1 500 oops',
  '{"type":"PRICE","bids":"nope"}',
  '\u0001\u0002garbage\u00ff',
  '[1,2,3]',
];

/** Start the simulator; resolves once it listens on 127.0.0.1 (port 0 = a free port). */
export async function startOandaSimulator(opts: OandaSimulatorOptions): Promise<OandaSimulator> {
  const rnd = prng(opts.seed ?? 1);
  const heartbeatMs = opts.heartbeatMs ?? 5000;
  const faults = opts.faults ?? {};
  const known = new Map<string, InstrumentState>();
  for (const i of opts.instruments) known.set(i, initialMid(i, rnd));
  const st: Omit<OandaSimulatorStats, 'timers'> = {
    connections: 0,
    active: 0,
    rejected: 0,
    prices: 0,
    heartbeats: 0,
    garbage: 0,
    drops: 0,
    stalls: 0,
  };
  const streams = new Set<{ res: http.ServerResponse; stop(): void; timers(): number }>();
  const sockets = new Set<Socket>();
  let stalledUntil = 0;
  const timers: NodeJS.Timeout[] = [];

  // Nanosecond-looking times: ms from Date.now plus a per-stream counter below the millisecond.
  let nanoTick = 0;
  const now = () => rfc3339Nanos(Date.now(), (nanoTick = (nanoTick + 7919) % 1_000_000));

  const jsonError = (res: http.ServerResponse, status: number, errorMessage: string) => {
    st.rejected++;
    const body = JSON.stringify({ errorMessage });
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };

  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const m = /^\/v3\/accounts\/([^/]+)\/pricing\/stream$/.exec(u.pathname);
    if (!m) return jsonError(res, 404, 'The requested URL was not found on this server.');
    if (req.method !== 'GET') return jsonError(res, 405, 'The requested method is not allowed for the URL.');
    if (opts.token !== undefined && req.headers.authorization !== `Bearer ${opts.token}`) {
      return jsonError(res, 401, 'Insufficient authorization to perform request.');
    }
    const names = (u.searchParams.get('instruments') ?? '').split(',').filter(Boolean);
    const bad = names.filter((n) => !/^[A-Z0-9]+_[A-Z0-9]+$/.test(n));
    if (names.length === 0 || bad.length) return jsonError(res, 400, `Invalid value specified for 'instruments'`);
    for (const n of names) if (!known.has(n)) known.set(n, initialMid(n, rnd));
    const insts = names.map((n) => known.get(n)!);
    stream(res, insts, u.searchParams.get('snapshot') !== 'false');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  function stream(res: http.ServerResponse, insts: InstrumentState[], snapshot: boolean) {
    st.connections++;
    st.active++;
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    let stopped = false;
    let sent = 0;
    let next = 0;
    const started = performance.now();
    // This stream's pending timers, so stop() can clear them. A timer leaves the set when it fires:
    // keeping every timer ever set grew the publisher process by ~150 bytes per tick without bound.
    const local = new Set<NodeJS.Timeout>();
    const later = (fn: () => void, ms: number): void => {
      const t = setTimeout(() => {
        local.delete(t);
        fn();
      }, ms);
      local.add(t);
    };
    const handle = {
      res,
      timers: () => local.size,
      stop() {
        if (stopped) return;
        stopped = true;
        st.active--;
        for (const t of local) clearTimeout(t);
        local.clear();
        streams.delete(handle);
      },
    };
    streams.add(handle);
    res.on('close', () => handle.stop());

    /** Write a line, sometimes split across two chunks like the real wire. */
    const write = (line: string): boolean => {
      if (rnd() < 0.2 && line.length > 2) {
        const cut = 1 + Math.floor(rnd() * (line.length - 1));
        res.write(line.slice(0, cut));
        return res.write(line.slice(cut));
      }
      return res.write(line);
    };
    const maybeGarbage = () => {
      if (faults.garbageRate && rnd() < faults.garbageRate) {
        st.garbage++;
        write(`${GARBAGE[Math.floor(rnd() * GARBAGE.length)]}\n`);
      }
    };
    const sendPrice = (tradeable: boolean): boolean => {
      const s = insts[next++ % insts.length]!;
      if (tradeable) s.mid = Math.max(10, s.mid + Math.round((rnd() - 0.5) * 4));
      maybeGarbage();
      st.prices++;
      return write(priceLine(s, now(), tradeable, 1 + Math.floor(rnd() * 4), 2 + Math.floor(rnd() * 10)));
    };
    const stalled = () => performance.now() < stalledUntil;

    if (snapshot) {
      for (const s of insts) {
        st.prices++;
        write(priceLine(s, now(), !opts.weekend, 2, 6));
      }
    }
    next = 0;

    const heartbeat = () => {
      if (stopped) return;
      if (!stalled()) {
        maybeGarbage();
        st.heartbeats++;
        write(`{"type":"HEARTBEAT","time":"${now()}"}\n`);
      }
      later(heartbeat, heartbeatMs);
    };
    later(heartbeat, heartbeatMs);
    if (opts.weekend) return;

    if (opts.ratePerS > 0) {
      // Prices due go out together every 5 ms at most (a timer and a socket write per price cost
      // more than the price; the connector reads the same lines either way).
      const tickMs = Math.max(5, Math.min(100, Math.floor(1000 / opts.ratePerS)));
      const tick = () => {
        if (stopped) return;
        if (!stalled()) {
          const due = Math.floor(((performance.now() - started) * opts.ratePerS) / 1000);
          // After a stall, skip what was missed instead of bursting it.
          if (due - sent > opts.ratePerS) sent = due - 1;
          while (sent < due && !stopped) {
            sent++;
            sendPrice(true);
          }
        } else sent = Math.floor(((performance.now() - started) * opts.ratePerS) / 1000);
        later(tick, tickMs);
      };
      later(tick, tickMs);
    } else {
      // As fast as possible, but yield to the event loop between bursts and respect backpressure.
      const burst = () => {
        if (stopped) return;
        if (stalled()) return void later(burst, 5);
        for (let i = 0; i < 256; i++) {
          if (!sendPrice(true)) return void res.once('drain', () => setImmediate(burst));
        }
        setImmediate(burst);
      };
      setImmediate(burst);
    }
  }

  const dropAll = () => {
    for (const s of [...streams]) {
      st.drops++;
      s.stop();
      s.res.socket?.destroy();
    }
  };
  if (faults.dropEveryMs) {
    const every = faults.dropEveryMs;
    const t = setInterval(dropAll, every);
    timers.push(t);
  }
  if (faults.stallEveryMs && faults.stallMs) {
    const stallMs = faults.stallMs;
    timers.push(
      setInterval(() => {
        st.stalls++;
        stalledUntil = performance.now() + stallMs;
      }, faults.stallEveryMs),
    );
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dropAll,
    stats: () => ({ ...st, timers: [...streams].reduce((n, h) => n + h.timers(), 0) }),
    close: async () => {
      for (const t of timers) clearInterval(t);
      dropAll();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
