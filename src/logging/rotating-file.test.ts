import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RotatingFileWriter, logDirBytes } from './rotating-file.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'nbpy-rot-'));

test('writing 10x the total cap leaves the directory within the cap', (t) => {
  const dir = tmp();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cap = 20_000;
  const w = new RotatingFileWriter({ file: join(dir, 'svc.log'), maxFileBytes: 4_000, maxFiles: 10, maxTotalBytes: cap });
  const line = `${JSON.stringify({ msg: 'x'.repeat(90) })}\n`;
  let written = 0;
  let maxSeen = 0;
  while (written < cap * 10) {
    w.write(line);
    written += line.length;
    maxSeen = Math.max(maxSeen, logDirBytes(dir));
  }
  w.end();
  assert.ok(maxSeen <= cap, `directory reached ${maxSeen} bytes, cap ${cap}`);
  assert.ok(logDirBytes(dir) > cap / 2, 'rotation kept recent data');
  // The newest lines are in the active file, and whole lines survive.
  const active = readFileSync(join(dir, 'svc.log'), 'utf8');
  assert.ok(active.endsWith(line));
  assert.ok(
    active
      .split('\n')
      .slice(0, -1)
      .every((l) => JSON.parse(l).msg.length === 90),
  );
});

test('maxFiles bounds the rotated files of one stream', (t) => {
  const dir = tmp();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const w = new RotatingFileWriter({ file: join(dir, 'a.log'), maxFileBytes: 100, maxFiles: 3, maxTotalBytes: 1_000_000 });
  for (let i = 0; i < 100; i++) w.write(`${'y'.repeat(49)}\n`);
  w.end();
  assert.deepEqual(readdirSync(dir).sort(), ['a.log', 'a.log.1', 'a.log.2']);
});

test('an existing file is rotated on open, and the total cap spans every stream in the directory', (t) => {
  const dir = tmp();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'old.log.1'), 'o'.repeat(3000));
  utimesSync(join(dir, 'old.log.1'), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  writeFileSync(join(dir, 'b.log'), 'previous run\n');
  const w = new RotatingFileWriter({ file: join(dir, 'b.log'), maxFileBytes: 1000, maxFiles: 5, maxTotalBytes: 3000 });
  assert.equal(readFileSync(join(dir, 'b.log.1'), 'utf8'), 'previous run\n');
  assert.equal(readFileSync(join(dir, 'b.log'), 'utf8'), '');
  // old.log.1 (oldest rotated file in the directory) had to go to make room for a full active file.
  assert.ok(!readdirSync(dir).includes('old.log.1'));
  w.end();
});

test('a write longer than maxFileBytes is split across files, keeping its tail, never exceeding the file cap', (t) => {
  const dir = tmp();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const w = new RotatingFileWriter({ file: join(dir, 'c.log'), maxFileBytes: 64, maxFiles: 2 });
  w.write('head');
  const big = Array.from({ length: 1000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
  w.write(big);
  w.end();
  const active = readFileSync(join(dir, 'c.log'), 'utf8');
  const older = readFileSync(join(dir, 'c.log.1'), 'utf8');
  assert.ok(active.length <= 64 && older.length <= 64);
  assert.ok(big.endsWith(older + active), 'the newest bytes are kept, in order');
  assert.ok((older + active).length >= 64);
});
