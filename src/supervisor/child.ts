/**
 * One service process: spawn, capture its output, readiness, graceful stop.
 *
 * Readiness protocol: the child is given a pipe on fd 3 and `NBPY_READY_FD=3` in its environment; when it is
 * ready to serve it writes one line `{"nbpy":"ready"}` there (`signalReady()` does that for Node children; a
 * Python or shell child can `os.write(3, b'{"nbpy":"ready"}\n')` / `echo '{"nbpy":"ready"}' >&3`). A line on a
 * dedicated fd cannot be confused with log output and needs no port. Services with no such signal (influxd) use
 * readiness `'spawn'` or a `probe` (e.g. an HTTP health check).
 *
 * The child is a process-group leader (`detached`), so a terminal's Ctrl-C reaches only the supervisor (which stops
 * services in order), the whole group can be signalled, and a supervisor in another shell can manage it by pid.
 * Its stdout/stderr are piped through the supervisor into a size-capped rotating log file; a child that outlives
 * its supervisor gets EPIPE on stdout: `createLogger` (without `dir`) ignores it; other writers must tolerate it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { NbpyError } from '../core/errors.js';
import { processStartTicks, signalGroup } from './state.js';

/** How the supervisor learns that a service is ready. */
export type Readiness = 'signal' | 'spawn' | { probe: () => Promise<boolean>; intervalMs?: number };

export interface ChildSpec {
  command: string;
  args?: string[];
  /** Added to the supervisor's environment; a value of `undefined` removes the variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Default 'signal'. */
  readiness?: Readiness;
  /** How long one start may take to become ready. Default 30 s. */
  readyTimeoutMs?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Environment variable naming the readiness fd. */
export const READY_FD_ENV = 'NBPY_READY_FD';
const READY_LINE = '{"nbpy":"ready"}';

/**
 * For a child: tell the supervisor it is ready. Returns false when not run under a supervisor (no readiness fd),
 * so it is safe to call unconditionally. Only the first call writes.
 */
export function signalReady(env: NodeJS.ProcessEnv = process.env): boolean {
  const fd = Number(env[READY_FD_ENV]);
  if (!Number.isInteger(fd) || fd < 3) return false;
  delete env[READY_FD_ENV];
  try {
    writeSync(fd, `${READY_LINE}\n`);
    closeSync(fd);
    return true;
  } catch {
    return false;
  }
}

/** A running service process. */
export class ServiceChild {
  readonly pid: number;
  /** /proc start time, recorded in the PID file to detect pid reuse. */
  readonly startTicks: string | null;
  /** Resolves when the child is ready; rejects (NbpyError E_NOT_READY / E_EXITED_BEFORE_READY) otherwise. */
  readonly ready: Promise<void>;
  /** Resolves with the exit status once the process has exited. */
  readonly exited: Promise<ExitStatus>;
  private exitStatusValue: ExitStatus | null = null;
  private stopping: Promise<{ status: ExitStatus; killed: boolean }> | null = null;

  private constructor(
    private readonly proc: ChildProcess,
    spec: ChildSpec,
  ) {
    this.pid = proc.pid as number;
    this.startTicks = processStartTicks(this.pid);
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.exitStatusValue = { code, signal };
        // The group dies with its leader: a leftover grandchild would hold ports and files of the next start.
        signalGroup(this.pid, 'SIGKILL', false);
        resolve(this.exitStatusValue);
      });
    });
    this.ready = this.watchReadiness(spec);
    this.ready.catch(() => {});
  }

  /** Spawn a service; rejects with NbpyError E_SPAWN when the command cannot be started. */
  static async spawn(spec: ChildSpec, output?: { write(chunk: Buffer): unknown }): Promise<ServiceChild> {
    const env: NodeJS.ProcessEnv = { ...process.env, [READY_FD_ENV]: '3' };
    for (const [k, v] of Object.entries(spec.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    const proc = spawn(spec.command, spec.args ?? [], {
      cwd: spec.cwd,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(new NbpyError('E_SPAWN', `cannot start ${spec.command}: ${err.code ?? err.message}; check the command and its path`, true));
      proc.once('error', onError);
      proc.once('spawn', () => {
        proc.off('error', onError);
        resolve();
      });
    });
    proc.on('error', () => {}); // later errors (failed kill) must not crash the supervisor
    for (const s of [proc.stdout, proc.stderr]) {
      s?.on('data', (chunk: Buffer) => output?.write(chunk));
      s?.on('error', () => {});
    }
    return new ServiceChild(proc, spec);
  }

  get exitStatus(): ExitStatus | null {
    return this.exitStatusValue;
  }

  /** Signal the child's whole process group. */
  signal(sig: NodeJS.Signals): boolean {
    return this.exitStatusValue === null && signalGroup(this.pid, sig);
  }

  /** Graceful stop: SIGTERM to the group, SIGKILL after `timeoutMs`; resolves once the process has exited. */
  stop(timeoutMs: number): Promise<{ status: ExitStatus; killed: boolean }> {
    this.stopping ??= (async () => {
      if (this.exitStatusValue) return { status: this.exitStatusValue, killed: false };
      let killed = false;
      this.signal('SIGTERM');
      const timer = setTimeout(() => {
        killed = this.signal('SIGKILL');
      }, timeoutMs);
      try {
        const status = await this.exited;
        return { status, killed };
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.stopping;
  }

  private watchReadiness(spec: ChildSpec): Promise<void> {
    const readiness = spec.readiness ?? 'signal';
    const timeoutMs = spec.readyTimeoutMs ?? 30_000;
    const fd3 = this.proc.stdio[3] as Readable | null | undefined;
    fd3?.on('error', () => {});
    if (readiness === 'spawn') {
      fd3?.destroy();
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(
        () => finish(new NbpyError('E_NOT_READY', `${spec.command} did not signal readiness within ${timeoutMs} ms`, true)),
        timeoutMs,
      );
      void this.exited.then((s) =>
        finish(new NbpyError('E_EXITED_BEFORE_READY', `exited before it was ready (code ${s.code}, signal ${s.signal})`, true)),
      );
      if (readiness === 'signal') {
        let buf = '';
        fd3?.setEncoding('utf8');
        fd3?.on('data', (text: string) => {
          buf += text;
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            const line = buf.slice(0, i).trim();
            buf = buf.slice(i + 1);
            if (line === READY_LINE) finish();
          }
          if (buf.length > 4096) buf = '';
        });
      } else {
        fd3?.destroy();
        const interval = readiness.intervalMs ?? 250;
        const poll = async () => {
          while (!done) {
            const ok = await readiness.probe().catch(() => false);
            if (ok) return finish();
            await new Promise((r) => setTimeout(r, interval));
          }
        };
        void poll();
      }
    });
  }
}
