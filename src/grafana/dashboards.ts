/**
 * Dashboards as code: one dashboard per publisher feed and one pipeline-health dashboard, built
 * from the config (publishers, the subscribers that store their topics, influxdb.measurements).
 * Pure: config in, classic dashboard JSON (typed with @grafana/schema) out.
 *
 * Each dashboard is a description (sources, tag variables, rows of panels) in the table below,
 * rendered by the one builder in dashboard-spec.ts. Every query names the retention policy the
 * subscriber writes into (`"high_frequency"."kraken_tick"`), filters tags with
 * `=~ /^${var:regex}$/` and ends its WHERE with `$timeFilter` (grafana.md §3, §4, §9).
 */
import type { DataSourceRef } from '@grafana/schema';
import type { Config, MeasurementSchema, PublisherConfig, SubscriberConfig } from '../config/schema.js';
import { source, sources } from './influxql.js';
import {
  latestTable,
  renderDashboard,
  row,
  series,
  stat,
  stateTimeline,
  table,
  type DashboardSpec,
  type GeneratedDashboard,
  type QueryOptions,
  type StatOptions,
  type VariableSpec,
} from './dashboard-spec.js';

export { GENERATED_TAG, type GeneratedDashboard } from './dashboard-spec.js';

/** uid of the pipeline health dashboard. */
export const PIPELINE_UID = 'nbpy_pipeline';

/** The datasource reference every panel, target and variable uses: by uid only. */
export function datasourceRef(config: Config): DataSourceRef {
  return { type: 'influxdb', uid: config.grafana.datasourceUid };
}

/** Dashboard uid of a publisher feed: its name with `_stream` appended unless already there. */
export function feedDashboardUid(publisherName: string): string {
  return publisherName.endsWith('_stream') ? publisherName : `${publisherName}_stream`;
}

/** The subscriber that stores a publisher's topic (prefix match, as ZeroMQ does), if any. */
export function subscriberFor(config: Config, p: PublisherConfig): SubscriberConfig | undefined {
  return config.subscribers.find((s) => s.topics.some((t) => p.topic.startsWith(t)));
}

const fieldSet = (schema: MeasurementSchema | undefined) => new Set(Object.keys(schema?.fields ?? {}));

/** Depth levels present in a measurement schema (`bid_N_price`). */
function levelCount(fields: Set<string>, side: string): number {
  let n = 0;
  while (fields.has(`${side}_${n + 1}_price`)) n++;
  return n;
}

const sum = (parts: string[]) => parts.join(' + ');
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

// ---------------------------------------------------------------- panels every feed has

/** Records per second over the last minute, per stat group. */
const rateStat = (title: string, countField: string, decimals: number, o: QueryOptions = {}) =>
  stat(title, `count("${countField}") / 60 AS "rate"`, { recent: true, decimals, noValue: '0', ...o });

/** Local receive time of the newest record, per stat group. */
const lastUpdateStat = (title: string, o: QueryOptions & StatOptions = {}) =>
  stat(title, `last("ts_recv_us") / 1000 AS "received"`, { unit: 'dateTimeFromNow', ...o });

/** Records per second per interval and instrument. */
const rateSeries = (title: string, countField: string) =>
  series(title, `count("${countField}") * 1000 / $__interval_ms AS "rate"`, { fill: '0', alias: '$tag_instrument', unit: 'reqps' });

/** Instrument-keyed feeds: filtered by `instrument` (and `more`), a stat and a line per instrument. */
const perInstrument = (from: string, ...more: VariableSpec[]) => ({
  sources: { main: { from, filters: ['instrument', ...more.map((v) => v.name)] } },
  variables: [{ name: 'instrument', label: 'Instrument', key: 'instrument' }, ...more],
  statBy: ['instrument'],
  seriesBy: ['instrument'],
  seriesAlias: '$tag_instrument $col',
});

// ---------------------------------------------------------------- the feeds

/** What a feed description is built from. */
interface Feed {
  /** FROM of each measurement the feed kind reads (the first is the main one). */
  from: string[];
  /** Fields of the main measurement's schema (influxdb.measurements). */
  fields: Set<string>;
}

