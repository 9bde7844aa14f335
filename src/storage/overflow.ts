/**
 * When the store is up but slower than the bus, how long a caller may be held back before what memory
 * cannot hold goes to the spool instead. A caller that waits leaves records in ZeroMQ's queues and the
 * publisher's journal, which are neither durable nor large; after `afterMs` of waiting with the memory
 * queue never back below half, the pipeline overflows to the durable spool (as in an outage) until the
 * queue is half empty again. Pure state: the pipeline owns the timer and asks.
 */
export class Overflow {
  private sinceMs: number | undefined;
  private loggedAtMs = -Infinity;
  /** Overflowing now: batches beyond the memory queue go to the spool. */
  active = false;
  /** Times it began overflowing. */
  count = 0;

  constructor(readonly afterMs: number) {}

  /**
   * The caller had to wait at `nowMs`. Returns the ms until {@link due} should be asked (from the
   * start of this stretch of waiting), or undefined while overflowing.
   */
  constrained(nowMs: number): number | undefined {
    if (this.active) return undefined;
    this.sinceMs ??= nowMs;
    return Math.max(0, this.sinceMs + this.afterMs - nowMs);
  }

  /** Asked when the timer fires: begins overflowing (true) if the wait has lasted `afterMs`. */
  due(nowMs: number): boolean {
    if (this.active || this.sinceMs === undefined || nowMs - this.sinceMs < this.afterMs) return false;
    this.active = true;
    this.count++;
    return true;
  }

  /** The memory queue is half empty again: back to memory and backpressure. */
  relieved(): void {
    this.active = false;
    this.sinceMs = undefined;
  }

  /** Whether to log this start of overflow (at most once a minute). */
  shouldLog(nowMs: number): boolean {
    if (nowMs - this.loggedAtMs < 60_000) return false;
    this.loggedAtMs = nowMs;
    return true;
  }
}
