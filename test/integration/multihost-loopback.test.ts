/**
 * Two "hosts" by configuration alone: host A runs only the publishers (`nbpy services start --only`),
 * their ZeroMQ sockets bound to 127.0.0.2; host B runs only the subscribers, connecting to 127.0.0.2
 * through publishers[].connectHost. Each host has its own run/data/log directories (as two machines
 * would); the service sections of the two configs are identical.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runNbpy } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { testConfig } from '../support/config.js';
import { isProcessAlive, readStatus } from '../../src/supervisor/state.js';

const PUBS = ['kraken_tick', 'oanda_tick'];
const SUBS = ['kraken_influxdb_tick', 'oanda_influxdb_tick'];
const HOST_A = '127.0.0.2';

/** Resolves true if something accepts a TCP connection on host:port. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

test('publishers on one host (127.0.0.2), subscribers on another, by config and --only', async () => {
  const a = await testConfig((raw) => {
    raw.publishers = raw.publishers.filter((p) => PUBS.includes(p.name as string));
    for (const p of raw.publishers) {
      p.bindHost = HOST_A;
      p.connectHost = HOST_A;
      p.source = { type: 'simulated', ratePerS: 50, seed: 1 };
    }
    raw.subscribers = raw.subscribers.filter((s) => SUBS.includes(s.name as string));
    for (const s of raw.subscribers) s.flushIntervalMs = 200;
    raw.console.enabled = false;
    raw.storage = { backend: 'embedded', embeddedFile: 'nbpy.duckdb' };
  });
  // Host B: the same services; its own directories.
  const bDir = join(a.dir, 'host-b');
  mkdirSync(bDir, { recursive: true });
  const bRaw = {
    ...a.raw,
    dataDir: join(bDir, 'data'),
    runDir: join(bDir, 'run'),
    logging: { ...(a.raw.logging as object), dir: join(bDir, 'logs') },
  };
  const bPath = join(bDir, 'config.json');
  writeFileSync(bPath, JSON.stringify(bRaw, null, 2));

  const pubPorts = a.config.publishers.map((p) => p.port);
  const subPorts = a.config.subscribers.map((s) => s.port);
  try {
    const startA = await runNbpy(['services', 'start', '--only', ...PUBS, '--config', a.path], { timeoutMs: 120_000 });
    assert.equal(startA.code, 0, `host A start: ${startA.stdout}\n${startA.stderr}`);
    const startB = await runNbpy(['services', 'start', '--only', ...SUBS, '--config', bPath], { timeoutMs: 120_000 });
    assert.equal(startB.code, 0, `host B start: ${startB.stdout}\n${startB.stderr}`);

    // Each host runs exactly its subset.
    const runningA = readStatus(a.config.runDir)
      .services.filter((s) => s.alive)
      .map((s) => s.name)
      .sort();
    const runningB = readStatus(join(bDir, 'run'))
      .services.filter((s) => s.alive)
      .map((s) => s.name)
      .sort();
    assert.deepEqual(runningA, [...PUBS].sort());
    assert.deepEqual(runningB, [...SUBS].sort());

    // The bus sockets are bound to host A's address only.
    for (const port of pubPorts) {
      assert.equal(await listening(HOST_A, port), true, `nothing on ${HOST_A}:${port}`);
      assert.equal(await listening('127.0.0.1', port), false, `publisher port ${port} also answers on 127.0.0.1`);
    }

    // Records cross from A to B and are stored on B.
    for (const port of subPorts) {
      const h = await waitFor(
        `subscriber on :${port} to store records from ${HOST_A}`,
        async () => {
          const body = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as {
            records_in: number;
            points_written: number;
            endpoints: string[];
          };
          return body.records_in >= 20 && body.points_written >= 20 ? body : undefined;
        },
        60_000,
        200,
      );
      assert.ok(
        h.endpoints.every((e) => e.startsWith(`tcp://${HOST_A}:`)),
        `endpoints ${h.endpoints.join(', ')}`,
      );
    }

    // An unknown name is refused, not silently ignored.
    const typo = await runNbpy(['services', 'start', '--only', 'kraken_tik', '--config', join(a.dir, 'config.json')]);
    assert.notEqual(typo.code, 0);
    assert.match(typo.stderr + typo.stdout, /kraken_tik/);
  } finally {
    await Promise.all([
      runNbpy(['services', 'stop', '--config', bPath], { timeoutMs: 90_000 }).catch((e: Error) => ({
        code: -1,
        stdout: '',
        stderr: e.message,
      })),
      runNbpy(['services', 'stop', '--config', a.path], { timeoutMs: 90_000 }).catch((e: Error) => ({
        code: -1,
        stdout: '',
        stderr: e.message,
      })),
    ]);
    // Safety net: kill anything still alive from either host.
    for (const runDir of [a.config.runDir, join(bDir, 'run')]) {
      const st = readStatus(runDir);
      for (const s of st.services) if (s.alive && s.pid && isProcessAlive(s.pid)) process.kill(s.pid, 'SIGKILL');
      if (st.supervisor?.pid && isProcessAlive(st.supervisor.pid)) process.kill(st.supervisor.pid, 'SIGKILL');
    }
    rmSync(a.dir, { recursive: true, force: true });
  }
});
