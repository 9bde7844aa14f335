/**
 * `nbpy health check|monitor` and `nbpy validate` as a user runs them (child processes), against
 * in-process stand-ins for a publisher and a subscriber (health-fakes.ts).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { collect, runNbpy, spawnNbpy, waitForOutput } from '../support/cli.js';
import { fakePublisher, fakeSubscriber, fakeSystemConfig, freePorts, type FakePublisher, type FakeSubscriber } from './health-fakes.js';

interface HealthJson {
  status: string;
  checks: { name: string; status: string; detail: string }[];
}

/** Run `health check --json` until `pred` holds or the deadline passes; returns the last result. */
async function healthUntil(cfg: string, pred: (h: HealthJson, code: number | null) => boolean, deadlineMs = 20_000) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const r = await runNbpy(['-c', cfg, 'health', 'check', '--json']);
    const h = JSON.parse(r.stdout) as HealthJson;
    if (pred(h, r.code) || Date.now() > end) return { h, code: r.code };
  }
}
const check = (h: HealthJson, name: string) => h.checks.find((c) => c.name === name);

describe('nbpy health and validate against a running (fake) system', () => {
  let pub: FakePublisher;
  let sub: FakeSubscriber;
  let cfg: string;
  let logDir: string;

  before(async () => {
    const [port, statusPort, subPort] = await freePorts(3);
    pub = await fakePublisher('kraken_tick', 'kraken.tick', port!, statusPort!);
    sub = await fakeSubscriber('kraken_sub', [`tcp://127.0.0.1:${port}`], ['kraken.tick'], 'kraken_tick', subPort!);
    const c = await fakeSystemConfig({
      publishers: [{ name: 'kraken_tick', topic: 'kraken.tick', port: port!, statusPort: statusPort! }],
      subscriber: { name: 'kraken_sub', port: subPort!, topics: ['kraken.tick'] },
    });
    cfg = c.path;
    logDir = join(c.dir, 'logs');
  });
  after(async () => {
    await sub.close();
    await pub.close();
  });

  it('is healthy and validates ok (no gaps, fresh store, probe read back)', async () => {
    const { h, code } = await healthUntil(cfg, (x) => x.status === 'healthy');
    assert.equal(h.status, 'healthy', JSON.stringify(h.checks.filter((c) => c.status !== 'pass')));
    assert.equal(code, 0);
    assert.equal(check(h, 'topic.kraken.tick.freshness')?.status, 'pass');
    assert.equal(check(h, 'subscriber.kraken_sub.status')?.status, 'pass');

    const v = await runNbpy(['-c', cfg, 'validate', '--window', '2s', '--json']);
    const rep = JSON.parse(v.stdout) as {
      ok: boolean;
      topics: { topic: string; records: number; gaps: number; sessions: number; rate_per_s: number }[];
      storage: { measurement: string; points: number; newest_age_s: number }[];
      probe: { ok: boolean; round_trip_ms: number };
    };
    assert.equal(rep.ok, true, v.stdout);
    assert.equal(v.code, 0);
    assert.equal(rep.topics[0]!.topic, 'kraken.tick');
    assert.ok(rep.topics[0]!.records > 5);
    assert.equal(rep.topics[0]!.gaps, 0);
    assert.equal(rep.topics[0]!.sessions, 1);
    assert.ok(rep.storage[0]!.points > 0 && rep.storage[0]!.newest_age_s < 5);
    assert.equal(rep.probe.ok, true);
    assert.ok(rep.probe.round_trip_ms >= 0);
  });

  it('a silent publisher: health reports the topic stale (exit 1), validate names it; resumed: healthy again', async () => {
    pub.pause();
    try {
      const { h, code } = await healthUntil(cfg, (x) => check(x, 'topic.kraken.tick.freshness')?.status === 'fail');
      assert.equal(code, 1);
      assert.equal(h.status, 'unhealthy');
      assert.match(check(h, 'topic.kraken.tick.freshness')!.detail, /stale|no last record/);
      const v = await runNbpy(['-c', cfg, 'validate', 'zmq', '--window', '1s']);
      assert.equal(v.code, 1);
      assert.match(v.stderr, /topic kraken\.tick: no records/);
    } finally {
      pub.resume();
    }
    const { h, code } = await healthUntil(cfg, (x) => x.status === 'healthy');
    assert.equal(h.status, 'healthy');
    assert.equal(code, 0);
  });

  it('store down: health reports it and the spool growing; validate fails on storage only', async () => {
    sub.storeDown(true);
    try {
      const { h } = await healthUntil(cfg, (x) => check(x, 'subscriber.kraken_sub.store')?.status === 'fail');
      assert.match(check(h, 'subscriber.kraken_sub.store')!.detail, /store down/);
      assert.equal(check(h, 'subscriber.kraken_sub.spool')!.status, 'warn');
      const v = await runNbpy(['-c', cfg, 'validate', 'full', '--window', '1s', '--json']);
      assert.equal(v.code, 1);
      const rep = JSON.parse(v.stdout) as { topics: { gaps: number; records: number }[]; storage: unknown[]; failures: string[] };
      assert.ok(rep.topics[0]!.records > 0 && rep.topics[0]!.gaps === 0);
      assert.ok(rep.failures.length > 0);
      assert.ok(
        rep.failures.every((f) => f.startsWith('storage ') || f.startsWith('probe')),
        rep.failures.join('\n'),
      );
    } finally {
      sub.storeDown(false);
    }
  });

  it('monitor appends each result to logs/health_check.log and stops on SIGTERM', async () => {
    const child = spawnNbpy(['-c', cfg, 'health', 'monitor', '--interval', '500ms', '--json']);
    const done = collect(child, 30_000);
    await waitForOutput(child, /"status".*\n.*"status"/, 20_000);
    child.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    const file = join(logDir, 'health_check.log');
    assert.ok(existsSync(file));
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.ok(lines.length >= 2);
    assert.ok(['healthy', 'degraded', 'unhealthy'].includes((JSON.parse(lines[0]!) as HealthJson).status));
  });
});

describe('nbpy health check with nothing running', () => {
  it('says so clearly, unhealthy, exit 1, with the fix', async () => {
    const [a, b] = await freePorts(2);
    const c = await fakeSystemConfig({ publishers: [{ name: 'kraken_tick', topic: 'kraken.tick', port: a!, statusPort: b! }] });
    const r = await runNbpy(['-c', c.path, 'health', 'check']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /overall: UNHEALTHY/);
    assert.match(r.stdout, /nothing is running.*nbpy start/);
    const j = JSON.parse((await runNbpy(['-c', c.path, 'health', 'check', '--json'])).stdout) as HealthJson;
    assert.equal(j.status, 'unhealthy');
    assert.equal(j.checks[0]!.name, 'system');
    assert.equal(j.checks[0]!.status, 'fail');
  });
  it('rejects a bad interval with exit 2', async () => {
    const r = await runNbpy(['health', 'monitor', '--interval', 'soon']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--interval/);
  });
});
