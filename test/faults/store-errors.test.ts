/**
 * Store errors under load (simulated Kraken ticker, one subscriber, a real influxd), each counted seq
 * by seq against the publisher's session file after a clean stop:
 * - influxd answering 500 to every write for a while (an HTTP proxy in front of it): lost 0;
 * - the spool's disk budget exhausted while influxd is down: the overflow is dropped as `spool_full`,
 *   counted and logged as an error, and lost == exactly that count.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { startInfluxd, type TestInfluxd } from '../support/influxd.js';
import {
  Procs,
  accountFor,
  assertConsistent,
  assertNoLoss,
  describe,
  drained,
  getJson,
  makeFaultStack,
  sessionFile,
  sessionOf,
  stopClean,
  storeView,
  waitFor,
  waitReady,
} from './harness.js';

const PUB = 'kraken_tick';
const SUB = 'kraken_influxdb_tick';
const RATE = 1500;
let influx: TestInfluxd;

before(async () => {
  influx = await startInfluxd();
});
after(async () => {
  influx?.resume();
  await influx?.stop();
});

const health = (port: number) => getJson(port, '/health');

/** An HTTP proxy to influxd that answers 500 to /write while `failing` is set. */
function failingProxy(target: string): Promise<{ url: string; server: Server; failing: { on: boolean }; fails: { n: number } }> {
  const failing = { on: false };
  const fails = { n: 0 };
  const t = new URL(target);
  const server = createServer((req, res) => {
    if (failing.on && req.url?.startsWith('/write')) {
      fails.n++;
      req.resume();
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error":"injected failure"}');
      return;
    }
    const up = request({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, server, failing, fails });
    }),
  );
}

test('influxd answering 500 for a while (proxy): retried until it answers, lost 0', async () => {
  const proxy = await failingProxy(influx.url);
  const stack = await makeFaultStack({
    influxUrl: proxy.url,
    database: 'f_500',
    publishers: { [PUB]: { ratePerS: RATE } },
    subscribers: [SUB],
  });
  const procs = new Procs();
  const port = stack.subscriberPort(SUB);
  try {
    const sub = procs.start(['subscriber', 'run', SUB], stack.configPath);
    await waitReady(sub, port);
    const pub = procs.start(['publisher', 'run', PUB], stack.configPath);
    const s = await sessionOf(pub);
    await waitFor('flowing', async () => (await health(port)).points_written > 2000, 60_000, 200);
    proxy.failing.on = true;
    const written0 = (await health(port)).points_written;
    await waitFor('500s answered and retried', async () => proxy.fails.n >= 10, 60_000, 200);
    const during = await health(port);
    proxy.failing.on = false;
    assert.ok(during.batches.failed + during.batches.retried > 0, `500s counted: ${JSON.stringify(during.batches)}`);
    await waitFor('writing again', async () => (await health(port)).points_written > written0 + 2000, 60_000, 200);
    await stopClean(pub, 'publisher');
    await drained(port);
    await stopClean(sub, 'subscriber');
    const acc = await accountFor(storeView(influx, stack, SUB), s, sessionFile(stack, PUB).last_seq);
    console.log(`# influxd 500s (${proxy.fails.n} answered): ${describe(acc)}`);
    assertNoLoss(acc, { firstSession: true });
  } finally {
    await procs.killAll();
    proxy.server.closeAllConnections();
    await new Promise((r) => proxy.server.close(r));
    rmSync(stack.dir, { recursive: true, force: true });
  }
});

test('spool disk budget exhausted while the store is down: lost == exactly the spool_full drops, logged as an error', async () => {
  const stack = await makeFaultStack({
    influxUrl: influx.url,
    database: 'f_spoolfull',
    publishers: { [PUB]: { ratePerS: RATE } },
    subscribers: [SUB],
    subscriber: { spoolMaxBytes: 150_000, batchSize: 500 },
  });
  const procs = new Procs();
  const port = stack.subscriberPort(SUB);
  try {
    const sub = procs.start(['subscriber', 'run', SUB], stack.configPath);
    await waitReady(sub, port);
    const pub = procs.start(['publisher', 'run', PUB], stack.configPath);
    const s = await sessionOf(pub);
    await waitFor('flowing', async () => (await health(port)).points_written > 2000, 60_000, 200);
    // Killed, not stalled: a refused connection writes nothing, so every drop is a real loss.
    influx.kill('SIGKILL');
    await influx.exited();
    await waitFor('spool full, dropping', async () => (await health(port)).dropped_by_reason.spool_full > 2000, 90_000, 200);
    await influx.restart();
    await stopClean(pub, 'publisher');
    await drained(port);
    const h = await health(port);
    await stopClean(sub, 'subscriber');
    const dropped = h.dropped_by_reason.spool_full as number;
    const loud = sub.lines.filter((l) => (l.level as number) >= 50 && /spool is full/.test(String(l.msg)));
    assert.equal(loud.length, 1, 'spool_full logged once as an error (then counted)');
    const acc = await accountFor(storeView(influx, stack, SUB), s, sessionFile(stack, PUB).last_seq);
    console.log(`# spool full: ${describe(acc)} spool_full=${dropped}`);
    assertConsistent(acc);
    assert.ok(dropped > 0);
    // The silent head of a first session (see assertLossReported) is the only other loss allowed.
    const head = acc.unreported[0]?.[0] === 1 ? acc.unreported[0][1] : 0;
    assert.equal(acc.reported, 0);
    assert.equal(acc.lost, dropped + head, 'every lost record is a counted spool_full drop, and nothing else was lost');
  } finally {
    await procs.killAll();
    rmSync(stack.dir, { recursive: true, force: true });
  }
});
