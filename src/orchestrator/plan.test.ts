import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../config/load.js';
import { phaseOrder, serviceSpecs, servicePlan, serviceStartOrder, shutdownOrder } from './plan.js';

const demo = loadConfig('config/demo.json', {}).config;

test('phases run in dependency order', () => {
  assert.deepEqual(phaseOrder(demo), ['backing', 'influx_setup', 'services', 'grafana', 'validation']);
  const reordered = {
    startup: {
      phases: [
        { name: 'validation' as const, dependsOn: ['services' as const], timeoutMs: 1, retries: 0 },
        { name: 'services' as const, dependsOn: ['backing' as const], timeoutMs: 1, retries: 0 },
        { name: 'backing' as const, dependsOn: [], timeoutMs: 1, retries: 0 },
      ],
    },
  };
  assert.deepEqual(phaseOrder(reordered), ['backing', 'services', 'validation']);
  assert.throws(
    () =>
      phaseOrder({
        startup: {
          phases: [
            { name: 'backing', dependsOn: ['services'], timeoutMs: 1, retries: 0 },
            { name: 'services', dependsOn: ['backing'], timeoutMs: 1, retries: 0 },
          ],
        },
      }),
    /cycle/,
  );
});

test('subscribers and the console start before publishers; publishers stop first; --only selects a subset', () => {
  const plan = servicePlan(demo);
  const start = serviceStartOrder(plan);
  assert.deepEqual(start, [[...plan.subscribers, 'console'], plan.publishers]);
  assert.deepEqual(shutdownOrder(plan, true), [plan.publishers, plan.subscribers, 'console', 'influxdb']);
  const only = servicePlan(demo, ['kraken_tick', 'kraken_influxdb_tick']);
  assert.deepEqual(only, { subscribers: ['kraken_influxdb_tick'], publishers: ['kraken_tick'], console: false, needsInflux: false });
  assert.deepEqual(serviceStartOrder(only), [['kraken_influxdb_tick'], ['kraken_tick']]);
  const specs = serviceSpecs(demo, '/x/config.json', { execPath: '/node', execArgv: ['--import', 'tsx'], script: '/nbpy.ts' }, only, 5000);
  assert.deepEqual(specs[1]!.args, ['--import', 'tsx', '/nbpy.ts', 'publisher', 'run', 'kraken_tick', '--config', '/x/config.json']);
});
