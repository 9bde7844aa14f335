import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { Panel } from '@grafana/schema';
import yaml from 'js-yaml';
import { loadConfig } from '../config/load.js';
import { buildDashboards, feedDashboardUid, PIPELINE_UID, type GeneratedDashboard } from './dashboards.js';
import { lintDashboard, lintDashboards } from './lint.js';
import { renderProvisioning, folderUid } from './provisioning.js';
import { SCHEMA_VERSION } from './panels.js';
import { validateDashboardSchema } from '../../test/support/grafana-schema.js';

const configPath = fileURLToPath(new URL('../../integration_config.json', import.meta.url));
const { config } = loadConfig(configPath, {});
const dashboards = buildDashboards(config);
const lintOpts = { datasourceUid: config.grafana.datasourceUid };

const targetsOf = (d: GeneratedDashboard) =>
  (d.panels ?? []).flatMap((p) => ((p as Panel).targets ?? []) as { query: string; rawQuery: boolean; datasource: unknown }[]);

test('one dashboard per publisher feed plus the pipeline dashboard, with the fixed uids', () => {
  assert.deepEqual(
    dashboards.map((d) => d.uid),
    ['kraken_tick_stream', 'kraken_depth_stream', 'kraken_orders_stream', 'oanda_tick_stream', 'betfair_stream', PIPELINE_UID],
  );
  assert.equal(feedDashboardUid('betfair_stream'), 'betfair_stream');
  for (const d of dashboards) {
    assert.equal(d.schemaVersion, SCHEMA_VERSION);
    assert.equal(d.refresh, config.grafana.refresh);
    const types = new Set((d.panels ?? []).map((p) => p.type));
    for (const t of ['timeseries', 'stat', 'table']) assert.ok(types.has(t), `${d.uid} has a ${t} panel`);
  }
});

test('the generated dashboards pass the project rules', () => {
  assert.deepEqual(lintDashboards(dashboards, lintOpts), []);
});

test('the generated dashboards validate against the JSON Schema generated from @grafana/schema', () => {
  const validate = validateDashboardSchema();
  for (const d of dashboards) assert.deepEqual(validate(JSON.parse(JSON.stringify(d))), [], d.uid);
  // The schema is not vacuous: it rejects what Grafana would.
  assert.notDeepEqual(validate({ ...dashboards[0], refresh: 5 }), []);
  assert.notDeepEqual(validate({ ...dashboards[0], panels: [{ id: 1, type: 'stat', gridPos: { x: 0, y: 0, w: '6', h: 4 } }] }), []);
  assert.notDeepEqual(validate({ ...dashboards[0], templating: { list: [{ name: 'x', type: 'querry' }] } }), []);
});

