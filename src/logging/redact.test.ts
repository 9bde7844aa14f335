import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scrubSecrets, secretValuesFromEnv } from './redact.js';

test('scrubs every occurrence, longest secret first, and URL-encoded forms', () => {
  const out = scrubSecrets('user=bob pass=s3cr3t!/x url=http://bob:s3cr3t!%2Fx@h token=s3cr3t!', ['s3cr3t!/x', 's3cr3t!']);
  assert.equal(out, 'user=bob pass=[redacted] url=http://bob:[redacted]@h token=[redacted]');
});

test('ignores empty and very short values', () => {
  assert.equal(scrubSecrets('a b abc', ['', 'a', 'abc', undefined, null]), 'a b abc');
});

test('reads secret values from named environment variables', () => {
  assert.deepEqual(secretValuesFromEnv(['A', 'B', undefined], { A: 'alpha-secret', B: '' }), ['alpha-secret']);
});
