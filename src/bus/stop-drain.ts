/**
 * When a stopping subscriber may close its bus intake. `nbpy stop` stops publishers first; what they
 * already sent may still sit in ZeroMQ's queues in the subscriber's own process (many seconds of it
 * behind a slow store), so a subscriber that closed its socket at SIGTERM would lose it. It reads on
 * until every publisher is either caught up (a heartbeat stamped after the stop began has arrived:
 * everything sent before it is in) or quiet (nothing from it for `quietMs`: stopped and drained), and
 * never longer than `maxMs`. Pure state, no I/O: the caller feeds it records and asks on a timer.
 */
import type { BusRecord } from '../core/records.js';

export type DrainState = 'reading' | 'drained' | 'limit';

export interface StopDrainOptions {
  /** Publisher names this subscriber reads from. */
  publishers: readonly string[];
  /** A publisher silent this long during a stop has nothing more in flight for this subscriber. */
  quietMs: number;
  /** The most the drain may take (then the intake closes whatever is still coming). */
  maxMs: number;
}

/** What the drain needs of a bus record. */
export interface DrainRecord {
  publisher: string;
  kind: string;
  ts_event_us: number;
}

export class StopDrain {
  private startMs = -1;
  private startUs = 0;
  private readonly lastSeen = new Map<string, number>();
  private readonly caughtUp = new Set<string>();

  constructor(private readonly o: StopDrainOptions) {}

  /** The stop began (monotonic ms, wall-clock µs as the publishers stamp heartbeats). Idempotent. */
  begin(nowMs: number, nowUs: number): void {
    if (this.startMs >= 0) return;
    this.startMs = nowMs;
    this.startUs = nowUs;
  }

  get started(): boolean {
    return this.startMs >= 0;
  }

  /** A record read from the bus at `nowMs`; ignored before the stop began. */
  observe(r: DrainRecord, nowMs: number): void {
    if (this.startMs < 0) return;
    this.lastSeen.set(r.publisher, nowMs);
    if (r.kind === 'heartbeat' && r.ts_event_us >= this.startUs) this.caughtUp.add(r.publisher);
  }

  /** Milliseconds since the stop began (0 before). */
  elapsedMs(nowMs: number): number {
    return this.startMs < 0 ? 0 : nowMs - this.startMs;
  }

  state(nowMs: number): DrainState {
    if (this.startMs < 0) return 'reading';
    if (nowMs - this.startMs >= this.o.maxMs) return 'limit';
    const settled = (p: string) =>
      this.caughtUp.has(p) || nowMs - Math.max(this.lastSeen.get(p) ?? this.startMs, this.startMs) >= this.o.quietMs;
    return this.o.publishers.every(settled) ? 'drained' : 'reading';
  }

  /** Publishers neither caught up nor quiet yet (for the log line at the limit). */
  pending(nowMs: number): string[] {
    return this.o.publishers.filter(
      (p) => !this.caughtUp.has(p) && nowMs - Math.max(this.lastSeen.get(p) ?? this.startMs, this.startMs) < this.o.quietMs,
    );
  }
}

/** What a publisher's session file says at the end of a stop drain (only what this needs of it). */
export interface FinalSeq {
  session: string;
  last_seq: number;
  /** When the file was written (for a clean stop: the stop), µs. */
  last_heartbeat_us: number;
  /** Only a clean stop's file holds the session's final seq; a running or killed publisher's is a lower bound. */
  clean_stop: boolean;
}

/** Seqs of a stopped publisher's session that this subscriber never read (first..last, inclusive). */
export interface UnreadRange {
  publisher: string;
  session: string;
  first: number;
  last: number;
  /** When the publisher stopped (its file's last_heartbeat_us), µs: the gap ends there. */
  endUs: number;
}

/**
 * After the drain: the seqs each publisher published and this subscriber never read, for publishers
 * that stopped cleanly in a session it was reading. Whatever caused them (the drain limit closed the
 * intake, or the publisher's linger ran out before its queue reached this subscriber), they will not
 * come over the bus: the caller takes them from the journal the publisher saved at its stop
 * ({@link takeFromSavedJournal}) or reports them. `readUpTo(session)` is the highest seq read of the
 * session (undefined when none was). A publisher still running, killed, on another host (no file), or
 * in a session this subscriber never read, gives nothing: its final seq is not known here, and a
 * running publisher's journal still serves the next run.
 */
