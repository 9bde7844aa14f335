// Golden replay: every recorded Betfair fixture through the replay session; the normalised output is
// checked in under test/golden/betfair/<fixture>.json. UPDATE_GOLDEN=1 regenerates.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import type { Draft, MarketRecord, RunnerRecord } from '../../core/records.js';
import type { FrameError } from '../connector.js';
import { loadRecording } from '../recording.js';
import { createBetfairReplaySession } from './session.js';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/recorded/betfair/', import.meta.url));
const GOLDEN = fileURLToPath(new URL('../../../test/golden/betfair/', import.meta.url));
const MAX_GOLDEN_BYTES = 2 * 1024 * 1024;
const DEPTH = 3;

function replay(name: string, depth = DEPTH): { records: Draft[]; errors: FrameError[]; frames: number } {
  const session = createBetfairReplaySession({ depth });
  const records: Draft[] = [];
  const errors: FrameError[] = [];
  const frames = loadRecording(FIXTURES + name);
  for (const fr of frames) {
    const r = session.onFrame(fr);
    records.push(...r.records);
    errors.push(...r.errors);
    assert.deepEqual(r.send, [], 'a replay never sends');
  }
  return { records, errors, frames: frames.length };
}

function golden(name: string, out: ReturnType<typeof replay>): Record<string, unknown> {
  const counts: Record<string, number> = {};
  for (const r of out.records) counts[r.kind] = (counts[r.kind] ?? 0) + 1;
  const full = { fixture: name, depth: DEPTH, frames: out.frames, counts, errors: out.errors, records: out.records };
  if (JSON.stringify(full, null, 1).length <= MAX_GOLDEN_BYTES) return full;
  const digest = createHash('sha256').update(JSON.stringify(out.records)).digest('hex');
  return {
    fixture: name,
    depth: DEPTH,
    frames: out.frames,
    counts,
    errors: out.errors,
    records_sha256: digest,
    first_records: out.records.slice(0, 200),
  };
}

const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.jsonl'))
  .sort();

describe('betfair golden replay', () => {
  test('fixtures are present', () => assert.ok(fixtures.length >= 8, `found ${fixtures.length} in ${FIXTURES}`));

  for (const name of fixtures) {
    test(name, () => {
      const out = replay(name);
      assert.deepEqual(out.errors, [], 'recorded venue data parses cleanly');
      const file = `${GOLDEN}${name.replace(/\.jsonl$/, '')}.json`;
      const actual = golden(name, out);
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
        if (process.env.UPDATE_GOLDEN !== '1') assert.fail(`missing golden file ${file}: run with UPDATE_GOLDEN=1`);
        mkdirSync(GOLDEN, { recursive: true });
        writeFileSync(file, `${JSON.stringify(actual, null, 1)}\n`);
      }
      assert.deepEqual(actual, JSON.parse(readFileSync(file, 'utf8')));
    });
  }
});

const runners = (rs: Draft[]) => rs.filter((r): r is Draft<RunnerRecord> => r.kind === 'runner');

