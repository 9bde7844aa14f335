/**
 * The status of every market of one Betfair subscription (`marketDefinition.status`, venues.md
 * §3.3: INACTIVE, OPEN, SUSPENDED, CLOSED), for health: a feed whose markets are all suspended or
 * closed is silent by design (src/health/checks.ts `marketState`). State only, no I/O.
 *
 * Kept apart from the price cache because it outlives it: the cache drops a market once it is
 * CLOSED and may be cleared on reconnect, but "this market is closed" is exactly what health needs
 * to keep knowing. A reconnect does not change a market's status, so {@link MarketStatusBook} is
 * not cleared on `reset()`; the next image re-states every market.
 */

/** Status of a subscribed market whose definition has not been seen (yet, or not subscribed to: EX_MARKET_DEF). */
export const UNKNOWN_MARKET_STATUS = 'UNKNOWN';

/** Default cap on markets tracked beyond the configured ones (filter subscriptions): twice Betfair's 200-market limit. */
export const DEFAULT_MAX_TRACKED_MARKETS = 400;

export interface MarketStatusEntry {
  marketId: string;
  status: string;
}

export class MarketStatusBook {
  /** market id -> status; insertion order = first seen (a market re-inserted when it closes, so the oldest closed come first). */
  private readonly known = new Map<string, string>();
  private readonly subscribed: readonly string[];
  private readonly subscribedSet: ReadonlySet<string>;

  /**
   * @param subscribed market ids named in the subscription (config `markets`), reported first and
   *   always (UNKNOWN until seen); empty for a filter subscription or a replay.
   * @param maxTracked most markets kept besides the subscribed ones; past it the longest-closed go first.
   */
  constructor(
    subscribed: readonly string[] = [],
    private readonly maxTracked = DEFAULT_MAX_TRACKED_MARKETS,
  ) {
    this.subscribed = [...new Set(subscribed)];
    this.subscribedSet = new Set(this.subscribed);
  }

  /**
   * A market change was applied: `status` is its current definition's status, or null when it has
   * no definition (EX_MARKET_DEF not subscribed, or an image without one: betcode-org/betfair#314),
   * which leaves a known status as it was.
   */
  note(marketId: string, status: string | null): void {
    const prev = this.known.get(marketId);
    if (status === null) {
      if (prev === undefined) this.set(marketId, UNKNOWN_MARKET_STATUS);
      return;
    }
    if (prev === status) return;
    if (status === 'CLOSED') this.known.delete(marketId); // re-insert at the end: eviction order
    this.set(marketId, status);
  }

  /**
   * A `SUB_IMAGE` re-stated the subscription with `marketIds`. Markets not in it are forgotten,
   * except CLOSED ones: Betfair stops sending a market some time after it closes, and a quiet
   * feed of closed markets must still read as closed.
   */
  image(marketIds: Iterable<string>): void {
    const inImage = new Set(marketIds);
    for (const [id, status] of this.known) if (!inImage.has(id) && status !== 'CLOSED') this.known.delete(id);
  }

  /** One entry per market: the subscribed ones in config order, then the others in the order first seen. */
  entries(): MarketStatusEntry[] {
    const out: MarketStatusEntry[] = this.subscribed.map((marketId) => ({
      marketId,
      status: this.known.get(marketId) ?? UNKNOWN_MARKET_STATUS,
    }));
    for (const [marketId, status] of this.known) if (!this.subscribedSet.has(marketId)) out.push({ marketId, status });
    return out;
  }

  /** One status string per market, in {@link entries} order (the publisher's `/health` `market_statuses`). */
  statuses(): string[] {
    return this.entries().map((e) => e.status);
  }

  private set(marketId: string, status: string): void {
    this.known.set(marketId, status);
    // O(markets), but only on a status change (rare next to price changes).
    let unsubscribed = 0;
    for (const id of this.known.keys()) if (!this.subscribedSet.has(id)) unsubscribed++;
    if (unsubscribed <= this.maxTracked) return;
    // Over the cap: drop the longest-closed unsubscribed market, else the oldest unsubscribed one.
    let victim: string | undefined;
    for (const [id, s] of this.known) {
      if (this.subscribedSet.has(id) || id === marketId) continue;
      if (s === 'CLOSED') {
        victim = id;
        break;
      }
      victim ??= id;
    }
    if (victim !== undefined) this.known.delete(victim);
  }
}
