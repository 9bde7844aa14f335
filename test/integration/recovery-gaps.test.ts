/**
 * Gap recovery on the bus with real processes (publisher on a simulated Kraken, subscriber into the
 * embedded store), small ZeroMQ high-water marks so a paused subscriber really loses messages on the bus:
 * (a) subscriber started 1.5 s after the publisher (the head of the session is a hole), then SIGSTOPped
 *     for 5 s at 20,000 records/s and resumed: the journal covers both holes and every record of the
 *     session is stored, no sequence gap;
 * (b) a journal far smaller than the pause: what it no longer had is stored as gap records whose ranges
 *     are exactly the seqs missing from the store, and counted as unrecovered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { getJson, makeStack, startProc, waitFor, type Proc, type Stack } from '../support/stack.js';

const SUB = 'kraken_influxdb_tick';
const PUB = 'kraken_tick';

async function setup(ratePerS: number, edit: (s: Stack) => void): Promise<Stack> {
  const stack = await makeStack({ backend: 'embedded', publishers: { [PUB]: ratePerS }, subscribers: [SUB], flushIntervalMs: 200 });
  const p = stack.config.publishers[0];
  p.sendHwm = 10;
  const s = stack.config.subscribers[0];
  s.rcvHwm = 10;
  s.recovery = { enabled: true, holdTimeoutMs: 30_000, maxHeldRecords: 500_000 };
  edit(stack);
  writeFileSync(stack.configPath, JSON.stringify(stack.config));
  return stack;
}

async function stop(p: Proc | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGCONT');
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 60_000);
  await p.exited;
  clearTimeout(t);
}

interface Stored {
  seqs: Set<number>;
  gaps: [number, number][];
}

/** Every seq of `session` stored (data measurement and non-gap events) and the sequence gap rows. */
async function readStore(stack: Stack, session: string): Promise<Stored> {
  const db = await DuckDBInstance.create(join(stack.config.dataDir, 'embedded', `${SUB}.duckdb`));
  const conn = await db.connect();
  try {
    const seqs = new Set<number>();
    const ticks = await conn.runAndReadAll(`SELECT seq FROM kraken_tick WHERE session = '${session}'`);
    for (const [seq] of ticks.getRows()) seqs.add(Number(seq));
    const ev = await conn.runAndReadAll(
      `SELECT kind, reason, seq, first_missing_seq, last_missing_seq FROM nbpy_events WHERE session = '${session}'`,
    );
    const gaps: [number, number][] = [];
    for (const [kind, reason, seq, first, last] of ev.getRows()) {
      if (kind === 'gap' && reason === 'sequence') gaps.push([Number(first), Number(last)]);
      else seqs.add(Number(seq));
    }
    gaps.sort((a, b) => a[0] - b[0]);
    return { seqs, gaps };
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/** Smallest seq (a loop: spreading 500,000 values into Math.min overflows the stack). */
function minOf(seqs: Set<number>): number {
  let m = Infinity;
  for (const v of seqs) if (v < m) m = v;
  return m;
}

/** Missing seqs of [min, max] as inclusive ranges. */
function holes(seqs: Set<number>, min: number, max: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = min; s <= max; s++) {
    if (seqs.has(s)) continue;
    const a = s;
    while (s + 1 <= max && !seqs.has(s + 1)) s++;
    out.push([a, s]);
  }
  return out;
}

/** Run publisher + subscriber, pause the subscriber `pauseMs`, resume, stop both; returns the session facts. */
async function pauseRun(stack: Stack, ratePerS: number, pauseMs: number, minRecovered: boolean, publisherFirstMs?: number) {
  let sub: Proc | undefined;
  let pub: Proc | undefined;
  const health = () => getJson(stack.subscriberPort(SUB), '/health');
  try {
    const startSub = async () => {
      sub = startProc(['subscriber', 'run', SUB], stack.configPath);
      await waitFor('subscriber ready', async () => (await health()).ready, 60_000);
    };
    // publisherFirstMs: the subscriber joins late, so the head of the session is a hole too (recovered
    // or lost before the pause's hole).
    if (publisherFirstMs === undefined) await startSub();
    pub = startProc(['publisher', 'run', PUB], stack.configPath);
    await waitFor('publisher session', () => pub!.lines.find((l) => l.msg === 'publisher starting'), 60_000);
    if (publisherFirstMs !== undefined) {
      await new Promise((r) => setTimeout(r, publisherFirstMs));
      await startSub();
    }
    if (!sub) throw new Error('no subscriber');
    const session = String(pub.lines.find((l) => l.msg === 'publisher starting')!.session);
    await waitFor('data flowing', async () => (await health()).points_written > 5000, 60_000);
    // The holes before the pause (the head of the session, when the subscriber connected late) are
    // resolved first and counted, so that what follows waits for the pause's own hole: a head hole
    // recovered alone once let the publisher be stopped before the pause's hole was even asked for,
    // and that hole then went unanswered.
    const base = await waitFor(
      'holes before the pause resolved',
      async () => {
        const h = await health();
        return h.held_records === 0 && h;
      },
      120_000,
      200,
    );

    // The fault: the subscriber frozen for `pauseMs` and, on a machine too slow to publish at the set
    // rate, until the publisher has sent what that rate would have sent in `pauseMs` (far more than the
    // socket and TCP buffers hold), so the bus really drops.
    const pubStatus = () => getJson(stack.publisherStatusPort(PUB), '/health');
    const before = await waitFor('publisher /health', async () => Number((await pubStatus()).last_seq), 60_000);
    const tStop = Date.now();
    sub.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, pauseMs));
    await waitFor(
      'the publisher sent a pause worth of records',
      async () => Number((await pubStatus()).last_seq) - before >= (ratePerS * pauseMs) / 1000,
      300_000,
      200,
    );
    sub.child.kill('SIGCONT');
    const tCont = Date.now() - tStop;
    // Everything up to here must have been seen (read, or counted missing) before the wait below may
    // end: the bus can drop again after the pause's hole while the subscriber works through its backlog.
    const sentByResume = Number((await pubStatus()).last_seq);

    // Loss on the bus happened and was dealt with: holes seen, nothing held any more.
    let lastHealth: unknown;
    const settled = await waitFor(
      'holes seen and resolved',
      async () => {
        const h = await health();
        lastHealth = h;
        const resolved = minRecovered ? h.recovered_gaps > base.recovered_gaps : h.unrecovered_gaps > base.unrecovered_gaps;
        const seenThrough = h.records_in + h.seq_missing; // the highest seq seen: every data record is one or the other
        return h.seq_gaps > base.seq_gaps && resolved && h.held_records === 0 && seenThrough >= sentByResume && h;
      },
      120_000,
      200,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; last /health: ${JSON.stringify(lastHealth)}`);
    });
    assert.ok(settled.seq_missing > base.seq_missing, 'the pause made the bus drop records');

    const pubFinal = await pubStatus().catch(() => undefined);
    await stop(pub);
    const last = Number(pub.lines.find((l) => l.msg === 'publisher stopped')?.last_seq);
    assert.ok(last > 0, 'publisher reported its last seq');
    // The tail (up to the publisher's final heartbeat) is released and written before we stop the subscriber.
    await waitFor(
      'subscriber caught up',
      async () => {
        const h = await health();
        return h.held_records === 0 && h.queue_depth === 0 && h;
      },
      120_000,
      200,
    );
    const final = await health();
    await stop(sub);
    const stored = await readStore(stack, session);
    // What the subscriber said about each range it could not recover (cause and range), for failure messages.
    // With the requests the subscriber made and what the publisher answered, so a failure explains itself.
    const lostLog = [
      ...sub.lines.filter((l) => String(l.msg).startsWith('sequence gap not recoverable')).map((l) => `${l.first}..${l.last} ${l.cause}`),
      ...sub.lines
        .filter((l) => /requesting retransmission|retransmission reply skipped/.test(String(l.msg)))
        .slice(0, 10)
        .map((l) => `subscriber: ${String(l.msg)} ${l.first ?? ''}..${l.last ?? ''}`),
      `paused ${tStop}+${tCont} ms`,
      // Connection events of both ends, at ms since the pause began (a request that never arrives).
      ...[...pub.lines.map((l) => ['publisher', l] as const), ...sub.lines.map((l) => ['subscriber', l] as const)]
        .filter(([, l]) => /retransmission connection/.test(String(l.msg)))
        .map(
          ([who, l]) => `${who} @${Number(l.time) - tStop}: ${String(l.event)} ${String(l.address)}${l.error ? ` ${String(l.error)}` : ''}`,
        ),
      ...pub.lines
        .filter((l) => /retransmission request/.test(String(l.msg)))
        .slice(0, 10)
        .map((l) => `publisher: ${String(l.msg)} ${l.first}..${l.last} records=${l.records} unavailable=${l.unavailable}`),
      ...sub.lines.filter((l) => /new connection/.test(String(l.msg))).map((l) => `subscriber: ${String(l.msg)}`),
      `subscriber retransmit ${JSON.stringify(final.retransmit)}`,
      `publisher journal ${JSON.stringify(pubFinal?.journal)}`,
    ].join('; ');
    return { session, last, stored, health: final, lostLog };
  } finally {
    await stop(pub);
    await stop(sub);
  }
}

test('(a) subscriber paused 5 s at 20,000 records/s: the journal covers it, every record stored', { timeout: 900_000 }, async () => {
  // A journal that covers the pause and the time the resumed subscriber takes to reach the first record
  // after the hole (it works through what it had queued first; on a slow machine that takes seconds, and
  // the default journal holds 10 s at this rate), with a hold timeout to match.
  const stack = await setup(20_000, (s) => {
    s.config.publishers[0].journal = { maxRecords: 3_000_000, maxAgeMs: 300_000, maxBytes: 1024 * 1024 * 1024 };
    s.config.subscribers[0].recovery = { enabled: true, holdTimeoutMs: 60_000, maxHeldRecords: 3_000_000 };
  });
  try {
    // The publisher starts 1.5 s before the subscriber: the head of the session is recovered first,
    // then the pause's hole, over the same retransmission connection.
    const { last, stored, health, lostLog } = await pauseRun(stack, 20_000, 5000, true, 1500);
    // In every run's output: whether the retransmission connection had to be replaced (resets).
    console.log(`# recovery (a): retransmit ${JSON.stringify(health.retransmit)}, repeated requests ${health.repeated_requests}`);
    // From seq 1: the head of the session, published before the subscriber connected, is recovered too.
    assert.deepEqual(stored.gaps, [], `no sequence gap stored (the subscriber said: ${lostLog})`);
    assert.deepEqual(holes(stored.seqs, 1, last).slice(0, 5), [], 'no seq missing in the store');
    assert.equal(stored.seqs.size, last, `count stored == last seq ${last} (first stored ${minOf(stored.seqs)})`);
    assert.ok(health.recovered_records > 0, 'records were recovered by retransmission');
    assert.equal(health.unrecovered_gaps, 0);
    assert.equal(health.unrecovered_records, 0);
  } finally {
    rmSync(stack.dir, { recursive: true, force: true });
  }
});

