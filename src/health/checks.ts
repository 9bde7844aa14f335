/**
 * The health status model (pure: no I/O, time passed in). probe.ts gathers observations; this file
 * turns them into check results `pass | warn | fail`, and the results into one overall status:
 * any fail -> unhealthy, else any warn -> degraded, else healthy (no checks at all -> unhealthy).
 *
 * Market hours: silence from a closed market is expected, not a failure.
 * - Kraken trades 24/7.
 * - OANDA (FX) is treated as closed from Friday 21:00 UTC to Sunday 21:00 UTC. This is an
 *   approximation: the real close follows New York 17:00 (21:00 UTC in US summer time, 22:00 UTC in
 *   winter) and holidays are not modelled, so in winter the last hour of Friday / first hour of
 *   Sunday can be judged on the wrong side; thresholds are lenient enough for that to show as a
 *   passing "market closed" note at worst, never as a false failure inside the window.
 * - Betfair: per market status: OPEN is open; SUSPENDED, CLOSED, INACTIVE are quiet by design.
 */

export const CHECK_STATUSES = ['pass', 'warn', 'fail'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];
export type OverallStatus = 'healthy' | 'degraded' | 'unhealthy';

export interface CheckResult {
  /** Stable dotted name: `influxdb.ping`, `publisher.kraken_tick.process`, `topic.kraken.tick.freshness`. */
  name: string;
  status: CheckStatus;
  /** What was seen and, when not passing, what to do. */
  detail: string;
}

export interface HealthResult {
  status: OverallStatus;
  checks: CheckResult[];
  /** ISO 8601 time of the check. */
  at: string;
}

export const pass = (name: string, detail: string): CheckResult => ({ name, status: 'pass', detail });
export const warn = (name: string, detail: string): CheckResult => ({ name, status: 'warn', detail });
export const fail = (name: string, detail: string): CheckResult => ({ name, status: 'fail', detail });

/** Overall status of a set of checks. */
export function overallStatus(checks: readonly CheckResult[]): OverallStatus {
  if (checks.length === 0) return 'unhealthy';
  if (checks.some((c) => c.status === 'fail')) return 'unhealthy';
  if (checks.some((c) => c.status === 'warn')) return 'degraded';
  return 'healthy';
}

export function summarise(checks: readonly CheckResult[], nowMs: number): HealthResult {
  return { status: overallStatus(checks), checks: [...checks], at: new Date(nowMs).toISOString() };
}

// ---------------------------------------------------------------- market hours

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Is the OANDA FX market open at `nowMs`? Closed Friday 21:00 UTC -> Sunday 21:00 UTC (approximate). */
export function oandaMarketOpen(nowMs: number): boolean {
  const d = new Date(nowMs);
  const day = d.getUTCDay(); // 0 Sunday .. 6 Saturday
  const hour = d.getUTCHours();
  if (day === 6) return false;
  if (day === 5 && hour >= 21) return false;
  if (day === 0 && hour < 21) return false;
  return true;
}

/** Next OANDA open (Sunday 21:00 UTC) at or after `nowMs`, epoch ms. */
export function nextOandaOpenMs(nowMs: number): number {
  const d = new Date(nowMs);
  const midnight = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  const daysToSunday = (7 - d.getUTCDay()) % 7;
  let open = midnight + daysToSunday * DAY_MS + 21 * HOUR_MS;
  if (open < nowMs) open += 7 * DAY_MS;
  return open;
}

/** Betfair market statuses during which no prices are expected to move. */
const BETFAIR_QUIET = new Set(['SUSPENDED', 'CLOSED', 'INACTIVE']);

export interface MarketState {
  open: boolean;
  /** Why silence is expected when closed (for the check detail). */
  note: string;
}

/**
 * Is `venue`'s market expected to be sending at `nowMs`? For Betfair pass the statuses of the
 * subscribed markets (from market records) when known: the feed is quiet only when all are.
 */
export function marketState(venue: string, nowMs: number, betfairStatuses: readonly string[] = []): MarketState {
  if (venue === 'oanda') {
    if (oandaMarketOpen(nowMs)) return { open: true, note: '' };
    return { open: false, note: `OANDA FX market closed (weekend) until ${new Date(nextOandaOpenMs(nowMs)).toISOString()}` };
  }
  if (venue === 'betfair' && betfairStatuses.length > 0 && betfairStatuses.every((s) => BETFAIR_QUIET.has(s.toUpperCase()))) {
    return { open: false, note: `Betfair market(s) ${[...new Set(betfairStatuses)].join('/')}` };
  }
  return { open: true, note: '' };
}

// ---------------------------------------------------------------- individual checks

