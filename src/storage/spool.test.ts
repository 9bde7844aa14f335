import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool, decodeFrame, encodeFrame } from './spool.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'nbpy-spool-'));
const b = (s: string) => Buffer.from(s);

test('frames: round trip, torn and corrupt detected', () => {
  const f = encodeFrame(b('hello'));
  assert.equal(decodeFrame(f)?.toString(), 'hello');
  assert.equal(decodeFrame(f.subarray(0, f.length - 1)), undefined);
  const bad = Buffer.from(f);
  bad[bad.length - 1] = bad[bad.length - 1]! ^ 1;
  assert.equal(decodeFrame(bad), undefined);
  assert.equal(decodeFrame(Buffer.alloc(3)), undefined);
});

test('append, take in order, ack, survives reopen', async () => {
  const dir = tmp();
  const s = Spool.open({ dir, maxBytes: 1e6 });
  for (const x of ['a', 'b', 'c']) assert.equal(await s.append(b(x)), true);
  assert.equal(await s.append(b('z'), true), true, 'front');
  const e1 = await s.take();
  assert.equal(e1?.payload.toString(), 'z');
  await s.ack(e1!.id);
  const e2 = await s.take();
  assert.equal(e2?.payload.toString(), 'a');
  s.release(e2!.id);
  // a new process: same directory
  const s2 = Spool.open({ dir, maxBytes: 1e6 });
  assert.equal(s2.count, 3);
  const got: string[] = [];
  for (let e = await s2.take(); e; e = await s2.take()) {
    got.push(e.payload.toString());
    await s2.ack(e.id);
  }
  assert.deepEqual(got, ['a', 'b', 'c']);
  assert.equal(s2.bytes, 0);
  assert.equal(readdirSync(dir).length, 0);
  assert.equal(await s2.append(b('d')), true);
  assert.equal(Spool.open({ dir, maxBytes: 1e6 }).count, 1);
  rmSync(dir, { recursive: true });
});

test('size cap: refuses appends beyond maxBytes', async () => {
  const dir = tmp();
  const s = Spool.open({ dir, maxBytes: 30 });
  assert.equal(await s.append(Buffer.alloc(10)), true);
  assert.equal(await s.append(Buffer.alloc(10)), false);
  assert.equal(s.count, 1);
  assert.equal(s.bytes, 18);
  rmSync(dir, { recursive: true });
});

test('a torn last batch (crash mid-write) and a leftover .tmp are discarded on reopen', async () => {
  const dir = tmp();
  const s = Spool.open({ dir, maxBytes: 1e6 });
  await s.append(b('first'));
  await s.append(b('second-batch'));
  const files = readdirSync(dir).sort();
  const last = join(dir, files[1]!);
  writeFileSync(last, readFileSync(last).subarray(0, 12));
  writeFileSync(join(dir, '0000001000000000002.tmp'), 'partial');
  const logs: string[] = [];
  const s2 = Spool.open({ dir, maxBytes: 1e6, log: (_l, m) => logs.push(m) });
  const e = await s2.take();
  assert.equal(e?.payload.toString(), 'first');
  await s2.ack(e!.id);
  assert.equal(await s2.take(), undefined);
  assert.equal(s2.discarded, 2);
  assert.equal(s2.count, 0);
  assert.ok(logs.some((m) => m.includes('torn')));
  rmSync(dir, { recursive: true });
});
