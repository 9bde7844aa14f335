/**
 * What to start and in which order (pure): the five phases ordered by their dependencies, the
 * service specs for the service manager, and the shutdown order.
 */
import type { Config, PHASES } from '../config/schema.js';
import type { Phase as ManagerPhase, ServiceSpec } from '../supervisor/manager.js';

export type PhaseName = (typeof PHASES)[number];

/** Topological order of config.startup.phases (config order among equals). Throws on a cycle. */
export function phaseOrder(cfg: Pick<Config, 'startup'>): PhaseName[] {
  const phases = cfg.startup.phases;
  const done = new Set<PhaseName>();
  const out: PhaseName[] = [];
  while (out.length < phases.length) {
    const next = phases.find((p) => !done.has(p.name) && p.dependsOn.every((d) => done.has(d) || !phases.some((q) => q.name === d)));
    if (!next)
      throw new Error(
        `startup.phases: dependency cycle among ${phases
          .filter((p) => !done.has(p.name))
          .map((p) => p.name)
          .join(', ')}`,
      );
    done.add(next.name);
    out.push(next.name);
  }
  return out;
}

/** How a service process is launched: the same Node, flags and entry script as this process. */
export interface Launcher {
  execPath: string;
  execArgv: string[];
  script: string;
}

export const CONSOLE_SERVICE = 'console';
export const INFLUXD_SERVICE = 'influxdb';

export interface ServicePlan {
  subscribers: string[];
  publishers: string[];
  console: boolean;
  /** Does this configuration need InfluxDB at all? */
  needsInflux: boolean;
}

export function servicePlan(cfg: Config, only?: string[]): ServicePlan {
  const pick = (n: string) => !only || only.length === 0 || only.includes(n);
  return {
    subscribers: cfg.subscribers.filter((s) => s.enabled && pick(s.name)).map((s) => s.name),
    publishers: cfg.publishers.filter((p) => p.enabled && pick(p.name)).map((p) => p.name),
    console: cfg.console.enabled && pick(CONSOLE_SERVICE),
    needsInflux: cfg.storage.backend === 'influxdb',
  };
}

/** Service manager specs for publishers, subscribers and the console. */
export function serviceSpecs(
  cfg: Config,
  configPath: string,
  launcher: Launcher,
  plan: ServicePlan,
  phaseTimeoutMs: number,
): ServiceSpec[] {
  const run = (args: string[]) => ({
    command: launcher.execPath,
    args: [...launcher.execArgv, launcher.script, ...args, '--config', configPath],
  });
  const specs: ServiceSpec[] = [];
  for (const name of plan.subscribers)
    specs.push({
      name,
      kind: 'subscriber',
      ...run(['subscriber', 'run', name]),
      readiness: 'signal',
      readyTimeoutMs: phaseTimeoutMs,
      stopTimeoutMs: cfg.shutdown.phaseTimeoutMs,
    });
  for (const name of plan.publishers)
    specs.push({
      name,
      kind: 'publisher',
      ...run(['publisher', 'run', name]),
      readiness: 'signal',
      readyTimeoutMs: phaseTimeoutMs,
      stopTimeoutMs: cfg.shutdown.phaseTimeoutMs,
    });
  if (plan.console)
    specs.push({
      name: CONSOLE_SERVICE,
      kind: 'console',
      ...run(['console']),
      readiness: 'signal',
      readyTimeoutMs: phaseTimeoutMs,
      stopTimeoutMs: 5_000,
    });
  return specs;
}

/** Start order inside the services phase: subscribers first (so the first records are not missed), then publishers, then the console. */
export function serviceStartOrder(plan: ServicePlan): ManagerPhase[] {
  // The readers (subscribers and the console) start together, before the publishers: each sees the
  // first records, and the console does not start late on cores the running publishers already fill.
  const readers = [...plan.subscribers, ...(plan.console ? [CONSOLE_SERVICE] : [])];
  return [readers, plan.publishers].filter((p) => p.length > 0);
}

/** Shutdown: publishers first, then subscribers drain and flush, then the console, then InfluxDB if nbpy owns it. */
export function shutdownOrder(plan: ServicePlan, ownsInfluxd: boolean): ManagerPhase[] {
  return [plan.publishers, plan.subscribers, ...(plan.console ? [CONSOLE_SERVICE] : []), ...(ownsInfluxd ? [INFLUXD_SERVICE] : [])].filter(
    (p) => (Array.isArray(p) ? p.length > 0 : true),
  );
}

/** Every TCP port nbpy will listen on for this plan, with who wants it. */
export function listeningPorts(cfg: Config, plan: ServicePlan): { port: number; host: string; who: string }[] {
  const out: { port: number; host: string; who: string }[] = [];
  for (const p of cfg.publishers.filter((x) => plan.publishers.includes(x.name))) {
    out.push(
      { port: p.port, host: p.bindHost, who: `${p.name} (bus)` },
      { port: p.statusPort, host: '127.0.0.1', who: `${p.name} (status)` },
    );
  }
  for (const s of cfg.subscribers.filter((x) => plan.subscribers.includes(x.name)))
    out.push({ port: s.port, host: s.bindHost, who: `${s.name} (status)` });
  if (plan.console) out.push({ port: cfg.console.port, host: cfg.console.host, who: 'console' });
  return out;
}
