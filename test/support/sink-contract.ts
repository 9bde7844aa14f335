/**
 * The one sink contract suite, run against every driver (embedded DuckDB, InfluxDB). A driver test
 * file calls {@link sinkContract} with a factory that opens a fresh, empty store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type {
  BusRecord,
  DepthRecord,
  GapRecord,
  HeartbeatRecord,
  MarketRecord,
  RecordBase,
  RunnerRecord,
  StatusRecord,
  TickRecord,
  TradeRecord,
} from '../../src/core/records.js';
import type { MeasurementSchema } from '../../src/config/schema.js';
import type { Sink, WriteTarget } from '../../src/storage/sink.js';

/** Measurement schemas used by the suite: the shipped config's shapes, under names of its own. */
export const CONTRACT_MEASUREMENTS: Record<string, MeasurementSchema> = {
  c_tick: {
    tags: ['instrument'],
    fields: {
      bid: 'float',
      bid_qty: 'float',
      ask: 'float',
      ask_qty: 'float',
      last: 'float',
      volume: 'float',
      tradeable: 'boolean',
      seq: 'integer',
      session: 'string',
      ts_recv_us: 'integer',
    },
  },
  c_depth: {
    tags: ['instrument'],
    fields: {
      bid_1_price: 'float',
      bid_1_qty: 'float',
      bid_2_price: 'float',
      bid_2_qty: 'float',
      ask_1_price: 'float',
      ask_1_qty: 'float',
      ask_2_price: 'float',
      ask_2_qty: 'float',
      checksum: 'integer',
      checksum_ok: 'boolean',
      snapshot: 'boolean',
      seq: 'integer',
      session: 'string',
      ts_recv_us: 'integer',
    },
  },
  c_trades: {
    tags: ['instrument', 'side'],
    fields: {
      price: 'float',
      qty: 'float',
      trade_id: 'string',
      ord_type: 'string',
      snapshot: 'boolean',
      seq: 'integer',
      session: 'string',
      ts_recv_us: 'integer',
    },
  },
  c_runner: {
    tags: ['market_id', 'selection_id'],
    fields: {
      hc: 'float',
      back_1_price: 'float',
      back_1_qty: 'float',
      lay_1_price: 'float',
      lay_1_qty: 'float',
      ltp: 'float',
      tv: 'float',
      clk: 'string',
      snapshot: 'boolean',
      seq: 'integer',
      session: 'string',
      ts_recv_us: 'integer',
    },
  },
  c_market: {
    tags: ['market_id'],
    fields: {
      status: 'string',
      in_play: 'boolean',
      version: 'integer',
      tv: 'float',
      seq: 'integer',
      session: 'string',
      ts_recv_us: 'integer',
    },
  },
  c_events: {
    tags: ['publisher', 'kind', 'reason'],
    fields: {
      instrument: 'string',
      detail: 'string',
      status: 'string',
      gap_start_us: 'integer',
      gap_end_us: 'integer',
      first_missing_seq: 'integer',
      last_missing_seq: 'integer',
      seq: 'integer',
      session: 'string',
      ts_recv_us: 'integer',
    },
  },
};

export const CONTRACT_TARGET: WriteTarget = {
  measurements: { tick: 'c_tick', depth: 'c_depth', trade: 'c_trades', runner: 'c_runner', market: 'c_market' },
  eventsMeasurement: 'c_events',
  retentionPolicy: 'high_frequency',
};

/** Builds records of every kind; `t0Us` defaults to now (minus a minute) so no store drops them as too old. */
export class RecordFactory {
  private seq = 0;
  constructor(
    readonly t0Us = Math.floor(Date.now() / 1000) * 1_000_000 - 60_000_000,
    readonly session = '6f1c1c4e-0000-4000-8000-000000000001',
  ) {}

  private base(kind: BusRecord['kind'], instrument: string, tsUs: number): Omit<RecordBase, 'kind'> & { kind: BusRecord['kind'] } {
    this.seq += 1;
    return {
      v: 1,
      topic: `test.${kind}`,
      venue: 'kraken',
      kind,
      publisher: 'contract_pub',
      session: this.session,
      seq: this.seq,
      ts_event_us: tsUs,
      ts_recv_us: tsUs + 250,
      instrument,
    };
  }

