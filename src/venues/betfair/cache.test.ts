import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BetfairCache, PriceLadder, SegmentJoiner } from './cache.js';
import type { ChangeMessage } from './parse.js';
import { parseBetfairMessage } from './parse.js';

function mcm(text: string): ChangeMessage {
  const m = parseBetfairMessage(text);
  assert.equal(m.kind, 'mcm', text);
  return m as ChangeMessage;
}
const delta = (mc: string, extra = '') => mcm(`{"op":"mcm","id":1,"clk":"c","pt":1${extra},"mc":[${mc}]}`);

test('price ladder: set, replace, size 0 removes, order independent, exact text kept', () => {
  const l = new PriceLadder();
  for (const [p, s] of [
    ['1.17', '1273.28'],
    ['1.05', '19510.98'],
    ['1.1', '9064.2'],
    ['1.18', '5'],
  ] as const)
    l.set(p, s);
  l.set('1.18', '0');
  l.set('1.10', '10.50'); // same price, other lexeme: replaces
  l.set('2', '0'); // removing an absent price is a no-op
  assert.deepEqual(l.topDescending(2), [
    ['1.17', '1273.28'],
    ['1.10', '10.50'],
  ]);
  assert.deepEqual(l.topAscending(5), [
    ['1.05', '19510.98'],
    ['1.10', '10.50'],
    ['1.17', '1273.28'],
  ]);
});

test('level ladder: the batl walk-through from the docs (venues.md §3.4)', () => {
  const c = new BetfairCache();
  const step = (batl: string) => c.apply(delta(`{"id":"1.1","rc":[{"id":5,"batl":${batl}}]}`));
  const lay = () => c.market('1.1')!.runners.get('5:0')!.batl!.top(10);
  step('[[0,1.4,2],[1,0,0],[2,0,0],[3,0,0],[4,0,0],[5,0,0],[6,0,0],[7,0,0],[8,0,0],[9,0,0]]');
  assert.deepEqual(lay(), [['1.4', '2']]);
  step('[[1,1.5,2]]');
  assert.deepEqual(lay(), [
    ['1.4', '2'],
    ['1.5', '2'],
  ]);
  step('[[2,1.5,2],[1,1.4,2],[0,1.3,2]]');
  assert.deepEqual(lay(), [
    ['1.3', '2'],
    ['1.4', '2'],
    ['1.5', '2'],
  ]);
  step('[[2,0,0],[1,1.5,2],[0,1.4,2]]');
  assert.deepEqual(lay(), [
    ['1.4', '2'],
    ['1.5', '2'],
  ]);
  step('[]'); // changed outside ladderLevels: nothing to apply
  assert.deepEqual(lay(), [
    ['1.4', '2'],
    ['1.5', '2'],
  ]);
  step('[[1,0,0],[0,0,0]]');
  assert.deepEqual(lay(), []);
});

test('img replaces one market (runners not mentioned are gone); SUB_IMAGE clears all, even mid-session', () => {
  const c = new BetfairCache();
  c.apply(
    delta('{"id":"1.1","img":true,"rc":[{"id":1,"atb":[[2,5]]},{"id":2,"atb":[[3,5]]}]},{"id":"1.2","img":true,"rc":[{"id":9,"ltp":4}]}'),
  );
  assert.equal(c.market('1.1')!.runners.size, 2);
  c.apply(delta('{"id":"1.1","img":true,"rc":[{"id":1,"atl":[[2.5,1]]}]}'));
  assert.deepEqual([...c.market('1.1')!.runners.keys()], ['1:0']);
  assert.equal(c.market('1.1')!.runners.get('1:0')!.atb, undefined);
  assert.ok(c.market('1.2'));
  c.apply(mcm('{"op":"mcm","id":1,"ct":"SUB_IMAGE","initialClk":"i2","clk":"k2","pt":5,"mc":[{"id":"1.3","img":true,"rc":[]}]}'));
  assert.deepEqual(c.marketIds(), ['1.3']);
  assert.deepEqual({ i: c.initialClk, k: c.clk }, { i: 'i2', k: 'k2' });
  c.clear();
  assert.equal(c.marketCount, 0);
  assert.deepEqual({ i: c.initialClk, k: c.clk }, { i: 'i2', k: 'k2' }, 'clocks survive clear()');
});

test('runners keyed by selection id and handicap', () => {
  const c = new BetfairCache();
  c.apply(delta('{"id":"1.1","rc":[{"id":7,"hc":-0.25,"ltp":2},{"id":7,"hc":0.25,"ltp":3},{"id":7,"ltp":4}]}'));
  assert.deepEqual([...c.market('1.1')!.runners.keys()], ['7:-0.25', '7:0.25', '7:0']);
});

test('CLOSED market is pruned after its change; image keeps the copy with the higher version', () => {
  const c = new BetfairCache();
  const def = (status: string, version: number) =>
    `{"status":"${status}","inPlay":false,"version":${version},"runners":[{"id":1,"status":"ACTIVE"}]}`;
  const out = c.apply(
    delta(
      `{"id":"1.1","img":true,"marketDefinition":${def('OPEN', 5)},"rc":[{"id":1,"ltp":2}]},{"id":"1.1","img":true,"marketDefinition":${def('OPEN', 4)},"rc":[{"id":1,"ltp":9}]}`,
    ),
  );
  assert.equal(out.length, 1);
  assert.equal(c.market('1.1')!.runners.get('1:0')!.ltp, '2');
  const closed = c.apply(delta(`{"id":"1.1","marketDefinition":${def('CLOSED', 6)}}`));
  assert.equal(closed[0]!.closed, true);
  assert.equal(closed[0]!.market.definition!.status, 'CLOSED');
  assert.equal(c.marketCount, 0);
});

test('segments are joined: ct/initialClk from SEG_START, clk from SEG_END, errors on bad order', () => {
  const j = new SegmentJoiner();
  const seg = (t: string, extra: string, mc: string) => mcm(`{"op":"mcm","id":1,"pt":1,"segmentType":"${t}"${extra},"mc":[${mc}]}`);
  assert.deepEqual(j.push(seg('SEG_START', ',"ct":"SUB_IMAGE","initialClk":"I"', '{"id":"1.1","img":true}')), {
    message: null,
    error: null,
  });
  assert.deepEqual(j.push(seg('SEG', '', '{"id":"1.2","img":true}')), { message: null, error: null });
  const r = j.push(seg('SEG_END', ',"clk":"K"', '{"id":"1.3","img":true}'));
  assert.equal(r.error, null);
  assert.deepEqual(
    r.message!.mc.map((m) => m.id),
    ['1.1', '1.2', '1.3'],
  );
  assert.deepEqual([r.message!.ct, r.message!.initialClk, r.message!.clk, r.message!.segmentType], ['SUB_IMAGE', 'I', 'K', null]);
  assert.match(j.push(seg('SEG_END', '', '')).error ?? '', /without SEG_START/);
  j.push(seg('SEG_START', '', ''));
  const interrupted = j.push(delta('{"id":"1.9"}'));
  assert.match(interrupted.error ?? '', /interrupted/);
  assert.equal(interrupted.message!.mc[0]!.id, '1.9');
});
