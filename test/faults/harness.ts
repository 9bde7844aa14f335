/**
 * Fault-injection harness: a stack of nbpy processes against a private influxd, a witness on the bus,
 * and the one accounting rule every fault case asserts with.
 *
 * Accounting, per publisher session:
 *   published = the highest seq that left the publisher (its session file after a clean stop, or the
 *               highest seq an independent witness subscriber received when the publisher was killed);
 *   stored    = the distinct seqs of that session in the store (data measurements + events, except the
 *               subscriber's own `sequence` gap records, whose seq is a missing one);
 *   reported  = the seqs inside the stored `sequence` gap records (first_missing_seq..last_missing_seq);
 *   lost      = published - |stored|;  unreported = seqs in 1..published neither stored nor reported.
 * A case asserts `unreported` exactly (an empty list where nbpy guarantees no silent loss) and
 * `lost == reported`.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { BusSubscriber, tcpEndpoint } from '../../src/bus/subscriber.js';
import { startInfluxd, type TestInfluxd } from '../support/influxd.js';
import { runNbpy } from '../support/cli.js';
import { getJson, getText, makeStack, startProc, waitFor, type Proc, type Stack } from '../support/stack.js';

export { getJson, getText, startProc, waitFor, type Proc, type Stack, type TestInfluxd };

/**
 * A private influxd for the whole test file: started before its first case, resumed (a case may have
 * left it SIGSTOPped) and stopped after its last. Call once at the top level of a test file; the
 * getter returns the instance inside a case (it exists only once the `before` hook ran).
 */
export function useInfluxd(): () => TestInfluxd {
  let influx: TestInfluxd | undefined;
  before(async () => {
    influx = await startInfluxd();
  });
  after(async () => {
    influx?.resume();
    await influx?.stop();
  });
  return () => {
    if (!influx) throw new Error('influxd is not running: call useInfluxd() at the top level of the test file');
    return influx;
  };
}

/** A process's GET /health (subscriber port or publisher status port). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function health(port: number): Promise<any> {
  return getJson(port, '/health');
}

/** A fixed pause: only for a fault that is itself a duration (a store down for 60 s), never to wait for something. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface SimFaults {
  dropEveryMs?: number;
  stallEveryMs?: number;
  stallMs?: number;
  badChecksumRate?: number;
  garbageRate?: number;
}

export interface FaultStackOptions {
  influxUrl: string;
  /** A database of its own per case, so cases sharing one influxd never see each other's points. */
  database: string;
  publishers: Record<string, { ratePerS: number; faults?: SimFaults; weekend?: boolean; staleAfterMs?: number }>;
  subscribers: string[];
  subscriber?: { batchSize?: number; flushIntervalMs?: number; spoolMaxBytes?: number; rcvHwm?: number; overflowAfterMs?: number };
  phaseTimeoutMs?: number;
  requestTimeoutMs?: number;
}

/** What withFaultStack takes: FaultStackOptions, with `influxUrl` defaulting to the case's influxd. */
export type FaultCaseOptions = Omit<FaultStackOptions, 'influxUrl'> & { influxUrl?: string };

/** The suite's usual pipeline: the simulated Kraken ticker and its InfluxDB subscriber. */
export const PUB = 'kraken_tick';
export const SUB = 'kraken_influxdb_tick';

/** Options for a stack of just PUB at `ratePerS` and SUB, in a database of its own. */
export function tickerStack(
  database: string,
  ratePerS: number,
  more: Omit<FaultCaseOptions, 'database' | 'publishers' | 'subscribers'> = {},
): FaultCaseOptions {
  return { database, publishers: { [PUB]: { ratePerS } }, subscribers: [SUB], ...more };
}

