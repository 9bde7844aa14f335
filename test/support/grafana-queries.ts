/**
 * Run every panel and variable query of the generated dashboards against a real InfluxDB, with
 * Grafana's macros substituted (grafana.md §7.5), and fill InfluxDB with records through nbpy's real
 * writer (InfluxSink + HealthWriter).
 */
import { randomUUID } from 'node:crypto';
import type { Panel, VariableModel } from '@grafana/schema';
import type { Config } from '../../src/config/schema.js';
import type { Clock } from '../../src/core/clock.js';
import type { BusRecord, Level } from '../../src/core/records.js';
import { WIRE_FORMAT_VERSION } from '../../src/core/records.js';
import { InfluxClient } from '../../src/storage/influx/client.js';
import { InfluxSink } from '../../src/storage/influx/writer.js';
import { HealthWriter } from '../../src/cli/health-writer.js';
import type { GeneratedDashboard } from '../../src/grafana/dashboards.js';
import { renderQuery, type MacroValues } from '../../src/grafana/influxql.js';

export interface QueryOutcome {
  dashboard: string;
  what: string;
  selection: string;
  query: string;
  error?: string;
  series: number;
  rows: number;
}

type Sel = MacroValues['variables'];

export async function influxQuery(url: string, db: string, q: string): Promise<{ error?: string; series: { values?: unknown[][] }[] }> {
  const r = await fetch(`${url}/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ db, q, epoch: 'ms' }).toString(),
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await r.json()) as { error?: string; results?: { error?: string; series?: { values?: unknown[][] }[] }[] };
  const res = body.results?.[0];
  return { error: body.error ?? res?.error, series: res?.series ?? [] };
}

const variableQuery = (v: VariableModel) => (typeof v.query === 'string' ? v.query : String((v.query as { query?: string })?.query ?? ''));

/**
 * For one dashboard: run each variable query (earlier variables at All), then every target under
 * three selections: all variables at All; each variable at its first value (single, escaped);
 * each variable at its first two values (multi). Returns one outcome per query run.
 */
export async function runDashboardQueries(
  url: string,
  db: string,
  d: GeneratedDashboard,
  range: { fromMs: number; toMs: number; intervalMs: number },
): Promise<QueryOutcome[]> {
  const out: QueryOutcome[] = [];
  const vars = (d.templating?.list ?? []) as VariableModel[];
  const all: Record<string, 'all'> = Object.fromEntries(vars.map((v) => [v.name, 'all' as const]));
  const values: Record<string, string[]> = {};
  const run = async (what: string, selection: string, raw: string, variables: Sel) => {
    const query = renderQuery(raw, { ...range, variables });
    const r = await influxQuery(url, db, query);
    out.push({
      dashboard: d.uid,
      what,
      selection,
      query,
      error: r.error,
      series: r.series.length,
      rows: r.series.reduce((n, s) => n + (s.values?.length ?? 0), 0),
    });
    return r;
  };
  for (const v of vars) {
    const r = await run(`variable ${v.name}`, 'all', variableQuery(v), all);
    // SHOW TAG VALUES answers [key, value] rows.
    values[v.name] = r.series.flatMap((s) => (s.values ?? []).map((row) => String(row[1])));
  }
  const single: Sel = Object.fromEntries(vars.map((v) => [v.name, values[v.name]!.slice(0, 1)]));
  const multi: Sel = Object.fromEntries(vars.map((v) => [v.name, values[v.name]!.slice(0, 2)]));
  for (const p of d.panels ?? []) {
    if (p.type === 'row') continue;
    for (const t of ((p as Panel).targets ?? []) as { refId: string; query: string }[]) {
      const what = `panel ${p.id} "${p.title}" ${t.refId}`;
      await run(what, 'all', t.query, all);
      await run(what, `single ${JSON.stringify(single)}`, t.query, single);
      await run(what, `multi ${JSON.stringify(multi)}`, t.query, multi);
    }
  }
  return out;
}

// ---------------------------------------------------------------- records like the simulators make

const base = (publisher: string, topic: string, venue: BusRecord['venue'], session: string) => ({
  v: WIRE_FORMAT_VERSION,
  publisher,
  topic,
  venue,
  session,
});
const lv = (p: number, q: number): Level => [p.toFixed(2), q.toFixed(4)];

/**
 * Records of every kind for the configured feeds over the last `spanMs` (ending at `nowUs`), with
 * awkward tag values (`XBT/USD`, Betfair market ids with dots), gaps of several reasons and status
 * records. Deterministic.
 */
export function simulatorLikeRecords(nowUs: number, spanMs = 50_000, perSeries = 100): Map<string, BusRecord[]> {
  const out = new Map<string, BusRecord[]>();
  const session = randomUUID();
  const seqs = new Map<string, number>();
  const push = (pub: string, r: BusRecord) => {
    const list = out.get(pub) ?? [];
    list.push(r);
    out.set(pub, list);
  };
  const next = (pub: string) => {
    const n = (seqs.get(pub) ?? 0) + 1;
    seqs.set(pub, n);
    return n;
  };
  const step = Math.floor((spanMs * 1000) / perSeries);
  for (let i = 0; i < perSeries; i++) {
    const t = nowUs - spanMs * 1000 + i * step;
    for (const [k, inst] of ['XBT/USD', 'ETH/USD', 'BTC/USD'].entries()) {
      const px = 30000 / (k + 1) + Math.sin(i / 7) * 10;
      push('kraken_tick', {
        ...base('kraken_tick', 'kraken.tick', 'kraken', session),
        kind: 'tick',
        seq: next('kraken_tick'),
        ts_event_us: t,
        ts_recv_us: t + 500,
        instrument: inst,
        bid: (px - 0.5).toFixed(1),
        bid_qty: '1.5',
        ask: (px + 0.5).toFixed(1),
        ask_qty: '2.25',
        last: px.toFixed(1),
        volume: '1234.5',
        tradeable: true,
      });
      push('kraken_depth', {
        ...base('kraken_depth', 'kraken.depth', 'kraken', session),
        kind: 'depth',
        seq: next('kraken_depth'),
        ts_event_us: t + 1,
        ts_recv_us: t + 600,
        instrument: inst,
        bids: Array.from({ length: 10 }, (_, j) => lv(px - 0.5 - j, 1 + j)),
        asks: Array.from({ length: 10 }, (_, j) => lv(px + 0.5 + j, 1 + j / 2)),
        snapshot: i === 0,
        checksum: 12345,
        checksum_ok: i % 50 !== 7,
      });
      push('kraken_orders', {
        ...base('kraken_orders', 'kraken.trade', 'kraken', session),
        kind: 'trade',
        seq: next('kraken_orders'),
        ts_event_us: t + 2,
        ts_recv_us: t + 700,
        instrument: inst,
        price: px.toFixed(1),
        qty: (0.1 + (i % 5) / 10).toFixed(3),
        side: i % 2 ? 'buy' : 'sell',
        trade_id: String(1000 + i),
        ord_type: 'limit',
        snapshot: false,
      });
    }
    for (const inst of ['EUR_USD', 'USD_JPY']) {
      const px = inst === 'EUR_USD' ? 1.08 + i / 1e5 : 151.2 + i / 1e3;
      push('oanda_tick', {
        ...base('oanda_tick', 'oanda.tick', 'oanda', session),
        kind: 'tick',
        seq: next('oanda_tick'),
        ts_event_us: t + 3,
        ts_recv_us: t + 800,
        instrument: inst,
        bid: px.toFixed(5),
        bid_qty: '1000000',
        ask: (px + 0.0002).toFixed(5),
        ask_qty: '1000000',
        last: null,
        volume: null,
        tradeable: true,
      });
    }
    for (const market of ['1.180770798', '1.185781465']) {
      for (const sel of [12345, 67890, 13579]) {
        const back = 2 + (sel % 7) + Math.sin(i / 5) * 0.2;
        push('betfair_stream', {
          ...base('betfair_stream', 'betfair.market', 'betfair', session),
          kind: 'runner',
          seq: next('betfair_stream'),
          ts_event_us: t + 4,
          ts_recv_us: t + 900,
          instrument: `${market}:${sel}:0`,
          market_id: market,
          selection_id: sel,
          hc: 0,
          back: [lv(back, 10), lv(back - 0.02, 20), lv(back - 0.04, 30)],
          lay: [lv(back + 0.02, 11), lv(back + 0.04, 21), lv(back + 0.06, 31)],
          ltp: back.toFixed(2),
          tv: (1000 + i * 10).toFixed(2),
          clk: `clk${i}`,
          snapshot: i === 0,
        });
      }
      if (i % 20 === 0)
        push('betfair_stream', {
          ...base('betfair_stream', 'betfair.market', 'betfair', session),
          kind: 'market',
          seq: next('betfair_stream'),
          ts_event_us: t + 5,
          ts_recv_us: t + 950,
          instrument: market,
          market_id: market,
          status: i < 60 ? 'OPEN' : 'SUSPENDED',
          in_play: i >= 40,
          version: i,
          tv: (5000 + i).toFixed(2),
        });
    }
    if (i % 20 === 10) {
      // Five rounds: every publisher gets every gap reason once.
      const reasons = ['reconnect', 'checksum', 'publisher_restart', 'stale', 'sequence'] as const;
      const round = (i - 10) / 20;
      for (const [k, [pub, topic, venue]] of (
        [
          ['kraken_tick', 'kraken.tick', 'kraken'],
          ['kraken_depth', 'kraken.depth', 'kraken'],
          ['oanda_tick', 'oanda.tick', 'oanda'],
          ['betfair_stream', 'betfair.market', 'betfair'],
          ['kraken_orders', 'kraken.trade', 'kraken'],
        ] as const
      ).entries()) {
        const reason = reasons[(k + round) % reasons.length]!;
        push(pub, {
          ...base(pub, topic, venue, session),
          kind: 'gap',
          seq: next(pub),
          ts_event_us: t + 6,
          ts_recv_us: t + 6,
          instrument: '',
          reason,
          gap_start_us: t - 1_000_000,
          gap_end_us: t,
          detail: `${reason} test`,
          first_missing_seq: 0,
          last_missing_seq: 0,
        });
        push(pub, {
          ...base(pub, topic, venue, session),
          kind: 'status',
          seq: next(pub),
          ts_event_us: t + 7,
          ts_recv_us: t + 7,
          instrument: '',
          status: 'online',
          detail: 'connected',
        });
      }
    }
  }
  return out;
}

/**
 * Fill InfluxDB through the real writer: each publisher's records go through InfluxSink with the
 * write target of the subscriber that stores its topic; health points through HealthWriter.
 */
export async function fillThroughWriter(config: Config, url: string, nowUs: number): Promise<number> {
  const client = new InfluxClient({ url, gzip: true });
  const sink = new InfluxSink({ client, database: config.influxdb.database, measurements: config.influxdb.measurements });
  await sink.open();
  for (const rp of config.influxdb.retentionPolicies) {
    await client.query(
      `CREATE RETENTION POLICY "${rp.name}" ON "${config.influxdb.database}" DURATION ${rp.duration} REPLICATION 1 SHARD DURATION ${rp.shardDuration}${rp.default ? ' DEFAULT' : ''}`,
      { method: 'POST' },
    );
  }
  let written = 0;
  const records = simulatorLikeRecords(nowUs);
  for (const p of config.publishers) {
    const sub = config.subscribers.find((s) => s.topics.some((t) => p.topic.startsWith(t)));
    const recs = records.get(p.name);
    if (!sub || !recs) continue;
    const res = await sink.write(recs, {
      measurements: sub.measurements,
      eventsMeasurement: config.influxdb.eventsMeasurement,
      retentionPolicy: sub.retentionPolicy,
    });
    if (Object.keys(res.dropped).length) throw new Error(`writer dropped points for ${p.name}: ${JSON.stringify(res.dropped)}`);
    written += res.written;
  }
  let t = nowUs - 40_000_000;
  const clock: Clock = {
    nowUs: () => t,
    nowMs: () => Math.floor(t / 1000),
    monoMs: () => Math.floor(t / 1000),
    setTimeout: () => ({ cancel() {} }),
  };
  for (const sub of config.subscribers) {
    const hw = new HealthWriter({
      sink,
      service: sub.name,
      measurement: config.influxdb.healthMeasurement,
      retentionPolicy: sub.retentionPolicy,
      clock,
    });
    for (let i = 0; i < 20; i++) {
      t = nowUs - 40_000_000 + i * 2_000_000;
      const res = await hw.write(
        sub.topics.map((topic) => ({
          topic,
          records_per_s: 20 + i,
          lag_ms: 5 + (i % 3),
          gaps: Math.floor(i / 5),
          drops: i > 10 ? 1 : 0,
          restarts: i > 15 ? 1 : 0,
          queue_depth: i % 4,
          spool_bytes: i > 12 ? 4096 : 0,
        })),
      );
      if (!res || Object.keys(res.dropped).length)
        throw new Error(`health writer failed for ${sub.name}: ${JSON.stringify(res)} ${JSON.stringify(hw.stats)}`);
      written += res.written;
    }
  }
  return written;
}
