/**
 * Test helper for subscriber integration tests: a temp config derived from config/demo.json with
 * free ports, and helpers to run publisher / subscriber processes and read their /health.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { freePorts } from './ports.js';
import { spawnNbpy, repoRoot, stretch } from './cli.js';

export interface StackOptions {
  backend: 'influxdb' | 'embedded';
  influxUrl?: string;
  /** Publisher names from config/demo.json to keep, with their simulated rate. */
  publishers: Record<string, number>;
  /** Subscriber names from config/demo.json to keep. */
  subscribers: string[];
  flushIntervalMs?: number;
  phaseTimeoutMs?: number;
}

export interface Stack {
  dir: string;
  configPath: string;
  config: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  subscriberPort(name: string): number;
  publisherStatusPort(name: string): number;
}

export async function makeStack(o: StackOptions): Promise<Stack> {
  const demo = JSON.parse(readFileSync(join(repoRoot, 'config', 'demo.json'), 'utf8'));
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-stack-'));
  const pubs = demo.publishers.filter((p: { name: string }) => p.name in o.publishers);
  const subs = demo.subscribers.filter((s: { name: string }) => o.subscribers.includes(s.name));
  const ports = await freePorts(pubs.length * 3 + subs.length);
  let i = 0;
  for (const p of pubs) {
    p.port = ports[i++];
    p.statusPort = ports[i++];
    p.retransmitPort = ports[i++];
    p.source = { type: 'simulated', ratePerS: o.publishers[p.name], seed: 1 };
  }
  for (const s of subs) {
    s.port = ports[i++];
    s.flushIntervalMs = o.flushIntervalMs ?? 200;
  }
  const config = {
    ...demo,
    $schema: undefined,
    dataDir: join(dir, 'data'),
    runDir: join(dir, 'run'),
    logging: { ...demo.logging, dir: join(dir, 'logs') },
    storage: { backend: o.backend, embeddedFile: 'nbpy.duckdb' },
    backing: { ...demo.backing, influxdb: { ...demo.backing.influxdb, url: o.influxUrl ?? 'http://127.0.0.1:1', provider: 'external' } },
    shutdown: { ...demo.shutdown, phaseTimeoutMs: o.phaseTimeoutMs ?? 15_000 },
    publishers: pubs,
    subscribers: subs,
  };
  delete config.$schema;
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  return {
    dir,
    configPath,
    config,
    subscriberPort: (n) => subs.find((s: { name: string }) => s.name === n).port,
    publisherStatusPort: (n) => pubs.find((p: { name: string }) => p.name === n).statusPort,
  };
}

/** A running nbpy process whose stdout JSON log lines are kept. */
export interface Proc {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startProc(args: string[], configPath: string): Proc {
  const child = spawnNbpy([...args, '--config', configPath]);
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // not JSON
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  return { child, lines, stderr: () => err, exited };
}

export { waitFor } from './wait.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function getJson(port: number, path: string): Promise<any> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(stretch(10_000)) });
  if (!r.ok && r.status !== 503) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}

export async function getText(port: number, path: string): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(stretch(10_000)) });
  return r.text();
}
