/**
 * Dashboards as code: one dashboard per publisher feed and one pipeline-health dashboard, built
 * from the config (publishers, the subscribers that store their topics, influxdb.measurements).
 * Pure: config in, classic dashboard JSON (typed with @grafana/schema) out.
 *
 * Every query is raw InfluxQL (`rawQuery: true`), names the retention policy the subscriber writes
 * into (`"high_frequency"."kraken_tick"`), filters tags with `=~ /^${var:regex}$/` and ends its
 * WHERE with `$timeFilter` (grafana.md §3, §4, §9).
 */
import type { Dashboard, DataSourceRef, VariableModel } from '@grafana/schema';
import type { Config, MeasurementSchema, PublisherConfig, SubscriberConfig } from '../config/schema.js';
import { source, sources, tagFilter, whereClause } from './influxql.js';
import { PanelSet, SCHEMA_VERSION, tagVariable } from './panels.js';

/** uid of the pipeline health dashboard. */
export const PIPELINE_UID = 'nbpy_pipeline';
/** Tag put on every generated dashboard (and used to find them). */
export const GENERATED_TAG = 'nbpy';

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

/** A generated dashboard: @grafana/schema's Dashboard, with the variables' `definition` kept. */
export type GeneratedDashboard = Dashboard & { uid: string; title: string };

interface Ctx {
  config: Config;
  ds: DataSourceRef;
}

function shell(
  ctx: Ctx,
  uid: string,
  title: string,
  description: string,
  tags: string[],
  variables: VariableModel[],
  ps: PanelSet,
): GeneratedDashboard {
  return {
    uid,
    title,
    description,
    tags: [GENERATED_TAG, 'generated', ...tags],
    editable: true,
    schemaVersion: SCHEMA_VERSION,
    timezone: 'utc',
    refresh: ctx.config.grafana.refresh,
    time: { from: 'now-15m', to: 'now' },
    timepicker: { refresh_intervals: ['5s', '10s', '30s', '1m', '5m'] },
    graphTooltip: 1 as Dashboard['graphTooltip'],
    annotations: { list: [] },
    links: [],
    templating: { list: variables },
    panels: ps.panels,
  };
}

const fieldSet = (schema: MeasurementSchema | undefined) => new Set(Object.keys(schema?.fields ?? {}));

/** Depth levels present in a measurement schema (`bid_N_price`). */
function levelCount(fields: Set<string>, side: string): number {
  let n = 0;
  while (fields.has(`${side}_${n + 1}_price`)) n++;
  return n;
}

const sum = (parts: string[]) => parts.join(' + ');

// ---------------------------------------------------------------- quotes (Kraken ticker, OANDA pricing)

