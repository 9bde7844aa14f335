/** `nbpy health check|monitor`: is data flowing, and if not, since when and why. */
import { appendFileSync, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { BusSubscriber, tcpEndpoint } from '../bus/subscriber.js';
import { curveClientKeys } from '../bus/curve.js';
import type { Config } from '../config/schema.js';
import { UsageError } from '../core/errors.js';
import { UptimeTracker, type HealthResult } from '../health/checks.js';
import { enabledServices } from '../health/evaluate.js';
import { runHealthCheck, type ManagerView } from '../health/probe.js';
import { readStatus } from '../supervisor/state.js';
import { EXIT, loadFromCommand, parseDurationMs, printJson, table, wantsJson } from './common.js';

/** What the service manager's status files say (run/), for the health check; null without a run dir. */
export function managerView(config: Config, nowMs: number): ManagerView | null {
  if (!existsSync(config.runDir)) return null;
  const run = readStatus(config.runDir, nowMs);
  return {
    supervisorPid: run.supervisor?.pid ?? null,
    processes: new Map(
      run.services.map((s) => [
        s.name,
        {
          state: s.state,
          alive: s.alive,
          pid: s.pid,
          restarts: s.restarts,
          crashLoop: s.crash_loop,
          uptimePct: s.uptime_pct,
          lastError: s.last_error,
        },
      ]),
    ),
  };
}

/**
 * Newest data record age per topic from a short bus sample: ends as soon as every topic has
 * delivered a record, or after `maxMs`. Topics not heard from are null.
 */
export async function sampleTopicAges(config: Config, maxMs: number): Promise<Record<string, number | null>> {
  const { publishers } = enabledServices(config);
  const ages: Record<string, number | null> = Object.fromEntries(publishers.map((p) => [p.topic, null]));
  if (publishers.length === 0) return ages;
  const seenAt = new Map<string, number>();
  const sub = new BusSubscriber({
    endpoints: publishers.map((p) => tcpEndpoint(p.connectHost, p.port)),
    topics: publishers.map((p) => p.topic),
    heartbeats: false,
    curve: curveClientKeys(config.bus.curve),
    maxMessageBytes: config.bus.maxMessageBytes,
  });
  const timer = setTimeout(() => sub.close(), maxMs);
  try {
    outer: for await (const batch of sub.batches()) {
      for (const r of batch) if (r.kind !== 'heartbeat') seenAt.set(r.topic, Date.now());
      if (publishers.every((p) => seenAt.has(p.topic))) break outer;
    }
  } finally {
    clearTimeout(timer);
    sub.close();
  }
  const now = Date.now();
  for (const [topic, at] of seenAt) if (topic in ages) ages[topic] = now - at;
  return ages;
}

const MARK = { pass: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;

function render(result: HealthResult): string {
  const rows = result.checks.map((c) => ({ status: MARK[c.status], check: c.name, detail: c.detail }));
  return `${result.at}  overall: ${result.status.toUpperCase()}\n${table(rows, ['status', 'check', 'detail'])}\n`;
}

/** Append one JSON line to the health log, rotating it once it passes the configured size. */
function appendLog(config: Config, result: HealthResult): string {
  const dir = config.logging.dir;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'health_check.log');
  try {
    if (statSync(file).size > config.logging.maxFileBytes) renameSync(file, `${file}.1`);
  } catch {
    // no file yet
  }
  appendFileSync(file, `${JSON.stringify(result)}\n`);
  return file;
}

const BUS_SAMPLE_MS = 2000;

export function registerHealth(program: Command): void {
  const health = program.command('health').description('health of backing services, publishers, subscribers and data freshness');

  health
    .command('check')
    .description('check everything once; exit 0 when healthy, 1 otherwise')
    .option('--json', 'print {"status","checks":[{"name","status","detail"}]}')
    .option('--timeout <duration>', 'per-request timeout', '2s')
    .action(async (opts: { timeout: string }, cmd: Command) => {
      const { config } = loadFromCommand(cmd);
      const timeoutMs = duration('--timeout', opts.timeout);
      const [busAgesMs] = await Promise.all([sampleTopicAges(config, BUS_SAMPLE_MS)]);
      const { observations: _obs, ...result } = await runHealthCheck(config, {
        timeoutMs,
        busAgesMs,
        manager: (now) => managerView(config, now),
      });
      if (wantsJson(cmd)) printJson(result);
      else process.stdout.write(render(result));
      process.exitCode = result.status === 'healthy' ? EXIT.ok : EXIT.failed;
    });

  health
    .command('monitor')
    .description('check continuously, appending each result to <logging.dir>/health_check.log; Ctrl-C stops')
    .option('--interval <duration>', 'time between checks', '30s')
    .option('--window <duration>', 'uptime window', '1h')
    .option('--count <n>', 'stop after n checks (default: until SIGINT/SIGTERM)')
    .option('--json', 'print one JSON result per line')
    .option('--timeout <duration>', 'per-request timeout', '2s')
    .action(async (opts: { interval: string; window: string; count?: string; timeout: string }, cmd: Command) => {
      const { config } = loadFromCommand(cmd);
      const intervalMs = duration('--interval', opts.interval);
      const windowMs = duration('--window', opts.window);
      const timeoutMs = duration('--timeout', opts.timeout);
      const count = opts.count === undefined ? Infinity : Number(opts.count);
      if (!Number.isInteger(count) && count !== Infinity) throw new UsageError(`--count: expected an integer, got "${opts.count}"`);
      const uptime = new UptimeTracker(windowMs);
      let stopped = false;
      let wake: (() => void) | undefined;
      const stop = () => {
        stopped = true;
        wake?.();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      let previousSpoolBytes: Record<string, number> | undefined;
      let last: HealthResult | undefined;
      try {
        for (let i = 0; i < count && !stopped; i++) {
          const busAgesMs = await sampleTopicAges(config, BUS_SAMPLE_MS);
          const nowMs = Date.now();
          const windowUptimePct: Record<string, number | null> = {};
          for (const s of [...config.publishers, ...config.subscribers])
            if (s.enabled) windowUptimePct[s.name] = uptime.percent(s.name, nowMs);
          const { observations, ...result } = await runHealthCheck(config, {
            timeoutMs,
            busAgesMs,
            manager: (now) => managerView(config, now),
            windowUptimePct,
            windowText: `the last ${opts.window} (monitor samples)`,
            ...(previousSpoolBytes ? { previousSpoolBytes } : {}),
          });
          previousSpoolBytes = {};
          for (const s of observations.services) {
            uptime.record(s.name, s.status.ok && (s.process?.alive ?? true), observations.nowMs);
            const sb = s.status.body?.spool_bytes;
            if (typeof sb === 'number') previousSpoolBytes[s.name] = sb;
          }
          last = result;
          const file = appendLog(config, result);
          if (wantsJson(cmd)) printJson(result);
          else process.stdout.write(`${render(result)}(appended to ${file})\n\n`);
          if (i + 1 < count && !stopped)
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, intervalMs);
              wake = () => {
                clearTimeout(t);
                resolve();
              };
            });
        }
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
      // A monitor stopped by a signal ends cleanly; with --count the last result decides.
      process.exitCode = stopped || !last || last.status === 'healthy' ? EXIT.ok : EXIT.failed;
    });
}

function duration(name: string, text: string): number {
  try {
    const ms = parseDurationMs(text);
    if (ms <= 0) throw new Error(`expected a positive duration, got "${text}"`);
    return ms;
  } catch (e) {
    throw new UsageError(`${name}: ${(e as Error).message}`);
  }
}
