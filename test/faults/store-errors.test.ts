/**
 * Store errors under load (simulated Kraken ticker, one subscriber, a real influxd), each counted seq
 * by seq against the publisher's session file after a clean stop:
 * - influxd answering 500 to every write for a while (an HTTP proxy in front of it): lost 0;
 * - the spool's disk budget exhausted while influxd is down: the overflow is dropped as `spool_full`,
 *   counted and logged as an error, and lost == exactly that count;
 * - a slow store (every write delayed by the proxy, never timing out) that leaves the subscriber
 *   behind, and a stop in that state (publisher first, then the subscriber, as `nbpy stop` does):
 *   what the publisher sent and the subscriber had not read yet is read during the stop and spooled,
 *   written by the next subscriber: lost 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import {
  assertConsistent,
  assertNoLoss,
  describe,
  drained,
  getJson,
  health,
  PUB,
  sessionFile,
  stopClean,
  SUB,
  tickerStack,
  useInfluxd,
  waitFor,
  waitReady,
  waitWritten,
  withFaultStack,
} from './harness.js';

const RATE = 1500;
const influx = useInfluxd();

/** An HTTP proxy to influxd that answers 500 to /write while `failing` is set, and delays each /write by `delay.ms`. */
function failingProxy(
  target: string,
): Promise<{ url: string; server: Server; failing: { on: boolean }; fails: { n: number }; delay: { ms: number } }> {
  const failing = { on: false };
  const fails = { n: 0 };
  const delay = { ms: 0 };
  const t = new URL(target);
  const server = createServer(async (req, res) => {
    if (delay.ms && req.url?.startsWith('/write')) await new Promise((r) => setTimeout(r, delay.ms));
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
      resolve({ url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, server, failing, fails, delay });
    }),
  );
}

test('influxd answering 500 for a while (proxy): retried until it answers, lost 0', async () => {
  const proxy = await failingProxy(influx().url);
  await withFaultStack(
    influx(),
    tickerStack('f_500', RATE, { influxUrl: proxy.url }),
    async ({ stack, subscriberPort, startPair, account }) => {
      const port = subscriberPort(SUB);
      const { sub, pub, session: s } = await startPair(SUB, PUB);
      await waitWritten(port, 2000);
      proxy.failing.on = true;
      const written0 = (await health(port)).points_written;
      await waitFor('500s answered and retried', async () => proxy.fails.n >= 10, 60_000, 200);
      const during = await health(port);
      proxy.failing.on = false;
      assert.ok(during.batches.failed + during.batches.retried > 0, `500s counted: ${JSON.stringify(during.batches)}`);
      await waitWritten(port, written0 + 2000, 'writing again');
      await stopClean(pub, 'publisher');
      await drained(port);
      await stopClean(sub, 'subscriber');
      const acc = await account(SUB, s, sessionFile(stack, PUB).last_seq);
      console.log(`# influxd 500s (${proxy.fails.n} answered): ${describe(acc)}`);
      assertNoLoss(acc, { firstSession: true });
    },
    {
      afterKill: async () => {
        proxy.server.closeAllConnections();
        await new Promise((r) => proxy.server.close(r));
      },
    },
  );
});