export function unreadAtStop(
  publishers: readonly string[],
  finalSeq: (publisher: string) => FinalSeq | undefined,
  readUpTo: (session: string) => number | undefined,
): UnreadRange[] {
  const out: UnreadRange[] = [];
  for (const publisher of publishers) {
    const f = finalSeq(publisher);
    if (!f?.clean_stop) continue;
    const read = readUpTo(f.session);
    if (read === undefined || read >= f.last_seq) continue;
    out.push({ publisher, session: f.session, first: read + 1, last: f.last_seq, endUs: f.last_heartbeat_us });
  }
  return out;
}

/** What {@link takeFromSavedJournal} needs of a saved journal (openJournalFile in src/cli/session-file.ts reads one from disk). */
export interface SavedJournalSource {
  readonly session: string;
  range(session: string, first: number, last: number, maxRecords?: number): { records: BusRecord[]; unavailable: [number, number][] };
}

export interface TakeIo {
  /** Hand records to the store (the pipeline). */
  push(records: BusRecord[]): void;
  /** Room in memory for another page (the pipeline spools what it cannot write in time). */
  roomFor(): boolean;
  /** Out of time: what is not taken yet is reported instead. */
  deadlineReached(): boolean;
  /** Wait a little before asking roomFor() again (default 10 ms). */
  wait?: () => Promise<void>;
}

/** Why a range of an unread tail could not be taken from the saved journal. */
export type UntakenCause = 'no_saved_journal' | 'not_in_saved_journal' | 'stop_time_limit' | 'saved_journal_unreadable';

/**
 * Take the unread range `u` from the journal its publisher saved at its clean stop, a page at a time
 * and only while memory has room: `recovered` records were pushed (`lastTaken` is the newest of them),
 * `missing` are the inclusive ranges (merged, ascending) that were not, each with its cause: outside
 * the saved journal (evicted before the stop, or no journal of that session), left by the deadline,
 * or in a part of the file that does not decode to the records its index names. The caller reports
 * them as gaps. Never throws on a bad file.
 */
export async function takeFromSavedJournal(
  saved: SavedJournalSource | undefined,
  u: Pick<UnreadRange, 'session' | 'first' | 'last'>,
  io: TakeIo,
  pageRecords = 2000,
): Promise<{ recovered: number; lastTaken?: BusRecord; missing: [number, number, UntakenCause][] }> {
  const missing: [number, number, UntakenCause][] = [];
  const miss = (a: number, b: number, cause: UntakenCause) => {
    const l = missing[missing.length - 1];
    if (l && l[1] + 1 === a && l[2] === cause) l[1] = b;
    else missing.push([a, b, cause]);
  };
  if (!saved || saved.session !== u.session) return { recovered: 0, missing: [[u.first, u.last, 'no_saved_journal']] };
  const wait = io.wait ?? (() => new Promise<void>((r) => setTimeout(r, 10)));
  let recovered = 0;
  let lastTaken: BusRecord | undefined;
  let seq = u.first;
  while (seq <= u.last) {
    if (io.deadlineReached()) {
      miss(seq, u.last, 'stop_time_limit');
      break;
    }
    if (!io.roomFor()) {
      await wait();
      continue;
    }
    let r: { records: BusRecord[]; unavailable: [number, number][] };
    try {
      r = saved.range(u.session, seq, u.last, pageRecords);
      // The records must be exactly the seqs the index promised, one after another, from the first
      // seq of the page the journal does not call unavailable.
      const before = r.unavailable.find(([a]) => a === seq);
      const first = before ? before[1] + 1 : seq;
      if (!r.records.every((x, i) => x !== undefined && x.session === u.session && x.seq === first + i))
        throw new Error('records do not match the index');
    } catch {
      miss(seq, u.last, 'saved_journal_unreadable');
      break;
    }
    // The journal is one contiguous range: what it lacks of this page is before or after the records.
    for (const [a, b] of r.unavailable) miss(a, b, 'not_in_saved_journal');
    if (r.records.length) {
      io.push(r.records);
      recovered += r.records.length;
      lastTaken = r.records[r.records.length - 1];
    }
    seq = Math.min(u.last, seq + pageRecords - 1) + 1;
  }
  return { recovered, lastTaken, missing };
}
