/**
 * `npm run bench -- e2e [--seconds N] [--rate R|max] [--store influxdb|embedded] [--report FILE]
 *   [--flush-ms N] [--batch-ms N] [--kraken-symbols N] [--betfair-markets N] [--betfair-full-depth] [--profile DIR]
 *   [--no-build] [--keep] [--no-latency] [--warmup S] [--settle S]`
 *
 * The whole system as a user runs it: `nbpy start --json` on a config derived from config/demo.json
 * (private influxd by the process provider on a free port, or the embedded store; data/run/log dirs
 * in a temp dir; each publisher's simulator at R/5 messages/s, `max` = ratePerS 0), a measured
 * window of N seconds, then `nbpy stop --json`. Measures published and persisted rates (total and per
 * topic), records lost (per publisher session: last_seq from /health and the session files, against
 * the points stored for that session, counted after the stop and after replaying any spool a
 * subscriber left), receive-to-queryable latency of records sampled from the bus, CPU seconds and
 * peak RSS per process, start and stop times.
 * See docs/PERFORMANCE.md for the method.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { BusSubscriber } from '../src/bus/subscriber.js';
import type { BusRecord } from '../src/core/records.js';
import { pointTimeNs } from '../src/storage/fields.js';
import { freePort as freePortOnce } from '../test/support/ports.js';
import { ProcTracker, pidsByCmdline } from './e2e/proc.js';
import { summariseProfileFile, type ProfileEntry } from './e2e/profile.js';
import { BenchUsageError, parseBenchArgs, type BenchOptions } from './args.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nbpyBin = join(repoRoot, 'dist', 'bin', 'nbpy.js');

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

export interface E2eOptions {
  seconds: number;
  /** Total simulated messages/s over the five publishers; 0 = as fast as possible. */
  rate: number;
  store: 'influxdb' | 'embedded';
  report: string;
  flushMs?: number;
  /** Every publisher's bus batch window (publishers[].batchMs); unset = the config's (default 20 ms). */
  batchMs?: number;
  krakenSymbols?: number;
  betfairMarkets?: number;
  betfairFullDepth: boolean;
  profileDir?: string;
  build: boolean;
  keep: boolean;
  warmupS: number;
  /** After the warm-up, wait at most this long for the start-up backlog to clear before the window. */
  settleS: number;
  /** Probe the store for sampled records (receive-to-queryable latency); off to measure without the probes' load. */
  latency: boolean;
}

export const E2E_OPTIONS: BenchOptions = {
  seconds: { type: 'string', value: 'N', help: 'length of the measured window, s', default: '30' },
  rate: {
    type: 'string',
    value: 'R|max',
    help: 'simulated messages/s over the five publishers; max (or 0) = as fast as they go',
    default: '20000',
  },
  store: { type: 'string', value: 'influxdb|embedded', help: 'the store the subscribers write to', default: 'influxdb' },
  report: { type: 'string', value: 'FILE', help: 'the JSON report', default: 'artifacts/bench-e2e.json' },
  'flush-ms': { type: 'string', value: 'N', help: "every subscriber's flush interval (flushIntervalMs)", default: "the config's" },
  'batch-ms': { type: 'string', value: 'N', help: "every publisher's bus batch window (batchMs)", default: "the config's" },
  'kraken-symbols': { type: 'string', value: 'N', help: 'instruments per Kraken publisher', default: "the config's" },
  'betfair-markets': { type: 'string', value: 'N', help: 'markets of the Betfair publisher', default: "the config's" },
  'betfair-full-depth': { type: 'boolean', help: 'Betfair full-depth ladders' },
  profile: { type: 'string', value: 'DIR', help: 'write a CPU profile per process into DIR (doubles the CPU used)' },
  'no-build': { type: 'boolean', help: 'use dist/ as it is (no npm run build first)' },
  keep: { type: 'boolean', help: 'keep the temp dir (config, data, logs)' },
  warmup: { type: 'string', value: 'S', help: 'warm-up before the window, s', default: '3' },
  settle: {
    type: 'string',
    value: 'S',
    help: 'after the warm-up, wait at most this long for the start-up backlog to clear',
    default: '15',
  },
  'no-latency': { type: 'boolean', help: 'no receive-to-queryable probes (their queries load influxd)' },
};

