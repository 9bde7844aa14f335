/**
 * CURVE on the bus: with the publisher as CURVE server, a reader holding the server's public key
 * receives records; a reader with the wrong server key, or none, receives nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusPublisher } from '../../src/bus/publisher.js';
import { BusSubscriber, tcpEndpoint } from '../../src/bus/subscriber.js';
import { curveClientKeys, curveServerKeys, generateCurveKeyPair, isCurveKey, type CurveClientKeys } from '../../src/bus/curve.js';
import { PublishJournal } from '../../src/bus/journal.js';
import { RetransmitClient, RetransmitServer, type RetransmitReply } from '../../src/bus/retransmit.js';
import { busSchema } from '../../src/config/schema.js';
import type { BusRecord, Draft } from '../../src/core/records.js';
import { freePorts } from '../support/ports.js';
import { runNbpy } from '../support/cli.js';

const tick = (i: number): Draft =>
  ({
    venue: 'kraken',
    kind: 'tick',
    ts_event_us: 1_700_000_000_000_000 + i,
    ts_recv_us: 1_700_000_000_000_000 + i,
    instrument: 'BTC/USD',
    bid: 100 + i,
    bid_qty: 1,
    ask: 101 + i,
    ask_qty: 1,
    last: 100.5,
    volume: 10,
  }) as unknown as Draft;

/** Receive data records until `want` arrived or the deadline passed (then resolve with what came). */
async function receive(sub: BusSubscriber, want: number, deadlineMs: number): Promise<BusRecord[]> {
  const got: BusRecord[] = [];
  const timer = setTimeout(() => sub.close(), deadlineMs);
  try {
    for await (const batch of sub.batches()) {
      for (const r of batch) if (r.kind !== 'heartbeat') got.push(r);
      if (got.length >= want) break;
    }
  } finally {
    clearTimeout(timer);
    sub.close();
  }
  return got;
}

test('CURVE: the right server key receives records, a wrong or missing one receives nothing', async () => {
  const server = generateCurveKeyPair();
  const wrong = generateCurveKeyPair();
  const curveCfg = busSchema.parse({ curve: { enabled: true } }).curve;
  const env = { NBPY_CURVE_SERVER_PUBLIC_KEY: server.publicKey, NBPY_CURVE_SERVER_SECRET_KEY: server.secretKey };
  const [port] = await freePorts(1);
  const endpoint = tcpEndpoint('127.0.0.1', port!);
  const pub = await BusPublisher.bind({
    endpoint,
    publisher: 'p',
    venue: 'kraken',
    topic: 'kraken.tick',
    curve: curveServerKeys(curveCfg, env),
  });
  const good = new BusSubscriber({ endpoints: [endpoint], topics: ['kraken.tick'], curve: curveClientKeys(curveCfg, env) });
  const bad = new BusSubscriber({
    endpoints: [endpoint],
    topics: ['kraken.tick'],
    curve: curveClientKeys(curveCfg, { NBPY_CURVE_SERVER_PUBLIC_KEY: wrong.publicKey }),
  });
  const plain = new BusSubscriber({ endpoints: [endpoint], topics: ['kraken.tick'] });
  let i = 0;
  // Keep publishing until the good reader has its records: PUB drops what is sent before a handshake completes.
  const timer = setInterval(() => pub.publish([tick(i++), tick(i++)]), 20);
  try {
    const badP = receive(bad, 1, 60_000);
    const plainP = receive(plain, 1, 60_000);
    // The other two readers were connected to the same endpoint the whole time the good one received.
    const okRecs = await receive(good, 200, 60_000);
    bad.close();
    plain.close();
    const [badRecs, plainRecs] = await Promise.all([badP, plainP]);
    assert.ok(okRecs.length >= 200, `authenticated reader got ${okRecs.length} records`);
    assert.equal(okRecs[0]!.topic, 'kraken.tick');
    assert.equal(badRecs.length, 0, 'reader with the wrong server key received records');
    assert.equal(plainRecs.length, 0, 'reader without CURVE received records');
  } finally {
    clearInterval(timer);
    good.close();
    bad.close();
    plain.close();
    await pub.close();
  }
});

