import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RestartPolicy } from './policy.js';

const noJitter = () => 0;

test('backoff doubles from 250 ms and is capped at 30 s', () => {
  const p = new RestartPolicy({ crashLoopCount: 1000 }, noJitter);
  const delays: number[] = [];
  let t = 0;
  for (let i = 0; i < 10; i++) {
    p.onStart(t);
    t += 10;
    const d = p.onExit(t, false);
    assert.equal(d.action, 'restart');
    if (d.action === 'restart') delays.push(d.delayMs);
    t += 1;
  }
  assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test('jitter only shortens the delay, within the jitter fraction', () => {
  const p = new RestartPolicy({ jitter: 0.5, crashLoopCount: 1000 }, () => 1);
  p.onStart(0);
  const d = p.onExit(1, false);
  assert.deepEqual(d, { action: 'restart', delayMs: 125, attempt: 1, crashLoop: false });
});

test('a stable run resets the backoff', () => {
  const p = new RestartPolicy({ stableAfterMs: 30_000, crashLoopCount: 1000 }, noJitter);
  let t = 0;
  for (let i = 0; i < 4; i++) {
    p.onStart(t);
    p.onExit((t += 5), false);
  }
  p.onStart(t);
  assert.equal(p.observe(t + 1000), 'backoff');
  assert.equal(p.observe(t + 30_000), 'ok');
  const d = p.onExit(t + 40_000, false);
  assert.equal(d.action === 'restart' && d.delayMs, 250);
});

test('crash loop: N crashes in the window, still retried at the cap, never abandoned', () => {
  const p = new RestartPolicy({ crashLoopCount: 5, crashLoopWindowMs: 60_000, maxDelayMs: 30_000 }, noJitter);
  let t = 0;
  const decisions = [];
  for (let i = 0; i < 200; i++) {
    p.onStart(t);
    const d = p.onExit((t += 100), false);
    decisions.push(d);
    if (d.action === 'restart') t += d.delayMs;
  }
  assert.ok(decisions.every((d) => d.action === 'restart'));
  assert.equal(decisions[3]?.action === 'restart' && decisions[3].crashLoop, false);
  assert.equal(decisions[4]?.action === 'restart' && decisions[4].crashLoop, true);
  // At the 30 s cap only 2 crashes fit the 60 s window; the state must stick instead of flapping.
  assert.ok(decisions.slice(4).every((d) => d.action === 'restart' && d.crashLoop && d.delayMs === 30_000));
  assert.equal(p.observe(t), 'crash_loop');
});

test('crash loop ends only after a stable run', () => {
  const p = new RestartPolicy(
    { crashLoopCount: 3, crashLoopWindowMs: 1000, maxDelayMs: 100, initialDelayMs: 10, stableAfterMs: 2000 },
    noJitter,
  );
  let t = 0;
  for (let i = 0; i < 3; i++) {
    p.onStart(t);
    p.onExit((t += 1), false);
  }
  assert.equal(p.observe(t), 'crash_loop');
  p.onStart((t += 5000));
  const still = p.onExit((t += 1), false);
  assert.equal(still.action === 'restart' && still.crashLoop, true);
  p.onStart(t);
  const after = p.onExit((t += 2500), false);
  assert.deepEqual(after, { action: 'restart', delayMs: 10, attempt: 1, crashLoop: false });
});

test('a deliberate stop stays down and clears the backoff', () => {
  const p = new RestartPolicy({}, noJitter);
  p.onStart(0);
  p.onExit(1, false);
  p.onStart(300);
  assert.deepEqual(p.onExit(301, true), { action: 'stay_down', reason: 'deliberate_stop' });
  p.onStart(400);
  const d = p.onExit(401, false);
  assert.equal(d.action === 'restart' && d.delayMs, 250);
  assert.equal(p.consecutiveCrashes, 1);
});

test('rejects a cap below the initial delay', () => {
  assert.throws(() => new RestartPolicy({ initialDelayMs: 500, maxDelayMs: 100 }), RangeError);
});