export function parseArgs(args: string[]): E2eOptions {
  const a = parseBenchArgs(
    'npm run bench -- e2e',
    'The whole system as a user runs it (nbpy start on a private influxd or the embedded store), measured:\nrates, loss, receive-to-queryable latency, CPU and RSS per process, start and stop times.',
    E2E_OPTIONS,
    args,
  );
  const rate = a.str('rate', '20000')!;
  if (rate !== 'max' && !(rate.trim() !== '' && Number(rate) >= 0))
    throw new BenchUsageError(`npm run bench -- e2e: --rate: expected a number >= 0 or max (0 = max), got ${JSON.stringify(rate)}`);
  const profile = a.str('profile');
  return {
    seconds: a.num('seconds', 30, 1),
    rate: rate === 'max' ? 0 : Number(rate), // 0: as fast as the simulators go
    store: a.oneOf('store', ['influxdb', 'embedded'] as const, 'influxdb'),
    report: resolve(a.str('report') ?? join(repoRoot, 'artifacts', 'bench-e2e.json')),
    flushMs: a.optNum('flush-ms', 1),
    batchMs: a.optNum('batch-ms', 0),
    krakenSymbols: a.optNum('kraken-symbols', 1),
    betfairMarkets: a.optNum('betfair-markets', 1),
    betfairFullDepth: a.flag('betfair-full-depth'),
    profileDir: profile ? resolve(profile) : undefined,
    build: !a.flag('no-build'),
    keep: a.flag('keep'),
    warmupS: a.num('warmup', 3),
    settleS: a.num('settle', 15),
    latency: !a.flag('no-latency'),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A free port p with p+2 free too (the process provider puts influxd's RPC listener on p+2). */
async function influxPort(freePort: () => Promise<number>): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p > 65000) continue;
    const ok = await new Promise<boolean>((res) => {
      import('node:net').then(({ createServer }) => {
        const s = createServer();
        s.once('error', () => res(false));
        s.listen(p + 2, '127.0.0.1', () => s.close(() => res(true)));
      });
    });
    if (ok) return p;
  }
}

async function makeConfig(o: E2eOptions, dir: string): Promise<Json> {
  const raw = JSON.parse(readFileSync(join(repoRoot, 'config', 'demo.json'), 'utf8'));
  delete raw.$schema;
  const perPub = o.rate === 0 ? 0 : Math.max(1, Math.round(o.rate / raw.publishers.length));
  // freePort() binds port 0 and closes it, so two calls can return the same port: keep them distinct
  // (and 2 apart, for influxd's RPC port at p+2).
  const taken = new Set<number>();
  const freePort = async (): Promise<number> => {
    for (;;) {
      const p = await freePortOnce();
      if (!taken.has(p) && !taken.has(p - 2) && !taken.has(p + 2)) {
        taken.add(p);
        return p;
      }
    }
  };
  for (const p of raw.publishers) {
    p.port = await freePort();
    p.statusPort = await freePort();
    if (p.retransmitPort !== undefined) p.retransmitPort = await freePort();
    // ratePerS counts venue messages; a Kraken trade message carries ~1.5 trades (measured), the
    // other simulated feeds one record per message, so the total is close to R records/s.
    if (o.batchMs !== undefined) p.batchMs = o.batchMs;
    p.source = { ...p.source, ratePerS: p.venue === 'kraken' && p.feed === 'trade' ? Math.round(perPub / 1.5) : perPub };
    if (p.venue === 'kraken' && o.krakenSymbols)
      p.instruments = Array.from({ length: o.krakenSymbols }, (_, i) => (i === 0 ? 'BTC/USD' : i === 1 ? 'ETH/USD' : `X${i}/USD`));
    if (p.venue === 'betfair' && o.betfairMarkets)
      p.markets = Array.from({ length: o.betfairMarkets }, (_, i) => `1.${String(180000000 + i * 7919)}`);
    if (p.venue === 'betfair' && o.betfairFullDepth)
      p.dataFields = ['EX_ALL_OFFERS', 'EX_TRADED', 'EX_TRADED_VOL', 'EX_LTP', 'EX_MARKET_DEF'];
  }
  for (const s of raw.subscribers) {
    s.port = await freePort();
    if (o.flushMs) s.flushIntervalMs = o.flushMs;
  }
  raw.console.port = await freePort();
  raw.dataDir = join(dir, 'data');
  raw.runDir = join(dir, 'run');
  raw.logging.dir = join(dir, 'logs');
  raw.storage.backend = o.store;
  raw.backing.influxdb.provider = 'process';
  raw.backing.influxdb.url = `http://127.0.0.1:${await influxPort(freePort)}`;
  return raw;
}

function nbpy(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    const c = spawn(process.execPath, [nbpyBin, ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8000)));
    c.once('exit', (code) => res({ code, out, err }));
  });
}

