/**
 * The orchestrator: brings the system up in five phases (backing services, InfluxDB setup, services,
 * Grafana, validation) and down in order. The process running this hosts the service manager.
 */
import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { NbpyError } from '../core/errors.js';
import { ServiceManager, type ServiceSpec } from '../supervisor/manager.js';
import { InfluxClient, credentialsFromEnv } from '../storage/influx/client.js';
import { InfluxAdmin } from '../storage/influx/admin.js';
import {
  listeningPorts,
  phaseOrder,
  serviceSpecs,
  servicePlan,
  serviceStartOrder,
  shutdownOrder,
  type Launcher,
  type PhaseName,
  type ServicePlan,
} from './plan.js';
import { applyToGrafana, authFromEnv, GrafanaClient } from '../grafana/api.js';
import { buildDashboards } from '../grafana/dashboards.js';
import { buildDatasource, folderUid } from '../grafana/provisioning.js';
import { portConflicts } from './ports.js';
import { composeStop, composeUp, influxdProcessSpec, ping, waitUntil } from './providers/influxdb.js';

export type PhaseState = 'start' | 'ok' | 'skip' | 'fail';

/** Where progress goes: a terminal, plain lines, or the progress file of a detached start. */
export interface Reporter {
  phase(name: PhaseName | 'shutdown', state: PhaseState, detail?: string, ms?: number): void;
  step(text: string): void;
}

export interface AccessPoint {
  name: string;
  url: string;
}

export interface RunningSystem {
  manager: ServiceManager;
  plan: ServicePlan;
  access: AccessPoint[];
  stop(): Promise<StopSummary>;
}

export interface StopSummary {
  points_written: number;
  dropped: Record<string, number>;
  spool_bytes: number;
  clean_exits: string[];
  unclean_exits: string[];
  ms: number;
}

export interface StartOptions {
  configPath: string;
  launcher: Launcher;
  reporter: Reporter;
  /** Subset of services (`--only`); backing phases still run. */
  only?: string[];
  /** Skip phases (e.g. services-only start). */
  phases?: PhaseName[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Aborting (SIGINT/SIGTERM during start) stops what was started and makes the start fail. */
  signal?: AbortSignal;
}

interface SubscriberHealth {
  points_written?: number;
  dropped_by_reason?: Record<string, number>;
  spool_bytes?: number;
  store_up?: boolean;
  topics?: Record<string, { records: number }>;
}

async function subscriberHealth(port: number): Promise<SubscriberHealth | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) });
    return (await r.json()) as SubscriberHealth;
  } catch {
    return undefined;
  }
}

/** Records flowing on every topic of the plan and arriving in the store (from the subscribers' own counters). */
export async function flowProblems(cfg: Config, plan: ServicePlan): Promise<string[]> {
  const problems: string[] = [];
  const topics = cfg.publishers.filter((p) => plan.publishers.includes(p.name)).map((p) => p.topic);
  for (const s of cfg.subscribers.filter((x) => plan.subscribers.includes(x.name))) {
    const h = await subscriberHealth(s.port);
    if (!h) {
      problems.push(`${s.name}: status endpoint 127.0.0.1:${s.port} does not answer`);
      continue;
    }
    for (const t of topics.filter((t) => s.topics.some((p) => t.startsWith(p)))) {
      const n = Object.entries(h.topics ?? {})
        .filter(([k]) => k.startsWith(t))
        .reduce((a, [, v]) => a + v.records, 0);
      if (n === 0) problems.push(`${s.name}: no records yet on topic ${t}`);
    }
    if (!h.points_written) problems.push(`${s.name}: nothing written to the store yet`);
  }
  return problems;
}

