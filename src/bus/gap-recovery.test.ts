import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BusRecord } from '../core/records.js';
import { GapRecovery, type LostRange, type RecoveryRequest } from './gap-recovery.js';

const rec = (seq: number, session = 's1'): BusRecord =>
  ({
    v: 1,
    topic: 'kraken.tick',
    venue: 'kraken',
    kind: 'tick',
    publisher: 'kraken_tick',
    session,
    seq,
    ts_event_us: 1000 * seq,
    ts_recv_us: 1000 * seq,
    instrument: 'BTC/USD',
  }) as BusRecord;
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => rec(a + i));

function setup(o: { holdTimeoutMs?: number; maxHeldRecords?: number } = {}) {
  let now = 0;
  const requests: RecoveryRequest[] = [];
  const lost: LostRange[] = [];
  const g = new GapRecovery({
    holdTimeoutMs: o.holdTimeoutMs ?? 1000,
    maxHeldRecords: o.maxHeldRecords ?? 1000,
    nowMs: () => now,
    onRequest: (r) => requests.push(r),
    gapRecord: (l) => {
      lost.push(l);
      return { ...l.context, kind: 'gap', seq: l.first, first_missing_seq: l.first, last_missing_seq: l.last } as unknown as BusRecord;
    },
  });
  const released: string[] = [];
  const take = () => {
    for (const r of g.take())
      released.push(r.kind === 'gap' ? `gap${(r as unknown as { first_missing_seq: number }).first_missing_seq}` : String(r.seq));
    return released.join(',');
  };
  return { g, requests, lost, take, advance: (ms: number) => (now += ms) };
}

describe('GapRecovery: a lost request or answer', () => {
  it('asks again for what is still missing after retryAfterMs without progress, then gives up at the hold timeout', () => {
    const { g, take, requests, lost, advance } = setup({ holdTimeoutMs: 3000 });
    g.accept(rec(1));
    g.hole('s1', 'kraken_tick', 2, 9, rec(10));
    g.accept(rec(10));
    assert.equal(requests.length, 1);
    advance(999);
    g.tick();
    assert.equal(requests.length, 1, 'not before retryAfterMs (a third of the hold timeout)');
    advance(1);
    g.tick();
    assert.deepEqual(requests[1], { publisher: 'kraken_tick', session: 's1', first: 2, last: 9 });
    // Part of it arrives: progress; the next request, after another quiet spell, is for the rest only.
    g.recovered('s1', range(2, 5));
    assert.equal(take(), '1,2,3,4,5');
    advance(1000);
    g.tick();
    assert.deepEqual(requests[2], { publisher: 'kraken_tick', session: 's1', first: 6, last: 9 });
    assert.equal(g.snapshot().requests_repeated, 2);
    advance(2000);
    g.tick();
    assert.deepEqual(
      lost.map((l) => [l.first, l.last, l.cause]),
      [[6, 9, 'no_answer']],
    );
    assert.equal(take(), '1,2,3,4,5,gap6,10');
  });
});