async function getJson(port: number, path: string): Promise<Json> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) });
  return r.json();
}

const lastJson = (out: string): Json => {
  const lines = out.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      return JSON.parse(lines[i]!);
    } catch {
      // not JSON
    }
  }
  // the whole output may be one pretty-printed object
  return JSON.parse(out);
};

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Sample {
  measurement: string;
  subscriberPort: number;
  session: string;
  seq: number;
  tsEventUs: number;
  tsRecvUs: number;
  foundUs?: number;
}

export async function run(args: string[]): Promise<string> {
  const o = parseArgs(args);
  if (o.build) execFileSync('npm', ['run', 'build', '--silent'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-bench-e2e-'));
  const raw = await makeConfig(o, dir);
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(raw, null, 2));
  const influxUrl: string = raw.backing.influxdb.url;
  const db: string = raw.influxdb.database;
  const log = (s: string) => process.stderr.write(`e2e: ${s}\n`);
  log(`config ${configPath}; rate ${o.rate || 'max'}/s, store ${o.store}, flush ${o.flushMs ?? 1000} ms, ${o.seconds} s`);

  // An interrupted benchmark still stops what it started.
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping the system`);
    void nbpy(['stop', '--json', '--config', configPath]).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const startEnv = { ...process.env };
  if (o.profileDir) {
    mkdirSync(o.profileDir, { recursive: true });
    // Node 20 refuses --cpu-prof in NODE_OPTIONS; a preload starts the profiler through the inspector.
    startEnv.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${join(repoRoot, 'bench', 'e2e', 'cpu-prof-preload.mjs')}`.trim();
    startEnv.NBPY_BENCH_CPU_PROF_DIR = o.profileDir;
  }
  const loadAtStart = (await import('node:os')).loadavg().map((x) => Math.round(x * 100) / 100);
  const t0 = performance.now();
  const started = await nbpy(['start', '--json', '--config', configPath], startEnv);
  const startWallS = (performance.now() - t0) / 1000;
  let startJson: Json;
  try {
    startJson = lastJson(started.out);
  } catch {
    startJson = { ok: false, error: started.err };
  }
  if (started.code !== 0 || !startJson.ok) {
    await nbpy(['stop', '--json', '--config', configPath]);
    throw new Error(`nbpy start failed (exit ${started.code}): ${JSON.stringify(startJson)}\n${started.err.slice(-2000)}`);
  }
  const startS: number = startJson.start_s;
  log(`up in ${startS} s (nbpy start took ${startWallS.toFixed(2)} s wall)`);

  // Topic and measurement routing from the config.
  const pubs: Json[] = raw.publishers;
  const subs: Json[] = raw.subscribers;
  const subFor = (topic: string) => subs.find((s) => s.topics.some((t: string) => topic.startsWith(t)));
  const measurementOf = (r: BusRecord): string | undefined => {
    const s = subFor(r.topic);
    if (!s) return undefined;
    return s.measurements[r.kind] ?? (r.kind === 'gap' || r.kind === 'status' ? raw.influxdb.eventsMeasurement : undefined);
  };

  // Processes.
  const procs = new ProcTracker();
  const discover = async () => {
    const st = lastJson((await nbpy(['status', '--json', '--config', configPath])).out);
    if (st.supervisor?.pid) procs.track(st.supervisor.pid, 'supervisor', 'supervisor');
    for (const s of st.services ?? []) if (s.pid) procs.track(s.pid, s.name, s.kind);
    if (o.store === 'influxdb')
      for (const pid of pidsByCmdline(join(raw.dataDir, 'influxdb', 'influxd.conf'))) procs.track(pid, 'influxd', 'backing');
  };
  await discover();

  // Publisher sessions: session -> { publisher, last_seq }.
  const sessions = new Map<string, { publisher: string; topic: string; lastSeq: number }>();
  // With retry, services whose /health does not answer are asked again for up to 30 s (a saturated
  // event loop answers late), then left out.
  // Per service, the first and last /health answer inside the window with the time it arrived: rates
  // come from these, so a service that did not answer at one end of the window (a saturated event
  // loop) is measured over the part of the window it answered in, not counted from zero.
  const inWindow = { on: false };
  const seen = new Map<string, { first?: { h: Json; t: number }; last?: { h: Json; t: number } }>();
  const healthOf = (key: string, port: number) =>
    getJson(port, '/health').then(
      (h: Json) => {
        if (inWindow.on && h) {
          const e = seen.get(key) ?? {};
          e.first ??= { h, t: performance.now() };
          e.last = { h, t: performance.now() };
          seen.set(key, e);
        }
        return h;
      },
      () => undefined,
    );
  const pollHealth = async (retry = false, until = Date.now() + 30_000): Promise<{ pubH: Json[]; subH: Json[] }> => {
    const pubH = await Promise.all(pubs.map((p) => healthOf(`pub:${p.name}`, p.statusPort)));
    const subH = await Promise.all(subs.map((s) => healthOf(`sub:${s.name}`, s.port)));
    if (retry && Date.now() < until && [...pubH, ...subH].some((h) => !h)) return pollHealth(true, until);
    pubH.forEach((h, i) => {
      if (!h?.session) return;
      const prev = sessions.get(h.session);
      sessions.set(h.session, { publisher: pubs[i].name, topic: pubs[i].topic, lastSeq: Math.max(prev?.lastSeq ?? 0, h.last_seq) });
    });
    return { pubH, subH };
  };

  // Latency samples from the bus: one record per topic every 200 ms, after the warm-up.
  const samples: Sample[] = [];
  const bus = new BusSubscriber({ endpoints: pubs.map((p) => `tcp://127.0.0.1:${p.port}`), topics: [''] });
  let sampling = false;
  const lastSampleMs = new Map<string, number>();
  const busLoop = (async () => {
    for await (const batch of bus.batches()) {
      if (!sampling) continue;
      const r = batch[batch.length - 1]!;
      if (r.kind === 'heartbeat') continue;
      const now = performance.now();
      if (now - (lastSampleMs.get(r.topic) ?? 0) < 200) continue;
      const m = measurementOf(r);
      const s = subFor(r.topic);
      if (!m || !s) continue;
      lastSampleMs.set(r.topic, now);
      samples.push({
        measurement: m,
        subscriberPort: s.port,
        session: r.session,
        seq: r.seq,
        tsEventUs: r.ts_event_us,
        tsRecvUs: r.ts_recv_us,
      });
    }
  })().catch((e: Error) => log(`bus sampler: ${e.message}`));

  let polling = true;
  const rp: string = subs[0]?.retentionPolicy ?? 'autogen';
  const pollStore = (async () => {
    while (polling) {
      // The oldest pending samples only, a few per request: the probes must not load the store they measure.
      const pending = samples.filter((s) => s.foundUs === undefined).slice(0, o.store === 'influxdb' ? 25 : 10);
      if (!pending.length) {
        await sleep(10);
        continue;
      }
      try {
        if (o.store === 'influxdb') {
          const q = pending
            .map(
              (s) =>
                `SELECT count("seq") FROM "${db}"."${rp}"."${s.measurement}" WHERE "session" = '${s.session}' AND time = ${pointTimeNs(s.tsEventUs, s.seq)}`,
            )
            .join(';');
          const r = await fetch(`${influxUrl}/query?db=${db}&q=${encodeURIComponent(q)}`, { signal: AbortSignal.timeout(10_000) });
          const body = (await r.json()) as Json;
          const now = Date.now() * 1000;
          for (const res of body.results ?? []) if (res.series?.length) pending[res.statement_id]!.foundUs = now;
        } else {
          await Promise.all(
            pending.map(async (s) => {
              const r = await getJson(
                s.subscriberPort,
                `/store/has?measurement=${s.measurement}&session=${s.session}&seq=${s.seq}&time_us=${s.tsEventUs}`,
              );
              if (r.found) s.foundUs = Date.now() * 1000;
            }),
          );
        }
      } catch (e) {
        log(`store poll: ${(e as Error).message}`);
      }
      await sleep(50);
    }
  })();

  // Warm-up, then the measured window.
  const ticker = setInterval(() => procs.sample(), 500);
  let stopJson: Json = {};
  let stopWallS = 0;
  const timeline: Json[] = [];
  let windowS = 0;
  let settled = false;
  let settleS = 0;
  try {
    await sleep(o.warmupS * 1000);
    // The window starts once the subscribers hold no backlog from the start-up (at most half a
    // second of the rate, or 1,000 records), so the figures are the steady state; at rates the
    // machine cannot carry that never happens and the window starts after settleS anyway.
    const settleT0 = performance.now();
    while (performance.now() - settleT0 < o.settleS * 1000) {
      const h = await pollHealth(true);
      const held = h.subH.reduce((a, x) => a + (x?.queue_depth ?? 0) + (x?.held_records ?? 0) + (x?.spool_bytes ? 1e9 : 0), 0);
      if (held <= Math.max(1000, o.rate / 2)) {
        settled = true;
        break;
      }
      await sleep(500);
    }
    settleS = (performance.now() - settleT0) / 1000;
    log(`window starts ${settleS.toFixed(1)} s after the warm-up (${settled ? 'backlog cleared' : 'backlog still there'})`);
    await discover();
    procs.markWindow();
    inWindow.on = true;
    await pollHealth(true);
    const tw0 = performance.now();
    sampling = o.latency;
    for (let i = 0; performance.now() - tw0 < o.seconds * 1000 - 500; i++) {
      await sleep(Math.max(0, tw0 + (i + 1) * 1000 - performance.now()));
      const h = await pollHealth();
      const out = h.pubH.reduce((a, x) => a + (x?.records_out ?? 0), 0);
      const written = h.subH.reduce((a, x) => a + (x?.points_written ?? 0), 0);
      const queued = h.subH.reduce((a, x) => a + (x?.queue_depth ?? 0), 0);
      timeline.push({ t_s: Math.round((performance.now() - tw0) / 100) / 10, records_out: out, points_written: written, queued });
      if (i % 5 === 4) log(`${i + 1} s: ${out.toLocaleString('en')} published, ${written.toLocaleString('en')} written, ${queued} held`);
      if (i % 10 === 9) await discover();
    }
    const tw1 = performance.now();
    await pollHealth(true);
    inWindow.on = false;
    windowS = ((tw1 + performance.now()) / 2 - tw0) / 1000;
    sampling = false;
    procs.markEnd();
    // Let the last samples become visible (latency of the tail), bounded.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && samples.some((s) => s.foundUs === undefined)) await sleep(50);
    procs.sample();
  } finally {
    clearInterval(ticker);
    polling = false;
    bus.close();
    await pollStore;
    await busLoop;
    const ts = performance.now();
    const stopped = await nbpy(['stop', '--json', '--config', configPath]);
    stopWallS = (performance.now() - ts) / 1000;
    try {
      stopJson = lastJson(stopped.out);
    } catch {
      stopJson = { ok: false, error: stopped.err };
    }
  }
  log(`stopped in ${stopJson.stop_s} s`);

  // Final sequence numbers: the session files a clean stop leaves.
  const sessDir = join(raw.runDir, 'sessions');
  if (existsSync(sessDir))
    for (const f of readdirSync(sessDir).filter((x) => x.endsWith('.json'))) {
      const s = JSON.parse(readFileSync(join(sessDir, f), 'utf8'));
      const name = f.replace(/\.json$/, '');
      const p = pubs.find((x) => x.name === name);
      const prev = sessions.get(s.session);
      sessions.set(s.session, { publisher: name, topic: p?.topic ?? '?', lastSeq: Math.max(prev?.lastSeq ?? 0, s.last_seq) });
    }

  // Stored per session, counted after the stop (everything flushed).
  // Records a subscriber spooled because the store could not keep up are durable, not lost: each
  // subscriber with a spool left is run once more (publishers stopped, store up) until its spool is
  // replayed, so the count below includes them. How much and how long is in the report.
  const spoolReplay: Json[] = [];
  const replay = () => replaySpools(raw, configPath, spoolReplay);
  const stored = o.store === 'influxdb' ? await countInflux(raw, dir, replay) : (await replay(), await countEmbedded(raw));
  if (spoolReplay.length) log(`replayed spools before counting: ${JSON.stringify(spoolReplay)}`);
  const perTopic: Record<string, Json> = {};
  let publishedTotal = 0;
  let storedTotal = 0;
  for (const [session, s] of sessions) {
    const t = (perTopic[s.topic] ??= { published: 0, stored: 0, lost: 0, sessions: 0 });
    const c = stored.get(session);
    const n = c?.n ?? 0;
    t.published += s.lastSeq;
    t.stored += n;
    t.lost += Math.max(0, s.lastSeq - n);
    // Of the lost, the seqs the subscribers reported in gap records (e.g. a tail unread at the stop).
    t.lost_reported = (t.lost_reported ?? 0) + (c?.reported ?? 0);
    // Records never stored at the head of a session (published before any subscriber was connected).
    t.lost_at_session_start = (t.lost_at_session_start ?? 0) + (c ? Math.min(s.lastSeq, c.minSeq - 1) : s.lastSeq);
    t.sessions++;
    publishedTotal += s.lastSeq;
    storedTotal += n;
  }
  const lost = Object.values(perTopic).reduce((a: number, t: Json) => a + t.lost, 0);
  const lostAtStart = Object.values(perTopic).reduce((a: number, t: Json) => a + (t.lost_at_session_start ?? 0), 0);
  const lostReported = Object.values(perTopic).reduce((a: number, t: Json) => a + (t.lost_reported ?? 0), 0);

  // Rates over the window, per topic.
  let pubRate = 0;
  let persistRate = 0;
  // A rate from the first and last answers in the window (null when fewer than two, or the session
  // changed in between: a restarted publisher's counters start again).
  const rateOf = (key: string, field: string): number | null => {
    const e = seen.get(key);
    if (!e?.first || !e.last || e.last.t - e.first.t < 1000) return null;
    if (e.first.h.session !== e.last.h.session) return null;
    return ((e.last.h[field] ?? 0) - (e.first.h[field] ?? 0)) / ((e.last.t - e.first.t) / 1000);
  };
  const round = (x: number | null) => (x === null ? null : Math.round(x));
  pubs.forEach((p) => {
    const d = rateOf(`pub:${p.name}`, 'records_out');
    const t = (perTopic[p.topic] ??= { published: 0, stored: 0, lost: 0, sessions: 0 });
    t.published_per_s = round(d);
    t.frames_per_s = round(rateOf(`pub:${p.name}`, 'frames_in'));
    // Records per bus message in the window (heartbeats count as messages): what every reader pays per message for.
    const msgs = rateOf(`pub:${p.name}`, 'messages_out');
    t.records_per_message = d !== null && msgs ? Math.round((d / msgs) * 10) / 10 : null;
    t.simulated_msgs_per_s = p.source.ratePerS;
    pubRate += d ?? 0;
  });
  subs.forEach((s) => {
    const d = rateOf(`sub:${s.name}`, 'points_written');
    const topic = pubs.find((p) => s.topics.some((x: string) => p.topic.startsWith(x)))?.topic ?? s.name;
    const t = (perTopic[topic] ??= { published: 0, stored: 0, lost: 0, sessions: 0 });
    t.persisted_per_s = round(d);
    persistRate += d ?? 0;
  });

  // Latency.
  const lat = samples
    .filter((s) => s.foundUs !== undefined)
    .map((s) => (s.foundUs! - s.tsRecvUs) / 1000)
    .sort((a, b) => a - b);
  const latency = {
    samples: samples.length,
    found: lat.length,
    p50_ms: Math.round(quantile(lat, 0.5)),
    p99_ms: Math.round(quantile(lat, 0.99)),
    max_ms: Math.round(lat[lat.length - 1] ?? NaN),
  };

  // Processes.
  // CPU between the window's marks (the tail wait for late samples is not in it).
  const cpuWindowS = ((procs.windowEndMs ?? 0) - (procs.windowStartMs ?? 0)) / 1000;
  const processes = [...procs.procs].map(([pid, p]) => ({
    name: p.name,
    kind: p.kind,
    pid,
    cpu_s: p.end && p.first ? Math.round((p.end.cpuS - p.first.cpuS) * 100) / 100 : null,
    cpu_pct: p.end && p.first && cpuWindowS > 0 ? Math.round(((p.end.cpuS - p.first.cpuS) / cpuWindowS) * 1000) / 10 : null,
    cpu_total_s: p.last ? Math.round(p.last.cpuS * 100) / 100 : null,
    peak_rss_mb: Math.round((p.peakRssBytes / 1048576) * 10) / 10,
    // Sampled every 0.5 s (no kernel high-water mark for it): RSS without the shared file-backed pages.
    peak_anon_mb: Math.round((p.peakAnonBytes / 1048576) * 10) / 10,
  }));
  const maxRss = Math.max(0, ...processes.map((p) => p.peak_rss_mb));

  let profiles: Record<string, { totalMs: number; entries: ProfileEntry[] }> | undefined;
  if (o.profileDir) {
    profiles = {};
    const byPid = new Map(processes.map((p) => [p.pid, p.name]));
    for (const f of readdirSync(o.profileDir).filter((x) => x.endsWith('.cpuprofile'))) {
      const pid = Number(f.split('.')[1]);
      const name = byPid.get(pid);
      if (!name) continue;
      profiles[name] = summariseProfileFile(join(o.profileDir, f));
    }
  }

  const report = {
    when: new Date().toISOString(),
    load_avg_at_start: loadAtStart,
    load_avg_at_end: (await import('node:os')).loadavg().map((x) => Math.round(x * 100) / 100),
    options: { ...o, report: undefined },
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    window_s: Math.round(windowS * 10) / 10,
    settle_s: Math.round(settleS * 10) / 10,
    settled,
    cpu_window_s: Math.round(cpuWindowS * 10) / 10,
    published_per_s: Math.round(pubRate),
    persisted_per_s: Math.round(persistRate),
    published_total: publishedTotal,
    stored_total: storedTotal,
    lost,
    lost_at_session_start: lostAtStart,
    lost_reported: lostReported,
    spool_replayed_after_stop: spoolReplay,
    per_topic: perTopic,
    sessions: Object.fromEntries(sessions),
    latency,
    processes,
    max_rss_mb: maxRss,
    start_s: startS,
    start_wall_s: Math.round(startWallS * 100) / 100,
    stop_s: stopJson.stop_s,
    stop_wall_s: Math.round(stopWallS * 100) / 100,
    stop: stopJson,
    timeline,
    profiles,
  };
  mkdirSync(dirname(o.report), { recursive: true });
  writeFileSync(o.report, JSON.stringify(report, null, 2));

  console.log(
    `\nend to end, ${o.store}, rate ${o.rate || 'max'}/s, flush ${o.flushMs ?? 1000} ms, batch ${o.batchMs ?? 'config'} ms, window ${report.window_s} s`,
  );
  console.table(
    Object.entries(perTopic).map(([topic, t]) => ({
      topic,
      'published/s': t.published_per_s,
      'persisted/s': t.persisted_per_s,
      'records/msg': t.records_per_message,
      published: t.published,
      stored: t.stored,
      lost: t.lost,
      'lost, reported': t.lost_reported,
      'lost at start': t.lost_at_session_start,
    })),
  );
  console.table(
    processes.map((p) => ({
      process: p.name,
      kind: p.kind,
      'cpu s': p.cpu_s,
      'cpu %': p.cpu_pct,
      'peak RSS MB': p.peak_rss_mb,
      'peak anon MB': p.peak_anon_mb,
    })),
  );
  console.log(
    `latency receive -> queryable: p50 ${latency.p50_ms} ms, p99 ${latency.p99_ms} ms, max ${latency.max_ms} ms (${latency.found}/${latency.samples} samples)`,
  );
  console.log(`start ${startS} s, stop ${stopJson.stop_s} s; report ${o.report}`);
  if (profiles)
    for (const [name, p] of Object.entries(profiles)) {
      console.log(`\nprofile ${name} (${p.totalMs} ms sampled):`);
      for (const e of p.entries.slice(0, 8)) console.log(`  ${String(e.selfPct).padStart(5)}%  ${e.fn}  ${e.where}`);
    }
  if (!o.keep) rmSync(dir, { recursive: true, force: true });
  else log(`kept ${dir}`);
  return `bench e2e persisted_per_s=${Math.round(persistRate)} lost=${lost} p99_ms=${latency.p99_ms} max_rss_mb=${Math.round(maxRss)} start_s=${startS} stop_s=${stopJson.stop_s}`;
}

