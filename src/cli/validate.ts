/** `nbpy validate [zmq|influxdb|full]`: is every configured topic flowing, gap-free, and reaching the store? */
import type { Command } from 'commander';
import { UsageError } from '../core/errors.js';
import { validate, type ValidateMode } from '../validate/validator.js';
import type { ValidateReport } from '../validate/report.js';
import { EXIT, loadFromCommand, parseDurationMs, printJson, table, wantsJson } from './common.js';

const MODES: readonly ValidateMode[] = ['zmq', 'influxdb', 'full'];

function render(r: ValidateReport): string {
  const out: string[] = [];
  if (r.topics.length) {
    out.push(`bus (${r.window_s}s window)`);
    out.push(
      table(
        r.topics.map((t) => ({
          topic: t.topic,
          records: t.records,
          'rate/s': t.rate_per_s,
          gaps: t.gaps,
          missing: t.missing,
          sessions: t.sessions,
          note: t.note,
        })),
        ['topic', 'records', 'rate/s', 'gaps', 'missing', 'sessions', 'note'],
      ),
    );
  }
  if (r.storage.length) {
    out.push('', 'store');
    out.push(
      table(
        r.storage.map((s) => ({
          measurement: s.measurement,
          points: s.points,
          newest_age_s: s.newest_age_s,
          fresh: s.fresh ? 'yes' : 'NO',
          note: s.note,
        })),
        ['measurement', 'points', 'newest_age_s', 'fresh', 'note'],
      ),
    );
  }
  if (r.probe) out.push('', `end-to-end probe: ${r.probe.ok ? 'ok' : 'FAILED'}: ${r.probe.detail}`);
  out.push('', r.ok ? 'validation OK' : `validation FAILED:\n${r.failures.map((f) => `  - ${f}`).join('\n')}`);
  return `${out.join('\n')}\n`;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description(
      'validate the message flow: zmq (bus), influxdb (store freshness), full (both + end-to-end probe); exit 1 naming what fails',
    )
    .argument('[mode]', `one of ${MODES.join(', ')}`, 'full')
    .option('--window <duration>', 'how long to watch the bus (default: validation.windowMs)')
    .option('--json', 'print {"ok","topics":[...],"storage":[...],"probe":{...}}')
    .action(async (mode: string, opts: { window?: string }, cmd: Command) => {
      if (!MODES.includes(mode as ValidateMode))
        throw new UsageError(`validate: unknown mode "${mode}"; expected one of ${MODES.join(', ')}`);
      const { config } = loadFromCommand(cmd);
      let windowMs = config.validation.windowMs;
      if (opts.window !== undefined) {
        try {
          windowMs = parseDurationMs(opts.window);
        } catch (e) {
          throw new UsageError(`--window: ${(e as Error).message}`);
        }
        if (windowMs <= 0) throw new UsageError(`--window: expected a positive duration, got "${opts.window}"`);
      }
      const report = await validate(config, { mode: mode as ValidateMode, windowMs });
      if (wantsJson(cmd)) printJson(report);
      else process.stdout.write(render(report));
      if (!report.ok) process.stderr.write(`nbpy validate: failed: ${report.failures.join('; ')}\n`);
      process.exitCode = report.ok ? EXIT.ok : EXIT.failed;
    });
}
