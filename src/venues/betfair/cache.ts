/**
 * Betfair market change cache (venues.md §3.4-3.5): market -> runner state, fed with parsed change
 * messages. State only: no I/O, no records (normalise.ts reads it).
 *
 * - Price-keyed ladders (`atb atl trd spb spl`, `[price,size]`, size 0 removes) are kept sorted
 *   (binary search insert), so a top-N read is a slice, not a sort.
 * - Level-keyed ladders (`batb batl bdatb bdatl`, `[level,price,size]`) overwrite position `level`;
 *   size 0 empties it. We never shift them: Betfair sends every position that changed.
 * - `ct: SUB_IMAGE` clears everything; `img: true` replaces one market; a market whose definition
 *   says CLOSED is dropped after its change is applied, so memory follows the live markets.
 * - `clk`/`initialClk` (resume tokens) live here too but survive {@link BetfairCache.clear}: they
 *   belong to the subscription, not to the cached prices.
 */
import type { Level } from '../../core/records.js';
import type { ChangeMessage, LevelLadderName, LevelPriceSize, MarketChange, MarketDefinition, PriceSize, RunnerChange } from './parse.js';
import { LEVEL_LADDERS, PRICE_LADDERS } from './parse.js';

const isZero = (size: string): boolean => Number(size) === 0;

/** A full-depth ladder keyed by price, sorted ascending by numeric price. */
export class PriceLadder {
  private readonly keys: number[] = [];
  private readonly levels: Level[] = [];

  get size(): number {
    return this.keys.length;
  }

  /** Set the size at a price; size 0 removes the price. */
  set(price: string, size: string): void {
    const p = Number(price);
    const keys = this.keys;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((keys[mid] as number) < p) lo = mid + 1;
      else hi = mid;
    }
    const found = lo < keys.length && keys[lo] === p;
    if (isZero(size)) {
      if (found) {
        keys.splice(lo, 1);
        this.levels.splice(lo, 1);
      }
    } else if (found) {
      this.levels[lo] = [price, size];
    } else {
      keys.splice(lo, 0, p);
      this.levels.splice(lo, 0, [price, size]);
    }
  }

  /** Size at a price (exact text), or undefined. */
  get(price: string): string | undefined {
    const i = this.keys.indexOf(Number(price));
    return i === -1 ? undefined : this.levels[i]?.[1];
  }

  /** Highest prices first (the back side's best). */
  topDescending(n: number): Level[] {
    const out: Level[] = [];
    for (let i = this.levels.length - 1; i >= 0 && out.length < n; i--) out.push(this.levels[i] as Level);
    return out;
  }

  /** Lowest prices first (the lay side's best). */
  topAscending(n: number): Level[] {
    return this.levels.slice(0, n);
  }

  all(): readonly Level[] {
    return this.levels;
  }
}

/** A best-offers ladder keyed by level (0 = best), up to 10 positions. */
export class LevelLadder {
  private readonly slots: (Level | undefined)[] = [];

  set(level: number, price: string, size: string): void {
    this.slots[level] = isZero(size) ? undefined : [price, size];
  }

  /** Non-empty positions in level order (best first), at most n. */
  top(n: number): Level[] {
    const out: Level[] = [];
    for (let i = 0; i < this.slots.length && out.length < n; i++) {
      const l = this.slots[i];
      if (l) out.push(l);
    }
    return out;
  }
}

/** Ladder views in the order normalise prefers them: full depth, best offers, display (virtual) offers. */
export const VIEW_FULL = 3;
export const VIEW_BEST = 2;
export const VIEW_DISPLAY = 1;

export interface RunnerState {
  selectionId: number;
  hc: number;
  atb?: PriceLadder;
  atl?: PriceLadder;
  trd?: PriceLadder;
  spb?: PriceLadder;
  spl?: PriceLadder;
  batb?: LevelLadder;
  batl?: LevelLadder;
  bdatb?: LevelLadder;
  bdatl?: LevelLadder;
  ltp: string | null;
  tv: string | null;
  spn: string | null;
  spf: string | null;
}

export interface MarketState {
  id: string;
  definition: MarketDefinition | null;
  tv: string | null;
  /** Keyed by `${selectionId}:${hc}`. */
  runners: Map<string, RunnerState>;
  /** Best ladder view seen on this market (VIEW_*; 0 = none yet). */
  view: number;
}

/** What applying one `mc` entry changed. */
export interface AppliedMarketChange {
  market: MarketState;
  /** Runners named in `rc`, in message order. */
  runners: RunnerState[];
  img: boolean;
  con: boolean;
  /** A marketDefinition came with this change. */
  definitionChanged: boolean;
  /** The definition says CLOSED: the market was dropped from the cache after this change. */
  closed: boolean;
}

export const runnerKey = (selectionId: number, hc: number): string => `${selectionId}:${hc}`;

const VIEW_OF: Record<LevelLadderName, number> = { batb: VIEW_BEST, batl: VIEW_BEST, bdatb: VIEW_DISPLAY, bdatl: VIEW_DISPLAY };

function newRunner(selectionId: number, hc: number): RunnerState {
  return { selectionId, hc, ltp: null, tv: null, spn: null, spf: null };
}

