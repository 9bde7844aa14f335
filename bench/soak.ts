/**
 * Soak: `npm run soak -- --minutes N [--store influx|embedded] [--rate R] [--fault-every-s S]`
 *
 * Runs the full system (`nbpy start`, detached supervisor; a private influxd through the `process`
 * provider, or the embedded store) with every configured publisher on its simulator at a steady rate,
 * injects faults on a schedule (in turn: SIGKILL of a publisher, SIGKILL of a subscriber, influxd
 * frozen with SIGSTOP for 10 s; the stall is skipped with the embedded store), samples the RSS of every
 * nbpy process (supervisor and services, from /proc) every 5 s, then stops the publishers, lets the
 * subscribers drain, and counts every publisher session seq by seq:
 *   published = highest seq that left the publisher (a witness on the bus; the session file for the last one)
 *   stored    = distinct seqs of the session in the store (the subscriber's own sequence gap records excluded)
 *   lost      = published - stored;  reported = seqs inside stored sequence gap records
 * The last line: `soak minutes=<N> published=<N> stored=<N> lost=<N> max_rss_mb=<N> rss_growth_mb=<N>`
 * (max_rss_mb: the largest sum over all nbpy processes; rss_growth_mb: the last minute's average sum
 * minus the first minute's after warm-up, which is the first third of the run: a 30-minute soak showed
 * the sum climbing for 3-4 minutes (journals filling to their 60 s, V8 heaps growing to their working
 * size, every restarted process warming up again) and level after that; for runs under 4 minutes the
 * windows shrink to a quarter). The averages per tenth of the run are logged, to show the trend.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BusSubscriber, tcpEndpoint } from '../src/bus/subscriber.js';
import { readStatus } from '../src/supervisor/state.js';
import { exitForUsage, parseBenchArgs } from './args.js';

const repoRoot = fileURLToPath(new URL('../', import.meta.url));

function options() {
  try {
    const a = parseBenchArgs(
      'npm run soak --',
      'The full system for N minutes on its simulators with faults on a schedule (a publisher and a subscriber\nSIGKILLed, influxd frozen); counts every session seq by seq and samples the RSS of every process.',
      {
        minutes: { type: 'string', value: 'N', help: 'length of the run', default: '10' },
        store: { type: 'string', value: 'influx|embedded', help: 'the store', default: 'influx' },
        rate: { type: 'string', value: 'R', help: "each publisher's simulated messages/s", default: '200' },
        'fault-every-s': { type: 'string', value: 'S', help: 'seconds between faults', default: '30' },
      },
      process.argv.slice(2),
    );
    return {
      minutes: a.num('minutes', 10, 0.1),
      store: a.oneOf('store', ['influx', 'embedded'] as const, 'influx'),
      rate: a.num('rate', 200, 1),
      faultEveryS: a.num('fault-every-s', 30, 1),
    };
  } catch (e) {
    return exitForUsage(e);
  }
}
const { minutes, store, rate, faultEveryS } = options();
const stallMs = 10_000;

const fromSource = process.env.NBPY_SOAK_FROM_SOURCE === '1' || !existsSync(join(repoRoot, 'dist/bin/nbpy.js'));
const entry = join(repoRoot, fromSource ? 'src/bin/nbpy.ts' : 'dist/bin/nbpy.js');
const nodeArgs = fromSource ? ['--import', 'tsx'] : [];

function nbpy(args: string[], timeoutMs = 180_000): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [...nodeArgs, entry, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${m}`);

// ------------------------------------------------------------------ config
const dir = mkdtempSync(join(tmpdir(), 'nbpy-soak-'));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const raw: any = JSON.parse(readFileSync(join(repoRoot, 'config/demo.json'), 'utf8'));
delete raw.$schema;
const used = new Set<number>();
const port = async () => {
  for (;;) {
    const p = await freePort();
    if (!used.has(p)) {
      used.add(p);
      return p;
    }
  }
};
for (const p of raw.publishers) {
  p.port = await port();
  p.statusPort = await port();
  if (p.retransmitPort !== undefined) p.retransmitPort = await port();
  p.source = { type: 'simulated', ratePerS: rate, seed: 1 };
}
for (const s of raw.subscribers) s.port = await port();
raw.console.enabled = false;
raw.console.port = await port();
raw.dataDir = join(dir, 'data');
raw.runDir = join(dir, 'run');
raw.logging.dir = join(dir, 'logs');
raw.shutdown.phaseTimeoutMs = 30_000;
raw.influxdb.requestTimeoutMs = 2000;
if (store === 'influx') {
  raw.storage = { backend: 'influxdb', embeddedFile: 'nbpy.duckdb' };
  raw.backing.influxdb.provider = 'process';
  raw.backing.influxdb.url = `http://127.0.0.1:${await port()}`;
  raw.backing.influxdb.binary = process.env.NBPY_SOAK_INFLUXD ?? '/usr/bin/influxd';
} else raw.storage = { backend: 'embedded', embeddedFile: 'nbpy.duckdb' };
const configPath = join(dir, 'config.json');
writeFileSync(configPath, JSON.stringify(raw, null, 2));
const influxUrl: string = raw.backing.influxdb.url;

// ------------------------------------------------------------------ witness: what left each publisher
const sessions = new Map<string, { publisher: string; max: number }>();
const witness = new BusSubscriber({
  endpoints: raw.publishers.map((p: { port: number }) => tcpEndpoint('127.0.0.1', p.port)),
  topics: [''],
  rcvHwm: 0,
});
const witnessDone = (async () => {
  for await (const batch of witness.batches())
    for (const r of batch) {
      if (r.kind === 'heartbeat') continue;
      const s = sessions.get(r.session);
      if (!s) sessions.set(r.session, { publisher: r.publisher, max: r.seq });
      else if (r.seq > s.max) s.max = r.seq;
    }
})().catch(() => undefined);

// ------------------------------------------------------------------ helpers
/** Warm-up before memory is compared: the first third of the run (at least a minute); a quarter under 4 minutes. */
function warmUpMs(minutes: number): number {
  return minutes >= 4 ? Math.max(60_000, (minutes * 60_000) / 3) : (minutes * 60_000) / 4;
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function nbpyPids(): { name: string; pid: number }[] {
  const st = readStatus(raw.runDir);
  // nbpy's own processes only: the backing influxd the process provider runs is not nbpy's memory.
  const pids = st.services
    .filter((s) => s.alive && s.pid && ['publisher', 'subscriber', 'console'].includes(s.kind))
    .map((s) => ({ name: s.name, pid: s.pid! }));
  if (st.supervisor) pids.push({ name: 'supervisor', pid: st.supervisor.pid });
  return pids;
}

function influxdPid(): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.includes('influxd') && cmd.includes(raw.dataDir)) return Number(d);
    } catch {
      // gone
    }
  }
  return undefined;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function getJson(p: number, path: string): Promise<any> {
  const r = await fetch(`http://127.0.0.1:${p}${path}`, { signal: AbortSignal.timeout(5000) });
  return r.json();
}

