// Detached start, then status and stop from "another shell": a separate supervisor process runs the
// ServiceManager; the test only has the run directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { stopFromOtherShell, type ServiceSpec } from '../../src/supervisor/manager.js';
import { isProcessAlive, readStatus } from '../../src/supervisor/state.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const procs = join(repoRoot, 'test', 'fixtures', 'procs');

const services = (): ServiceSpec[] => [
  { name: 'ready', kind: 'publisher', command: process.execPath, args: [join(procs, 'ready.mjs')], readyTimeoutMs: 20_000 },
  {
    name: 'hang',
    kind: 'subscriber',
    command: process.execPath,
    args: [join(procs, 'hang.mjs')],
    readyTimeoutMs: 20_000,
    stopTimeoutMs: 300,
  },
];

/** Start the fixture supervisor detached (own session, like `nbpy start --detach`); resolve once it says started. */
async function startSupervisor(t: { after(fn: () => void): void }): Promise<{ runDir: string; proc: ChildProcess }> {
  const root = mkdtempSync(join(tmpdir(), 'nbpy-shell-'));
  const runDir = join(root, 'run');
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', join(procs, 'manager.ts'), JSON.stringify({ runDir, logDir: join(root, 'logs'), services: services() })],
    { cwd: repoRoot, detached: true, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => {
    // Safety net only: the tests assert everything is already gone.
    for (const s of readStatus(runDir).services) if (s.alive && s.pid) process.kill(-s.pid, 'SIGKILL');
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('supervisor did not start within 60 s')), 60_000);
    createInterface({ input: proc.stdout! }).once('line', (l) => {
      clearTimeout(timer);
      resolve(l);
    });
    proc.once('exit', (code) => reject(new Error(`supervisor exited with ${code}`)));
  });
  assert.deepEqual(JSON.parse(line), { started: true, pid: proc.pid });
  return { runDir, proc };
}

test('status and stop from another shell: the supervisor stops every service and exits', async (t) => {
  const { runDir, proc } = await startSupervisor(t);
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const before = readStatus(runDir);
  assert.equal(before.supervisor?.pid, proc.pid);
  assert.deepEqual(
    before.services.map((s) => [s.name, s.state, s.alive]),
    [
      ['hang', 'ready', true],
      ['ready', 'ready', true],
    ],
  );
  const pids = before.services.map((s) => ({ pid: s.pid as number, start: s.pid_start }));

  const report = await stopFromOtherShell(runDir, { timeoutMs: 20_000 });
  assert.equal(report.supervisorPid, proc.pid);
  assert.deepEqual(report.signalled, [], 'the supervisor stopped its services itself');
  assert.equal(await exited, 0);
  assert.ok(
    pids.every((p) => !isProcessAlive(p.pid, p.start)),
    'every service process is gone',
  );
  const after = readStatus(runDir);
  assert.equal(after.supervisor, null);
  assert.deepEqual(
    after.services.map((s) => [s.name, s.state, s.pid]),
    [
      ['hang', 'stopped', null],
      ['ready', 'stopped', null],
    ],
  );
  assert.equal(after.services.find((s) => s.name === 'hang')?.last_exit?.signal, 'SIGKILL');
});

test('supervisor gone (SIGKILLed): stop from another shell stops the orphaned services by PID file', async (t) => {
  const { runDir, proc } = await startSupervisor(t);
  const pids = readStatus(runDir).services.map((s) => ({ name: s.name, pid: s.pid as number, start: s.pid_start }));
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await exited;
  // The detached services outlive their supervisor.
  assert.ok(pids.every((p) => isProcessAlive(p.pid, p.start)));
  const orphaned = readStatus(runDir);
  assert.equal(orphaned.supervisor, null);
  assert.ok(orphaned.services.every((s) => s.alive));

  const report = await stopFromOtherShell(runDir, { timeoutMs: 20_000 });
  assert.equal(report.supervisorPid, null);
  assert.deepEqual(report.signalled.map((s) => s.name).sort(), ['hang', 'ready']);
  assert.deepEqual(
    report.killed,
    pids.filter((p) => p.name === 'hang').map((p) => p.pid),
    'only the SIGTERM-ignoring service needed SIGKILL',
  );
  assert.ok(
    pids.every((p) => !isProcessAlive(p.pid, p.start)),
    'every service process is gone',
  );
  const after = readStatus(runDir);
  assert.ok(after.services.every((s) => s.state === 'stopped' && !s.alive));
});

test('stop from another shell with nothing running is a no-op', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'nbpy-shell-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  assert.deepEqual(await stopFromOtherShell(join(root, 'run')), { supervisorPid: null, signalled: [], killed: [] });
});
