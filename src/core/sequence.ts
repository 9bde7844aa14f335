/**
 * Sequence tracking on the consumer side (pure state): per publisher session, the last seq seen.
 * A hole between two seqs of one session is loss on the bus (PUB dropped at its high-water mark,
 * or the subscriber was not connected); a new session id is a publisher restart.
 */
import type { BusRecord } from './records.js';

export interface SeqEvent {
  type: 'gap' | 'new_session';
  publisher: string;
  session: string;
  /** For gaps: first and last missing seq (inclusive). */
  first?: number;
  last?: number;
}

interface SessionState {
  publisher: string;
  last: number;
}

export class SequenceTracker {
  private readonly sessions = new Map<string, SessionState>();
  /** Publishers seen at least once: a later new session of theirs is a restart we watched happen. */
  private readonly publishers = new Set<string>();
  /** Records missing inside sessions, summed. */
  missing = 0;
  gaps = 0;
  sessionsSeen = 0;

  /**
   * @param opts.reportHead a subscriber that must store everything (nbpy's subscribers) treats the
   *   records of ANY session before the first one it received as missing (they were published while it
   *   was still connecting); observers such as the validator join mid-stream instead and only count
   *   what goes missing after they joined (and the head of sessions that start while they watch).
   */
  constructor(private readonly opts: { reportHead?: boolean } = {}) {}

  /**
   * Observe one record. Data records advance the session; heartbeats (whose seq is the last data seq
   * published) reveal loss at the tail. Returns the events this record reveals.
   */
  observe(r: BusRecord, coversTopic: (topic: string) => boolean = () => true): SeqEvent[] {
    const events: SeqEvent[] = [];
    const isHb = r.kind === 'heartbeat';
    // A heartbeat speaks for its data topic only if we receive that topic at all.
    if (isHb && !coversTopic(r.data_topic)) return events;
    let s = this.sessions.get(r.session);
    if (!s) {
      // Joining mid-stream: the first record seen sets the baseline; holes are counted after it.
      s = { publisher: r.publisher, last: r.seq };
      this.sessions.set(r.session, s);
      this.sessionsSeen++;
      events.push({ type: 'new_session', publisher: r.publisher, session: r.session });
      // A restart of a publisher we were already receiving: its new session starts at seq 1, so
      // anything before the first record we got from it was lost (typically sent before we
      // reconnected). The first session we ever see of a publisher is joined mid-stream instead.
      const head = isHb ? r.seq : r.seq - 1;
      if ((this.opts.reportHead || this.publishers.has(r.publisher)) && head >= 1) {
        this.gaps++;
        this.missing += head;
        events.push({ type: 'gap', publisher: r.publisher, session: r.session, first: 1, last: head });
      }
      this.publishers.add(r.publisher);
      return events;
    }
    // ZeroMQ keeps order per publisher connection and a publisher flushes its data before each
    // heartbeat, so a heartbeat whose seq is ahead of the data means the data in between was lost.
    if (r.seq > s.last + (isHb ? 0 : 1)) {
      const first = s.last + 1;
      const last = isHb ? r.seq : r.seq - 1;
      this.gaps++;
      this.missing += last - first + 1;
      events.push({ type: 'gap', publisher: r.publisher, session: r.session, first, last });
    }
    if (r.seq > s.last) s.last = r.seq;
    return events;
  }

  /**
   * Resume a session an earlier run of this process saw up to `last` (a persisted last-seen seq):
   * a later record of it beyond `last + 1` is a hole, and a new session of its publisher a restart.
   */
  seed(session: string, publisher: string, last: number): void {
    if (this.sessions.has(session)) return;
    this.sessions.set(session, { publisher, last });
    this.publishers.add(publisher);
  }

  /** Last data seq seen per session. */
  lastSeq(session: string): number | undefined {
    return this.sessions.get(session)?.last;
  }

  sessionCount(): number {
    return this.sessions.size;
  }
}
