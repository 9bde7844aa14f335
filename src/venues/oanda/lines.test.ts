import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createLineSplitter, type LineItem } from './lines.js';

const lines = (items: LineItem[]) => items.map((i) => ('line' in i ? i.line : `<oversize ${i.oversize.bytes}>`));

test('splits on newlines, keeps partial lines across chunks, skips blank lines', () => {
  const s = createLineSplitter();
  assert.deepEqual(lines(s.push('{"a":1}\n{"b":')), ['{"a":1}']);
  assert.equal(s.pendingBytes, 5);
  assert.deepEqual(lines(s.push('2}')), []);
  assert.deepEqual(lines(s.push('\n\n  \r\n{"c":3}\r\n')), ['{"b":2}', '{"c":3}']);
  assert.equal(s.pendingBytes, 0);
});

test('a chunk ending just before the newline, and a newline alone', () => {
  const s = createLineSplitter();
  assert.deepEqual(lines(s.push('{"x":"1.0"}')), []);
  assert.deepEqual(lines(s.push('\n')), ['{"x":"1.0"}']);
});

test('multi-byte UTF-8 characters cut between chunks decode intact', () => {
  const text = Buffer.from('{"n":"€uro ✓"}\n', 'utf8');
  for (let cut = 0; cut <= text.length; cut++) {
    const s = createLineSplitter();
    const out = [...s.push(text.subarray(0, cut)), ...s.push(text.subarray(cut))];
    assert.deepEqual(lines(out), ['{"n":"€uro ✓"}'], `cut at ${cut}`);
  }
});

test('oversized lines are dropped, reported once, and memory stays bounded', () => {
  const s = createLineSplitter(100);
  const out: LineItem[] = [];
  out.push(...s.push('{"ok":1}\n' + 'x'.repeat(60)));
  for (let i = 0; i < 1000; i++) {
    out.push(...s.push('y'.repeat(1000)));
    assert.ok(s.pendingBytes <= 100, 'pending stays under the cap');
  }
  out.push(...s.push('zz\n{"ok":2}\n'));
  assert.deepEqual(lines(out), ['{"ok":1}', `<oversize ${60 + 1000 * 1000 + 2}>`, '{"ok":2}']);
  const o = out[1];
  assert.ok(o && 'oversize' in o && o.oversize.sample.startsWith('xxxx') && o.oversize.sample.length <= 200);
});

test('a line exactly at the cap passes; one byte over is dropped', () => {
  const s = createLineSplitter(10);
  assert.deepEqual(lines(s.push('0123456789\n01234567890\n')), ['0123456789', '<oversize 11>']);
});

test('reset() forgets a partial line', () => {
  const s = createLineSplitter();
  s.push('{"partial":');
  assert.equal(s.reset(), 11);
  assert.deepEqual(lines(s.push('{"a":1}\n')), ['{"a":1}']);
});

test('property: any chunking of any lines yields the same lines', () => {
  const line = fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 40 })
    .map((s) => s.replace(/[\r\n]/g, '').trim())
    .filter((s) => s.length > 0);
  fc.assert(
    fc.property(fc.array(line, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 10 }), (ls, cuts) => {
      const bytes = Buffer.from(ls.map((l) => l + '\n').join(''), 'utf8');
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const s = createLineSplitter();
      const out: LineItem[] = [];
      let prev = 0;
      for (const p of [...points, bytes.length]) {
        out.push(...s.push(bytes.subarray(prev, p)));
        prev = p;
      }
      assert.deepEqual(lines(out), ls);
    }),
    { numRuns: 500 },
  );
});
