/** The OANDA simulator speaks the pricing-stream protocol: raw HTTP checks, independent of the connector. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startOandaSimulator } from '../../src/simulators/oanda.js';

const TOKEN = 'sim-token-xyz123';
const PATH = '/v3/accounts/101-004-1234567-001/pricing/stream?instruments=EUR_USD,USD_JPY';

/** GET and collect the body until `enough(lines)` or the response ends; then abort. */
function get(url: string, headers: Record<string, string>, enough: (lines: string[]) => boolean = () => false) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; lines: string[]; chunks: number }>(
    (resolve, reject) => {
      const req = http.get(url, { headers, agent: false }, (res) => {
        let body = '';
        let partial = '';
        const lines: string[] = [];
        let chunks = 0;
        let finished = false;
        const finish = () => {
          if (finished) return;
          finished = true;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, lines, chunks });
        };
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (finished) return;
          body += c;
          chunks++;
          const parts = (partial + c).split('\n');
          partial = parts.pop() ?? '';
          for (const l of parts) if (l) lines.push(l);
          if (enough(lines)) {
            req.destroy();
            finish();
          }
        });
        res.on('end', finish);
        res.on('close', finish);
        res.on('error', () => {});
      });
      req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
    },
  );
}

test('rejects a missing or wrong token with an OANDA-style 401 JSON body', async () => {
  const sim = await startOandaSimulator({ instruments: ['EUR_USD'], ratePerS: 10, token: TOKEN });
  try {
    for (const h of [{}, { Authorization: 'Bearer nope' }] as Record<string, string>[]) {
      const r = await get(sim.url + PATH, h);
      assert.equal(r.status, 401);
      assert.deepEqual(JSON.parse(r.body), { errorMessage: 'Insufficient authorization to perform request.' });
    }
    assert.equal((await get(sim.url + '/v3/accounts/x/pricing', { Authorization: `Bearer ${TOKEN}` })).status, 404);
    assert.equal(
      (await get(sim.url + '/v3/accounts/x/pricing/stream?instruments=eur-usd', { Authorization: `Bearer ${TOKEN}` })).status,
      400,
    );
    assert.equal(sim.stats().rejected, 4);
    assert.equal(sim.stats().connections, 0);
  } finally {
    await sim.close();
  }
});

test('streams a snapshot, then PRICE lines in OANDA field order and heartbeats, chunked', async () => {
  const sim = await startOandaSimulator({ instruments: ['EUR_USD', 'USD_JPY'], ratePerS: 200, token: TOKEN, heartbeatMs: 20 });
  try {
    const r = await get(
      sim.url + PATH,
      { Authorization: `Bearer ${TOKEN}` },
      (ls) => ls.length >= 60 && ls.some((l) => l.includes('HEARTBEAT')),
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers['transfer-encoding'], 'chunked');
    assert.equal(r.headers['content-type'], 'application/octet-stream');
    const msgs = r.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const prices = msgs.filter((m) => m.type === 'PRICE');
    assert.deepEqual(
      prices.slice(0, 2).map((m) => m.instrument),
      ['EUR_USD', 'USD_JPY'],
      'snapshot: one price per instrument first',
    );
    for (const p of prices) {
      assert.deepEqual(Object.keys(p), ['type', 'time', 'bids', 'asks', 'closeoutBid', 'closeoutAsk', 'status', 'tradeable', 'instrument']);
      assert.match(p.time as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      const bids = p.bids as { price: string; liquidity: number }[];
      const asks = p.asks as { price: string; liquidity: number }[];
      assert.ok(bids.length >= 1 && asks.length >= 1);
      assert.equal(typeof bids[0]!.price, 'string');
      assert.ok(Number.isInteger(bids[0]!.liquidity));
      assert.ok(Number(bids[0]!.price) < Number(asks[0]!.price));
      assert.equal(p.tradeable, true);
    }
    const hb = msgs.find((m) => m.type === 'HEARTBEAT');
    assert.ok(hb && Object.keys(hb).join() === 'type,time');
    assert.ok(sim.stats().prices >= prices.length);
  } finally {
    await sim.close();
  }
});

test('weekend mode: non-tradeable snapshot, then only heartbeats', async () => {
  const sim = await startOandaSimulator({ instruments: ['EUR_USD', 'USD_JPY'], ratePerS: 100, weekend: true, heartbeatMs: 10 });
  try {
    const r = await get(sim.url + PATH, {}, (ls) => ls.length >= 8);
    const msgs = r.lines.map((l) => JSON.parse(l) as { type: string; tradeable?: boolean; status?: string });
    assert.deepEqual(
      msgs.slice(0, 2).map((m) => [m.type, m.tradeable, m.status]),
      [
        ['PRICE', false, 'non-tradeable'],
        ['PRICE', false, 'non-tradeable'],
      ],
    );
    assert.ok(msgs.slice(2).every((m) => m.type === 'HEARTBEAT'));
  } finally {
    await sim.close();
  }
});

test('ratePerS 0 streams as fast as possible yet the server stays responsive; dropAll ends streams', async () => {
  const sim = await startOandaSimulator({ instruments: ['EUR_USD'], ratePerS: 0 });
  try {
    const fast = get(sim.url + PATH, {}, (ls) => ls.length >= 20_000);
    // A second request is served while the first is being flooded: the loop yields.
    const second = await get(sim.url + '/nope', {});
    assert.equal(second.status, 404);
    const r = await fast;
    assert.ok(r.lines.length >= 20_000);
    // Bounded: if dropAll failed to end the stream, stop reading at 200k lines and fail below.
    const open = get(sim.url + PATH, {}, (ls) => ls.length >= 200_000);
    await new Promise<void>((resolve) => {
      const poll = () => (sim.stats().connections >= 2 ? resolve() : setTimeout(poll, 5));
      poll();
    });
    sim.dropAll();
    const dropped = await open;
    assert.ok(dropped.lines.length >= 1 && dropped.lines.length < 200_000, 'stream ended by the drop');
    assert.ok(sim.stats().drops >= 1);
  } finally {
    await sim.close();
  }
});
