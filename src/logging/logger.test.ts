import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, formatConsoleLine } from './logger.js';

test('JSON lines with service field, redact paths and scrubbed secret values', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const consoleLines: string[] = [];
  const log = createLogger({
    service: 'kraken_tick',
    dir,
    level: 'debug',
    redact: ['password', 'headers.authorization'],
    secrets: ['hunter2-"quoted"'],
    console: true,
    consoleStream: { write: (s: string) => consoleLines.push(s) },
    base: { venue: 'kraken' },
  });
  log.info({ password: 'p', headers: { authorization: 'Bearer x' } }, 'connected');
  log.warn('login failed with hunter2-"quoted" as password');
  log.trace('not written');
  assert.equal(log.nbpyLogFile, join(dir, 'kraken_tick.log'));
  const lines = readFileSync(join(dir, 'kraken_tick.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  assert.equal(lines[0].service, 'kraken_tick');
  assert.equal(lines[0].venue, 'kraken');
  assert.equal(lines[0].password, '[redacted]');
  assert.equal(lines[0].headers.authorization, '[redacted]');
  assert.equal(lines[1].msg, 'login failed with [redacted] as password');
  assert.equal(consoleLines.length, 2);
  assert.match(consoleLines[0] ?? '', /^\d\d:\d\d:\d\d\.\d{3} {2}INFO {3}kraken_tick {2}connected {2}venue=kraken/);
  assert.ok(!consoleLines.join('').includes('hunter2'));
});

test('console formatting passes non-JSON through and shows error stacks', () => {
  assert.equal(formatConsoleLine('plain text'), 'plain text\n');
  const line = formatConsoleLine(
    JSON.stringify({ level: 50, time: 0, service: 's', msg: 'boom', err: { stack: 'Error: boom\n    at x' } }),
  );
  assert.equal(line, '00:00:00.000  ERROR  s  boom\nError: boom\n    at x\n');
});
