import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { UsageError } from '../core/errors.js';
import { applyEnvOverrides, loadConfig, parseConfig } from './load.js';
import { configJsonSchema } from './schema.js';

const shipped = ['integration_config.json', 'config/demo.json'];
const raw = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown> & { publishers: Record<string, unknown>[] };

const problemsOf = (input: unknown, env: NodeJS.ProcessEnv = {}): string[] => {
  try {
    parseConfig(input, 'integration_config.json', env);
  } catch (e) {
    assert.ok(e instanceof UsageError);
    return e.problems;
  }
  return [];
};

test('the shipped configs are valid', () => {
  for (const f of shipped) assert.ok(loadConfig(f, {}).config.publishers.length === 5, f);
});

test('the JSON Schema validates the shipped configs and rejects a bad one', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validate = ajv.compile(configJsonSchema());
  for (const f of shipped) assert.ok(validate(raw(f)), `${f}: ${JSON.stringify(validate.errors)}`);
  const bad = raw(shipped[0]!);
  bad.publishers[0]!.port = 'abc';
  assert.equal(validate(bad), false);
});

test('a bad port, a duplicate port and an unknown key are all named in one run', () => {
  const c = raw('integration_config.json');
  c.publishers[2]!.port = 'abc';
  c.publishers[3]!.port = 5558;
  c.publishers[1]!.colour = 'red';
  const problems = problemsOf(c);
  assert.ok(
    problems.some((p) => p === 'integration_config.json: publishers[2].port: expected 1-65535, got "abc"'),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => p.startsWith('integration_config.json: publishers[3].port: port 5558 is already used by publishers[0].port')),
  );
  assert.ok(problems.some((p) => p.startsWith('integration_config.json: publishers[1].colour: unknown key')));
});

test('a publisher batch window out of range is named with its limit', () => {
  const c = raw('integration_config.json');
  c.publishers[0]!.batchMs = 5000;
  c.publishers[1]!.batchMs = -1;
  const problems = problemsOf(c);
  assert.ok(problems.includes('integration_config.json: publishers[0].batchMs: expected at most 1000 ms, got 5000'), problems.join('\n'));
  assert.ok(problems.includes('integration_config.json: publishers[1].batchMs: expected milliseconds, got -1'), problems.join('\n'));
});

test('duplicate names and topics, and a subscriber reading a topic nobody publishes', () => {
  const c = raw('integration_config.json') as Record<string, unknown> & {
    publishers: Record<string, unknown>[];
    subscribers: Record<string, unknown>[];
  };
  c.publishers[1]!.name = 'kraken_tick';
  c.publishers[4]!.topic = 'kraken.tick';
  (c.subscribers[0]!.topics as string[]).push('nowhere.topic');
  const problems = problemsOf(c);
  assert.ok(
    problems.some((p) => p.includes('publishers[1].name: name "kraken_tick" is already used')),
    problems.join('\n'),
  );
  assert.ok(problems.some((p) => p.includes('publishers[4].topic: topic "kraken.tick" is already published')));
  assert.ok(problems.some((p) => p.includes('subscribers[0].topics[1]: no publisher publishes topic "nowhere.topic"')));
});

test('environment overrides reach nested keys and named entries, and are validated', () => {
  const c = raw('integration_config.json');
  const cfg = parseConfig(c, 'x.json', {
    NBPY_CFG__STORAGE__BACKEND: 'embedded',
    NBPY_CFG__PUBLISHERS__KRAKEN_TICK__PORT: '15558',
    NBPY_CFG__SUBSCRIBERS__OANDA_INFLUXDB_TICK__FLUSH_INTERVAL_MS: '250',
  });
  assert.equal(cfg.storage.backend, 'embedded');
  assert.equal(cfg.publishers[0]!.port, 15558);
  assert.equal(cfg.subscribers[3]!.flushIntervalMs, 250);
  assert.ok(problemsOf(c, { NBPY_CFG__PUBLISHERS__NOPE__PORT: '1' }).some((p) => p.includes('no entry named nope')));
  const o: Record<string, unknown> = { a: { b: 1 } };
  assert.deepEqual(applyEnvOverrides(o, { NBPY_CFG__A__B: '"x"' }), []);
  assert.deepEqual(o, { a: { b: 'x' } });
});

test('defaults fill a minimal config; secrets are only env var names', () => {
  const cfg = parseConfig(
    { influxdb: { measurements: { nbpy_events: { fields: { seq: 'integer' } }, nbpy_health: { fields: { v: 'float' } } } } },
    'min.json',
    {},
  );
  assert.equal(cfg.influxdb.database, 'tick');
  assert.deepEqual(
    cfg.influxdb.retentionPolicies.map((r) => [r.name, r.duration, r.default]),
    [
      ['default', '30d', true],
      ['high_frequency', '7d', false],
      ['long_term', '365d', false],
    ],
  );
  assert.equal(cfg.shutdown.phaseTimeoutMs, 30_000);
  assert.equal(cfg.backing.influxdb.credentials.passwordEnv, 'NBPY_INFLUXDB_PASSWORD');
});

test('config/nbpy.schema.json (referenced by the shipped configs) is current: regenerate with `nbpy config schema`', () => {
  assert.deepEqual(JSON.parse(readFileSync('config/nbpy.schema.json', 'utf8')), configJsonSchema());
});