/** A config derived from config/demo.json (free ports, temp dirs), with faults; database and RPs created. */
export async function makeFaultStack(o: FaultStackOptions): Promise<Stack> {
  const rates = Object.fromEntries(Object.entries(o.publishers).map(([k, v]) => [k, v.ratePerS]));
  const stack = await makeStack({
    backend: 'influxdb',
    influxUrl: o.influxUrl,
    publishers: rates,
    subscribers: o.subscribers,
    flushIntervalMs: o.subscriber?.flushIntervalMs ?? 200,
    phaseTimeoutMs: o.phaseTimeoutMs ?? 10_000,
  });
  const c = stack.config;
  c.influxdb.database = o.database;
  c.influxdb.requestTimeoutMs = o.requestTimeoutMs ?? 2000;
  for (const p of c.publishers) {
    const po = o.publishers[p.name]!;
    p.source = { type: 'simulated', ratePerS: po.ratePerS, seed: 1, faults: { ...po.faults } };
    if (po.weekend) p.source.weekend = true;
    if (po.staleAfterMs) p.staleAfterMs = po.staleAfterMs;
  }
  for (const s of c.subscribers) {
    s.batchSize = o.subscriber?.batchSize ?? 1000;
    if (o.subscriber?.spoolMaxBytes) s.spoolMaxBytes = o.subscriber.spoolMaxBytes;
    if (o.subscriber?.rcvHwm !== undefined) s.rcvHwm = o.subscriber.rcvHwm;
    if (o.subscriber?.overflowAfterMs !== undefined) s.overflowAfterMs = o.subscriber.overflowAfterMs;
  }
  writeFileSync(stack.configPath, JSON.stringify(c, null, 2));
  const r = await runNbpy(['retention', 'create', '--config', stack.configPath], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  return stack;
}

/** Every process a case starts, killed at the end whatever happened (SIGCONT first: some are stopped). */
export class Procs {
  private readonly all: Proc[] = [];
  start(args: string[], configPath: string): Proc {
    const p = startProc(args, configPath);
    this.all.push(p);
    return p;
  }
  async killAll(): Promise<void> {
    for (const p of this.all) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGCONT');
        p.child.kill('SIGKILL');
      }
    }
    await Promise.all(this.all.map((p) => p.exited));
  }
}

/** Wait until the subscriber on `port` has written more than `above` points. */
export function waitWritten(port: number, above: number, what = 'flowing'): Promise<unknown> {
  return waitFor(what, async () => (await health(port)).points_written > above, 60_000, 200);
}

/** What a case's body gets from withFaultStack. */
export interface FaultCase {
  stack: Stack;
  /** Start every process through this, so it is killed at the end whatever happened. */
  procs: Procs;
  /** The /health port of one of the stack's subscribers. */
  subscriberPort: (subscriber: string) => number;
  /** An independent witness on the bus (see Witness), closed at the end before the processes are killed. */
  witness: (ports: number[], topics: string[]) => Witness;
  /** Start `subscriber`, wait until it is ready, then start `publisher`: both processes and the publisher's session. */
  startPair: (subscriber: string, publisher: string) => Promise<{ sub: Proc; pub: Proc; session: string }>;
  /** accountFor `session` in what `subscriber` stored. */
  account: (subscriber: string, session: string, published: number) => Promise<Account>;
}

/**
 * One fault case: makes the stack (makeFaultStack; `influxUrl` defaults to `influx.url`), runs `body`,
 * and then, whatever happened, closes the case's witnesses, resumes influxd (the case may have
 * SIGSTOPped it), kills every process it started, runs `cleanup.afterKill` (e.g. closing a proxy in
 * front of influxd) and removes the stack's directory, in that order.
 */
export async function withFaultStack(
  influx: TestInfluxd,
  opts: FaultCaseOptions,
  body: (c: FaultCase) => Promise<void>,
  cleanup: { afterKill?: () => Promise<void> } = {},
): Promise<void> {
  const stack = await makeFaultStack({ ...opts, influxUrl: opts.influxUrl ?? influx.url });
  const procs = new Procs();
  const witnesses: Witness[] = [];
  try {
    await body({
      stack,
      procs,
      subscriberPort: (s) => stack.subscriberPort(s),
      witness: (ports, topics) => {
        const w = new Witness(ports, topics);
        witnesses.push(w);
        return w;
      },
      startPair: async (subscriber, publisher) => {
        const sub = procs.start(['subscriber', 'run', subscriber], stack.configPath);
        await waitReady(sub, stack.subscriberPort(subscriber));
        const pub = procs.start(['publisher', 'run', publisher], stack.configPath);
        return { sub, pub, session: await sessionOf(pub) };
      },
      account: (subscriber, session, published) => accountFor(storeView(influx, stack, subscriber), session, published),
    });
  } finally {
    for (const w of witnesses) await w.close();
    influx.resume();
    await procs.killAll();
    await cleanup.afterKill?.();
    rmSync(stack.dir, { recursive: true, force: true });
  }
}