/** Points stored for one publisher session, and the lowest seq stored (seq - 1 below it were never stored). */
interface Counted {
  n: number;
  minSeq: number;
  /** Seqs named by subscribers' `sequence` gap records (lost, but reported). */
  reported?: number;
}

function addReported(out: Map<string, Counted>, session: string, n: number): void {
  const c = out.get(session) ?? { n: 0, minSeq: Infinity };
  c.reported = (c.reported ?? 0) + n;
  out.set(session, c);
}

function add(out: Map<string, Counted>, session: string, n: number, minSeq: number): void {
  const c = out.get(session) ?? { n: 0, minSeq: Infinity };
  c.n += n;
  if (Number.isFinite(minSeq)) c.minSeq = Math.min(c.minSeq, minSeq);
  out.set(session, c);
}

/** Points per publisher session in InfluxDB: a private influxd on the stopped system's data dir. */
/** Bytes in a directory tree (0 when it does not exist). */
function treeBytes(d: string): number {
  if (!existsSync(d)) return 0;
  let n = 0;
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    n += e.isDirectory() ? treeBytes(p) : statSync(p).size;
  }
  return n;
}

/** Run each subscriber that has a spool left until it has written it all to the store, then stop it. */
async function replaySpools(raw: Json, configPath: string, out: Json[]): Promise<void> {
  for (const s of raw.subscribers as Json[]) {
    const bytes = treeBytes(join(raw.dataDir, 'spool', s.name));
    if (bytes === 0) continue;
    const t0 = performance.now();
    const child = spawn(process.execPath, [nbpyBin, 'subscriber', 'run', s.name, '--config', configPath], { stdio: 'ignore' });
    const exited = new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    let done = false;
    const deadline = Date.now() + 600_000;
    while (!done && Date.now() < deadline && child.exitCode === null) {
      await sleep(500);
      const h = await getJson(s.port, '/health').catch(() => undefined);
      done = h !== undefined && h.store_up && h.spool_bytes === 0 && h.queue_depth === 0;
    }
    child.kill('SIGTERM');
    await exited;
    const left = treeBytes(join(raw.dataDir, 'spool', s.name));
    out.push({
      subscriber: s.name,
      spool_mb: +(bytes / 1e6).toFixed(1),
      seconds: +((performance.now() - t0) / 1000).toFixed(1),
      left_mb: +(left / 1e6).toFixed(1),
    });
  }
}