const fmtAge = (ms: number): string => (ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`);

/** Human size: 1.5 MB. */
export function fmtBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export interface FreshnessInput {
  name: string;
  venue: string;
  /** Age of the newest record/point, ms; null when none was seen. */
  ageMs: number | null;
  /** Older than this = stale. */
  staleAfterMs: number;
  nowMs: number;
  betfairStatuses?: readonly string[];
  /** What is being judged, for the detail: "last record on kraken.tick". */
  what: string;
}

/** Staleness against a threshold, knowing market hours: a closed market's silence passes with a note. */
export function freshnessCheck(i: FreshnessInput): CheckResult {
  const market = marketState(i.venue, i.nowMs, i.betfairStatuses);
  if (i.ageMs === null) {
    if (!market.open) return pass(i.name, `no ${i.what} seen; expected: ${market.note}`);
    return fail(i.name, `no ${i.what} seen; is the publisher running and connected? (nbpy start, nbpy status)`);
  }
  if (i.ageMs <= i.staleAfterMs) return pass(i.name, `${i.what} ${fmtAge(i.ageMs)} ago`);
  if (!market.open) return pass(i.name, `${i.what} ${fmtAge(i.ageMs)} ago; expected: ${market.note}`);
  return fail(
    i.name,
    `stale: ${i.what} ${fmtAge(i.ageMs)} ago (threshold ${fmtAge(i.staleAfterMs)}); check the publisher and its venue connection`,
  );
}

/** Queue depth of a subscriber against its batch size: a queue many batches deep means the store is not keeping up. */
export function queueCheck(name: string, depth: number, batchSize: number): CheckResult {
  if (depth > batchSize * 20) return fail(name, `${depth} records queued (over 20 batches of ${batchSize}): the store is not keeping up`);
  if (depth > batchSize * 4) return warn(name, `${depth} records queued (over 4 batches of ${batchSize})`);
  return pass(name, `${depth} records queued`);
}

/** Spool use: empty passes; non-empty warns (an outage is being buffered); growing since the last look fails. */
export function spoolCheck(name: string, bytes: number, previousBytes: number | undefined, maxBytes: number): CheckResult {
  if (bytes <= 0) return pass(name, 'spool empty');
  const pct = maxBytes > 0 ? ` (${((100 * bytes) / maxBytes).toFixed(1)}% of ${fmtBytes(maxBytes)})` : '';
  if (maxBytes > 0 && bytes >= maxBytes * 0.9)
    return fail(name, `spool nearly full: ${fmtBytes(bytes)}${pct}; the store has been down too long, points will be dropped`);
  if (previousBytes !== undefined && bytes > previousBytes)
    return warn(name, `spool growing: ${fmtBytes(previousBytes)} -> ${fmtBytes(bytes)}${pct}; the store is not accepting writes`);
  return warn(name, `spool holding ${fmtBytes(bytes)}${pct}: batches wait for the store`);
}

/** Points dropped by reason: any drop is worth a look (warn); it is never silent. */
export function dropsCheck(name: string, dropped: Readonly<Record<string, number>>): CheckResult {
  const entries = Object.entries(dropped).filter(([, n]) => n > 0);
  if (entries.length === 0) return pass(name, 'no points dropped');
  return warn(name, `points dropped: ${entries.map(([r, n]) => `${r}=${n}`).join(', ')} (see the subscriber log for a sample)`);
}

/** Free space under the data directory. */
export function diskCheck(name: string, path: string, freeBytes: number, totalBytes: number): CheckResult {
  const pct = totalBytes > 0 ? (100 * freeBytes) / totalBytes : 100;
  const text = `${fmtBytes(freeBytes)} free under ${path} (${pct.toFixed(1)}%)`;
  if (freeBytes < 512 * 1024 * 1024 || pct < 2) return fail(name, `${text}: free space or lower retention (nbpy storage)`);
  if (freeBytes < 2 * 1024 * 1024 * 1024 || pct < 10) return warn(name, text);
  return pass(name, text);
}

/** Uptime percentage over the monitoring window (null: nothing to judge yet). */
export function uptimeCheck(name: string, pct: number | null, windowText: string): CheckResult {
  if (pct === null) return pass(name, `no uptime data yet (${windowText})`);
  const text = `${pct.toFixed(2)}% up over ${windowText}`;
  if (pct < 90) return fail(name, text);
  if (pct < 99) return warn(name, text);
  return pass(name, text);
}

/** Restarts recorded by the service manager: a crash loop fails; a few restarts are reported. */
export function restartsCheck(name: string, restarts: number, crashLoop: boolean): CheckResult {
  if (crashLoop) return fail(name, `crash-looping after ${restarts} restarts; see its log (nbpy logs) for the cause`);
  if (restarts > 0) return pass(name, `${restarts} restart(s) since start`);
  return pass(name, 'no restarts');
}

// ---------------------------------------------------------------- uptime over a window

/**
 * Uptime per service from periodic up/down samples (the monitor's own observations), over a
 * sliding window: each sample counts for the time until the next one.
 */
export class UptimeTracker {
  private readonly samples = new Map<string, { atMs: number; up: boolean }[]>();
  constructor(private readonly windowMs: number) {}

  record(service: string, up: boolean, atMs: number): void {
    let list = this.samples.get(service);
    if (!list) this.samples.set(service, (list = []));
    list.push({ atMs, up });
    // keep one sample older than the window: it covers the window's start
    while (list.length > 1 && list[1]!.atMs <= atMs - this.windowMs) list.shift();
  }

  /** Percentage up over the window ending at `nowMs`; null before two samples. */
  percent(service: string, nowMs: number): number | null {
    const list = this.samples.get(service);
    if (!list || list.length < 2) return null;
    const start = nowMs - this.windowMs;
    let up = 0;
    let total = 0;
    for (let i = 0; i < list.length - 1; i++) {
      const from = Math.max(start, list[i]!.atMs);
      const to = Math.min(nowMs, list[i + 1]!.atMs);
      if (to <= from) continue;
      total += to - from;
      if (list[i]!.up) up += to - from;
    }
    return total === 0 ? null : (100 * up) / total;
  }
}
