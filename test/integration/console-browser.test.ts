/**
 * The console in headless Chromium against real publisher processes (`nbpy publisher run`, simulated
 * venues, from config/demo.json with free ports): the page loads with no console errors, every feed
 * gets a chart that draws a growing number of points, a SIGSTOPped publisher shows as STALE, and a
 * screenshot is saved to artifacts/console.png.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startConsole, type ConsoleHandle } from '../../src/console/server.js';
import { openConsoleBus } from '../../src/cli/console.js';
import { launchBrowser, type TestBrowser } from '../support/browser.js';
import { collect, repoRoot, spawnNbpy } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { testConfig } from '../support/config.js';

const children: ChildProcess[] = [];
let con: ConsoleHandle | undefined;
let browser: TestBrowser | undefined;

after(async () => {
  await browser?.close();
  await con?.close();
  await Promise.all(
    children.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const done = collect(c, 20_000).catch(() => undefined);
      c.kill('SIGCONT');
      c.kill('SIGTERM');
      await done;
    }),
  );
});

test('console in Chromium: live charts from simulated publishers, a stopped publisher turns STALE, screenshot', async () => {
  const tc = await testConfig((raw) => {
    raw.subscribers = []; // the console reads the bus; no store is needed
  });
  const names = tc.config.publishers.map((p) => p.name);
  const procs = new Map<string, ChildProcess>();
  for (const name of names) {
    const child = spawnNbpy(['publisher', 'run', name, '--config', tc.path]);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.once('exit', (code) => {
      if (code !== 0 && code !== null) process.stderr.write(`publisher ${name} exited ${code}: ${stderr}\n`);
    });
    children.push(child);
    procs.set(name, child);
  }
  con = await startConsole({ config: tc.config, port: 0, bus: openConsoleBus(tc.config) });
  const topics = tc.config.publishers.map((p) => p.topic);
  const missing = () => {
    const st = con!.state();
    return topics.filter((t) => (st.topics.find((x) => x.topic === t)?.records ?? 0) === 0);
  };
  await waitFor('records on every topic', () => missing().length === 0, 90_000).catch((e: Error) => {
    const exits = [...procs].map(([n, c]) => `${n}: ${c.exitCode ?? c.signalCode ?? 'running'}`).join(', ');
    throw new Error(
      `${e.message}; none yet on ${missing().join(', ')}; publishers ${exits}; services ${JSON.stringify(con!.state().services.map((s) => [s.name, s.state, s.detail]))}`,
    );
  });

  browser = await launchBrowser();
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('requestfailed', (r) => {
    if (!r.url().endsWith('/events')) errors.push(`request failed: ${r.url()}`);
  });
  await page.goto(con.url);

  // One chart per (topic, instrument) appears for every feed and draws points.
  const pointsByTopic = () =>
    page.evaluate(() => {
      const out: Record<string, number> = {};
      const canvases = Array.from(document.querySelectorAll('canvas[data-chart]')) as HTMLCanvasElement[];
      for (const c of canvases) {
        const topic = (c.closest('.chart') as HTMLElement).dataset.topic!;
        out[topic] = (out[topic] ?? 0) + Number(c.dataset.points);
      }
      return out;
    });
  await waitFor('points drawn on a chart of every topic', async () => {
    const p = await pointsByTopic();
    return topics.every((t) => (p[t] ?? 0) > 0);
  });
  const first = await pointsByTopic();
  await waitFor('the charts keep growing', async () => {
    const p = await pointsByTopic();
    return topics.every((t) => (p[t] ?? 0) > first[t]!);
  });
  const visible = await page.$$eval('canvas[data-chart]', (cs) => cs.map((c) => Number((c as HTMLCanvasElement).dataset.visible ?? 0)));
  assert.ok(visible.filter((v) => v > 0).length >= topics.length, `charts with visible points: ${visible.join(',')}`);
  const rowState = (sel: string) => page.$eval(sel, (el) => (el as HTMLElement).dataset.state ?? '').catch(() => '');
  await waitFor(
    'every topic row OK',
    async () => {
      for (const t of topics) if ((await rowState(`#topics tr[data-topic="${t}"]`)) !== 'ok') return false;
      return true;
    },
    15_000,
  );

  // Freeze one publisher: no records, no heartbeats, no /health answers.
  const victim = tc.config.publishers.find((p) => p.name === 'kraken_orders')!;
  procs.get(victim.name)!.kill('SIGSTOP');
  const stoppedAt = Date.now();
  await waitFor(
    `${victim.topic} to show STALE`,
    async () => (await rowState(`#topics tr[data-topic="${victim.topic}"]`)) === 'stale',
    15_000,
  );
  const staleAfterMs = Date.now() - stoppedAt;
  assert.equal(await page.$eval(`#topics tr[data-topic="${victim.topic}"] .state`, (el) => el.textContent), 'STALE');
  await waitFor(
    `service ${victim.name} STALE`,
    async () => (await rowState(`#services tr[data-service="${victim.name}"]`)) === 'stale',
    10_000,
  );
  const color = await page.$eval(`#topics tr[data-topic="${victim.topic}"] .state`, (el) => getComputedStyle(el).backgroundColor);
  assert.equal(color, 'rgb(255, 77, 79)', 'STALE is marked in red');
  // The others stay live.
  const snap = con.state();
  for (const t of topics.filter((x) => x !== victim.topic))
    assert.equal(await rowState(`#topics tr[data-topic="${t}"]`), 'ok', `${t}: ${snap.topics.find((x) => x.topic === t)?.stale_reason}`);
  assert.ok(await page.$(`.chart.stale[data-topic="${victim.topic}"]`), 'the frozen feed’s charts are flagged');

  const dir = join(repoRoot, 'artifacts');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, 'console.png'), fullPage: true });
  assert.deepEqual(errors, [], 'no console errors');
  process.stderr.write(
    `# console-browser: STALE shown ${staleAfterMs} ms after SIGSTOP; points per topic ${JSON.stringify(await pointsByTopic())}\n`,
  );
});
