/**
 * The publisher's journal: a bounded record of what one publisher session sent on the bus, so a
 * subscriber that saw a hole in `seq` can ask for the missing range (src/bus/retransmit.ts serves it).
 *
 * Records are kept msgpack-encoded in chunks (the bus codec, so a record costs its wire size, about
 * 200-400 bytes, instead of a JS object's kilobyte): memory is bounded by `maxBytes` exactly, by
 * `maxRecords`, and by age (`maxAgeMs`). Eviction drops whole chunks from the old end, so the journal
 * may hold up to one chunk fewer than `maxRecords`; what it holds is always one contiguous seq range.
 * Pure state: time comes in through `nowMs`.
 */
import type { BusRecord } from '../core/records.js';
import { decodeBatch, encodeBatch } from './codec.js';

export interface JournalOptions {
  /** Most records kept. */
  maxRecords: number;
  /** Oldest record kept, ms (by the time its chunk was sealed). */
  maxAgeMs: number;
  /** Most encoded bytes kept. */
  maxBytes: number;
  /** Records per encoded chunk (the eviction granularity). */
  chunkRecords?: number;
  /** Monotonic ms. */
  nowMs: () => number;
}

/** Records `first..last` of the session, as one bus payload (`encodeBatch`). */
export interface JournalChunk {
  first: number;
  last: number;
  payload: Buffer;
}

interface Chunk extends JournalChunk {
  atMs: number;
}

export interface JournalRange {
  /** Records of the range the journal holds, in seq order. */
  records: BusRecord[];
  /** Inclusive seq ranges of the request the journal cannot give (evicted, never published, other session). */
  unavailable: [number, number][];
}

export interface JournalStats {
  records: number;
  bytes: number;
  chunks: number;
  /** Oldest and newest seq held (0 when empty). */
  first_seq: number;
  last_seq: number;
  evicted_records: number;
}

/**
 * `first..last` (at most `maxRecords` of it) out of chunks that hold one contiguous seq range, oldest
 * first: the records they hold, in seq order, and the parts of the request outside them. Only the
 * chunks that overlap the request are decoded (`decode(i)`: chunk i's records, in seq order), so a
 * reader can load them from disk one at a time (a saved journal, src/cli/session-file.ts).
 */
export function rangeOverChunks(
  chunks: readonly { first: number; last: number }[],
  first: number,
  last: number,
  maxRecords: number,
  decode: (i: number) => BusRecord[],
): JournalRange {
  const unavailable: [number, number][] = [];
  if (last < first) return { records: [], unavailable };
  const end = Math.min(last, first + maxRecords - 1);
  if (chunks.length === 0) return { records: [], unavailable: [[first, end]] };
  const oldest = chunks[0]!.first;
  const newest = chunks[chunks.length - 1]!.last;
  if (first < oldest) unavailable.push([first, Math.min(end, oldest - 1)]);
  const records: BusRecord[] = [];
  const lo = Math.max(first, oldest);
  const hi = Math.min(end, newest);
  if (lo <= hi) {
    // Chunks are contiguous and sorted: binary search the first one that holds `lo`.
    let a = 0;
    let b = chunks.length - 1;
    while (a < b) {
      const m = (a + b) >> 1;
      if (chunks[m]!.last < lo) a = m + 1;
      else b = m;
    }
    for (let i = a; i < chunks.length && chunks[i]!.first <= hi; i++) {
      const c = chunks[i]!;
      const recs = decode(i);
      const from = Math.max(lo, c.first) - c.first;
      const to = Math.min(hi, c.last) - c.first;
      for (let k = from; k <= to; k++) records.push(recs[k]!);
    }
  }
  if (end > newest) unavailable.push([Math.max(first, newest + 1), end]);
  return { records, unavailable };
}

export class PublishJournal {
  private readonly chunks: Chunk[] = [];
  private pending: BusRecord[] = [];
  private bytes = 0;
  private count = 0;
  private evicted = 0;
  private readonly chunkRecords: number;

  constructor(
    readonly session: string,
    private readonly opts: JournalOptions,
  ) {
    // A chunk well under maxRecords, so evicting one whole chunk never empties a small journal.
    this.chunkRecords = Math.max(1, Math.min(opts.chunkRecords ?? 512, Math.floor(opts.maxRecords / 4)));
  }