async function waitFor(what: string, f: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await f()) return;
    } catch {
      // not answering yet
    }
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(250);
  }
}

async function influxQuery(q: string): Promise<unknown[][]> {
  const body = new URLSearchParams({ q, db: raw.influxdb.database, epoch: 'u' });
  const r = await fetch(`${influxUrl}/query`, { method: 'POST', body, signal: AbortSignal.timeout(60_000) });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const j: any = await r.json();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return (j.results?.[0]?.series ?? []).flatMap((s: any) => (s.values ?? []).map((v: unknown[]) => [s.tags?.session, ...v]));
}

/** stored seqs (count) and reported missing seqs per session. */
async function countInflux(): Promise<{ stored: Map<string, number>; reported: Map<string, number> }> {
  const stored = new Map<string, number>();
  const reported = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, n: number) => m.set(k, (m.get(k) ?? 0) + n);
  for (const sc of raw.subscribers) {
    const rp = sc.retentionPolicy ?? 'high_frequency';
    for (const m of new Set<string>(Object.values(sc.measurements)))
      for (const [session, , n] of await influxQuery(`SELECT count(seq) FROM "${rp}"."${m}" GROUP BY "session"`))
        add(stored, String(session), Number(n));
  }
  const rps = new Set<string>(raw.subscribers.map((s: { retentionPolicy?: string }) => s.retentionPolicy ?? 'high_frequency'));
  for (const rp of rps) {
    const ev = `"${rp}"."${raw.influxdb.eventsMeasurement}"`;
    for (const [session, , n] of await influxQuery(`SELECT count(seq) FROM ${ev} WHERE "reason" != 'sequence' GROUP BY "session"`))
      add(stored, String(session), Number(n));
    for (const [session, , a, b] of await influxQuery(
      `SELECT first_missing_seq, last_missing_seq FROM ${ev} WHERE "reason" = 'sequence' GROUP BY "session"`,
    ))
      add(reported, String(session), Number(b) - Number(a) + 1);
  }
  return { stored, reported };
}

