/**
 * Restart policy for supervised services: pure decisions as data. Times come in as arguments (monotonic ms)
 * and randomness is injected, so tests drive it without sleeping.
 *
 * - A crashed service is restarted after a capped exponential backoff with downward jitter
 *   (250 ms, 500 ms, 1 s, ... capped at 30 s by default).
 * - The backoff resets once a run has stayed up for `stableAfterMs`.
 * - `crashLoopCount` crashes within `crashLoopWindowMs` put the service in `crash_loop`: it is still retried,
 *   slowly, at the cap. The state sticks until a run is stable (at the cap, crashes are too far apart to
 *   fill the window again, and the state must not flap). A service is never abandoned; only a deliberate
 *   stop keeps it down.
 */

/** Tunables of the restart policy; every duration in ms. */
export interface RestartPolicyOptions {
  /** Delay before the first restart after a crash. */
  initialDelayMs: number;
  /** Upper bound of the delay; also the delay used while in crash_loop. */
  maxDelayMs: number;
  /** Growth factor per consecutive crash. */
  factor: number;
  /** Fraction (0-1) of the delay that is randomised downward, so restarts of many services spread out. */
  jitter: number;
  /** A run that lasted this long resets the backoff. */
  stableAfterMs: number;
  /** This many crashes within crashLoopWindowMs = crash loop. */
  crashLoopCount: number;
  crashLoopWindowMs: number;
}

export const defaultRestartPolicy: RestartPolicyOptions = {
  initialDelayMs: 250,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.2,
  stableAfterMs: 30_000,
  crashLoopCount: 5,
  crashLoopWindowMs: 60_000,
};

/** What to do after an exit. */
export type RestartDecision =
  { action: 'restart'; delayMs: number; attempt: number; crashLoop: boolean } | { action: 'stay_down'; reason: 'deliberate_stop' };

export type PolicyHealth = 'ok' | 'backoff' | 'crash_loop';

/** Per-service restart bookkeeping. One instance per supervised service. */
export class RestartPolicy {
  readonly options: RestartPolicyOptions;
  /** Consecutive crashes since the last stable run. */
  private attempt = 0;
  private crashTimesMs: number[] = [];
  private upSinceMs: number | null = null;
  private healthState: PolicyHealth = 'ok';
  private inCrashLoop = false;

  constructor(
    options: Partial<RestartPolicyOptions> = {},
    private readonly random: () => number = Math.random,
  ) {
    this.options = { ...defaultRestartPolicy, ...options };
    if (this.options.initialDelayMs < 0 || this.options.maxDelayMs < this.options.initialDelayMs) {
      throw new RangeError('restart policy: need 0 <= initialDelayMs <= maxDelayMs');
    }
  }

  /** The process is up (spawned) at `nowMs`. */
  onStart(nowMs: number): void {
    this.upSinceMs = nowMs;
  }

  /**
   * The process exited at `nowMs`. `deliberate` = we asked it to stop (stop/restart command): keep it down.
   * Any other exit, whatever the code (including 0 and readiness timeouts), counts as a crash.
   */
  onExit(nowMs: number, deliberate: boolean): RestartDecision {
    const upForMs = this.upSinceMs === null ? 0 : nowMs - this.upSinceMs;
    this.upSinceMs = null;
    if (deliberate) {
      this.reset();
      return { action: 'stay_down', reason: 'deliberate_stop' };
    }
    const o = this.options;
    if (upForMs >= o.stableAfterMs) this.reset();
    this.crashTimesMs.push(nowMs);
    this.crashTimesMs = this.crashTimesMs.filter((t) => nowMs - t < o.crashLoopWindowMs);
    this.inCrashLoop ||= this.crashTimesMs.length >= o.crashLoopCount;
    const crashLoop = this.inCrashLoop;
    const base = crashLoop ? o.maxDelayMs : Math.min(o.maxDelayMs, o.initialDelayMs * o.factor ** this.attempt);
    const r = Math.min(1, Math.max(0, this.random()));
    const delayMs = Math.max(0, Math.round(base * (1 - o.jitter * r)));
    this.attempt += 1;
    this.healthState = crashLoop ? 'crash_loop' : 'backoff';
    return { action: 'restart', delayMs, attempt: this.attempt, crashLoop };
  }

  /**
   * Call periodically or when reporting: once the current run is stable, the service counts as healthy again
   * (backoff and crash history cleared).
   */
  observe(nowMs: number): PolicyHealth {
    if (this.upSinceMs !== null && nowMs - this.upSinceMs >= this.options.stableAfterMs) this.reset();
    return this.healthState;
  }

  private reset(): void {
    this.attempt = 0;
    this.crashTimesMs = [];
    this.inCrashLoop = false;
    this.healthState = 'ok';
  }

  /** Consecutive crashes since the last stable run. */
  get consecutiveCrashes(): number {
    return this.attempt;
  }
}
