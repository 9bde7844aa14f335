/**
 * In-process stand-ins for a publisher and a subscriber (status endpoints as the contracts give
 * them, a real BusPublisher / BusSubscriber), so `nbpy health` and `nbpy validate` can be tested
 * as child processes before and besides the real services.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Publisher } from 'zeromq';
import { BusPublisher } from '../../src/bus/publisher.js';
import { BusSubscriber } from '../../src/bus/subscriber.js';
import { encodeBatch } from '../../src/bus/codec.js';
import type { BusRecord, TickRecord } from '../../src/core/records.js';
import { createRegistry, startStatusServer, type StatusServer } from '../../src/health/status-server.js';
import { freePorts } from '../support/ports.js';

export interface FakePublisher {
  port: number;
  statusPort: number;
  /** Stop / resume sending ticks (the status endpoint keeps answering). */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

const tickDraft = (n: number) => {
  const now = Date.now() * 1000;
  return {
    venue: 'kraken' as const,
    kind: 'tick' as const,
    ts_event_us: now,
    ts_recv_us: now,
    instrument: 'BTC/USD',
    bid: `${100 + (n % 10)}.5`,
    bid_qty: '1',
    ask: '101.5',
    ask_qty: '2',
    last: null,
    volume: null,
    tradeable: true,
  };
};

export async function fakePublisher(name: string, topic: string, port: number, statusPort: number, everyMs = 50): Promise<FakePublisher> {
  const bus = await BusPublisher.bind({ endpoint: `tcp://127.0.0.1:${port}`, publisher: name, venue: 'kraken', topic, lingerMs: 0 });
  let lastAt = Date.now();
  let n = 0;
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    timer = setInterval(() => {
      bus.publish([tickDraft(n++)]);
      lastAt = Date.now();
    }, everyMs);
  };
  start();
  bus.startHeartbeats(() => ({ connected: true, lastVenueMsgAgeMs: Date.now() - lastAt }), 200);
  const status = await startStatusServer({
    host: '127.0.0.1',
    port: statusPort,
    registry: createRegistry(name),
    health: () => ({
      service: name,
      kind: 'publisher',
      ready: true,
      status: 'ok',
      venue: 'kraken',
      topic,
      session: bus.session,
      connected: true,
      last_seq: bus.lastSeq,
      records_out: bus.stats.records_out,
      last_message_age_ms: Date.now() - lastAt,
    }),
  });
  return {
    port,
    statusPort: status.port,
    pause: () => clearInterval(timer),
    resume: () => start(),
    close: async () => {
      clearInterval(timer);
      await status.close();
      await bus.close();
    },
  };
}

export interface FakeSubscriber {
  port: number;
  /** Simulate the store going down: store_up false, spool growing, nothing stored. */
  storeDown(down: boolean): void;
  close(): Promise<void>;
}

/** Reads the bus like a subscriber, "stores" into memory, answers /health, /store/newest, /store/has. */
export async function fakeSubscriber(
  name: string,
  endpoints: string[],
  topics: string[],
  measurement: string,
  port: number,
): Promise<FakeSubscriber> {
  const sub = new BusSubscriber({ endpoints, topics });
  const stored = new Set<string>();
  const points: number[] = []; // time_us of stored points
  const lastAt = new Map<string, number>();
  const counts = new Map<string, number>();
  let down = false;
  let spool = 0;
  void (async () => {
    for await (const batch of sub.batches())
      for (const r of batch) {
        if (r.kind === 'heartbeat') continue;
        lastAt.set(r.topic, Date.now());
        counts.set(r.topic, (counts.get(r.topic) ?? 0) + 1);
        if (down) spool += 200;
        else {
          stored.add(`${r.session}:${r.seq}`);
          points.push(r.ts_event_us);
        }
      }
  })();
  const status: StatusServer = await startStatusServer({
    host: '127.0.0.1',
    port,
    registry: createRegistry(name),
    health: () => ({
      service: name,
      kind: 'subscriber',
      ready: true,
      status: down ? 'degraded' : 'ok',
      store_up: !down,
      records_in: sub.stats.records_in,
      queue_depth: 0,
      spool_bytes: spool,
      dropped_by_reason: {},
      topics: Object.fromEntries(
        [...lastAt].map(([t, at]) => [t, { records: counts.get(t) ?? 0, last_record_age_ms: Date.now() - at, gaps: 0, missing: 0 }]),
      ),
    }),
    routes: {
      '/store/newest': async (url) => {
        if (down) throw new Error('store unreachable');
        const windowUs = Number(url.searchParams.get('window_s') ?? '60') * 1e6;
        const since = Date.now() * 1000 - windowUs;
        return {
          measurements: [
            { measurement, points: points.filter((t) => t >= since).length, newest_us: points.length ? points[points.length - 1] : null },
          ],
        };
      },
      '/store/has': async (url) => ({ found: stored.has(`${url.searchParams.get('session')}:${url.searchParams.get('seq')}`) }),
    },
  });
  return {
    port: status.port,
    storeDown: (d) => (down = d),
    close: async () => {
      sub.close();
      await status.close();
    },
  };
}

/** A raw PUB socket that publishes ticks with a deliberate hole in `seq` (a faulty publisher). */
export async function skippingPublisher(port: number, topic: string): Promise<{ close(): Promise<void> }> {
  const sock = new Publisher({ linger: 0 });
  await sock.bind(`tcp://127.0.0.1:${port}`);
  let seq = 0;
  const timer = setInterval(() => {
    seq += seq % 20 === 10 ? 5 : 1; // every 20 records, skip 4 seqs
    const r: TickRecord = { v: 1, topic, publisher: 'faulty', session: 'faulty-session', seq, ...tickDraft(seq) };
    void sock.send([topic, encodeBatch([r as BusRecord])]).catch(() => {});
  }, 20);
  return {
    close: async () => {
      clearInterval(timer);
      sock.close();
    },
  };
}

/** A temp config for the fakes: embedded store, grafana off, run/log/data dirs in a temp dir. */
export async function fakeSystemConfig(opts: {
  publishers: { name: string; topic: string; port: number; statusPort: number }[];
  subscriber?: { name: string; port: number; topics: string[] };
}) {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-health-'));
  const config = {
    dataDir: join(dir, 'data'),
    runDir: join(dir, 'run'),
    storage: { backend: 'embedded' },
    backing: { grafana: { enabled: false } },
    logging: { dir: join(dir, 'logs') },
    validation: { windowMs: 2000, maxNewestAgeS: 5, probe: true },
    influxdb: {
      measurements: {
        kraken_tick: { tags: ['instrument'], fields: { bid: 'float', ask: 'float', seq: 'integer', session: 'string' } },
        nbpy_events: { tags: ['publisher', 'kind', 'reason'], fields: { detail: 'string', seq: 'integer' } },
        nbpy_health: { tags: ['service', 'topic'], fields: { records_per_s: 'float' } },
      },
    },
    publishers: opts.publishers.map((p) => ({
      ...p,
      venue: 'kraken',
      feed: 'ticker',
      instruments: ['BTC/USD'],
      staleAfterMs: 1500,
      source: { type: 'simulated' },
    })),
    subscribers: opts.subscriber ? [{ ...opts.subscriber, measurements: { tick: 'kraken_tick' }, flushIntervalMs: 200 }] : [],
  };
  const path = join(dir, 'config.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  return { dir, path };
}

export { freePorts };