async function countEmbedded(): Promise<{ stored: Map<string, number>; reported: Map<string, number> }> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const stored = new Map<string, number>();
  const reported = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, n: number) => m.set(k, (m.get(k) ?? 0) + n);
  for (const sc of raw.subscribers) {
    const file = join(raw.dataDir, 'embedded', `${sc.name}.duckdb`);
    if (!existsSync(file)) continue;
    const inst = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
    const conn = await inst.connect();
    const rows = async (sql: string) => (await conn.runAndReadAll(sql)).getRows();
    const tables = new Set((await rows('SELECT table_name FROM information_schema.tables')).map((r) => String(r[0])));
    for (const m of new Set<string>(Object.values(sc.measurements)))
      if (tables.has(m))
        for (const [s, n] of await rows(`SELECT session, count(DISTINCT seq) FROM "${m}" GROUP BY session`))
          add(stored, String(s), Number(n));
    const ev = raw.influxdb.eventsMeasurement;
    if (tables.has(ev)) {
      for (const [s, n] of await rows(`SELECT session, count(DISTINCT seq) FROM "${ev}" WHERE reason <> 'sequence' GROUP BY session`))
        add(stored, String(s), Number(n));
      for (const [s, a, b] of await rows(`SELECT session, first_missing_seq, last_missing_seq FROM "${ev}" WHERE reason = 'sequence'`))
        add(reported, String(s), Number(b) - Number(a) + 1);
    }
    conn.closeSync?.();
  }
  return { stored, reported };
}

// ------------------------------------------------------------------ run
const samples: { t: number; mb: number }[] = [];
/** Per service (and supervisor): RSS of its first and last sample after warm-up, and its max. */
const perService = new Map<string, { first?: number; last: number; max: number }>();
let stopping = false;
const cleanup = () => {
  if (stopping) return;
  stopping = true;
  const p = influxdPid();
  if (p) process.kill(p, 'SIGCONT');
  nbpy(['stop', '--config', configPath], 120_000);
};
process.once('SIGINT', () => {
  cleanup();
  process.exit(130);
});

log(`dir ${dir}; store ${store}; ${raw.publishers.length} publishers at ${rate}/s; ${minutes} min; a fault every ${faultEveryS} s`);
const started = nbpy(['start', '--json', '--config', configPath]);
if (started.code !== 0) {
  console.error(`nbpy start failed:\n${started.out}`);
  cleanup();
  process.exit(1);
}
log('system started and validated');

const t0 = Date.now();
const endAt = t0 + minutes * 60_000;
const sampler = setInterval(() => {
  let mb = 0;
  const t = Date.now() - t0;
  const warmMs = warmUpMs(minutes);
  for (const { name, pid } of nbpyPids()) {
    const r = rssMb(pid);
    mb += r;
    const e = perService.get(name) ?? { last: 0, max: 0 };
    if (t >= warmMs && e.first === undefined) e.first = r;
    e.last = r;
    e.max = Math.max(e.max, r);
    perService.set(name, e);
  }
  samples.push({ t, mb });
}, 5000);

