import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { checksumPiece, crc32, fixDecimals, isZeroDecimal, KrakenBook } from './book.js';

test('crc32 equals zlib.crc32', () => {
  fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...'0123456789'), maxLength: 400 }), (s) => crc32(s) === zlibCrc32(s)));
});

test('worked example A of venues.md §1.4 gives 1866902150', () => {
  const b = new KrakenBook(10, 1, 8);
  b.apply('ask', '100.5', '0.25');
  b.apply('ask', '101.0', '1.5');
  b.apply('bid', '100.0', '0.001');
  b.apply('bid', '99.5', '2');
  assert.equal(b.checksum(), 1866902150);
});

test('decimal formatting for checksum pieces', () => {
  assert.equal(fixDecimals('1797.3', 2), '1797.30');
  assert.equal(fixDecimals('2', 8), '2.00000000');
  assert.equal(fixDecimals('1e-8', 8), '0.00000001');
  assert.equal(checksumPiece('0.43393711', undefined), '43393711');
  assert.equal(checksumPiece('0.000027810', undefined), '27810');
  assert.equal(checksumPiece('45283.5', 1), '452835');
  assert.ok(isZeroDecimal('0.00000000') && isZeroDecimal('0') && !isZeroDecimal('0.00000001'));
});

test('levels stay sorted best first; qty 0 deletes; truncate keeps the best depth', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 3 })), { maxLength: 200 }),
      (ops) => {
        const b = new KrakenBook(10);
        const model = { bid: new Map<number, string>(), ask: new Map<number, string>() };
        for (const [isBid, p, q] of ops) {
          const side = isBid ? 'bid' : 'ask';
          b.apply(side, `${p}.0`, `${q}.5`.replace('0.5', q === 0 ? '0.0' : '0.5'));
          if (q === 0) model[side].delete(p);
          else model[side].set(p, `${q}.5`);
        }
        b.truncate();
        const asks = [...model.ask.keys()].sort((x, y) => x - y).slice(0, 10);
        const bids = [...model.bid.keys()].sort((x, y) => y - x).slice(0, 10);
        assert.deepEqual(
          b.asks.map((l) => l.key),
          asks,
        );
        assert.deepEqual(
          b.bids.map((l) => l.key),
          bids,
        );
      },
    ),
  );
});

test('"1797.3" and "1797.30" are the same level; text of the first insert is kept', () => {
  const b = new KrakenBook(10, 2, 8);
  b.apply('ask', '1797.30', '1.00000000');
  b.apply('ask', '1797.3', '2.00000000');
  assert.deepEqual(b.top('ask', 5), [['1797.30', '2.00000000']]);
  const before = b.checksum();
  b.setPrecision(1, 8);
  assert.notEqual(b.checksum(), before, 'precision change invalidates cached pieces');
});
