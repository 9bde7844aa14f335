/**
 * ServiceManager: starts services in order (each phase gated on readiness), restarts crashed ones per the
 * restart policy (never abandoning them), stops them in order with a per-phase timeout then SIGKILL, and keeps
 * the run directory current so `status`/`stop` work from another shell.
 *
 * The process hosting a ServiceManager (a bin/ or cli/ entry) installs the signal handlers: on SIGTERM/SIGINT it
 * calls `manager.stop()` and exits. `stopFromOtherShell(runDir)` relies on that.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import { NbpyError } from '../core/errors.js';
import { RotatingFileWriter } from '../logging/rotating-file.js';
import { ServiceChild, type ChildSpec, type ExitStatus } from './child.js';
import { RestartPolicy, type RestartPolicyOptions } from './policy.js';
import {
  RunDir,
  isGroupAlive,
  isProcessAlive,
  signalGroup,
  uptimePercent,
  type ServiceKind,
  type ServiceStateFile,
  type ServiceStatus,
} from './state.js';

export interface ServiceSpec extends ChildSpec {
  /** lower_snake_case; names the state, PID and log files. */
  name: string;
  kind: ServiceKind;
  /** SIGTERM grace period before SIGKILL when this service is stopped. Default 10 s. */
  stopTimeoutMs?: number;
  /** Overrides of the manager-wide restart policy. */
  restart?: Partial<RestartPolicyOptions>;
}

export interface ServiceManagerOptions {
  /** PID and state files. */
  runDir: string;
  /** Captured stdout/stderr: `<logDir>/<service>.log`, rotated and capped. */
  logDir: string;
  /** Caps of the captured output (the config schema's `logging` section fits). */
  logging?: { maxFileBytes?: number; maxFiles?: number; maxTotalBytes?: number };
  restart?: Partial<RestartPolicyOptions>;
  clock?: Clock;
  random?: () => number;
}

/** A phase is one service or several started/stopped together. */
export type Phase = string | string[];

export type ManagerEvent =
  | { type: 'started'; name: string; pid: number; restarts: number }
  | { type: 'ready'; name: string; pid: number }
  | { type: 'exited'; name: string; pid: number; code: number | null; signal: string | null; deliberate: boolean }
  | { type: 'restarting'; name: string; delayMs: number; restarts: number; crashLoop: boolean }
  | { type: 'crash_loop'; name: string; delayMs: number; restarts: number }
  | { type: 'stopped'; name: string }
  | { type: 'service_error'; name: string; message: string };

/** Listen per type (`manager.on('ready', ...)`) or to everything (`manager.on('event', ...)`) for a live table. */
export interface ManagerEventMap {
  started: [Extract<ManagerEvent, { type: 'started' }>];
  ready: [Extract<ManagerEvent, { type: 'ready' }>];
  exited: [Extract<ManagerEvent, { type: 'exited' }>];
  restarting: [Extract<ManagerEvent, { type: 'restarting' }>];
  crash_loop: [Extract<ManagerEvent, { type: 'crash_loop' }>];
  stopped: [Extract<ManagerEvent, { type: 'stopped' }>];
  service_error: [Extract<ManagerEvent, { type: 'service_error' }>];
  event: [ManagerEvent];
}

interface Service {
  spec: ServiceSpec;
  policy: RestartPolicy;
  output: RotatingFileWriter | null;
  child: ServiceChild | null;
  /** Should be running: false after a deliberate stop. */
  wanted: boolean;
  launching: Promise<void> | null;
  restartTimer: { cancel(): void } | null;
  stableTimer: { cancel(): void } | null;
  file: ServiceStateFile;
}

const DEFAULT_STOP_TIMEOUT_MS = 10_000;

export class ServiceManager extends EventEmitter<ManagerEventMap> {
  private readonly services = new Map<string, Service>();
  private readonly run: RunDir;
  private readonly clock: Clock;
  private startOrder: string[] = [];
  private locked = false;