const faults = ['publisher_kill', 'subscriber_kill', 'influxd_stall'] as const;
let nextFaultAt = t0 + faultEveryS * 1000;
let n = 0;
const injected: Record<string, number> = {};
try {
  while (Date.now() < endAt) {
    await sleep(Math.max(0, Math.min(1000, endAt - Date.now())));
    if (Date.now() < nextFaultAt || endAt - Date.now() < 20_000) continue;
    const kind = faults[n % faults.length]!;
    const st = readStatus(raw.runDir).services.filter((s) => s.alive && s.pid);
    if (kind === 'influxd_stall') {
      const p = store === 'influx' ? influxdPid() : undefined;
      if (p) {
        log(`fault: influxd (pid ${p}) SIGSTOP for ${stallMs / 1000} s`);
        process.kill(p, 'SIGSTOP');
        await sleep(stallMs);
        process.kill(p, 'SIGCONT');
        injected[kind] = (injected[kind] ?? 0) + 1;
      }
    } else {
      const want = kind === 'publisher_kill' ? 'publisher' : 'subscriber';
      const of = st.filter((s) => s.kind === want);
      const victim = of[Math.floor(n / faults.length) % Math.max(1, of.length)];
      if (victim?.pid) {
        log(`fault: SIGKILL ${victim.name} (pid ${victim.pid})`);
        process.kill(victim.pid, 'SIGKILL');
        injected[kind] = (injected[kind] ?? 0) + 1;
      }
    }
    n++;
    nextFaultAt = Date.now() + faultEveryS * 1000;
  }
  clearInterval(sampler);

  // Stop the publishers (clean: their session files get the final seq), let the subscribers drain.
  log('stopping publishers, draining subscribers');
  const pubNames = raw.publishers.map((p: { name: string }) => p.name);
  const ps = nbpy(['services', 'stop', ...pubNames, '--config', configPath]);
  if (ps.code !== 0) log(`services stop: ${ps.out.trim()}`);
  for (const sc of raw.subscribers)
    await waitFor(
      `${sc.name} drained`,
      async () => {
        // Up (a subscriber killed just before the stop may still be restarting), written out, and
        // nothing held behind a hole (a hole the stopped publishers can no longer fill becomes a gap
        // record after recovery.holdTimeoutMs).
        const h = await getJson(sc.port, '/health');
        return h.ready && h.store_up && h.queue_depth === 0 && h.spool_bytes === 0 && (h.held_records ?? 0) === 0;
      },
      180_000,
    );
  await sleep(1500);
  // Stop the subscribers (SIGTERM: each writes everything it holds, then exits) before counting, so
  // what is still in a batch is not mistaken for loss; influxd (a backing service) keeps running.
  const subNames = raw.subscribers.map((sc: { name: string }) => sc.name);
  const ss = nbpy(['services', 'stop', ...subNames, '--config', configPath]);
  if (ss.code !== 0) log(`services stop (subscribers): ${ss.out.trim()}`);
  let counts = store === 'influx' ? await countInflux() : undefined;
  const stop = nbpy(['stop', '--config', configPath]);
  stopping = true;
  if (stop.code !== 0) log(`nbpy stop: ${stop.out.trim()}`);
  counts ??= await countEmbedded();
  witness.close();
  await witnessDone;

  // Published per session: what the witness saw, or the session file of the last session (clean stop).
  for (const name of pubNames) {
    try {
      const f = JSON.parse(readFileSync(join(raw.runDir, 'sessions', `${name}.json`), 'utf8'));
      const s = sessions.get(f.session);
      if (!s) sessions.set(f.session, { publisher: name, max: f.last_seq });
      else s.max = Math.max(s.max, f.last_seq);
    } catch {
      // no session file
    }
  }
  let published = 0;
  let stored = 0;
  let reported = 0;
  for (const [session, s] of sessions) {
    published += s.max;
    const got = Math.min(s.max, counts.stored.get(session) ?? 0);
    stored += got;
    const rep = counts.reported.get(session) ?? 0;
    reported += rep;
    if (got < s.max) log(`session ${session} of ${s.publisher}: published ${s.max}, stored ${got}, reported missing ${rep}`);
  }
  const lost = published - stored;

  const warm = warmUpMs(minutes);
  const win = Math.min(60_000, (minutes * 60_000) / 4);
  const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const endT = samples.length ? samples[samples.length - 1]!.t : 0;
  const first = avg(samples.filter((s) => s.t >= warm && s.t < warm + win).map((s) => s.mb));
  const last = avg(samples.filter((s) => s.t > endT - win).map((s) => s.mb));
  const maxRss = Math.max(0, ...samples.map((s) => s.mb));
  log(`faults injected: ${JSON.stringify(injected)}; sessions ${sessions.size}; reported missing (sequence gaps) ${reported}`);
  log(`rss samples (MB, all nbpy processes): ${samples.map((s) => Math.round(s.mb)).join(' ')}`);
  const tenth = (minutes * 60_000) / 10;
  log(
    `rss average per tenth of the run (MB; warm-up ends at ${(warm / 60_000).toFixed(1)} min): ${Array.from({ length: 10 }, (_, i) =>
      Math.round(avg(samples.filter((s) => s.t >= i * tenth && s.t < (i + 1) * tenth).map((s) => s.mb))),
    ).join(' ')}`,
  );
  log(
    `rss per process after warm-up, first->last (max) MB: ${[...perService]
      .map(([k, e]) => `${k} ${Math.round(e.first ?? 0)}->${Math.round(e.last)} (${Math.round(e.max)})`)
      .join(', ')}`,
  );
  // A loss keeps the evidence: every service's log and the run dir.
  if (lost !== 0) log(`lost ${lost}: logs and run files kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  console.log(
    `soak minutes=${minutes} published=${published} stored=${stored} lost=${lost} max_rss_mb=${Math.round(maxRss)} rss_growth_mb=${Math.round(last - first)}`,
  );
  process.exit(0);
} catch (e) {
  clearInterval(sampler);
  console.error(`soak failed: ${(e as Error).message}; logs kept in ${dir}`);
  cleanup();
  process.exit(1);
}