/** The part of a dashboard description a feed kind decides (the rest is the publisher's). */
type FeedBody = Omit<DashboardSpec, 'uid' | 'title' | 'description' | 'tags'>;

interface FeedKind {
  /** Dashboard tag after the venue. */
  tag: string;
  matches(p: PublisherConfig): boolean;
  /** The subscriber measurements it reads: without the first, no dashboard; later ones are optional. */
  measurements(ms: Readonly<Record<string, string>>): (string | undefined)[];
  body(f: Feed): FeedBody;
}

/** Quotes (Kraken ticker, OANDA pricing). */
function tickBody({ from, fields }: Feed): FeedBody {
  const mid = `(last("bid") + last("ask")) / 2`;
  const cols = ['instrument', 'bid', 'bid_qty', 'ask', 'ask_qty', 'last', 'volume', 'tradeable', 'seq'];
  return {
    ...perInstrument(from[0]!),
    rows: [
      row(
        'Now',
        fields.has('last') ? stat('Last price', `last("last") AS "last"`) : stat('Last mid', `${mid} AS "mid"`),
        rateStat('Rate, last minute (records/s)', 'seq', 1),
        lastUpdateStat('Last update', { description: 'Local receive time of the newest record (ts_recv_us).' }),
        stat('Spread now', `last("ask") - last("bid") AS "spread"`),
      ),
      row(
        'Prices',
        series('Bid / ask / mid', `last("bid") AS "bid", last("ask") AS "ask", ${mid} AS "mid"`, { w: 24, h: 10, step: true }),
        series('Spread', `last("ask") - last("bid") AS "spread"`, { step: true }),
        series('Spread (bps of mid)', `(last("ask") - last("bid")) / ((last("ask") + last("bid")) / 2) * 10000 AS "spread_bps"`, {
          step: true,
          decimals: 2,
        }),
        fields.has('bid_qty') &&
          fields.has('ask_qty') &&
          series('Top-of-book size', `last("bid_qty") AS "bid_qty", last("ask_qty") AS "ask_qty"`, { step: true }),
        rateSeries('Records per second', 'seq'),
      ),
      row(
        'Latest records',
        latestTable(
          'Latest records',
          cols.filter((c) => c === 'instrument' || fields.has(c)),
        ),
      ),
    ],
  };
}

/** Order book (Kraken book). */
function depthBody({ from, fields }: Feed): FeedBody {
  const levels = Math.min(levelCount(fields, 'bid'), levelCount(fields, 'ask'));
  const top = range(Math.max(1, Math.min(levels, 5)));
  const mid = `(last("bid_1_price") + last("ask_1_price")) / 2`;
  const cols = [
    'instrument',
    ...top.flatMap((i) => [`bid_${i}_price`, `bid_${i}_qty`, `ask_${i}_price`, `ask_${i}_qty`]),
    'snapshot',
    'checksum_ok',
    'seq',
  ];
  return {
    ...perInstrument(from[0]!),
    rows: [
      row(
        'Now',
        stat('Mid', `${mid} AS "mid"`),
        rateStat('Rate, last minute (updates/s)', 'seq', 1),
        lastUpdateStat('Last update'),
        stat('Spread now', `last("ask_1_price") - last("bid_1_price") AS "spread"`),
      ),
      row(
        'Book',
        series('Best bid / ask / mid', `last("bid_1_price") AS "bid", last("ask_1_price") AS "ask", ${mid} AS "mid"`, {
          w: 24,
          h: 10,
          step: true,
        }),
        series(
          `Price levels (top ${top.length})`,
          top.flatMap((i) => [`last("bid_${i}_price") AS "bid_${i}"`, `last("ask_${i}_price") AS "ask_${i}"`]).join(', '),
          { step: true },
        ),
        series(
          `Depth: quantity at the top ${top.length} levels`,
          `${sum(top.map((i) => `last("bid_${i}_qty")`))} AS "bid_depth", ${sum(top.map((i) => `last("ask_${i}_qty")`))} AS "ask_depth"`,
          { step: true },
        ),
        series('Top-of-book quantity', `last("bid_1_qty") AS "bid_1_qty", last("ask_1_qty") AS "ask_1_qty"`, { step: true }),
        rateSeries('Updates per second', 'seq'),
      ),
      row(
        'Latest records',
        latestTable(
          'Latest book updates',
          cols.filter((c) => c === 'instrument' || fields.has(c)),
        ),
      ),
    ],
  };
}

