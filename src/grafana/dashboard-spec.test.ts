import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Panel, RowPanel } from '@grafana/schema';
import { latestTable, renderDashboard, row, series, stat, stateTimeline, table, type DashboardSpec } from './dashboard-spec.js';

const ctx = { ds: { type: 'influxdb', uid: 'ds1' }, refresh: '10s' };

const base: DashboardSpec = {
  uid: 'd1',
  title: 'D1',
  description: 'test',
  tags: ['x'],
  sources: {
    main: { from: '"rp"."m"', filters: ['inst', 'side'] },
    other: { from: '"rp"."o"', filters: ['inst'] },
  },
  variables: [
    { name: 'inst', label: 'Instrument', key: 'instrument' },
    { name: 'side', label: 'Side', key: 'side', within: 'inst' },
    { name: 'kind', label: 'Kind', key: 'kind', source: 'other' },
  ],
  statBy: ['instrument'],
  seriesBy: ['instrument', 'side'],
  rows: [],
};

const W = `"instrument" =~ /^\${inst:regex}$/ AND "side" =~ /^\${side:regex}$/ AND $timeFilter`;

/** The non-row panels of a rendered spec with these rows. */
function panels(spec: Partial<DashboardSpec>): Panel[] {
  const d = renderDashboard(ctx, { ...base, ...spec });
  return (d.panels ?? []).filter((p): p is Panel => p.type !== 'row');
}
const target = (p: Panel) => p.targets![0] as { query: string; alias?: string; resultFormat: string };

test('stat: source filters then $timeFilter, the dashboard stat GROUP BY, alias from the group tag', () => {
  const [a, b, c] = panels({
    rows: [
      row(
        'Now',
        stat('Last', 'last("x") AS "x"'),
        stat('Rate', 'count("x") / 60 AS "rate"', { recent: true, by: ['side'], decimals: 1 }),
        stat('Gaps', 'count("seq")', { source: 'other', conditions: [`"kind" = 'gap'`], by: [] }),
      ),
    ],
  });
  assert.deepEqual(target(a!), {
    refId: 'A',
    datasource: ctx.ds,
    rawQuery: true,
    resultFormat: 'time_series',
    query: `SELECT last("x") AS "x" FROM "rp"."m" WHERE ${W} GROUP BY "instrument"`,
    alias: '$tag_instrument',
  });
  assert.equal(target(b!).query, `SELECT count("x") / 60 AS "rate" FROM "rp"."m" WHERE ${W} AND time > now() - 1m GROUP BY "side"`);
  assert.equal(target(b!).alias, '$tag_side');
  assert.equal((b!.fieldConfig!.defaults as { decimals?: number }).decimals, 1);
  assert.equal(
    target(c!).query,
    `SELECT count("seq") FROM "rp"."o" WHERE "kind" = 'gap' AND "instrument" =~ /^\${inst:regex}$/ AND $timeFilter`,
  );
  assert.equal(target(c!).alias, undefined);
});

test('time series: time($__interval) then the series GROUP BY, fill and alias defaults and overrides', () => {
  const [a, b, c] = panels({
    fill: 'null',
    rows: [
      row(
        'Series',
        series('A', 'last("x") AS "x"'),
        series('B', 'sum("q") AS "q"', { by: ['instrument'], fill: '0', alias: '$tag_instrument $col', draw: 'bars' }),
        series('VWAP', 'sum("n") / sum("q") AS "vwap"', { subquery: { select: '"p" * "q" AS "n", "q"', by: ['instrument'] } }),
      ),
    ],
  });
  assert.equal(
    target(a!).query,
    `SELECT last("x") AS "x" FROM "rp"."m" WHERE ${W} GROUP BY time($__interval), "instrument", "side" fill(null)`,
  );
  assert.equal(target(a!).alias, '$tag_instrument $tag_side');
  assert.equal(target(b!).query, `SELECT sum("q") AS "q" FROM "rp"."m" WHERE ${W} GROUP BY time($__interval), "instrument" fill(0)`);
  assert.equal(target(b!).alias, '$tag_instrument $col');
  assert.equal(
    target(c!).query,
    `SELECT sum("n") / sum("q") AS "vwap" FROM (SELECT "p" * "q" AS "n", "q" FROM "rp"."m" WHERE ${W} GROUP BY "instrument") WHERE $timeFilter GROUP BY time($__interval), "instrument", "side" fill(null)`,
  );
  // seriesAlias applies to time-grouped panels only, not to stats.
  const [s, t] = panels({
    seriesAlias: 'S $col',
    rows: [row('R', stat('s', 'last("x")'), stateTimeline('t', 'last("st")', { A: { text: 'A', color: 'green' } }, { fill: 'previous' }))],
  });
  assert.equal(target(s!).alias, '$tag_instrument');
  assert.equal(target(t!).alias, 'S $col');
  assert.match(target(t!).query, /GROUP BY time\(\$__interval\), "instrument", "side" fill\(previous\)$/);
});