function tickDashboard(ctx: Ctx, p: PublisherConfig, sub: SubscriberConfig, m: string): GeneratedDashboard {
  const rp = sub.retentionPolicy;
  const src = source(rp, m);
  const fields = fieldSet(ctx.config.influxdb.measurements[m]);
  const w = whereClause([tagFilter('instrument', 'instrument')]);
  const by = `GROUP BY time($__interval), "instrument" fill(none)`;
  const ps = new PanelSet(ctx.ds);
  const mid = `(last("bid") + last("ask")) / 2`;

  ps.row('Now');
  if (fields.has('last'))
    ps.stat('Last price', [
      { query: `SELECT last("last") AS "last" FROM ${src} WHERE ${w} GROUP BY "instrument"`, alias: '$tag_instrument' },
    ]);
  else ps.stat('Last mid', [{ query: `SELECT ${mid} AS "mid" FROM ${src} WHERE ${w} GROUP BY "instrument"`, alias: '$tag_instrument' }]);
  ps.stat(
    'Rate, last minute (records/s)',
    [
      {
        query: `SELECT count("seq") / 60 AS "rate" FROM ${src} WHERE ${w} AND time > now() - 1m GROUP BY "instrument"`,
        alias: '$tag_instrument',
      },
    ],
    { decimals: 1, noValue: '0' },
  );
  ps.stat(
    'Last update',
    [{ query: `SELECT last("ts_recv_us") / 1000 AS "received" FROM ${src} WHERE ${w} GROUP BY "instrument"`, alias: '$tag_instrument' }],
    {
      unit: 'dateTimeFromNow',
      description: 'Local receive time of the newest record (ts_recv_us).',
    },
  );
  ps.stat('Spread now', [
    { query: `SELECT last("ask") - last("bid") AS "spread" FROM ${src} WHERE ${w} GROUP BY "instrument"`, alias: '$tag_instrument' },
  ]);

  ps.row('Prices');
  ps.timeseries(
    'Bid / ask / mid',
    [
      {
        query: `SELECT last("bid") AS "bid", last("ask") AS "ask", ${mid} AS "mid" FROM ${src} WHERE ${w} ${by}`,
        alias: '$tag_instrument $col',
      },
    ],
    { w: 24, h: 10, step: true },
  );
  ps.timeseries(
    'Spread',
    [{ query: `SELECT last("ask") - last("bid") AS "spread" FROM ${src} WHERE ${w} ${by}`, alias: '$tag_instrument $col' }],
    { step: true },
  );
  ps.timeseries(
    'Spread (bps of mid)',
    [
      {
        query: `SELECT (last("ask") - last("bid")) / ((last("ask") + last("bid")) / 2) * 10000 AS "spread_bps" FROM ${src} WHERE ${w} ${by}`,
        alias: '$tag_instrument $col',
      },
    ],
    { step: true, decimals: 2 },
  );
  if (fields.has('bid_qty') && fields.has('ask_qty'))
    ps.timeseries(
      'Top-of-book size',
      [
        {
          query: `SELECT last("bid_qty") AS "bid_qty", last("ask_qty") AS "ask_qty" FROM ${src} WHERE ${w} ${by}`,
          alias: '$tag_instrument $col',
        },
      ],
      { step: true },
    );
  ps.timeseries(
    'Records per second',
    [
      {
        query: `SELECT count("seq") * 1000 / $__interval_ms AS "rate" FROM ${src} WHERE ${w} GROUP BY time($__interval), "instrument" fill(0)`,
        alias: '$tag_instrument',
      },
    ],
    { unit: 'reqps' },
  );

  ps.row('Latest records');
  const cols = ['instrument', 'bid', 'bid_qty', 'ask', 'ask_qty', 'last', 'volume', 'tradeable', 'seq'].filter(
    (c) => c === 'instrument' || fields.has(c),
  );
  ps.table('Latest records', [
    { query: `SELECT ${cols.map((c) => `"${c}"`).join(', ')} FROM ${src} WHERE ${w} ORDER BY time DESC LIMIT 50` },
  ]);

  const variables = [tagVariable(ctx.ds, 'instrument', 'Instrument', `SHOW TAG VALUES FROM ${src} WITH KEY = "instrument"`)];
  return shell(ctx, feedDashboardUid(p.name), feedDashboardUid(p.name), describe(p, rp, [m]), [p.venue, 'tick'], variables, ps);
}

// ---------------------------------------------------------------- order book (Kraken book)

