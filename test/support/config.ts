/**
 * Test configs: config/demo.json with every port replaced by a free one, data/run/log directories in
 * a temp dir, and optional edits. Written to disk so processes can be started with --config.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { freePorts } from './ports.js';
import { repoRoot } from './cli.js';

export interface TestConfig {
  path: string;
  dir: string;
  raw: Record<string, unknown>;
  config: Config;
}

type Raw = Record<string, unknown> & {
  publishers: Record<string, unknown>[];
  subscribers: Record<string, unknown>[];
  console: Record<string, unknown>;
};

export async function testConfig(edit?: (raw: Raw) => void): Promise<TestConfig> {
  const raw = JSON.parse(readFileSync(join(repoRoot, 'config/demo.json'), 'utf8')) as Raw;
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-test-'));
  const ports = await freePorts(raw.publishers.length * 3 + raw.subscribers.length + 1);
  raw.publishers.forEach((p) => {
    p.port = ports.pop();
    p.statusPort = ports.pop();
    const retransmit = ports.pop();
    if (p.retransmitPort !== undefined) p.retransmitPort = retransmit;
  });
  raw.subscribers.forEach((s) => (s.port = ports.pop()));
  raw.console.port = ports.pop();
  raw.dataDir = join(dir, 'data');
  raw.runDir = join(dir, 'run');
  (raw.logging as Record<string, unknown>).dir = join(dir, 'logs');
  delete raw.$schema;
  edit?.(raw);
  const path = join(dir, 'config.json');
  writeFileSync(path, JSON.stringify(raw, null, 2));
  return { path, dir, raw, config: parseConfig(raw, path, {}) };
}
