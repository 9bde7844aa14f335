/**
 * Golden tests: every recorded Kraken fixture (../shared/fixtures/recorded/kraken/) is replayed
 * through the replay session and compared with the checked-in normalised output under
 * test/golden/kraken/<fixture>.json.
 *
 * Regenerate after an intended change:  UPDATE_GOLDEN=1 node --import tsx --test src/venues/kraken/golden.test.ts
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Draft } from '../../core/records.js';
import type { FeedCounter, FrameError } from '../connector.js';
import { loadRecording } from '../recording.js';
import { createKrakenReplaySession } from './session.js';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/recorded/kraken/', import.meta.url));
const GOLDEN = fileURLToPath(new URL('../../../test/golden/kraken/', import.meta.url));
const PUBLISH_LEVELS = 10;
const UPDATE = process.env.UPDATE_GOLDEN === '1';

interface Replay {
  records: Draft[];
  errors: FrameError[];
  counters: Partial<Record<FeedCounter, number>>;
}

function replay(file: string): Replay {
  const session = createKrakenReplaySession({ publishLevels: PUBLISH_LEVELS });
  const out: Replay = { records: [], errors: [], counters: {} };
  for (const f of loadRecording(FIXTURES + file)) {
    const r = session.onFrame(f);
    out.records.push(...r.records);
    out.errors.push(...r.errors);
    for (const [k, v] of Object.entries(r.counters ?? {})) out.counters[k as FeedCounter] = (out.counters[k as FeedCounter] ?? 0) + v;
  }
  return out;
}

/** One record per line: diffs stay readable. */
function render(file: string, r: Replay): string {
  const head = JSON.stringify({ fixture: file, publishLevels: PUBLISH_LEVELS, counters: r.counters, errors: r.errors });
  return `{"meta":${head},\n"records":[\n${r.records.map((x) => JSON.stringify(x)).join(',\n')}\n]}\n`;
}

const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.jsonl'))
  .sort();

test('fixtures are present', () => {
  assert.ok(fixtures.length >= 6, `found ${fixtures.length} kraken fixtures in ${FIXTURES}`);
});

for (const file of fixtures) {
  test(`golden: ${file}`, () => {
    const r = replay(file);
    const text = render(file, r);
    const golden = `${GOLDEN}${file.replace(/\.jsonl$/, '')}.json`;
    if (UPDATE) {
      mkdirSync(GOLDEN, { recursive: true });
      writeFileSync(golden, text);
    }
    assert.ok(existsSync(golden), `missing ${golden}; generate it with UPDATE_GOLDEN=1`);
    assert.equal(r.errors.length, 0);
    assert.deepEqual(JSON.parse(text), JSON.parse(readFileSync(golden, 'utf8')));
  });
}

const depths = (r: Replay) => r.records.filter((x) => x.kind === 'depth');

test('v1 book: 2458 updates, every checksum verifies, depth-record shape', () => {
  const r = replay('v1_book1000_10pairs_2021-04-17.jsonl');
  const d = depths(r);
  const updates = d.filter((x) => !x.snapshot);
  assert.equal(updates.length, 2458);
  assert.equal(d.filter((x) => x.snapshot).length, 10);
  assert.ok(updates.every((x) => x.checksum !== null && x.checksum_ok));
  assert.equal(r.counters.checksum_failures, undefined);
  for (const x of d) {
    assert.ok(x.instrument.includes('/'));
    assert.ok(x.bids.length <= PUBLISH_LEVELS && x.asks.length <= PUBLISH_LEVELS);
    for (let i = 1; i < x.bids.length; i++) assert.ok(Number(x.bids[i - 1]?.[0]) > Number(x.bids[i]?.[0]), 'bids best first');
    for (let i = 1; i < x.asks.length; i++) assert.ok(Number(x.asks[i - 1]?.[0]) < Number(x.asks[i]?.[0]), 'asks best first');
  }
  // the update carrying both an `a` and a `b` object (line 1428) applied both sides
  const both = d.find((x) => x.instrument === 'SC/EUR' && x.checksum === 4105471083);
  assert.ok(both?.checksum_ok);
  // decimal text exactly as sent (v1 strings keep the pair's decimals)
  assert.equal(d.find((x) => x.instrument === 'XBT/CHF' && x.snapshot)?.asks[0]?.[0], '56218.30000');
});

test('v2 book checksums 2606672715, 3329440863 and 3310070434 verify', () => {
  const a = depths(replay('v2_book_ethusd_depth10_2025-05-06.jsonl'));
  const b = depths(replay('v2_book_snapshot_docs_checksum_example.jsonl'));
  assert.deepEqual(
    [...a, ...b].map((x) => [x.checksum, x.checksum_ok]),
    [
      [2606672715, true],
      [3329440863, true],
      [3310070434, true],
    ],
  );
  const upd = a[1];
  assert.equal(upd?.instrument, 'ETH/USD');
  assert.deepEqual(upd?.asks.at(-1), ['1797.52', '1.56601318']);
  assert.ok(!upd?.asks.some((l) => l[0] === '1797.29'), 'qty 0 deleted the level');
  assert.deepEqual(a[0]?.asks[3], ['1797.30', '139.09783403'], 'trailing zeros kept');
  assert.equal(upd?.ts_event_us, Date.UTC(2025, 4, 6, 9, 17, 26) * 1000 + 208075);
});

test('ticker and trade shapes', () => {
  const ticks = replay('v1_ticker_10pairs_2021-04-17.jsonl').records.filter((x) => x.kind === 'tick');
  assert.equal(ticks.length, 18);
  const t = ticks.find((x) => x.instrument === 'XMR/USD');
  assert.deepEqual(t && [t.bid, t.bid_qty, t.ask, t.ask_qty, t.last, t.volume], [
    '354.32000000',
    '6.87748868',
    '355.24000000',
    '27.19106411',
    '355.23000000',
    '33470.74135600',
  ]);
  const v2 = replay('v2_docs_examples_trade_heartbeat.jsonl');
  const trades = v2.records.filter((x) => x.kind === 'trade');
  assert.deepEqual(
    trades.map((x) => [x.instrument, x.price, x.qty, x.side, x.trade_id, x.ord_type, x.snapshot]),
    [
      ['MATIC/USD', '0.5147', '6423.46326', 'buy', '4665846', 'limit', true],
      ['MATIC/USD', '0.5147', '1136.19677815', 'buy', '4665847', 'limit', true],
    ],
  );
  assert.equal(v2.counters.venue_heartbeats, 1);
  const v1 = replay('v1_trade_10pairs_2021-04-17.jsonl').records.filter((x) => x.kind === 'trade');
  assert.ok(v1.length >= 8);
  assert.ok(v1.every((x) => x.trade_id === '' && (x.side === 'buy' || x.side === 'sell')));
  const status = replay('v1_book1000_10pairs_2021-04-17.jsonl').records.find((x) => x.kind === 'status');
  assert.match(status?.kind === 'status' ? status.detail : '', /connection_id=17843232920108168701/);
});