async function countInflux(raw: Json, dir: string, beforeCounting: () => Promise<void>): Promise<Map<string, Counted>> {
  const conf = join(raw.dataDir, 'influxdb', 'influxd.conf');
  const url: string = raw.backing.influxdb.url;
  const child = spawn('influxd', ['run', '-config', conf], { stdio: 'ignore' });
  const out = new Map<string, Counted>();
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ok = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok || r.status === 204,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`influxd on ${dir} did not come back for counting`);
      await sleep(100);
    }
    await beforeCounting();
    const db: string = raw.influxdb.database;
    const q = async (s: string): Promise<Json> =>
      (await fetch(`${url}/query?db=${db}&q=${encodeURIComponent(s)}`, { signal: AbortSignal.timeout(120_000) })).json();
    const rps = ((await q(`SHOW RETENTION POLICIES ON "${db}"`)).results[0].series?.[0]?.values ?? []).map((v: Json[]) => v[0]);
    for (const rp of rps) {
      for (const m of Object.keys(raw.influxdb.measurements)) {
        if (m === raw.influxdb.healthMeasurement) continue;
        const where = m === raw.influxdb.eventsMeasurement ? ` WHERE "reason" != 'sequence'` : '';
        const r = await q(`SELECT count("seq"), min("seq") FROM "${db}"."${rp}"."${m}"${where} GROUP BY "session"`);
        for (const s of r.results?.[0]?.series ?? [])
          add(out, s.tags?.session as string, Number(s.values?.[0]?.[1] ?? 0), Number(s.values?.[0]?.[2]));
        if (m !== raw.influxdb.eventsMeasurement) continue;
        const g = await q(
          `SELECT first_missing_seq, last_missing_seq FROM "${db}"."${rp}"."${m}" WHERE "reason" = 'sequence' GROUP BY "session"`,
        );
        for (const s of g.results?.[0]?.series ?? [])
          for (const v of s.values ?? []) addReported(out, s.tags?.session as string, Number(v[2]) - Number(v[1]) + 1);
      }
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  }
  return out;
}

