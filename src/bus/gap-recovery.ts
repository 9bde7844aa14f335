/**
 * In-order release with gap recovery (pure state; the sockets are in retransmit.ts).
 *
 * Per publisher session, records are released strictly in seq order. When a hole opens (the
 * SequenceTracker saw one, or a persisted last-seen seq says so after a restart), the missing range is
 * requested from the publisher's journal and later records of that session are held until every
 * missing seq has either been retransmitted or been declared lost: by the publisher (the journal no
 * longer has it), by the hold deadline passing without progress, or because holding more would pass
 * `maxHeldRecords`. A lost range becomes a gap record (made by the caller's `gapRecord`) released at
 * its place in the sequence. Retransmitted or live records that arrive after their seq was released
 * or given up are dropped and counted.
 */
import type { BusRecord } from '../core/records.js';

export interface LostRange {
  publisher: string;
  session: string;
  first: number;
  last: number;
  /** ts_event_us of the last record released before the range (0 when none). */
  prevEventUs: number;
  /** The record after the range when known, else the latest record seen of the session. */
  context: BusRecord;
  /**
   * Why it is lost: the publisher's journal no longer has it (`not_in_journal`), no answer came within the
   * hold timeout (`no_answer`), or holding more records behind it would pass `maxHeldRecords` (`hold_limit`).
   */
  cause: LostCause;
}

export type LostCause = 'not_in_journal' | 'no_answer' | 'hold_limit';

export interface RecoveryRequest {
  publisher: string;
  session: string;
  first: number;
  last: number;
}

export interface GapRecoveryOptions {
  /** Give up on a hole when this long passes without progress on it, ms. */
  holdTimeoutMs: number;
  /** Most records held back behind open holes (over all sessions); past it the oldest hole is given up. */
  maxHeldRecords: number;
  /**
   * Ask again for what is still missing of a hole after this long without progress (a request or its
   * answer can be lost: a reconnect, a full queue); default a third of holdTimeoutMs, at most 5 s.
   */
  retryAfterMs?: number;
  /** Monotonic ms. */
  nowMs: () => number;
  onRequest: (req: RecoveryRequest) => void;
  /** The record stored for a lost range (kind gap, reason 'sequence'). */
  gapRecord: (lost: LostRange) => BusRecord;
}

export interface GapRecoveryStats {
  /** Holes whose every missing record was retransmitted. */
  gaps_recovered: number;
  records_recovered: number;
  /** Lost ranges released as gap records. */
  gaps_unrecovered: number;
  records_unrecovered: number;
  /** Records held now behind open holes. */
  held: number;
  /** Live or retransmitted records dropped because their seq was already released or given up. */
  duplicates: number;
  /** Requests repeated for holes without progress. */
  requests_repeated: number;
}

interface Hole {
  first: number;
  last: number;
  deadline: number;
  lost: boolean;
  /** When it was last asked for, or last made progress (monotonic ms). */
  askedAtMs: number;
}

interface SessionState {
  publisher: string;
  /** Next seq to release. */
  next: number;
  /** Highest seq known to exist (received or inside a hole). */
  maxSeen: number;
  held: Map<number, BusRecord>;
  holes: Hole[];
  /** Ranges the publisher said it cannot give. */
  lost: [number, number][];
  prevEventUs: number;
  ctx: BusRecord | undefined;
}

export class GapRecovery {
  private readonly sessions = new Map<string, SessionState>();
  private out: BusRecord[] = [];
  private heldTotal = 0;
  readonly stats: Omit<GapRecoveryStats, 'held'> = {
    gaps_recovered: 0,
    records_recovered: 0,
    gaps_unrecovered: 0,
    records_unrecovered: 0,
    duplicates: 0,
    requests_repeated: 0,
  };
  private readonly retryAfterMs: number;

  constructor(private readonly opts: GapRecoveryOptions) {
    this.retryAfterMs = opts.retryAfterMs ?? Math.min(5000, opts.holdTimeoutMs / 3);
  }

  /** A session last released up to `last` by an earlier run of this process. */
  seed(session: string, publisher: string, last: number): void {
    if (this.sessions.has(session)) return;
    this.sessions.set(session, this.fresh(publisher, last + 1));
  }