function depthDashboard(ctx: Ctx, p: PublisherConfig, sub: SubscriberConfig, m: string): GeneratedDashboard {
  const rp = sub.retentionPolicy;
  const src = source(rp, m);
  const fields = fieldSet(ctx.config.influxdb.measurements[m]);
  const levels = Math.min(levelCount(fields, 'bid'), levelCount(fields, 'ask'));
  const top = Math.max(1, Math.min(levels, 5));
  const w = whereClause([tagFilter('instrument', 'instrument')]);
  const by = `GROUP BY time($__interval), "instrument" fill(none)`;
  const ps = new PanelSet(ctx.ds);
  const mid = `(last("bid_1_price") + last("ask_1_price")) / 2`;
  const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

  ps.row('Now');
  ps.stat('Mid', [{ query: `SELECT ${mid} AS "mid" FROM ${src} WHERE ${w} GROUP BY "instrument"`, alias: '$tag_instrument' }]);
  ps.stat(
    'Rate, last minute (updates/s)',
    [
      {
        query: `SELECT count("seq") / 60 AS "rate" FROM ${src} WHERE ${w} AND time > now() - 1m GROUP BY "instrument"`,
        alias: '$tag_instrument',
      },
    ],
    { decimals: 1, noValue: '0' },
  );
  ps.stat(
    'Last update',
    [{ query: `SELECT last("ts_recv_us") / 1000 AS "received" FROM ${src} WHERE ${w} GROUP BY "instrument"`, alias: '$tag_instrument' }],
    { unit: 'dateTimeFromNow' },
  );
  ps.stat('Spread now', [
    {
      query: `SELECT last("ask_1_price") - last("bid_1_price") AS "spread" FROM ${src} WHERE ${w} GROUP BY "instrument"`,
      alias: '$tag_instrument',
    },
  ]);

  ps.row('Book');
  ps.timeseries(
    'Best bid / ask / mid',
    [
      {
        query: `SELECT last("bid_1_price") AS "bid", last("ask_1_price") AS "ask", ${mid} AS "mid" FROM ${src} WHERE ${w} ${by}`,
        alias: '$tag_instrument $col',
      },
    ],
    { w: 24, h: 10, step: true },
  );
  ps.timeseries(
    `Price levels (top ${top})`,
    [
      {
        query: `SELECT ${range(top)
          .flatMap((i) => [`last("bid_${i}_price") AS "bid_${i}"`, `last("ask_${i}_price") AS "ask_${i}"`])
          .join(', ')} FROM ${src} WHERE ${w} ${by}`,
        alias: '$tag_instrument $col',
      },
    ],
    { step: true },
  );
  ps.timeseries(
    `Depth: quantity at the top ${top} levels`,
    [
      {
        query: `SELECT ${sum(range(top).map((i) => `last("bid_${i}_qty")`))} AS "bid_depth", ${sum(range(top).map((i) => `last("ask_${i}_qty")`))} AS "ask_depth" FROM ${src} WHERE ${w} ${by}`,
        alias: '$tag_instrument $col',
      },
    ],
    { step: true },
  );
  ps.timeseries(
    'Top-of-book quantity',
    [
      {
        query: `SELECT last("bid_1_qty") AS "bid_1_qty", last("ask_1_qty") AS "ask_1_qty" FROM ${src} WHERE ${w} ${by}`,
        alias: '$tag_instrument $col',
      },
    ],
    { step: true },
  );
  ps.timeseries(
    'Updates per second',
    [
      {
        query: `SELECT count("seq") * 1000 / $__interval_ms AS "rate" FROM ${src} WHERE ${w} GROUP BY time($__interval), "instrument" fill(0)`,
        alias: '$tag_instrument',
      },
    ],
    { unit: 'reqps' },
  );

  ps.row('Latest records');
  const cols = [
    'instrument',
    ...range(top).flatMap((i) => [`bid_${i}_price`, `bid_${i}_qty`, `ask_${i}_price`, `ask_${i}_qty`]),
    'snapshot',
    'checksum_ok',
    'seq',
  ].filter((c) => c === 'instrument' || fields.has(c));
  ps.table('Latest book updates', [
    { query: `SELECT ${cols.map((c) => `"${c}"`).join(', ')} FROM ${src} WHERE ${w} ORDER BY time DESC LIMIT 50` },
  ]);

  const variables = [tagVariable(ctx.ds, 'instrument', 'Instrument', `SHOW TAG VALUES FROM ${src} WITH KEY = "instrument"`)];
  return shell(ctx, feedDashboardUid(p.name), feedDashboardUid(p.name), describe(p, rp, [m]), [p.venue, 'depth'], variables, ps);
}

// ---------------------------------------------------------------- trades (Kraken trade)