test('spool disk budget exhausted while the store is down: lost == exactly the spool_full drops, logged as an error', async () => {
  await withFaultStack(
    influx(),
    tickerStack('f_spoolfull', RATE, { subscriber: { spoolMaxBytes: 150_000, batchSize: 500 } }),
    async ({ stack, subscriberPort, startPair, account }) => {
      const port = subscriberPort(SUB);
      const { sub, pub, session: s } = await startPair(SUB, PUB);
      await waitWritten(port, 2000);
      // Killed, not stalled: a refused connection writes nothing, so every drop is a real loss.
      influx().kill('SIGKILL');
      await influx().exited();
      await waitFor('spool full, dropping', async () => (await health(port)).dropped_by_reason.spool_full > 2000, 90_000, 200);
      await influx().restart();
      await stopClean(pub, 'publisher');
      await drained(port);
      const h = await health(port);
      await stopClean(sub, 'subscriber');
      const dropped = h.dropped_by_reason.spool_full as number;
      const loud = sub.lines.filter((l) => (l.level as number) >= 50 && /spool is full/.test(String(l.msg)));
      assert.equal(loud.length, 1, 'spool_full logged once as an error (then counted)');
      const acc = await account(SUB, s, sessionFile(stack, PUB).last_seq);
      console.log(`# spool full: ${describe(acc)} spool_full=${dropped}`);
      assertConsistent(acc);
      assert.ok(dropped > 0);
      // The silent head of a first session (see assertLossReported) is the only other loss allowed.
      const head = acc.unreported[0]?.[0] === 1 ? acc.unreported[0][1] : 0;
      assert.equal(acc.reported, 0);
      assert.equal(acc.lost, dropped + head, 'every lost record is a counted spool_full drop, and nothing else was lost');
    },
  );
});

/**
 * A store slower than the bus (every write delayed 1.5 s by the proxy, never a timeout: at most
 * ~2,700 records/s get through, 4,000 come in), then a stop in that state (publisher first, then the
 * subscriber, as `nbpy stop` does), then a new subscriber with a prompt store. With `overflowAfterMs`
 * (the default) the backlog goes to the spool; without it (a huge value) it waits in ZeroMQ's queue in
 * the subscriber process, which the stop reads before it ends. Either way: lost 0.
 */
for (const overflow of [true, false])
  test(`stop while behind a slow store (${overflow ? 'overflow to the spool' : 'backlog on the bus, read at the stop'}): lost 0`, async () => {
    const proxy = await failingProxy(influx().url);
    await withFaultStack(
      influx(),
      tickerStack(overflow ? 'f_behind_spool' : 'f_behind_bus', 4000, {
        influxUrl: proxy.url,
        requestTimeoutMs: 10_000,
        phaseTimeoutMs: 3000,
        subscriber: { batchSize: 1000, ...(overflow ? {} : { overflowAfterMs: 3_600_000 }) },
      }),
      async ({ stack, procs, subscriberPort, startPair, account }) => {
        const port = subscriberPort(SUB);
        const pubStatus = stack.config.publishers[0].statusPort as number;
        const { sub, pub, session: s } = await startPair(SUB, PUB);
        await waitWritten(port, 2000);
        proxy.delay.ms = 1500;
        // Behind the store (overflow: in the spool) or behind the bus (read from ZeroMQ at the stop).
        const behind = async () => {
          const h = await health(port);
          return (await getJson(pubStatus, '/health')).last_seq - (overflow ? h.points_written : h.records_in);
        };
        await waitFor(
          overflow ? 'subscriber behind by 10,000 records, overflowing to the spool' : 'subscriber behind by 10,000 records',
          async () => (await behind()) > 10_000 && (!overflow || (await health(port)).spool_bytes > 0),
          90_000,
          200,
        );
        const h = await health(port);
        console.log(
          `# behind a slow store at the stop (${overflow ? 'overflow' : 'bus'}): ${await behind()} records, overflows ${h.overflows}`,
        );
        if (overflow) assert.ok(h.overflows > 0 && h.spool_bytes > 0, `the backlog went to the spool: ${JSON.stringify(h)}`);
        else assert.equal(h.overflows, 0);
        await stopClean(pub, 'publisher');
        await stopClean(sub, 'subscriber (behind a slow store)');
        proxy.delay.ms = 0;
        const sub2 = procs.start(['subscriber', 'run', SUB], stack.configPath);
        await waitReady(sub2, port);
        await drained(port);
        await stopClean(sub2, 'subscriber 2');
        const acc = await account(SUB, s, sessionFile(stack, PUB).last_seq);
        console.log(`# stop behind a slow store (${overflow ? 'overflow' : 'bus'}): ${describe(acc)}`);
        assertNoLoss(acc, { firstSession: true });
      },
      {
        afterKill: async () => {
          proxy.server.closeAllConnections();
          await new Promise((r) => proxy.server.close(r));
        },
      },
    );
  });