export async function startSystem(cfg: Config, opts: StartOptions): Promise<RunningSystem> {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const r = opts.reporter;
  const plan = servicePlan(cfg, opts.only);
  const phases = phaseOrder(cfg).filter((p) => !opts.phases || opts.phases.includes(p));
  const timeoutOf = (p: PhaseName) => cfg.startup.phases.find((x) => x.name === p)?.timeoutMs ?? 30_000;
  const retriesOf = (p: PhaseName) => cfg.startup.phases.find((x) => x.name === p)?.retries ?? 0;

  // Nothing starts when a port is taken: a clear message per port, nothing left half-started.
  const conflicts = await portConflicts(listeningPorts(cfg, plan));
  if (conflicts.length) throw new NbpyError('E_PORT_IN_USE', conflicts.join('\n'));

  const specs: ServiceSpec[] = serviceSpecs(cfg, resolve(opts.configPath), opts.launcher, plan, timeoutOf('services'));
  const influx = cfg.backing.influxdb;
  const ownsInfluxd = plan.needsInflux && influx.provider === 'process' && phases.includes('backing');
  if (ownsInfluxd) {
    if (!(await ping(influx.url, influx.healthPath, 500))) specs.unshift(influxdProcessSpec(cfg));
    else r.step(`InfluxDB already answers at ${influx.url}; using it as is (not owned by nbpy)`);
  }
  const ownInfluxService = specs.some((s) => s.name === 'influxdb');
  const startedByCompose: string[] = [];
  const sv = cfg.supervisor;
  const manager = new ServiceManager(specs, {
    runDir: cfg.runDir,
    logDir: cfg.logging.dir,
    logging: cfg.logging,
    restart: {
      initialDelayMs: sv.restartInitialDelayMs,
      maxDelayMs: sv.restartMaxDelayMs,
      stableAfterMs: sv.stableAfterMs,
      crashLoopCount: sv.crashLoopCount,
      crashLoopWindowMs: sv.crashLoopWindowMs,
    },
  });
  const access: AccessPoint[] = [];

  let stopping: Promise<StopSummary> | undefined;
  const stop = (): Promise<StopSummary> => (stopping ??= stopNow());
  const stopNow = async (): Promise<StopSummary> => {
    const t0 = performance.now();
    r.phase('shutdown', 'start', 'publishers, then subscribers (flush), then the rest');
    // Publishers stop first so that subscribers see the end of every stream before they flush.
    const order = shutdownOrder(plan, ownInfluxService);
    const [pubs, ...rest] = order;
    if (pubs) await Promise.all((Array.isArray(pubs) ? pubs : [pubs]).map((n) => manager.stopService(n, cfg.shutdown.phaseTimeoutMs)));
    const before = await Promise.all(cfg.subscribers.filter((s) => plan.subscribers.includes(s.name)).map((s) => subscriberHealth(s.port)));
    await manager.stop({ order: rest, phaseTimeoutMs: cfg.shutdown.phaseTimeoutMs });
    for (const svc of startedByCompose.reverse()) composeStop(svc, cwd);
    const status = manager.status();
    const summary: StopSummary = {
      points_written: before.reduce((a, h) => a + (h?.points_written ?? 0), 0),
      dropped: {},
      spool_bytes: before.reduce((a, h) => a + (h?.spool_bytes ?? 0), 0),
      clean_exits: status.filter((s) => s.last_exit && s.last_exit.code === 0).map((s) => s.name),
      unclean_exits: status
        .filter((s) => s.last_exit && s.last_exit.code !== 0)
        .map((s) => `${s.name} (${s.last_exit?.signal ?? `code ${s.last_exit?.code}`})`),
      ms: Math.round(performance.now() - t0),
    };
    for (const h of before)
      for (const [k, v] of Object.entries(h?.dropped_by_reason ?? {})) summary.dropped[k] = (summary.dropped[k] ?? 0) + v;
    r.phase('shutdown', 'ok', undefined, summary.ms);
    return summary;
  };

  const runPhase = async (name: PhaseName, fn: () => Promise<string | void>) => {
    const t0 = performance.now();
    r.phase(name, 'start');
    let attempt = 0;
    for (;;) {
      try {
        const detail = await fn();
        r.phase(name, detail?.startsWith('skipped') ? 'skip' : 'ok', detail || undefined, Math.round(performance.now() - t0));
        return;
      } catch (e) {
        if (attempt++ >= retriesOf(name) || !(e instanceof NbpyError && e.retriable)) {
          r.phase(name, 'fail', (e as Error).message, Math.round(performance.now() - t0));
          throw e;
        }
        r.step(`${name}: ${(e as Error).message}; retrying (${attempt}/${retriesOf(name)})`);
      }
    }
  };

  const onAbort = () => {
    r.step('interrupted: stopping what was started');
    void stop();
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (const phase of phases) {
      if (opts.signal?.aborted) throw new NbpyError('E_INTERRUPTED', 'start interrupted by a signal');
      if (phase === 'backing')
        await runPhase('backing', async () => {
          const done: string[] = [];
          if (!plan.needsInflux) done.push('InfluxDB not needed (embedded store)');
          else if (influx.provider === 'process') {
            if (ownInfluxService) {
              await manager.start(['influxdb']);
              done.push(`influxd started (owned by nbpy, data in ${resolve(cfg.dataDir, 'influxdb')})`);
            }
          } else if (influx.provider === 'docker') {
            await composeUp(influx.composeService, influx.url, influx.healthPath, influx.startTimeoutMs, cwd);
            startedByCompose.push(influx.composeService);
            done.push('InfluxDB up (docker compose)');
          } else if (!(await waitUntil(() => ping(influx.url, influx.healthPath), influx.startTimeoutMs, 250)))
            throw new NbpyError(
              'E_BACKING_DOWN',
              `InfluxDB at ${influx.url} does not answer ${influx.healthPath}; start it or fix backing.influxdb.url`,
              true,
            );
          else done.push(`InfluxDB answers at ${influx.url}`);
          if (plan.needsInflux) access.push({ name: 'InfluxDB', url: influx.url });
          const g = cfg.backing.grafana;
          if (g.enabled) {
            if (g.provider === 'docker') {
              await composeUp(g.composeService, g.url, g.healthPath, g.startTimeoutMs, cwd);
              startedByCompose.push(g.composeService);
              done.push('Grafana up (docker compose)');
            } else if (g.provider === 'external') {
              if (!(await waitUntil(() => ping(g.url, g.healthPath), g.startTimeoutMs, 250)))
                throw new NbpyError(
                  'E_BACKING_DOWN',
                  `Grafana at ${g.url} does not answer ${g.healthPath}; start it or set backing.grafana.enabled false`,
                  true,
                );
              done.push(`Grafana answers at ${g.url}`);
            } else throw new NbpyError('E_USAGE', 'backing.grafana.provider "process" is not supported: use "docker" or "external"');
            access.push({ name: 'Grafana', url: g.url });
          }
          return done.join('; ');
        });
      if (phase === 'influx_setup')
        await runPhase('influx_setup', async () => {
          if (!plan.needsInflux) return 'skipped: embedded store (tables are created by the subscribers)';
          const client = new InfluxClient({
            url: influx.url,
            credentials: credentialsFromEnv(influx.credentials, env),
            requestTimeoutMs: cfg.influxdb.requestTimeoutMs,
          });
          try {
            const res = await new InfluxAdmin({ client, influxdb: cfg.influxdb }).create();
            return res.changed.length
              ? res.changed.join('; ')
              : `database ${cfg.influxdb.database} and retention policies already in place`;
          } catch (e) {
            throw new NbpyError('E_INFLUX_SETUP', `InfluxDB setup failed: ${(e as Error).message}`, true);
          }
        });
      if (phase === 'services')
        await runPhase('services', async () => {
          const order = serviceStartOrder(plan);
          for (const group of order) {
            const names = Array.isArray(group) ? group : [group];
            r.step(`starting ${names.join(', ')}`);
            await manager.start([group]);
          }
          for (const p of cfg.publishers.filter((x) => plan.publishers.includes(x.name)))
            access.push({ name: `${p.name} metrics`, url: `http://127.0.0.1:${p.statusPort}/metrics` });
          for (const s of cfg.subscribers.filter((x) => plan.subscribers.includes(x.name)))
            access.push({ name: `${s.name} metrics`, url: `http://127.0.0.1:${s.port}/metrics` });
          if (plan.console) access.unshift({ name: 'console', url: `http://${cfg.console.host}:${cfg.console.port}/` });
          return `${plan.subscribers.length} subscribers, ${plan.publishers.length} publishers${plan.console ? ', console' : ''} ready`;
        });
      if (phase === 'grafana')
        await runPhase('grafana', async () => {
          if (!cfg.backing.grafana.enabled) return 'skipped: Grafana is not configured (backing.grafana.enabled is false)';
          if (cfg.backing.grafana.provider === 'docker')
            return 'datasource and dashboards provisioned from deploy/grafana (mounted by docker-compose.yml)';
          // An external Grafana is provisioned through its HTTP API, idempotently.
          const g = cfg.backing.grafana;
          const client = new GrafanaClient({ url: g.url, auth: authFromEnv(g.credentials, env) });
          await client.waitHealthy(timeoutOf('grafana'));
          const creds = influx.credentials;
          const changes = await applyToGrafana(client, {
            datasource: buildDatasource(cfg, {
              url: influx.url,
              user: creds.usernameEnv ? env[creds.usernameEnv] : undefined,
              password: creds.passwordEnv ? env[creds.passwordEnv] : undefined,
            }),
            folder: { uid: folderUid(cfg), title: cfg.grafana.folder },
            dashboards: buildDashboards(cfg),
          });
          const count = (a: string) => changes.filter((c) => c.action === a).length;
          return `datasource and ${changes.length - 2} dashboards: ${count('created')} created, ${count('updated')} updated, ${count('unchanged')} unchanged`;
        });
      if (phase === 'validation')
        await runPhase('validation', async () => {
          let last: string[] = [];
          const ok = await waitUntil(
            async () => {
              last = await flowProblems(cfg, plan);
              return last.length === 0;
            },
            timeoutOf('validation'),
            250,
          );
          if (!ok) throw new NbpyError('E_VALIDATION', `data is not flowing end to end: ${last.join('; ')}`);
          return 'records flowing on every topic and arriving in the store';
        });
    }
  } catch (e) {
    // Nothing left half-started.
    r.step('start failed; stopping what was started');
    await stop().catch(() => undefined);
    throw e;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  return { manager, plan, access, stop };
}
