/**
 * A local Betfair Exchange Stream API server (TLS on 127.0.0.1, the throwaway certificate in
 * ./tls) for demo mode, tests and benchmarks. It speaks the real protocol (venues.md §3):
 * `connection` on connect; `authentication` checked (Betfair's FAILURE statuses otherwise);
 * `marketSubscription` answered with status SUCCESS, a `SUB_IMAGE` (segmented when large and
 * segmentation was asked for) and then deltas at `ratePerS` with increasing `clk`; `HEARTBEAT`
 * change messages when idle; resume (`initialClk` + `clk`) answered with `RESUB_DELTA`; faults.
 *
 * The market model is pure and seeded ({@link createBetfairMarketModel}): the same seed gives the
 * same sequence of changes. Prices sit on Betfair's tick ladder; back prices stay below lay prices.
 */
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { createCrlfFramer } from '../venues/betfair/framing.js';
import { LOCALHOST_CERT_PEM, LOCALHOST_KEY_PEM } from './tls/localhost-cert.js';

// ---------------------------------------------------------------- pure market model

/** Deterministic PRNG (mulberry32), [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Betfair's CLASSIC price ladder in hundredths: 1.01 ... 1000. */
const TICKS_HUNDREDTHS: number[] = (() => {
  const bands: [number, number, number][] = [
    [101, 200, 1],
    [202, 300, 2],
    [305, 400, 5],
    [410, 600, 10],
    [620, 1000, 20],
    [1050, 2000, 50],
    [2100, 3000, 100],
    [3200, 5000, 200],
    [5500, 10000, 500],
    [11000, 100000, 1000],
  ];
  const out: number[] = [];
  for (const [from, to, step] of bands) for (let h = from; h <= to; h += step) out.push(h);
  return out;
})();

/** Ladder price of a tick index, as a JS number whose JSON text is Betfair's ("1.5", "2.02", "10"). */
const priceOf = (tick: number): number => (TICKS_HUNDREDTHS[tick] as number) / 100;
const money = (cents: number): number => cents / 100;

interface SimRunner {
  id: number;
  back: Map<number, number>;
  lay: Map<number, number>;
  trd: Map<number, number>;
  ltp: number | null;
  tvCents: number;
}

interface SimMarket {
  id: string;
  runners: SimRunner[];
  tvCents: number;
  status: SimMarketStatus;
  inPlay: boolean;
  version: number;
}

/** Market statuses the simulator can put a market in (venues.md §3.3 marketDefinition.status). */
export type SimMarketStatus = 'OPEN' | 'SUSPENDED' | 'CLOSED' | 'INACTIVE';

/** One change of the model (what a delta carries), with the clk it produced. */
export interface ModelChange {
  clk: number;
  market: number;
  runner: number;
  /** Ticks whose back/lay size changed (the new size may be 0 = removed). */
  backTicks: number[];
  layTicks: number[];
  /** Top 10 back/lay [tick, cents] before the change (for level-ladder diffs). */
  backBefore: [number, number][];
  layBefore: [number, number][];
  traded: number | null;
  definitionChanged: boolean;
}

export interface SubscriptionView {
  fields: ReadonlySet<string>;
  ladderLevels: number;
}

const topBack = (r: SimRunner, n: number): [number, number][] => [...r.back.entries()].sort((a, b) => b[0] - a[0]).slice(0, n);
const topLay = (r: SimRunner, n: number): [number, number][] => [...r.lay.entries()].sort((a, b) => a[0] - b[0]).slice(0, n);

function levelDiff(before: [number, number][], after: [number, number][], levels: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let i = 0; i < levels; i++) {
    const b = before[i];
    const a = after[i];
    if (b?.[0] === a?.[0] && b?.[1] === a?.[1]) continue;
    out.push(a ? [i, priceOf(a[0]), money(a[1])] : [i, 0, 0]);
  }
  return out;
}

function levelFull(after: [number, number][], levels: number, withEmpties: boolean): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let i = 0; i < levels; i++) {
    const a = after[i];
    if (a) out.push([i, priceOf(a[0]), money(a[1])]);
    else if (withEmpties) out.push([i, 0, 0]);
  }
  return out;
}