/** Wait until a subscriber answers /health ready; fail at once (with its output) if it exited. */
export async function waitReady(p: Proc, port: number, what = 'subscriber'): Promise<void> {
  await waitFor(
    `${what} ready`,
    async () => {
      if (p.child.exitCode !== null || p.child.signalCode !== null)
        throw new Error(`${what} exited (${p.child.exitCode ?? p.child.signalCode}): ${p.stderr()} ${JSON.stringify(p.lines.slice(-5))}`);
      return (await health(port)).ready;
    },
    90_000,
    200,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; ${what} log: ${JSON.stringify(p.lines.slice(-5))} stderr: ${p.stderr().slice(-1500)}`);
  });
}

/** The session id a publisher process logged at start. */
export async function sessionOf(p: Proc): Promise<string> {
  const l = await waitFor('publisher starting', () => p.lines.find((x) => x.msg === 'publisher starting'), 60_000);
  return String(l.session);
}

/** The publisher's session file (written on every heartbeat and on a clean stop). */
export function sessionFile(stack: Stack, publisher: string): { session: string; last_seq: number; clean_stop: boolean } {
  return JSON.parse(readFileSync(join(stack.config.runDir, 'sessions', `${publisher}.json`), 'utf8'));
}

/** Stop a process with SIGTERM and require a clean exit. */
export async function stopClean(p: Proc, what: string): Promise<void> {
  p.child.kill('SIGTERM');
  const e = await p.exited;
  assert.equal(e.code, 0, `${what} exited with ${e.code}/${e.signal}: ${p.stderr()}`);
}

/**
 * An independent consumer of the bus (in the test process): what really left each publisher.
 * It must see every seq of a session from the first one it got (asserted by `holes`).
 */
export class Witness {
  readonly sessions = new Map<string, { publisher: string; first: number; max: number; count: number; holes: number }>();
  private readonly sub: BusSubscriber;
  private readonly done: Promise<void>;
  constructor(ports: number[], topics: string[]) {
    const sub = new BusSubscriber({ endpoints: ports.map((p) => tcpEndpoint('127.0.0.1', p)), topics, rcvHwm: 0 });
    this.sub = sub;
    this.done = (async () => {
      for await (const batch of sub.batches()) {
        for (const r of batch) {
          if (r.kind === 'heartbeat') continue;
          const s = this.sessions.get(r.session);
          if (!s) this.sessions.set(r.session, { publisher: r.publisher, first: r.seq, max: r.seq, count: 1, holes: 0 });
          else {
            if (r.seq !== s.max + 1) s.holes++;
            s.max = Math.max(s.max, r.seq);
            s.count++;
          }
        }
      }
    })().catch(() => undefined);
  }
  max(session: string): number {
    return this.sessions.get(session)?.max ?? 0;
  }
  async close(): Promise<void> {
    this.sub.close();
    await this.done;
  }
}

export interface StoreView {
  influx: TestInfluxd;
  database: string;
  retentionPolicy: string;
  /** Data measurements the subscriber writes. */
  measurements: string[];
  eventsMeasurement: string;
}

export function storeView(influx: TestInfluxd, stack: Stack, subscriber: string): StoreView {
  const sc = stack.config.subscribers.find((s: { name: string }) => s.name === subscriber);
  return {
    influx,
    database: stack.config.influxdb.database,
    retentionPolicy: sc.retentionPolicy ?? 'high_frequency',
    measurements: [...new Set(Object.values(sc.measurements as Record<string, string>))],
    eventsMeasurement: stack.config.influxdb.eventsMeasurement ?? 'nbpy_events',
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function rows(v: StoreView, q: string): Promise<any[][]> {
  const r = await v.influx.query(q, v.database);
  if (r.results?.[0]?.error) throw new Error(`${q}: ${r.results[0].error}`);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return (r.results?.[0]?.series ?? []).flatMap((s: any) => s.values ?? []);
}

const q = (s: string) => `'${s.replace(/'/g, "\\'")}'`;

/** Every seq of the session stored (duplicates kept, so they can be asserted away). */
export async function storedSeqs(v: StoreView, session: string): Promise<number[]> {
  const out: number[] = [];
  const rp = `"${v.retentionPolicy}"`;
  for (const m of v.measurements)
    for (const r of await rows(v, `SELECT seq FROM ${rp}."${m}" WHERE "session" = ${q(session)}`)) out.push(r[1]);
  for (const r of await rows(
    v,
    `SELECT seq FROM ${rp}."${v.eventsMeasurement}" WHERE "session" = ${q(session)} AND "reason" != 'sequence'`,
  ))
    out.push(r[1]);
  return out;
}

/** The sequence gaps the subscriber stored for the session: [first, last] missing. */
export async function reportedGaps(v: StoreView, session: string): Promise<[number, number][]> {
  const rp = `"${v.retentionPolicy}"`;
  const rs = await rows(
    v,
    `SELECT first_missing_seq, last_missing_seq FROM ${rp}."${v.eventsMeasurement}" WHERE "session" = ${q(session)} AND "reason" = 'sequence'`,
  );
  return rs.map((r) => [r[1] as number, r[2] as number]);
}

/** Count of stored events of one reason (publisher gap records: reconnect, checksum, ...). */
export async function eventCount(v: StoreView, reason: string, publisher?: string): Promise<number> {
  const rp = `"${v.retentionPolicy}"`;
  const pub = publisher ? ` AND "publisher" = ${q(publisher)}` : '';
  const rs = await rows(v, `SELECT count(seq) FROM ${rp}."${v.eventsMeasurement}" WHERE "reason" = ${q(reason)}${pub}`);
  return (rs[0]?.[1] as number | undefined) ?? 0;
}

