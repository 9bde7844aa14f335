/** Shared CLI plumbing: config loading from --config, output modes, errors and exit codes. */
import type { Command } from 'commander';
import { loadConfig, type LoadedConfig } from '../config/load.js';

export const DEFAULT_CONFIG = './integration_config.json';

/** Exit codes: 0 ok, 1 a check failed / unhealthy, 2 usage or configuration error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** The --config value of this command or any parent. */
export function configPath(cmd: Command): string {
  const all = cmd.optsWithGlobals() as { config?: string };
  return all.config ?? DEFAULT_CONFIG;
}

export function loadFromCommand(cmd: Command): LoadedConfig {
  return loadConfig(configPath(cmd));
}

export function wantsJson(cmd: Command): boolean {
  return Boolean((cmd.optsWithGlobals() as { json?: boolean }).json);
}

/** Print one line of JSON to stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Render rows as an aligned text table. */
export function table(rows: Record<string, unknown>[], columns?: string[]): string {
  if (rows.length === 0) return '(none)';
  const cols = columns ?? Object.keys(rows[0]!);
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

/** Parse a duration like `30s`, `500ms`, `2m`, or a bare number of seconds, into ms. */
export function parseDurationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`expected a duration such as 30s, 500ms or 2m, got "${text}"`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}

/** A positive integer option parser for commander that raises a usage error naming the option. */
export function intOption(name: string, min = 1) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name}: expected an integer >= ${min}, got "${value}"`);
    return n;
  };
}

/**
 * Wait for one step of a shutdown, at most `ms`: a step that hangs is named in the log and the
 * shutdown goes on (a process that never exits is worse than one step left undone).
 */
export async function boundedStep(what: string, work: Promise<unknown>, ms: number, warn: (msg: string) => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
  const res = await Promise.race([work.then(() => 'done' as const), late]);
  clearTimeout(timer);
  if (res === 'late') warn(`stopping: ${what} did not finish within ${ms} ms; going on without it`);
}