function tradesDashboard(ctx: Ctx, p: PublisherConfig, sub: SubscriberConfig, m: string): GeneratedDashboard {
  const rp = sub.retentionPolicy;
  const src = source(rp, m);
  const w = whereClause([tagFilter('instrument', 'instrument'), tagFilter('side', 'side')]);
  const ps = new PanelSet(ctx.ds);

  ps.row('Now');
  ps.stat('Last trade price', [
    { query: `SELECT last("price") AS "price" FROM ${src} WHERE ${w} GROUP BY "instrument"`, alias: '$tag_instrument' },
  ]);
  ps.stat(
    'Trades, last minute (per s)',
    [
      {
        query: `SELECT count("price") / 60 AS "rate" FROM ${src} WHERE ${w} AND time > now() - 1m GROUP BY "instrument"`,
        alias: '$tag_instrument',
      },
    ],
    { decimals: 2, noValue: '0' },
  );
  ps.stat(
    'Last trade',
    [{ query: `SELECT last("ts_recv_us") / 1000 AS "received" FROM ${src} WHERE ${w} GROUP BY "instrument"`, alias: '$tag_instrument' }],
    { unit: 'dateTimeFromNow' },
  );
  ps.stat('Volume in range', [
    { query: `SELECT sum("qty") AS "qty" FROM ${src} WHERE ${w} GROUP BY "instrument"`, alias: '$tag_instrument' },
  ]);

  ps.row('Trades');
  ps.timeseries(
    'Trade prices',
    [
      {
        query: `SELECT last("price") AS "price" FROM ${src} WHERE ${w} GROUP BY time($__interval), "instrument", "side" fill(none)`,
        alias: '$tag_instrument $tag_side',
      },
    ],
    { w: 24, h: 10, draw: 'points' },
  );
  ps.timeseries(
    'Traded size per interval by side',
    [
      {
        query: `SELECT sum("qty") AS "qty" FROM ${src} WHERE ${w} GROUP BY time($__interval), "instrument", "side" fill(0)`,
        alias: '$tag_instrument $tag_side',
      },
    ],
    { draw: 'bars', stack: true },
  );
  ps.timeseries(
    'VWAP per interval',
    [
      {
        query: `SELECT sum("notional") / sum("qty") AS "vwap" FROM (SELECT "price" * "qty" AS "notional", "qty" FROM ${src} WHERE ${w} GROUP BY "instrument") WHERE $timeFilter GROUP BY time($__interval), "instrument" fill(none)`,
        alias: '$tag_instrument $col',
      },
    ],
    { step: true },
  );
  ps.timeseries(
    'Trades per second',
    [
      {
        query: `SELECT count("price") * 1000 / $__interval_ms AS "rate" FROM ${src} WHERE ${w} GROUP BY time($__interval), "instrument" fill(0)`,
        alias: '$tag_instrument',
      },
    ],
    { unit: 'reqps' },
  );
  ps.table('Largest trades in range', [{ query: `SELECT top("qty", 20) AS "qty", "price", "instrument", "side" FROM ${src} WHERE ${w}` }], {
    w: 12,
    h: 9,
  });

  ps.row('Latest records');
  ps.table('Latest trades', [
    {
      query: `SELECT "instrument", "side", "price", "qty", "trade_id", "ord_type", "snapshot", "seq" FROM ${src} WHERE ${w} ORDER BY time DESC LIMIT 50`,
    },
  ]);

  const variables = [
    tagVariable(ctx.ds, 'instrument', 'Instrument', `SHOW TAG VALUES FROM ${src} WITH KEY = "instrument"`),
    tagVariable(ctx.ds, 'side', 'Side', `SHOW TAG VALUES FROM ${src} WITH KEY = "side"`),
  ];
  return shell(ctx, feedDashboardUid(p.name), feedDashboardUid(p.name), describe(p, rp, [m]), [p.venue, 'trades'], variables, ps);
}

// ---------------------------------------------------------------- Betfair (runners + market)