  constructor(
    specs: ServiceSpec[],
    private readonly options: ServiceManagerOptions,
  ) {
    super();
    this.run = new RunDir(options.runDir);
    this.clock = options.clock ?? systemClock;
    for (const spec of specs) {
      if (!/^[a-z][a-z0-9_]{0,62}$/.test(spec.name) || spec.name === 'supervisor') {
        throw new NbpyError('E_USAGE', `service name ${JSON.stringify(spec.name)} must be lower_snake_case (and not "supervisor")`);
      }
      if (this.services.has(spec.name)) throw new NbpyError('E_USAGE', `service ${spec.name} is defined twice`);
      this.services.set(spec.name, {
        spec,
        policy: new RestartPolicy({ ...options.restart, ...spec.restart }, options.random),
        output: null,
        child: null,
        wanted: false,
        launching: null,
        restartTimer: null,
        stableTimer: null,
        file: {
          name: spec.name,
          kind: spec.kind,
          pid: null,
          pid_start: null,
          state: 'stopped',
          crash_loop: false,
          restarts: 0,
          started_at: null,
          last_exit: null,
          last_error: null,
          uptime_ms: 0,
          downtime_ms: 0,
          up_since_ms: null,
          down_since_ms: null,
          stop_timeout_ms: spec.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
          log_file: join(options.logDir, `${spec.name}.log`),
          supervisor_pid: process.pid,
          updated_at: new Date(this.clock.nowMs()).toISOString(),
        },
      });
    }
  }

  /**
   * Start services phase by phase (default: the order given to the constructor), each phase gated on the
   * readiness of its services. Rejects with NbpyError E_SERVICE_NOT_READY when a service is not ready within its
   * `readyTimeoutMs`; what was started stays supervised (call `stop()`).
   */
  async start(order: Phase[] = [...this.services.keys()]): Promise<void> {
    const phases = order.map((p) => (Array.isArray(p) ? p : [p]));
    for (const name of phases.flat()) this.get(name);
    if (!this.locked) {
      this.run.acquireLock([...this.services.keys()], this.clock.nowMs());
      this.locked = true;
    }
    for (const name of phases.flat()) if (!this.startOrder.includes(name)) this.startOrder.push(name);
    for (const phase of phases) {
      await Promise.all(phase.map((name) => this.startService(name)));
    }
  }

  /** Start one service (if not already wanted) and wait for it to be ready. */
  async startService(name: string): Promise<void> {
    const svc = this.get(name);
    if (!this.locked) {
      this.run.acquireLock([...this.services.keys()], this.clock.nowMs());
      this.locked = true;
    }
    if (!this.startOrder.includes(name)) this.startOrder.push(name);
    const ready = this.waitReady(svc);
    if (!svc.wanted) {
      svc.wanted = true;
      svc.output ??= new RotatingFileWriter({
        file: svc.file.log_file as string,
        maxFileBytes: this.options.logging?.maxFileBytes ?? 10 * 1024 * 1024,
        maxFiles: this.options.logging?.maxFiles ?? 5,
        maxTotalBytes: this.options.logging?.maxTotalBytes ?? 200 * 1024 * 1024,
      });
      void this.launch(svc);
    }
    await ready;
  }

  /**
   * Stop services phase by phase (default: reverse start order), each phase waiting for its processes to exit:
   * SIGTERM, then SIGKILL after `phaseTimeoutMs` (default: each service's `stopTimeoutMs`). Releases the
   * supervisor lock when every service is down.
   */
  async stop(options: { order?: Phase[]; phaseTimeoutMs?: number } = {}): Promise<void> {
    const rest = [...this.services.keys()].filter((n) => !this.startOrder.includes(n));
    const order = options.order ?? [...this.startOrder].reverse().concat(rest);
    const phases = order.map((p) => (Array.isArray(p) ? p : [p]));
    const listed = new Set(phases.flat());
    const unlisted = [...this.services.keys()].filter((n) => !listed.has(n));
    if (unlisted.length) phases.push(unlisted);
    for (const phase of phases) {
      await Promise.all(phase.map((name) => this.stopService(name, options.phaseTimeoutMs)));
    }
    if (this.locked && [...this.services.values()].every((s) => !s.child)) {
      this.run.releaseLock();
      this.locked = false;
    }
  }

