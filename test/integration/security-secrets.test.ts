/**
 * Secrets stay secret, and InfluxDB with authentication works with the credentials only in the
 * environment: an influxd with auth on; `nbpy retention create`, `nbpy start` (publisher ->
 * subscriber -> InfluxDB), status, health and `nbpy grafana setup` against a fake Grafana run with
 * secret-looking values in every credential variable. Then every log file, every CLI output, /metrics
 * and /health bodies are searched for those values: none may appear. A wrong password must fail with
 * a message that does not echo it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runNbpy, type RunResult } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { testConfig } from '../support/config.js';
import { startInfluxd } from '../support/influxd.js';
import { startFakeGrafana } from '../support/grafana-fake.js';
import { readStatus, isProcessAlive } from '../../src/supervisor/state.js';

const SECRETS = {
  NBPY_INFLUXDB_PASSWORD: 'S3cret-influx-pw-7f3a9c',
  NBPY_STATUS_TOKEN: 'S3cret-status-token-4b8e21',
  NBPY_CONSOLE_TOKEN: 'S3cret-console-token-9d2c44',
  NBPY_GRAFANA_TOKEN: 'S3cret-grafana-token-1a6f0e',
  NBPY_GRAFANA_PASSWORD: 'S3cret-grafana-pw-5e7b13',
  NBPY_OANDA_TOKEN: 'S3cret-oanda-token-2c9d7a',
  NBPY_BETFAIR_APP_KEY: 'S3cret-betfair-appkey-8f1e3b',
  NBPY_BETFAIR_SESSION_TOKEN: 'S3cret-betfair-session-6a4d2f',
};
const USER = 'nbpy_writer';

/** Every file under dir, gunzipped when compressed. */
function allFiles(dir: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = join(dir, n);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...allFiles(p));
    else if (st.size < 64 * 1024 * 1024) {
      const buf = readFileSync(p);
      let text = buf.toString('latin1');
      if (n.endsWith('.gz'))
        try {
          text = gunzipSync(buf).toString('latin1');
        } catch {
          // not gzip after all
        }
      out.push({ path: p, text });
    }
  }
  return out;
}

function assertNoSecrets(where: string, text: string): void {
  for (const [name, value] of Object.entries(SECRETS))
    assert.ok(!text.includes(value) && !text.includes(encodeURIComponent(value)), `${where} contains the value of ${name}`);
}

test('InfluxDB with auth, credentials only in env; no secret value in any log, output, /metrics or /health', async () => {
  const influx = await startInfluxd({ auth: { user: USER, password: SECRETS.NBPY_INFLUXDB_PASSWORD } });
  const grafanaAuth = `Bearer ${SECRETS.NBPY_GRAFANA_TOKEN}`;
  const grafana = await startFakeGrafana({ accept: [grafanaAuth] });
  const tc = await testConfig((raw) => {
    raw.publishers = raw.publishers.filter((p) => p.name === 'kraken_tick');
    raw.publishers[0]!.source = { type: 'simulated', ratePerS: 50, seed: 1 };
    raw.subscribers = raw.subscribers.filter((s) => s.name === 'kraken_influxdb_tick');
    raw.subscribers[0]!.flushIntervalMs = 200;
    raw.console.enabled = false;
    raw.storage = { backend: 'influxdb', embeddedFile: 'nbpy.duckdb' };
    const backing = raw.backing as { influxdb: Record<string, unknown>; grafana: Record<string, unknown> };
    backing.influxdb.provider = 'external';
    backing.influxdb.url = influx.url;
    backing.grafana.enabled = false;
    backing.grafana.provider = 'external';
    backing.grafana.url = grafana.url;
  });
  const env = { ...SECRETS, NBPY_INFLUXDB_USER: USER };
  const outputs: [string, RunResult][] = [];
  const run = async (args: string[], e: NodeJS.ProcessEnv = env) => {
    const r = await runNbpy([...args, '--config', tc.path], { env: e, timeoutMs: 120_000 });
    outputs.push([`nbpy ${args.join(' ')}`, r]);
    return r;
  };
  try {
    // A wrong password fails, and says so without echoing it.
    const wrongPw = 'S3cret-wrong-pw-000111';
    const bad = await run(['retention', 'create'], { ...env, NBPY_INFLUXDB_PASSWORD: wrongPw });
    assert.ok(bad.code !== 0 || /error|auth|401|denied/i.test(bad.stdout + bad.stderr), `wrong password accepted: ${bad.stdout}`);
    assert.ok(!(bad.stdout + bad.stderr).includes(wrongPw), 'the wrong password is echoed');

    const created = await run(['retention', 'create']);
    assert.equal(created.code, 0, created.stdout + created.stderr);
    const rps = await influx.query('SHOW RETENTION POLICIES ON "tick"');
    const names = (rps.results[0].series[0].values as unknown[][]).map((v) => v[0]);
    assert.ok(names.includes('high_frequency'), `retention policies: ${names.join(', ')}`);

    const started = await run(['start']);
    assert.equal(started.code, 0, started.stdout + started.stderr);
    await waitFor(
      'points in InfluxDB (authenticated writes)',
      async () => {
        const r = await influx.query('SELECT count(*) FROM "tick"."high_frequency"."kraken_tick"');
        const v = r.results?.[0]?.series?.[0]?.values?.[0] as number[] | undefined;
        return !!v && Math.max(...v.slice(1)) >= 20;
      },
      90_000,
      250,
    );

    for (const svc of [tc.config.publishers[0]!.statusPort, tc.config.subscribers[0]!.port])
      for (const path of ['/metrics', '/health']) {
        const body = await (await fetch(`http://127.0.0.1:${svc}${path}`)).text();
        assert.ok(body.length > 0);
        assertNoSecrets(`GET :${svc}${path}`, body);
      }
    assert.equal((await run(['status', '--json'])).code, 0);
    await run(['health', 'check', '--json']);
    await run(['validate']);
    const gs = await run(['grafana', 'setup', '--wait', '5s']);
    assert.equal(gs.code, 0, gs.stdout + gs.stderr);
    assert.ok(
      grafana.requests.some((r) => r.authorization === grafanaAuth),
      'grafana token not used',
    );
    assert.equal((await run(['stop'])).code, 0);
  } finally {
    const st = readStatus(tc.config.runDir);
    if (st.supervisor?.pid && isProcessAlive(st.supervisor.pid)) await run(['stop']).catch(() => undefined);
    for (const s of readStatus(tc.config.runDir).services) if (s.alive && s.pid) process.kill(s.pid, 'SIGKILL');
    await grafana.close();
    await influx.stop();
  }
  for (const [cmd, r] of outputs) assertNoSecrets(`output of ${cmd}`, r.stdout + r.stderr);
  const files = [...allFiles(tc.config.logging.dir), ...allFiles(tc.config.runDir)];
  assert.ok(
    files.some((f) => f.path.endsWith('.log')),
    'no log files were written',
  );
  for (const f of files) assertNoSecrets(f.path, f.text);
  rmSync(tc.dir, { recursive: true, force: true });
});
