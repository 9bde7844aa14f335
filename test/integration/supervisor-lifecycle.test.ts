// Lifecycle of supervised processes: restart after SIGKILL, crash loop, stop with SIGKILL escalation,
// readiness timeout, output capture caps. Uses the tiny fixture processes in test/fixtures/procs/.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceManager, type ManagerEvent, type ServiceSpec } from '../../src/supervisor/manager.js';
import { isProcessAlive, readStatus, RunDir } from '../../src/supervisor/state.js';
import { logDirBytes } from '../../src/logging/rotating-file.js';
import { NbpyError } from '../../src/core/errors.js';
import { waitFor } from '../support/wait.js';

const procs = fileURLToPath(new URL('../fixtures/procs/', import.meta.url));
const fixture = (name: string, extra: Partial<ServiceSpec> = {}): ServiceSpec => ({
  name: name.replace(/[^a-z]/g, '_').replace(/_mjs$/, ''),
  kind: 'publisher',
  command: process.execPath,
  args: [join(procs, name)],
  readyTimeoutMs: 20_000,
  stopTimeoutMs: 5_000,
  ...extra,
});

// One root for the file, removed after every test (and its after-hooks that stop managers) has run.
const root = mkdtempSync(join(tmpdir(), 'nbpy-sup-'));
after(() => rmSync(root, { recursive: true, force: true }));

function dirs(_t: unknown) {
  const dir = mkdtempSync(join(root, 't-'));
  return { runDir: join(dir, 'run'), logDir: join(dir, 'logs') };
}

/** Resolve on the first event matching `pred`; reject after `ms`. */
function nextEvent(m: ServiceManager, pred: (e: ManagerEvent) => boolean, ms: number, what: string): Promise<ManagerEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      m.off('event', on);
      reject(new Error(`no ${what} within ${ms} ms`));
    }, ms);
    const on = (e: ManagerEvent) => {
      if (!pred(e)) return;
      clearTimeout(timer);
      m.off('event', on);
      resolve(e);
    };
    m.on('event', on);
  });
}

test('SIGKILL of a ready child: restarted within 2 s, restarts incremented, state file updated', async (t) => {
  const { runDir, logDir } = dirs(t);
  const m = new ServiceManager([fixture('ready.mjs')], { runDir, logDir });
  t.after(() => m.stop({ phaseTimeoutMs: 1000 }));
  await m.start();
  const before = m.status()[0];
  assert.equal(before?.state, 'ready');
  assert.equal(before?.restarts, 0);
  const pid1 = before?.pid as number;
  assert.ok(isProcessAlive(pid1, before?.pid_start));

  const started = nextEvent(m, (e) => e.type === 'started', 2_000, 'restart');
  const readyAgain = nextEvent(m, (e) => e.type === 'ready', 20_000, 'ready after restart');
  process.kill(pid1, 'SIGKILL');
  const e = await started;
  assert.equal(e.type === 'started' && e.restarts, 1);
  await readyAgain;
  const after = m.status()[0];
  assert.equal(after?.restarts, 1);
  assert.notEqual(after?.pid, pid1);
  assert.equal(after?.last_exit?.signal, 'SIGKILL');
  assert.ok(!isProcessAlive(pid1, before?.pid_start));
  const onDisk = new RunDir(runDir).readService('ready');
  assert.equal(onDisk?.state, 'ready');
  assert.equal(onDisk?.restarts, 1);
  assert.equal(onDisk?.pid, after?.pid);
  assert.equal(readFileSync(join(runDir, 'ready.pid'), 'utf8').trim(), String(after?.pid));
  assert.ok((after?.uptime_pct ?? 0) > 0 && (after?.uptime_pct ?? 100) < 100);
});

