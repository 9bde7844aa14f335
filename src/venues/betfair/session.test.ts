import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunnerRecord } from '../../core/records.js';
import { createBetfairReplaySession, createBetfairSession } from './session.js';

const cfg = {
  markets: ['1.180770798'],
  eventTypeIds: ['7'],
  marketTypes: ['WIN'],
  ladderLevels: 3,
  staleAfterMs: 10_000,
  credentials: { appKeyEnv: 'NBPY_BETFAIR_APP_KEY', sessionTokenEnv: 'NBPY_BETFAIR_SESSION_TOKEN' },
};
const creds = { appKey: 'APPKEY-secret-1', sessionToken: 'SESSION-secret-2' };
const f = (text: string, receivedAtUs = 7) => ({ text, receivedAtUs });

function handshake(s = createBetfairSession(cfg, creds)) {
  assert.deepEqual(s.onOpen(0), []);
  const c = s.onFrame(f('{"op":"connection","connectionId":"002-1"}'));
  assert.equal(c.send.length, 1);
  const auth = JSON.parse(c.send[0]!);
  assert.deepEqual(auth, { op: 'authentication', id: auth.id, appKey: creds.appKey, session: creds.sessionToken });
  const a = s.onFrame(f(`{"op":"status","id":${auth.id},"statusCode":"SUCCESS","connectionClosed":false,"connectionsAvailable":9}`));
  assert.equal(a.send.length, 1);
  const sub = JSON.parse(a.send[0]!);
  const ok = s.onFrame(f(`{"op":"status","id":${sub.id},"statusCode":"SUCCESS","connectionClosed":false}`));
  assert.deepEqual(
    [...c.records, ...a.records, ...ok.records].map((r) => (r.kind === 'status' ? r.status : r.kind)),
    ['connected', 'authenticated', 'subscribed'],
  );
  return { s, sub };
}

test('handshake: connection -> authentication -> marketSubscription with the config filters', () => {
  const { sub } = handshake();
  assert.deepEqual(sub.marketFilter, { marketIds: ['1.180770798'], eventTypeIds: ['7'], marketTypes: ['WIN'] });
  assert.deepEqual(sub.marketDataFilter, {
    fields: ['EX_BEST_OFFERS', 'EX_TRADED', 'EX_TRADED_VOL', 'EX_LTP', 'EX_MARKET_DEF'],
    ladderLevels: 3,
  });
  assert.equal(sub.heartbeatMs, 5000);
  assert.equal(sub.segmentationEnabled, true);
  assert.equal(sub.initialClk, undefined);
});

test('auth failure: reconnect with a reason naming the fix, secrets redacted everywhere', () => {
  const s = createBetfairSession(cfg, creds);
  s.onFrame(f('{"op":"connection","connectionId":"002-1"}'));
  const r = s.onFrame(
    f(
      `{"op":"status","id":1,"statusCode":"FAILURE","errorCode":"INVALID_SESSION_INFORMATION","errorMessage":"bad token ${creds.sessionToken}","connectionClosed":true}`,
    ),
  );
  assert.match(r.reconnect ?? '', /INVALID_SESSION_INFORMATION.*NBPY_BETFAIR_SESSION_TOKEN/);
  const text = JSON.stringify(r);
  assert.ok(!text.includes(creds.sessionToken) && !text.includes(creds.appKey));
  assert.equal(r.counters?.status_messages, 1);
  // SUBSCRIPTION_LIMIT_EXCEEDED does not close the connection
  const lim = s.onFrame(
    f('{"op":"status","id":2,"statusCode":"FAILURE","errorCode":"SUBSCRIPTION_LIMIT_EXCEEDED","connectionClosed":false}'),
  );
  assert.equal(lim.reconnect, undefined);
  assert.equal(lim.errors[0]!.code, 'venue_error');
});

test('heartbeats counted, 503 noted as status records on change, stale subscription ids dropped', () => {
  const { s, sub } = handshake();
  const hb = s.onFrame(f(`{"op":"mcm","id":${sub.id},"clk":"H1","pt":1000,"ct":"HEARTBEAT"}`));
  assert.deepEqual([hb.counters?.venue_heartbeats, hb.records.length], [1, 0]);
  const slow = s.onFrame(f(`{"op":"mcm","id":${sub.id},"clk":"H2","status":503,"pt":2000,"ct":"HEARTBEAT"}`));
  assert.deepEqual(
    slow.records.map((r) => [r.kind, r.kind === 'status' && r.status, r.ts_event_us]),
    [['status', 'upstream_delayed', 2_000_000]],
  );
  assert.equal(s.onFrame(f(`{"op":"mcm","id":${sub.id},"clk":"H3","status":503,"pt":3000,"ct":"HEARTBEAT"}`)).records.length, 0);
  const okAgain = s.onFrame(f(`{"op":"mcm","id":${sub.id},"clk":"H4","pt":4000,"ct":"HEARTBEAT"}`));
  assert.equal(okAgain.records[0]?.kind === 'status' && okAgain.records[0].status, 'upstream_ok');
  const old = s.onFrame(f(`{"op":"mcm","id":${sub.id - 1},"clk":"X","pt":1,"mc":[{"id":"1.9","rc":[{"id":1,"ltp":2}]}]}`));
  assert.equal(old.records.length, 0);
  assert.equal(s.stats().staleSubscriptionMessages, 1);
  assert.equal(s.clocks().clk, 'H4');
});

