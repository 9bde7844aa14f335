/**
 * The production path end to end on a real InfluxDB (issues 4, 6, 7): `nbpy start --foreground` with
 * the influxdb backend against a private influxd (provider `external`), all five publishers on their
 * simulators. After a 30 s run (every publisher restarted once in it, so the gap panels have
 * publisher_restart events to show) influxd is SIGSTOPped: `nbpy health check` fails on the store and shows
 * the spools growing, `nbpy validate` fails on storage only (the bus is clean). influxd resumes, the
 * spools drain, health is green again, `nbpy stop` exits 0; then every publisher session is in the
 * store exactly (1..last_seq, no gaps, no duplicates) and every dashboard query returns rows.
 */
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { collect, runNbpy, spawnNbpy, waitForOutput, type RunResult } from '../support/cli.js';
import { testConfig } from '../support/config.js';
import { startInfluxd } from '../support/influxd.js';
import { runDashboardQueries, type QueryOutcome } from '../support/grafana-queries.js';
import type { Stack } from '../support/stack.js';
import { buildDashboards } from '../../src/grafana/dashboards.js';
import { accountFor, assertNoLoss, describe as describeAccount, getJson, sessionFile, storeView, waitFor } from '../faults/harness.js';

interface HealthJson {
  status: string;
  checks: { name: string; status: string; detail: string }[];
}

interface ValidateJson {
  ok: boolean;
  topics: { topic: string; records: number; gaps: number; missing: number; flowing: boolean; note: string }[];
  storage: { measurement: string; fresh: boolean; note: string }[];
  probe: { ok: boolean; detail: string } | null;
  failures: string[];
}

/*
 * Every publisher is restarted (`nbpy services restart`) in the middle of the run: their
 * publisher_restart gap records fill the gap panels for any publisher a dashboard variable selects.
 */

/** Every (session, last_seq) a publisher logged at its clean stops, oldest first (JSON lines in its log). */
function stoppedSessions(logFile: string): { session: string; last_seq: number }[] {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"publisher stopped"'))
    .map((l) => JSON.parse(l) as { session: string; last_seq: number });
}

const UNITS: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** Bytes from a spool check detail ("spool holding 12.3 kB (...)"); 0 for "spool empty". */
function spoolBytesOf(detail: string): number {
  if (/spool empty/.test(detail)) return 0;
  const m = /spool (?:holding|growing: .* ->|nearly full:) ([\d.]+) (B|kB|MB|GB|TB)/.exec(detail);
  assert.ok(m, `no spool size in "${detail}"`);
  return Number(m[1]) * UNITS[m[2]!]!;
}

async function healthCheck(configPath: string): Promise<{ r: RunResult; j: HealthJson }> {
  const r = await runNbpy(['health', 'check', '--json', '--config', configPath], { timeoutMs: 120_000 });
  return { r, j: JSON.parse(r.stdout) as HealthJson };
}

const summary = (j: HealthJson, only?: (c: HealthJson['checks'][number]) => boolean) =>
  j.checks
    .filter(only ?? ((c) => c.status !== 'pass'))
    .map((c) => `${c.status} ${c.name}: ${c.detail}`)
    .join('\n#   ');