test('every query names the retention policy, filters tags with :regex and uses the datasource uid', () => {
  for (const d of dashboards) {
    for (const t of targetsOf(d)) {
      assert.equal(t.rawQuery, true);
      assert.deepEqual(t.datasource, { type: 'influxdb', uid: config.grafana.datasourceUid });
      assert.match(t.query, /FROM "high_frequency"\."[a-z_]+"/, t.query);
      assert.doesNotMatch(t.query, /=~ \/\^\$(?!\{\w+:regex\})/, t.query);
    }
  }
  const tick = dashboards.find((d) => d.uid === 'kraken_tick_stream')!;
  assert.ok(targetsOf(tick).every((t) => t.query.includes('"instrument" =~ /^${instrument:regex}$/')));
  const betfair = dashboards.find((d) => d.uid === 'betfair_stream')!;
  assert.deepEqual(
    betfair.templating?.list?.map((v) => v.name),
    ['market', 'runner'],
  );
  const runner = betfair.templating!.list![1]!;
  assert.match(String((runner.query as { query: string }).query), /WHERE "market_id" =~ \/\^\$\{market:regex\}\$\//);
});

test('lint catches the classic mistakes', () => {
  const base = JSON.parse(JSON.stringify(dashboards[0])) as GeneratedDashboard;
  const mutate = (f: (d: GeneratedDashboard & { panels: Panel[] }) => void) => {
    const d = JSON.parse(JSON.stringify(base)) as GeneratedDashboard & { panels: Panel[] };
    f(d);
    return lintDashboard(d, lintOpts).join('\n');
  };
  const q = (d: { panels: Panel[] }, i = 1) => d.panels[i]!.targets![0] as { query: string };
  assert.match(
    mutate((d) => (d.panels[2]!.id = d.panels[1]!.id)),
    /duplicate id/,
  );
  assert.match(
    mutate((d) => (d.panels[1]!.gridPos = { x: 20, y: 0, w: 6, h: 4 })),
    /24-column grid/,
  );
  assert.match(
    mutate((d) => (d.panels[2]!.gridPos = { ...d.panels[1]!.gridPos! })),
    /overlaps/,
  );
  assert.match(
    mutate((d) => (d.refresh = '1s')),
    /refresh/,
  );
  assert.match(
    mutate((d) => (d.uid = 'Bad uid!')),
    /uid must match/,
  );
  assert.match(
    mutate((d) => (q(d).query = q(d).query.replace(' AND $timeFilter', ''))),
    /no \$timeFilter/,
  );
  assert.match(
    mutate((d) => (q(d).query = q(d).query.replace('${instrument:regex}', '${symbol:regex}'))),
    /\$symbol, which is not a dashboard variable/,
  );
  assert.match(
    mutate((d) => (q(d).query = q(d).query.replace(/"instrument" =~ \/\^\$\{instrument:regex\}\$\//, `"instrument" = '$instrument'`))),
    /inside quotes/,
  );
  assert.match(
    mutate((d) => ((d.panels[1]!.targets![0] as { rawQuery: boolean }).rawQuery = false)),
    /rawQuery/,
  );
  assert.match(
    mutate((d) => (d.panels[1]!.datasource = { type: 'influxdb', uid: '${DS_INFLUXDB}' })),
    /datasource/,
  );
  assert.match(
    mutate((d) => (q(d).query = 'SELECT "bid" FROM "m" WHERE $timeFilter GROUP BY time($__interval)')),
    /without an aggregate/,
  );
  assert.match(
    mutate((d) => (q(d).query = 'SELECT last("bid") FROM "m" WHERE $timeFilter GROUP BY time($__interval) fill(none), "instrument"')),
    /fill\(\) must be the last/,
  );
  assert.match(
    mutate((d) => (d.templating!.list![0]!.allValue = undefined)),
    /allValue/,
  );
});

test('provisioning files: datasource and provider YAML with the fixed uid, one JSON per dashboard', () => {
  const files = renderProvisioning(config);
  assert.deepEqual(
    files.map((f) => f.path),
    ['provisioning/datasources/influxdb.yaml', 'provisioning/dashboards/nbpy.yaml', ...dashboards.map((d) => `dashboards/${d.uid}.json`)],
  );
  const ds = yaml.load(files[0]!.content) as { apiVersion: number; datasources: Record<string, unknown>[] };
  assert.equal(ds.apiVersion, 1);
  assert.equal(ds.datasources.length, 1);
  assert.equal(ds.datasources.filter((d) => d.isDefault === true).length, 1);
  const d0 = ds.datasources[0]!;
  assert.equal(d0.uid, config.grafana.datasourceUid);
  assert.equal(d0.type, 'influxdb');
  assert.equal(d0.access, 'proxy');
  assert.equal(d0.url, 'http://influxdb:8086');
  assert.equal((d0.jsonData as { dbName: string }).dbName, config.influxdb.database);
  assert.equal(d0.user, '${NBPY_INFLUXDB_USER}');
  const prov = yaml.load(files[1]!.content) as {
    apiVersion: number;
    providers: { folder: string; folderUid: string; options: { path: string } }[];
  };
  assert.equal(prov.apiVersion, 1);
  assert.equal(prov.providers[0]!.folder, config.grafana.folder);
  assert.equal(prov.providers[0]!.folderUid, folderUid(config));
  assert.equal(prov.providers[0]!.options.path, '/var/lib/grafana/dashboards');
  for (const f of files.slice(2)) assert.doesNotMatch(f.content, /__inputs|\$\{DS_/);
});