  /** Append records just published (data records of this session, in seq order, no holes). */
  append(records: readonly BusRecord[]): void {
    for (const r of records) {
      if (r.session !== this.session || r.kind === 'heartbeat') continue;
      const newest = this.pending.length ? this.pending[this.pending.length - 1]!.seq : this.lastChunkSeq();
      // A journal is one contiguous range; anything else is a caller bug we refuse to paper over.
      if (newest !== 0 && r.seq !== newest + 1) throw new Error(`journal: seq ${r.seq} does not follow ${newest}`);
      this.pending.push(r);
      if (this.pending.length >= this.chunkRecords) this.seal();
    }
  }

  /**
   * Append records with their bus payload (`encodeBatch(records)`, as the publisher sent it): the
   * payload becomes a chunk as it is, so the records are not encoded twice. A batch larger than a
   * chunk, or one that is not all data records of this session, takes the {@link append} path.
   */
  appendEncoded(records: readonly BusRecord[], payload: Buffer): void {
    if (records.length === 0) return;
    const first = records[0]!;
    const last = records[records.length - 1]!;
    const plain =
      records.length <= this.chunkRecords &&
      this.pending.length === 0 &&
      first.session === this.session &&
      last.seq - first.seq === records.length - 1 &&
      records.every((r) => r.session === this.session && r.kind !== 'heartbeat');
    if (!plain) return this.append(records);
    const newest = this.lastChunkSeq();
    if (newest !== 0 && first.seq !== newest + 1) throw new Error(`journal: seq ${first.seq} does not follow ${newest}`);
    this.chunks.push({ first: first.seq, last: last.seq, atMs: this.opts.nowMs(), payload });
    this.bytes += payload.length;
    this.count += records.length;
    this.evict();
  }

  /** Encode what is pending into a chunk and apply the bounds. */
  seal(): void {
    if (this.pending.length) {
      const recs = this.pending;
      this.pending = [];
      const payload = encodeBatch(recs);
      this.chunks.push({ first: recs[0]!.seq, last: recs[recs.length - 1]!.seq, atMs: this.opts.nowMs(), payload });
      this.bytes += payload.length;
      this.count += recs.length;
    }
    this.evict();
  }

  private lastChunkSeq(): number {
    return this.chunks.length ? this.chunks[this.chunks.length - 1]!.last : 0;
  }

  private evict(): void {
    const now = this.opts.nowMs();
    while (this.chunks.length) {
      const c = this.chunks[0]!;
      const over = this.count > this.opts.maxRecords || this.bytes > this.opts.maxBytes || now - c.atMs > this.opts.maxAgeMs;
      if (!over) break;
      this.chunks.shift();
      this.bytes -= c.payload.length;
      const n = c.last - c.first + 1;
      this.count -= n;
      this.evicted += n;
    }
  }

  /**
   * The records `first..last` (inclusive) of `session`, at most `maxRecords` of them (the first ones
   * of the range); `unavailable` names the parts of `first..min(last, first + maxRecords - 1)` it does
   * not hold. Callers page through a long range by asking again from the next seq.
   */
  range(session: string, first: number, last: number, maxRecords = Number.MAX_SAFE_INTEGER): JournalRange {
    this.seal();
    // Another session's seqs are all unavailable: as from an empty journal.
    return rangeOverChunks(session === this.session ? this.chunks : [], first, last, maxRecords, (i) =>
      decodeBatch(this.chunks[i]!.payload),
    );
  }

  /** The chunks held, oldest first (what is pending is sealed first): for saving the journal at a clean stop. */
  chunkList(): readonly JournalChunk[] {
    this.seal();
    return this.chunks;
  }

  stats(): JournalStats {
    const pendingFirst = this.pending[0]?.seq ?? 0;
    const pendingLast = this.pending[this.pending.length - 1]?.seq ?? 0;
    return {
      records: this.count + this.pending.length,
      bytes: this.bytes,
      chunks: this.chunks.length,
      first_seq: this.chunks[0]?.first ?? pendingFirst,
      last_seq: pendingLast || this.lastChunkSeq(),
      evicted_records: this.evicted,
    };
  }
}
