/** Run the nbpy CLI (from source, through tsx) as a child process, as a user would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
/**
 * Integration tests run the built CLI (`dist/`), the artefact users run: `npm test` builds first
 * (scripts/run-tests.mjs). NBPY_TEST_FROM_SOURCE=1 runs the TypeScript sources through tsx instead.
 */
const fromSource = process.env.NBPY_TEST_FROM_SOURCE === '1';
export const nbpyEntry = fileURLToPath(new URL(fromSource ? '../../src/bin/nbpy.ts' : '../../dist/bin/nbpy.js', import.meta.url));
const nodeArgs = fromSource ? ['--import', 'tsx'] : [];
/** Debian's python3, which has python3-zmq and python3-msgpack (installed by .ci/run). */
export const systemPython = '/usr/bin/python3';

/**
 * Deadlines in tests are bounds for "something is wrong", never timings: a CI machine under load runs
 * this suite at a third of a development box's speed, so every deadline of the shared helpers is
 * stretched there (NBPY_TEST_TIME_FACTOR overrides; CI=true means 3). A passing test takes no longer.
 */
export const timeFactor = Number(process.env.NBPY_TEST_TIME_FACTOR) || (process.env.CI === 'true' ? 3 : 1);
export const stretch = (ms: number): number => ms * timeFactor;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Children of this test process still running. A test file the runner gives up on (its timeout) is
 * killed with SIGTERM: its children would live on and load the machine for every later test, so they
 * are SIGKILLed when this process exits or is told to stop.
 */
const children = new Set<ChildProcess>();
export function reapOnExit(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
const killChildren = () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
};
process.once('exit', killChildren);
for (const sig of ['SIGTERM', 'SIGINT'] as const)
  process.once(sig, () => {
    killChildren();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });

export function spawnNbpy(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): ChildProcess {
  const child = reapOnExit(
    spawn(process.execPath, [...nodeArgs, nbpyEntry, ...args], {
      cwd: opts.cwd ?? repoRoot,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  track(child);
  return child;
}

/** What a child printed and how it ended, kept from its start. */
interface Output {
  stdout: string;
  stderr: string;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  /** The child's stdio streams have closed: everything it printed is in. */
  closed: boolean;
}
const outputs = new WeakMap<ChildProcess, Output>();
/** Per stream, at least the last this many characters are kept (trimmed when twice as many have come). */
const MAX_KEPT = 1024 * 1024;

/**
 * Read a child's output from its start and note its exit. Without it, output printed before a test
 * called collect() was lost, and a child that had already exited (crashed mid-test) was waited for
 * until the timeout, with nothing to show: "did not exit", stderr empty. Reading at once also keeps
 * a chatty child from blocking on a full pipe.
 */
export function track(child: ChildProcess): Output {
  const known = outputs.get(child);
  if (known) return known;
  const out: Output = { stdout: '', stderr: '', closed: false };
  outputs.set(child, out);
  // Trimming only past twice the bound keeps a chatty child from costing a copy of the kept text per chunk.
  const keep = (s: string) => (s.length > 2 * MAX_KEPT ? s.slice(-MAX_KEPT) : s);
  child.stdout?.on('data', (d: Buffer) => (out.stdout = keep(out.stdout + d.toString())));
  child.stderr?.on('data', (d: Buffer) => (out.stderr = keep(out.stderr + d.toString())));
  if (child.exitCode !== null || child.signalCode !== null) out.exit = { code: child.exitCode, signal: child.signalCode };
  else child.once('exit', (code, signal) => (out.exit = { code, signal }));
  child.once('close', () => (out.closed = true));
  return out;
}

/** Wait for the child to end (at once if it already has); its whole output. */
export function collect(child: ChildProcess, timeoutMs = 60_000): Promise<RunResult> {
  const out = track(child);
  return new Promise((resolve, reject) => {
    // After 'exit' the pipes may still hold the last output: wait for them to close, but not for
    // long (a grandchild, such as a detached supervisor, may hold them open).
    const finish = () => {
      const done = () => resolve({ code: out.exit!.code, stdout: out.stdout, stderr: out.stderr });
      if (out.closed) {
        setImmediate(done);
        return;
      }
      const t = setTimeout(done, stretch(1000));
      child.once('close', () => {
        clearTimeout(t);
        done();
      });
    };
    if (out.exit) {
      finish();
      return;
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `process did not exit within ${stretch(timeoutMs)} ms; stderr: ${out.stderr.slice(-2000)}; stdout: ${out.stdout.slice(-2000)}`,
        ),
      );
    }, stretch(timeoutMs));
    child.once('exit', () => {
      clearTimeout(timer);
      finish();
    });
  });
}

export async function runNbpy(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return collect(spawnNbpy(args, opts), opts.timeoutMs);
}

/**
 * Wait until the child's stdout (from its start) matches `pattern`; resolves with that stdout. A child
 * that ends first fails the wait at once, with its exit code and stderr.
 */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const out = track(child);
  return new Promise((resolve, reject) => {
    let settled = false;
    const end = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout?.off('data', on);
      child.off('exit', exited);
      if (err) reject(err);
      else resolve(out.stdout);
    };
    // Registered after track's listener, so out.stdout already holds each chunk seen here.
    const on = () => {
      if (pattern.test(out.stdout)) end();
    };
    const exited = () => {
      // What it printed last may still be in the pipe: collect() waits for that.
      void collect(child, 10_000).then(() =>
        pattern.test(out.stdout)
          ? end()
          : end(
              new Error(
                `the process ended (code ${out.exit?.code ?? 'none'}, signal ${out.exit?.signal ?? 'none'}) before printing ${pattern}; stderr: ${out.stderr.slice(-1500)}; stdout: ${out.stdout.slice(-1000)}`,
              ),
            ),
      );
    };
    const timer = setTimeout(
      () => end(new Error(`timed out waiting for ${pattern}; got: ${out.stdout.slice(-1000)}; stderr: ${out.stderr.slice(-1000)}`)),
      stretch(timeoutMs),
    );
    if (pattern.test(out.stdout)) return end();
    child.stdout?.on('data', on);
    if (out.exit) exited();
    else child.once('exit', exited);
  });
}