  private fresh(publisher: string, next: number): SessionState {
    // One session per publisher is live; an older one with nothing pending is done.
    for (const [k, s] of this.sessions) if (s.publisher === publisher && s.held.size === 0 && s.holes.length === 0) this.sessions.delete(k);
    return { publisher, next, maxSeen: next - 1, held: new Map(), holes: [], lost: [], prevEventUs: 0, ctx: undefined };
  }

  /**
   * A hole `first..last` in `session` (from the SequenceTracker). `context` is the record that revealed
   * it (a heartbeat's topic should already be its data topic).
   */
  hole(session: string, publisher: string, first: number, last: number, context: BusRecord): void {
    let s = this.sessions.get(session);
    if (!s) this.sessions.set(session, (s = this.fresh(publisher, first)));
    s.ctx = context;
    this.openHole(session, s, first, last);
    this.drain(session, s);
  }

  private openHole(session: string, s: SessionState, first: number, last: number): void {
    const from = Math.max(first, s.maxSeen + 1, s.next);
    if (from > last) return;
    const now = this.opts.nowMs();
    s.holes.push({ first: from, last, deadline: now + this.opts.holdTimeoutMs, lost: false, askedAtMs: now });
    s.maxSeen = last;
    this.opts.onRequest({ publisher: s.publisher, session, first: from, last });
  }

  /** A live data record from the bus. */
  accept(r: BusRecord): void {
    let s = this.sessions.get(r.session);
    if (!s) this.sessions.set(r.session, (s = this.fresh(r.publisher, r.seq)));
    s.ctx = r;
    if (r.seq < s.next || s.held.has(r.seq)) {
      this.stats.duplicates++;
      return;
    }
    if (s.held.size === 0 && r.seq === s.next && s.holes.length === 0) {
      // The common case: nothing outstanding, release at once.
      s.next++;
      if (r.seq > s.maxSeen) s.maxSeen = r.seq;
      this.release(s, r);
      return;
    }
    // A hole nobody reported (the tracker reports every one; this keeps the invariant regardless).
    if (r.seq > s.maxSeen + 1) this.openHole(r.session, s, s.maxSeen + 1, r.seq - 1);
    if (r.seq > s.maxSeen) s.maxSeen = r.seq;
    this.hold(s, r);
    this.drain(r.session, s);
  }

  /** Records retransmitted by the publisher for `session`. */
  recovered(session: string, records: readonly BusRecord[]): void {
    const s = this.sessions.get(session);
    if (!s) return;
    let progress = false;
    for (const r of records) {
      if (r.session !== session || r.kind === 'heartbeat') continue;
      if (r.seq < s.next || s.held.has(r.seq) || r.seq > s.maxSeen) {
        this.stats.duplicates++;
        continue;
      }
      this.hold(s, r);
      this.stats.records_recovered++;
      progress = true;
    }
    if (progress) this.touch(s);
    this.drain(session, s);
  }

  /** Ranges of `session` the publisher cannot give. */
  unavailable(session: string, ranges: readonly (readonly [number, number])[]): void {
    const s = this.sessions.get(session);
    if (!s) return;
    for (const [a, b] of ranges) if (b >= s.next && b >= a) s.lost.push([Math.max(a, s.next), b]);
    if (ranges.length) this.touch(s);
    this.drain(session, s);
  }

  /**
   * The publisher ended `session` (a clean stop: its journal went with it): what is still missing of
   * it is lost now (gap records at their places) and what was held behind it is released.
   */
  ended(session: string): void {
    const s = this.sessions.get(session);
    if (!s) return;
    const ranges: [number, number][] = [];
    let from = s.next;
    for (const k of [...s.held.keys()].sort((a, b) => a - b)) {
      if (k > from) ranges.push([from, k - 1]);
      from = k + 1;
    }
    if (from <= s.maxSeen) ranges.push([from, s.maxSeen]);
    this.unavailable(session, ranges);
  }

