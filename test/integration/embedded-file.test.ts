/**
 * The embedded store on a real file: data survives a reopen, a field added to the config becomes a
 * column, and a file held by another process gives a retriable error until it is released.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NbpyError } from '../../src/core/errors.js';
import { EmbeddedSink, embeddedSinkOptionsFromConfig } from '../../src/storage/embedded/store.js';
import { configSchema } from '../../src/config/schema.js';
import { CONTRACT_MEASUREMENTS, CONTRACT_TARGET, RecordFactory } from '../support/sink-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'nbpy-embedded-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A child process that opens `file` with DuckDB (taking its lock) and holds it until stdin closes. */
async function holdLock(file: string) {
  const code = `
    import { DuckDBInstance } from '@duckdb/node-api';
    const db = await DuckDBInstance.create(${JSON.stringify(file)});
    process.stdout.write('held\\n');
    process.stdin.resume();
    process.stdin.on('end', () => { db.closeSync(); process.exit(0); });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'inherit'] });
  const [chunk] = (await Promise.race([once(child.stdout!, 'data'), once(child, 'exit').then(() => [Buffer.from('exited')])])) as [Buffer];
  assert.equal(chunk.toString().trim(), 'held', 'the lock holder started');
  return {
    release: async () => {
      child.stdin!.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

describe('embedded store file', () => {
  it('keeps data across a reopen and adds a column for a new field', async () => {
    const path = join(dir, 'reopen', 'store.duckdb');
    const f = new RecordFactory();
    const a = new EmbeddedSink({ path, measurements: CONTRACT_MEASUREMENTS });
    await a.open();
    await a.write([f.tick(0), f.tick(1)], CONTRACT_TARGET);
    await a.close();
    const wider = {
      ...CONTRACT_MEASUREMENTS,
      c_tick: { ...CONTRACT_MEASUREMENTS.c_tick!, fields: { ...CONTRACT_MEASUREMENTS.c_tick!.fields, publisher: 'string' as const } },
    };
    const b = new EmbeddedSink({ path, measurements: wider });
    await b.open();
    assert.equal(await b.count('c_tick'), 2);
    await b.write([f.tick(2)], CONTRACT_TARGET);
    const pubs = await b.withConnection(async (c) =>
      (await c.runAndReadAll('SELECT publisher FROM c_tick ORDER BY time_ns')).getRowObjectsJS(),
    );
    assert.deepEqual(
      pubs.map((r) => r.publisher),
      [null, null, 'contract_pub'],
    );
    await b.close();
  });

  it('a file locked by another process is a retriable error, and works once released', async () => {
    const path = join(dir, 'locked.duckdb');
    const holder = await holdLock(path);
    const sink = new EmbeddedSink({ path, measurements: CONTRACT_MEASUREMENTS });
    try {
      await assert.rejects(sink.open(), (e: unknown) => e instanceof NbpyError && e.retriable && e.code === 'E_STORE_LOCKED');
      const f = new RecordFactory();
      await assert.rejects(sink.write([f.tick(0)], CONTRACT_TARGET), (e: unknown) => e instanceof NbpyError && e.retriable);
      await holder.release();
      assert.deepEqual(await sink.write([f.tick(0)], CONTRACT_TARGET), { written: 1, dropped: {} });
      assert.equal(await sink.count('c_tick'), 1);
    } finally {
      await holder.release();
      await sink.close();
    }
  });

  it('resolves the file under dataDir from the config', () => {
    const cfg = configSchema.parse({ dataDir: dir, storage: { backend: 'embedded', embeddedFile: 'x.duckdb' } });
    const opts = embeddedSinkOptionsFromConfig(cfg);
    assert.equal(opts.path, join(dir, 'x.duckdb'));
    assert.equal(opts.retentionPolicies?.length, 3);
  });
});
