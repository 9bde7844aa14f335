import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderInfluxdConfig } from './influxd-config.js';

const base = `reporting-enabled = true
bind-address = "127.0.0.1:8088"

[meta]
  dir = "/var/lib/influxdb/meta"

[data]
  dir = "/var/lib/influxdb/data"
  wal-dir = "/var/lib/influxdb/wal"

[http]
  enabled = true
  bind-address = ":8086"
  auth-enabled = false

[[graphite]]
  enabled = true
  bind-address = ":2003"

[[udp]]
  enabled = true
`;

test('rewrites dirs, binds, reporting and disables the extra listeners', () => {
  const out = renderInfluxdConfig(base, {
    dir: '/tmp/x',
    httpBindAddress: '127.0.0.1:1234',
    rpcBindAddress: '127.0.0.1:1235',
    authEnabled: true,
  });
  assert.match(out, /^reporting-enabled = false$/m);
  assert.match(out, /^bind-address = "127\.0\.0\.1:1235"$/m);
  assert.match(out, /\[meta\]\n {2}dir = "\/tmp\/x\/meta"/);
  assert.match(out, /wal-dir = "\/tmp\/x\/wal"/);
  assert.match(out, /\[http\]\n {2}enabled = true\n {2}bind-address = "127\.0\.0\.1:1234"\n {2}auth-enabled = true/);
  assert.match(out, /\[\[graphite\]\]\n {2}enabled = false\n {2}bind-address = ":2003"/);
  assert.match(out, /\[\[udp\]\]\n {2}enabled = false/);
  assert.doesNotMatch(out, /:8086|\/var\/lib/);
});

test('the coordinator write timeout is set when asked (above the client timeout), left alone otherwise', () => {
  const withCoordinator = `${base}\n[coordinator]\n  write-timeout = "10s"\n  max-concurrent-queries = 0\n`;
  const o = { dir: '/d', httpBindAddress: '127.0.0.1:1', rpcBindAddress: '127.0.0.1:2' };
  assert.match(
    renderInfluxdConfig(withCoordinator, { ...o, writeTimeoutMs: 90_000 }),
    /\[coordinator\]\n {2}write-timeout = "90s"\n {2}max-concurrent-queries = 0/,
  );
  assert.match(renderInfluxdConfig(withCoordinator, o), /write-timeout = "10s"/);
});

test('adds keys a section lacks', () => {
  const out = renderInfluxdConfig('[http]\n  enabled = true\n', {
    dir: '/d',
    httpBindAddress: '127.0.0.1:1',
    rpcBindAddress: '127.0.0.1:2',
  });
  assert.match(out, /bind-address = "127\.0\.0\.1:1"/);
  assert.match(out, /auth-enabled = false/);
});
