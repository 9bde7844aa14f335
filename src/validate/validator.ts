/**
 * `nbpy validate zmq|influxdb|full` (I/O). See report.ts for the verdict.
 *
 * - zmq: one SUB socket connected to every enabled publisher, subscribed to everything (data and
 *   heartbeats) for the window; per topic: records, rate, sequence holes within a session
 *   (heartbeats expose loss at the tail), sessions (more than one = a publisher restart).
 * - influxdb: per stored measurement, points with a time inside the window and the newest point's
 *   age, over a short range only (InfluxDB query, or the subscribers' /store/newest route with the
 *   embedded store).
 * - full: both at once, then the end-to-end probe: the last data record the validator received on
 *   the bus (a real record, identified by publisher session + seq + venue time) is looked up in the
 *   store until found or the deadline passes. It went publisher -> bus -> subscriber -> batch ->
 *   store, exactly the path under test, without a hook into any process; round_trip_ms runs from
 *   the validator receiving it on the bus to reading it back from the store. With the embedded
 *   store the lookup goes through the subscriber route GET /store/has?measurement&session&seq&time_us.
 */
import { BusSubscriber, tcpEndpoint } from '../bus/subscriber.js';
import { curveClientKeys } from '../bus/curve.js';
import type { BusRecord } from '../core/records.js';
import type { Config } from '../config/schema.js';
import { enabledServices, storedMeasurements } from '../health/evaluate.js';
import { embeddedFreshness, httpGet, influxFreshness, influxQuery } from '../health/probe.js';
import { BusTally, failuresOf, storageReport, topicReports, type ProbeReport, type StorageReport, type ValidateReport } from './report.js';

export type ValidateMode = 'zmq' | 'influxdb' | 'full';

export interface ValidateOptions {
  mode: ValidateMode;
  windowMs: number;
  env?: NodeJS.ProcessEnv;
  /** Extra time allowed for the probe record to reach the store, ms (default: 3 flush intervals + 5 s). */
  probeTimeoutMs?: number;
  /** Called once when the bus window starts (tests use it to act during the window). */
  onWindowStart?: () => void;
}

/** Subscribe to every enabled publisher for `windowMs` and tally what arrives. */
export async function sampleBus(config: Config, windowMs: number, onStart?: () => void): Promise<BusTally> {
  const { publishers } = enabledServices(config);
  const tally = new BusTally();
  if (publishers.length === 0) return tally;
  const sub = new BusSubscriber({
    endpoints: publishers.map((p) => tcpEndpoint(p.connectHost, p.port)),
    topics: [''],
    heartbeats: true,
    curve: curveClientKeys(config.bus.curve),
    maxMessageBytes: config.bus.maxMessageBytes,
  });
  const timer = setTimeout(() => sub.close(), windowMs);
  onStart?.();
  try {
    for await (const batch of sub.batches()) tally.observe(batch, performance.now());
  } finally {
    clearTimeout(timer);
    sub.close();
  }
  return tally;
}

async function storageReports(config: Config, windowMs: number, env: NodeJS.ProcessEnv): Promise<StorageReport[]> {
  const measures = storedMeasurements(config);
  const windowS = Math.max(1, Math.round(windowMs / 1000));
  let obs;
  try {
    obs =
      config.storage.backend === 'influxdb'
        ? await influxFreshness(config, {
            lookbackS: Math.max(2 * config.validation.maxNewestAgeS, 300),
            rateWindowS: windowS,
            timeoutMs: 10_000,
            env,
          })
        : await embeddedFreshness(config, { rateWindowS: windowS, timeoutMs: 5_000 });
  } catch (e) {
    const error = (e as Error).message;
    obs = measures.map((m) => ({ measurement: m.measurement, newestUs: null, recentPoints: null, error }));
  }
  const nowMs = Date.now();
  return obs.map((o) =>
    storageReport(
      { measurement: o.measurement, points: o.recentPoints, newestUs: o.newestUs, ...(o.error ? { error: o.error } : {}) },
      measures.find((m) => m.measurement === o.measurement)?.venues ?? [],
      config.validation.maxNewestAgeS,
      nowMs,
    ),
  );
}