  tick(i = 0, instrument = 'BTC/USD', over: Partial<TickRecord> = {}): TickRecord {
    return {
      ...this.base('tick', instrument, this.t0Us + i * 1000),
      kind: 'tick',
      bid: '100.5',
      bid_qty: '1.25',
      ask: '100.75',
      ask_qty: '2.00000000',
      last: '100.6',
      volume: '1234.5',
      tradeable: true,
      ...over,
    };
  }
  depth(i = 0, instrument = 'ETH/USD'): DepthRecord {
    return {
      ...this.base('depth', instrument, this.t0Us + i * 1000),
      kind: 'depth',
      bids: [
        ['1797.30', '0.5'],
        ['1797.20', '1.0'],
      ],
      asks: [
        ['1797.40', '0.25'],
        ['1797.50', '3.0'],
      ],
      snapshot: i === 0,
      checksum: 3_900_000_000,
      checksum_ok: true,
    };
  }
  trade(i = 0, instrument = 'BTC/USD', side: 'buy' | 'sell' = 'buy'): TradeRecord {
    return {
      ...this.base('trade', instrument, this.t0Us + i * 1000),
      kind: 'trade',
      price: '100.6',
      qty: '0.01',
      side,
      trade_id: String(1000 + i),
      ord_type: 'market',
      snapshot: false,
    };
  }
  runner(i = 0, selectionId = 12345): RunnerRecord {
    return {
      ...this.base('runner', `1.180770798:${selectionId}:0`, this.t0Us + i * 1000),
      venue: 'betfair',
      kind: 'runner',
      market_id: '1.180770798',
      selection_id: selectionId,
      hc: 0,
      back: [['2.5', '100']],
      lay: [['2.52', '80.5']],
      ltp: '2.5',
      tv: '10543.21',
      clk: 'AAAAAAAA',
      snapshot: false,
    };
  }
  market(i = 0): MarketRecord {
    return {
      ...this.base('market', '1.180770798', this.t0Us + i * 1000),
      venue: 'betfair',
      kind: 'market',
      market_id: '1.180770798',
      status: 'OPEN',
      in_play: false,
      version: 42,
      tv: '99999.5',
    };
  }
  gap(i = 0): GapRecord {
    const t = this.t0Us + i * 1000;
    return {
      ...this.base('gap', 'BTC/USD', t),
      kind: 'gap',
      reason: 'reconnect',
      gap_start_us: t - 5_000_000,
      gap_end_us: t,
      detail: 'socket closed: code 1006',
      first_missing_seq: 0,
      last_missing_seq: 0,
    };
  }
  status(i = 0): StatusRecord {
    return { ...this.base('status', '', this.t0Us + i * 1000), kind: 'status', status: 'online', detail: 'api_version v2' };
  }
  heartbeat(i = 0): HeartbeatRecord {
    return {
      ...this.base('heartbeat', '', this.t0Us + i * 1000),
      topic: '_hb',
      kind: 'heartbeat',
      data_topic: 'test.tick',
      last_venue_msg_age_ms: 12,
      connected: true,
    };
  }
}

/** What a driver's test hands the suite. */
export interface ContractStore {
  sink: Sink;
  /** Read back the string field `field` of the newest point of `measurement` where tag `tag` = `value`. */
  readString(measurement: string, field: string, tag: string, value: string): Promise<string | null>;
  /** Tear down (close the sink, stop servers, remove files). */
  cleanup(): Promise<void>;
}

/**
 * Register the contract suite. `open` is called once per test: it must give an open, empty store
 * whose measurements are {@link CONTRACT_MEASUREMENTS} and which knows retention policy
 * `high_frequency`.
 */
