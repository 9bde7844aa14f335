/** `nbpy validate zmq` sees sequence holes from a faulty publisher (raw PUB socket skipping seqs). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runNbpy } from '../support/cli.js';
import { fakeSystemConfig, freePorts, skippingPublisher } from './health-fakes.js';

describe('nbpy validate zmq', () => {
  it('reports gaps within a publisher session and exits 1 naming the topic', async () => {
    const [port, statusPort] = await freePorts(2);
    const pub = await skippingPublisher(port!, 'kraken.tick');
    try {
      const c = await fakeSystemConfig({ publishers: [{ name: 'faulty', topic: 'kraken.tick', port: port!, statusPort: statusPort! }] });
      const r = await runNbpy(['-c', c.path, 'validate', 'zmq', '--window', '2s', '--json']);
      assert.equal(r.code, 1, r.stderr);
      const rep = JSON.parse(r.stdout) as {
        ok: boolean;
        topics: { topic: string; records: number; gaps: number; missing: number; sessions: number }[];
        failures: string[];
      };
      assert.equal(rep.ok, false);
      const t = rep.topics.find((x) => x.topic === 'kraken.tick')!;
      assert.ok(t.records > 20, `records ${t.records}`);
      assert.ok(t.gaps >= 1, `gaps ${t.gaps}`);
      assert.equal(t.missing, t.gaps * 4);
      assert.equal(t.sessions, 1);
      assert.match(rep.failures.join('\n'), /topic kraken\.tick: \d+ sequence gap/);
    } finally {
      await pub.close();
    }
  });
});