test(
  'the production path on InfluxDB: start, store outage seen by health and validate, drained, stopped, every seq stored, dashboards fill',
  { timeout: 900_000 },
  async () => {
    const influx = await startInfluxd({ startTimeoutMs: 60_000 });
    let influxPaused = false;
    try {
      const tc = await testConfig((raw) => {
        raw.storage = { backend: 'influxdb', embeddedFile: 'nbpy.duckdb' };
        const backing = raw.backing as { influxdb: Record<string, unknown> };
        backing.influxdb = { ...backing.influxdb, provider: 'external', url: influx.url };
        // Generous start deadlines: ten Node processes start at once, and CI is slower than a laptop.
        const startup = raw.startup as { phases: { name: string; timeoutMs: number }[] };
        for (const ph of startup.phases) ph.timeoutMs = Math.max(ph.timeoutMs, 120_000);
      });
      const cfg = tc.config;
      assert.equal(cfg.publishers.length, 5);
      const stack: Stack = {
        dir: tc.dir,
        configPath: tc.path,
        config: tc.raw,
        subscriberPort: (n) => cfg.subscribers.find((s) => s.name === n)!.port,
        publisherStatusPort: (n) => cfg.publishers.find((p) => p.name === n)!.statusPort,
      };
      const subscriberOf = (topic: string) => cfg.subscribers.find((s) => s.topics.some((t) => topic.startsWith(t)))!;

      // ------------------------------------------------------------ 1. start, wait for healthy
      const runStartMs = Date.now();
      const main = spawnNbpy(['start', '--foreground', '--config', tc.path]);
      const done = collect(main, 900_000);
      let mainResult: RunResult | undefined;
      try {
        await waitForOutput(main, /Running\./, 300_000).catch(async (e: Error) => {
          main.kill('SIGINT');
          const r = await done;
          throw new Error(`${e.message}\nstdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-2000)}`);
        });
        let lastHealth: HealthJson | undefined;
        const healthy = await waitFor(
          'health check healthy',
          async () => {
            const { r, j } = await healthCheck(tc.path);
            lastHealth = j;
            return r.code === 0 && j.status === 'healthy' && j;
          },
          240_000,
          500,
        ).catch((e: Error) => {
          throw new Error(`${e.message}; last: ${lastHealth ? summary(lastHealth) : 'none'}`);
        });
        console.log(`# start to healthy: ${((Date.now() - runStartMs) / 1000).toFixed(1)} s`);
        assert.ok(healthy.checks.some((c) => c.name === 'influxdb.ping' && c.status === 'pass'));

        // ------------------------------------------------------------ 2. the run (30 s), one publisher restarted in it
        const runFor = new Promise((r) => setTimeout(r, 30_000));
        await new Promise((r) => setTimeout(r, 10_000));
        const restart = await runNbpy(['services', 'restart', ...cfg.publishers.map((p) => p.name), '--config', tc.path], {
          timeoutMs: 120_000,
        });
        assert.equal(restart.code, 0, `nbpy services restart: ${restart.stdout} ${restart.stderr}`);
        await runFor;

        // ------------------------------------------------------------ 3. the store hangs
        influx.pause();
        influxPaused = true;
        const outageStartMs = Date.now();
        const spoolChecks = (j: HealthJson) =>
          Object.fromEntries(cfg.subscribers.map((s) => [s.name, j.checks.find((c) => c.name === `subscriber.${s.name}.spool`)]));
        const storeDown = (j: HealthJson) =>
          j.checks.some((c) => c.name === 'influxdb.ping' && c.status === 'fail' && /store down/.test(c.detail)) &&
          cfg.subscribers.every((s) =>
            j.checks.some((c) => c.name === `subscriber.${s.name}.store` && c.status === 'fail' && /store down/.test(c.detail)),
          );
        let lastBad: HealthJson | undefined;
        const first = await waitFor(
          'health reports the store down and every spool holding data',
          async () => {
            const { r, j } = await healthCheck(tc.path);
            lastBad = j;
            const spools = spoolChecks(j);
            return (
              r.code === 1 &&
              j.status === 'unhealthy' &&
              storeDown(j) &&
              Object.values(spools).every((c) => c && spoolBytesOf(c.detail) > 0) && { r, j }
            );
          },
          180_000,
          500,
        ).catch((e: Error) => {
          throw new Error(`${e.message}; last: ${lastBad ? summary(lastBad) : 'none'}`);
        });
        console.log(`# store down seen by health after ${((Date.now() - outageStartMs) / 1000).toFixed(1)} s:\n#   ${summary(first.j)}`);
        const firstBytes = Object.fromEntries(Object.entries(spoolChecks(first.j)).map(([k, c]) => [k, spoolBytesOf(c!.detail)]));
        const second = await waitFor(
          'a later health check shows every spool larger',
          async () => {
            const { r, j } = await healthCheck(tc.path);
            const spools = spoolChecks(j);
            return (
              r.code === 1 &&
              storeDown(j) &&
              Object.entries(spools).every(([k, c]) => c && spoolBytesOf(c.detail) > firstBytes[k]!) && { r, j }
            );
          },
          120_000,
          1000,
        );
        const secondBytes = Object.fromEntries(Object.entries(spoolChecks(second.j)).map(([k, c]) => [k, spoolBytesOf(c!.detail)]));
        console.log(`# spool bytes (health check details): first ${JSON.stringify(firstBytes)} then ${JSON.stringify(secondBytes)}`);
        assert.equal(second.r.code, 1);
        assert.equal(second.j.status, 'unhealthy');
        for (const s of cfg.subscribers) assert.ok(secondBytes[s.name]! > firstBytes[s.name]!, `${s.name} spool grows`);

        const v = await runNbpy(['validate', '--json', '--window', '5s', '--config', tc.path], { timeoutMs: 180_000 });
        const vj = JSON.parse(v.stdout) as ValidateJson;
        console.log(
          `# validate during the outage: exit ${v.code}; topics ${JSON.stringify(vj.topics.map((t) => [t.topic, t.records, t.gaps]))}` +
            `\n#   failures: ${vj.failures.join('\n#   ')}`,
        );
        assert.equal(v.code, 1, v.stdout);
        assert.equal(vj.ok, false);
        assert.deepEqual(vj.topics.map((t) => t.topic).sort(), cfg.publishers.map((p) => p.topic).sort());
        for (const t of vj.topics) {
          assert.ok(t.flowing && t.records > 0, `topic ${t.topic} flows on the bus: ${JSON.stringify(t)}`);
          assert.equal(t.gaps, 0, `topic ${t.topic} has no bus gaps: ${JSON.stringify(t)}`);
        }
        assert.ok(vj.failures.length > 0);
        const notStorage = vj.failures.filter((f) => !f.startsWith('storage ') && !f.startsWith('probe:'));
        assert.deepEqual(notStorage, [], 'validate fails on storage/probe only');
        assert.ok(
          vj.storage.some((s) => !s.fresh) || vj.probe?.ok === false,
          `storage or probe fails: ${JSON.stringify({ storage: vj.storage, probe: vj.probe })}`,
        );
        assert.match(v.stderr, /storage |probe/);

        // ------------------------------------------------------------ 4. the store is back
        influx.resume();
        influxPaused = false;
        const outageMs = Date.now() - outageStartMs;
        const resumedMs = Date.now();
        for (const s of cfg.subscribers)
          await waitFor(
            `${s.name} spool drained`,
            async () => {
              const h = await getJson(s.port, '/health');
              return h.store_up === true && h.spool_bytes === 0;
            },
            300_000,
            250,
          );
        console.log(
          `# outage ${(outageMs / 1000).toFixed(1)} s; spools drained ${((Date.now() - resumedMs) / 1000).toFixed(1)} s after resume`,
        );
        let lastAfter: HealthJson | undefined;
        let firstAfter: HealthJson | undefined;
        await waitFor(
          'health check healthy again',
          async () => {
            const { r, j } = await healthCheck(tc.path);
            lastAfter = j;
            firstAfter ??= j;
            return r.code === 0 && j.status === 'healthy';
          },
          240_000,
          500,
        ).catch((e: Error) => {
          throw new Error(`${e.message}; last: ${lastAfter ? summary(lastAfter) : 'none'}`);
        });
        console.log(
          `# healthy again ${((Date.now() - resumedMs) / 1000).toFixed(1)} s after resume; first check after the drain: ${firstAfter?.status}\n#   ${firstAfter ? summary(firstAfter) : ''}`,
        );

        // ------------------------------------------------------------ 5. stop
        const stop = await runNbpy(['stop', '--config', tc.path], { timeoutMs: 300_000 });
        assert.equal(stop.code, 0, `nbpy stop: ${stop.stdout} ${stop.stderr}`);
        mainResult = await done;
        assert.equal(mainResult.code, 0, mainResult.stderr.slice(-2000));
        assert.match(mainResult.stdout, /every process exited cleanly/);
      } finally {
        if (!mainResult) {
          if (influxPaused) influx.resume();
          main.kill('SIGINT');
          await done.catch(() => undefined);
        }
      }
      const runEndMs = Date.now();

      // ------------------------------------------------------------ 6. every published seq stored once
      for (const p of cfg.publishers) {
        const sf = sessionFile(stack, p.name);
        assert.equal(sf.clean_stop, true, `${p.name} session file says a clean stop`);
        const sub = subscriberOf(p.topic);
        const view = storeView(influx, stack, sub.name);
        // Every session the publisher ran (two for the restarted one), each stopped cleanly.
        const sessions = stoppedSessions(join(cfg.logging.dir, `${p.name}.log`));
        assert.equal(sessions.length, 2, `${p.name} sessions (restarted once): ${JSON.stringify(sessions)}`);
        assert.deepEqual(sessions.at(-1), { ...sessions.at(-1), session: sf.session, last_seq: sf.last_seq });
        let published = 0;
        for (const s of sessions) {
          const a = await accountFor(view, s.session, s.last_seq);
          console.log(`# ${p.topic} (${p.name} -> ${sub.name}) session ${s.session}: ${describeAccount(a)} duplicates=${a.duplicates}`);
          assertNoLoss(a);
          assert.equal(a.stored, s.last_seq);
          published += s.last_seq;
        }
        // Nothing else in this subscriber's measurements (no second session, no stray points).
        let total = 0;
        for (const m of view.measurements) {
          const res = await influx.query(`SELECT count(seq) FROM "${view.retentionPolicy}"."${m}"`, cfg.influxdb.database);
          total += (res.results?.[0]?.series?.[0]?.values?.[0]?.[1] as number | undefined) ?? 0;
        }
        const ev = await influx.query(
          `SELECT count(seq) FROM "${view.retentionPolicy}"."${view.eventsMeasurement}" WHERE "publisher" = '${p.name}'`,
          cfg.influxdb.database,
        );
        total += (ev.results?.[0]?.series?.[0]?.values?.[0]?.[1] as number | undefined) ?? 0;
        assert.equal(total, published, `${p.name}: points in the store (all sessions) = records published`);
      }

      // ------------------------------------------------------------ 7. every dashboard query fills
      const outcomes: QueryOutcome[] = [];
      for (const d of buildDashboards(cfg))
        outcomes.push(
          ...(await runDashboardQueries(influx.url, cfg.influxdb.database, d, {
            fromMs: runStartMs - 60_000,
            toMs: runEndMs + 60_000,
            intervalMs: 1000,
          })),
        );
      console.log(`# dashboard queries: ${outcomes.length} run over ${new Set(outcomes.map((o) => o.dashboard)).size} dashboards`);
      assert.ok(outcomes.length > 100, `ran ${outcomes.length} queries`);
      const errors = outcomes.filter((o) => o.error).map((o) => `${o.dashboard} ${o.what} [${o.selection}]: ${o.error}\n  ${o.query}`);
      assert.deepEqual(errors, []);
      const empty = outcomes.filter((o) => o.rows === 0).map((o) => `${o.dashboard} ${o.what} [${o.selection}]\n  ${o.query}`);
      assert.deepEqual(empty, [], 'every query returns rows');
      assert.ok(
        outcomes.some((o) => o.what.includes('Publisher restarts') && o.rows > 0),
        'the restart shows in the pipeline dashboard',
      );
    } finally {
      await influx.stop();
    }
  },
);