export function sinkContract(name: string, open: () => Promise<ContractStore>): void {
  describe(`sink contract: ${name}`, () => {
    let store: ContractStore;
    before(async () => {
      store = await open();
    });
    after(async () => {
      await store?.cleanup();
    });
    let n = 0;
    // Each test writes its own time window (1 h apart) so tests in one store do not see each other.
    const factory = () => new RecordFactory(Math.floor(Date.now() / 1000) * 1_000_000 - 6 * 3600_000_000 + n++ * 3600_000_000);
    const countSince = (m: string, f: RecordFactory) => store.sink.count(m, f.t0Us);

    it('writes records of every kind and counts them per measurement', async () => {
      const f = factory();
      const records: BusRecord[] = [
        ...[0, 1, 2].map((i) => f.tick(i)),
        ...[0, 1].map((i) => f.depth(i)),
        f.trade(0, 'BTC/USD', 'buy'),
        f.trade(0, 'BTC/USD', 'sell'),
        f.trade(1, 'BTC/USD', 'buy'),
        ...[0, 1, 2, 3].map((i) => f.runner(i)),
        f.market(0),
        f.gap(0),
        f.status(1),
      ];
      const r = await store.sink.write(records, CONTRACT_TARGET);
      assert.equal(r.written, records.length);
      assert.deepEqual(r.dropped, {});
      assert.equal(await countSince('c_tick', f), 3);
      assert.equal(await countSince('c_depth', f), 2);
      assert.equal(await countSince('c_trades', f), 3);
      assert.equal(await countSince('c_runner', f), 4);
      assert.equal(await countSince('c_market', f), 1);
      assert.equal(await countSince('c_events', f), 2);
      assert.equal(await store.sink.count('c_tick', f.t0Us + 1000), 2, 'count since a time excludes older points');
    });

    it('a replayed batch overwrites itself instead of doubling', async () => {
      const f = factory();
      const batch = [...Array.from({ length: 50 }, (_, i) => f.tick(i % 10, i % 2 ? 'ETH/USD' : 'BTC/USD')), f.gap(3)];
      const first = await store.sink.write(batch, CONTRACT_TARGET);
      assert.equal(first.written, 51);
      await store.sink.write(batch, CONTRACT_TARGET);
      await store.sink.write([...batch].reverse(), CONTRACT_TARGET);
      assert.equal(await countSince('c_tick', f), 50);
      assert.equal(await countSince('c_events', f), 1);
    });

    // The point identity (src/storage/fields.ts) keeps distinct records apart below 1000 records of
    // one session and series in one microsecond; so, as the influx test does, the burst is spread
    // over 10 publisher sessions of 1000 records each (one instrument, one instant).
    it('10,000 records from one instant (10 sessions x 1000) are 10,000 points', async () => {
      const f = factory();
      const burst = Array.from({ length: 10 }, (_, s) => {
        const fs = new RecordFactory(f.t0Us, `6f1c1c4e-0000-4000-8000-00000000010${s}`);
        return Array.from({ length: 1000 }, () => fs.tick(0));
      }).flat();
      const r = await store.sink.write(burst, CONTRACT_TARGET);
      assert.equal(r.written, 10_000);
      assert.equal(await countSince('c_tick', f), 10_000);
      await store.sink.write(burst, CONTRACT_TARGET);
      assert.equal(await countSince('c_tick', f), 10_000, 'the replayed burst lands on the same points');
    });

    it('strings with quotes, commas, spaces, backslashes and instruments like XBT/USD round-trip', async () => {
      const f = factory();
      const nasty = `He said "buy, now" = 'ok' \\ back\\slash,\ttab end `;
      const g = { ...f.gap(0), detail: nasty, instrument: 'XBT/USD' };
      const t = f.tick(1, 'XBT/USD');
      const tr = { ...f.trade(2, 'A B,C=D"E'), trade_id: 'id, with "quotes"' };
      const tr2 = f.trade(3, 'XBT/USD');
      const r = await store.sink.write([g, t, tr, tr2], CONTRACT_TARGET);
      assert.deepEqual(r, { written: 4, dropped: {} });
      assert.equal(await store.readString('c_events', 'detail', 'publisher', 'contract_pub'), nasty);
      assert.equal(await store.readString('c_events', 'instrument', 'publisher', 'contract_pub'), 'XBT/USD');
      assert.equal(await store.readString('c_trades', 'trade_id', 'instrument', 'A B,C=D"E'), 'id, with "quotes"');
      assert.equal(await store.readString('c_trades', 'trade_id', 'instrument', 'XBT/USD'), '1003');
      assert.equal(await store.sink.count('c_tick', f.t0Us), 1);
    });

    it('drops a record kind the target has no measurement for, with reason no_measurement', async () => {
      const f = factory();
      const target: WriteTarget = { ...CONTRACT_TARGET, measurements: { tick: 'c_tick' } };
      const r = await store.sink.write([f.tick(0), f.heartbeat(1), f.trade(2), f.depth(3)], target);
      assert.equal(r.written, 1);
      assert.deepEqual(r.dropped, { no_measurement: 3 });
      assert.equal(await countSince('c_tick', f), 1);
      assert.equal(await countSince('c_trades', f), 0);
    });
  });
}