test('tables: table format, no alias, no GROUP BY unless given, newest rows last', () => {
  const [a, b] = panels({
    rows: [row('Latest', latestTable('L', ['instrument', 'bid']), table('T', 'last("x") AS "x"', { by: ['instrument', 'side'], w: 12 }))],
  });
  assert.deepEqual(target(a!), {
    refId: 'A',
    datasource: ctx.ds,
    rawQuery: true,
    resultFormat: 'table',
    query: `SELECT "instrument", "bid" FROM "rp"."m" WHERE ${W} ORDER BY time DESC LIMIT 50`,
  });
  assert.equal(target(b!).query, `SELECT last("x") AS "x" FROM "rp"."m" WHERE ${W} GROUP BY "instrument", "side"`);
  assert.equal(b!.gridPos!.w, 12);
});

test('rows, ids and grid; false panels are left out; the shell and the variables', () => {
  const d = renderDashboard(ctx, {
    ...base,
    rows: [row('One', stat('a', 'last("x")'), false, stat('b', 'last("y")')), row('Two', series('c', 'last("z")'))],
  });
  const all = d.panels as (Panel | RowPanel)[];
  assert.deepEqual(
    all.map((p) => [p.id, p.type, p.title, p.gridPos]),
    [
      [1, 'row', 'One', { x: 0, y: 0, w: 24, h: 1 }],
      [2, 'stat', 'a', { x: 0, y: 1, w: 6, h: 4 }],
      [3, 'stat', 'b', { x: 6, y: 1, w: 6, h: 4 }],
      [4, 'row', 'Two', { x: 0, y: 5, w: 24, h: 1 }],
      [5, 'timeseries', 'c', { x: 0, y: 6, w: 12, h: 8 }],
    ],
  );
  // Without a dashboard fill, time-grouped queries fill(none).
  assert.match(((all[4] as Panel).targets![0] as { query: string }).query, /fill\(none\)$/);
  assert.deepEqual(d.tags, ['nbpy', 'generated', 'x']);
  assert.equal(d.refresh, '10s');
  assert.deepEqual(
    d.templating!.list!.map((v) => (v as unknown as { definition: string }).definition),
    [
      'SHOW TAG VALUES FROM "rp"."m" WITH KEY = "instrument"',
      'SHOW TAG VALUES FROM "rp"."m" WITH KEY = "side" WHERE "instrument" =~ /^${inst:regex}$/',
      'SHOW TAG VALUES FROM "rp"."o" WITH KEY = "kind"',
    ],
  );
});

test('a panel naming an unknown source, or a source filtering on an unknown variable, is an error', () => {
  assert.throws(() => panels({ rows: [row('R', stat('a', 'last("x")', { source: 'nope' }))] }), /no source "nope"/);
  assert.throws(
    () => panels({ sources: { main: { from: '"m"', filters: ['ghost'] } }, rows: [row('R', stat('a', 'last("x")'))] }),
    /no variable "ghost"/,
  );
});
