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
  return reapOnExit(
    spawn(process.execPath, [...nodeArgs, nbpyEntry, ...args], {
      cwd: opts.cwd ?? repoRoot,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/** Collect a child's output until it exits (or the deadline passes: then it is killed and the test fails). */
export function collect(child: ChildProcess, timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`process did not exit within ${stretch(timeoutMs)} ms; stderr: ${stderr.slice(-2000)}; stdout: ${stdout.slice(-2000)}`),
      );
    }, stretch(timeoutMs));
    child.on('exit', (code) => {
      clearTimeout(timer);
      // Give the pipes a moment to drain.
      setImmediate(() => resolve({ code, stdout, stderr }));
    });
  });
}

export async function runNbpy(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return collect(spawnNbpy(args, opts), opts.timeoutMs);
}

/** Resolve when `pattern` appears on the child's stdout. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; got: ${buf.slice(-1000)}`)), stretch(timeoutMs));
    const on = (d: Buffer) => {
      buf += d.toString();
      if (pattern.test(buf)) {
        clearTimeout(timer);
        child.stdout?.off('data', on);
        resolve(buf);
      }
    };
    child.stdout?.on('data', on);
  });
}
