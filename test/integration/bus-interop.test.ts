/**
 * The wire format is a contract with other languages: a publisher and a subscriber written only from
 * docs/wire-format.md in Python (pyzmq + msgpack) talk to nbpy in both directions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/ports.js';
import { collect, repoRoot, runNbpy, systemPython, waitForOutput } from '../support/cli.js';
import { BusPublisher } from '../../src/bus/publisher.js';
import type { Draft } from '../../src/core/records.js';

test('nbpy bus tail prints, field for field, records published by a Python program written from the doc', async () => {
  const port = await freePort();
  const out = join(mkdtempSync(join(tmpdir(), 'nbpy-py-')), 'sent.jsonl');
  const py = spawn(systemPython, [join(repoRoot, 'test/fixtures/py/publish.py'), String(port), out, '15'], { stdio: 'inherit' });
  try {
    const res = await runNbpy(['bus', 'tail', '--connect', `tcp://127.0.0.1:${port}`, '--topic', 'kraken.', '--count', '5'], {
      timeoutMs: 30_000,
    });
    assert.equal(res.code, 0, res.stderr);
    const got = res.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(got.length, 5);
    const sent = new Map(
      readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .map((r) => [r.seq, r]),
    );
    for (const r of got) assert.deepEqual(r, sent.get(r.seq), `record seq ${String(r.seq)} differs`);
    // Consecutive: no holes once joined.
    const seqs = got.map((r) => r.seq as number);
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => seqs[0]! + i),
    );
  } finally {
    py.kill('SIGTERM');
  }
});

test('a Python subscriber written from the doc decodes nbpy records exactly (integers stay integers)', async () => {
  const port = await freePort();
  const pub = await BusPublisher.bind({
    endpoint: `tcp://127.0.0.1:${port}`,
    publisher: 'kraken_tick',
    venue: 'kraken',
    topic: 'kraken.tick',
  });
  const py = spawn(systemPython, [join(repoRoot, 'test/fixtures/py/subscribe.py'), `tcp://127.0.0.1:${port}`, 'kraken.tick', '3'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const done = collect(py, 40_000);
  await waitForOutput(py, /ready/);
  const draft: Draft = {
    venue: 'kraken',
    kind: 'tick',
    ts_event_us: 1746523046208075,
    ts_recv_us: 1746523046210001,
    instrument: 'BTC/USD',
    bid: '1797.30',
    bid_qty: '0.00000000',
    ask: '1797.31',
    ask_qty: '4.21870000',
    last: null,
    volume: null,
    tradeable: true,
  };
  // Slow joiner: keep publishing until the subscriber has its three records.
  const sent: Record<string, unknown>[] = [];
  const timer = setInterval(() => sent.push(...(pub.publish([draft]) as unknown as Record<string, unknown>[])), 50);
  const res = await done;
  clearInterval(timer);
  await pub.close();
  assert.equal(res.code, 0);
  const lines = res.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 3);
  for (const r of lines) {
    assert.deepEqual(r._types, { seq: 'int', ts_event_us: 'int', ts_recv_us: 'int' });
    delete r._types;
    assert.deepEqual(
      r,
      sent.find((s) => s.seq === r.seq),
    );
  }
});