test('CURVE keys: env wins over key file, missing keys name the variable and never echo a value', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-curve-'));
  const pair = generateCurveKeyPair();
  const file = join(dir, 'server.json');
  writeFileSync(file, JSON.stringify(pair));
  const cfg = busSchema.parse({ curve: { enabled: true, serverKeyFile: file } }).curve;
  assert.deepEqual(curveServerKeys(cfg, {}), pair);
  assert.equal(curveClientKeys(cfg, {})!.serverPublicKey, pair.publicKey);
  const other = generateCurveKeyPair();
  assert.equal(curveClientKeys(cfg, { NBPY_CURVE_SERVER_PUBLIC_KEY: other.publicKey })!.serverPublicKey, other.publicKey);
  assert.equal(curveServerKeys(busSchema.parse({}).curve, {}), undefined, 'off by default');

  const noFile = busSchema.parse({ curve: { enabled: true } }).curve;
  assert.throws(() => curveServerKeys(noFile, {}), /NBPY_CURVE_SERVER_SECRET_KEY/);
  const badSecret = 'not-a-key-but-a-secret-value-1234567890';
  assert.throws(
    () => curveServerKeys(noFile, { NBPY_CURVE_SERVER_PUBLIC_KEY: pair.publicKey, NBPY_CURVE_SERVER_SECRET_KEY: badSecret }),
    (e: Error) => /Z85/.test(e.message) && !e.message.includes(badSecret),
  );
  writeFileSync(file, `{ "secretKey": "${pair.secretKey}" oops`);
  assert.throws(
    () => curveServerKeys(cfg, {}),
    (e: Error) => /not JSON/.test(e.message) && !e.message.includes(pair.secretKey),
  );
});

test('nbpy bus keygen writes a 0600 key file and prints only the public key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbpy-keygen-'));
  const out = join(dir, 'bus-server.json');
  const r = await runNbpy(['bus', 'keygen', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const pair = JSON.parse(readFileSync(out, 'utf8')) as { publicKey: string; secretKey: string };
  assert.ok(isCurveKey(pair.publicKey) && isCurveKey(pair.secretKey));
  assert.equal(statSync(out).mode & 0o777, 0o600);
  assert.ok(r.stdout.includes(pair.publicKey));
  assert.ok(!r.stdout.includes(pair.secretKey) && !r.stderr.includes(pair.secretKey), 'secret key printed');
});

test('CURVE on retransmission: the right server key gets the journal back, no key gets no answer', async () => {
  const server = generateCurveKeyPair();
  const client = generateCurveKeyPair();
  const [port] = await freePorts(1);
  const endpoint = tcpEndpoint('127.0.0.1', port!);
  const journal = new PublishJournal('s-curve', { maxRecords: 1000, maxAgeMs: 60_000, maxBytes: 1 << 20, nowMs: () => 0 });
  journal.append(
    Array.from(
      { length: 10 },
      (_, i) => ({ ...tick(i), v: 1, topic: 'kraken.tick', publisher: 'p', session: 's-curve', seq: i + 1 }) as unknown as BusRecord,
    ),
  );
  const srv = await RetransmitServer.bind({ endpoint, journal, curve: server });
  const ask = async (curve: CurveClientKeys | undefined, deadlineMs: number): Promise<RetransmitReply[]> => {
    const replies: RetransmitReply[] = [];
    let done: () => void = () => {};
    const finished = new Promise<void>((r) => (done = r));
    const c = new RetransmitClient({
      endpoint,
      ...(curve ? { curve } : {}),
      onReply: (rep) => {
        replies.push(rep);
        if (rep.done) done();
      },
    });
    c.request('s-curve', 3, 7);
    const t = setTimeout(done, deadlineMs);
    await finished;
    clearTimeout(t);
    await c.close();
    return replies;
  };
  try {
    const ok = await ask({ serverPublicKey: server.publicKey, ...client }, 30_000);
    assert.deepEqual(
      ok.flatMap((r) => r.records.map((x) => x.seq)),
      [3, 4, 5, 6, 7],
    );
    // Without the server's key the handshake never completes: the request never reaches the journal.
    const none = await ask(undefined, 3000);
    assert.deepEqual(none, []);
    assert.equal(srv.stats.requests, 1, 'only the CURVE client was answered');
  } finally {
    await srv.close();
  }
});
