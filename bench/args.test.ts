import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BenchHelp, BenchUsageError, parseBenchArgs, type BenchOptions } from './args.js';
import { parseArgs as e2eArgs } from './e2e.js';

const SPEC: BenchOptions = {
  records: { type: 'string', value: 'N', help: 'records to send', default: '10' },
  store: { type: 'string', value: 'a|b', help: 'the store' },
  'no-gzip': { type: 'boolean', help: 'plain' },
};

test('bench options: values, defaults, flags and choices', () => {
  const a = parseBenchArgs('cmd', 'what it does', SPEC, ['--records', '25', '--no-gzip', '--store', 'b']);
  assert.equal(a.num('records', 10, 1), 25);
  assert.equal(a.flag('no-gzip'), true);
  assert.equal(a.oneOf('store', ['a', 'b'] as const, 'a'), 'b');
  const d = parseBenchArgs('cmd', 'what it does', SPEC, []);
  assert.equal(d.num('records', 10, 1), 10);
  assert.equal(d.flag('no-gzip'), false);
  assert.equal(d.oneOf('store', ['a', 'b'] as const, 'a'), 'a');
  assert.equal(d.optNum('records'), undefined);
});

test('bench options: --help gives the usage with every option and its default', () => {
  assert.throws(
    () => parseBenchArgs('cmd', 'what it does', SPEC, ['--help']),
    (e: Error) =>
      e instanceof BenchHelp &&
      /usage: cmd/.test(e.message) &&
      /--records N +records to send \(default 10\)/.test(e.message) &&
      /--no-gzip/.test(e.message),
  );
});

test('bench options: an unknown option, a missing value or a bad value is a usage error naming it', () => {
  const err = (args: string[], re: RegExp) =>
    assert.throws(
      () => {
        const a = parseBenchArgs('cmd', 's', SPEC, args);
        a.num('records', 10, 1);
        a.oneOf('store', ['a', 'b'] as const, 'a');
      },
      (e: Error) => e instanceof BenchUsageError && re.test(e.message),
      args.join(' '),
    );
  err(['--recs', '5'], /^cmd: .*'--recs'.*see cmd --help$/);
  err(['--records'], /^cmd: .*--records.*argument missing/);
  err(['--records', 'abc'], /^cmd: --records: expected a number >= 1, got "abc"$/);
  err(['--records', '0'], /^cmd: --records: expected a number >= 1, got "0"$/);
  err(['--store', 'c'], /^cmd: --store: expected a\|b, got "c"$/);
  err(['stray'], /^cmd: /);
});

test('bench e2e options: --rate max, numbers, and what it refuses', () => {
  const o = e2eArgs(['--rate', 'max', '--seconds', '5', '--no-latency', '--store', 'embedded', '--flush-ms', '100']);
  assert.equal(o.rate, 0);
  assert.equal(o.seconds, 5);
  assert.equal(o.latency, false);
  assert.equal(o.store, 'embedded');
  assert.equal(o.flushMs, 100);
  assert.equal(e2eArgs([]).rate, 20_000);
  assert.throws(() => e2eArgs(['--rate', 'fast']), /--rate: expected a number >= 0 or max \(0 = max\), got "fast"/);
  assert.equal(e2eArgs(['--rate', '0']).rate, 0);
  assert.throws(() => e2eArgs(['--help']), BenchHelp);
  assert.throws(() => e2eArgs(['--secs', '5']), BenchUsageError);
});

test('npm run bench: --help exits 0 without running anything; an unknown option exits 2 and names it', () => {
  const run = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./run.ts', import.meta.url)), ...args], {
      encoding: 'utf8',
      timeout: 60_000,
    });
  const help = run(['e2e', '--help']);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /usage: npm run bench -- e2e \[options\]/);
  assert.match(help.stdout, /--rate R\|max/);
  const bad = run(['ingest', '--recrods', '5']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /npm run bench -- ingest: .*'--recrods'/);
  const none = run(['nope']);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /no benchmark "nope"/);
  const list = run(['--help']);
  assert.equal(list.status, 0);
  assert.match(list.stdout, /<bus\|parse\|ingest\|e2e>/);
});