  /** Deliberately stop one service: it stays down until started again. */
  async stopService(name: string, timeoutMs?: number): Promise<void> {
    const svc = this.get(name);
    const wasWanted = svc.wanted;
    svc.wanted = false;
    svc.restartTimer?.cancel();
    svc.restartTimer = null;
    if (svc.launching) await svc.launching;
    const child = svc.child;
    if (child) {
      this.update(svc, { state: 'stopping' });
      await child.stop(timeoutMs ?? svc.spec.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
      // The exit handler has recorded the exit; wait for it to finish.
      while (svc.child === child) await new Promise((r) => setImmediate(r));
    } else if (wasWanted || svc.file.state !== 'stopped') {
      svc.policy.onExit(this.clock.monoMs(), true);
      this.closeDown(svc);
      this.update(svc, { state: 'stopped', pid: null, pid_start: null, crash_loop: false });
      this.emitEvent({ type: 'stopped', name });
    }
    svc.output?.end();
  }

  /** Stop then start one service; the restart counter is not incremented (deliberate). */
  async restartService(name: string): Promise<void> {
    await this.stopService(name);
    await this.startService(name);
  }

  /** Current state of every service, in start order. */
  status(): ServiceStatus[] {
    const now = this.clock.nowMs();
    const names = [...this.startOrder, ...[...this.services.keys()].filter((n) => !this.startOrder.includes(n))];
    return names.map((n) => {
      const svc = this.get(n);
      const f = { ...svc.file, crash_loop: svc.policy.observe(this.clock.monoMs()) === 'crash_loop' };
      return { ...f, alive: svc.child !== null && svc.child.exitStatus === null, uptime_pct: uptimePercent(f, now) };
    });
  }

  // ---------------------------------------------------------------- internals

  private get(name: string): Service {
    const svc = this.services.get(name);
    if (!svc) throw new NbpyError('E_USAGE', `no service named ${name}; known: ${[...this.services.keys()].join(', ')}`);
    return svc;
  }

  private emitEvent(e: ManagerEvent): void {
    (this.emit as (type: string, e: ManagerEvent) => boolean)(e.type, e);
    (this.emit as (type: string, e: ManagerEvent) => boolean)('event', e);
  }

  private update(svc: Service, patch: Partial<ServiceStateFile>): void {
    svc.file = { ...svc.file, ...patch, updated_at: new Date(this.clock.nowMs()).toISOString() };
    try {
      this.run.writeService(svc.file);
    } catch (e) {
      this.emitEvent({ type: 'service_error', name: svc.spec.name, message: `cannot write state: ${(e as Error).message}` });
    }
  }

  /** Close the open uptime/downtime interval. */
  private closeDown(svc: Service): void {
    const now = this.clock.nowMs();
    const f = svc.file;
    if (f.down_since_ms !== null)
      this.update(svc, { downtime_ms: f.downtime_ms + Math.max(0, now - f.down_since_ms), down_since_ms: null });
  }

  private waitReady(svc: Service): Promise<void> {
    const name = svc.spec.name;
    const timeoutMs = svc.spec.readyTimeoutMs ?? 30_000;
    if ((svc.file.state === 'ready' || svc.file.state === 'running') && svc.wanted) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onReady = (e: { name: string }) => {
        if (e.name !== name) return;
        cleanup();
        resolve();
      };
      const onStopped = (e: { name: string }) => {
        if (e.name !== name) return;
        cleanup();
        reject(new NbpyError('E_SERVICE_STOPPED', `service ${name} was stopped before it became ready`));
      };
      const timer = this.clock.setTimeout(() => {
        cleanup();
        const f = svc.file;
        reject(
          new NbpyError(
            'E_SERVICE_NOT_READY',
            `service ${name} did not become ready within ${timeoutMs} ms (state ${f.state}, restarts ${f.restarts}` +
              `${f.last_error ? `, last error: ${f.last_error}` : ''}); see ${f.log_file}`,
            true,
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        timer.cancel();
        this.off('ready', onReady);
        this.off('stopped', onStopped);
      };
      this.on('ready', onReady);
      this.on('stopped', onStopped);
    });
  }

  private launch(svc: Service): Promise<void> {
    const p = this.launchInner(svc).finally(() => {
      if (svc.launching === p) svc.launching = null;
    });
    svc.launching = p;
    return p;
  }

  private async launchInner(svc: Service): Promise<void> {
    const name = svc.spec.name;
    const now = this.clock.nowMs();
    this.update(svc, { state: 'starting', pid: null, pid_start: null, started_at: new Date(now).toISOString() });
    let child: ServiceChild;
    try {
      child = await ServiceChild.spawn(svc.spec, svc.output ?? undefined);
    } catch (e) {
      const message = (e as Error).message;
      this.update(svc, { state: 'failed', last_error: message });
      this.emitEvent({ type: 'service_error', name, message });
      svc.policy.onStart(this.clock.monoMs());
      this.scheduleRestart(svc);
      return;
    }
    svc.child = child;
    svc.policy.onStart(this.clock.monoMs());
    this.update(svc, { pid: child.pid, pid_start: child.startTicks });
    this.emitEvent({ type: 'started', name, pid: child.pid, restarts: svc.file.restarts });
    void child.exited.then((status) => this.onExit(svc, child, status));
    if (!svc.wanted) {
      // stop() arrived while spawning.
      void child.stop(svc.spec.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
      return;
    }
    child.ready.then(
      () => {
        if (svc.child !== child || child.exitStatus) return;
        this.closeDown(svc);
        this.update(svc, {
          state: svc.spec.readiness === 'spawn' ? 'running' : 'ready',
          up_since_ms: this.clock.nowMs(),
          last_error: null,
        });
        this.emitEvent({ type: 'ready', name, pid: child.pid });
        svc.stableTimer?.cancel();
        svc.stableTimer = this.clock.setTimeout(() => {
          if (svc.child === child && svc.policy.observe(this.clock.monoMs()) === 'ok') this.update(svc, { crash_loop: false });
        }, svc.policy.options.stableAfterMs);
      },
      (err: Error) => {
        if (svc.child !== child || child.exitStatus) return;
        // Not ready in time: counts as a crash (the exit handler restarts it).
        this.update(svc, { last_error: err.message });
        void child.stop(svc.spec.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
      },
    );
  }

  private onExit(svc: Service, child: ServiceChild, status: ExitStatus): void {
    const name = svc.spec.name;
    const now = this.clock.nowMs();
    const deliberate = !svc.wanted;
    svc.stableTimer?.cancel();
    svc.stableTimer = null;
    const f = svc.file;
    const uptime = f.up_since_ms !== null ? f.uptime_ms + Math.max(0, now - f.up_since_ms) : f.uptime_ms;
    const lastExit = { code: status.code, signal: status.signal, at: new Date(now).toISOString() };
    svc.child = null;
    this.update(svc, {
      pid: null,
      pid_start: null,
      uptime_ms: uptime,
      up_since_ms: null,
      last_exit: lastExit,
      // Downtime counts from a crash of a service that had been up, until it is ready again.
      down_since_ms: deliberate ? null : (f.down_since_ms ?? (f.up_since_ms !== null ? now : null)),
      ...(deliberate ? {} : { last_error: f.last_error ?? `exited with code ${status.code}, signal ${status.signal}` }),
    });
    this.emitEvent({ type: 'exited', name, pid: child.pid, code: status.code, signal: status.signal, deliberate });
    if (deliberate) {
      svc.policy.onExit(this.clock.monoMs(), true);
      this.update(svc, { state: 'stopped', crash_loop: false });
      this.emitEvent({ type: 'stopped', name });
      return;
    }
    this.scheduleRestart(svc);
  }

  private scheduleRestart(svc: Service): void {
    const name = svc.spec.name;
    const decision = svc.policy.onExit(this.clock.monoMs(), false);
    if (decision.action !== 'restart') return;
    const enteringLoop = decision.crashLoop && !svc.file.crash_loop;
    this.update(svc, { state: decision.crashLoop ? 'crash_loop' : 'backoff', crash_loop: decision.crashLoop });
    this.emitEvent({ type: 'restarting', name, delayMs: decision.delayMs, restarts: svc.file.restarts, crashLoop: decision.crashLoop });
    if (enteringLoop) this.emitEvent({ type: 'crash_loop', name, delayMs: decision.delayMs, restarts: svc.file.restarts });
    svc.restartTimer?.cancel();
    svc.restartTimer = this.clock.setTimeout(() => {
      svc.restartTimer = null;
      if (!svc.wanted) return;
      this.update(svc, { restarts: svc.file.restarts + 1 });
      void this.launch(svc);
    }, decision.delayMs);
  }
}

// ---------------------------------------------------------------- from another shell

export interface StopFromOtherShellOptions {
  /** How long to wait for the supervisor to stop everything before SIGKILLing what is left. Default 60 s. */
  timeoutMs?: number;
  /** Poll interval for process liveness. Default 50 ms. */
  pollMs?: number;
}

export interface StopReport {
  /** The supervisor signalled, if one was running. */
  supervisorPid: number | null;
  /** Service pids found alive and signalled directly (supervisor gone or too slow). */
  signalled: { name: string; pid: number }[];
  /** Pids that needed SIGKILL. */
  killed: number[];
}

/**
 * Stop a stack started by a supervisor in another process: SIGTERM the supervisor (which stops its services in
 * order) and wait until it and every service process are gone; SIGKILL whatever remains after `timeoutMs`. When the
 * supervisor is gone, services are stopped directly from their PID files (SIGTERM, then SIGKILL after each
 * service's recorded `stop_timeout_ms`). Throws NbpyError E_STOP_INCOMPLETE if a process survives even SIGKILL.
 */
const STOP_RANK: Record<ServiceKind, number> = { publisher: 0, console: 1, health: 1, other: 1, subscriber: 2, backing: 3 };

/** Services grouped in stop order by kind: publishers, readers, subscribers, backing services. */
export function stopGroups<T extends { kind: ServiceKind }>(services: readonly T[]): T[][] {
  const groups: T[][] = [[], [], [], []];
  for (const s of services) groups[STOP_RANK[s.kind] ?? 1]!.push(s);
  return groups.filter((g) => g.length > 0);
}

export async function stopFromOtherShell(runDir: string, options: StopFromOtherShellOptions = {}): Promise<StopReport> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const pollMs = options.pollMs ?? 50;
  const rd = new RunDir(runDir);
  const report: StopReport = { supervisorPid: null, signalled: [], killed: [] };
  const liveServices = () =>
    rd
      .listServices()
      .filter((s) => s.pid !== null && isProcessAlive(s.pid, s.pid_start))
      .map((s) => ({ name: s.name, kind: s.kind, pid: s.pid as number, pidStart: s.pid_start, stopTimeoutMs: s.stop_timeout_ms }));
  const gone = (s: { pid: number; pidStart: string | null }) => !isProcessAlive(s.pid, s.pidStart) && !isGroupAlive(s.pid);
  const waitUntil = async (cond: () => boolean, ms: number) => {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, pollMs));
    }
    return true;
  };

