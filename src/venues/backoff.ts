/**
 * Capped exponential backoff with jitter, pure: randomness comes in as a function so tests can pin
 * it, and time comes in as the uptime of the last connection (a connection that stayed up for
 * `resetAfterMs` counts as stable and starts the sequence over).
 */

/** Backoff tunables (all in milliseconds except `factor` and `jitter`). */
export interface BackoffOptions {
  /** Delay before the first retry. */
  initialMs: number;
  /** Cap on any delay. */
  maxMs: number;
  /** Growth per consecutive failure. */
  factor: number;
  /** Fraction of the delay that is random: the delay is uniform in [d * (1 - jitter), d]. 0-1. */
  jitter: number;
  /** A connection that stayed up at least this long resets the sequence to `initialMs`. */
  resetAfterMs: number;
}

/** Defaults: 0.5 s, 1 s, 2 s ... capped at 30 s, half of each delay random; 30 s up = stable. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5, resetAfterMs: 30_000 };

export interface Backoff {
  /**
   * The delay before the next attempt. Call once per disconnect or failed connect with how long the
   * last connection stayed up (0 when the connect itself failed).
   */
  next(uptimeMs: number): number;
  /** The delay for a failure that must not be retried quickly (bad token, 4xx): always the cap. */
  capped(): number;
  /** Consecutive failures so far (0 after a reset). */
  readonly attempt: number;
  reset(): void;
}

/** Clamp user-provided options into a sane range so a bad config cannot produce a tight loop. */
export function resolveBackoff(opts: Partial<BackoffOptions> = {}): BackoffOptions {
  const o = { ...DEFAULT_BACKOFF, ...opts };
  const initialMs = Math.max(1, o.initialMs);
  return {
    initialMs,
    maxMs: Math.max(initialMs, o.maxMs),
    factor: Math.max(1, o.factor),
    jitter: Math.min(1, Math.max(0, o.jitter)),
    resetAfterMs: Math.max(0, o.resetAfterMs),
  };
}

/** Create a backoff sequence; `random` returns [0, 1) like Math.random. */
export function createBackoff(opts: Partial<BackoffOptions> = {}, random: () => number = Math.random): Backoff {
  const o = resolveBackoff(opts);
  let attempt = 0;
  const jittered = (d: number) => Math.round(d * (1 - o.jitter + o.jitter * random()));
  return {
    get attempt() {
      return attempt;
    },
    next(uptimeMs: number): number {
      if (uptimeMs >= o.resetAfterMs) attempt = 0;
      // The exponent is bounded so a long outage never overflows to Infinity.
      const base = Math.min(o.maxMs, o.initialMs * o.factor ** Math.min(attempt, 64));
      attempt++;
      return Math.max(1, jittered(base));
    },
    capped(): number {
      attempt++;
      return Math.max(1, jittered(o.maxMs));
    },
    reset(): void {
      attempt = 0;
    },
  };
}