export interface BetfairMarketModel {
  readonly marketIds: string[];
  /** Clock of the last change (0 before the first). */
  readonly clk: number;
  /** Some market is OPEN (only open markets change; with none, the feed is heartbeats only). */
  readonly anyOpen: boolean;
  /** Apply one random change to an OPEN market (any market when none is open: check {@link anyOpen}). */
  step(): ModelChange;
  /** Set a market's status: a definition change (new version), nothing else; null when unchanged. */
  setStatus(marketId: string, status: SimMarketStatus): ModelChange | null;
  /** `marketDefinition` of a market. */
  definition(market: number): Record<string, unknown>;
  /** The full `mc` entry (img:true) of a market for a subscription. */
  imageOf(market: number, view: SubscriptionView): Record<string, unknown>;
  /** The `mc` entry of one change for a subscription (null when it changes nothing the subscription sees). */
  deltaOf(change: ModelChange, view: SubscriptionView): Record<string, unknown> | null;
  /**
   * A patch that brings a subscriber at `changes` (all changes after its clk) up to date: current
   * values for every price/level touched, full level ladders, market definitions that changed.
   */
  patchOf(market: number, changes: ModelChange[], view: SubscriptionView): Record<string, unknown> | null;
}

/** A seeded market model: `markets` ids, `runnersPerMarket` runners each. */
export function createBetfairMarketModel(opts: { markets: string[]; runnersPerMarket?: number; seed?: number }): BetfairMarketModel {
  const rnd = seededRandom(opts.seed ?? 1);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const nRunners = opts.runnersPerMarket ?? 3;
  let clk = 0;
  const markets: SimMarket[] = opts.markets.map((id, mi) => ({
    id,
    tvCents: 0,
    status: 'OPEN',
    inPlay: false,
    version: 1000 + mi,
    runners: Array.from({ length: nRunners }, (_, ri) => {
      const mid = int(10, 120);
      const r: SimRunner = { id: 1_000_000 + mi * 1000 + ri, back: new Map(), lay: new Map(), trd: new Map(), ltp: null, tvCents: 0 };
      for (let k = 1; k <= 5; k++) {
        r.back.set(mid - k, int(200, 50_000));
        r.lay.set(mid + k, int(200, 50_000));
      }
      return r;
    }),
  }));

  const bestBack = (r: SimRunner) => Math.max(...r.back.keys());
  const bestLay = (r: SimRunner) => Math.min(...r.lay.keys());

  function step(): ModelChange {
    clk++;
    // Only open markets trade. All open (the default), this draws exactly as before: seeds replay the same.
    const open = markets.flatMap((m, i) => (m.status === 'OPEN' ? [i] : []));
    const pool = open.length ? open : markets.map((_, i) => i);
    const mi = pool[int(0, pool.length - 1)] as number;
    const m = markets[mi] as SimMarket;
    const ri = int(0, m.runners.length - 1);
    const r = m.runners[ri] as SimRunner;
    const change: ModelChange = {
      clk,
      market: mi,
      runner: ri,
      backTicks: [],
      layTicks: [],
      backBefore: topBack(r, 10),
      layBefore: topLay(r, 10),
      traded: null,
      definitionChanged: false,
    };
    if (clk % 997 === 0) {
      // now and then the market goes in play (a definition change, new version)
      m.inPlay = !m.inPlay;
      m.version++;
      change.definitionChanged = true;
    }
    const bb = bestBack(r);
    const bl = bestLay(r);
    const roll = rnd();
    const back = rnd() < 0.5;
    if (roll < 0.6) {
      // place or resize an offer near the top of book, never crossing the other side
      const tick = back
        ? Math.max(0, Math.min(bl - 1, bb - int(-1, 4)))
        : Math.min(TICKS_HUNDREDTHS.length - 1, Math.max(bb + 1, bl + int(-1, 4)));
      (back ? r.back : r.lay).set(tick, int(200, 50_000));
      (back ? change.backTicks : change.layTicks).push(tick);
    } else if (roll < 0.8) {
      const side = back ? r.back : r.lay;
      if (side.size > 1) {
        const ticks = [...side.keys()];
        const tick = ticks[int(0, ticks.length - 1)] as number;
        side.delete(tick);
        (back ? change.backTicks : change.layTicks).push(tick);
      }
    } else {
      // a trade at the best price of one side: the offer shrinks or goes, volume accumulates
      const side = back ? r.back : r.lay;
      const tick = back ? bb : bl;
      const size = side.get(tick) ?? 0;
      const amount = Math.max(1, Math.min(size, int(100, 20_000)));
      if (side.size > 1 && amount >= size) side.delete(tick);
      else side.set(tick, Math.max(1, size - amount));
      (back ? change.backTicks : change.layTicks).push(tick);
      r.trd.set(tick, (r.trd.get(tick) ?? 0) + amount);
      r.ltp = tick;
      r.tvCents += amount;
      m.tvCents += amount;
      change.traded = tick;
    }
    return change;
  }

  function setStatus(marketId: string, status: SimMarketStatus): ModelChange | null {
    const mi = markets.findIndex((m) => m.id === marketId);
    const m = markets[mi];
    if (!m) throw new Error(`betfair simulator: no market ${marketId}`);
    if (m.status === status) return null;
    m.status = status;
    m.version++;
    clk++;
    return {
      clk,
      market: mi,
      runner: 0,
      backTicks: [],
      layTicks: [],
      backBefore: [],
      layBefore: [],
      traded: null,
      definitionChanged: true,
    };
  }

  function definition(mi: number): Record<string, unknown> {
    const m = markets[mi] as SimMarket;
    return {
      bspMarket: false,
      turnInPlayEnabled: true,
      eventTypeId: '7',
      numberOfWinners: 1,
      bettingType: 'ODDS',
      marketType: 'WIN',
      inPlay: m.inPlay,
      betDelay: m.inPlay ? 5 : 0,
      status: m.status,
      complete: true,
      numberOfActiveRunners: m.runners.length,
      version: m.version,
      priceLadderDefinition: { type: 'CLASSIC' },
      runners: m.runners.map((r, i) => ({ status: 'ACTIVE', sortPriority: i + 1, id: r.id })),
    };
  }

  function runnerFull(r: SimRunner, view: SubscriptionView, withEmpties: boolean): Record<string, unknown> {
    const rc: Record<string, unknown> = { id: r.id };
    const f = view.fields;
    if (f.has('EX_ALL_OFFERS')) {
      rc.atb = [...r.back.entries()].map(([t, c]) => [priceOf(t), money(c)]);
      rc.atl = [...r.lay.entries()].map(([t, c]) => [priceOf(t), money(c)]);
    }
    if (f.has('EX_BEST_OFFERS')) {
      rc.batb = levelFull(topBack(r, view.ladderLevels), view.ladderLevels, withEmpties);
      rc.batl = levelFull(topLay(r, view.ladderLevels), view.ladderLevels, withEmpties);
    }
    if (f.has('EX_BEST_OFFERS_DISP')) {
      rc.bdatb = levelFull(topBack(r, view.ladderLevels), view.ladderLevels, withEmpties);
      rc.bdatl = levelFull(topLay(r, view.ladderLevels), view.ladderLevels, withEmpties);
    }
    if (f.has('EX_TRADED') && r.trd.size > 0) rc.trd = [...r.trd.entries()].map(([t, c]) => [priceOf(t), money(c)]);
    if (f.has('EX_TRADED_VOL') && r.tvCents > 0) rc.tv = money(r.tvCents);
    if (f.has('EX_LTP') && r.ltp !== null) rc.ltp = priceOf(r.ltp);
    return rc;
  }

  function imageOf(mi: number, view: SubscriptionView): Record<string, unknown> {
    const m = markets[mi] as SimMarket;
    const mc: Record<string, unknown> = { id: m.id, img: true };
    if (view.fields.has('EX_MARKET_DEF')) mc.marketDefinition = definition(mi);
    if (view.fields.has('EX_TRADED_VOL')) mc.tv = money(m.tvCents);
    mc.rc = m.runners.map((r) => runnerFull(r, view, false));
    return mc;
  }

  function deltaOf(c: ModelChange, view: SubscriptionView): Record<string, unknown> | null {
    const m = markets[c.market] as SimMarket;
    const r = m.runners[c.runner] as SimRunner;
    const f = view.fields;
    const rc: Record<string, unknown> = { id: r.id };
    let any = false;
    if (f.has('EX_ALL_OFFERS')) {
      if (c.backTicks.length) rc.atb = c.backTicks.map((t) => [priceOf(t), money(r.back.get(t) ?? 0)]);
      if (c.layTicks.length) rc.atl = c.layTicks.map((t) => [priceOf(t), money(r.lay.get(t) ?? 0)]);
      any ||= c.backTicks.length + c.layTicks.length > 0;
    }
    for (const [field, b, l] of [
      ['EX_BEST_OFFERS', 'batb', 'batl'],
      ['EX_BEST_OFFERS_DISP', 'bdatb', 'bdatl'],
    ] as const) {
      if (!f.has(field)) continue;
      const db = c.backTicks.length ? levelDiff(c.backBefore, topBack(r, view.ladderLevels), view.ladderLevels) : [];
      const dl = c.layTicks.length ? levelDiff(c.layBefore, topLay(r, view.ladderLevels), view.ladderLevels) : [];
      if (db.length) rc[b] = db;
      if (dl.length) rc[l] = dl;
      any ||= db.length + dl.length > 0;
    }
    if (c.traded !== null) {
      if (f.has('EX_TRADED')) rc.trd = [[priceOf(c.traded), money(r.trd.get(c.traded) ?? 0)]];
      if (f.has('EX_TRADED_VOL')) rc.tv = money(r.tvCents);
      if (f.has('EX_LTP')) rc.ltp = priceOf(c.traded);
      any ||= f.has('EX_TRADED') || f.has('EX_TRADED_VOL') || f.has('EX_LTP');
    }
    const runnerChanged = any;
    const mc: Record<string, unknown> = { id: m.id };
    if (c.definitionChanged && f.has('EX_MARKET_DEF')) {
      mc.marketDefinition = definition(c.market);
      any = true;
    }
    if (c.traded !== null && f.has('EX_TRADED_VOL')) mc.tv = money(m.tvCents);
    if (!any) return null;
    // A status change alone carries only the definition, as Betfair sends it.
    mc.rc = runnerChanged ? [rc] : [];
    return mc;
  }

  function patchOf(mi: number, changes: ModelChange[], view: SubscriptionView): Record<string, unknown> | null {
    const m = markets[mi] as SimMarket;
    const touched = new Map<number, { back: Set<number>; lay: Set<number>; trd: Set<number> }>();
    let def = false;
    for (const c of changes) {
      if (c.market !== mi) continue;
      def ||= c.definitionChanged;
      let t = touched.get(c.runner);
      if (!t) touched.set(c.runner, (t = { back: new Set(), lay: new Set(), trd: new Set() }));
      for (const x of c.backTicks) t.back.add(x);
      for (const x of c.layTicks) t.lay.add(x);
      if (c.traded !== null) t.trd.add(c.traded);
    }
    if (touched.size === 0 && !def) return null;
    const f = view.fields;
    const mc: Record<string, unknown> = { id: m.id };
    if (def && f.has('EX_MARKET_DEF')) mc.marketDefinition = definition(mi);
    if (f.has('EX_TRADED_VOL')) mc.tv = money(m.tvCents);
    mc.rc = [...touched].map(([ri, t]) => {
      const r = m.runners[ri] as SimRunner;
      // level ladders and scalars: the full current state (with empties) overwrites whatever the client had
      const rc = runnerFull(
        r,
        { fields: new Set([...f].filter((x) => x !== 'EX_ALL_OFFERS' && x !== 'EX_TRADED')), ladderLevels: view.ladderLevels },
        true,
      );
      if (f.has('EX_ALL_OFFERS')) {
        if (t.back.size) rc.atb = [...t.back].map((x) => [priceOf(x), money(r.back.get(x) ?? 0)]);
        if (t.lay.size) rc.atl = [...t.lay].map((x) => [priceOf(x), money(r.lay.get(x) ?? 0)]);
      }
      if (f.has('EX_TRADED') && t.trd.size) rc.trd = [...t.trd].map((x) => [priceOf(x), money(r.trd.get(x) ?? 0)]);
      return rc;
    });
    return mc;
  }

  return {
    marketIds: markets.map((m) => m.id),
    get clk() {
      return clk;
    },
    get anyOpen() {
      return markets.some((m) => m.status === 'OPEN');
    },
    step,
    setStatus,
    definition,
    imageOf,
    deltaOf,
    patchOf,
  };
}

