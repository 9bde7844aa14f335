/**
 * OANDA session: golden replay of every recorded fixture, chunk-boundary cuts at every byte offset,
 * and a 100,000-line fuzz. Regenerate goldens with UPDATE_GOLDEN=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { Draft, TickRecord } from '../../core/records.js';
import type { FeedSession, FrameError } from '../connector.js';
import { loadRecording } from '../recording.js';
import { createLineSplitter, oversizeFrameText } from './lines.js';
import { createOandaReplaySession, createOandaSession } from './session.js';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/recorded/oanda/', import.meta.url));
const GOLDEN = fileURLToPath(new URL('../../../test/golden/oanda/', import.meta.url));
const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.jsonl'))
  .sort();

interface Replay {
  fixture: string;
  records: Draft[];
  errors: FrameError[];
  counters: Record<string, number>;
}

function replay(session: FeedSession, frames: { text: string; receivedAtUs: number }[], fixture: string): Replay {
  const out: Replay = { fixture, records: [], errors: [], counters: {} };
  for (const f of frames) {
    const r = session.onFrame(f);
    out.records.push(...r.records);
    out.errors.push(...r.errors);
    assert.deepEqual(r.send, []);
    assert.equal(r.reconnect, undefined);
    for (const [k, n] of Object.entries(r.counters ?? {})) out.counters[k] = (out.counters[k] ?? 0) + (n ?? 0);
  }
  return out;
}

test('the fixture directory holds the three known recordings', () => {
  assert.ok(fixtures.length >= 3, `found ${fixtures.join(', ')}`);
});

for (const fixture of fixtures) {
  test(`golden: ${fixture}`, () => {
    const got = replay(createOandaReplaySession(), loadRecording(FIXTURES + fixture, 1_700_000_000_000_000), fixture);
    const goldenPath = GOLDEN + fixture.replace(/\.jsonl$/, '.json');
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(goldenPath)) {
      if (process.env.UPDATE_GOLDEN !== '1') assert.fail(`missing golden ${goldenPath}: run with UPDATE_GOLDEN=1`);
      writeFileSync(goldenPath, JSON.stringify(got, null, 2) + '\n');
    }
    assert.deepEqual(got, JSON.parse(readFileSync(goldenPath, 'utf8')));

    // Shape checks independent of the golden file.
    assert.equal(got.errors.length, 0);
    const ticks = got.records as Draft<TickRecord>[];
    assert.ok(ticks.length > 0);
    for (const t of ticks) {
      assert.equal(t.kind, 'tick');
      assert.equal(t.venue, 'oanda');
      assert.match(t.instrument, /^[A-Z]{3}_[A-Z]{3}$/);
      assert.match(t.bid ?? '', /^\d+\.\d+$/);
      assert.match(t.ask ?? '', /^\d+\.\d+$/);
      assert.ok(Number(t.bid) < Number(t.ask), 'best bid below best ask');
      assert.match(t.bid_qty ?? '', /^\d+$/);
      assert.equal(t.last, null);
      assert.equal(t.volume, null);
      assert.equal(typeof t.tradeable, 'boolean');
      assert.ok(t.ts_event_us > 1_400_000_000_000_000 && Number.isInteger(t.ts_event_us));
    }
    if (fixture.includes('weekend')) {
      assert.deepEqual(
        ticks.map((t) => t.tradeable),
        [false],
      );
    } else assert.ok(ticks.every((t) => t.tradeable));
  });
}

test('2016 fixture: best levels, heartbeat counted, nanosecond time to µs', () => {
  const f = fixtures.find((x) => x.includes('2016'));
  assert.ok(f);
  const r = replay(createOandaReplaySession(), loadRecording(FIXTURES + f), f);
  assert.equal(r.counters.venue_heartbeats, 1);
  const first = r.records[0] as Draft<TickRecord>;
  assert.deepEqual(
    [first.instrument, first.bid, first.bid_qty, first.ask, first.ask_qty],
    ['EUR_JPY', '114.295', '1000000', '114.312', '1000000'],
  );
  assert.equal(first.ts_event_us, Date.UTC(2016, 9, 27, 8, 38, 43) * 1000 + 94548);
});

test('chunk boundaries: each fixture cut at every byte offset (and in three pieces) gives the same records', () => {
  for (const fixture of fixtures) {
    const bytes = readFileSync(FIXTURES + fixture);
    const whole = replay(createOandaReplaySession(), linesOf([bytes]), fixture).records;
    for (let cut = 0; cut <= bytes.length; cut++) {
      const got = replay(createOandaReplaySession(), linesOf([bytes.subarray(0, cut), bytes.subarray(cut)]), fixture).records;
      assert.deepEqual(got, whole, `${fixture} cut at ${cut}`);
    }
    for (let a = 0; a <= bytes.length; a += 7) {
      const b = Math.min(bytes.length, a + 1 + ((a * 31) % 97));
      const got = replay(
        createOandaReplaySession(),
        linesOf([bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)]),
        fixture,
      ).records;
      assert.deepEqual(got, whole, `${fixture} cut at ${a},${b}`);
    }
  }
});

/** Chunks -> frames the way wire.ts does it (receive time fixed so records compare equal). */
function linesOf(chunks: Uint8Array[]) {
  const s = createLineSplitter();
  const frames: { text: string; receivedAtUs: number }[] = [];
  for (const c of chunks)
    for (const i of s.push(c)) frames.push({ text: 'line' in i ? i.line : oversizeFrameText(i.oversize), receivedAtUs: 1 });
  return frames;
}

