import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { JsonNum, parseLosslessJson, type JsonValue } from './lossless-json.js';

/** Back to plain JSON values so results can be compared with JSON.parse. */
const plain = (v: JsonValue): unknown =>
  v instanceof JsonNum
    ? Number(v.text)
    : Array.isArray(v)
      ? v.map(plain)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
        : v;

test('keeps number lexemes and u64 ids exactly', () => {
  const v = parseLosslessJson('{"price":1797.30,"qty":0.00000000,"connection_id":17843232920108168701,"e":-1.5E+3}') as Record<
    string,
    JsonNum
  >;
  assert.deepEqual(
    Object.values(v).map((n) => n.text),
    ['1797.30', '0.00000000', '17843232920108168701', '-1.5E+3'],
  );
});

test('agrees with JSON.parse on valid JSON', () => {
  fc.assert(fc.property(fc.json(), (text) => assert.deepEqual(plain(parseLosslessJson(text)), JSON.parse(text))));
});

test('rejects what JSON.parse rejects', () => {
  for (const t of ['', '{', '[1,]', '{"a":1,}', '01', '1.', '.5', '+1', 'tru', '"\u0001"', '"\\x"', '{"a" 1}', '[1] 2', 'NaN', '"abc']) {
    assert.throws(() => JSON.parse(t));
    assert.throws(() => parseLosslessJson(t), SyntaxError, t);
  }
  assert.throws(() => parseLosslessJson('['.repeat(100) + ']'.repeat(100)), /too deep/);
  // __proto__ is an ordinary key, never the prototype
  const o = parseLosslessJson('{"__proto__":{"x":1}}') as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(o), null);
  assert.ok(Object.hasOwn(o, '__proto__'));
});