function betfairDashboard(
  ctx: Ctx,
  p: PublisherConfig,
  sub: SubscriberConfig,
  runnerM: string,
  marketM: string | undefined,
): GeneratedDashboard {
  const rp = sub.retentionPolicy;
  const src = source(rp, runnerM);
  const w = whereClause([tagFilter('market_id', 'market'), tagFilter('selection_id', 'runner')]);
  const by = `GROUP BY time($__interval), "market_id", "selection_id" fill(none)`;
  const alias = '$tag_selection_id $col';
  const ps = new PanelSet(ctx.ds);

  ps.row('Now');
  ps.stat('Last traded price', [
    { query: `SELECT last("ltp") AS "ltp" FROM ${src} WHERE ${w} GROUP BY "selection_id"`, alias: '$tag_selection_id' },
  ]);
  ps.stat(
    'Rate, last minute (runner updates/s)',
    [
      {
        query: `SELECT count("seq") / 60 AS "rate" FROM ${src} WHERE ${w} AND time > now() - 1m GROUP BY "market_id"`,
        alias: '$tag_market_id',
      },
    ],
    { decimals: 1, noValue: '0' },
  );
  ps.stat(
    'Last update',
    [{ query: `SELECT last("ts_recv_us") / 1000 AS "received" FROM ${src} WHERE ${w} GROUP BY "market_id"`, alias: '$tag_market_id' }],
    { unit: 'dateTimeFromNow' },
  );
  ps.stat('Traded volume', [
    { query: `SELECT last("tv") AS "tv" FROM ${src} WHERE ${w} GROUP BY "selection_id"`, alias: '$tag_selection_id' },
  ]);

  ps.row('Prices');
  ps.timeseries(
    'Best back / lay',
    [{ query: `SELECT last("back_1_price") AS "back", last("lay_1_price") AS "lay" FROM ${src} WHERE ${w} ${by}`, alias }],
    { w: 24, h: 10, step: true },
  );
  ps.timeseries('Last traded price', [{ query: `SELECT last("ltp") AS "ltp" FROM ${src} WHERE ${w} ${by}`, alias }], { step: true });
  ps.timeseries(
    'Implied probability (best back)',
    [{ query: `SELECT 100 / last("back_1_price") AS "implied_pct" FROM ${src} WHERE ${w} ${by}`, alias }],
    {
      step: true,
      unit: 'percent',
    },
  );
  ps.timeseries(
    'Available at best price',
    [{ query: `SELECT last("back_1_qty") AS "back_qty", last("lay_1_qty") AS "lay_qty" FROM ${src} WHERE ${w} ${by}`, alias }],
    { step: true },
  );
  ps.timeseries(
    'Matched volume per interval',
    [{ query: `SELECT non_negative_difference(last("tv")) AS "matched" FROM ${src} WHERE ${w} ${by}`, alias }],
    { draw: 'bars' },
  );

  if (marketM) {
    const msrc = source(rp, marketM);
    const mw = whereClause([tagFilter('market_id', 'market')]);
    ps.row('Market');
    ps.stateTimeline(
      'Market status',
      [
        {
          query: `SELECT last("status") AS "status" FROM ${msrc} WHERE ${mw} GROUP BY time($__interval), "market_id" fill(previous)`,
          alias: '$tag_market_id',
        },
      ],
      {
        OPEN: { text: 'OPEN', color: 'green' },
        SUSPENDED: { text: 'SUSPENDED', color: 'orange' },
        CLOSED: { text: 'CLOSED', color: 'text' },
        INACTIVE: { text: 'INACTIVE', color: 'text' },
      },
    );
    ps.stateTimeline(
      'In play',
      [
        {
          query: `SELECT last("in_play") AS "in_play" FROM ${msrc} WHERE ${mw} GROUP BY time($__interval), "market_id" fill(previous)`,
          alias: '$tag_market_id',
        },
      ],
      { true: { text: 'IN PLAY', color: 'blue' }, false: { text: 'PRE-PLAY', color: 'text' } },
    );
  }

  ps.row('Latest records');
  ps.table(
    'Runners (latest in range)',
    [
      {
        query: `SELECT last("back_1_price") AS "back", last("lay_1_price") AS "lay", last("ltp") AS "ltp", last("tv") AS "tv" FROM ${src} WHERE ${w} GROUP BY "market_id", "selection_id"`,
      },
    ],
    { w: 12 },
  );
  ps.table(
    'Latest runner updates',
    [
      {
        query: `SELECT "market_id", "selection_id", "back_1_price", "back_1_qty", "lay_1_price", "lay_1_qty", "ltp", "tv", "seq" FROM ${src} WHERE ${w} ORDER BY time DESC LIMIT 50`,
      },
    ],
    { w: 12 },
  );

  const variables = [
    tagVariable(ctx.ds, 'market', 'Market', `SHOW TAG VALUES FROM ${src} WITH KEY = "market_id"`),
    tagVariable(
      ctx.ds,
      'runner',
      'Runner (selection id)',
      `SHOW TAG VALUES FROM ${src} WITH KEY = "selection_id" WHERE ${tagFilter('market_id', 'market')}`,
    ),
  ];
  const ms = marketM ? [runnerM, marketM] : [runnerM];
  return shell(ctx, feedDashboardUid(p.name), feedDashboardUid(p.name), describe(p, rp, ms), [p.venue, 'betting'], variables, ps);
}

