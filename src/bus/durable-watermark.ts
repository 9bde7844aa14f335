/**
 * How far each publisher session is safe in the store: the highest seq such that every record of
 * that session released to the storage pipeline up to it has been written, spooled to disk, or
 * dropped and counted. A subscriber persists this (not what it merely released) as the point to
 * resume from after its own restart, so a SIGKILL never skips records that were only in memory: they
 * are asked for again from the publisher's journal (docs/RECOVERY.md). Pure state, no I/O.
 */

interface Pending {
  /** seq -> records with that seq released and not yet durable (a gap record shares a seq). */
  seqs: Map<number, number>;
  lastReleased: number;
  /** A seq was released below an earlier one: the oldest is found by a scan, not by insertion order. */
  unordered: boolean;
}

export interface SeqRef {
  session: string;
  seq: number;
}

export class DurableWatermark {
  private readonly pending = new Map<string, Pending>();

  /** Records handed to the pipeline (per session, normally in seq order). */
  released(records: readonly SeqRef[]): void {
    for (const r of records) {
      let p = this.pending.get(r.session);
      if (!p) this.pending.set(r.session, (p = { seqs: new Map(), lastReleased: r.seq, unordered: false }));
      if (r.seq < p.lastReleased) p.unordered = true;
      p.lastReleased = r.seq;
      p.seqs.set(r.seq, (p.seqs.get(r.seq) ?? 0) + 1);
    }
  }

  /** Records the pipeline has made durable (or dropped and counted). Unknown ones are ignored. */
  durable(records: readonly SeqRef[]): void {
    for (const r of records) {
      const p = this.pending.get(r.session);
      const n = p?.seqs.get(r.seq);
      if (p === undefined || n === undefined) continue;
      if (n > 1) p.seqs.set(r.seq, n - 1);
      else p.seqs.delete(r.seq);
      if (p.seqs.size === 0) this.pending.delete(r.session);
    }
  }

  /** `releasedUpTo` lowered to just below the oldest record of `session` not yet durable. */
  bound(session: string, releasedUpTo: number): number {
    const p = this.pending.get(session);
    if (!p) return releasedUpTo;
    let oldest = Infinity;
    if (p.unordered) for (const s of p.seqs.keys()) oldest = Math.min(oldest, s);
    else oldest = p.seqs.keys().next().value ?? Infinity;
    return Math.min(releasedUpTo, oldest - 1);
  }

  /** Records released and not yet durable, over all sessions. */
  get outstanding(): number {
    let n = 0;
    for (const p of this.pending.values()) for (const c of p.seqs.values()) n += c;
    return n;
  }
}
