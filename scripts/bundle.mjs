#!/usr/bin/env node
// After tsc: bundle the `nbpy` entry points in place (dist/bin/*.js, their shared code in
// dist/bin/chunks/), so each of the many nbpy processes loads a few files instead of ~150 modules:
// ~40 % less start-up CPU per process (docs/PERFORMANCE.md). Native packages stay external; the rest
// of dist/ (tsc's per-module output) is unchanged and used by tests and benchmarks that import it.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/bin/nbpy.js', 'dist/bin/subscriber.js'],
  outdir: 'dist/bin',
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['zeromq', '@duckdb/node-api'],
  // CommonJS dependencies inside an ES module bundle still call require() for Node's built-ins.
  banner: {
    js: "import { createRequire as __nbpyCreateRequire } from 'node:module'; const require = __nbpyCreateRequire(import.meta.url);",
  },
  sourcemap: true,
  logLevel: 'warning',
});
