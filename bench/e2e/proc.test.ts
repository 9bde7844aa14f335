import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStatTicks, parseStatusKb, readProc } from './proc.js';
import { summariseProfile } from './profile.js';

test('parseStatTicks sums utime and stime past a comm with spaces and parens', () => {
  const stat = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 123 45 0 0 20 0 11 0 5000 1000000 2000';
  assert.equal(parseStatTicks(stat), 168);
});

test('parseStatusKb reads kB lines as bytes, 0 when absent', () => {
  const status = 'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n';
  assert.equal(parseStatusKb(status, 'VmHWM'), 204800 * 1024);
  assert.equal(parseStatusKb(status, 'VmRSS'), 102400 * 1024);
  assert.equal(parseStatusKb(status, 'VmSwap'), 0);
});

test('readProc reads this process and nothing for a pid that does not exist', () => {
  const me = readProc(process.pid);
  assert.ok(me && me.peakRssBytes > 0 && me.cpuS >= 0);
  assert.ok(me.anonBytes > 0 && me.anonBytes < me.rssBytes, 'private memory is part of RSS');
  assert.equal(readProc(2 ** 22 + 7), undefined);
});

test('summariseProfile attributes self time by sample deltas, largest first', () => {
  const frame = (functionName: string) => ({ functionName, url: 'file:///x/dist/a.js', lineNumber: 0 });
  const s = summariseProfile({
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('encode') },
      { id: 3, callFrame: frame('parse') },
    ],
    startTime: 0,
    endTime: 400,
    samples: [2, 2, 3, 2],
    timeDeltas: [0, 100, 100, 100],
  });
  assert.equal(s.entries[0]!.fn, 'encode');
  assert.ok(s.entries[0]!.selfPct > s.entries[1]!.selfPct);
  assert.equal(s.entries[0]!.where, 'dist/a.js:1');
});
