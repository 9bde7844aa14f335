#!/usr/bin/env node
// tsc compiles TypeScript only: copy the console's static files (and the simulators' throwaway TLS
// material) next to the compiled code so `dist/` runs on its own.
import { cpSync, existsSync } from 'node:fs';

for (const [from, to] of [
  ['src/console/static', 'dist/console/static'],
  ['src/simulators/tls', 'dist/simulators/tls'],
]) {
  if (existsSync(from)) cpSync(from, to, { recursive: true });
}
