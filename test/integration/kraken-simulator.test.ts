/** The Kraken simulator speaks v2: status on connect, acks per symbol, pong, heartbeat, seeded content. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { startKrakenSimulator } from '../../src/simulators/kraken.js';

/** Collect messages until `until` returns true (deadline: 10 s). */
function collect(url: string, requests: string[], until: (msgs: Record<string, unknown>[]) => boolean): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const msgs: Record<string, unknown>[] = [];
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`deadline; got ${msgs.length} messages`));
    }, 10_000);
    ws.on('open', () => requests.forEach((r) => ws.send(r)));
    ws.on('message', (d: Buffer) => {
      msgs.push(JSON.parse(d.toString()) as Record<string, unknown>);
      if (until(msgs)) {
        clearTimeout(timer);
        ws.terminate();
        resolve(msgs);
      }
    });
    ws.on('error', reject);
  });
}

test('status, one ack per symbol with req_id, snapshots, pong, errors for unknown pairs', async () => {
  const sim = await startKrakenSimulator({ instruments: ['BTC/USD', 'ETH/USD'], ratePerS: 50, seed: 1 });
  try {
    const msgs = await collect(
      sim.url,
      [
        '{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD","ETH/USD","FOO/BAR"],"depth":25},"req_id":7}',
        '{"method":"ping","req_id":9}',
      ],
      (m) => m.some((x) => x.method === 'pong') && m.filter((x) => x.channel === 'book' && x.type === 'update').length >= 3,
    );
    assert.equal(msgs[0]?.channel, 'status');
    const acks = msgs.filter((m) => m.method === 'subscribe');
    assert.equal(acks.length, 3);
    assert.ok(acks.every((a) => a.req_id === 7));
    assert.deepEqual(
      acks.map((a) => a.success),
      [true, true, false],
    );
    assert.equal(acks[2]?.symbol, 'FOO/BAR');
    const snaps = msgs.filter((m) => m.channel === 'book' && m.type === 'snapshot') as { data: { bids: unknown[] }[] }[];
    assert.equal(snaps.length, 2);
    assert.equal(snaps[0]?.data[0]?.bids.length, 25);
    assert.equal(msgs.find((m) => m.method === 'pong')?.req_id, 9);
  } finally {
    await sim.close();
  }
});

test('heartbeat when idle; same seed gives the same content', async () => {
  const sim = await startKrakenSimulator({ instruments: ['BTC/USD'], ratePerS: 0.2, seed: 4 });
  try {
    const sub = '{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"]}}';
    const msgs = await collect(sim.url, [sub], (m) => m.some((x) => x.channel === 'heartbeat'));
    assert.ok(msgs.some((m) => m.channel === 'heartbeat'));
  } finally {
    await sim.close();
  }
  const snapshot = async () => {
    const s = await startKrakenSimulator({ instruments: ['ETH/USD'], ratePerS: 1000, seed: 99 });
    try {
      const m = await collect(
        s.url,
        ['{"method":"subscribe","params":{"channel":"book","symbol":["ETH/USD"],"depth":10}}'],
        (x) => x.filter((y) => y.channel === 'book').length >= 5,
      );
      return m
        .filter((y) => y.channel === 'book')
        .slice(0, 5)
        .map((y) =>
          JSON.stringify((y.data as { bids: unknown; asks: unknown; checksum: unknown }[]).map((d) => [d.bids, d.asks, d.checksum])),
        );
    } finally {
      await s.close();
    }
  };
  assert.deepEqual(await snapshot(), await snapshot());
});

test('faults: garbage frames and drops are counted', async () => {
  const sim = await startKrakenSimulator({ instruments: ['BTC/USD'], ratePerS: 500, seed: 2, faults: { garbageRate: 0.2 } });
  try {
    const raw: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(sim.url);
      ws.on('open', () => ws.send('{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"]}}'));
      ws.on('message', (d: Buffer) => {
        raw.push(d.toString());
        if (sim.stats().garbageFrames >= 3) sim.dropAll();
      });
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
    assert.ok(
      raw.some((t) => {
        try {
          JSON.parse(t);
          return false;
        } catch {
          return true;
        }
      }),
    );
    assert.ok(sim.stats().garbageFrames >= 3);
  } finally {
    await sim.close();
  }
});
