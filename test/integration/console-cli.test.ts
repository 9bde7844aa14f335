/** `nbpy console` as a user runs it: prints its URL, serves the page and /api/state, stops on SIGTERM. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collect, spawnNbpy, waitForOutput } from '../support/cli.js';
import { testConfig } from '../support/config.js';

test('nbpy console --port 0 --json: URL on stdout, page and /api/state served, exit 0 on SIGTERM', async () => {
  const tc = await testConfig();
  const child = spawnNbpy(['console', '--config', tc.path, '--port', '0', '--json']);
  const done = collect(child, 60_000);
  try {
    const out = await waitForOutput(child, /\{"url":"[^"]+"/, 30_000);
    const { url } = JSON.parse(out.trim().split('\n')[0]!) as { url: string };
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>nbpy console<\/title>/);
    assert.equal((await fetch(`${url}static/app.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
    const state = (await (await fetch(`${url}api/state`)).json()) as { topics: { topic: string }[]; services: { name: string }[] };
    assert.deepEqual(
      state.topics.map((t) => t.topic),
      [...tc.config.publishers.map((p) => p.topic)].sort(),
    );
    assert.equal(state.services.length, tc.config.publishers.length + tc.config.subscribers.length);
    assert.equal((await fetch(`${url}nope`)).status, 404);
  } finally {
    child.kill('SIGTERM');
  }
  const res = await done;
  assert.equal(res.code, 0, res.stderr);
});

test('nbpy console with a bad config exits 2 and names the problem', async () => {
  const res = await collect(spawnNbpy(['console', '--config', '/nonexistent/nbpy.json']), 30_000);
  assert.equal(res.code, 2);
  assert.match(res.stderr, /nonexistent/);
});