/** Points per publisher session in the subscribers' DuckDB files (after the stop: no writer holds them). */
async function countEmbedded(raw: Json): Promise<Map<string, Counted>> {
  const out = new Map<string, Counted>();
  const edir = join(raw.dataDir, 'embedded');
  if (!existsSync(edir)) return out;
  for (const f of readdirSync(edir).filter((x) => x.endsWith('.duckdb'))) {
    const inst = await DuckDBInstance.create(join(edir, f), { access_mode: 'READ_ONLY' });
    const conn = await inst.connect();
    try {
      const tables = (await conn.runAndReadAll(`SELECT table_name FROM information_schema.tables`)).getRowObjectsJS();
      for (const t of tables) {
        const m = String(t.table_name);
        if (m === raw.influxdb.healthMeasurement || !(m in raw.influxdb.measurements)) continue;
        const where = m === raw.influxdb.eventsMeasurement ? ` WHERE reason IS DISTINCT FROM 'sequence'` : '';
        const rows = (
          await conn.runAndReadAll(`SELECT session, count(*)::DOUBLE AS n, min(seq)::DOUBLE AS first FROM "${m}"${where} GROUP BY session`)
        ).getRowObjectsJS();
        for (const r of rows) add(out, String(r.session), Number(r.n), Number(r.first));
        if (m !== raw.influxdb.eventsMeasurement) continue;
        const gaps = (
          await conn.runAndReadAll(
            `SELECT session, sum(last_missing_seq - first_missing_seq + 1)::DOUBLE AS n FROM "${m}" WHERE reason = 'sequence' GROUP BY session`,
          )
        ).getRowObjectsJS();
        for (const r of gaps) addReported(out, String(r.session), Number(r.n));
      }
    } finally {
      conn.closeSync();
      inst.closeSync?.();
    }
  }
  return out;
}
