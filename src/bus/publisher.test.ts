/** BusPublisher over real ZeroMQ sockets on loopback: how records are grouped into messages. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../../test/support/ports.js';
import type { BusRecord, Draft } from '../core/records.js';
import { decodeBatch } from './codec.js';
import { BusPublisher, type BusPublisherOptions } from './publisher.js';
import { BusSubscriber } from './subscriber.js';

const draft = (i: number): Draft => ({
  venue: 'oanda',
  kind: 'tick',
  ts_event_us: 1_700_000_000_000_000 + i,
  ts_recv_us: 1_700_000_000_000_000 + i,
  instrument: 'EUR_USD',
  bid: '1.1',
  bid_qty: null,
  ask: '1.2',
  ask_qty: null,
  last: null,
  volume: null,
  tradeable: true,
});

const turn = () => new Promise<void>((r) => setImmediate(r));

/** An oanda.tick publisher on a free loopback port. */
async function bindPub(opts: Partial<BusPublisherOptions> = {}): Promise<{ pub: BusPublisher; endpoint: string }> {
  const endpoint = `tcp://127.0.0.1:${await freePort()}`;
  const pub = await BusPublisher.bind({ endpoint, publisher: 'p', venue: 'oanda', topic: 'oanda.tick', ...opts });
  return { pub, endpoint };
}

/** A publisher with `batchMs` and a subscriber to it, on a free loopback port. */
async function pair(batchMs: number, heartbeats = true): Promise<{ pub: BusPublisher; sub: BusSubscriber }> {
  const { pub, endpoint } = await bindPub({ batchMs });
  return { pub, sub: new BusSubscriber({ endpoints: [endpoint], topics: ['oanda.tick'], heartbeats }) };
}

/** Publish one record per event-loop turn, `n` turns; returns the sizes of the messages received. */
async function messageSizes(batchMs: number, n: number): Promise<number[]> {
  const { pub, sub } = await pair(batchMs, false);
  const sizes: number[] = [];
  const got: BusRecord[] = [];
  const reader = (async () => {
    for await (const b of sub.batches()) {
      sizes.push(b.length);
      got.push(...b);
    }
  })();
  try {
    // Slow joiner: publish warm-up records until one arrives, then start counting from the next message.
    while (got.length === 0) {
      pub.publish([draft(0)]);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, batchMs + 50));
    sizes.length = 0;
    const first = pub.lastSeq + 1;
    for (let i = 1; i <= n; i++) {
      pub.publish([draft(i)]);
      await turn();
    }
    const deadline = Date.now() + 5000;
    while (got[got.length - 1]?.seq !== first + n - 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got[got.length - 1]?.seq, first + n - 1, 'every record arrived');
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      n,
    );
    return sizes;
  } finally {
    await pub.close();
    sub.close();
    await reader.catch(() => {});
  }
}

test('batchMs: records published over several event-loop turns within the window share one message', async () => {
  const sizes = await messageSizes(200, 20);
  assert.deepEqual(sizes, [20]);
});

test('batchMs 0: each event-loop turn is its own message', async () => {
  const sizes = await messageSizes(0, 20);
  assert.equal(sizes.length, 20, `sizes ${sizes.join(',')}`);
});

test('a heartbeat sends the records waiting for the batch window first, so its seq never runs ahead', async () => {
  const { pub, sub } = await pair(10_000);
  const seen: BusRecord[] = [];
  const reader = (async () => {
    for await (const b of sub.batches()) seen.push(...b);
  })();
  try {
    // A heartbeat whose data (seq up to its own) arrived before it; joining mid-way can hide the
    // first pairs, so try until the subscriber is surely connected.
    const complete = () =>
      seen.find((hb, i) => hb.kind === 'heartbeat' && seen.slice(0, i).some((r) => r.kind === 'tick' && r.seq === hb.seq));
    const t0 = Date.now();
    while (!complete() && Date.now() - t0 < 5000) {
      pub.publish([draft(1), draft(2)]);
      pub.heartbeat({ connected: true, lastVenueMsgAgeMs: 0 });
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(
      seen.some((r) => r.kind === 'heartbeat'),
      'heartbeats arrived',
    );
    assert.ok(complete(), "the data up to a heartbeat's seq arrived before it, long before the 10 s window ended");
  } finally {
    await pub.close();
    sub.close();
    await reader.catch(() => {});
  }
});

test('onEncoded: every data batch is handed over with the exact payload sent, in seq order; heartbeats are not', async () => {
  const seen: { seqs: number[]; payload: Buffer }[] = [];
  const { pub } = await bindPub({
    batchMs: 5,
    maxBatchRecords: 4,
    onEncoded: (records, payload) => seen.push({ seqs: records.map((r) => r.seq), payload }),
  });
  try {
    pub.publish([draft(1), draft(2), draft(3), draft(4), draft(5), draft(6)]);
    pub.heartbeat({ connected: true, lastVenueMsgAgeMs: 0 });
    pub.publish([draft(7)]);
    await pub.drain();
    assert.deepEqual(
      seen.map((s) => s.seqs),
      [[1, 2, 3, 4], [5, 6], [7]],
    );
    for (const s of seen)
      assert.deepEqual(
        decodeBatch(s.payload).map((r) => r.seq),
        s.seqs,
      );
  } finally {
    await pub.close();
  }
});

test('publish() after close(): nothing is stamped or sent, the drafts are counted', async () => {
  const { pub } = await bindPub({ batchMs: 5 });
  pub.publish([draft(1), draft(2)]);
  await pub.close();
  assert.deepEqual(pub.publish([draft(3), draft(4), draft(5)]), []);
  pub.heartbeat({ connected: false, lastVenueMsgAgeMs: 0 });
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(pub.lastSeq, 2);
  assert.equal(pub.stats.closed_drops, 3);
  assert.equal(pub.stats.send_errors, 0, 'no send was tried on the closed socket');
  assert.equal(pub.stats.records_out, 2);
});