describe('GapRecovery: in-order release', () => {
  it('releases at once when nothing is missing', () => {
    const { g, take, requests } = setup();
    for (const r of range(5, 8)) g.accept(r);
    assert.equal(take(), '5,6,7,8');
    assert.equal(requests.length, 0);
  });

  it('holds later records behind a hole and releases everything in order once recovered', () => {
    const { g, take, requests } = setup();
    for (const r of range(1, 3)) g.accept(r);
    g.hole('s1', 'kraken_tick', 4, 6, rec(7));
    g.accept(rec(7));
    g.accept(rec(8));
    assert.equal(take(), '1,2,3');
    assert.deepEqual(requests, [{ publisher: 'kraken_tick', session: 's1', first: 4, last: 6 }]);
    g.recovered('s1', [rec(5), rec(4)]);
    assert.equal(take(), '1,2,3,4,5');
    g.recovered('s1', [rec(6), rec(6)]);
    assert.equal(take(), '1,2,3,4,5,6,7,8');
    assert.deepEqual(g.snapshot(), {
      gaps_recovered: 1,
      records_recovered: 3,
      gaps_unrecovered: 0,
      records_unrecovered: 0,
      held: 0,
      duplicates: 1,
      requests_repeated: 0,
    });
    g.accept(rec(7)); // a late duplicate
    assert.equal(g.snapshot().duplicates, 2);
  });

  it('stores the unavailable part as a gap at its place, with the exact range', () => {
    const { g, take, lost } = setup();
    g.accept(rec(1));
    g.hole('s1', 'kraken_tick', 2, 10, rec(11));
    g.accept(rec(11));
    g.recovered('s1', range(7, 10));
    g.unavailable('s1', [[2, 6]]);
    assert.equal(take(), '1,gap2,7,8,9,10,11');
    assert.equal(lost.length, 1);
    assert.equal(lost[0]!.first, 2);
    assert.equal(lost[0]!.last, 6);
    assert.equal(lost[0]!.prevEventUs, 1000);
    assert.equal(lost[0]!.context.seq, 7, 'gap end is the first record after it');
    assert.equal(lost[0]!.cause, 'not_in_journal');
    const s = g.snapshot();
    assert.equal(s.gaps_recovered, 0);
    assert.equal(s.gaps_unrecovered, 1);
    assert.equal(s.records_unrecovered, 5);
    assert.equal(s.records_recovered, 4);
  });

  it('gives up on a hole without progress after the deadline', () => {
    const { g, take, advance, lost } = setup({ holdTimeoutMs: 1000 });
    g.accept(rec(1));
    g.hole('s1', 'kraken_tick', 2, 4, rec(5));
    g.accept(rec(5));
    advance(600);
    g.recovered('s1', [rec(3)]); // progress moves the deadline
    advance(600);
    g.tick();
    assert.equal(take(), '1');
    advance(500);
    g.tick();
    assert.equal(take(), '1,gap2,3,gap4,5');
    assert.deepEqual(
      lost.map((l) => l.cause),
      ['no_answer', 'no_answer'],
    );
    assert.equal(g.snapshot().gaps_unrecovered, 2);
    assert.equal(g.snapshot().records_unrecovered, 2);
    g.recovered('s1', [rec(2)]); // too late
    assert.equal(g.snapshot().duplicates, 1);
    assert.equal(take(), '1,gap2,3,gap4,5');
  });

  it('bounds what it holds: past maxHeldRecords the hole is given up', () => {
    const { g, take, lost } = setup({ maxHeldRecords: 10, holdTimeoutMs: 1e9 });
    g.accept(rec(1));
    g.hole('s1', 'kraken_tick', 2, 2, rec(3));
    for (const r of range(3, 11)) g.accept(r);
    assert.equal(take(), '1');
    assert.equal(g.snapshot().held, 9);
    g.accept(rec(12));
    g.accept(rec(13));
    assert.equal(
      take(),
      '1,gap2,' +
        range(3, 13)
          .map((r) => r.seq)
          .join(','),
    );
    assert.equal(g.snapshot().held, 0);
    assert.deepEqual(
      lost.map((l) => l.cause),
      ['hold_limit'],
    );
  });

  it('a tail hole (seen from a heartbeat) waits with nothing held, then later records follow it', () => {
    const { g, take } = setup();
    g.accept(rec(1));
    g.hole('s1', 'kraken_tick', 2, 3, rec(3));
    g.accept(rec(4));
    g.recovered('s1', range(2, 3));
    assert.equal(take(), '1,2,3,4');
    assert.equal(g.snapshot().gaps_recovered, 1);
  });

  it('keeps sessions apart and resumes a seeded session', () => {
    const { g, take, requests } = setup();
    g.seed('s1', 'kraken_tick', 10);
    g.hole('s1', 'kraken_tick', 11, 14, rec(15));
    g.accept(rec(15));
    g.accept(rec(1, 's2'));
    assert.equal(take(), '1');
    assert.deepEqual(requests[0], { publisher: 'kraken_tick', session: 's1', first: 11, last: 14 });
    g.recovered('s1', range(11, 14));
    assert.equal(take(), '1,11,12,13,14,15');
    assert.deepEqual(
      g.released().find((x) => x.session === 's1'),
      { session: 's1', publisher: 'kraken_tick', last: 15 },
    );
  });

  it('two holes in one session: each requested, each counted', () => {
    const { g, take, requests } = setup();
    g.accept(rec(1));
    g.hole('s1', 'kraken_tick', 2, 2, rec(3));
    g.accept(rec(3));
    g.hole('s1', 'kraken_tick', 4, 5, rec(6));
    g.accept(rec(6));
    assert.equal(requests.length, 2);
    g.recovered('s1', range(4, 5));
    assert.equal(take(), '1');
    g.unavailable('s1', [[2, 2]]);
    assert.equal(take(), '1,gap2,3,4,5,6');
    assert.equal(g.snapshot().gaps_recovered, 1);
    assert.equal(g.snapshot().gaps_unrecovered, 1);
  });
});

describe('GapRecovery: the publisher ended the session (clean stop, journal gone)', () => {
  it('turns every hole still open into a gap at once and releases what was held, in order', () => {
    const { g, take, lost } = setup({ holdTimeoutMs: 60_000 });
    g.accept(rec(1));
    g.hole('s1', 'kraken_tick', 2, 3, rec(4));
    g.accept(rec(4));
    g.hole('s1', 'kraken_tick', 5, 6, rec(7));
    g.accept(rec(7));
    // A final heartbeat at seq 9 revealed a tail hole 8..9 with nothing behind it.
    g.hole('s1', 'kraken_tick', 8, 9, rec(9));
    assert.equal(take(), '1', 'held behind the first hole');
    g.ended('s1');
    assert.equal(take(), '1,gap2,4,gap5,7,gap8');
    assert.deepEqual(
      lost.map((l) => [l.first, l.last, l.cause]),
      [
        [2, 3, 'not_in_journal'],
        [5, 6, 'not_in_journal'],
        [8, 9, 'not_in_journal'],
      ],
    );
    assert.equal(g.snapshot().held, 0);
    assert.equal(g.openHoles(), 0);
  });

  it('openRange names what is still open, so a saved journal can fill it before ended()', () => {
    const { g, take, lost } = setup({ holdTimeoutMs: 60_000 });
    g.accept(rec(1));
    assert.equal(g.openRange('s1'), undefined, 'nothing missing');
    g.hole('s1', 'kraken_tick', 2, 3, rec(4));
    g.accept(rec(4));
    g.hole('s1', 'kraken_tick', 5, 6, rec(6));
    assert.deepEqual(g.openRange('s1'), [2, 6]);
    assert.equal(g.openRange('other'), undefined);
    // The saved journal holds 2..5 (6 was evicted): records already held are duplicates, not stored twice.
    g.recovered('s1', range(2, 5));
    g.ended('s1');
    assert.equal(take(), '1,2,3,4,5,gap6');
    assert.deepEqual(
      lost.map((l) => [l.first, l.last]),
      [[6, 6]],
    );
    assert.equal(g.openRange('s1'), undefined);
  });

  it('does nothing for a session with nothing missing, or one it does not know', () => {
    const { g, take, lost } = setup();
    g.accept(rec(1));
    g.accept(rec(2));
    g.ended('s1');
    g.ended('other');
    assert.equal(take(), '1,2');
    assert.deepEqual(lost, []);
  });
});
