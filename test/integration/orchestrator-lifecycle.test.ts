/**
 * `nbpy start` / `status` / `stop` from separate shells, as a user runs them: a detached start that
 * validates, a SIGKILLed publisher restarted within 2 s with a gap record, a service crashing on
 * every start that is still retried and reported, and a stop that leaves nothing behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runNbpy } from '../support/cli.js';
import { testConfig } from '../support/config.js';
import { portFree } from '../../src/orchestrator/ports.js';
import { readStatus } from '../../src/supervisor/state.js';
import { waitFor } from '../support/stack.js';

interface Status {
  services: { name: string; kind: string; state: string; pid: number | null; restarts: number; uptime_s: number }[];
  backing: { name: string; state: string; url: string }[];
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function status(path: string): Promise<Status> {
  const r = await runNbpy(['status', '--json', '--config', path]);
  return JSON.parse(r.stdout) as Status;
}

async function getJson<T>(url: string): Promise<T | undefined> {
  try {
    return (await (await fetch(url, { signal: AbortSignal.timeout(2000) })).json()) as T;
  } catch {
    return undefined; // not listening yet
  }
}

test('start (detached, validated) -> kill -9 a publisher -> restarted with a gap -> stop from another shell', async () => {
  const tc = await testConfig((raw) => {
    (raw.console as Record<string, unknown>).enabled = false;
    for (const p of raw.publishers) (p.source as Record<string, unknown>).ratePerS = 20;
  });
  const start = await runNbpy(['start', '--json', '--config', tc.path], { timeoutMs: 120_000 });
  try {
    assert.equal(start.code, 0, `start failed: ${start.stdout}\n${start.stderr}`);
    const res = JSON.parse(start.stdout) as { ok: boolean; start_s: number };
    assert.equal(res.ok, true);
    console.log(`# cold start to validated: ${res.start_s} s`);

    const st = await status(tc.path);
    assert.equal(st.services.length, 10);
    for (const s of st.services) assert.ok(['ready', 'running'].includes(s.state) && s.pid && alive(s.pid), `${s.name} ${s.state}`);

    // kill -9 of a publisher: restarted within 2 s, restarts incremented.
    const victim = st.services.find((s) => s.name === 'oanda_tick')!;
    const killedAt = Date.now();
    process.kill(victim.pid!, 'SIGKILL');
    const back = await waitFor(
      'oanda_tick restarted',
      async () =>
        readStatus(tc.config.runDir).services.find(
          (s) => s.name === 'oanda_tick' && s.pid !== victim.pid && s.pid && s.restarts === 1 && s.alive,
        ),
      10_000,
    );
    const restartMs = Date.now() - killedAt;
    assert.ok(restartMs < 2000, `restarted after ${restartMs} ms`);
    console.log(`# SIGKILL to restarted (seen by nbpy status): ${restartMs} ms`);
    assert.ok(back.pid && alive(back.pid));
    // The restarted publisher starts a new session with a gap record for the lost one.
    const health = await waitFor(
      'restart gap published',
      async () => {
        const h = await getJson<{ gaps: number; session: string }>(
          `http://127.0.0.1:${tc.config.publishers.find((p) => p.name === 'oanda_tick')!.statusPort}/health`,
        );
        return h && h.gaps >= 1 ? h : undefined;
      },
      10_000,
    );
    assert.ok(health.session);
    // The subscriber of that topic received the gap (and stores it in the events measurement).
    const sub = tc.config.subscribers.find((s) => s.name === 'oanda_influxdb_tick')!;
    await waitFor(
      'subscriber saw the new session',
      async () => {
        const h = await getJson<{ sessions?: number }>(`http://127.0.0.1:${sub.port}/health`);
        return (h?.sessions ?? 0) >= 2 ? true : undefined;
      },
      10_000,
    );
  } finally {
    const pids = (await status(tc.path)).services.map((s) => s.pid).filter((p): p is number => !!p);
    const stop = await runNbpy(['stop', '--config', tc.path], { timeoutMs: 120_000 });
    assert.equal(stop.code, 0, stop.stderr);
    for (const pid of pids) assert.ok(!alive(pid), `pid ${pid} still alive after stop`);
    for (const p of tc.config.publishers) assert.ok(await portFree(p.port, '127.0.0.1'), `port ${p.port} free`);
    for (const s of tc.config.subscribers) assert.ok(await portFree(s.port, '127.0.0.1'), `port ${s.port} free`);
  }
});

test('a service that crashes on every start is still retried, slowly, and nbpy status says crash_loop', { timeout: 600_000 }, async () => {
  // A replay publisher whose recording disappears after a good start: from then on every start crashes.
  const recording = join(mkdtempSync(join(tmpdir(), 'nbpy-rec-')), 'oanda.jsonl');
  copyFileSync(join(repoRoot, '..', 'shared', 'fixtures', 'recorded', 'oanda', 'pricing_stream_eurjpy_eurusd_2016-10-27.jsonl'), recording);
  const tc = await testConfig((raw) => {
    (raw.console as Record<string, unknown>).enabled = false;
    raw.subscribers = [];
    raw.publishers = raw.publishers.filter((p) => p.name === 'oanda_tick');
    raw.publishers[0]!.source = { type: 'replay', file: recording, speed: 0 };
    raw.supervisor = {
      restartInitialDelayMs: 20,
      restartMaxDelayMs: 100,
      stableAfterMs: 30000,
      crashLoopCount: 5,
      crashLoopWindowMs: 60000,
    };
    raw.startup = { phases: [{ name: 'services', dependsOn: [], timeoutMs: 60000, retries: 0 }] };
  });
  const start = await runNbpy(['start', '--json', '--config', tc.path], { timeoutMs: 120_000 });
  try {
    assert.equal(start.code, 0, start.stdout + start.stderr);
    const first = readStatus(tc.config.runDir).services.find((s) => s.name === 'oanda_tick')!;
    unlinkSync(recording);
    process.kill(first.pid!, 'SIGKILL');
    // Each crash is a whole Node process start (about a second of CPU on a slow CI machine): past the
    // crash-loop count (5) is what matters, with a deadline for slow machines.
    const looping = await waitFor(
      '8 crashes in a row',
      async () => readStatus(tc.config.runDir).services.find((s) => s.name === 'oanda_tick' && s.restarts >= 8),
      240_000,
    );
    assert.ok(looping.crash_loop, 'reported as a crash loop');
    const st = await status(tc.path);
    const row = st.services.find((s) => s.name === 'oanda_tick')!;
    assert.equal(row.state, 'crash_loop');
    assert.ok(row.restarts >= 8);
    // Still being retried: the restart count keeps growing.
    await waitFor(
      'another retry',
      async () => (readStatus(tc.config.runDir).services.find((s) => s.name === 'oanda_tick')!.restarts > row.restarts ? true : undefined),
      60_000,
    );
    const human = await runNbpy(['status', '--config', tc.path]);
    assert.match(human.stdout, /oanda_tick\s+publisher\s+crash_loop/);
    assert.equal(human.code, 1, 'status exits 1 while a service is crash-looping');
  } finally {
    await runNbpy(['stop', '--config', tc.path], { timeoutMs: 60_000 });
  }
});