test('a child crashing on start 20 times in a row is still retried and is in crash_loop', async (t) => {
  const { runDir, logDir } = dirs(t);
  const m = new ServiceManager([fixture('crash.mjs')], {
    runDir,
    logDir,
    restart: { initialDelayMs: 5, maxDelayMs: 20, crashLoopCount: 5, crashLoopWindowMs: 60_000 },
  });
  const startResult = m.start().then(
    () => null,
    (err: unknown) => err,
  );
  const crashLoopEvent = nextEvent(m, (e) => e.type === 'crash_loop', 60_000, 'crash_loop event');
  const twentieth = await nextEvent(m, (e) => e.type === 'restarting' && e.restarts === 19, 120_000, '20th crash');
  assert.equal(twentieth.type === 'restarting' && twentieth.crashLoop, true);
  const s = m.status()[0];
  assert.equal(s?.state, 'crash_loop');
  assert.equal(s?.crash_loop, true);
  assert.equal(s?.last_exit?.code, 1);
  assert.equal(new RunDir(runDir).readService('crash')?.state, 'crash_loop');
  await crashLoopEvent;
  // Never abandoned: a 21st start follows.
  await nextEvent(m, (e) => e.type === 'started' && e.restarts === 20, 20_000, '21st start');
  await m.stop();
  assert.equal(m.status()[0]?.state, 'stopped');
  const err = await startResult;
  assert.ok(err instanceof NbpyError && err.code === 'E_SERVICE_STOPPED', String(err));
  // The captured stderr of the crashes is in the service's log.
  assert.match(readFileSync(join(logDir, 'crash.log'), 'utf8'), /crash fixture pid \d+: giving up/);
});

test('stop in order: a child ignoring SIGTERM is SIGKILLed after the timeout; no process remains', async (t) => {
  const { runDir, logDir } = dirs(t);
  const m = new ServiceManager([fixture('ready.mjs'), fixture('hang.mjs', { stopTimeoutMs: 300 })], { runDir, logDir });
  await m.start(['ready', 'hang']);
  const pids = m.status().map((s) => ({ pid: s.pid as number, start: s.pid_start }));
  assert.equal(pids.length, 2);
  assert.ok(pids.every((p) => isProcessAlive(p.pid, p.start)));
  assert.ok(new RunDir(runDir).liveSupervisor()?.pid === process.pid);
  const exits: ManagerEvent[] = [];
  m.on('exited', (e) => exits.push(e));
  await m.stop();
  assert.deepEqual(
    exits.map((e) => e.type === 'exited' && [e.name, e.signal, e.deliberate]),
    [
      ['hang', 'SIGKILL', true],
      ['ready', null, true],
    ],
  );
  assert.ok(pids.every((p) => !isProcessAlive(p.pid, p.start)));
  assert.deepEqual(
    m.status().map((s) => [s.name, s.state, s.restarts]),
    [
      ['ready', 'stopped', 0],
      ['hang', 'stopped', 0],
    ],
  );
  const st = readStatus(runDir);
  assert.equal(st.supervisor, null, 'lock released');
  assert.ok(st.services.every((s) => s.state === 'stopped' && s.pid === null && !s.alive));
  assert.match(readFileSync(join(logDir, 'hang.log'), 'utf8'), /ignoring SIGTERM/);
});

test('a child that never becomes ready fails the start gate, is retried, and the next phase is not started', async (t) => {
  const { runDir, logDir } = dirs(t);
  const m = new ServiceManager([fixture('never-ready.mjs', { name: 'never', readyTimeoutMs: 400 }), fixture('ready.mjs')], {
    runDir,
    logDir,
    restart: { initialDelayMs: 10, maxDelayMs: 50 },
  });
  const restarting = nextEvent(m, (e) => e.type === 'restarting' && e.name === 'never', 20_000, 'restart of never');
  await assert.rejects(
    m.start(),
    (err: unknown) => err instanceof NbpyError && err.code === 'E_SERVICE_NOT_READY' && /never/.test(err.message),
  );
  await restarting;
  assert.match(m.status()[0]?.last_error ?? '', /readiness/);
  assert.equal(m.status()[1]?.state, 'stopped', 'the next phase never started');
  await m.stop({ phaseTimeoutMs: 1000 });
  assert.ok(m.status().every((s) => s.state === 'stopped' && s.pid === null));
});

test('captured stdout/stderr stay within the log caps when a child writes 10x the cap', async (t) => {
  const { runDir, logDir } = dirs(t);
  const cap = 50_000;
  const m = new ServiceManager([fixture('chatty.mjs', { env: { CHATTY_BYTES: String(cap * 10) } })], {
    runDir,
    logDir,
    logging: { maxFileBytes: 20_000, maxFiles: 3, maxTotalBytes: cap },
  });
  t.after(() => m.stop({ phaseTimeoutMs: 1000 }));
  await m.start();
  // One pipe, so its last line is the last thing written to the active file.
  await waitFor('all output captured', () => readFileSync(join(logDir, 'chatty.log'), 'utf8').endsWith('chatty done\n'), 20_000, 20);
  assert.ok(logDirBytes(logDir) <= cap, `log dir holds ${logDirBytes(logDir)} bytes, cap ${cap}`);
  assert.ok(logDirBytes(logDir) >= 20_000);
});