export interface Account {
  session: string;
  published: number;
  stored: number;
  duplicates: number;
  /** Seqs inside reported gap records. */
  reported: number;
  /** Reported seqs that are stored after all (a gap record that was wrong). */
  reportedButStored: number;
  lost: number;
  /** Ranges of seqs in 1..published neither stored nor reported. */
  unreported: [number, number][];
  unreportedCount: number;
  /** Stored seqs beyond `published` (published undercounted). */
  beyond: number;
}

export function account(session: string, published: number, stored: number[], gaps: [number, number][]): Account {
  const have = new Set(stored);
  const rep = new Set<number>();
  for (const [a, b] of gaps) for (let s = a; s <= b; s++) rep.add(s);
  const unreported: [number, number][] = [];
  let n = 0;
  let storedIn = 0;
  for (let s = 1; s <= published; s++) {
    if (have.has(s)) {
      storedIn++;
      continue;
    }
    if (rep.has(s)) continue;
    n++;
    const last = unreported[unreported.length - 1];
    if (last && last[1] === s - 1) last[1] = s;
    else unreported.push([s, s]);
  }
  return {
    session,
    published,
    stored: storedIn,
    duplicates: stored.length - have.size,
    reported: rep.size,
    reportedButStored: [...rep].filter((s) => have.has(s)).length,
    lost: published - storedIn,
    unreported,
    unreportedCount: n,
    beyond: [...have].filter((s) => s > published).length,
  };
}

export async function accountFor(v: StoreView, session: string, published: number): Promise<Account> {
  return account(session, published, await storedSeqs(v, session), await reportedGaps(v, session));
}

/** The common exact assertions: nothing twice, nothing beyond what was published, no wrong gap records. */
export function assertConsistent(a: Account): void {
  const tag = `session ${a.session}: ${JSON.stringify({ ...a, unreported: a.unreported.slice(0, 5) })}`;
  assert.ok(a.published > 0, `nothing published: ${tag}`);
  assert.equal(a.duplicates, 0, `seqs stored twice: ${tag}`);
  assert.equal(a.beyond, 0, `stored seqs beyond the published ${a.published}: ${tag}`);
  assert.equal(a.reportedButStored, 0, `a gap record names seqs that are stored: ${tag}`);
}

/**
 * lost = 0: every published record stored, no gap reported (after the silent head of a first session,
 * see assertLossReported, which is returned).
 */
export function assertNoLoss(a: Account, opts: { firstSession?: boolean } = {}): number {
  const head = assertLossReported(a, opts);
  const tag = JSON.stringify({ ...a, unreported: a.unreported.slice(0, 5) });
  assert.equal(a.reported, 0, `gap reported: ${tag}`);
  assert.equal(a.lost, head, tag);
  return head;
}

/** Alive and not a zombie (an orphan whose parent was SIGKILLed waits for init to reap it). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * lost == exactly what nbpy reported as sequence gaps; nothing silent. With `firstSession`, the one
 * silent loss the current subscriber has is allowed and returned: a head 1..k of the first session it
 * ever sees of a publisher (it joins that session mid-stream, e.g. when it connected after the
 * publisher's first sends); it must be a prefix, never a hole in the middle. With `tail`, a silent
 * tail k..published (see supervisor.test.ts) likewise. Returns the silent records allowed.
 */
export function assertLossReported(a: Account, opts: { firstSession?: boolean; tail?: boolean } = {}): number {
  assertConsistent(a);
  const tag = JSON.stringify({ ...a, unreported: a.unreported.slice(0, 5) });
  let allowed = 0;
  let rest = a.unreported;
  if (opts.firstSession && rest[0]?.[0] === 1) {
    allowed += rest[0][1];
    rest = rest.slice(1);
  }
  const last = rest[rest.length - 1];
  if (opts.tail && last && last[1] === a.published) {
    allowed += last[1] - last[0] + 1;
    rest = rest.slice(0, -1);
  }
  assert.deepEqual(rest, [], `records lost without a report: ${tag}`);
  assert.equal(a.lost, a.reported + allowed, tag);
  return allowed;
}

export function describe(a: Account): string {
  return `published=${a.published} stored=${a.stored} lost=${a.lost} reported=${a.reported} unreported=${a.unreportedCount}`;
}

/** Wait until the subscriber has written everything it holds (store up, no queue, no spool). */
export async function drained(port: number, timeoutMs = 240_000): Promise<void> {
  await waitFor(
    'subscriber drained',
    async () => {
      const h = await health(port);
      return h.store_up && h.spool_bytes === 0 && h.queue_depth === 0 && h;
    },
    timeoutMs,
    200,
  );
}