// ---------------------------------------------------------------- the TLS server

export interface BetfairSimulatorFaults {
  /** Drop every connection every N ms (0 = never). */
  dropEveryMs?: number;
  /** Every N ms, send nothing (no data, no heartbeats) for stallMs (0 = never). */
  stallEveryMs?: number;
  stallMs?: number;
  /** Probability (0-1) per delta message of an extra garbage line before it. */
  garbageRate?: number;
  /**
   * Every market turns SUSPENDED this many ms after start (0 = never): one definition change per
   * market, then heartbeats only (a suspended market does not trade). For health tests.
   */
  suspendAfterMs?: number;
}

export interface BetfairSimulatorOptions {
  markets: string[];
  runnersPerMarket?: number;
  /** Deltas per second; 0 = as fast as sockets take them (yielding to the event loop). */
  ratePerS: number;
  /** When set, authentication must carry this app key (INVALID_APP_KEY otherwise). */
  appKey?: string;
  /** When set, authentication must carry this session token (INVALID_SESSION_INFORMATION otherwise). */
  sessionToken?: string;
  seed?: number;
  /** Heartbeat interval; default: what the subscription asks for (500-5000, default 5000). */
  heartbeatMs?: number;
  faults?: BetfairSimulatorFaults;
  /** 0 (default) = any free port. */
  port?: number;
  /** Markets per image segment when the client enables segmentation (default 20). */
  segmentMarkets?: number;
  /**
   * Changes kept for resume (at least this many, at most a quarter more); an older clk gets images
   * (img:true) inside the RESUB_DELTA. Default 100 000.
   */
  historySize?: number;
}

