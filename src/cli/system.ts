/**
 * `nbpy start|stop|restart|status` and `nbpy services start|stop|restart|status|monitor [name...]`.
 *
 * `start` runs the orchestrator in a detached supervisor process (so `stop` and `status` work from any
 * shell) and follows its progress until the system is validated; `--foreground` keeps it attached
 * (Ctrl-C stops everything in order). The supervisor hosts the service manager.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import { UsageError } from '../core/errors.js';
import { readStatus, type ServiceStatus } from '../supervisor/state.js';
import { stopFromOtherShell } from '../supervisor/manager.js';
import { startSystem, type Reporter, type RunningSystem, type StopSummary } from '../orchestrator/system.js';
import type { PhaseName } from '../orchestrator/plan.js';
import { ping } from '../orchestrator/providers/influxdb.js';
import { EXIT, loadFromCommand, printJson, table, wantsJson } from './common.js';

const launcher = () => ({
  execPath: process.execPath,
  execArgv: process.execArgv.filter((a) => !a.startsWith('--inspect')),
  script: resolve(process.argv[1]!),
});

const progressFile = (cfg: Config) => join(cfg.runDir, 'start-progress.jsonl');
const stopFile = (cfg: Config) => join(cfg.runDir, 'last-stop.json');
const controlFile = (cfg: Config) => join(cfg.runDir, 'control.json');

const fmtMs = (ms?: number) => (ms === undefined ? '' : ms < 1000 ? ` (${ms} ms)` : ` (${(ms / 1000).toFixed(1)} s)`);

/** Progress on a terminal or as plain lines; a detached supervisor writes the same events to a file. */
function consoleReporter(stream: NodeJS.WriteStream = process.stdout): Reporter {
  const mark = { start: '...', ok: 'ok ', skip: '-- ', fail: 'FAIL' } as const;
  return {
    phase(name, state, detail, ms) {
      if (state === 'start') stream.write(`[${name}] starting${detail ? `: ${detail}` : ''}\n`);
      else stream.write(`[${name}] ${mark[state]} ${detail ?? ''}${fmtMs(ms)}\n`);
    },
    step(text) {
      stream.write(`  ${text}\n`);
    },
  };
}

function fileReporter(path: string, echo?: Reporter): Reporter {
  const put = (o: Record<string, unknown>) => appendFileSync(path, `${JSON.stringify({ t: Date.now(), ...o })}\n`);
  return {
    phase(name, state, detail, ms) {
      put({ type: 'phase', name, state, detail, ms });
      echo?.phase(name, state, detail, ms);
    },
    step(text) {
      put({ type: 'step', text });
      echo?.step(text);
    },
  };
}

function printAccess(sys: RunningSystem, seconds: number) {
  console.log(`\nnbpy is up in ${seconds.toFixed(1)} s. Access points:`);
  for (const a of sys.access) console.log(`  ${a.name.padEnd(32)} ${a.url}`);
}

function printStopSummary(s: StopSummary) {
  const dropped = Object.entries(s.dropped).map(([k, v]) => `${k}=${v}`);
  console.log(
    `stopped in ${(s.ms / 1000).toFixed(1)} s: ${s.points_written} points written before the final flush, dropped ${dropped.length ? dropped.join(', ') : 'none'}, spool ${s.spool_bytes} B` +
      (s.unclean_exits.length ? `; not clean: ${s.unclean_exits.join(', ')}` : '; every process exited cleanly'),
  );
}

