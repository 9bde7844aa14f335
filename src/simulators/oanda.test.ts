/** The OANDA simulator over real HTTP: what a long demo run depends on. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startOandaSimulator } from './oanda.js';

test('a stream keeps a bounded number of timers however long it runs (no per-tick leak)', async () => {
  const sim = await startOandaSimulator({ instruments: ['EUR_USD', 'USD_JPY'], ratePerS: 1000, heartbeatMs: 20 });
  try {
    let lines = 0;
    const req = request(`${sim.url}/v3/accounts/x/pricing/stream?instruments=EUR_USD,USD_JPY`, (res) => {
      res.on('data', (b: Buffer) => (lines += b.toString().split('\n').length - 1));
    });
    req.end();
    await new Promise((r) => setTimeout(r, 600));
    const s = sim.stats();
    assert.equal(s.active, 1);
    // 600 ms at 1000/s: hundreds of price ticks and ~30 heartbeats have fired.
    assert.ok(s.prices > 100 && s.heartbeats > 10, JSON.stringify(s));
    assert.ok(lines > 100);
    assert.ok(s.timers <= 3, `pending timers: ${s.timers}`);
    req.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual([sim.stats().active, sim.stats().timers], [0, 0]);
  } finally {
    await sim.close();
  }
});