/** Trades (Kraken trade). */
function tradesBody({ from }: Feed): FeedBody {
  const bySide = { by: ['instrument', 'side'], alias: '$tag_instrument $tag_side' };
  return {
    ...perInstrument(from[0]!, { name: 'side', label: 'Side', key: 'side' }),
    rows: [
      row(
        'Now',
        stat('Last trade price', `last("price") AS "price"`),
        rateStat('Trades, last minute (per s)', 'price', 2),
        lastUpdateStat('Last trade'),
        stat('Volume in range', `sum("qty") AS "qty"`),
      ),
      row(
        'Trades',
        series('Trade prices', `last("price") AS "price"`, { ...bySide, w: 24, h: 10, draw: 'points' }),
        series('Traded size per interval by side', `sum("qty") AS "qty"`, {
          ...bySide,
          fill: '0',
          draw: 'bars',
          stack: true,
        }),
        series('VWAP per interval', `sum("notional") / sum("qty") AS "vwap"`, {
          subquery: { select: `"price" * "qty" AS "notional", "qty"`, by: ['instrument'] },
          step: true,
        }),
        rateSeries('Trades per second', 'price'),
        table('Largest trades in range', `top("qty", 20) AS "qty", "price", "instrument", "side"`, { w: 12, h: 9 }),
      ),
      row(
        'Latest records',
        latestTable('Latest trades', ['instrument', 'side', 'price', 'qty', 'trade_id', 'ord_type', 'snapshot', 'seq']),
      ),
    ],
  };
}

/** Betfair runners, and the market status when the subscriber stores market records. */
function betfairBody({ from }: Feed): FeedBody {
  const [runners, market] = from;
  const byMarket = { by: ['market_id'] };
  const bySelection = { by: ['selection_id'] };
  const onMarket = { source: 'market', ...byMarket, fill: 'previous', alias: '$tag_market_id' };
  const marketRow =
    market === undefined
      ? []
      : [
          row(
            'Market',
            stateTimeline(
              'Market status',
              `last("status") AS "status"`,
              {
                OPEN: { text: 'OPEN', color: 'green' },
                SUSPENDED: { text: 'SUSPENDED', color: 'orange' },
                CLOSED: { text: 'CLOSED', color: 'text' },
                INACTIVE: { text: 'INACTIVE', color: 'text' },
              },
              onMarket,
            ),
            stateTimeline(
              'In play',
              `last("in_play") AS "in_play"`,
              { true: { text: 'IN PLAY', color: 'blue' }, false: { text: 'PRE-PLAY', color: 'text' } },
              onMarket,
            ),
          ),
        ];
  return {
    sources: {
      main: { from: runners!, filters: ['market', 'runner'] },
      ...(market === undefined ? {} : { market: { from: market, filters: ['market'] } }),
    },
    variables: [
      { name: 'market', label: 'Market', key: 'market_id' },
      { name: 'runner', label: 'Runner (selection id)', key: 'selection_id', within: 'market' },
    ],
    seriesBy: ['market_id', 'selection_id'],
    seriesAlias: '$tag_selection_id $col',
    rows: [
      row(
        'Now',
        stat('Last traded price', `last("ltp") AS "ltp"`, bySelection),
        rateStat('Rate, last minute (runner updates/s)', 'seq', 1, byMarket),
        lastUpdateStat('Last update', byMarket),
        stat('Traded volume', `last("tv") AS "tv"`, bySelection),
      ),
      row(
        'Prices',
        series('Best back / lay', `last("back_1_price") AS "back", last("lay_1_price") AS "lay"`, { w: 24, h: 10, step: true }),
        series('Last traded price', `last("ltp") AS "ltp"`, { step: true }),
        series('Implied probability (best back)', `100 / last("back_1_price") AS "implied_pct"`, { step: true, unit: 'percent' }),
        series('Available at best price', `last("back_1_qty") AS "back_qty", last("lay_1_qty") AS "lay_qty"`, { step: true }),
        series('Matched volume per interval', `non_negative_difference(last("tv")) AS "matched"`, { draw: 'bars' }),
      ),
      ...marketRow,
      row(
        'Latest records',
        table(
          'Runners (latest in range)',
          `last("back_1_price") AS "back", last("lay_1_price") AS "lay", last("ltp") AS "ltp", last("tv") AS "tv"`,
          { by: ['market_id', 'selection_id'], w: 12 },
        ),
        latestTable(
          'Latest runner updates',
          ['market_id', 'selection_id', 'back_1_price', 'back_1_qty', 'lay_1_price', 'lay_1_qty', 'ltp', 'tv', 'seq'],
          { w: 12 },
        ),
      ),
    ],
  };
}

