/**
 * The publishing process of `npm run bench -- bus`: binds a BusPublisher, sends heartbeats until the
 * parent says "go" on stdin, then publishes `count` tick records as fast as it can and exits.
 */
import { BusPublisher } from '../src/bus/publisher.js';
import type { Draft } from '../src/core/records.js';

const [endpoint, countText] = process.argv.slice(2);
const count = Number(countText);
const pub = await BusPublisher.bind({ endpoint: endpoint!, publisher: 'bench', venue: 'kraken', topic: 'bench.tick' });
const warm = setInterval(() => pub.heartbeat({ connected: true, lastVenueMsgAgeMs: 0 }), 20);
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
process.stdin.destroy();
clearInterval(warm);

const now = Date.now() * 1000;
const drafts: Draft[] = Array.from({ length: 1024 }, (_, i) => ({
  venue: 'kraken',
  kind: 'tick',
  ts_event_us: now + i,
  ts_recv_us: now + i,
  instrument: i % 2 ? 'BTC/USD' : 'ETH/USD',
  bid: '94000.1',
  bid_qty: '1.50000000',
  ask: '94000.2',
  ask_qty: '0.25000000',
  last: '94000.1',
  volume: null,
  tradeable: true,
}));
let sent = 0;
while (sent < count) {
  const n = Math.min(1024, count - sent);
  // Distinct event times, as a venue gives: the store's point identity relies on them.
  for (let i = 0; i < n; i++) drafts[i]!.ts_event_us = drafts[i]!.ts_recv_us = now + sent + i;
  pub.publish(n === 1024 ? drafts : drafts.slice(0, n));
  sent += n;
  // Let a few batches be in flight, then wait for ZeroMQ to take them, so memory stays flat.
  if ((sent / 1024) % 8 === 0) await pub.drain();
}
pub.heartbeat({ connected: true, lastVenueMsgAgeMs: 0 });
await pub.close();
process.stdout.write(`sent ${sent}\n`);
