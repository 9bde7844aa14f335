import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stopGroups } from './manager.js';

test('a stop without the supervisor goes publishers, readers, subscribers, backing services', () => {
  const svc = (name: string, kind: 'publisher' | 'subscriber' | 'backing' | 'console' | 'health' | 'other') => ({ name, kind });
  const groups = stopGroups([
    svc('influxd', 'backing'),
    svc('sub_a', 'subscriber'),
    svc('console', 'console'),
    svc('pub_a', 'publisher'),
    svc('sub_b', 'subscriber'),
    svc('pub_b', 'publisher'),
  ]);
  assert.deepEqual(
    groups.map((g) => g.map((s) => s.name)),
    [['pub_a', 'pub_b'], ['console'], ['sub_a', 'sub_b'], ['influxd']],
  );
  assert.deepEqual(stopGroups([]), []);
});
