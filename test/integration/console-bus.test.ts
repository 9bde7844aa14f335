/**
 * The console's side of the ConsoleBus contract, with an in-memory bus (no ZeroMQ): what the bus
 * yields reaches /api/state with the bus's endpoints and counters, and the console closes the bus it
 * was given exactly once: on close(), and when starting fails (a bad host, a port in use).
 */
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import type { BusRecord, TickRecord } from '../../src/core/records.js';
import { startConsole, type ConsoleBus, type ConsoleStateBody } from '../../src/console/server.js';
import { waitFor } from '../support/wait.js';

/** A bus whose batches are pushed by the test; its iterator ends when it is closed. */
class MemoryBus implements ConsoleBus {
  readonly endpoints = ['mem://a', 'mem://b'];
  closes = 0;
  private readonly queue: BusRecord[][] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private records = 0;

  push(batch: BusRecord[]): void {
    this.queue.push(batch);
    this.wake?.();
  }

  async *batches(): AsyncGenerator<BusRecord[]> {
    for (;;) {
      const next = this.queue.shift();
      if (next) {
        this.records += next.length;
        yield next;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  close(): void {
    this.closes++;
    this.closed = true;
    this.wake?.();
  }

  stats() {
    return { messages_in: 7, records_in: this.records, decode_errors: 2 };
  }
}

const config = configSchema.parse({ console: { port: 1 } });

const tick = (seq: number): TickRecord => ({
  v: 1,
  venue: 'kraken',
  publisher: 'mem',
  session: 's1',
  topic: 'kraken.tick',
  kind: 'tick',
  instrument: 'BTC/USD',
  seq,
  ts_event_us: Date.now() * 1000,
  ts_recv_us: Date.now() * 1000,
  bid: '100',
  bid_qty: '1',
  ask: '101',
  ask_qty: '1',
  last: null,
  volume: null,
  tradeable: true,
});

test('records from the given bus reach /api/state with its endpoints and counters; close() closes the bus once', async () => {
  const bus = new MemoryBus();
  const con = await startConsole({ config, port: 0, bus, healthIntervalMs: 60_000 });
  let closed = false;
  try {
    bus.push([tick(1), tick(2)]);
    bus.push([tick(3)]);
    let body: ConsoleStateBody | undefined;
    await waitFor(
      '3 records in /api/state',
      async () => {
        body = (await (await fetch(`${con.url}api/state`)).json()) as ConsoleStateBody;
        return body.totals.records_in === 3;
      },
      10_000,
      20,
    );
    assert.deepEqual(body!.bus, { endpoints: ['mem://a', 'mem://b'], messages_in: 7, records_in: 3, decode_errors: 2 });
    assert.equal(body!.topics.find((t) => t.topic === 'kraken.tick')?.records, 3);
    assert.equal(bus.closes, 0, 'the console does not close the bus while running');
    await con.close();
    closed = true;
    assert.equal(bus.closes, 1);
    await assert.rejects(fetch(`${con.url}api/state`), 'the server is gone after close()');
  } finally {
    if (!closed) await con.close();
  }
});

test('a failed start closes the bus it was given: non-loopback host without a token', async () => {
  const bus = new MemoryBus();
  await assert.rejects(startConsole({ config, host: '0.0.0.0', port: 0, bus, env: {} }), /not loopback/);
  assert.equal(bus.closes, 1);
});

test('a failed start closes the bus it was given: port in use', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const addr = blocker.address();
  assert.ok(addr && typeof addr === 'object');
  const bus = new MemoryBus();
  try {
    await assert.rejects(startConsole({ config, port: addr.port, bus, env: {} }), /is in use/);
    assert.equal(bus.closes, 1);
  } finally {
    await new Promise<void>((r) => blocker.close(() => r()));
  }
});

test('services are asked for /health each interval only while a browser is connected; /api/state asks when health is old', async () => {
  // A stand-in subscriber status server that counts the asks.
  let asks = 0;
  const status = createHttpServer((req, res) => {
    if (req.url === '/health') asks++;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok","ready":true}');
  });
  await new Promise<void>((r) => status.listen(0, '127.0.0.1', () => r()));
  const statusPort = (status.address() as AddressInfo).port;
  const cfg = configSchema.parse({
    console: { port: 1 },
    subscribers: [{ name: 'sub_a', port: statusPort, topics: ['kraken.tick'], measurements: { tick: 'kraken_tick' } }],
  });
  const bus = new MemoryBus();
  const con = await startConsole({ config: cfg, port: 0, bus, healthIntervalMs: 100, idleHealthIntervalMs: 5_000 });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    await waitFor('the first ask at start', async () => asks >= 1, 5_000, 20);
    await sleep(1_500);
    assert.ok(asks <= 2, `nobody watching: ${asks} asks in 1.5 s at a 100 ms interval`);
    // /api/state with health older than the interval asks first, and answers with what it got.
    const before = asks;
    const body = (await (await fetch(`${con.url}api/state`)).json()) as ConsoleStateBody;
    assert.equal(asks, before + 1, '/api/state asked once');
    assert.equal(body.services.find((s) => s.name === 'sub_a')?.state, 'ok');
    // A browser (an SSE reader) connected: every interval.
    const ac = new AbortController();
    const events = await fetch(`${con.url}events`, { signal: ac.signal });
    const reading = events.body!.pipeTo(new WritableStream(), { signal: ac.signal }).catch(() => undefined);
    const watched0 = asks;
    await sleep(1_500);
    assert.ok(asks - watched0 >= 8, `watched: ${asks - watched0} asks in 1.5 s at a 100 ms interval`);
    ac.abort();
    await reading;
  } finally {
    await con.close();
    await new Promise<void>((r) => status.close(() => r()));
  }
});