export interface BetfairSimulatorStats {
  connections: number;
  open: number;
  authFailures: number;
  subscriptions: number;
  images: number;
  resubDeltas: number;
  deltas: number;
  heartbeats: number;
  messagesSent: number;
  garbage: number;
  drops: number;
  /** The model's clock (number of changes so far). */
  clk: number;
}

export interface BetfairSimulator {
  host: string;
  port: number;
  /** The throwaway certificate to trust (pass as the transport's `ca`). */
  ca: Buffer;
  close(): Promise<void>;
  /** Destroy every client connection now. */
  dropAll(): void;
  /**
   * Put a market in `status` now: subscribers get the new marketDefinition; only OPEN markets
   * trade, so with none open the feed is heartbeats only. Throws for an unknown market id.
   */
  setMarketStatus(marketId: string, status: SimMarketStatus): void;
  stats(): BetfairSimulatorStats;
}

interface Conn {
  socket: TLSSocket;
  authed: boolean;
  sub: (SubscriptionView & { id: number; markets: number[]; heartbeatMs: number }) | null;
  lastSentMs: number;
  timers: NodeJS.Timeout[];
}

const clkText = (n: number) => Buffer.from(`c${n}`).toString('base64');
const clkNumber = (s: string): number | null => {
  const m = /^c(\d+)$/.exec(Buffer.from(s, 'base64').toString('latin1'));
  return m ? Number(m[1]) : null;
};

