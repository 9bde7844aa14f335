/**
 * A Betfair feed whose markets are all suspended goes silent by design: `nbpy health check` must
 * call that silence expected (pass, with a note), not stale. A real `nbpy publisher run` against
 * the Betfair simulator (`faults.suspendAfterMs`), a stand-in subscriber on its bus
 * (health-fakes.ts), and `nbpy health check --json` as a user runs it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { collect, runNbpy, spawnNbpy } from '../support/cli.js';
import { fakeSubscriber, freePorts } from './health-fakes.js';
import { waitFor } from '../support/stack.js';

interface HealthJson {
  status: string;
  checks: { name: string; status: string; detail: string }[];
}

const MARKETS = ['1.100000001', '1.100000002'];
const STALE_AFTER_MS = 2000;

test('all Betfair markets suspended: the silent topic and store pass with a note; the publisher /health says why', async () => {
  const [port, statusPort, subPort] = await freePorts(3);
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-bf-suspended-'));
  const config = {
    dataDir: join(dir, 'data'),
    runDir: join(dir, 'run'),
    storage: { backend: 'embedded' },
    backing: { grafana: { enabled: false } },
    logging: { dir: join(dir, 'logs') },
    validation: { windowMs: 2000, maxNewestAgeS: 2, probe: false },
    influxdb: {
      measurements: {
        betfair_runner: { tags: ['market_id'], fields: { seq: 'integer', session: 'string' } },
        nbpy_events: { tags: ['publisher', 'kind', 'reason'], fields: { detail: 'string', seq: 'integer' } },
        nbpy_health: { tags: ['service', 'topic'], fields: { records_per_s: 'float' } },
      },
    },
    publishers: [
      {
        name: 'betfair_market',
        venue: 'betfair',
        feed: 'market',
        topic: 'betfair.market',
        port,
        statusPort,
        markets: MARKETS,
        staleAfterMs: STALE_AFTER_MS,
        source: { type: 'simulated', ratePerS: 50, seed: 2, faults: { suspendAfterMs: 1500 } },
      },
    ],
    subscribers: [{ name: 'bf_sub', port: subPort, topics: ['betfair.market'], measurements: { runner: 'betfair_runner' } }],
  };
  const cfg = join(dir, 'config.json');
  writeFileSync(cfg, JSON.stringify(config, null, 2));

  const sub = await fakeSubscriber('bf_sub', [`tcp://127.0.0.1:${port}`], ['betfair.market'], 'betfair_runner', subPort!);
  const child = spawnNbpy(['publisher', 'run', 'betfair_market', '--config', cfg]);
  const done = collect(child, 90_000);
  try {
    const health = async () => (await (await fetch(`http://127.0.0.1:${statusPort}/health`)).json()) as Record<string, unknown>;
    // Open first (prices flow), then every market suspended by the simulator.
    const seen: string[] = [];
    const suspended = await waitFor(
      'the publisher reports every market SUSPENDED',
      async () => {
        const h = await health();
        const st = h.market_statuses as string[] | undefined;
        if (st && seen.at(-1) !== st.join()) seen.push(st.join());
        return st?.length === MARKETS.length && st.every((s) => s === 'SUSPENDED') ? h : undefined;
      },
      30_000,
    );
    assert.ok(seen.includes('OPEN,OPEN'), `markets were open before: ${seen.join(' | ')}`);
    assert.deepEqual(suspended.market_status_by_id, { '1.100000001': 'SUSPENDED', '1.100000002': 'SUSPENDED' });
    assert.equal(suspended.connected, true);

    // The topic goes quiet past staleAfterMs (heartbeats only); health judges the silence expected.
    const { h, code } = await waitFor(
      'health calls the silence expected',
      async () => {
        const r = await runNbpy(['-c', cfg, 'health', 'check', '--json']);
        const j = JSON.parse(r.stdout) as HealthJson;
        const topic = j.checks.find((c) => c.name === 'topic.betfair.market.freshness');
        return topic && /expected/.test(topic.detail) ? { h: j, code: r.code } : undefined;
      },
      40_000,
    );
    const topic = h.checks.find((c) => c.name === 'topic.betfair.market.freshness')!;
    assert.equal(topic.status, 'pass');
    assert.match(topic.detail, /^last record on betfair\.market \d+(\.\d)?s ago; expected: Betfair market\(s\) SUSPENDED$/);
    const age = Number(/on betfair\.market ([\d.]+)s ago/.exec(topic.detail)![1]);
    assert.ok(age * 1000 > STALE_AFTER_MS, `older than the threshold: ${topic.detail}`);
    const store = h.checks.find((c) => c.name === 'store.betfair_runner.freshness')!;
    assert.equal(store.status, 'pass', store.detail);
    assert.match(store.detail, /expected: Betfair market\(s\) SUSPENDED/);
    assert.equal(h.status, 'healthy', JSON.stringify(h.checks.filter((c) => c.status !== 'pass')));
    assert.equal(code, 0);

    // `nbpy validate zmq` asks the publisher for the statuses too: the silent topic is expected, not a failure.
    const v = await runNbpy(['-c', cfg, 'validate', 'zmq', '--json', '--window', '3s']);
    const vj = JSON.parse(v.stdout) as { ok: boolean; topics: { topic: string; records: number; note: string }[] };
    const vt = vj.topics.find((t) => t.topic === 'betfair.market')!;
    assert.equal(vt.records, 0, JSON.stringify(vt));
    assert.match(vt.note, /^expected: Betfair market\(s\) SUSPENDED/);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.equal(vj.ok, true);
  } finally {
    child.kill('SIGTERM');
    const r = await done;
    await sub.close();
    assert.equal(r.code, 0, r.stderr.slice(-500));
  }
});