/** Where a record is stored: its subscriber's measurement and retention policy. */
function destinationOf(config: Config, r: BusRecord) {
  for (const s of enabledServices(config).subscribers) {
    if (!s.topics.some((t) => r.topic.startsWith(t))) continue;
    const m = s.measurements[r.kind];
    if (m) return { subscriber: s, measurement: m, retentionPolicy: s.retentionPolicy };
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const qi = (name: string) => '"' + name.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
const ql = (s: string) => "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";

/** Is this exact record in the store? */
async function storeHas(
  config: Config,
  r: BusRecord,
  dest: NonNullable<ReturnType<typeof destinationOf>>,
  env: NodeJS.ProcessEnv,
): Promise<boolean> {
  if (config.storage.backend === 'influxdb') {
    // The point's time is ts_event_us * 1000 + seq % 1000 ns (moved up by a few ns only on a collision).
    const from = BigInt(r.ts_event_us) * 1000n;
    const to = from + 1000n;
    const fields = config.influxdb.measurements[dest.measurement]?.fields ?? {};
    const field = 'seq' in fields ? 'seq' : Object.keys(fields)[0];
    if (!field) return false;
    const seqCond = 'seq' in fields ? ` AND "seq" = ${r.seq}` : '';
    const stmt = `SELECT count(${qi(field)}) FROM ${qi(config.influxdb.database)}.${qi(dest.retentionPolicy)}.${qi(dest.measurement)} WHERE "session" = ${ql(r.session)} AND time >= ${from} AND time < ${to}${seqCond}`;
    const res = await influxQuery(config, [stmt], 5_000, env);
    const n = res[0]?.series?.[0]?.values?.[0]?.[1];
    return typeof n === 'number' && n > 0;
  }
  const params = new URLSearchParams({
    measurement: dest.measurement,
    session: r.session,
    seq: String(r.seq),
    time_us: String(r.ts_event_us),
  });
  const a = await httpGet(`http://${dest.subscriber.bindHost}:${dest.subscriber.port}/store/has?${params}`, 5_000);
  if (!a.ok) throw new Error(`subscriber ${dest.subscriber.name} /store/has: ${a.error ?? `HTTP ${a.status}`}`);
  return a.body?.found === true;
}

/** Trace the last record seen on the bus into the store. */
async function endToEndProbe(config: Config, tally: BusTally, timeoutMs: number, env: NodeJS.ProcessEnv): Promise<ProbeReport> {
  const candidates = [...tally.topics.values()]
    .filter((t) => t.last && t.lastAtMs !== null && destinationOf(config, t.last))
    .sort((a, b) => (b.lastAtMs ?? 0) - (a.lastAtMs ?? 0));
  const pick = candidates[0];
  if (!pick?.last || pick.lastAtMs === null)
    return { ok: false, round_trip_ms: null, detail: 'no stored record kind was seen on the bus during the window: nothing to trace' };
  const r = pick.last;
  const dest = destinationOf(config, r)!;
  const deadline = performance.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      if (await storeHas(config, r, dest, env)) {
        const rt = Math.round(performance.now() - pick.lastAtMs);
        return {
          ok: true,
          round_trip_ms: rt,
          detail: `${r.topic} seq ${r.seq} (session ${r.session.slice(0, 8)}) read back from ${dest.measurement} ${rt} ms after it crossed the bus`,
        };
      }
    } catch (e) {
      lastError = (e as Error).message;
    }
    if (performance.now() > deadline) break;
    await sleep(200);
  }
  return {
    ok: false,
    round_trip_ms: null,
    detail: `${r.topic} seq ${r.seq} (session ${r.session.slice(0, 8)}) did not reach ${dest.measurement} within ${timeoutMs} ms${lastError ? ` (${lastError})` : ''}`,
  };
}

/**
 * Market statuses each Betfair publisher reports on its /health (`market_statuses`), per topic: a
 * topic whose markets are all suspended or closed is silent by design. A publisher that does not
 * answer contributes nothing (its topic is then judged as open).
 */
async function betfairStatuses(
  publishers: readonly { venue: string; topic: string; statusPort: number }[],
  env: NodeJS.ProcessEnv,
): Promise<Record<string, string[]>> {
  const headers: Record<string, string> = env.NBPY_STATUS_TOKEN ? { authorization: `Bearer ${env.NBPY_STATUS_TOKEN}` } : {};
  const out: Record<string, string[]> = {};
  await Promise.all(
    publishers
      .filter((p) => p.venue === 'betfair')
      .map(async (p) => {
        const ms = (await httpGet(`http://127.0.0.1:${p.statusPort}/health`, 2_000, headers)).body?.market_statuses;
        if (Array.isArray(ms)) out[p.topic] = ms.filter((x): x is string => typeof x === 'string');
      }),
  );
  return out;
}

/** Run a validation. */
export async function validate(config: Config, opts: ValidateOptions): Promise<ValidateReport> {
  const env = opts.env ?? process.env;
  const { publishers, subscribers } = enabledServices(config);
  const wantBus = opts.mode !== 'influxdb';
  const wantStore = opts.mode !== 'zmq';

  let tally: BusTally | undefined;
  if (wantBus) tally = await sampleBus(config, opts.windowMs, opts.onWindowStart);
  else opts.onWindowStart?.();
  const nowMs = Date.now();
  const topics = tally
    ? topicReports(
        tally,
        publishers.map((p) => ({ topic: p.topic, venue: p.venue })),
        opts.windowMs,
        nowMs,
        await betfairStatuses(publishers, env),
      )
    : [];

  let storage: StorageReport[] = [];
  let probe: ProbeReport | null = null;
  if (wantStore) {
    const flushMax = Math.max(1000, ...subscribers.map((s) => s.flushIntervalMs));
    const probeTimeout = opts.probeTimeoutMs ?? 3 * flushMax + 5_000;
    const [st, pr] = await Promise.all([
      storageReports(config, opts.windowMs, env),
      opts.mode === 'full' && config.validation.probe && tally ? endToEndProbe(config, tally, probeTimeout, env) : Promise.resolve(null),
    ]);
    storage = st;
    probe = pr;
  }
  const report = { topics, storage, probe };
  const failures = failuresOf(report);
  return { ok: failures.length === 0, mode: opts.mode, window_s: opts.windowMs / 1000, ...report, failures };
}
