import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { READY_FD_ENV, signalReady } from './child.js';

test('signalReady writes the readiness line once to the fd named in the environment, then closes it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-ready-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'fd3');
  const fd = openSync(file, 'w');
  const env: NodeJS.ProcessEnv = { [READY_FD_ENV]: String(fd) };
  assert.equal(signalReady(env), true);
  assert.equal(signalReady(env), false, 'only the first call writes');
  assert.equal(env[READY_FD_ENV], undefined);
  assert.equal(readFileSync(file, 'utf8'), '{"nbpy":"ready"}\n');
});

test('signalReady outside a supervisor is a harmless no-op', () => {
  assert.equal(signalReady({}), false);
  assert.equal(signalReady({ [READY_FD_ENV]: '1' }), false, 'never writes to stdio');
});
