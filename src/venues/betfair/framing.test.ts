import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createCrlfFramer } from './framing.js';

const msgs = [
  '{"op":"connection","connectionId":"002-230915140112-174"}',
  '{"op":"mcm","id":1,"mc":[{"id":"1.2","rc":[{"id":5,"atb":[[1.5,2]]}]}]}',
  '{"op":"status","errorMessage":"café £ ✓"}',
];
const stream = Buffer.from(msgs.map((m) => `${m}\r\n`).join(''), 'utf8');

test('splits messages whatever the chunk boundaries (inside UTF-8, between CR and LF)', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), (cuts) => {
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      const f = createCrlfFramer();
      const out: string[] = [];
      let prev = 0;
      for (const p of [...points, stream.length]) {
        const r = f.push(stream.subarray(prev, p));
        assert.deepEqual(r.errors, []);
        out.push(...r.messages);
        prev = p;
      }
      assert.deepEqual(out, msgs);
      assert.equal(f.pendingBytes, 0);
    }),
    { numRuns: 2000 },
  );
});

test('every cut point, one byte at a time too', () => {
  const f = createCrlfFramer();
  const out: string[] = [];
  for (let i = 0; i < stream.length; i++) out.push(...f.push(stream.subarray(i, i + 1)).messages);
  assert.deepEqual(out, msgs);
});

test('several messages in one read, empty lines skipped, bare LF tolerated', () => {
  const f = createCrlfFramer();
  assert.deepEqual(f.push(Buffer.from('{"a":1}\r\n\r\n{"b":2}\n{"c"')).messages, ['{"a":1}', '{"b":2}']);
  assert.equal(f.pendingBytes, 4);
  assert.deepEqual(f.push(Buffer.from(':3}\r\n')).messages, ['{"c":3}']);
});

test('oversized message: reported once, skipped, memory bounded, next message intact', () => {
  const f = createCrlfFramer({ maxMessageBytes: 64 });
  const errors: string[] = [];
  const out: string[] = [];
  const big = 'x'.repeat(1000);
  for (let i = 0; i < big.length; i += 10) {
    const r = f.push(Buffer.from(big.slice(i, i + 10)));
    errors.push(...r.errors.map((e) => e.code));
    out.push(...r.messages);
    assert.ok(f.pendingBytes <= 65);
  }
  const r = f.push(Buffer.from('yyy\r\n{"ok":true}\r\n'));
  out.push(...r.messages);
  errors.push(...r.errors.map((e) => e.code));
  assert.deepEqual(errors, ['oversized']);
  assert.deepEqual(out, ['{"ok":true}']);
  // exactly at the limit is fine
  const g = createCrlfFramer({ maxMessageBytes: 4 });
  assert.deepEqual(g.push(Buffer.from('abcd\r\nabcde\r\nab')).messages, ['abcd']);
});
