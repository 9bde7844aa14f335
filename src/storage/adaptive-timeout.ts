/**
 * A write timeout that follows the store: doubled after each timeout (up to `maxFactor` x the
 * configured value), eased back towards it while writes answer well within it. A store that is slow
 * because its machine is busy then gets the time it needs, instead of a client that gives up, resends
 * the same batch, and makes the store do the work twice (docs/PERFORMANCE.md, past saturation). A
 * store that is down is still seen at the first timeout of the configured length. Pure state.
 */
/** How far the timeout grows by default: the longest a write is ever given is this x the configured value. */
export const MAX_TIMEOUT_FACTOR = 8;

export class AdaptiveTimeout {
  private ms: number;

  constructor(
    private readonly baseMs: number,
    private readonly maxFactor = MAX_TIMEOUT_FACTOR,
  ) {
    this.ms = baseMs;
  }

  /** The timeout for the next request, ms. */
  get current(): number {
    return this.ms;
  }

  /**
   * A request sent with a timeout of `usedMs` timed out: give the next one twice as long. Requests
   * that were sent together and time out together double it once, not once each.
   */
  timedOut(usedMs = this.ms): void {
    if (usedMs >= this.ms) this.ms = Math.min(this.baseMs * this.maxFactor, this.ms * 2);
  }

  /** A request answered after `latencyMs`: well within the timeout, ease it back. */
  answered(latencyMs: number): void {
    if (this.ms > this.baseMs && latencyMs < this.ms / 4) this.ms = Math.max(this.baseMs, Math.round(this.ms * 0.75));
  }
}
