#!/usr/bin/env node
// Node 20's test runner does not expand globs: find the test files and hand them to `node --test`.
//   node scripts/run-tests.mjs            unit tests (beside the code) + integration tests
//   node scripts/run-tests.mjs --unit     unit tests only
//   node scripts/run-tests.mjs FILTER...  only files whose path contains one of the filters
//   node scripts/run-tests.mjs --dir D    only D's *.test.ts (e.g. test/faults, kept out of the default set)
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const dirIdx = args.indexOf('--dir');
const dir = dirIdx >= 0 ? args[dirIdx + 1] : undefined;
const filters = args.filter((a, i) => !a.startsWith('--') && !(dirIdx >= 0 && i === dirIdx + 1));

function walk(dir, out = []) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

// test/faults (the fault-injection suite, `npm run test:faults`) is not in the default set: CI runs it
// as its own step.
// Unit tests live beside the code: src/ and the benchmarks' own (bench/).
let files = dir ? walk(dir) : [...walk('src'), ...walk('bench')];
if (!unitOnly && !dir) files.push(...walk('test/integration'));
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
files.sort();
// Integration tests run the built CLI (dist/), so build first unless told not to.
if (!unitOnly && process.env.NBPY_TEST_NO_BUILD !== '1' && process.env.NBPY_TEST_FROM_SOURCE !== '1') {
  const b = spawnSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=900000', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
