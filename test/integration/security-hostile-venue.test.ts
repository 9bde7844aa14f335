/**
 * Hostile input from a venue: a tiny WebSocket server (standing in for Kraken) that answers every
 * connection with a 128 MiB frame, and a tiny HTTP server (standing in for OANDA) that streams
 * 128 MiB lines. The publisher must stay up, count what it refused, and its RSS (from /proc) must
 * stay far below the size of one hostile frame.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readFileSync, rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { WebSocketServer } from 'ws';
import { spawnNbpy } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { testConfig } from '../support/config.js';

const HOSTILE_BYTES = 128 * 1024 * 1024;
/** RSS may grow by less than half of one hostile frame: holding any one of them whole would break this. */
const MAX_RSS_GROWTH_BYTES = HOSTILE_BYTES / 2;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && !line.startsWith('#')) sum += Number(line.split(' ').pop());
  return sum;
}

/** Sample the child's RSS every 50 ms until stopped; returns the maximum. */
function sampleRss(pid: number): { stop(): number } {
  let max = 0;
  const t = setInterval(() => {
    try {
      max = Math.max(max, rssBytes(pid));
    } catch {
      // exited: the test's liveness assertion reports it
    }
  }, 50);
  return {
    stop: () => {
      clearInterval(t);
      return max;
    },
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(t);
}

test('oversized WebSocket frames (Kraken): refused from the header, counted as reconnects, memory bounded', async () => {
  const big = Buffer.alloc(HOSTILE_BYTES, 0x61);
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise((r) => wss.once('listening', r));
  let connections = 0;
  wss.on('connection', (ws) => {
    connections++;
    ws.on('error', () => {});
    ws.send(big, { binary: false });
  });
  const port = (wss.address() as { port: number }).port;
  const tc = await testConfig((raw) => {
    raw.publishers = raw.publishers.filter((p) => p.name === 'kraken_tick');
    raw.publishers[0]!.source = { type: 'live', url: `ws://127.0.0.1:${port}` };
    raw.subscribers = [];
  });
  const statusPort = tc.config.publishers[0]!.statusPort;
  const child = spawnNbpy(['publisher', 'run', 'kraken_tick', '--config', tc.path]);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await waitFor('publisher status endpoint', async () => (await fetch(`http://127.0.0.1:${statusPort}/health`)).status > 0, 90_000);
    const baseline = rssBytes(child.pid!);
    const rss = sampleRss(child.pid!);
    await waitFor('4 hostile connections', async () => connections >= 4, 90_000);
    await waitFor('3 reconnects counted', async () => (await metric(statusPort, 'nbpy_reconnects_total')) >= 3, 90_000);
    const maxRss = rss.stop();
    assert.equal(child.exitCode, null, `publisher exited: ${out.slice(-2000)}`);
    const health = (await (await fetch(`http://127.0.0.1:${statusPort}/health`)).json()) as { records_out: number; reconnects: number };
    assert.ok(health.reconnects >= 3);
    assert.equal(health.records_out >= 0, true);
    assert.ok(
      maxRss - baseline < MAX_RSS_GROWTH_BYTES,
      `RSS grew ${((maxRss - baseline) / 1048576).toFixed(1)} MiB (baseline ${(baseline / 1048576).toFixed(1)} MiB) over ${connections} frames of ${HOSTILE_BYTES / 1048576} MiB`,
    );
  } finally {
    await stopChild(child);
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
    rmSync(tc.dir, { recursive: true, force: true });
  }
});

test('oversized lines on a stream (OANDA): dropped and counted, the connection and the publisher stay up, memory bounded', async () => {
  const LINES = 3;
  const chunk = Buffer.alloc(1024 * 1024, 0x61);
  const price = (i: number) =>
    `{"type":"PRICE","time":"2024-01-01T00:00:0${i}.000000000Z","bids":[{"price":"1.1","liquidity":1000000}],"asks":[{"price":"1.2","liquidity":1000000}],"closeoutBid":"1.1","closeoutAsk":"1.2","status":"tradeable","tradeable":true,"instrument":"EUR_USD"}\n`;
  let streamed = 0;
  const server: Server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.on('error', () => {});
    void (async () => {
      res.write(price(0));
      for (let l = 0; l < LINES; l++) {
        for (let sent = 0; sent < HOSTILE_BYTES; sent += chunk.length) {
          if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
          if (res.destroyed) return;
        }
        res.write(`\n${price(l + 1)}`);
        streamed++;
      }
      // Stay open (as a stream does) until the client goes.
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const tc = await testConfig((raw) => {
    raw.publishers = raw.publishers.filter((p) => p.name === 'oanda_tick');
    raw.publishers[0]!.source = { type: 'live', url: `http://127.0.0.1:${port}` };
    raw.publishers[0]!.instruments = ['EUR_USD'];
    raw.subscribers = [];
  });
  const statusPort = tc.config.publishers[0]!.statusPort;
  const child = spawnNbpy(['publisher', 'run', 'oanda_tick', '--config', tc.path], {
    env: { NBPY_OANDA_TOKEN: 'hostile-test-token-0000', NBPY_OANDA_ACCOUNT_ID: '101-000-0000000-001' },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await waitFor('publisher status endpoint', async () => (await fetch(`http://127.0.0.1:${statusPort}/health`)).status > 0, 90_000);
    const baseline = rssBytes(child.pid!);
    const rss = sampleRss(child.pid!);
    await waitFor(
      `${LINES} oversized lines counted`,
      async () => (await metric(statusPort, 'nbpy_parse_errors_total{reason="line_too_long"')) >= LINES,
      90_000,
    );
    await waitFor(
      'the price after the last oversized line',
      async () => (await metric(statusPort, 'nbpy_records_out_total')) >= LINES + 1,
      90_000,
    );
    const maxRss = rss.stop();
    assert.equal(streamed, LINES);
    assert.equal(child.exitCode, null, `publisher exited: ${out.slice(-2000)}`);
    assert.equal(await metric(statusPort, 'nbpy_reconnects_total'), 0, 'the stream was dropped instead of the lines');
    assert.ok(
      maxRss - baseline < MAX_RSS_GROWTH_BYTES,
      `RSS grew ${((maxRss - baseline) / 1048576).toFixed(1)} MiB (baseline ${(baseline / 1048576).toFixed(1)} MiB) over ${LINES} lines of ${HOSTILE_BYTES / 1048576} MiB`,
    );
    // One sample is logged for the first oversized line, bounded in size.
    assert.ok(out.length < 1024 * 1024, `publisher output is ${out.length} bytes`);
  } finally {
    await stopChild(child);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(tc.dir, { recursive: true, force: true });
  }
});