  const sup = rd.liveSupervisor();
  // Services recorded now: the supervisor removes PID files as they stop, so remember the pids to check.
  const initial = liveServices();
  if (sup) {
    report.supervisorPid = sup.pid;
    process.kill(sup.pid, 'SIGTERM');
    const allGone = await waitUntil(() => !isProcessAlive(sup.pid, sup.pid_start) && initial.every(gone), timeoutMs);
    if (!allGone && isProcessAlive(sup.pid, sup.pid_start)) {
      process.kill(sup.pid, 'SIGKILL');
      report.killed.push(sup.pid);
    }
    await waitUntil(() => !isProcessAlive(sup.pid, sup.pid_start), 5_000);
  }
  // Supervisor gone (or killed): stop what is left directly, in the order the supervisor would:
  // publishers first (nothing new is published), then readers, then subscribers (they flush what
  // they hold), backing services last; each group gone before the next is signalled.
  const left = liveServices();
  for (const group of stopGroups(left)) {
    for (const s of group) {
      report.signalled.push({ name: s.name, pid: s.pid });
      signalGroup(s.pid, 'SIGTERM');
    }
    await Promise.all(
      group.map(async (s) => {
        if (await waitUntil(() => gone(s), s.stopTimeoutMs)) return;
        signalGroup(s.pid, 'SIGKILL');
        report.killed.push(s.pid);
      }),
    );
  }
  const survivors = [...initial, ...left].filter((s) => !gone(s));
  if (survivors.length) await waitUntil(() => survivors.every(gone), 5_000);
  const still = survivors.filter((s) => !gone(s));
  // Record what happened for `status` from any shell.
  const nowIso = new Date().toISOString();
  for (const s of rd.listServices()) {
    if (s.state === 'stopped' && s.pid === null) continue;
    if (still.some((x) => x.name === s.name)) continue;
    rd.writeService({ ...s, state: 'stopped', pid: null, pid_start: null, up_since_ms: null, down_since_ms: null, updated_at: nowIso });
  }
  rd.clearStaleLock();
  if (still.length) {
    throw new NbpyError('E_STOP_INCOMPLETE', `processes survived SIGKILL: ${still.map((s) => `${s.name} (pid ${s.pid})`).join(', ')}`);
  }
  return report;
}