/** The feed kinds, first match wins: Betfair, Kraken book, Kraken trade, then quotes. */
const FEEDS: readonly FeedKind[] = [
  { tag: 'betting', matches: (p) => p.venue === 'betfair', measurements: (ms) => [ms.runner, ms.market], body: betfairBody },
  { tag: 'depth', matches: (p) => p.venue === 'kraken' && p.feed === 'book', measurements: (ms) => [ms.depth], body: depthBody },
  { tag: 'trades', matches: (p) => p.venue === 'kraken' && p.feed === 'trade', measurements: (ms) => [ms.trade], body: tradesBody },
  { tag: 'tick', matches: () => true, measurements: (ms) => [ms.tick], body: tickBody },
];

function describe(p: PublisherConfig, rp: string, ms: string[]): string {
  const what = p.venue === 'betfair' ? `markets ${p.markets.join(', ') || '(by filter)'}` : `instruments ${p.instruments.join(', ')}`;
  return `${p.venue} ${p.feed} feed of publisher ${p.name} (${what}); topic ${p.topic}; InfluxDB ${ms.map((m) => `"${rp}"."${m}"`).join(', ')}. Generated by nbpy grafana; edit the builders in src/grafana, not this JSON.`;
}

/** The dashboard of one publisher feed, or none when its subscriber stores no measurement it reads. */
function feedSpec(config: Config, p: PublisherConfig, sub: SubscriberConfig): DashboardSpec | undefined {
  const kind = FEEDS.find((k) => k.matches(p))!;
  const [main, ...rest] = kind.measurements(sub.measurements);
  if (!main) return undefined;
  const ms = [main, ...rest.filter((m): m is string => !!m)];
  const rp = sub.retentionPolicy;
  const uid = feedDashboardUid(p.name);
  const body = kind.body({ from: ms.map((m) => source(rp, m)), fields: fieldSet(config.influxdb.measurements[main]) });
  return { uid, title: uid, description: describe(p, rp, ms), tags: [p.venue, kind.tag], ...body };
}

// ---------------------------------------------------------------- pipeline health

/** Stat thresholds: green below the first step, then each `[from, color]`. */
const greenThen = (...steps: [number, string][]) => [{ value: null, color: 'green' }, ...steps.map(([value, color]) => ({ value, color }))];

