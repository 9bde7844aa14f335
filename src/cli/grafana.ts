/**
 * `nbpy grafana setup|datasource|dashboards`: provision Grafana from the config, either as files
 * for docker compose (`dashboards --out <dir>`) or through Grafana's HTTP API
 * (config.backing.grafana.url), idempotently, saying what changed. docs/GRAFANA.md.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import { UsageError } from '../core/errors.js';
import { applyToGrafana, authFromEnv, GrafanaClient, type Change, type GrafanaPlan } from '../grafana/api.js';
import { buildDashboards } from '../grafana/dashboards.js';
import { buildDatasource, COMPOSE_INFLUX_URL, folderUid, renderProvisioning } from '../grafana/provisioning.js';
import { loadFromCommand, parseDurationMs, printJson, table, wantsJson } from './common.js';

interface ApiOpts {
  influxUrl?: string;
  wait: string;
  json?: boolean;
}

/**
 * The InfluxDB URL Grafana should use: --influx-url, else the compose service name when both run
 * under docker compose, else backing.influxdb.url.
 */
function influxUrlFor(config: Config, override: string | undefined): string {
  if (override) return override;
  const b = config.backing;
  if (b.grafana.provider === 'docker' && b.influxdb.provider === 'docker') return COMPOSE_INFLUX_URL;
  return b.influxdb.url;
}

function plan(config: Config, what: 'setup' | 'datasource' | 'dashboards', influxUrl: string): GrafanaPlan {
  const creds = config.backing.influxdb.credentials;
  const p: GrafanaPlan = {};
  if (what !== 'dashboards') {
    p.datasource = buildDatasource(config, {
      url: influxUrl,
      user: creds.usernameEnv ? process.env[creds.usernameEnv] : undefined,
      password: creds.passwordEnv ? process.env[creds.passwordEnv] : undefined,
    });
  }
  if (what !== 'datasource') {
    p.folder = { uid: folderUid(config), title: config.grafana.folder };
    p.dashboards = buildDashboards(config);
  }
  return p;
}

async function runApi(cmd: Command, what: 'setup' | 'datasource' | 'dashboards', opts: ApiOpts): Promise<void> {
  const { config } = loadFromCommand(cmd);
  const waitMs = (() => {
    try {
      return parseDurationMs(opts.wait);
    } catch (e) {
      throw new UsageError(`--wait: ${(e as Error).message}`);
    }
  })();
  const g = config.backing.grafana;
  const client = new GrafanaClient({ url: g.url, auth: authFromEnv(g.credentials) });
  const health = await client.waitHealthy(waitMs);
  const influxUrl = influxUrlFor(config, opts.influxUrl);
  const changes = await applyToGrafana(client, plan(config, what, influxUrl));
  let dsHealth: { ok: boolean; message: string } | undefined;
  if (what !== 'dashboards')
    dsHealth = await client.datasourceHealth(config.grafana.datasourceUid).catch((e: Error) => ({ ok: false, message: e.message }));
  report(cmd, {
    grafana: g.url,
    version: health.version,
    influxUrl: what === 'dashboards' ? undefined : influxUrl,
    changes,
    datasourceHealth: dsHealth,
  });
}

function report(
  cmd: Command,
  r: { grafana: string; version?: string; influxUrl?: string; changes: Change[]; datasourceHealth?: { ok: boolean; message: string } },
): void {
  const counts: Record<string, number> = {};
  for (const c of r.changes) counts[c.action] = (counts[c.action] ?? 0) + 1;
  if (wantsJson(cmd)) printJson({ ok: true, ...r, counts });
  else {
    console.log(`Grafana ${r.grafana}${r.version ? ` (${r.version})` : ''}`);
    console.log(
      table(
        r.changes.map((c) => ({ ...c })),
        ['kind', 'uid', 'title', 'action', 'detail'],
      ),
    );
    console.log(
      Object.entries(counts)
        .map(([k, n]) => `${n} ${k}`)
        .join(', '),
    );
    if (r.datasourceHealth)
      console.log(
        `datasource check: ${r.datasourceHealth.ok ? 'ok' : 'FAILED'}: ${r.datasourceHealth.message}${r.influxUrl ? ` (Grafana -> ${r.influxUrl})` : ''}`,
      );
  }
}

/** Write the provisioning tree; report each file as written or unchanged. */
function writeFiles(cmd: Command, outDir: string, influxUrl: string | undefined): void {
  const { config } = loadFromCommand(cmd);
  const out = resolve(outDir);
  const files = renderProvisioning(config, { influxUrl });
  const results = files.map((f) => {
    const path = join(out, ...f.path.split('/'));
    const same = existsSync(path) && readFileSync(path, 'utf8') === f.content;
    if (!same) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, f.content);
    }
    return { path: f.path, action: same ? 'unchanged' : 'written' };
  });
  if (wantsJson(cmd)) printJson({ ok: true, out, files: results });
  else {
    console.log(`provisioning files under ${out}`);
    console.log(table(results, ['path', 'action']));
  }
}

export function registerGrafana(program: Command): void {
  const grafana = program
    .command('grafana')
    .description('provision Grafana: datasource and dashboards, as files (--out) or through the HTTP API (backing.grafana.url)');

  const apiOptions = (c: Command) =>
    c
      .option(
        '--influx-url <url>',
        'InfluxDB URL as Grafana reaches it (default: http://influxdb:8086 under docker compose, else backing.influxdb.url)',
      )
      .option('--wait <duration>', 'wait up to this long for Grafana /api/health', '10s')
      .option('--json', 'print the result as JSON');

  apiOptions(
    grafana.command('setup').description('create or update the datasource, the folder and every dashboard through the API'),
  ).action(async (opts: ApiOpts, cmd: Command) => runApi(cmd, 'setup', opts));

  apiOptions(
    grafana.command('datasource').description('create or update the InfluxDB datasource (fixed uid grafana.datasourceUid) through the API'),
  ).action(async (opts: ApiOpts, cmd: Command) => runApi(cmd, 'datasource', opts));

  apiOptions(
    grafana
      .command('dashboards')
      .description(
        'with --out <dir>: write provisioning files (datasource YAML, provider YAML, dashboard JSON); without: save the dashboards through the API',
      )
      .option('--out <dir>', 'write provisioning files under <dir> instead of calling Grafana (e.g. deploy/grafana)'),
  ).action(async (opts: ApiOpts & { out?: string }, cmd: Command) => {
    if (opts.out !== undefined) {
      if (!opts.out) throw new UsageError('--out: expected a directory');
      writeFiles(cmd, opts.out, opts.influxUrl);
      return;
    }
    await runApi(cmd, 'dashboards', opts);
  });
}