test('(b) pause longer than the journal: the gap is stored and counted with its exact range', { timeout: 900_000 }, async () => {
  // 10 s at 20,000/s is ~48 MB of bus payload: more than loopback TCP can buffer for the frozen
  // subscriber (here up to 32 MB received + 4 MB sent, tcp_rmem/tcp_wmem), so the bus must drop.
  // 5 s at 5,000/s (~6 MB) fitted into buffers grown by autotuning: one fresh-clone run saw no hole.
  const stack = await setup(20_000, (s) => {
    s.config.publishers[0].journal = { maxRecords: 2000, maxAgeMs: 500, maxBytes: 64 * 1024 * 1024 };
  });
  try {
    const { last, stored, health } = await pauseRun(stack, 20_000, 10_000, false);
    // From seq 1: on a slow machine the head of the session (published before the subscriber
    // connected) may be older than this small journal too, and is then stored as a gap like the pause.
    const missing = holes(stored.seqs, 1, last);
    assert.ok(stored.gaps.length >= 1, 'a sequence gap is stored');
    assert.deepEqual(stored.gaps, missing, 'the stored gap ranges are exactly the seqs missing from the store');
    const lost = missing.reduce((n, [a, b]) => n + b - a + 1, 0);
    // How much the bus drops is not fixed: the loopback TCP buffers hold part of the pause (up to
    // tens of thousands of records), and what they held arrives; what they did not is lost and older
    // than the journal by the time the subscriber asks. (Asserting more than the journal's 2,000
    // failed once with 1,817.)
    assert.ok(lost > 0, `lost ${lost}: records the journal no longer held`);
    assert.equal(health.unrecovered_gaps, stored.gaps.length);
    assert.equal(health.unrecovered_records, lost);
  } finally {
    rmSync(stack.dir, { recursive: true, force: true });
  }
});
