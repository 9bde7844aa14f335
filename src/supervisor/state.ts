/**
 * Run-directory state, so `status` and `stop` work from another shell after a detached start.
 *
 *   <runDir>/supervisor.lock   JSON {pid, pid_start, started_at, services, stop_order}; created exclusively (the lock)
 *   <runDir>/supervisor.pid    the supervisor's pid as text (for scripts)
 *   <runDir>/<service>.json    the service's state (ServiceStateFile), rewritten on every transition
 *   <runDir>/<service>.pid     the service's pid as text while it runs
 *
 * Every write is atomic (temp file + rename). A pid is only trusted when the process is alive and its start
 * time (/proc/<pid>/stat field 22) matches the one recorded, so a reused pid is never signalled.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { NbpyError } from '../core/errors.js';

export const SERVICE_STATES = ['starting', 'ready', 'running', 'backoff', 'crash_loop', 'stopping', 'stopped', 'failed'] as const;
/**
 * starting: spawned, readiness not yet seen · ready: said it is ready · running: up (service without a readiness
 * signal) · backoff: crashed, restart scheduled · crash_loop: crashing repeatedly, retried slowly · stopping ·
 * stopped: deliberately down · failed: could not be spawned, or found dead with no supervisor left to restart it.
 */
export type ServiceState = (typeof SERVICE_STATES)[number];

export type ServiceKind = 'publisher' | 'subscriber' | 'backing' | 'console' | 'health' | 'other';

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  at: string;
}

/** The JSON state file of one service. Times `*_at` are ISO 8601; `*_ms` are milliseconds. */
export interface ServiceStateFile {
  name: string;
  kind: ServiceKind;
  pid: number | null;
  /** Process start time in clock ticks since boot (/proc/<pid>/stat), to detect pid reuse; null off Linux. */
  pid_start: string | null;
  state: ServiceState;
  /** True while the restart policy considers the service crash-looping (also while it is `starting` again). */
  crash_loop: boolean;
  restarts: number;
  /** Start of the current run. */
  started_at: string | null;
  last_exit: ExitInfo | null;
  last_error: string | null;
  /** Uptime accounting: closed intervals plus the open one (`up_since_ms` / `down_since_ms`, epoch ms). */
  uptime_ms: number;
  downtime_ms: number;
  up_since_ms: number | null;
  down_since_ms: number | null;
  /** Grace period before SIGKILL, for a stop from another shell when the supervisor is gone. */
  stop_timeout_ms: number;
  log_file: string | null;
  supervisor_pid: number;
  updated_at: string;
}

export interface SupervisorLockFile {
  pid: number;
  pid_start: string | null;
  started_at: string;
  run_dir: string;
  /** Service names in start order. */
  services: string[];
}

/** Uptime percentage (0-100) of a service, counting the open interval up to `nowMs`; null before the first ready. */
export function uptimePercent(
  s: Pick<ServiceStateFile, 'uptime_ms' | 'downtime_ms' | 'up_since_ms' | 'down_since_ms'>,
  nowMs: number,
): number | null {
  const up = s.uptime_ms + (s.up_since_ms !== null ? Math.max(0, nowMs - s.up_since_ms) : 0);
  const down = s.downtime_ms + (s.down_since_ms !== null ? Math.max(0, nowMs - s.down_since_ms) : 0);
  return up + down === 0 ? null : (100 * up) / (up + down);
}

// ---------------------------------------------------------------- processes

const HAVE_PROC = existsSync('/proc/self/stat');

/** Start time of a process in clock ticks since boot, from /proc; null when unavailable (not Linux, gone). */
export function processStartTicks(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: fields after the last ')' are fixed.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); field 22 (starttime) is rest[19].
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

function processStateLetter(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/**
 * Is `pid` alive and the same process we recorded? A zombie counts as dead; a different start time than
 * `startTicks` means the pid was reused.
 */
export function isProcessAlive(pid: number | null | undefined, startTicks?: string | null): boolean {
  if (!pid || pid <= 0 || !Number.isInteger(pid)) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (!HAVE_PROC) return true;
  const letter = processStateLetter(pid);
  // null: it vanished between kill(0) and the read.
  if (letter === null || letter === 'Z' || letter === 'X') return false;
  if (startTicks) {
    const now = processStartTicks(pid);
    if (now !== startTicks) return false;
  }
  return true;
}

/** Signal a process group (services are started as group leaders), falling back to the pid alone. */
export function signalGroup(pid: number, signal: NodeJS.Signals, fallbackToPid = true): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    if (!fallbackToPid) return false;
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/** Is any process of group `pid` still alive (zombies of the group leader excluded)? */
export function isGroupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
  } catch {
    return false;
  }
  if (!HAVE_PROC) return true;
  // The group may consist only of the leader's zombie (not yet reaped, or never: some container init processes
  // do not reap orphans): look for a live member.
  const leader = processStateLetter(pid);
  if (leader !== null && leader !== 'Z' && leader !== 'X') return true;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // rest[0] is field 3 (state), rest[2] field 5 (pgrp)
      if (Number(rest[2]) === pid && rest[0] !== 'Z' && rest[0] !== 'X') return true;
    } catch {
      // exited while we were looking
    }
  }
  return false;
}

