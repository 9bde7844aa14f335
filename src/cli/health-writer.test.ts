import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../core/clock.js';
import { recordToPoint } from '../storage/fields.js';
import { LineBuilder } from '../storage/influx/line-protocol.js';
import { EmbeddedSink } from '../storage/embedded/store.js';
import type { Sink } from '../storage/sink.js';
import { HEALTH_MEASUREMENT_SCHEMA, HealthWriter, RateMeter, healthRecord, type PipelineHealthSample } from './health-writer.js';

const sample = (topic: string, over: Partial<PipelineHealthSample> = {}): PipelineHealthSample => ({
  topic,
  records_per_s: 12.5,
  lag_ms: 40,
  gaps: 1,
  drops: 2,
  restarts: 0,
  queue_depth: 7,
  spool_bytes: 0,
  ...over,
});

describe('health records', () => {
  it('map to an nbpy_health point tagged service and topic with the seven fields typed', () => {
    const r = healthRecord('sub_a', sample('kraken.tick'), 1_700_000_000_000_000, 1, 'sess');
    const p = recordToPoint(r, HEALTH_MEASUREMENT_SCHEMA, 'nbpy_health');
    assert.ok(p.ok);
    assert.deepEqual(p.point.tags, { service: 'sub_a', topic: 'kraken.tick' });
    // floats may be kept as their decimal text (no binary round trip): compare numerically
    const fields = Object.fromEntries(Object.entries(p.point.fields).map(([k, v]) => [k, Number(v)]));
    assert.deepEqual(fields, { records_per_s: 12.5, lag_ms: 40, gaps: 1, drops: 2, restarts: 0, queue_depth: 7, spool_bytes: 0 });
  });
  it('become InfluxDB line protocol with integer fields marked', () => {
    const b = new LineBuilder({ nbpy_health: HEALTH_MEASUREMENT_SCHEMA });
    const r = healthRecord('sub_a', sample('kraken.tick', { records_per_s: NaN }), 1_700_000_000_000_000, 3, 's1');
    const built = b.build([r], { measurements: { status: 'nbpy_health' }, eventsMeasurement: 'nbpy_health', retentionPolicy: 'autogen' });
    assert.equal(built.lines.length, 1);
    assert.match(built.lines[0]!, /^nbpy_health,/);
    assert.match(built.lines[0]!, /service=sub_a/);
    assert.match(built.lines[0]!, /records_per_s=0[, ]/);
    assert.match(built.lines[0]!, /gaps=1i/);
  });
  it('RateMeter gives per-second rates from growing totals', () => {
    const m = new RateMeter();
    assert.equal(m.rate('a', 100, 1000), 0);
    assert.equal(m.rate('a', 300, 3000), 100);
    assert.equal(m.rate('a', 50, 4000), 0); // counter reset
  });
});

describe('HealthWriter', () => {
  it('writes one point per topic every interval through the sink', async () => {
    const clock = new FakeClock();
    const sink = new EmbeddedSink({ path: ':memory:', measurements: { nbpy_health: HEALTH_MEASUREMENT_SCHEMA }, clock });
    await sink.open();
    const w = new HealthWriter({ sink, service: 'sub_a', measurement: 'nbpy_health', retentionPolicy: 'autogen', clock });
    w.start(() => [sample('kraken.tick'), sample('kraken.depth')], 5000);
    for (let i = 0; i < 3; i++) {
      clock.advance(5000);
      // let the async write finish before the next tick is scheduled
      while (w.stats.points_written < 2 * (i + 1)) await new Promise((r) => setImmediate(r));
    }
    await w.stop();
    assert.equal(await sink.count('nbpy_health'), 6);
    await sink.close();
  });
  it('counts a failed write instead of throwing', async () => {
    const errors: string[] = [];
    const down: Sink = {
      kind: 'influxdb',
      open: async () => {},
      write: async () => {
        throw new Error('InfluxDB unreachable');
      },
      count: async () => 0,
      close: async () => {},
    };
    const w = new HealthWriter({
      sink: down,
      service: 's',
      measurement: 'nbpy_health',
      retentionPolicy: 'x',
      onError: (e) => errors.push(e.message),
    });
    assert.equal(await w.write([sample('t')]), undefined);
    assert.equal(w.stats.writes_failed, 1);
    assert.deepEqual(errors, ['InfluxDB unreachable']);
  });
});
