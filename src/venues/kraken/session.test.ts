import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { createKrakenFeedSession, createKrakenReplaySession } from './session.js';

const DIR = fileURLToPath(new URL('../../../../shared/fixtures/recorded/kraken/', import.meta.url));
const lines = [
  'v1_book1000_10pairs_2021-04-17.jsonl',
  'v1_ticker_10pairs_2021-04-17.jsonl',
  'v1_trade_10pairs_2021-04-17.jsonl',
  'v2_book_ethusd_depth10_2025-05-06.jsonl',
  'v2_docs_examples_trade_heartbeat.jsonl',
  'v2_book_snapshot_docs_checksum_example.jsonl',
]
  .flatMap((f) =>
    readFileSync(DIR + f, 'utf8')
      .split('\n')
      .filter(Boolean),
  )
  // the 40 kB v1 snapshots make mutations slow without adding cases
  .filter((l) => l.length < 4000);

const isJson = (t: string): boolean => {
  try {
    JSON.parse(t);
    return true;
  } catch {
    return false;
  }
};

const frame = fc.oneof(
  // truncations of real frames
  fc.tuple(fc.constantFrom(...lines), fc.nat()).map(([l, n]) => l.slice(0, n % l.length)),
  // one character replaced / inserted / deleted
  fc.tuple(fc.constantFrom(...lines), fc.nat(), fc.constantFrom(...'{}[]",:0123456789.-eE tfn\\x')).map(([l, n, c]) => {
    const i = n % l.length;
    return n % 3 === 0 ? l.slice(0, i) + c + l.slice(i + 1) : n % 3 === 1 ? l.slice(0, i) + c + l.slice(i) : l.slice(0, i) + l.slice(i + 1);
  }),
  // random text
  fc.string({ maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
);

test('fuzz: 100,000 malformed or truncated frames never throw; every invalid one is an error', () => {
  const replay = createKrakenReplaySession({ publishLevels: 10 });
  const live = createKrakenFeedSession({ feed: 'book', instruments: ['ETH/USD'], bookDepth: 10, publishLevels: 10 });
  let invalid = 0;
  fc.assert(
    fc.property(frame, (text) => {
      for (const s of [replay, live]) {
        const r = s.onFrame({ text, receivedAtUs: 1 });
        assert.ok(Array.isArray(r.records) && Array.isArray(r.errors));
        if (!isJson(text)) assert.ok(r.errors.length >= 1, `not counted: ${text.slice(0, 80)}`);
        for (const e of r.errors) assert.ok(e.sample.length <= 200);
      }
      if (!isJson(text)) invalid++;
    }),
    { numRuns: 50_000, seed: 42 },
  );
  // and 50,000 more on a second property run with another seed
  fc.assert(
    fc.property(frame, (text) => {
      const r = replay.onFrame({ text, receivedAtUs: 1 });
      if (!isJson(text)) {
        invalid++;
        assert.ok(r.errors.length >= 1);
      }
    }),
    { numRuns: 50_000, seed: 7 },
  );
  assert.ok(invalid > 50_000, `only ${invalid} invalid frames generated`);
});

test('schema-invalid JSON becomes typed errors', () => {
  const s = createKrakenReplaySession({ publishLevels: 10 });
  const cases: [string, string][] = [
    ['{"channel":"book","type":"update","data":[{"symbol":5}]}', 'schema'],
    ['{"channel":"book","type":"update","data":[{"symbol":"X","bids":[{"price":"1.0","qty":1}]}]}', 'schema'],
    ['{"channel":"nonsense","data":[]}', 'unknown_channel'],
    ['[1,{"x":1},"book-10","XBT/USD"]', 'schema'],
    ['[1,{"a":[["1.0","2.0","1.0"]]},"spread","XBT/USD"]', 'unknown_channel'],
    ['{"event":"weird"}', 'unknown_channel'],
    ['42', 'schema'],
    ['{"method":"subscribe","success":false,"error":"Currency pair not supported","symbol":"FOO/BAR"}', 'venue_error'],
  ];
  for (const [text, code] of cases) assert.equal(s.onFrame({ text, receivedAtUs: 1 }).errors[0]?.code, code, text);
});

test('live session: onOpen subscribes; checksum mismatch -> gap, reset, unsubscribe+subscribe that symbol only', () => {
  const s = createKrakenFeedSession({ feed: 'book', instruments: ['ETH/USD', 'BTC/USD'], bookDepth: 10, publishLevels: 2 });
  const open = s.onOpen(0).map((m) => JSON.parse(m) as { method: string; params: { channel: string; symbol?: string[]; depth?: number } });
  assert.deepEqual(
    open.map((m) => [m.method, m.params.channel, m.params.symbol, m.params.depth]),
    [
      ['subscribe', 'instrument', undefined, undefined],
      ['subscribe', 'book', ['ETH/USD', 'BTC/USD'], 10],
    ],
  );
  const [, snap, upd] = readFileSync(DIR + 'v2_book_ethusd_depth10_2025-05-06.jsonl', 'utf8').split('\n') as [string, string, string];
  s.onFrame({
    text: '{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":[{"symbol":"ETH/USD","price_precision":2,"qty_precision":8}]}}',
    receivedAtUs: 1,
  });
  const a = s.onFrame({ text: snap, receivedAtUs: 10 });
  assert.equal(a.records[0]?.kind === 'depth' && a.records[0].checksum_ok, true);
  assert.equal(a.records[0]?.kind === 'depth' && a.records[0].bids.length, 2);
  const bad = upd.replace('3329440863', '1');
  const b = s.onFrame({ text: bad, receivedAtUs: 20 });
  assert.deepEqual(
    b.records.map((r) => [r.kind, r.kind === 'depth' ? r.checksum_ok : r.kind === 'gap' ? r.reason : null]),
    [
      ['depth', false],
      ['gap', 'checksum'],
    ],
  );
  const gap = b.records[1];
  assert.ok(gap?.kind === 'gap' && gap.gap_start_us === 10 && gap.gap_end_us === 20);
  assert.equal(b.counters?.checksum_failures, 1);
  assert.deepEqual(
    b.send.map((m) => JSON.parse(m) as { method: string; params: unknown }).map((m) => [m.method, m.params]),
    [
      ['unsubscribe', { channel: 'book', symbol: ['ETH/USD'], depth: 10 }],
      ['subscribe', { channel: 'book', symbol: ['ETH/USD'], depth: 10, snapshot: true }],
    ],
  );
  // updates before the new snapshot are ignored; the snapshot verifies again
  assert.equal(s.onFrame({ text: upd, receivedAtUs: 30 }).records.length, 0);
  const c = s.onFrame({ text: snap, receivedAtUs: 40 });
  assert.equal(c.records[0]?.kind === 'depth' && c.records[0].checksum_ok, true);
  assert.equal(s.onFrame({ text: upd, receivedAtUs: 50 }).records[0]?.kind === 'depth', true);
});

test('trades are deduplicated on (symbol, trade_id) across reset(), in a bounded window', () => {
  const s = createKrakenFeedSession({ feed: 'trade', instruments: ['MATIC/USD'], bookDepth: 10, publishLevels: 10 });
  const [trade] = readFileSync(DIR + 'v2_docs_examples_trade_heartbeat.jsonl', 'utf8').split('\n') as [string];
  assert.equal(s.onFrame({ text: trade, receivedAtUs: 1 }).records.length, 2);
  s.reset();
  assert.equal(s.onFrame({ text: trade, receivedAtUs: 2 }).records.length, 0);
  const later = trade.replaceAll('46658', '99998');
  assert.equal(s.onFrame({ text: later, receivedAtUs: 3 }).records.length, 2);
  const small = createKrakenReplaySession({ publishLevels: 1 });
  const mk = (id: number) =>
    `{"channel":"trade","type":"update","data":[{"symbol":"X/Y","side":"sell","price":1.0,"qty":2.0,"ord_type":"market","trade_id":${id},"timestamp":"2023-09-25T07:48:36.925533Z"}]}`;
  for (let i = 0; i < 3000; i++) small.onFrame({ text: mk(i), receivedAtUs: i });
  assert.equal(small.onFrame({ text: mk(0), receivedAtUs: 0 }).records.length, 1, 'id 0 fell out of the 2000-id window');
  assert.equal(small.onFrame({ text: mk(2999), receivedAtUs: 0 }).records.length, 0);
});

test('status, heartbeat and pong; connection_id kept as text', () => {
  const s = createKrakenReplaySession({ publishLevels: 10 });
  const r = s.onFrame({
    text: '{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":17843232920108168701,"system":"online","version":"2.0.10"}]}',
    receivedAtUs: 5,
  });
  assert.equal(r.records[0]?.kind, 'status');
  assert.ok(r.records[0]?.kind === 'status' && r.records[0].status === 'online' && r.records[0].detail.includes('17843232920108168701'));
  assert.equal(r.counters?.status_messages, 1);
  assert.equal(s.onFrame({ text: '{"channel":"heartbeat"}', receivedAtUs: 6 }).counters?.venue_heartbeats, 1);
  const p = s.onFrame({
    text: '{"method":"pong","req_id":3,"time_in":"2023-09-25T07:48:36.925533Z","time_out":"2023-09-25T07:48:36.925533Z"}',
    receivedAtUs: 7,
  });
  assert.deepEqual([p.records.length, p.errors.length], [0, 0]);
});