// ---------------------------------------------------------------- files

/** Write a file atomically: temp file in the same directory, then rename over the target. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

const LOCK = 'supervisor.lock';
const SUPERVISOR_PID = 'supervisor.pid';
const RESERVED = new Set(['supervisor']);

/** The run directory of one supervisor. */
export class RunDir {
  constructor(readonly dir: string) {}

  statePath(name: string): string {
    return join(this.dir, `${name}.json`);
  }
  pidPath(name: string): string {
    return join(this.dir, `${name}.pid`);
  }

  writeService(state: ServiceStateFile): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileAtomic(this.statePath(state.name), `${JSON.stringify(state, null, 2)}\n`);
    if (state.pid) writeFileAtomic(this.pidPath(state.name), `${state.pid}\n`);
    else unlinkQuiet(this.pidPath(state.name));
  }

  readService(name: string): ServiceStateFile | null {
    return readJson<ServiceStateFile>(this.statePath(name));
  }

  /** Every service state file in the directory, by name. */
  listServices(): ServiceStateFile[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names
      .filter((n) => n.endsWith('.json') && !RESERVED.has(n.slice(0, -5)))
      .sort()
      .map((n) => readJson<ServiceStateFile>(join(this.dir, n)))
      .filter((s): s is ServiceStateFile => s !== null && typeof s.name === 'string' && typeof s.state === 'string');
  }

  readLock(): SupervisorLockFile | null {
    return readJson<SupervisorLockFile>(join(this.dir, LOCK));
  }

  /** The live supervisor holding the lock, or null (no lock, or its owner is gone). */
  liveSupervisor(): SupervisorLockFile | null {
    const lock = this.readLock();
    return lock && isProcessAlive(lock.pid, lock.pid_start) ? lock : null;
  }

  /**
   * Take the supervisor lock for this process. A lock left by a dead supervisor is taken over; a live one is an
   * error that names the pid and the fix.
   */
  acquireLock(services: string[], nowMs = Date.now()): SupervisorLockFile {
    mkdirSync(this.dir, { recursive: true });
    const lock: SupervisorLockFile = {
      pid: process.pid,
      pid_start: processStartTicks(process.pid),
      started_at: new Date(nowMs).toISOString(),
      run_dir: this.dir,
      services,
    };
    const path = join(this.dir, LOCK);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(path, 'wx');
        try {
          writeSync(fd, `${JSON.stringify(lock, null, 2)}\n`);
        } finally {
          closeSync(fd);
        }
        writeFileAtomic(join(this.dir, SUPERVISOR_PID), `${process.pid}\n`);
        return lock;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const owner = this.readLock();
        if (owner && owner.pid === process.pid) return owner;
        if (owner && isProcessAlive(owner.pid, owner.pid_start)) {
          throw new NbpyError(
            'E_SUPERVISOR_RUNNING',
            `a supervisor is already running for ${this.dir} (pid ${owner.pid}); stop it first (nbpy stop) or use another runDir`,
          );
        }
        unlinkQuiet(path);
      }
    }
    throw new NbpyError('E_SUPERVISOR_LOCK', `could not take the supervisor lock ${path}; remove it if no supervisor is running`, true);
  }

  /** Release the lock if this process holds it. */
  releaseLock(): void {
    const owner = this.readLock();
    if (owner && owner.pid !== process.pid) return;
    unlinkQuiet(join(this.dir, LOCK));
    unlinkQuiet(join(this.dir, SUPERVISOR_PID));
  }

  /** Remove a lock whose owner is dead (after a stop from another shell). */
  clearStaleLock(): void {
    const owner = this.readLock();
    if (owner && isProcessAlive(owner.pid, owner.pid_start)) return;
    unlinkQuiet(join(this.dir, LOCK));
    unlinkQuiet(join(this.dir, SUPERVISOR_PID));
  }
}

/** A service as `status` reports it: the state file reconciled with the process table. */
export interface ServiceStatus extends ServiceStateFile {
  /** Is the recorded pid alive (and the same process)? */
  alive: boolean;
  uptime_pct: number | null;
}

const UP_STATES: ReadonlySet<ServiceState> = new Set(['starting', 'ready', 'running', 'stopping']);

/**
 * Status from the run directory, usable from any shell. A service recorded as up whose process is gone, with no
 * supervisor left to restart it, is reported as `failed`.
 */
export function readStatus(runDir: string, nowMs = Date.now()): { supervisor: SupervisorLockFile | null; services: ServiceStatus[] } {
  const rd = new RunDir(runDir);
  const supervisor = rd.liveSupervisor();
  const services = rd.listServices().map((s): ServiceStatus => {
    const alive = isProcessAlive(s.pid, s.pid_start);
    let out: ServiceStateFile = s;
    if (!alive && !supervisor && (UP_STATES.has(s.state) || s.state === 'backoff' || s.state === 'crash_loop')) {
      out = {
        ...s,
        state: 'failed',
        pid: null,
        last_error: s.pid ? `process ${s.pid} is gone and no supervisor is running` : 'no supervisor is running',
        up_since_ms: null,
        uptime_ms: s.uptime_ms,
      };
    }
    return { ...out, alive, uptime_pct: uptimePercent(out, nowMs) };
  });
  return { supervisor, services };
}