  /** The seqs of `session` from the first not yet released to the newest seen, when any is missing there. */
  openRange(session: string): [number, number] | undefined {
    const s = this.sessions.get(session);
    return s && s.next <= s.maxSeen && (s.holes.length > 0 || s.held.size > 0) ? [s.next, s.maxSeen] : undefined;
  }

  /** Apply deadlines and the memory bound (call it periodically). */
  tick(): void {
    for (const [k, s] of this.sessions) this.drain(k, s);
  }

  /** Records released since the last call, in order per session (gap records at their place). */
  take(): BusRecord[] {
    const o = this.out;
    this.out = [];
    return o;
  }

  /** Per session: the last seq released (what a restarted subscriber resumes from). */
  released(): { session: string; publisher: string; last: number }[] {
    return [...this.sessions].map(([session, s]) => ({ session, publisher: s.publisher, last: s.next - 1 }));
  }

  /** Holes still open, over all sessions. */
  openHoles(): number {
    let n = 0;
    for (const s of this.sessions.values()) n += s.holes.length;
    return n;
  }

  snapshot(): GapRecoveryStats {
    return { ...this.stats, held: this.heldTotal };
  }

  private hold(s: SessionState, r: BusRecord): void {
    s.held.set(r.seq, r);
    this.heldTotal++;
  }

  private touch(s: SessionState): void {
    const now = this.opts.nowMs();
    const d = now + this.opts.holdTimeoutMs;
    for (const h of s.holes) {
      h.deadline = d;
      h.askedAtMs = now;
    }
  }

  private release(s: SessionState, r: BusRecord): void {
    s.prevEventUs = r.ts_event_us;
    this.out.push(r);
  }

  private drain(session: string, s: SessionState): void {
    for (;;) {
      const r = s.held.get(s.next);
      if (r) {
        s.held.delete(s.next);
        this.heldTotal--;
        s.next++;
        this.release(s, r);
        this.closeHoles(s);
        continue;
      }
      if (s.next > s.maxSeen) break;
      // s.next is missing and known to exist.
      const lost = s.lost.find(([a, b]) => a <= s.next && s.next <= b);
      if (lost) {
        this.lose(session, s, s.next, lost[1], 'not_in_journal');
        continue;
      }
      const hole = s.holes.find((h) => h.first <= s.next && s.next <= h.last);
      const overLimit = this.heldTotal > this.opts.maxHeldRecords;
      const now = this.opts.nowMs();
      const expired = !hole || now >= hole.deadline || overLimit;
      if (!expired) {
        if (now - hole.askedAtMs >= this.retryAfterMs) {
          // No progress for a while: ask again for what is still missing of it.
          hole.askedAtMs = now;
          this.stats.requests_repeated++;
          this.opts.onRequest({ publisher: s.publisher, session, first: s.next, last: hole.last });
        }
        break;
      }
      let end = hole ? hole.last : s.maxSeen;
      for (const k of s.held.keys()) if (k > s.next && k - 1 < end) end = k - 1;
      this.lose(session, s, s.next, end, overLimit ? 'hold_limit' : 'no_answer');
    }
    if (s.lost.length) s.lost = s.lost.filter(([, b]) => b >= s.next);
  }

  /** Declare `first..last` lost: a gap record at its place, and skip it. */
  private lose(session: string, s: SessionState, first: number, last: number, cause: LostCause): void {
    for (const [k] of s.held)
      if (k <= last) {
        // Cannot happen for ranges computed above; kept so a held record is never silently stuck.
        s.held.delete(k);
        this.heldTotal--;
        this.stats.duplicates++;
      }
    for (const h of s.holes) if (h.first <= last && h.last >= first) h.lost = true;
    this.stats.gaps_unrecovered++;
    this.stats.records_unrecovered += last - first + 1;
    const context = s.held.get(last + 1) ?? s.ctx!;
    this.out.push(this.opts.gapRecord({ publisher: s.publisher, session, first, last, prevEventUs: s.prevEventUs, context, cause }));
    s.next = last + 1;
    this.closeHoles(s);
  }

  private closeHoles(s: SessionState): void {
    while (s.holes.length && s.holes[0]!.last < s.next) {
      const h = s.holes.shift()!;
      if (!h.lost) this.stats.gaps_recovered++;
    }
  }
}