function pipelineSpec(config: Config): DashboardSpec {
  const { healthMeasurement, eventsMeasurement } = config.influxdb;
  // Health points and gap/status events are written by the subscribers into their retention policies.
  const rps = config.subscribers.map((s) => s.retentionPolicy);
  if (rps.length === 0) rps.push('high_frequency'); // the subscriber default
  const events = { source: 'events' };
  const gaps = `"kind" = 'gap'`;
  const byTopic = { by: ['topic'] };
  const byService = { by: ['service'] };
  return {
    uid: PIPELINE_UID,
    title: PIPELINE_UID,
    description: `Pipeline health from "${healthMeasurement}" (written by the subscribers) and "${eventsMeasurement}" (gap and status records), retention policy ${[...new Set(rps)].join(', ')}. Generated by nbpy grafana.`,
    tags: ['pipeline', 'health'],
    sources: {
      main: { from: sources(rps, healthMeasurement), filters: ['service', 'topic'] },
      events: { from: sources(rps, eventsMeasurement), filters: ['publisher'] },
    },
    variables: [
      { name: 'service', label: 'Service', key: 'service' },
      { name: 'topic', label: 'Topic', key: 'topic', within: 'service' },
      { name: 'publisher', label: 'Publisher', key: 'publisher', source: 'events' },
    ],
    fill: 'null',
    rows: [
      row(
        'Now',
        stat('Records/s per topic', `last("records_per_s") AS "records_per_s"`, { ...byTopic, decimals: 1 }),
        stat('Lag per topic', `last("lag_ms") AS "lag_ms"`, {
          ...byTopic,
          unit: 'ms',
          thresholds: greenThen([1000, 'orange'], [5000, 'red']),
        }),
        stat('Gap events in range', `count("seq") AS "gaps"`, {
          ...events,
          conditions: [gaps],
          noValue: '0',
          thresholds: greenThen([1, 'red']),
        }),
        stat('Spool size', `last("spool_bytes") AS "spool_bytes"`, {
          ...byService,
          unit: 'bytes',
          thresholds: greenThen([1, 'orange']),
        }),
      ),
      row(
        'Throughput and lag',
        series('Records/s per topic', `mean("records_per_s") AS "records_per_s"`, { ...byTopic, unit: 'reqps' }),
        series('Lag (exchange time to stored), per topic', `max("lag_ms") AS "max", mean("lag_ms") AS "mean"`, {
          ...byTopic,
          alias: '$tag_topic $col',
          unit: 'ms',
        }),
        series('Queue depth per service', `max("queue_depth") AS "queue_depth"`, byService),
        series('Spool size per service', `max("spool_bytes") AS "spool_bytes"`, { ...byService, unit: 'bytes' }),
      ),
      row(
        'Faults',
        series('Gap events by reason', `count("seq") AS "gaps"`, {
          ...events,
          conditions: [gaps],
          by: ['reason'],
          fill: '0',
          draw: 'bars',
          stack: true,
          description:
            'Gap records (nbpy_events, kind=gap) stored per interval, by reason: reconnect, checksum, stale, publisher_restart, sequence...',
        }),
        series('Sequence gaps per topic (total since service start)', `max("gaps") AS "gaps"`, {
          ...byTopic,
          description: 'nbpy_health.gaps: a counter per subscriber process (resets when it restarts).',
        }),
        series('Dropped points per service (total since start)', `max("drops") AS "drops"`, {
          ...byService,
          description: 'nbpy_health.drops; the split by reason is on each subscriber /metrics (nbpy_points_dropped_total{reason}).',
        }),
        series('Restarts per service (total since start)', `max("restarts") AS "restarts"`, byService),
        series('Publisher restarts (gap events)', `count("seq") AS "restarts"`, {
          ...events,
          conditions: [gaps, `"reason" = 'publisher_restart'`],
          by: ['publisher'],
          fill: '0',
          draw: 'bars',
        }),
        series('Status events', `count("seq") AS "events"`, { ...events, by: ['publisher', 'kind'], fill: '0', draw: 'bars', stack: true }),
      ),
      row(
        'Latest events',
        latestTable(
          'Latest gap and status events',
          ['publisher', 'kind', 'reason', 'instrument', 'status', 'detail', 'first_missing_seq', 'last_missing_seq'],
          { ...events, limit: 100 },
        ),
      ),
    ],
  };
}

// ---------------------------------------------------------------- all of them

/** One dashboard per publisher whose topic a subscriber stores, then the pipeline dashboard. */
export function buildDashboards(config: Config): GeneratedDashboard[] {
  const ctx = { ds: datasourceRef(config), refresh: config.grafana.refresh };
  const specs: DashboardSpec[] = [];
  for (const p of config.publishers) {
    const sub = subscriberFor(config, p);
    const spec = sub && feedSpec(config, p, sub);
    if (spec) specs.push(spec);
  }
  specs.push(pipelineSpec(config));
  return specs.map((s) => renderDashboard(ctx, s));
}
