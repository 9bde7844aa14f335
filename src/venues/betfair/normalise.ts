/**
 * Pure: turn what the cache applied into draft records (src/core/records.ts).
 * - one `runner` record per runner named in a market change, carrying the runner's state after
 *   the change (top `depth` back/lay levels, ltp, tv, the message clk), `snapshot` = the change was
 *   an image;
 * - one `market` record when a marketDefinition came with the change (it is sent in full whenever
 *   it changes), emitted before that change's runner records.
 * The ladder view is the best the market has: full depth (atb/atl), else best offers
 * (batb/batl), else display offers (bdatb/bdatl).
 */
import type { Draft, Level, MarketRecord, RunnerRecord, StatusRecord } from '../../core/records.js';
import type { AppliedMarketChange, MarketState, RunnerState } from './cache.js';
import { VIEW_BEST, VIEW_DISPLAY, VIEW_FULL } from './cache.js';

export interface ChangeContext {
  /** Publish time of the message, ms since epoch (null in some recordings: receive time is used). */
  pt: number | null;
  receivedAtUs: number;
  /** clk of the (joined) message. */
  clk: string | null;
}

/** Best back levels, best (highest price) first. */
export function backLevels(market: MarketState, r: RunnerState, depth: number): Level[] {
  switch (market.view) {
    case VIEW_FULL:
      return r.atb ? r.atb.topDescending(depth) : [];
    case VIEW_BEST:
      return r.batb ? r.batb.top(depth) : [];
    case VIEW_DISPLAY:
      return r.bdatb ? r.bdatb.top(depth) : [];
    default:
      return [];
  }
}

/** Best lay levels, best (lowest price) first. */
export function layLevels(market: MarketState, r: RunnerState, depth: number): Level[] {
  switch (market.view) {
    case VIEW_FULL:
      return r.atl ? r.atl.topAscending(depth) : [];
    case VIEW_BEST:
      return r.batl ? r.batl.top(depth) : [];
    case VIEW_DISPLAY:
      return r.bdatl ? r.bdatl.top(depth) : [];
    default:
      return [];
  }
}

/** Records for one applied `mc` entry. */
export function normaliseMarketChange(applied: AppliedMarketChange, ctx: ChangeContext, depth: number): Draft[] {
  const { market } = applied;
  const tsEvent = ctx.pt !== null ? ctx.pt * 1000 : ctx.receivedAtUs;
  const out: Draft[] = [];
  if (applied.definitionChanged && market.definition) {
    const d = market.definition;
    const rec: Draft<MarketRecord> = {
      venue: 'betfair',
      kind: 'market',
      ts_event_us: tsEvent,
      ts_recv_us: ctx.receivedAtUs,
      instrument: market.id,
      market_id: market.id,
      status: d.status,
      in_play: d.inPlay,
      version: d.version,
      tv: market.tv,
    };
    out.push(rec);
  }
  for (const r of applied.runners) {
    const rec: Draft<RunnerRecord> = {
      venue: 'betfair',
      kind: 'runner',
      ts_event_us: tsEvent,
      ts_recv_us: ctx.receivedAtUs,
      instrument: `${market.id}:${r.selectionId}:${r.hc}`,
      market_id: market.id,
      selection_id: r.selectionId,
      hc: r.hc,
      back: backLevels(market, r, depth),
      lay: layLevels(market, r, depth),
      ltp: r.ltp,
      tv: r.tv,
      clk: ctx.clk,
      snapshot: applied.img,
    };
    out.push(rec);
  }
  return out;
}

/** A venue status / system event record (connection, status replies, upstream 503). */
export function statusRecord(status: string, detail: string, receivedAtUs: number, tsEventUs = receivedAtUs): Draft<StatusRecord> {
  return { venue: 'betfair', kind: 'status', ts_event_us: tsEventUs, ts_recv_us: receivedAtUs, instrument: '', status, detail };
}