describe('betfair replay: hand-checked values', () => {
  test('full-depth image: best 3 back/lay per runner from unordered atb/atl, exact lexemes', () => {
    const rs = runners(replay('esa_full_depth_session_1.180770798_2021-04-01.jsonl').records);
    const first = rs[0]!;
    assert.deepEqual(
      [first.market_id, first.selection_id, first.hc, first.snapshot, first.ts_event_us],
      ['1.180770798', 13834991, 0, true, 1617253902641000],
    );
    assert.deepEqual(first.back, [
      ['1.18', '151.96'],
      ['1.17', '1275.83'],
      ['1.16', '932.64'],
    ]);
    assert.deepEqual(first.lay, [
      ['1.19', '147.79'],
      ['1.2', '156.74'],
      ['1.21', '76.38'],
    ]);
    assert.equal(first.clk, 'AAAAAAAA');
    const second = rs[1]!;
    assert.equal(second.selection_id, 3120169);
    assert.deepEqual(second.back, [
      ['6.4', '27'],
      ['6.2', '35.22'],
      ['6', '96.68'],
    ]);
    assert.deepEqual(second.lay, [
      ['6.6', '29.21'],
      ['6.8', '39.71'],
      ['7', '12.86'],
    ]);
  });

  test('size-0 removal: after "atb":[...,[1.18,0]] the 1.18 level is gone', () => {
    const name = 'esa_full_depth_session_1.180770798_2021-04-01.jsonl';
    const lines = readFileSync(FIXTURES + name, 'utf8').split('\n');
    const idx = lines.findIndex((l) => l.includes('[1.18,0]'));
    assert.ok(idx > 0);
    const session = createBetfairReplaySession({ depth: 3 });
    let last: Draft[] = [];
    let before: Draft[] = [];
    for (const [i, fr] of loadRecording(FIXTURES + name).entries()) {
      const r = session.onFrame(fr).records;
      if (i < idx && r.some((x) => x.kind === 'runner' && x.selection_id === 13834991)) before = r;
      if (i === idx) last = r;
    }
    const was = runners(before).find((r) => r.selection_id === 13834991)!;
    const now = runners(last).find((r) => r.selection_id === 13834991)!;
    assert.equal(was.back[0]![0], '1.18');
    assert.ok(!now.back.some(([p]) => p === '1.18'), JSON.stringify(now.back));
    assert.equal(session.cache.market('1.180770798')!.runners.get('13834991:0')!.atb!.get('1.18'), undefined);
  });

  test('socket log: status records, heartbeats, delta on a runner with hc:0 and no image', () => {
    const out = replay('esa_connect_status_heartbeats_2021-06-29.jsonl');
    assert.deepEqual(
      out.records.map((r) => (r.kind === 'status' ? r.status : r.kind)),
      ['connected', 'SUCCESS', 'SUCCESS', 'runner'],
    );
    const r = runners(out.records)[0]!;
    assert.deepEqual(
      [r.instrument, r.back, r.lay, r.clk, r.ts_recv_us],
      ['1.179082386:50214:0', [], [], 'AKUHAJgDAIkD', Date.UTC(2021, 5, 29, 6, 3, 14, 528) * 1000],
    );
  });

  test('137-market display image: a market record per definition, level ladders, markets without definition', () => {
    const out = replay('esa_sub_image_best_display_137_markets_2020-02-19.jsonl');
    const markets = out.records.filter((r): r is Draft<MarketRecord> => r.kind === 'market');
    assert.equal(markets.length, 135);
    const ids = new Set(runners(out.records).map((r) => r.market_id));
    assert.equal(ids.size, 137);
    for (const r of runners(out.records)) {
      for (let i = 1; i < r.back.length; i++) assert.ok(Number(r.back[i - 1]![0]) >= Number(r.back[i]![0]));
      for (const [, size] of [...r.back, ...r.lay]) assert.notEqual(Number(size), 0, 'zero-size image entries are not levels');
    }
  });

  test('recorder files (no id/ct/initialClk): definitions tracked, CLOSED market pruned', () => {
    const out = replay('recorder_full_depth_and_best_display_1.197931750_2022-04-19.jsonl');
    const markets = out.records.filter((r): r is Draft<MarketRecord> => r.kind === 'market');
    assert.deepEqual(
      markets.map((m) => [m.status, m.in_play, m.version]),
      [
        ['OPEN', false, 4495990919],
        ['SUSPENDED', false, 4497298499],
        ['CLOSED', false, 4497303953],
      ],
    );
    assert.equal(markets.at(-1)!.status, 'CLOSED');
    assert.equal(markets.at(-1)!.tv, '25102.51');
    const s = createBetfairReplaySession();
    for (const fr of loadRecording(FIXTURES + 'recorder_full_depth_and_best_display_1.197931750_2022-04-19.jsonl')) s.onFrame(fr);
    assert.equal(s.cache.marketCount, 0, 'closed market pruned from the cache');
    // both atb/atl and bdatb/bdatl arrive: records use full depth (bdatb level 1 says 8.6/8.82, virtual)
    const first = runners(out.records)[0]!;
    assert.deepEqual(
      [first.instrument, first.back],
      [
        '1.197931750:42930960:0',
        [
          ['8.8', '18.62'],
          ['8.6', '4.83'],
          ['8.4', '12.66'],
        ],
      ],
    );
  });

  test('segmented messages (synthesised from the 137-market image) give the same records as the whole', () => {
    const name = 'esa_sub_image_best_display_137_markets_2020-02-19.jsonl';
    const whole = JSON.parse(readFileSync(FIXTURES + name, 'utf8').trim()) as { mc: unknown[]; clk: string } & Record<string, unknown>;
    const { mc, clk, ...rest } = whole;
    const parts: string[] = [];
    for (let i = 0; i < mc.length; i += 40) {
      const segmentType = i === 0 ? 'SEG_START' : i + 40 >= mc.length ? 'SEG_END' : 'SEG';
      parts.push(JSON.stringify({ ...rest, ...(segmentType === 'SEG_END' ? { clk } : {}), segmentType, mc: mc.slice(i, i + 40) }));
    }
    assert.equal(parts.length, 4);
    const s = createBetfairReplaySession({ depth: DEPTH });
    const got: Draft[] = [];
    parts.forEach((text, i) => {
      const r = s.onFrame({ text, receivedAtUs: 0 });
      assert.deepEqual(r.errors, []);
      if (i < parts.length - 1) assert.equal(r.records.length, 0, 'nothing before SEG_END');
      got.push(...r.records);
    });
    assert.deepEqual(got, replay(name).records);
  });
});
