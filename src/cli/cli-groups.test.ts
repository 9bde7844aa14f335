import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { COMMAND_GROUPS, buildProgram, commandOf } from './index.js';

test('every command group registers exactly the top-level commands the table names', async () => {
  for (const g of COMMAND_GROUPS) {
    const p = new Command('x');
    (await g.load())(p);
    assert.deepEqual(
      p.commands.map((c) => c.name()),
      [...g.names],
    );
  }
});

test('a process loads only the group of its command; help and unknown commands see them all', async () => {
  const names = (p: Command) => p.commands.map((c) => c.name());
  assert.deepEqual(names(await buildProgram(['node', 'nbpy', 'publisher', 'run', 'kraken_tick'])), ['publisher']);
  assert.deepEqual(names(await buildProgram(['node', 'nbpy', '--config', 'x.json', 'stop'])), [
    'start',
    'stop',
    'restart',
    'status',
    'services',
  ]);
  const all = COMMAND_GROUPS.flatMap((g) => g.names);
  assert.deepEqual(names(await buildProgram(['node', 'nbpy', '--help'])), all);
  assert.deepEqual(names(await buildProgram(['node', 'nbpy', 'nosuch'])), all);
});

test('commandOf skips the global options and their values', () => {
  assert.equal(commandOf(['-c', 'a.json', 'health', 'check']), 'health');
  assert.equal(commandOf(['--config', 'status']), undefined);
  assert.equal(commandOf([]), undefined);
});
