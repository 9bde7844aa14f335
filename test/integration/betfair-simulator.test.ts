// The Betfair simulator's protocol behaviour, seen by a raw TLS client (loopback, port 0).
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { startBetfairSimulator, type BetfairSimulator } from '../../src/simulators/betfair.js';
import { createCrlfFramer } from '../../src/venues/betfair/framing.js';
import { createBetfairSession } from '../../src/venues/betfair/session.js';
import { waitFor } from '../support/wait.js';

type Msg = Record<string, unknown>;

async function client(sim: BetfairSimulator) {
  const socket = connect({ host: sim.host, port: sim.port, ca: sim.ca, servername: 'localhost' });
  const framer = createCrlfFramer();
  const texts: string[] = [];
  let closed = false;
  socket.on('data', (c: Buffer) => texts.push(...framer.push(c).messages));
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  await new Promise((r) => socket.once('secureConnect', r));
  const msgs = () => texts.map((t) => JSON.parse(t) as Msg);
  const until = (pred: () => boolean, what: string) =>
    waitFor(what, pred, 10_000, 5).catch((e: Error) => {
      throw new Error(`${e.message}; got ${texts.slice(-3).join(' | ')}`);
    });
  return {
    texts,
    msgs,
    until,
    closed: () => closed,
    send: (o: unknown) => socket.write(`${JSON.stringify(o)}\r\n`),
    sendText: (t: string) => socket.write(`${t}\r\n`),
    close: () => socket.destroy(),
  };
}

const MARKETS = Array.from({ length: 45 }, (_, i) => `1.2000000${String(i).padStart(2, '0')}`);

describe('betfair simulator', () => {
  let sim: BetfairSimulator;
  before(async () => {
    sim = await startBetfairSimulator({
      markets: MARKETS,
      runnersPerMarket: 2,
      ratePerS: 50,
      seed: 5,
      appKey: 'K',
      sessionToken: 'S',
      heartbeatMs: 500,
    });
  });
  after(async () => sim.close());

  test('connection first; bad app key -> FAILURE INVALID_APP_KEY and the connection closes', async () => {
    const c = await client(sim);
    await c.until(() => c.texts.length >= 1, 'connection');
    assert.equal(c.msgs()[0]!.op, 'connection');
    c.send({ op: 'authentication', id: 1, appKey: 'nope', session: 'S' });
    await c.until(() => c.closed(), 'close');
    assert.deepEqual(
      [c.msgs()[1]!.statusCode, c.msgs()[1]!.errorCode, c.msgs()[1]!.connectionClosed, c.msgs()[1]!.id],
      ['FAILURE', 'INVALID_APP_KEY', true, 1],
    );
  });

  test('subscribe before auth -> NO_SESSION', async () => {
    const c = await client(sim);
    c.send({ op: 'marketSubscription', id: 1, marketFilter: {}, marketDataFilter: { fields: ['EX_BEST_OFFERS'] } });
    await c.until(() => c.closed(), 'close');
    assert.equal(c.msgs().at(-1)!.errorCode, 'NO_SESSION');
  });

  test('segmented SUB_IMAGE (SEG_START..SEG_END, clk only at the end), deltas, then a bogus clock -> INVALID_CLOCK', async () => {
    const c = await client(sim);
    c.send({ op: 'authentication', id: 1, appKey: 'K', session: 'S' });
    c.send({
      op: 'marketSubscription',
      id: 2,
      segmentationEnabled: true,
      heartbeatMs: 500,
      marketFilter: {},
      marketDataFilter: { fields: ['EX_BEST_OFFERS', 'EX_MARKET_DEF'], ladderLevels: 3 },
    });
    await c.until(() => c.msgs().filter((m) => m.op === 'mcm' && !m.ct).length >= 3, 'deltas');
    c.close();
    const mcm = c.msgs().filter((m) => m.op === 'mcm');
    const image = mcm.filter((m) => m.ct === 'SUB_IMAGE');
    assert.deepEqual(
      image.map((m) => m.segmentType),
      ['SEG_START', 'SEG', 'SEG_END'],
    );
    assert.deepEqual(
      image.map((m) => m.clk !== undefined),
      [false, false, true],
    );
    assert.equal(image.flatMap((m) => m.mc as Msg[]).length, 45);
    assert.ok(image.every((m) => m.id === 2 && typeof m.initialClk === 'string'));
    const deltas = mcm.filter((m) => !m.ct);
    assert.ok(deltas.every((m) => typeof m.clk === 'string' && (m.mc as Msg[]).length === 1 && m.id === 2));

    const d = await client(sim);
    d.send({ op: 'authentication', id: 1, appKey: 'K', session: 'S' });
    d.send({
      op: 'marketSubscription',
      id: 2,
      initialClk: 'bogus',
      clk: 'bogus',
      marketFilter: {},
      marketDataFilter: { fields: ['EX_BEST_OFFERS'] },
    });
    await d.until(() => d.closed(), 'close');
    assert.equal(d.msgs().at(-1)!.errorCode, 'INVALID_CLOCK');
  });

  test('heartbeats when idle (a filter that matches no market)', async () => {
    const c = await client(sim);
    c.send({ op: 'authentication', id: 1, appKey: 'K', session: 'S' });
    c.send({ op: 'marketSubscription', id: 9, marketFilter: { marketIds: ['1.999'] }, marketDataFilter: { fields: ['EX_BEST_OFFERS'] } });
    await c.until(() => c.msgs().filter((m) => m.ct === 'HEARTBEAT').length >= 2, 'two heartbeats');
    c.close();
    const hb = c.msgs().filter((m) => m.ct === 'HEARTBEAT');
    assert.ok(hb.every((m) => m.id === 9 && typeof m.clk === 'string' && typeof m.pt === 'number' && m.mc === undefined));
  });
});

test('ratePerS 0 floods; garbage frames are counted as errors by the session', async () => {
  const sim = await startBetfairSimulator({ markets: ['1.5', '1.6'], ratePerS: 0, seed: 9, faults: { garbageRate: 0.05 } });
  try {
    const c = await client(sim);
    const session = createBetfairSession(
      { markets: [], eventTypeIds: [], marketTypes: [], ladderLevels: 3 },
      { appKey: 'a', sessionToken: 'b' },
    );
    let handled = 0;
    let errors = 0;
    const pump = () => {
      for (; handled < c.texts.length; handled++) {
        const r = session.onFrame({ text: c.texts[handled]!, receivedAtUs: 0 });
        errors += r.errors.length;
        for (const s of r.send) c.sendText(s);
      }
      return false;
    };
    await c.until(() => pump() || sim.stats().deltas >= 5000, '5000 deltas');
    await c.until(() => pump() || handled >= 5000, 'frames read');
    c.close();
    assert.ok(sim.stats().garbage > 50);
    assert.ok(errors > 0 && errors <= sim.stats().garbage, `${errors} errors for ${sim.stats().garbage} garbage lines`);
    assert.equal(session.stats().images, 1);
  } finally {
    await sim.close();
  }
});
