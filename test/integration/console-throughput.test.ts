/**
 * The console keeps up with 20,000 records/s from an in-process BusPublisher while what it streams
 * to a browser stays bounded: at most one points event per sample tick and at most one point per
 * series in each. Asserted by counts (records seen, events, points), never by timing.
 */
import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { BusPublisher } from '../../src/bus/publisher.js';
import { tcpEndpoint } from '../../src/bus/subscriber.js';
import { configSchema } from '../../src/config/schema.js';
import type { Draft, TickRecord } from '../../src/core/records.js';
import { startConsole, type ConsoleStateBody } from '../../src/console/server.js';
import { openConsoleBus } from '../../src/cli/console.js';
import { freePorts } from '../support/ports.js';
import { waitFor } from '../support/wait.js';

interface SseClient {
  events: { event: string; data: unknown }[];
  bytes: number;
  close(): void;
}

function sse(url: string): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const client: SseClient = { events: [], bytes: 0, close: () => req.destroy() };
    let buf = '';
    const req = get(url, (res: IncomingMessage) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        client.bytes += Buffer.byteLength(chunk);
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) client.events.push({ event, data: JSON.parse(data) });
        }
      });
      resolve(client);
    });
    req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
  });
}

const INSTRUMENTS = Array.from({ length: 20 }, (_, i) => `SYM${i}/USD`);
const TOTAL = 60_000;
const PER_BATCH = 1_000;
const BATCH_EVERY_MS = 50; // 1000 records / 50 ms = 20,000 records/s

test('20,000 records/s: every record counted, the SSE stream stays sampled and bounded', async (t) => {
  const [busPort, statusPort] = await freePorts(2);
  // The schema alone (no cross-field checks): a minimal config with one publisher and no store.
  const config = configSchema.parse({
    publishers: [
      {
        name: 'load',
        venue: 'kraken',
        feed: 'ticker',
        topic: 'kraken.tick',
        port: busPort,
        statusPort,
        instruments: ['BTC/USD'],
        source: { type: 'live' },
      },
    ],
    console: { port: 1, maxPointsPerSeries: 500 },
  });
  const pub = await BusPublisher.bind({
    endpoint: tcpEndpoint('127.0.0.1', busPort!),
    publisher: 'load',
    venue: 'kraken',
    topic: 'kraken.tick',
  });
  const con = await startConsole({ config, port: 0, sampleIntervalMs: 250, healthIntervalMs: 1000, bus: openConsoleBus(config) });
  const client = await sse(`${con.url}events`);
  try {
    // ZeroMQ's slow joiner: heartbeat until the console's SUB socket demonstrably receives.
    await waitFor(
      'the console to receive a heartbeat',
      () => {
        pub.heartbeat({ connected: true, lastVenueMsgAgeMs: 0 });
        return con.state().totals.heartbeats_in > 0;
      },
      30_000,
      25,
    );

    const startedMs = Date.now();
    let seq = 0;
    for (let b = 0; b < TOTAL / PER_BATCH; b++) {
      const nowUs = Date.now() * 1000;
      const drafts: Draft<TickRecord>[] = [];
      for (let i = 0; i < PER_BATCH; i++) {
        const p = 100 + (seq++ % 977) / 100;
        drafts.push({
          venue: 'kraken',
          kind: 'tick',
          instrument: INSTRUMENTS[i % INSTRUMENTS.length]!,
          ts_event_us: nowUs,
          ts_recv_us: nowUs,
          bid: p.toFixed(2),
          bid_qty: '1',
          ask: (p + 0.02).toFixed(2),
          ask_qty: '1',
          last: null,
          volume: null,
          tradeable: true,
        });
      }
      pub.publish(drafts);
      // Pacing only (nothing is asserted about time): one batch per 50 ms is 20,000 records/s.
      await new Promise((r) => setTimeout(r, Math.max(0, startedMs + (b + 1) * BATCH_EVERY_MS - Date.now())));
    }
    await pub.drain();
    const sentSeconds = (Date.now() - startedMs) / 1000;
    await waitFor('the console to count every record', () => con.state().totals.records_in >= TOTAL, 30_000, 25);
    const stateEventsAtEnd = client.events.filter((e) => e.event === 'state').length;
    const ticksAtEnd = con.state().sse.sample_ticks;
    await waitFor('one more sample tick', () => con.state().sse.sample_ticks >= ticksAtEnd + 2, 30_000, 25);
    await waitFor(
      'a state event after the load',
      () => client.events.filter((e) => e.event === 'state').length > stateEventsAtEnd,
      30_000,
      25,
    );

    const st = con.state();
    const topic = st.topics.find((x) => x.topic === 'kraken.tick')!;
    assert.equal(st.totals.records_in, TOTAL, 'every record reached the console model');
    assert.equal(topic.records, TOTAL);
    assert.equal(topic.seq_missing, 0, 'no loss on the bus');
    assert.equal(st.bus.decode_errors, 0);

    const points = client.events
      .filter((e) => e.event === 'points')
      .map((e) => e.data as { defs: unknown[]; points: [number, number, number][] });
    const pointCount = points.reduce((a, p) => a + p.points.length, 0);
    assert.ok(points.length > 0 && pointCount > 0, 'the browser got chart points');
    assert.ok(points.length <= st.sse.sample_ticks, `points events ${points.length} <= sample ticks ${st.sse.sample_ticks}`);
    for (const p of points) {
      const ids = p.points.map((x) => x[0]);
      assert.equal(new Set(ids).size, ids.length, 'at most one point per series per event');
      assert.ok(ids.length <= INSTRUMENTS.length);
    }
    assert.equal(st.totals.series_dropped, 0);
    assert.equal(con.state().sse.points_sent >= pointCount, true);
    assert.ok(pointCount <= st.sse.sample_ticks * INSTRUMENTS.length, 'points bounded by ticks x series');
    assert.ok(pointCount * 10 < TOTAL, `sampled: ${pointCount} points for ${TOTAL} records`);
    const stateEvents = client.events.filter((e) => e.event === 'state');
    const last = stateEvents.at(-1)!.data as ConsoleStateBody;
    assert.equal(last.topics.find((x) => x.topic === 'kraken.tick')?.records, TOTAL, 'the state event after the load counts every record');

    t.diagnostic(
      `sent ${TOTAL} records in ${sentSeconds.toFixed(2)} s (${Math.round(TOTAL / sentSeconds)} records/s); ` +
        `browser got ${points.length} points events, ${pointCount} points, ${stateEvents.length} state events, ${client.bytes} bytes; ` +
        `${st.sse.sample_ticks} sample ticks`,
    );
  } finally {
    client.close();
    await con.close();
    await pub.close();
  }
});