/** Start the simulator on 127.0.0.1. */
export async function startBetfairSimulator(opts: BetfairSimulatorOptions): Promise<BetfairSimulator> {
  const model = createBetfairMarketModel({ markets: opts.markets, runnersPerMarket: opts.runnersPerMarket, seed: opts.seed });
  const faultRnd = seededRandom((opts.seed ?? 1) ^ 0x5eed);
  const faults = opts.faults ?? {};
  const historySize = opts.historySize ?? 100_000;
  const segmentMarkets = opts.segmentMarkets ?? 20;
  const initialClk = Buffer.from(`sim-${opts.seed ?? 1}-${process.pid}-${Date.now()}`).toString('base64');
  const history: ModelChange[] = [];
  const conns = new Set<Conn>();
  const serverTimers: NodeJS.Timeout[] = [];
  let stalledUntil = 0;
  let closed = false;
  let connSeq = 0;
  const stats: BetfairSimulatorStats = {
    connections: 0,
    open: 0,
    authFailures: 0,
    subscriptions: 0,
    images: 0,
    resubDeltas: 0,
    deltas: 0,
    heartbeats: 0,
    messagesSent: 0,
    garbage: 0,
    drops: 0,
    clk: 0,
  };
  const stalled = () => Date.now() < stalledUntil;

  const send = (c: Conn, msg: unknown) => {
    if (c.socket.destroyed) return;
    c.socket.write(`${typeof msg === 'string' ? msg : JSON.stringify(msg)}\r\n`);
    c.lastSentMs = Date.now();
    stats.messagesSent++;
  };
  const fail = (c: Conn, id: number | undefined, errorCode: string, errorMessage: string) => {
    send(c, {
      op: 'status',
      ...(id !== undefined ? { id } : {}),
      statusCode: 'FAILURE',
      errorCode,
      errorMessage,
      connectionClosed: true,
      connectionId: `sim-${connSeq}`,
    });
    c.socket.end();
  };

  function sendImage(
    c: Conn,
    sub: NonNullable<Conn['sub']>,
    ct: 'SUB_IMAGE' | 'RESUB_DELTA',
    mcs: Record<string, unknown>[],
    segmented: boolean,
  ) {
    const base = { op: 'mcm', id: sub.id, initialClk, conflateMs: 0, heartbeatMs: sub.heartbeatMs, ct };
    const chunks: Record<string, unknown>[][] = [];
    if (segmented && mcs.length > segmentMarkets)
      for (let i = 0; i < mcs.length; i += segmentMarkets) chunks.push(mcs.slice(i, i + segmentMarkets));
    else chunks.push(mcs);
    chunks.forEach((chunk, i) => {
      const seg = chunks.length === 1 ? {} : { segmentType: i === 0 ? 'SEG_START' : i === chunks.length - 1 ? 'SEG_END' : 'SEG' };
      const last = i === chunks.length - 1;
      send(c, { ...base, ...(last ? { clk: clkText(model.clk) } : {}), pt: Date.now(), ...seg, mc: chunk });
    });
  }

  function onSubscribe(c: Conn, m: Record<string, unknown>) {
    const id = typeof m.id === 'number' ? m.id : 0;
    const filter = (m.marketFilter ?? {}) as { marketIds?: unknown };
    const dataFilter = (m.marketDataFilter ?? {}) as { fields?: unknown; ladderLevels?: unknown };
    const wanted = Array.isArray(filter.marketIds) ? new Set(filter.marketIds.map(String)) : null;
    const markets = model.marketIds.flatMap((mid, i) => (!wanted || wanted.has(mid) ? [i] : []));
    const fields = new Set(Array.isArray(dataFilter.fields) ? dataFilter.fields.map(String) : ['EX_BEST_OFFERS', 'EX_MARKET_DEF']);
    const ladderLevels = typeof dataFilter.ladderLevels === 'number' ? Math.min(10, Math.max(1, dataFilter.ladderLevels)) : 3;
    const hbAsked = typeof m.heartbeatMs === 'number' ? Math.min(5000, Math.max(500, m.heartbeatMs)) : 5000;
    const sub = { id, fields, ladderLevels, markets, heartbeatMs: opts.heartbeatMs ?? hbAsked };
    const resumeFrom =
      typeof m.clk === 'string' && typeof m.initialClk === 'string' ? { initialClk: m.initialClk, clk: clkNumber(m.clk) } : null;
    if (resumeFrom && (resumeFrom.initialClk !== initialClk || resumeFrom.clk === null || resumeFrom.clk > model.clk)) {
      fail(c, id, 'INVALID_CLOCK', 'Invalid clock supplied');
      return;
    }
    c.sub = sub;
    stats.subscriptions++;
    send(c, { op: 'status', id, statusCode: 'SUCCESS', connectionClosed: false });
    const segmented = m.segmentationEnabled === true;
    if (resumeFrom && resumeFrom.clk !== null) {
      stats.resubDeltas++;
      const from = resumeFrom.clk;
      const oldest = history.length ? (history[0] as ModelChange).clk : model.clk + 1;
      const canPatch = from >= oldest - 1;
      const changes = canPatch ? history.filter((h) => h.clk > from) : [];
      const mcs = markets.flatMap((mi) => {
        if (!canPatch) return [model.imageOf(mi, sub)];
        const p = model.patchOf(mi, changes, sub);
        return p ? [p] : [];
      });
      sendImage(c, sub, 'RESUB_DELTA', mcs, segmented);
    } else {
      stats.images++;
      sendImage(
        c,
        sub,
        'SUB_IMAGE',
        markets.map((mi) => model.imageOf(mi, sub)),
        segmented,
      );
    }
    const hb = setInterval(
      () => {
        if (c.sub !== sub || stalled() || c.socket.destroyed) return;
        if (Date.now() - c.lastSentMs >= sub.heartbeatMs) {
          stats.heartbeats++;
          send(c, { op: 'mcm', id: sub.id, clk: clkText(model.clk), pt: Date.now(), ct: 'HEARTBEAT' });
        }
      },
      Math.max(50, Math.floor(sub.heartbeatMs / 4)),
    );
    hb.unref();
    c.timers.push(hb);
  }

  function onMessage(c: Conn, text: string) {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(text) as Record<string, unknown>;
      if (typeof m !== 'object' || m === null) throw new Error('not an object');
    } catch {
      fail(c, undefined, 'INVALID_INPUT', 'Failed to parse the request');
      return;
    }
    const id = typeof m.id === 'number' ? m.id : undefined;
    switch (m.op) {
      case 'authentication': {
        const code = !m.appKey
          ? 'NO_APP_KEY'
          : !m.session
            ? 'NO_SESSION'
            : opts.appKey !== undefined && m.appKey !== opts.appKey
              ? 'INVALID_APP_KEY'
              : opts.sessionToken !== undefined && m.session !== opts.sessionToken
                ? 'INVALID_SESSION_INFORMATION'
                : null;
        if (code) {
          stats.authFailures++;
          fail(c, id, code, code === 'INVALID_SESSION_INFORMATION' ? 'Session token is invalid or expired' : 'AppKey is not valid');
          return;
        }
        c.authed = true;
        send(c, { op: 'status', id, statusCode: 'SUCCESS', connectionClosed: false, connectionsAvailable: 9 });
        return;
      }
      case 'marketSubscription':
        if (!c.authed) return fail(c, id, 'NO_SESSION', 'Connection is not authenticated');
        return onSubscribe(c, m);
      case 'heartbeat':
        send(c, { op: 'status', id, statusCode: 'SUCCESS', connectionClosed: false });
        return;
      default:
        fail(c, id, 'INVALID_REQUEST', `Unknown op ${String(m.op).slice(0, 40)}`);
    }
  }

  const GARBAGE = [
    '{"op":"mcm","id":',
    'this is not json',
    '{"op":"mcm","mc":"nope"}',
    '{"op":"mcm","mc":[{"id":"1.1","rc":[{"atb":[[1.5]]}]}]}',
    '\u0000\u0001\u0002',
  ];

  /**
   * Run `fn` with every connection's socket corked: the messages it sends go out in one TLS write
   * per connection instead of one per message (the same bytes, fewer records and system calls).
   */
  function corked(fn: () => void) {
    const held = [...conns].filter((c) => !c.socket.destroyed);
    for (const c of held) c.socket.cork();
    try {
      fn();
    } finally {
      for (const c of held) c.socket.uncork();
    }
  }

  function broadcast(change: ModelChange) {
    history.push(change);
    // Trimmed in steps of a quarter: splicing one change off the front of a 100,000-long array on
    // every broadcast cost a fifth of the process at 2,000 changes/s. At least historySize are kept.
    if (history.length > historySize + (historySize >> 2)) history.splice(0, history.length - historySize);
    stats.clk = change.clk;
    const pt = Date.now();
    for (const c of conns) {
      const sub = c.sub;
      if (!sub || !sub.markets.includes(change.market)) continue;
      const mc = model.deltaOf(change, sub);
      if (faults.garbageRate && faultRnd() < faults.garbageRate) {
        stats.garbage++;
        send(c, GARBAGE[Math.floor(faultRnd() * GARBAGE.length)] as string);
      }
      if (!mc) continue;
      stats.deltas++;
      send(c, { op: 'mcm', id: sub.id, clk: clkText(change.clk), pt, mc: [mc] });
    }
  }

  const server: Server = createServer({ cert: LOCALHOST_CERT_PEM, key: LOCALHOST_KEY_PEM }, (socket) => {
    connSeq++;
    stats.connections++;
    stats.open++;
    const c: Conn = { socket, authed: false, sub: null, lastSentMs: Date.now(), timers: [] };
    conns.add(c);
    socket.setNoDelay(true);
    const framer = createCrlfFramer({ maxMessageBytes: 1024 * 1024 });
    socket.on('data', (chunk: Buffer) => {
      const { messages, errors } = framer.push(chunk);
      if (errors.length) return fail(c, undefined, 'INVALID_INPUT', 'Request too large');
      for (const text of messages) if (!socket.destroyed) onMessage(c, text);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      stats.open--;
      for (const t of c.timers) clearInterval(t);
      conns.delete(c);
    });
    const authTimer = setTimeout(() => {
      if (!c.sub && !socket.destroyed) fail(c, undefined, 'TIMEOUT', 'Connection is not subscribed and is idle: 15000 ms');
    }, 15_000);
    authTimer.unref();
    c.timers.push(authTimer);
    send(c, { op: 'connection', connectionId: `sim-${String(connSeq).padStart(3, '0')}` });
  });
  server.on('tlsClientError', () => {});

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  // the generator
  const startedAt = Date.now();
  if (opts.ratePerS > 0) {
    let produced = 0;
    let base = startedAt;
    const t = setInterval(() => {
      if (stalled()) {
        base = Date.now();
        produced = 0;
        return;
      }
      if (!model.anyOpen) {
        // nothing trades: keep the pace clock from bursting when a market reopens
        base = Date.now();
        produced = 0;
        return;
      }
      const due = Math.min(Math.floor(((Date.now() - base) * opts.ratePerS) / 1000) - produced, Math.max(1, opts.ratePerS));
      corked(() => {
        for (let i = 0; i < due; i++) broadcast(model.step());
      });
      produced += Math.max(0, due);
    }, 10);
    serverTimers.push(t);
  } else {
    const pump = () => {
      if (closed) return;
      const subs = [...conns].filter((c) => c.sub && !c.socket.destroyed);
      if (subs.length === 0 || stalled() || !model.anyOpen || subs.some((c) => c.socket.writableLength > 1 << 20)) {
        setTimeout(pump, subs.length === 0 || stalled() || !model.anyOpen ? 5 : 1).unref();
        return;
      }
      corked(() => {
        for (let i = 0; i < 200; i++) broadcast(model.step());
      });
      setImmediate(pump);
    };
    setImmediate(pump);
  }
  if (faults.dropEveryMs) serverTimers.push(setInterval(() => dropAll(), faults.dropEveryMs));
  if (faults.stallEveryMs && faults.stallMs) {
    const stallMs = faults.stallMs;
    serverTimers.push(setInterval(() => (stalledUntil = Date.now() + stallMs), faults.stallEveryMs));
  }
  if (faults.suspendAfterMs) {
    const t = setTimeout(() => {
      for (const id of model.marketIds) setMarketStatus(id, 'SUSPENDED');
    }, faults.suspendAfterMs);
    serverTimers.push(t);
  }
  for (const t of serverTimers) t.unref();

  function setMarketStatus(marketId: string, status: SimMarketStatus) {
    const change = model.setStatus(marketId, status);
    if (change) broadcast(change);
  }

  function dropAll() {
    for (const c of conns) {
      stats.drops++;
      c.socket.destroy();
    }
  }

  return {
    host: '127.0.0.1',
    port,
    ca: Buffer.from(LOCALHOST_CERT_PEM),
    dropAll,
    setMarketStatus,
    stats: () => ({ ...stats, clk: model.clk }),
    async close() {
      closed = true;
      for (const t of serverTimers) clearInterval(t);
      for (const c of conns) c.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