/** Run the system in this process until SIGINT/SIGTERM; the detached supervisor is this with a progress file. */
async function runForeground(
  cfg: Config,
  cfgPath: string,
  opts: { only?: string[]; phases?: PhaseName[]; progress?: string; quiet?: boolean },
): Promise<number> {
  const t0 = performance.now();
  const reporter = opts.progress ? fileReporter(opts.progress, opts.quiet ? undefined : consoleReporter()) : consoleReporter();
  // Signals are handled from the first moment: during the start they abort it (and stop what was
  // started); afterwards they stop the running system in order.
  const abort = new AbortController();
  let sys: RunningSystem | undefined;
  let stopped: Promise<void> | undefined;
  const stopRunning = (sig: string) => {
    if (!sys) {
      abort.abort();
      return;
    }
    const running = sys;
    stopped ??= (async () => {
      if (!opts.quiet) console.log(`\n${sig}: stopping in order...`);
      const summary = await running.stop();
      writeFileSync(stopFile(cfg), JSON.stringify({ at: Date.now(), ...summary }));
      if (!opts.quiet) printStopSummary(summary);
    })();
  };
  for (const s of cfg.shutdown.signals) process.on(s, () => stopRunning(s));
  try {
    sys = await startSystem(cfg, {
      configPath: cfgPath,
      launcher: launcher(),
      reporter,
      only: opts.only,
      phases: opts.phases,
      signal: abort.signal,
    });
  } catch (e) {
    if (opts.progress) appendFileSync(opts.progress, `${JSON.stringify({ type: 'failed', error: (e as Error).message })}\n`);
    throw e;
  }
  const seconds = (performance.now() - t0) / 1000;
  if (opts.progress) appendFileSync(opts.progress, `${JSON.stringify({ type: 'ready', seconds, access: sys.access })}\n`);
  if (!opts.quiet) {
    printAccess(sys, seconds);
    console.log('\nRunning. Ctrl-C (or `nbpy stop` from another shell) stops everything in order.');
  }
  sys.manager.on('event', (ev) => {
    if (ev.type === 'crash_loop')
      reporter.step(`${ev.name} is crash-looping: retrying every ${Math.round(ev.delayMs / 1000)} s (see its log)`);
    else if (ev.type === 'restarting') reporter.step(`${ev.name} exited; restart ${ev.restarts} in ${ev.delayMs} ms`);
  });
  // Cross-shell control of single services (`nbpy services stop|start|restart NAME`).
  process.on('SIGUSR2', () => {
    void (async () => {
      try {
        const req = JSON.parse(readFileSync(controlFile(cfg), 'utf8')) as { action: 'start' | 'stop' | 'restart'; names: string[] };
        for (const n of req.names) {
          if (req.action === 'stop') await sys.manager.stopService(n);
          else if (req.action === 'start') await sys.manager.startService(n);
          else await sys.manager.restartService(n);
        }
        writeFileSync(controlFile(cfg), JSON.stringify({ ...req, done: true }));
      } catch (e) {
        writeFileSync(controlFile(cfg), JSON.stringify({ done: true, error: (e as Error).message }));
      }
    })();
  });
  await new Promise<void>((resolveStop) => {
    const poll = setInterval(() => {
      if (stopped) {
        clearInterval(poll);
        void stopped.finally(resolveStop);
      }
    }, 50);
  });
  return EXIT.ok;
}

/** Start a detached supervisor and follow its progress file until it is ready or failed. */
async function startDetached(
  cfg: Config,
  cfgPath: string,
  opts: { only?: string[]; phases?: PhaseName[]; json: boolean },
): Promise<number> {
  const running = readStatus(cfg.runDir).supervisor;
  if (running) throw new UsageError(`nbpy is already running (supervisor pid ${running.pid}); use \`nbpy status\`, or \`nbpy stop\` first`);
  mkdirSync(cfg.runDir, { recursive: true });
  mkdirSync(cfg.logging.dir, { recursive: true });
  const progress = progressFile(cfg);
  rmSync(progress, { force: true });
  writeFileSync(progress, '');
  const log = openSync(join(cfg.logging.dir, 'nbpy-supervisor.log'), 'a');
  const l = launcher();
  const args = [...l.execArgv, l.script, 'start', '--foreground', '--progress-file', progress, '--config', cfgPath];
  if (opts.only?.length) args.push('--only', ...opts.only);
  if (opts.phases) args.push('--phases', opts.phases.join(','));
  const child = spawn(l.execPath, args, { detached: true, stdio: ['ignore', log, log] });
  let exited = false;
  child.once('exit', () => (exited = true));
  child.unref();
  const t0 = performance.now();
  const reporter = consoleReporter(opts.json ? process.stderr : process.stdout);
  let seen = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const lines = readFileSync(progress, 'utf8').split('\n').filter(Boolean);
    for (const line of lines.slice(seen)) {
      const ev = JSON.parse(line) as {
        type: string;
        name?: PhaseName;
        state?: 'start' | 'ok' | 'skip' | 'fail';
        detail?: string;
        ms?: number;
        text?: string;
        error?: string;
        seconds?: number;
        access?: { name: string; url: string }[];
      };
      if (ev.type === 'phase') reporter.phase(ev.name!, ev.state!, ev.detail, ev.ms);
      else if (ev.type === 'step') reporter.step(ev.text!);
      else if (ev.type === 'ready') {
        const seconds = (performance.now() - t0) / 1000;
        if (opts.json) printJson({ ok: true, start_s: Math.round(seconds * 100) / 100, supervisor_pid: child.pid, access: ev.access });
        else {
          console.log(`\nnbpy is up in ${seconds.toFixed(1)} s (supervisor pid ${child.pid}). Access points:`);
          for (const a of ev.access ?? []) console.log(`  ${a.name.padEnd(32)} ${a.url}`);
          console.log('\n`nbpy status` shows the services; `nbpy stop` stops everything.');
        }
        return EXIT.ok;
      } else if (ev.type === 'failed') {
        if (opts.json) printJson({ ok: false, error: ev.error });
        else
          console.error(
            `\nnbpy start failed: ${ev.error}\nEverything that was started has been stopped. Logs: ${resolve(cfg.logging.dir)}/`,
          );
        return EXIT.failed;
      }
    }
    seen = lines.length;
    if (exited && !readFileSync(progress, 'utf8').includes('"type":"ready"')) {
      const tail = existsSync(join(cfg.logging.dir, 'nbpy-supervisor.log'))
        ? readFileSync(join(cfg.logging.dir, 'nbpy-supervisor.log'), 'utf8').split('\n').slice(-8).join('\n')
        : '';
      console.error(`nbpy start failed: the supervisor exited before the system was up.\n${tail}`);
      return EXIT.failed;
    }
  }
}

