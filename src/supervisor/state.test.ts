import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbpyError } from '../core/errors.js';
import { RunDir, isProcessAlive, processStartTicks, readStatus, uptimePercent, type ServiceStateFile } from './state.js';

const tmp = (t: { after(fn: () => void): void }) => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

const svc = (over: Partial<ServiceStateFile> = {}): ServiceStateFile => ({
  name: 'kraken_tick',
  kind: 'publisher',
  pid: null,
  pid_start: null,
  state: 'stopped',
  crash_loop: false,
  restarts: 0,
  started_at: null,
  last_exit: null,
  last_error: null,
  uptime_ms: 0,
  downtime_ms: 0,
  up_since_ms: null,
  down_since_ms: null,
  stop_timeout_ms: 10_000,
  log_file: null,
  supervisor_pid: 1,
  updated_at: new Date(0).toISOString(),
  ...over,
});

test('uptime percentage counts closed and open intervals', () => {
  assert.equal(uptimePercent(svc(), 1000), null);
  assert.equal(uptimePercent(svc({ uptime_ms: 900, downtime_ms: 100 }), 0), 90);
  assert.equal(uptimePercent(svc({ uptime_ms: 0, downtime_ms: 100, up_since_ms: 1000 }), 1300), 75);
  assert.equal(uptimePercent(svc({ uptime_ms: 300, down_since_ms: 1000 }), 1100), 75);
});

test('liveness: this process is alive with its start time; a wrong start time means pid reuse', () => {
  const ticks = processStartTicks(process.pid);
  assert.ok(isProcessAlive(process.pid, ticks));
  if (ticks !== null) assert.equal(isProcessAlive(process.pid, String(Number(ticks) + 1)), false);
  assert.equal(isProcessAlive(null), false);
  assert.equal(isProcessAlive(2 ** 22 + 12345), false);
});

test('service state and PID files are written atomically and removed with the pid', (t) => {
  const rd = new RunDir(join(tmp(t), 'run'));
  rd.writeService(svc({ pid: 4242, state: 'ready' }));
  assert.equal(readFileSync(rd.pidPath('kraken_tick'), 'utf8'), '4242\n');
  assert.equal(rd.readService('kraken_tick')?.state, 'ready');
  rd.writeService(svc({ pid: null, state: 'stopped' }));
  assert.equal(existsSync(rd.pidPath('kraken_tick')), false);
  assert.deepEqual(readdirSync(rd.dir).sort(), ['kraken_tick.json'], 'no temp files left behind');
  assert.deepEqual(
    rd.listServices().map((s) => s.name),
    ['kraken_tick'],
  );
});

test('the supervisor lock: held by a live process is an error; a dead owner is taken over', (t) => {
  const dir = join(tmp(t), 'run');
  const rd = new RunDir(dir);
  const lock = rd.acquireLock(['a']);
  assert.equal(lock.pid, process.pid);
  assert.equal(readFileSync(join(dir, 'supervisor.pid'), 'utf8'), `${process.pid}\n`);
  assert.equal(rd.liveSupervisor()?.pid, process.pid);
  // Someone else (pid 1 is always alive) holds it.
  writeFileSync(join(dir, 'supervisor.lock'), JSON.stringify({ ...lock, pid: 1, pid_start: processStartTicks(1) }));
  assert.throws(
    () => rd.acquireLock(['a']),
    (e: unknown) => e instanceof NbpyError && e.code === 'E_SUPERVISOR_RUNNING' && /pid 1\b/.test(e.message),
  );
  // A dead owner's lock is stale.
  writeFileSync(join(dir, 'supervisor.lock'), JSON.stringify({ ...lock, pid: 2 ** 22 + 12345 }));
  assert.equal(rd.liveSupervisor(), null);
  assert.equal(rd.acquireLock(['a']).pid, process.pid);
  rd.releaseLock();
  assert.equal(rd.readLock(), null);
});

test('status: a service recorded as up whose process is gone, with no supervisor, is failed', (t) => {
  const dir = join(tmp(t), 'run');
  const rd = new RunDir(dir);
  rd.writeService(svc({ name: 'gone', pid: 2 ** 22 + 12345, state: 'ready', up_since_ms: 0 }));
  rd.writeService(svc({ name: 'idle', state: 'stopped' }));
  const st = readStatus(dir, 1000);
  assert.equal(st.supervisor, null);
  const byName = Object.fromEntries(st.services.map((s) => [s.name, s]));
  assert.equal(byName.gone?.state, 'failed');
  assert.equal(byName.gone?.alive, false);
  assert.match(byName.gone?.last_error ?? '', /no supervisor/);
  assert.equal(byName.idle?.state, 'stopped');
});
