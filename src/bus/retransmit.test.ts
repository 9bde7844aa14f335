import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from 'zeromq';
import { decodeReply, decodeRequest, encodeReply, encodeRequest, RetransmitClient, RetransmitServer } from './retransmit.js';
import { PublishJournal } from './journal.js';
import { freePort } from '../../test/support/ports.js';
import { wireInt } from './codec.js';
import type { BusRecord } from '../core/records.js';

// 2^40: past the 32-bit range, where msgpackr alone would write a float64.
const BIG = 2 ** 40;
const INT64_2_40 = Buffer.from([0xd3, 0, 0, 1, 0, 0, 0, 0, 0]);
const FLOAT64_2_40 = Buffer.from([0xcb, 0x42, 0x70, 0, 0, 0, 0, 0, 0]);

test('wireInt: integers past 32 bits become BigInt (msgpack int64); others pass through', () => {
  assert.equal(wireInt(BIG), BigInt(BIG));
  assert.equal(wireInt(-(2 ** 33)), BigInt(-(2 ** 33)));
  assert.equal(wireInt(0xffffffff), 0xffffffff);
  assert.equal(wireInt(-0x80000000), -0x80000000);
  assert.equal(wireInt(1.5e12 + 0.5), 1.5e12 + 0.5);
});

test('a request with seqs past 32 bits goes out as msgpack integers and round-trips', () => {
  const buf = encodeRequest({ id: 7, session: 's-1', first: BIG, last: BIG + 3 });
  // int64 (0xd3) then the 8 bytes of 2^40; msgpackr on its own writes a float64 (0xcb 42 70 ...).
  assert.ok(buf.includes(INT64_2_40), buf.toString('hex'));
  assert.ok(!buf.includes(FLOAT64_2_40), buf.toString('hex'));
  assert.deepEqual(decodeRequest(buf), { id: 7, session: 's-1', first: BIG, last: BIG + 3 });
});

test('a reply chunk round-trips records and unavailable ranges', () => {
  const rec = {
    v: 1,
    topic: 'kraken.tick',
    venue: 'kraken',
    kind: 'status',
    publisher: 'p',
    session: 's-1',
    seq: BIG + 1,
    ts_event_us: 1746523046208075,
    ts_recv_us: 1746523046210000,
    instrument: '',
    status: 'online',
    detail: '',
  } as BusRecord;
  const reply = {
    id: 3,
    session: 's-1',
    first: BIG,
    last: BIG + 2,
    records: [rec],
    unavailable: [[BIG, BIG] as [number, number]],
    done: true,
  };
  const buf = encodeReply({ ...reply, unavailable: [[BIG, BIG]] });
  assert.ok(buf.includes(INT64_2_40) && !buf.includes(FLOAT64_2_40), buf.toString('hex'));
  assert.deepEqual(decodeReply(buf), { ...reply, unavailable: [[BIG, BIG]] });
});

test('a client whose requests get no reply at all opens a new connection for the next one', async () => {
  const endpoint = `tcp://127.0.0.1:${await freePort()}`;
  const router = new Router({ linger: 0 });
  await router.bind(endpoint);
  let now = 0;
  const replies: number[] = [];
  const resets: number[] = [];
  const client = new RetransmitClient({
    endpoint,
    resetAfterMs: 8000,
    nowMs: () => now,
    onReply: (r) => replies.push(r.id),
    onReset: (waited) => resets.push(waited),
  });
  try {
    client.request('s', 1, 10);
    const [idA, reqA] = await router.receive();
    assert.deepEqual(decodeRequest(reqA!), { id: 1, session: 's', first: 1, last: 10 });
    now = 5000; // the caller's first repeat: not yet
    client.request('s', 1, 10);
    const [idA2] = await router.receive();
    assert.ok(idA2!.equals(idA!), 'same connection');
    now = 10_000; // the second repeat: nothing came back for 10 s
    client.request('s', 1, 10);
    const [idB, reqB] = await router.receive();
    assert.ok(!idB!.equals(idA!), 'a new connection (a new routing id)');
    assert.deepEqual(resets, [10_000]);
    await router.send([idB!, encodeReply({ ...decodeRequest(reqB!), records: [], unavailable: [[1, 10]], done: true })]);
    for (let i = 0; i < 100 && replies.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(replies, [3]);
    // A reply arrived: an answered client is not reset, however long the next request comes after.
    now = 60_000;
    client.request('s', 11, 12);
    const [idC] = await router.receive();
    assert.ok(idC!.equals(idB!));
    assert.deepEqual(client.stats, { requests: 4, sent: 4, replies: 1, resets: 1 });
  } finally {
    await client.close();
    router.close();
  }
});

test('the server keeps answering across idle spells longer than its receive timeout, without reporting them as errors', async () => {
  const endpoint = `tcp://127.0.0.1:${await freePort()}`;
  const journal = new PublishJournal('s', { maxRecords: 1000, maxAgeMs: 60_000, maxBytes: 1 << 20, nowMs: () => 0 });
  journal.append(
    Array.from(
      { length: 10 },
      (_, i) =>
        ({
          v: 1,
          topic: 't',
          venue: 'kraken',
          kind: 'tick',
          publisher: 'p',
          session: 's',
          seq: i + 1,
          ts_event_us: i,
          ts_recv_us: i,
          instrument: 'X',
        }) as unknown as BusRecord,
    ),
  );
  const errors: Error[] = [];
  const server = await RetransmitServer.bind({ endpoint, journal, receiveTimeoutMs: 50, onError: (e) => errors.push(e) });
  const replies: number[] = [];
  const client = new RetransmitClient({ endpoint, onReply: (r) => replies.push(...r.records.map((x) => x.seq)) });
  try {
    for (const [first, last] of [
      [1, 3],
      [7, 10],
    ]) {
      await new Promise((r) => setTimeout(r, 300)); // six receive timeouts with nothing to read
      client.request('s', first!, last!);
      for (let i = 0; i < 100 && replies[replies.length - 1] !== last; i++) await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(replies, [1, 2, 3, 7, 8, 9, 10]);
    assert.equal(server.stats.requests, 2);
    assert.deepEqual(errors, []);
  } finally {
    await client.close();
    await server.close();
  }
});

test('both ends report their connection events: accept/connect, handshake, then disconnect when the server goes', async () => {
  const endpoint = `tcp://127.0.0.1:${await freePort()}`;
  const journal = new PublishJournal('s', { maxRecords: 1000, maxAgeMs: 60_000, maxBytes: 1 << 20, nowMs: () => 0 });
  const serverEvents: string[] = [];
  const clientEvents: string[] = [];
  const server = await RetransmitServer.bind({
    endpoint,
    journal,
    onConnectionEvent: (ev, address) => serverEvents.push(`${ev} ${address}`),
  });
  const client = new RetransmitClient({
    endpoint,
    onReply: () => {},
    onConnectionEvent: (ev, address) => clientEvents.push(`${ev} ${address}`),
  });
  const until = async (what: () => boolean) => {
    for (let i = 0; i < 250 && !what(); i++) await new Promise((r) => setTimeout(r, 20));
  };
  try {
    await until(() => serverEvents.length >= 2 && clientEvents.length >= 2);
    assert.deepEqual(
      serverEvents.map((e) => e.split(' ')[0]),
      ['accept', 'handshake'],
    );
    assert.deepEqual(clientEvents, [`connect ${endpoint}`, `handshake ${endpoint}`]);
    await server.close();
    await until(() => clientEvents.length >= 3);
    assert.equal(clientEvents[2], `disconnect ${endpoint}`);
  } finally {
    await client.close();
    await server.close();
  }
});