test('resume: clocks and cache survive reset(); resubscription carries initialClk+clk; RESUB_DELTA patches', () => {
  const { s, sub } = handshake();
  s.onFrame(
    f(
      `{"op":"mcm","id":${sub.id},"initialClk":"INIT","clk":"C1","pt":1,"ct":"SUB_IMAGE","mc":[{"id":"1.180770798","img":true,"rc":[{"id":1,"batb":[[0,2,10],[1,1.9,5]]},{"id":2,"batl":[[0,3,4]]}]}]}`,
    ),
  );
  s.onFrame(f(`{"op":"mcm","id":${sub.id},"clk":"C2","pt":2,"mc":[{"id":"1.180770798","rc":[{"id":1,"batb":[[0,2.02,1]]}]}]}`));
  s.reset();
  assert.deepEqual(s.clocks(), { initialClk: 'INIT', clk: 'C2' });
  s.onFrame(f('{"op":"connection","connectionId":"002-2"}'));
  const a = s.onFrame(f('{"op":"status","id":3,"statusCode":"SUCCESS","connectionClosed":false}'));
  const resub = JSON.parse(a.send[0]!);
  assert.deepEqual([resub.initialClk, resub.clk], ['INIT', 'C2']);
  assert.deepEqual({ ...resub, id: 0, initialClk: 0, clk: 0 }, { ...sub, id: 0, initialClk: 0, clk: 0 }, 'identical criteria');
  const r = s.onFrame(
    f(`{"op":"mcm","id":${resub.id},"clk":"C3","pt":3,"ct":"RESUB_DELTA","mc":[{"id":"1.180770798","rc":[{"id":1,"batb":[[1,2,3]]}]}]}`),
  );
  assert.equal(r.counters?.resubscribes, 1);
  const runner = r.records.find((x): x is RunnerRecord => x.kind === 'runner')!;
  assert.deepEqual(
    runner.back,
    [
      ['2.02', '1'],
      ['2', '3'],
    ],
    'patched onto the kept cache',
  );
  assert.equal(runner.snapshot, false);
  assert.ok(r.records.some((x) => x.kind === 'status' && x.status === 'resubscribed'));
  // untouched runner still there
  assert.ok(s.cache.market('1.180770798')!.runners.get('2:0'));
});

test('INVALID_CLOCK drops clocks and cache; next subscription is fresh', () => {
  const { s, sub } = handshake();
  s.onFrame(
    f(
      `{"op":"mcm","id":${sub.id},"initialClk":"INIT","clk":"C1","pt":1,"ct":"SUB_IMAGE","mc":[{"id":"1.180770798","img":true,"rc":[{"id":1,"ltp":2}]}]}`,
    ),
  );
  const r = s.onFrame(f('{"op":"status","id":5,"statusCode":"FAILURE","errorCode":"INVALID_CLOCK","connectionClosed":true}'));
  assert.match(r.reconnect ?? '', /INVALID_CLOCK/);
  assert.deepEqual(s.clocks(), { initialClk: null, clk: null });
  assert.equal(s.cache.marketCount, 0);
  s.reset();
  assert.equal(JSON.parse(s.subscriptionMessage()).clk, undefined);
});

test('reset() without clocks clears the cache', () => {
  const s = createBetfairReplaySession();
  s.onFrame(f('{"op":"mcm","clk":null,"pt":1,"mc":[{"id":"1.1","img":true,"rc":[{"id":1,"ltp":2}]}]}'));
  assert.equal(s.cache.marketCount, 1);
  s.reset();
  assert.equal(s.cache.marketCount, 0);
});

test('segmented image: records only at SEG_END; best view: full depth over display offers', () => {
  const s = createBetfairReplaySession({ depth: 2 });
  const a = s.onFrame(
    f(
      '{"op":"mcm","id":1,"ct":"SUB_IMAGE","initialClk":"I","segmentType":"SEG_START","pt":5,"mc":[{"id":"1.1","img":true,"rc":[{"id":1,"atb":[[1.5,10],[1.6,3],[1.4,2]],"bdatb":[[0,9,9]]}]}]}',
    ),
  );
  assert.equal(a.records.length, 0);
  const b = s.onFrame(
    f(
      '{"op":"mcm","id":1,"segmentType":"SEG_END","clk":"K","pt":6,"mc":[{"id":"1.2","img":true,"rc":[{"id":2,"bdatl":[[0,3,1],[1,3.5,2]],"ltp":3,"tv":12.50}]}]}',
    ),
  );
  const rs = b.records as RunnerRecord[];
  assert.deepEqual(
    rs.map((r) => [r.instrument, r.back, r.lay, r.ltp, r.tv, r.clk, r.snapshot, r.ts_event_us]),
    [
      [
        '1.1:1:0',
        [
          ['1.6', '3'],
          ['1.5', '10'],
        ],
        [],
        null,
        null,
        'K',
        true,
        6000,
      ],
      [
        '1.2:2:0',
        [],
        [
          ['3', '1'],
          ['3.5', '2'],
        ],
        '3',
        '12.50',
        'K',
        true,
        6000,
      ],
    ],
  );
});