async function stopSystem(cfg: Config, json: boolean): Promise<number> {
  const before = readStatus(cfg.runDir);
  if (!before.supervisor && before.services.every((s) => !s.alive)) {
    if (json) printJson({ ok: true, stopped: [], detail: 'nothing was running' });
    else console.log('nbpy is not running.');
    return EXIT.ok;
  }
  const t0 = performance.now();
  rmSync(stopFile(cfg), { force: true });
  const timeoutMs = cfg.shutdown.phaseTimeoutMs * 5 + 10_000;
  const report = await stopFromOtherShell(cfg.runDir, { timeoutMs });
  const summary = existsSync(stopFile(cfg)) ? (JSON.parse(readFileSync(stopFile(cfg), 'utf8')) as StopSummary) : undefined;
  const seconds = (performance.now() - t0) / 1000;
  if (json) printJson({ ok: true, stop_s: Math.round(seconds * 100) / 100, killed: report.killed, summary });
  else {
    if (summary) printStopSummary(summary);
    console.log(
      `nbpy stopped in ${seconds.toFixed(1)} s${report.killed.length ? ` (SIGKILLed after the timeout: ${report.killed.join(', ')})` : ''}.`,
    );
  }
  return EXIT.ok;
}

async function statusReport(cfg: Config) {
  const st = readStatus(cfg.runDir);
  const services = st.services.map((s: ServiceStatus) => ({
    name: s.name,
    kind: s.kind,
    state: s.crash_loop && s.state !== 'stopped' ? 'crash_loop' : s.state,
    pid: s.alive ? s.pid : null,
    restarts: s.restarts,
    uptime_s: s.up_since_ms ? Math.round((Date.now() - s.up_since_ms) / 1000) : 0,
    uptime_pct: s.uptime_pct === null ? null : Math.round(s.uptime_pct * 10) / 10,
    last_error: s.last_error,
  }));
  const backing: { name: string; state: string; url: string }[] = [];
  if (cfg.storage.backend === 'influxdb') {
    const b = cfg.backing.influxdb;
    backing.push({ name: 'influxdb', state: (await ping(b.url, b.healthPath)) ? 'up' : 'down', url: b.url });
  } else backing.push({ name: 'embedded', state: 'in-process', url: resolve(cfg.dataDir, 'embedded') });
  if (cfg.backing.grafana.enabled) {
    const g = cfg.backing.grafana;
    backing.push({ name: 'grafana', state: (await ping(g.url, g.healthPath)) ? 'up' : 'down', url: g.url });
  }
  return { supervisor: st.supervisor ? { pid: st.supervisor.pid, started_at: st.supervisor.started_at } : null, services, backing };
}

async function printStatus(cfg: Config, json: boolean, onlyServices = false): Promise<number> {
  const rep = await statusReport(cfg);
  if (json) printJson(onlyServices ? { services: rep.services } : rep);
  else {
    console.log(rep.supervisor ? `supervisor: pid ${rep.supervisor.pid}, since ${rep.supervisor.started_at}` : 'supervisor: not running');
    console.log(table(rep.services, ['name', 'kind', 'state', 'pid', 'restarts', 'uptime_s', 'uptime_pct', 'last_error']));
    if (!onlyServices) {
      console.log('');
      console.log(table(rep.backing, ['name', 'state', 'url']));
    }
  }
  const bad = rep.services.some((s) => ['failed', 'crash_loop', 'backoff'].includes(s.state));
  return rep.supervisor && !bad ? EXIT.ok : EXIT.failed;
}

async function control(cfg: Config, action: 'start' | 'stop' | 'restart', names: string[]): Promise<number> {
  const sup = readStatus(cfg.runDir).supervisor;
  if (!sup) throw new UsageError('no nbpy supervisor is running; start one with `nbpy start` or `nbpy services start`');
  writeFileSync(controlFile(cfg), JSON.stringify({ action, names }));
  process.kill(sup.pid, 'SIGUSR2');
  const deadline = Date.now() + cfg.shutdown.phaseTimeoutMs + 30_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    const res = JSON.parse(readFileSync(controlFile(cfg), 'utf8')) as { done?: boolean; error?: string };
    if (res.done) {
      if (res.error) throw new Error(res.error);
      console.log(`${action}: ${names.join(', ')}: done`);
      return EXIT.ok;
    }
  }
  throw new Error(`the supervisor did not finish "${action} ${names.join(' ')}" in time`);
}