test('an oversize line reaching the session is one line_too_long error', () => {
  const s = createOandaSession({ instruments: ['EUR_USD'] });
  const r = s.onFrame({ text: oversizeFrameText({ bytes: 5_000_000, sample: '{"type":"PRICE"' }), receivedAtUs: 1 });
  assert.deepEqual(r.records, []);
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0]?.code, 'line_too_long');
  assert.match(r.errors[0]?.message ?? '', /5000000-byte/);
  assert.equal(r.errors[0]?.sample, '{"type":"PRICE"');
  assert.deepEqual(s.onOpen(0), [], 'HTTP stream: nothing to send on open');
});

test('fuzz: 100,000 malformed or truncated lines are each one error, and the session keeps working', () => {
  const valid = fixtures.flatMap((f) =>
    readFileSync(FIXTURES + f, 'utf8')
      .split('\n')
      .filter(Boolean),
  );
  const session = createOandaSession({ instruments: ['EUR_USD'] });
  let runs = 0;
  let errors = 0;
  const check = (line: string) => {
    runs++;
    const r = session.onFrame({ text: line, receivedAtUs: 1 });
    assert.equal(r.records.length, 0, `no record from ${JSON.stringify(line.slice(0, 80))}`);
    assert.equal(r.errors.length, 1, `one error for ${JSON.stringify(line.slice(0, 80))}`);
    assert.ok(r.errors[0]!.sample.length <= 200);
    errors += r.errors.length;
  };
  const nonBlank = (s: string) => s.trim().length > 0;
  // Truncations of real lines (every proper prefix is invalid JSON).
  const truncated = fc
    .tuple(fc.constantFrom(...valid), fc.nat())
    .map(([l, n]) => l.slice(0, n % l.length))
    .filter(nonBlank);
  // Real lines with one byte replaced by a structural character.
  const mutated = fc
    .tuple(fc.constantFrom(...valid), fc.nat(), fc.constantFrom('{', '}', '[', ']', '"', ',', ':', '\\'))
    .map(([l, n, c]) => l.slice(0, n % l.length) + c + l.slice((n % l.length) + 1))
    .filter((l) => {
      try {
        JSON.parse(l);
        return false; // still valid JSON: not malformed
      } catch {
        return true;
      }
    });
  // Random text, and JSON values of the wrong shape.
  const junk = fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }).filter(nonBlank);
  const wrongShape = fc
    .oneof(
      fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
      fc.record({ type: fc.constantFrom('PRICE', 'HEARTBEAT') }, { requiredKeys: [] }).chain((base) =>
        fc.record({
          type: fc.constant(base.type),
          time: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
          bids: fc.oneof(fc.string(), fc.array(fc.record({ price: fc.double(), liquidity: fc.string() }), { minLength: 1 })),
        }),
      ),
    )
    .map((v) => JSON.stringify(v));
  const line = fc.oneof(truncated, mutated, junk, wrongShape);
  fc.assert(
    fc.property(line, (l) => check(l)),
    { numRuns: 100_000, seed: 20240601 },
  );
  assert.equal(runs, 100_000);
  assert.equal(errors, 100_000);
  // Still running: a valid line after all that yields its record.
  const ok = session.onFrame({ text: valid.find((l) => l.includes('"type":"PRICE"'))!, receivedAtUs: 1 });
  assert.equal(ok.records.length, 1);
  assert.equal(ok.errors.length, 0);
});
