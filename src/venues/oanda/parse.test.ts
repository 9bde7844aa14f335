import { test } from 'node:test';
import assert from 'node:assert/strict';
import { oandaTimeToUs, parse } from './parse.js';
import { bestBucket, compareDecimal, normalisePrice } from './normalise.js';

const WEEKEND =
  '{"type":"PRICE","time":"2023-09-29T20:58:00.136640494Z","bids":[{"price":"0.86582","liquidity":10000000}],"asks":[{"price":"0.86704","liquidity":10000000}],"closeoutBid":"0.86582","closeoutAsk":"0.86704","status":"non-tradeable","tradeable":false,"instrument":"EUR_GBP"}';

test('PRICE: exact decimal strings, exact time text, µs timestamp', () => {
  const m = parse(WEEKEND);
  assert.equal(m.type, 'PRICE');
  if (m.type !== 'PRICE') return;
  assert.equal(m.instrument, 'EUR_GBP');
  assert.equal(m.time, '2023-09-29T20:58:00.136640494Z');
  assert.equal(m.timeUs, Date.UTC(2023, 8, 29, 20, 58, 0) * 1000 + 136640);
  assert.deepEqual(m.bids, [{ price: '0.86582', liquidity: '10000000' }]);
  assert.equal(m.tradeable, false);
  assert.equal(m.closeoutAsk, '0.86704');
});

test('UNIX time format ("seconds.nanoseconds") is accepted', () => {
  assert.equal(oandaTimeToUs('1477557524.327443673'), 1477557524327443);
  assert.equal(oandaTimeToUs('2016-10-27T08:38:44.327443673Z'), 1477557524327443);
  const m = parse('{"type":"HEARTBEAT","time":"1477557524.327443673"}');
  assert.deepEqual(m, { type: 'HEARTBEAT', time: '1477557524.327443673', timeUs: 1477557524327443 });
});

test('old messages: no type means PRICE, tradeable from status', () => {
  const m = parse('{"status":"tradeable","instrument":"EUR_USD","time":"2016-10-27T08:38:45.664613867Z","bids":[],"asks":[]}');
  assert.equal(m.type, 'PRICE');
  assert.equal(m.type === 'PRICE' && m.tradeable, true);
  const n = parse('{"status":"non-tradeable","instrument":"EUR_USD","time":"2016-10-27T08:38:45.664613867Z"}');
  assert.equal(n.type === 'PRICE' && n.tradeable, false);
});

test('the tradeable flag wins over the deprecated status', () => {
  const m = parse('{"type":"PRICE","status":"tradeable","tradeable":false,"instrument":"X_Y","time":"2016-10-27T08:38:45Z"}');
  assert.equal(m.type === 'PRICE' && m.tradeable, false);
});

test('errors are typed, never thrown', () => {
  const cases: [string, string][] = [
    ['{"type":"PRICE","time":"2016-10-27T08:38', 'json'],
    ['[1,2]', 'schema'],
    ['null', 'schema'],
    ['{"type":"PRICE","time":"2016-10-27T08:38:45Z"}', 'schema'],
    ['{"type":"PRICE","instrument":"EUR_USD","time":"yesterday"}', 'time'],
    ['{"type":"PRICE","instrument":"EUR_USD","time":"2016-10-27T08:38:45Z","bids":[{"price":1.1,"liquidity":1}]}', 'schema'],
    ['{"type":"PRICE","instrument":"EUR_USD","time":"2016-10-27T08:38:45Z","bids":[{"price":"1.1e3","liquidity":1}]}', 'price'],
    ['{"type":"PRICE","instrument":"EUR_USD","time":"2016-10-27T08:38:45Z","asks":{}}', 'schema'],
    ['{"type":"HEARTBEAT"}', 'schema'],
    ['{"type":7}', 'schema'],
    ['{"type":"HEARTBEAT","time":"0"}', 'time'],
    ['{"type":"HEARTBEAT","time":"1970-01-01T00:00:00Z"}', 'time'],
  ];
  for (const [line, code] of cases) {
    const r = parse(line);
    assert.equal(r.type, 'error', line);
    assert.equal(r.type === 'error' && r.code, code, line);
  }
  assert.deepEqual(parse('{"type":"MAINTENANCE"}'), { type: 'unknown', rawType: 'MAINTENANCE' });
});

test('compareDecimal is exact and sign-aware', () => {
  assert.ok(compareDecimal('1.09177', '1.09175') > 0);
  assert.ok(compareDecimal('114.3', '114.295') > 0);
  assert.ok(compareDecimal('9.9', '10.0') < 0);
  assert.equal(compareDecimal('1.10', '1.1'), 0);
  assert.equal(compareDecimal('007.5', '7.50'), 0);
  assert.ok(compareDecimal('-1.5', '-1.25') < 0);
  assert.ok(compareDecimal('-0.1', '0.0') < 0);
  assert.equal(compareDecimal('-0.0', '0'), 0);
  // Differences beyond double precision still order correctly.
  assert.ok(compareDecimal('1.00000000000000000002', '1.00000000000000000001') > 0);
});

test('best bid is the max bucket, best ask the min, whatever the bucket order', () => {
  const bids = [
    { price: '1.1000', liquidity: '1' },
    { price: '1.1002', liquidity: '2' },
    { price: '1.0999', liquidity: '3' },
  ];
  assert.deepEqual(bestBucket(bids, 'bid'), { price: '1.1002', liquidity: '2' });
  assert.deepEqual(bestBucket(bids, 'ask'), { price: '1.0999', liquidity: '3' });
  assert.equal(bestBucket([], 'bid'), null);
});

test('normalise: tick draft, never closeout prices; empty sides are null', () => {
  const m = parse(WEEKEND);
  assert.equal(m.type, 'PRICE');
  if (m.type !== 'PRICE') return;
  assert.deepEqual(normalisePrice(m, 42), {
    kind: 'tick',
    venue: 'oanda',
    instrument: 'EUR_GBP',
    ts_event_us: m.timeUs,
    ts_recv_us: 42,
    bid: '0.86582',
    bid_qty: '10000000',
    ask: '0.86704',
    ask_qty: '10000000',
    last: null,
    volume: null,
    tradeable: false,
  });
  const e = parse(
    '{"type":"PRICE","instrument":"EUR_USD","time":"2016-10-27T08:38:45Z","bids":[],"asks":[],"closeoutBid":"1.1","tradeable":false}',
  );
  assert.equal(e.type, 'PRICE');
  if (e.type !== 'PRICE') return;
  const t = normalisePrice(e, 1);
  assert.equal(t.bid, null);
  assert.equal(t.ask_qty, null);
});