function describe(p: PublisherConfig, rp: string, ms: string[]): string {
  const what = p.venue === 'betfair' ? `markets ${p.markets.join(', ') || '(by filter)'}` : `instruments ${p.instruments.join(', ')}`;
  return `${p.venue} ${p.feed} feed of publisher ${p.name} (${what}); topic ${p.topic}; InfluxDB ${ms.map((m) => `"${rp}"."${m}"`).join(', ')}. Generated by nbpy grafana; edit the builders in src/grafana, not this JSON.`;
}

// ---------------------------------------------------------------- pipeline health

function pipelineDashboard(ctx: Ctx): GeneratedDashboard {
  const { healthMeasurement, eventsMeasurement } = ctx.config.influxdb;
  // Health points and gap/status events are written by the subscribers into their retention policies.
  const rps = ctx.config.subscribers.map((s) => s.retentionPolicy);
  if (rps.length === 0) rps.push('high_frequency'); // the subscriber default
  const H = sources(rps, healthMeasurement);
  const E = sources(rps, eventsMeasurement);
  const hw = whereClause([tagFilter('service', 'service'), tagFilter('topic', 'topic')]);
  const ew = whereClause([tagFilter('publisher', 'publisher')]);
  const ps = new PanelSet(ctx.ds);
  const byTopic = `GROUP BY time($__interval), "topic" fill(null)`;
  const byService = `GROUP BY time($__interval), "service" fill(null)`;

  ps.row('Now');
  ps.stat(
    'Records/s per topic',
    [{ query: `SELECT last("records_per_s") AS "records_per_s" FROM ${H} WHERE ${hw} GROUP BY "topic"`, alias: '$tag_topic' }],
    { decimals: 1 },
  );
  ps.stat('Lag per topic', [{ query: `SELECT last("lag_ms") AS "lag_ms" FROM ${H} WHERE ${hw} GROUP BY "topic"`, alias: '$tag_topic' }], {
    unit: 'ms',
    thresholds: [
      { value: null, color: 'green' },
      { value: 1000, color: 'orange' },
      { value: 5000, color: 'red' },
    ],
  });
  ps.stat('Gap events in range', [{ query: `SELECT count("seq") AS "gaps" FROM ${E} WHERE "kind" = 'gap' AND ${ew}` }], {
    noValue: '0',
    thresholds: [
      { value: null, color: 'green' },
      { value: 1, color: 'red' },
    ],
  });
  ps.stat(
    'Spool size',
    [{ query: `SELECT last("spool_bytes") AS "spool_bytes" FROM ${H} WHERE ${hw} GROUP BY "service"`, alias: '$tag_service' }],
    {
      unit: 'bytes',
      thresholds: [
        { value: null, color: 'green' },
        { value: 1, color: 'orange' },
      ],
    },
  );

  ps.row('Throughput and lag');
  ps.timeseries(
    'Records/s per topic',
    [{ query: `SELECT mean("records_per_s") AS "records_per_s" FROM ${H} WHERE ${hw} ${byTopic}`, alias: '$tag_topic' }],
    { unit: 'reqps' },
  );
  ps.timeseries(
    'Lag (exchange time to stored), per topic',
    [{ query: `SELECT max("lag_ms") AS "max", mean("lag_ms") AS "mean" FROM ${H} WHERE ${hw} ${byTopic}`, alias: '$tag_topic $col' }],
    { unit: 'ms' },
  );
  ps.timeseries('Queue depth per service', [
    { query: `SELECT max("queue_depth") AS "queue_depth" FROM ${H} WHERE ${hw} ${byService}`, alias: '$tag_service' },
  ]);
  ps.timeseries(
    'Spool size per service',
    [{ query: `SELECT max("spool_bytes") AS "spool_bytes" FROM ${H} WHERE ${hw} ${byService}`, alias: '$tag_service' }],
    { unit: 'bytes' },
  );

  ps.row('Faults');
  ps.timeseries(
    'Gap events by reason',
    [
      {
        query: `SELECT count("seq") AS "gaps" FROM ${E} WHERE "kind" = 'gap' AND ${ew} GROUP BY time($__interval), "reason" fill(0)`,
        alias: '$tag_reason',
      },
    ],
    {
      draw: 'bars',
      stack: true,
      description:
        'Gap records (nbpy_events, kind=gap) stored per interval, by reason: reconnect, checksum, stale, publisher_restart, sequence...',
    },
  );
  ps.timeseries(
    'Sequence gaps per topic (total since service start)',
    [{ query: `SELECT max("gaps") AS "gaps" FROM ${H} WHERE ${hw} ${byTopic}`, alias: '$tag_topic' }],
    {
      description: 'nbpy_health.gaps: a counter per subscriber process (resets when it restarts).',
    },
  );
  ps.timeseries(
    'Dropped points per service (total since start)',
    [{ query: `SELECT max("drops") AS "drops" FROM ${H} WHERE ${hw} ${byService}`, alias: '$tag_service' }],
    {
      description: 'nbpy_health.drops; the split by reason is on each subscriber /metrics (nbpy_points_dropped_total{reason}).',
    },
  );
  ps.timeseries('Restarts per service (total since start)', [
    { query: `SELECT max("restarts") AS "restarts" FROM ${H} WHERE ${hw} ${byService}`, alias: '$tag_service' },
  ]);
  ps.timeseries(
    'Publisher restarts (gap events)',
    [
      {
        query: `SELECT count("seq") AS "restarts" FROM ${E} WHERE "kind" = 'gap' AND "reason" = 'publisher_restart' AND ${ew} GROUP BY time($__interval), "publisher" fill(0)`,
        alias: '$tag_publisher',
      },
    ],
    { draw: 'bars' },
  );
  ps.timeseries(
    'Status events',
    [
      {
        query: `SELECT count("seq") AS "events" FROM ${E} WHERE ${ew} GROUP BY time($__interval), "publisher", "kind" fill(0)`,
        alias: '$tag_publisher $tag_kind',
      },
    ],
    { draw: 'bars', stack: true },
  );

  ps.row('Latest events');
  ps.table('Latest gap and status events', [
    {
      query: `SELECT "publisher", "kind", "reason", "instrument", "status", "detail", "first_missing_seq", "last_missing_seq" FROM ${E} WHERE ${ew} ORDER BY time DESC LIMIT 100`,
    },
  ]);

  const variables = [
    tagVariable(ctx.ds, 'service', 'Service', `SHOW TAG VALUES FROM ${H} WITH KEY = "service"`),
    tagVariable(ctx.ds, 'topic', 'Topic', `SHOW TAG VALUES FROM ${H} WITH KEY = "topic" WHERE ${tagFilter('service', 'service')}`),
    tagVariable(ctx.ds, 'publisher', 'Publisher', `SHOW TAG VALUES FROM ${E} WITH KEY = "publisher"`),
  ];
  const description = `Pipeline health from "${healthMeasurement}" (written by the subscribers) and "${eventsMeasurement}" (gap and status records), retention policy ${[...new Set(rps)].join(', ')}. Generated by nbpy grafana.`;
  return shell(ctx, PIPELINE_UID, PIPELINE_UID, description, ['pipeline', 'health'], variables, ps);
}

// ---------------------------------------------------------------- all of them

/** One dashboard per publisher whose topic a subscriber stores, then the pipeline dashboard. */
export function buildDashboards(config: Config): GeneratedDashboard[] {
  const ctx: Ctx = { config, ds: datasourceRef(config) };
  const out: GeneratedDashboard[] = [];
  for (const p of config.publishers) {
    const sub = subscriberFor(config, p);
    if (!sub) continue;
    const ms = sub.measurements;
    if (p.venue === 'betfair') {
      if (ms.runner) out.push(betfairDashboard(ctx, p, sub, ms.runner, ms.market));
    } else if (p.venue === 'kraken' && p.feed === 'book') {
      if (ms.depth) out.push(depthDashboard(ctx, p, sub, ms.depth));
    } else if (p.venue === 'kraken' && p.feed === 'trade') {
      if (ms.trade) out.push(tradesDashboard(ctx, p, sub, ms.trade));
    } else if (ms.tick) {
      out.push(tickDashboard(ctx, p, sub, ms.tick));
    }
  }
  out.push(pipelineDashboard(ctx));
  return out;
}
