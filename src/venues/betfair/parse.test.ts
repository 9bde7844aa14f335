import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseBetfairMessage, quoteNumbers } from './parse.js';
import { createBetfairReplaySession, createBetfairSession } from './session.js';

test('keeps price/size lexemes, market ids as strings, hc default 0', () => {
  const m = parseBetfairMessage(
    '{"op":"mcm","id":1,"clk":"AA","pt":1617253903160,"mc":[{"id":"1.123456780","tv":100.10,"rc":[{"atb":[[1.10,19505.48],[1.18,0]],"batl":[[0,1.4,2.0]],"ltp":1.10,"tv":1e3,"id":13834991}]}]}',
  );
  assert.equal(m.kind, 'mcm');
  if (m.kind !== 'mcm') return;
  const mc = m.mc[0]!;
  assert.equal(mc.id, '1.123456780');
  assert.equal(mc.tv, '100.10');
  const rc = mc.rc[0]!;
  assert.deepEqual(rc.atb, [
    ['1.10', '19505.48'],
    ['1.18', '0'],
  ]);
  assert.deepEqual(rc.batl, [[0, '1.4', '2.0']]);
  assert.equal(rc.ltp, '1.10');
  assert.equal(rc.tv, '1e3');
  assert.equal(rc.hc, 0);
  assert.equal(rc.id, 13834991);
  assert.equal(m.pt, 1617253903160);
});

test('spn/spf as strings "Infinity"/"NaN" (recorder files)', () => {
  const m = parseBetfairMessage(
    '{"op":"mcm","clk":null,"pt":1,"mc":[{"id":"1.2","rc":[{"spn":"NaN","spf":"Infinity","id":7,"hc":-0.25},{"spn":3.45,"id":8}]}]}',
  );
  assert.equal(m.kind, 'mcm');
  if (m.kind !== 'mcm') return;
  assert.equal(m.mc[0]!.rc[0]!.spn, null);
  assert.equal(m.mc[0]!.rc[0]!.spf, 'Infinity');
  assert.equal(m.mc[0]!.rc[0]!.hc, -0.25);
  assert.equal(m.mc[0]!.rc[1]!.spn, '3.45');
  assert.equal(m.id, null);
  assert.equal(m.ct, null);
});

test('a market id sent as a JSON number keeps its exact lexeme (trailing zeros included)', () => {
  const m = parseBetfairMessage('{"op":"mcm","mc":[{"id":1.123456780}]}');
  assert.equal(m.kind === 'mcm' && m.mc[0]!.id, '1.123456780');
});

test('quoteNumbers leaves digits inside strings alone', () => {
  assert.equal(
    quoteNumbers('{"a":"x 1.5 \\"2\\"","b":-1.5e-3,"c":[0,true,null]}'),
    '{"a":"x 1.5 \\"2\\"","b":"-1.5e-3","c":["0",true,null]}',
  );
});

test('connection, status, unknown op, typed errors', () => {
  assert.deepEqual(parseBetfairMessage('{"op":"connection","connectionId":"002-230915140112-174"}'), {
    kind: 'connection',
    connectionId: '002-230915140112-174',
  });
  const s = parseBetfairMessage(
    '{"op":"status","statusCode":"FAILURE","errorCode":"TIMEOUT","errorMessage":"idle","connectionClosed":true}',
  );
  assert.equal(s.kind === 'status' && s.errorCode, 'TIMEOUT');
  assert.deepEqual(parseBetfairMessage('{"op":"ocm","id":3}'), { kind: 'unknown', op: 'ocm' });
  for (const [text, code] of [
    ['{"op":"mcm","mc":[{"id":"1.2","rc":[{"id":1,"atb":[[1.5]]}]}]}', 'schema'],
    ['{"op":"mcm","mc":[{"id":true}]}', 'schema'],
    ['{"op":"mcm","ct":"WHAT"}', 'schema'],
    ['{"op":"mcm","mc":[{"id":"1.2","rc":[{"id":1,"batb":[[10,1.5,2]]}]}]}', 'schema'],
    ['{"op":"mcm","mc":[{"id":"1.2","rc":[{"id":1,"atb":[[01,2]]}]}]}', 'schema'],
    ['[1,2]', 'schema'],
    ['{"op":"mcm","mc":', 'json'],
    ['', 'json'],
  ] as const) {
    const r = parseBetfairMessage(text);
    assert.equal(r.kind, 'error', text);
    if (r.kind === 'error') assert.equal(r.error.code, code, text);
  }
});

