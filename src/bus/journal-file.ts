/**
 * A publisher's journal saved at its clean stop (`<runDir>/sessions/<publisher>.journal`), so a
 * subscriber still behind on the bus when the publisher exits can read the records it never got from
 * disk instead of only reporting them lost (docs/RECOVERY.md, "The tail at a stop").
 *
 * Layout: a 4-byte big-endian length, then a msgpack map `{v: 1, session, chunks: [[first, last,
 * bytes], ...]}`, then the chunks' payloads back to back (each a bus payload, `encodeBatch`), oldest
 * first. The index lets a reader decode only the chunks it needs. Pure: bytes in, bytes out.
 */
import { Packr } from 'msgpackr';
import type { JournalChunk } from './journal.js';

export const JOURNAL_FILE_VERSION = 1;

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export interface SavedJournal {
  session: string;
  chunks: JournalChunk[];
}

/** The file's bytes as a list of buffers (header, then the payloads as they are: nothing is copied). */
export function encodeJournalFile(session: string, chunks: readonly JournalChunk[]): Buffer[] {
  const header = packr.pack({ v: JOURNAL_FILE_VERSION, session, chunks: chunks.map((c) => [c.first, c.last, c.payload.length]) });
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  return [len, Buffer.from(header), ...chunks.map((c) => c.payload)];
}

/** Read a saved journal back; throws on anything that is not one (truncated, another version, bad index). */
export function decodeJournalFile(buf: Buffer): SavedJournal {
  if (buf.length < 4) throw new Error('journal file: shorter than its header length');
  const hlen = buf.readUInt32BE(0);
  if (4 + hlen > buf.length) throw new Error('journal file: truncated header');
  const h = packr.unpack(buf.subarray(4, 4 + hlen)) as { v?: unknown; session?: unknown; chunks?: unknown };
  if (h.v !== JOURNAL_FILE_VERSION) throw new Error(`journal file: version ${JSON.stringify(h.v)}, expected ${JOURNAL_FILE_VERSION}`);
  if (typeof h.session !== 'string' || !Array.isArray(h.chunks)) throw new Error('journal file: header lacks session or chunks');
  const chunks: JournalChunk[] = [];
  let at = 4 + hlen;
  for (const c of h.chunks as unknown[]) {
    if (!Array.isArray(c) || c.length !== 3 || !c.every((x) => Number.isSafeInteger(x) && (x as number) >= 0))
      throw new Error('journal file: bad chunk index entry');
    const [first, last, bytes] = c as [number, number, number];
    if (at + bytes > buf.length) throw new Error(`journal file: truncated (chunk ${first}..${last})`);
    chunks.push({ first, last, payload: buf.subarray(at, at + bytes) });
    at += bytes;
  }
  if (at !== buf.length) throw new Error(`journal file: ${buf.length - at} bytes after the last chunk`);
  return { session: h.session, chunks };
}
