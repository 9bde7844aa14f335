/**
 * `nbpy grafana setup|datasource|dashboards` against a local fake of Grafana's HTTP API: creates,
 * then is idempotent (second run: unchanged, no writes), updates what drifted, leaves
 * file-provisioned objects alone, and a 401 gives a clear error naming the env vars.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { runNbpy } from '../support/cli.js';
import { startFakeGrafana, type FakeGrafana } from '../support/grafana-fake.js';

const TOKEN = 'glsa_test_token_secret_123';
const PASSWORD = 'grafana-pw-secret-456';
let fake: FakeGrafana;

const envFor = (extra: Record<string, string | undefined> = {}) => ({
  NBPY_CFG__backing__grafana__url: fake.url,
  NBPY_GRAFANA_TOKEN: TOKEN,
  NBPY_GRAFANA_USER: undefined,
  NBPY_GRAFANA_PASSWORD: undefined,
  NBPY_INFLUXDB_USER: 'reader',
  NBPY_INFLUXDB_PASSWORD: 'influx-secret-789',
  ...extra,
});

interface Out {
  ok: boolean;
  changes: { kind: string; uid: string; action: string; detail?: string }[];
  counts: Record<string, number>;
  datasourceHealth?: { ok: boolean };
}

async function setup(args: string[], env = envFor()): Promise<{ code: number | null; out: Out; stdout: string; stderr: string }> {
  const r = await runNbpy(['grafana', ...args, '--json', '--wait', '2s'], { env });
  let out = {} as Out;
  try {
    out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Out;
  } catch {
    // left empty; the assertions below show stdout/stderr
  }
  return { code: r.code, out, stdout: r.stdout, stderr: r.stderr };
}

before(async () => {
  fake = await startFakeGrafana({ accept: [`Bearer ${TOKEN}`, `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`] });
});
after(async () => {
  await fake?.close();
});

test('setup creates the datasource, folder and six dashboards; a second run changes nothing', async () => {
  const first = await setup(['setup']);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(first.out.counts, { created: 8 });
  assert.deepEqual(
    first.out.changes.map((c) => `${c.kind}:${c.uid}:${c.action}`),
    [
      'datasource:nbpy-influxdb:created',
      'folder:nbpy:created',
      'dashboard:kraken_tick_stream:created',
      'dashboard:kraken_depth_stream:created',
      'dashboard:kraken_orders_stream:created',
      'dashboard:oanda_tick_stream:created',
      'dashboard:betfair_stream:created',
      'dashboard:nbpy_pipeline:created',
    ],
  );
  assert.equal(first.out.datasourceHealth?.ok, true);
  // Requests carried the token; dashboards went into the folder, with overwrite and no id.
  assert.ok(fake.requests.filter((r) => r.path !== '/api/health').every((r) => r.authorization === `Bearer ${TOKEN}`));
  const save = fake.requests.find((r) => r.path === '/api/dashboards/db')!.body as {
    folderUid: string;
    overwrite: boolean;
    dashboard: { id: unknown };
  };
  assert.equal(save.folderUid, 'nbpy');
  assert.equal(save.overwrite, true);
  assert.equal(save.dashboard.id, null);
  const ds = fake.datasources.get('nbpy-influxdb')!;
  assert.equal(ds.type, 'influxdb');
  assert.equal((ds.jsonData as { dbName: string }).dbName, 'tick');
  const dsPost = fake.requests.find((r) => r.path === '/api/datasources')!.body as { secureJsonData: { password: string }; user: string };
  assert.equal(dsPost.user, 'reader');
  assert.equal(dsPost.secureJsonData.password, 'influx-secret-789');
  // Secrets are never printed.
  for (const s of [TOKEN, 'influx-secret-789']) assert.ok(!first.stdout.includes(s) && !first.stderr.includes(s));

  fake.resetRequests();
  const second = await setup(['setup']);
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(second.out.counts, { unchanged: 8 });
  assert.deepEqual(fake.writes(), [], 'an idempotent run writes nothing');
});

test('drift is repaired: an edited dashboard and datasource are updated, the rest unchanged', async () => {
  fake.dashboards.get('oanda_tick_stream')!.dashboard.title = 'edited by hand';
  fake.datasources.get('nbpy-influxdb')!.url = 'http://elsewhere:8086';
  fake.resetRequests();
  const r = await setup(['setup']);
  assert.equal(r.code, 0, r.stderr);
  const byUid = Object.fromEntries(r.out.changes.map((c) => [c.uid, c.action]));
  assert.equal(byUid.oanda_tick_stream, 'updated');
  assert.equal(byUid['nbpy-influxdb'], 'updated');
  assert.equal(byUid.kraken_tick_stream, 'unchanged');
  assert.equal(fake.dashboards.get('oanda_tick_stream')!.dashboard.title, 'oanda_tick_stream');
  assert.deepEqual(
    fake
      .writes()
      .map((w) => `${w.method} ${w.path}`)
      .sort(),
    ['POST /api/dashboards/db', 'PUT /api/datasources/uid/nbpy-influxdb'],
  );
});

test('file-provisioned objects are skipped, not fought over', async () => {
  fake.dashboards.get('betfair_stream')!.provisioned = true;
  fake.dashboards.get('betfair_stream')!.dashboard.title = 'from files';
  fake.datasources.get('nbpy-influxdb')!.readOnly = true;
  fake.datasources.get('nbpy-influxdb')!.url = 'http://influxdb:8086';
  const r = await setup(['setup']);
  assert.equal(r.code, 0, r.stderr);
  const byUid = Object.fromEntries(r.out.changes.map((c) => [c.uid, c]));
  assert.equal(byUid.betfair_stream!.action, 'skipped');
  assert.match(byUid.betfair_stream!.detail ?? '', /provisioned/);
  assert.equal(byUid['nbpy-influxdb']!.action, 'skipped');
  assert.equal(fake.dashboards.get('betfair_stream')!.dashboard.title, 'from files');
  fake.dashboards.get('betfair_stream')!.provisioned = false;
  fake.datasources.get('nbpy-influxdb')!.readOnly = false;
});

test('datasource and dashboards subcommands touch only their objects; basic auth works', async () => {
  fake.resetRequests();
  const basic = envFor({ NBPY_GRAFANA_TOKEN: undefined, NBPY_GRAFANA_USER: 'admin', NBPY_GRAFANA_PASSWORD: PASSWORD });
  const ds = await setup(['datasource'], basic);
  assert.equal(ds.code, 0, ds.stderr);
  assert.deepEqual(
    ds.out.changes.map((c) => c.kind),
    ['datasource'],
  );
  assert.ok(fake.requests.filter((r) => r.path !== '/api/health').every((r) => r.authorization?.startsWith('Basic ')));
  fake.resetRequests();
  const dash = await setup(['dashboards'], basic);
  assert.equal(dash.code, 0, dash.stderr);
  assert.deepEqual([...new Set(dash.out.changes.map((c) => c.kind))], ['folder', 'dashboard']);
  assert.ok(!fake.requests.some((r) => r.path.startsWith('/api/datasources')), 'dashboards does not touch the datasource');
  for (const s of [PASSWORD]) assert.ok(!ds.stdout.includes(s) && !ds.stderr.includes(s) && !dash.stderr.includes(s));
});

test('a 401 fails with a clear error naming the credential env vars, without the secret', async () => {
  const r = await setup(['setup'], envFor({ NBPY_GRAFANA_TOKEN: 'wrong-token-000' }));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /401/);
  assert.match(r.stderr, /NBPY_GRAFANA_TOKEN/);
  assert.match(r.stderr, /NBPY_GRAFANA_USER and NBPY_GRAFANA_PASSWORD/);
  assert.ok(!r.stderr.includes('wrong-token-000'));
});

test('Grafana unreachable: exit 1 naming the URL', async () => {
  const r = await setup(['setup'], envFor({ NBPY_CFG__backing__grafana__url: 'http://127.0.0.1:9' }));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Grafana at http:\/\/127\.0\.0\.1:9 is unreachable/);
});
