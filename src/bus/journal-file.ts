/**
 * A publisher's journal saved at its clean stop (`<runDir>/sessions/<publisher>.journal`), so a
 * subscriber still behind on the bus when the publisher exits can read the records it never got from
 * disk instead of only reporting them lost (docs/RECOVERY.md, "The tail at a stop").
 *
 * Layout: a 4-byte big-endian length, then a msgpack map `{v: 1, session, chunks: [[first, last,
 * bytes], ...]}`, then the chunks' payloads back to back (each a bus payload, `encodeBatch`), oldest
 * first. The index lets a reader load and decode only the chunks it needs (src/cli/session-file.ts
 * reads them from the file one at a time). Pure: bytes in, bytes out.
 */
import { Packr } from 'msgpackr';
import type { JournalChunk } from './journal.js';

export const JOURNAL_FILE_VERSION = 1;

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** The file's bytes as a list of buffers (header, then the payloads as they are: nothing is copied). */
export function encodeJournalFile(session: string, chunks: readonly JournalChunk[]): Buffer[] {
  const header = packr.pack({ v: JOURNAL_FILE_VERSION, session, chunks: chunks.map((c) => [c.first, c.last, c.payload.length]) });
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  return [len, Buffer.from(header), ...chunks.map((c) => c.payload)];
}

/** Where one chunk's payload lies in the file. */
export interface ChunkIndexEntry {
  first: number;
  last: number;
  /** Byte offset of the payload in the file. */
  offset: number;
  bytes: number;
}

export interface JournalFileIndex {
  session: string;
  chunks: ChunkIndexEntry[];
}

/** Bytes at the file's start that hold the index: the 4-byte length and what it counts. */
export function headerBytes(first4: Buffer): number {
  if (first4.length < 4) throw new Error('journal file: shorter than its header length');
  return 4 + first4.readUInt32BE(0);
}

/**
 * The index of a saved journal from its header (the file's first {@link headerBytes} bytes) and the
 * file's size: where each chunk lies. Throws on anything that is not a whole saved journal (another
 * version, a bad index, a file shorter or longer than the index says).
 */
export function decodeJournalIndex(header: Buffer, fileBytes: number): JournalFileIndex {
  const hlen = headerBytes(header);
  if (hlen > header.length || hlen > fileBytes) throw new Error('journal file: truncated header');
  const h = packr.unpack(header.subarray(4, hlen)) as { v?: unknown; session?: unknown; chunks?: unknown };
  if (h.v !== JOURNAL_FILE_VERSION) throw new Error(`journal file: version ${JSON.stringify(h.v)}, expected ${JOURNAL_FILE_VERSION}`);
  if (typeof h.session !== 'string' || !Array.isArray(h.chunks)) throw new Error('journal file: header lacks session or chunks');
  const chunks: ChunkIndexEntry[] = [];
  let at = hlen;
  for (const c of h.chunks as unknown[]) {
    if (!Array.isArray(c) || c.length !== 3 || !c.every((x) => Number.isSafeInteger(x) && (x as number) >= 0))
      throw new Error('journal file: bad chunk index entry');
    const [first, last, bytes] = c as [number, number, number];
    // One contiguous seq range, oldest first, as a journal holds it: a reader relies on it to name
    // what the file lacks.
    const prev = chunks[chunks.length - 1];
    if (last < first || (prev && first !== prev.last + 1))
      throw new Error(`journal file: chunk ${first}..${last} does not follow ${prev ? prev.last : 'the start'}`);
    if (at + bytes > fileBytes) throw new Error(`journal file: truncated (chunk ${first}..${last})`);
    chunks.push({ first, last, offset: at, bytes });
    at += bytes;
  }
  if (at !== fileBytes) throw new Error(`journal file: ${fileBytes - at} bytes after the last chunk`);
  return { session: h.session, chunks };
}
