/**
 * The tests' process helpers (test/support/cli.ts): a child that ends before the test asks is
 * reported at once with its code and everything it printed, not waited for until a timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { collect, reapOnExit, track, waitForOutput } from '../support/cli.js';

const node = (code: string) => reapOnExit(spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] }));

test('collect: a child that already exited resolves at once with its code, stdout and stderr', async () => {
  const child = node("process.stdout.write('out-early'); process.stderr.write('err-early'); process.exit(3)");
  track(child);
  await new Promise((r) => child.once('exit', r));
  await new Promise((r) => setTimeout(r, 200));
  const t0 = Date.now();
  const res = await collect(child, 30_000);
  assert.ok(Date.now() - t0 < 5000, 'not waited for until the timeout');
  assert.deepEqual(res, { code: 3, stdout: 'out-early', stderr: 'err-early' });
});

test('collect: a child first looked at after it exited resolves at once with its code', async () => {
  // Its output is gone: node resumes unread stdio at a child's exit and discards it (flushStdio),
  // which is why spawnNbpy tracks from the start.
  const child = node("process.stdout.write('late-look'); process.exit(4)");
  await new Promise((r) => child.once('exit', r));
  const t0 = Date.now();
  const res = await collect(child, 30_000);
  assert.ok(Date.now() - t0 < 5000, 'not waited for until the timeout');
  assert.equal(res.code, 4);
});

test('waitForOutput: sees output printed before it was called', async () => {
  const child = node("console.log('ready 1'); setTimeout(() => {}, 5000)");
  track(child);
  await new Promise((r) => setTimeout(r, 500));
  assert.match(await waitForOutput(child, /ready 1/, 10_000), /ready 1/);
  child.kill('SIGTERM');
  const res = await collect(child, 10_000);
  assert.equal(res.code, null);
});

test('waitForOutput: a child that ends without printing the pattern fails the wait at once, with its code and stderr', async () => {
  const child = node("console.log('starting'); console.error('boom: bad config'); process.exit(5)");
  track(child);
  const t0 = Date.now();
  await assert.rejects(
    waitForOutput(child, /ready/, 60_000),
    /the process ended \(code 5, signal none\) before printing \/ready\/; stderr: boom: bad config/,
  );
  assert.ok(Date.now() - t0 < 10_000, 'not waited for until the timeout');
});