const VALID = [
  '{"op":"mcm","id":1,"initialClk":"mBzW","clk":"AAAA","pt":1617253902641,"ct":"SUB_IMAGE","mc":[{"id":"1.180770798","img":true,"rc":[{"atb":[[1.18,151.96]],"atl":[[1.19,147.79]],"trd":[[1.18,7767.86]],"id":13834991}]}]}',
  '{"op":"mcm","id":1,"clk":"AA8ADQAS","pt":1617253903160,"mc":[{"id":"1.180770798","rc":[{"atb":[[1.11,105.49]],"atl":[[1.23,7.49]],"id":13834991,"hc":0}]}]}',
  '{"op":"status","id":1,"statusCode":"SUCCESS","connectionClosed":false,"connectionsAvailable":9}',
  '{"op":"mcm","id":1,"clk":"AMoCAIYBAGs=","pt":1624946583644,"ct":"HEARTBEAT"}',
];

test('fuzz: 100,000 malformed/truncated frames never throw and each is counted as an error', () => {
  const truncated = fc
    .tuple(fc.constantFrom(...VALID), fc.nat())
    .map(([v, n]) => v.slice(0, n % v.length))
    .filter((t) => t.length > 0);
  const mutated = fc
    .tuple(fc.constantFrom(...VALID), fc.nat(), fc.constantFrom('{', '}', '[', ']', '"', ',', ':', 'x', '-', '1e', '\\', 'null'))
    .map(([v, n, ch]) => {
      const i = n % v.length;
      return v.slice(0, i) + ch + v.slice(i + 1);
    });
  const garbage = fc.string({ maxLength: 80 });
  const wrongShapes = fc.constantFrom(
    '{"op":"mcm","mc":"x"}',
    '{"op":"mcm","mc":[1]}',
    '{"op":"mcm","mc":[{"id":"1.2","rc":[{"id":"a"}]}]}',
    '{"op":"mcm","mc":[{"id":"1.2","rc":[{"id":1,"atl":[[1,2,3]]}]}]}',
    '{"op":"status"}',
    '{"op":"connection"}',
    '{"op":7}',
    'null',
    '"op"',
    '{"op":"mcm","pt":"x"}',
  );
  const frame = fc.oneof(truncated, mutated, garbage, wrongShapes);
  const session = createBetfairSession(
    { markets: ['1.2'], eventTypeIds: [], marketTypes: [], ladderLevels: 3 },
    { appKey: 'k', sessionToken: 's' },
  );
  const replay = createBetfairReplaySession();
  let frames = 0;
  let errors = 0;
  let valid = 0;
  fc.assert(
    fc.property(frame, (text) => {
      const parsed = parseBetfairMessage(text);
      for (const s of [session, replay]) {
        const r = s.onFrame({ text, receivedAtUs: 1 });
        if (parsed.kind === 'error') {
          // counted: exactly one error per bad frame, with its code and a bounded sample
          assert.equal(r.errors.length, 1);
          assert.equal(r.errors[0]!.code, parsed.error.code);
          assert.ok(r.errors[0]!.sample.length <= 200);
          errors++;
        } else valid++;
      }
      frames++;
    }),
    { numRuns: 100_000, seed: 42 },
  );
  assert.equal(frames, 100_000);
  assert.ok(errors > 150_000, `most fuzz frames are malformed (${errors} errors, ${valid} valid)`);
  assert.equal(session.stats().errors + replay.stats().errors >= errors, true);
});