const parsePhases = (v: string): PhaseName[] => v.split(',') as PhaseName[];

export function registerSystem(program: Command): void {
  program
    .command('start')
    .description('start everything in five phases (backing services, InfluxDB setup, services, Grafana, validation)')
    .option('--foreground', 'stay attached; Ctrl-C stops everything in order')
    .option('--only <names...>', 'start only these publishers/subscribers (and `console`)')
    .option('--json', 'print the result as JSON')
    .option('--progress-file <file>', 'internal: where a detached supervisor writes its progress')
    .option('--phases <list>', 'internal: run only these phases', parsePhases)
    .action(
      async (
        opts: { foreground?: boolean; only?: string[]; json?: boolean; progressFile?: string; phases?: PhaseName[] },
        cmd: Command,
      ) => {
        const { config, path } = loadFromCommand(cmd);
        if (opts.foreground || opts.progressFile)
          process.exitCode = await runForeground(config, path, {
            only: opts.only,
            phases: opts.phases,
            progress: opts.progressFile,
            quiet: !!opts.progressFile,
          });
        else process.exitCode = await startDetached(config, path, { only: opts.only, phases: opts.phases, json: !!opts.json });
      },
    );
  program
    .command('stop')
    .description('stop everything nbpy started, in order (publishers, subscribers flush, console, InfluxDB)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      process.exitCode = await stopSystem(loadFromCommand(cmd).config, !!opts.json);
    });
  program
    .command('restart')
    .description('stop, then start')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { config, path } = loadFromCommand(cmd);
      await stopSystem(config, !!opts.json);
      process.exitCode = await startDetached(config, path, { json: !!opts.json });
    });
  program
    .command('status')
    .description('services (state, pid, uptime, restarts, last error) and backing services')
    .option('--json', 'print as JSON: {"services":[...],"backing":[...]}')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      process.exitCode = await printStatus(loadFromCommand(cmd).config, !!opts.json || wantsJson(cmd));
    });

  const services = program.command('services').description('the service manager: publishers, subscribers and the console');
  services
    .command('start [names...]')
    .description('start services under a detached supervisor (no backing phases)')
    .option('--only <names...>', 'start only these publishers/subscribers (and `console`): the subset this host runs')
    .action(async (positional: string[], o: { only?: string[] }, cmd: Command) => {
      const names = [...positional, ...(o.only ?? [])];
      const { config, path } = loadFromCommand(cmd);
      const known = new Set([...config.publishers.map((p) => p.name), ...config.subscribers.map((x) => x.name), 'console']);
      const unknown = names.filter((n) => !known.has(n));
      if (unknown.length)
        throw new UsageError(`services start: no service named ${unknown.join(', ')} in ${path} (known: ${[...known].join(', ')})`);
      if (readStatus(config.runDir).supervisor && names.length) process.exitCode = await control(config, 'start', names);
      else process.exitCode = await startDetached(config, path, { only: names, phases: ['services'], json: false });
    });
  services
    .command('stop [names...]')
    .description('stop the named services (all, and the supervisor, when none are named)')
    .action(async (names: string[], _o, cmd: Command) => {
      const { config } = loadFromCommand(cmd);
      process.exitCode = names.length ? await control(config, 'stop', names) : await stopSystem(config, false);
    });
  services
    .command('restart <names...>')
    .description('restart the named services')
    .action(async (names: string[], _o, cmd: Command) => {
      process.exitCode = await control(loadFromCommand(cmd).config, 'restart', names);
    });
  services
    .command('status')
    .description('state of every service')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      process.exitCode = await printStatus(loadFromCommand(cmd).config, !!opts.json, true);
    });
  services
    .command('monitor [names...]')
    .description('run the services in the foreground with a live status table; Ctrl-C stops them in order')
    .action(async (names: string[], _o, cmd: Command) => {
      const { config, path } = loadFromCommand(cmd);
      const timer = setInterval(() => {
        void statusReport(config).then((rep) => {
          const text = table(rep.services, ['name', 'kind', 'state', 'pid', 'restarts', 'uptime_s', 'last_error']);
          if (process.stdout.isTTY)
            process.stdout.write(`\x1b[2J\x1b[H${new Date().toISOString()}  nbpy services (Ctrl-C stops)\n${text}\n`);
          else console.log(text);
        });
      }, 2000);
      timer.unref();
      process.exitCode = await runForeground(config, path, { only: names, phases: ['services'] });
      clearInterval(timer);
    });
}
