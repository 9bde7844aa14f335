/**
 * `nbpy grafana dashboards --out <dir>` writes the provisioning tree, and the checked-in
 * deploy/grafana/ is what the current builders generate from integration_config.json.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { loadConfig } from '../../src/config/load.js';
import { renderProvisioning } from '../../src/grafana/provisioning.js';
import { lintDashboards } from '../../src/grafana/lint.js';
import type { GeneratedDashboard } from '../../src/grafana/dashboards.js';
import { repoRoot, runNbpy } from '../support/cli.js';
import { validateDashboardSchema } from '../support/grafana-schema.js';

const { config } = loadConfig(join(repoRoot, 'integration_config.json'), {});

test('the checked-in deploy/grafana is current (regenerate: nbpy grafana dashboards --out deploy/grafana)', () => {
  const deploy = join(repoRoot, 'deploy', 'grafana');
  const files = renderProvisioning(config);
  for (const f of files) assert.equal(readFileSync(join(deploy, ...f.path.split('/')), 'utf8'), f.content, `${f.path} is stale`);
  const onDisk = readdirSync(join(deploy, 'dashboards'))
    .filter((n) => n.endsWith('.json'))
    .sort();
  assert.deepEqual(
    onDisk,
    files
      .filter((f) => f.path.startsWith('dashboards/'))
      .map((f) => f.path.slice('dashboards/'.length))
      .sort(),
    'no stray dashboard files',
  );
});

test('nbpy grafana dashboards --out writes two YAMLs and six dashboards that pass the offline validation', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-grafana-'));
  try {
    const r = await runNbpy(['grafana', 'dashboards', '--out', dir, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { files: { path: string; action: string }[] };
    assert.equal(out.files.length, 8);
    assert.ok(out.files.every((f) => f.action === 'written'));
    const ds = yaml.load(readFileSync(join(dir, 'provisioning', 'datasources', 'influxdb.yaml'), 'utf8')) as {
      datasources: { uid: string }[];
    };
    assert.equal(ds.datasources[0]!.uid, config.grafana.datasourceUid);
    const prov = yaml.load(readFileSync(join(dir, 'provisioning', 'dashboards', 'nbpy.yaml'), 'utf8')) as { providers: { type: string }[] };
    assert.equal(prov.providers[0]!.type, 'file');
    const names = readdirSync(join(dir, 'dashboards')).sort();
    assert.equal(names.length, 6);
    const dashboards = names.map((n) => JSON.parse(readFileSync(join(dir, 'dashboards', n), 'utf8')) as GeneratedDashboard);
    assert.deepEqual(lintDashboards(dashboards, { datasourceUid: config.grafana.datasourceUid }), []);
    const validate = validateDashboardSchema();
    for (const d of dashboards) assert.deepEqual(validate(d), [], d.uid);
    // A second run rewrites nothing.
    const again = JSON.parse((await runNbpy(['grafana', 'dashboards', '--out', dir, '--json'])).stdout) as { files: { action: string }[] };
    assert.ok(again.files.every((f) => f.action === 'unchanged'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