function applyRunner(market: MarketState, rc: RunnerChange): RunnerState {
  const key = runnerKey(rc.id, rc.hc);
  let r = market.runners.get(key);
  if (!r) {
    r = newRunner(rc.id, rc.hc);
    market.runners.set(key, r);
  }
  for (const name of PRICE_LADDERS) {
    const changes: PriceSize[] | undefined = rc[name];
    if (!changes) continue;
    const ladder: PriceLadder = r[name] ?? (r[name] = new PriceLadder());
    for (const [price, size] of changes) ladder.set(price, size);
    if ((name === 'atb' || name === 'atl') && market.view < VIEW_FULL) market.view = VIEW_FULL;
  }
  for (const name of LEVEL_LADDERS) {
    const changes: LevelPriceSize[] | undefined = rc[name];
    if (!changes) continue;
    const ladder: LevelLadder = r[name] ?? (r[name] = new LevelLadder());
    for (const [level, price, size] of changes) ladder.set(level, price, size);
    if (market.view < VIEW_OF[name]) market.view = VIEW_OF[name];
  }
  if (rc.ltp !== undefined) r.ltp = rc.ltp;
  if (rc.tv !== undefined) r.tv = rc.tv;
  if (rc.spn !== undefined) r.spn = rc.spn;
  if (rc.spf !== undefined) r.spf = rc.spf;
  return r;
}

/** The change cache of one subscription. */
export class BetfairCache {
  private readonly markets = new Map<string, MarketState>();
  /** Latest non-null `clk` seen (resume token). */
  clk: string | null = null;
  /** `initialClk` of the current subscription (resume token). */
  initialClk: string | null = null;

  get marketCount(): number {
    return this.markets.size;
  }

  market(id: string): MarketState | undefined {
    return this.markets.get(id);
  }

  marketIds(): string[] {
    return [...this.markets.keys()];
  }

  /** Forget all cached prices. Resume clocks are kept (see {@link forgetClocks}). */
  clear(): void {
    this.markets.clear();
  }

  /** Forget the resume clocks (after INVALID_CLOCK, or for a fresh subscription). */
  forgetClocks(): void {
    this.clk = null;
    this.initialClk = null;
  }

  /** Record the clocks a message carries (heartbeats included). */
  noteClocks(msg: ChangeMessage): void {
    if (msg.initialClk !== null) this.initialClk = msg.initialClk;
    if (msg.clk !== null) this.clk = msg.clk;
  }

  /**
   * Apply one complete (already de-segmented) change message. Returns one entry per applied `mc`
   * entry, in order.
   */
  apply(msg: ChangeMessage): AppliedMarketChange[] {
    if (msg.ct === 'SUB_IMAGE') this.markets.clear();
    this.noteClocks(msg);
    const out: AppliedMarketChange[] = [];
    // An image can carry two copies of a market (moved to a new event): keep the higher version.
    const imaged = msg.mc.length > 1 ? new Map<string, number>() : null;
    for (const mc of msg.mc) {
      if (mc.img && imaged) {
        const v = mc.marketDefinition?.version ?? -1;
        const prev = imaged.get(mc.id);
        if (prev !== undefined && prev > v) continue;
        imaged.set(mc.id, v);
      }
      out.push(this.applyMarket(mc));
    }
    return out;
  }

  private applyMarket(mc: MarketChange): AppliedMarketChange {
    let market = this.markets.get(mc.id);
    if (!market || mc.img) {
      market = { id: mc.id, definition: market?.definition ?? null, tv: null, runners: new Map(), view: 0 };
      this.markets.set(mc.id, market);
    }
    if (mc.marketDefinition) market.definition = mc.marketDefinition;
    if (mc.tv !== undefined) market.tv = mc.tv;
    const runners = mc.rc.map((rc) => applyRunner(market, rc));
    const closed = market.definition?.status === 'CLOSED';
    if (closed) this.markets.delete(mc.id);
    return { market, runners, img: mc.img, con: mc.con, definitionChanged: mc.marketDefinition !== undefined, closed };
  }
}

export interface SegmentResult {
  /** The complete message, when one is ready. */
  message: ChangeMessage | null;
  /** Set when segments arrived out of order or overflowed (the partial message is dropped). */
  error: string | null;
}

/** Most segments we buffer for one logical message before giving up (memory bound). */
export const MAX_SEGMENTS = 10_000;

/**
 * Joins `SEG_START`, `SEG`..., `SEG_END` into one message (an image is complete only at
 * SEG_END). The joined message takes `ct`/`initialClk` from the start and `clk`/`pt` from the end.
 */
export class SegmentJoiner {
  private parts: ChangeMessage[] = [];

  get buffered(): number {
    return this.parts.length;
  }

  reset(): void {
    this.parts = [];
  }

  push(msg: ChangeMessage): SegmentResult {
    switch (msg.segmentType) {
      case null:
        if (this.parts.length > 0) {
          // An unsegmented message cannot interleave a segmented one: drop the partial.
          this.parts = [];
          return { message: msg, error: 'segmented message interrupted before SEG_END; partial dropped' };
        }
        return { message: msg, error: null };
      case 'SEG_START': {
        const error = this.parts.length > 0 ? 'SEG_START before SEG_END; partial dropped' : null;
        this.parts = [msg];
        return { message: null, error };
      }
      case 'SEG':
      case 'SEG_END': {
        if (this.parts.length === 0) return { message: null, error: `${msg.segmentType} without SEG_START; dropped` };
        this.parts.push(msg);
        if (msg.segmentType === 'SEG') {
          if (this.parts.length > MAX_SEGMENTS) {
            this.parts = [];
            return { message: null, error: `more than ${MAX_SEGMENTS} segments; dropped` };
          }
          return { message: null, error: null };
        }
        const parts = this.parts;
        this.parts = [];
        const first = parts[0] as ChangeMessage;
        let clk: string | null = null;
        let initialClk: string | null = null;
        let status: number | null = null;
        for (const p of parts) {
          if (p.clk !== null) clk = p.clk;
          if (p.initialClk !== null) initialClk = p.initialClk;
          if (p.status !== null) status = p.status;
        }
        return {
          message: { ...first, segmentType: null, clk, initialClk, status, pt: msg.pt ?? first.pt, mc: parts.flatMap((p) => p.mc) },
          error: null,
        };
      }
    }
  }
}
