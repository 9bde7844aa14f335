/**
 * SIGKILL of the service manager itself: `nbpy start` (detached) with one publisher and its subscriber
 * against a real influxd, kill -9 of the supervisor under load (its children keep running), then
 * `nbpy stop` from another shell must still stop every service it left (from the run directory's PID
 * files), cleanly: the publisher's session ends with clean_stop and nothing it published is lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { runNbpy } from '../support/cli.js';
import { testConfig } from '../support/config.js';
import { readStatus } from '../../src/supervisor/state.js';
import {
  accountFor,
  assertNoLoss,
  describe,
  health,
  processAlive,
  sessionFile,
  storeView,
  useInfluxd,
  waitFor,
  waitWritten,
} from './harness.js';

const influx = useInfluxd();

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('supervisor SIGKILLed under load: services keep running, `nbpy stop` still stops them all, lost 0', async () => {
  const tc = await testConfig((raw) => {
    raw.publishers = raw.publishers.filter((p) => p.name === 'kraken_tick');
    raw.subscribers = raw.subscribers.filter((s) => s.name === 'kraken_influxdb_tick');
    (raw.publishers[0]!.source as Record<string, unknown>).ratePerS = 1500;
    raw.console.enabled = false;
    const backing = raw.backing as { influxdb: Record<string, unknown> };
    backing.influxdb.provider = 'external';
    backing.influxdb.url = influx().url;
    (raw.influxdb as Record<string, unknown>).database = 'f_supervisor';
    raw.storage = { backend: 'influxdb', embeddedFile: 'nbpy.duckdb' };
    (raw.shutdown as Record<string, unknown>).phaseTimeoutMs = 15_000;
  });
  let pids: number[] = [];
  try {
    const start = await runNbpy(['start', '--json', '--config', tc.path], { timeoutMs: 180_000 });
    assert.equal(start.code, 0, `start failed: ${start.stdout}\n${start.stderr}`);
    const st0 = readStatus(tc.config.runDir);
    assert.ok(st0.supervisor, 'a detached supervisor holds the run directory');
    pids = st0.services.map((s) => s.pid!).filter(Boolean);
    assert.equal(pids.length, 2);
    const subPort = tc.config.subscribers[0]!.port;
    await waitWritten(subPort, 2000);

    process.kill(st0.supervisor.pid, 'SIGKILL');
    await waitFor('supervisor gone', () => !alive(st0.supervisor!.pid), 30_000);
    for (const pid of pids) assert.ok(alive(pid), `service ${pid} survives its supervisor`);
    const w0 = (await health(subPort)).points_written;
    await waitWritten(subPort, w0 + 2000, 'still flowing without a supervisor');

    const stop = await runNbpy(['stop', '--config', tc.path], { timeoutMs: 120_000 });
    assert.equal(stop.code, 0, `stop: ${stop.stdout}\n${stop.stderr}`);
    // `nbpy stop` returns once they exited; an orphan may stay a zombie until init reaps it.
    await waitFor('services gone', () => pids.every((p) => !processAlive(p)), 30_000);
    assert.equal(readStatus(tc.config.runDir).supervisor, null);

    const f = sessionFile({ config: tc.raw } as never, 'kraken_tick');
    assert.equal(f.clean_stop, true, 'the publisher was stopped cleanly (SIGTERM), not killed');
    const v = storeView(influx(), { config: tc.raw } as never, 'kraken_influxdb_tick');
    const acc = await accountFor(v, f.session, f.last_seq);
    console.log(`# supervisor SIGKILL then nbpy stop: ${describe(acc)}`);
    // With its supervisor gone, `nbpy stop` stops the services from their PID files in the
    // supervisor's order (publishers, then subscribers), and a stopping subscriber reads until its
    // publisher is caught up: nothing lost, beyond the silent head of a session first seen mid-stream.
    const head = assertNoLoss(acc, { firstSession: true });
    console.log(`# supervisor SIGKILL then nbpy stop: silent head ${head}`);
  } finally {
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await runNbpy(['stop', '--config', tc.path], { timeoutMs: 60_000 }).catch(() => undefined);
    rmSync(tc.dir, { recursive: true, force: true });
  }
});
