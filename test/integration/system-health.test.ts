/**
 * The main job and the health/validation verbs on the real system (simulated venues, embedded store,
 * console): `nbpy start --foreground` serves the console with records; `nbpy health check` and
 * `nbpy validate` are green; a SIGSTOPped publisher turns both red naming its topic; SIGCONT brings
 * them back; every service's /metrics has its counters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collect, runNbpy, spawnNbpy, waitForOutput } from '../support/cli.js';
import { testConfig } from '../support/config.js';
import { readStatus } from '../../src/supervisor/state.js';
import { waitFor } from '../support/stack.js';

test(
  'the offline main job: console with live records, health and validate green, a stopped publisher named, then recovered',
  { timeout: 600_000 },
  async () => {
    const tc = await testConfig();
    const t0 = Date.now();
    const main = spawnNbpy(['start', '--foreground', '--config', tc.path]);
    const done = collect(main, 600_000);
    try {
      const out = await waitForOutput(main, /console\s+(http:\/\/\S+)/, 180_000);
      const url = /console\s+(http:\/\/\S+)/.exec(out)![1]!;
      const state = await waitFor(
        'the console shows records on every topic',
        async () => {
          const s = (await (await fetch(new URL('/api/state', url))).json()) as { topics: { topic: string; records: number }[] };
          return s.topics.length === 5 && s.topics.every((t) => t.records > 0) ? s : undefined;
        },
        60_000,
      );
      console.log(`# start to console records on every topic: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      assert.equal(state.topics.length, 5);

      for (const p of tc.config.publishers) {
        const m = await (await fetch(`http://127.0.0.1:${p.statusPort}/metrics`)).text();
        for (const c of ['nbpy_records_out_total', 'nbpy_parse_errors_total', 'nbpy_gaps_total', 'nbpy_reconnects_total'])
          assert.match(m, new RegExp(`^${c}`, 'm'), `${p.name} ${c}`);
      }
      for (const s of tc.config.subscribers) {
        const m = await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text();
        for (const c of ['nbpy_records_in_total', 'nbpy_points_written_total', 'nbpy_queue_depth', 'nbpy_spool_bytes', 'nbpy_lag_ms'])
          assert.match(m, new RegExp(`^${c}`, 'm'), `${s.name} ${c}`);
      }

      const health = await waitFor(
        'health check healthy',
        async () => {
          const r = await runNbpy(['health', 'check', '--json', '--config', tc.path], { timeoutMs: 60_000 });
          const j = JSON.parse(r.stdout) as { status: string; checks: { name: string; status: string; detail: string }[] };
          return r.code === 0 && j.status === 'healthy' ? j : undefined;
        },
        90_000,
      );
      assert.equal(health.status, 'healthy');
      const ok = await runNbpy(['validate', '--json', '--window', '5s', '--config', tc.path], { timeoutMs: 90_000 });
      const okReport = JSON.parse(ok.stdout) as { ok: boolean; topics: { topic: string; gaps: number }[]; probe: { ok: boolean } };
      assert.equal(ok.code, 0, ok.stdout);
      assert.equal(okReport.ok, true);
      assert.ok(okReport.topics.every((t) => t.gaps === 0));
      assert.equal(okReport.probe.ok, true);

      // SIGSTOP one publisher: health goes unhealthy naming it, validate names its topic.
      const victim = readStatus(tc.config.runDir).services.find((s) => s.name === 'kraken_orders')!;
      process.kill(victim.pid!, 'SIGSTOP');
      try {
        const bad = await waitFor(
          'health reports kraken.trade stale',
          async () => {
            const r = await runNbpy(['health', 'check', '--json', '--config', tc.path], { timeoutMs: 60_000 });
            const j = JSON.parse(r.stdout) as { status: string; checks: { name: string; status: string }[] };
            return r.code === 1 &&
              j.checks.some((c) => c.status === 'fail' && (c.name.includes('kraken.trade') || c.name.includes('kraken_orders')))
              ? j
              : undefined;
          },
          90_000,
        );
        assert.notEqual(bad.status, 'healthy');
        const v = await runNbpy(['validate', '--json', '--window', '5s', '--config', tc.path], { timeoutMs: 90_000 });
        assert.equal(v.code, 1);
        assert.match(v.stdout, /kraken\.trade/);
        const vj = JSON.parse(v.stdout) as { topics: { topic: string; records: number }[] };
        assert.equal(vj.topics.find((t) => t.topic === 'kraken.trade')!.records, 0);
      } finally {
        process.kill(victim.pid!, 'SIGCONT');
      }
      let notYet = '';
      await waitFor(
        'healthy again after SIGCONT',
        async () => {
          const r = await runNbpy(['health', 'check', '--json', '--config', tc.path], { timeoutMs: 60_000 });
          if (r.code === 0) return true;
          const j = JSON.parse(r.stdout) as { checks: { name: string; status: string; detail: string }[] };
          notYet = JSON.stringify(j.checks.filter((c) => c.status !== 'pass'));
          return undefined;
        },
        120_000,
      ).catch((e: Error) => {
        throw new Error(`${e.message}; checks not passing at the last try: ${notYet}`);
      });
    } finally {
      main.kill('SIGINT');
      const res = await done;
      assert.equal(res.code, 0, res.stderr.slice(-1000));
      assert.match(res.stdout, /every process exited cleanly/);
    }
  },
);
