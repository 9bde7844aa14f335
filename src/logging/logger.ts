/**
 * The logger factory: pino JSON lines with a `service` field, written synchronously to `<dir>/<service>.log`
 * (rotated by size, total size capped across the directory, rotated on startup), plus a human console view
 * when stderr is a TTY.
 *
 * A service run under the ServiceManager should log to stdout (omit `dir`): the manager captures stdout/stderr
 * into `<logDir>/<service>.log` with the same rotation and caps, and a second writer on that file would fight
 * over rotation.
 */
import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';
import { join } from 'node:path';
import { RotatingFileWriter } from './rotating-file.js';
import { scrubSecrets } from './redact.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface CreateLoggerOptions {
  /** Service name: the `service` field of every line and the log file name. */
  service: string;
  /** Log directory; omitted = JSON lines to stdout. */
  dir?: string;
  level?: LogLevel | 'silent';
  /** Defaults match the config schema's `logging` section: 10 MiB, 5 files, 200 MiB. */
  maxFileBytes?: number;
  maxFiles?: number;
  maxTotalBytes?: number;
  /** Human-readable lines on stderr. Default: when stderr is a TTY and `dir` is set. */
  console?: boolean;
  /** pino redact paths (e.g. `['password', 'headers.authorization', '*.token']`). */
  redact?: string[];
  /** Secret values scrubbed from every line (text fields included) before it is written. */
  secrets?: string[];
  /** Extra fields on every line (e.g. `{ venue: 'kraken' }`). */
  base?: Record<string, unknown>;
  /** Where the console view goes (tests). Default process.stderr. */
  consoleStream?: { write(s: string): unknown };
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLOURS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };

/** One JSON log line -> `12:00:01.234 INFO  kraken_tick  connected  venue=kraken url=...`. */
export function formatConsoleLine(jsonLine: string, colour = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine.endsWith('\n') ? jsonLine : `${jsonLine}\n`;
  }
  const { time, level, service, msg, pid: _pid, hostname: _host, err, ...rest } = rec;
  const t = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
  const lv = typeof level === 'number' ? level : 30;
  let name = (LEVEL_NAMES[lv] ?? String(level)).padEnd(5);
  if (colour) name = `\x1b[${LEVEL_COLOURS[lv] ?? '0'}m${name}\x1b[0m`;
  const extras = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  let line = [t, name, service ?? '', msg ?? '', extras].filter((x) => x !== '').join('  ');
  if (err && typeof err === 'object' && 'stack' in err) line += `\n${String((err as { stack: unknown }).stack)}`;
  return `${line}\n`;
}

class ScrubbingStream implements DestinationStream {
  constructor(
    private readonly inner: { write(s: string): unknown },
    private readonly scrub: (s: string) => string,
  ) {}
  write(s: string): void {
    this.inner.write(this.scrub(s));
  }
}

class ConsoleStream implements DestinationStream {
  constructor(
    private readonly out: { write(s: string): unknown },
    private readonly colour: boolean,
  ) {}
  write(s: string): void {
    this.out.write(formatConsoleLine(s, this.colour));
  }
}

/** Scrub secret values inside a JSON line: also in JSON-escaped form, so a secret with a quote is still caught. */
function jsonScrubber(secrets: string[]): (s: string) => string {
  const all = [...secrets, ...secrets.map((v) => JSON.stringify(v).slice(1, -1))];
  return (line) => scrubSecrets(line, all);
}

export interface NbpyLogger extends Logger {
  /** Path of the log file, when writing to a directory. */
  readonly nbpyLogFile?: string;
}

/** Create the logger of one service or command. */
export function createLogger(options: CreateLoggerOptions): NbpyLogger {
  const level: LevelWithSilent = options.level ?? 'info';
  const streams: { stream: DestinationStream; level: LevelWithSilent }[] = [];
  let file: string | undefined;
  if (options.dir) {
    file = join(options.dir, `${options.service}.log`);
    const writer = new RotatingFileWriter({
      file,
      maxFileBytes: options.maxFileBytes ?? 10 * 1024 * 1024,
      maxFiles: options.maxFiles ?? 5,
      maxTotalBytes: options.maxTotalBytes ?? 200 * 1024 * 1024,
    });
    streams.push({ stream: writer, level });
  } else {
    const stdout = pino.destination({ fd: 1, sync: true });
    // Under a supervisor stdout is a pipe; if the supervisor dies, EPIPE must not take the service down with it.
    stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
    streams.push({ stream: stdout, level });
  }
  const consoleOut = options.consoleStream ?? process.stderr;
  const wantConsole = options.console ?? (Boolean(options.dir) && process.stderr.isTTY === true);
  if (wantConsole)
    streams.push({ stream: new ConsoleStream(consoleOut, options.consoleStream === undefined && process.stderr.isTTY), level });
  const scrub = options.secrets?.length ? jsonScrubber(options.secrets) : null;
  const wrapped = scrub ? streams.map((s) => ({ ...s, stream: new ScrubbingStream(s.stream, scrub) })) : streams;
  const destination = wrapped.length === 1 ? (wrapped[0] as { stream: DestinationStream }).stream : pino.multistream(wrapped);
  const logger = pino(
    {
      level,
      base: { service: options.service, pid: process.pid, ...options.base },
      ...(options.redact?.length ? { redact: { paths: options.redact, censor: '[redacted]' } } : {}),
    },
    destination,
  ) as NbpyLogger;
  if (file) Object.defineProperty(logger, 'nbpyLogFile', { value: file });
  return logger;
}
