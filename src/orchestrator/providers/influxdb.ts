/**
 * InfluxDB as a backing service, by provider: `process` (a local influxd owned by nbpy, its data and
 * config under <dataDir>/influxdb), `docker` (docker compose), `external` (already running: checked).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../../config/schema.js';
import { NbpyError, UsageError } from '../../core/errors.js';
import { renderInfluxdConfig } from '../../storage/influx/influxd-config.js';
import { MAX_TIMEOUT_FACTOR } from '../../storage/adaptive-timeout.js';
import type { ServiceSpec } from '../../supervisor/manager.js';
import { INFLUXD_SERVICE } from '../plan.js';

export async function ping(url: string, path = '/ping', timeoutMs = 1000): Promise<boolean> {
  try {
    const r = await fetch(new URL(path, url), { signal: AbortSignal.timeout(timeoutMs) });
    return r.status >= 200 && r.status < 300;
  } catch {
    return false;
  }
}

/** Poll until `ok()` or the deadline; returns whether it became ok. */
export async function waitUntil(ok: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ok()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The service-manager spec of an nbpy-owned influxd (process provider). */
export function influxdProcessSpec(cfg: Config): ServiceSpec {
  const b = cfg.backing.influxdb;
  const probe = spawnSync(b.binary, ['version'], { encoding: 'utf8' });
  if (probe.error)
    throw new UsageError(
      `backing.influxdb.binary: "${b.binary}" was not found; install InfluxDB 1.x (Debian: apt-get install influxdb) or use provider "docker" or "external"`,
    );
  const url = new URL(b.url);
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(url.hostname))
    throw new UsageError(`backing.influxdb.url: the process provider runs influxd on this machine; use a loopback URL, got ${b.url}`);
  const dir = resolve(cfg.dataDir, 'influxdb');
  mkdirSync(dir, { recursive: true });
  const port = Number(url.port || 8086);
  const base = execFileSync(b.binary, ['config'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const confPath = join(dir, 'influxd.conf');
  // The RPC (backup) listener moves next to the HTTP port so two nbpy systems do not fight over 8088.
  writeFileSync(
    confPath,
    renderInfluxdConfig(base, {
      dir,
      httpBindAddress: `127.0.0.1:${port}`,
      rpcBindAddress: `127.0.0.1:${port + 2}`,
      // Longer than the subscribers' longest write timeout (it adapts up to 8x influxdb.requestTimeoutMs).
      writeTimeoutMs: cfg.influxdb.requestTimeoutMs * MAX_TIMEOUT_FACTOR + 10_000,
    }),
  );
  return {
    name: INFLUXD_SERVICE,
    kind: 'backing',
    command: b.binary,
    args: ['run', '-config', confPath],
    readiness: { probe: () => ping(b.url, b.healthPath), intervalMs: 100 },
    readyTimeoutMs: b.startTimeoutMs,
    stopTimeoutMs: cfg.shutdown.phaseTimeoutMs,
  };
}

/** `docker compose` if the plugin is there, else Debian's `docker-compose`. */
export function composeCommand(): string[] {
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return ['docker', 'compose'];
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose'];
  throw new UsageError(
    'the docker provider needs "docker compose" or "docker-compose"; install Docker, or use provider "process" or "external"',
  );
}

/** docker compose up -d <service>, then wait for its health endpoint. */
export async function composeUp(service: string, url: string, healthPath: string, timeoutMs: number, cwd: string): Promise<void> {
  const [cmd, ...pre] = composeCommand();
  const r = spawnSync(cmd!, [...pre, 'up', '-d', service], { cwd, encoding: 'utf8' });
  if (r.status !== 0)
    throw new NbpyError(
      'E_DOCKER',
      `docker compose up -d ${service} failed: ${(r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' | ')}; is the Docker daemon running?`,
    );
  if (!(await waitUntil(() => ping(url, healthPath), timeoutMs, 500)))
    throw new NbpyError(
      'E_BACKING_TIMEOUT',
      `${service} did not become healthy at ${new URL(healthPath, url).href} within ${timeoutMs} ms; see docker compose logs ${service}`,
    );
}

export function composeStop(service: string, cwd: string): void {
  const [cmd, ...pre] = composeCommand();
  spawnSync(cmd!, [...pre, 'stop', service], { cwd, stdio: 'ignore' });
}
