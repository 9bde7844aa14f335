/**
 * A publisher's session file (`<runDir>/sessions/<publisher>.json`): its current session and last seq,
 * rewritten every heartbeat and once more at a clean stop. The publisher writes it (restart gaps);
 * a stopping subscriber on the same host reads it to name exactly what it never read (docs/STORAGE.md).
 * Beside it, a clean stop saves the publisher's journal (`<publisher>.journal`, src/bus/journal-file.ts),
 * from which that subscriber takes those records instead (docs/RECOVERY.md).
 */
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { rangeOverChunks, type PublishJournal } from '../bus/journal.js';
import { decodeJournalIndex, encodeJournalFile, headerBytes } from '../bus/journal-file.js';
import { decodeBatch } from '../bus/codec.js';
import type { SavedJournalSource } from '../bus/stop-drain.js';

export interface SessionFile {
  session: string;
  last_seq: number;
  last_heartbeat_us: number;
  /** True only in the file a clean stop leaves: last_seq is then the session's final seq. */
  clean_stop: boolean;
}

export function sessionFilePath(cfg: Pick<Config, 'runDir'>, publisher: string): string {
  return join(resolve(cfg.runDir), 'sessions', `${publisher}.json`);
}

/** The file, or undefined when it is absent or unreadable (a publisher on another host has none here; a
 * corrupt one costs the next session its restart gap, not its start). */
export function readSessionFile(cfg: Pick<Config, 'runDir'>, publisher: string): SessionFile | undefined {
  const f = sessionFilePath(cfg, publisher);
  try {
    return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as SessionFile) : undefined;
  } catch {
    return undefined;
  }
}

export function journalFilePath(cfg: Pick<Config, 'runDir'>, publisher: string): string {
  return join(resolve(cfg.runDir), 'sessions', `${publisher}.journal`);
}

/** Save the journal (fsync'd, then renamed into place); returns the bytes written. */
export function writeJournalFile(cfg: Pick<Config, 'runDir'>, publisher: string, journal: PublishJournal): number {
  const f = journalFilePath(cfg, publisher);
  const parts = encodeJournalFile(journal.session, journal.chunkList());
  const fd = openSync(`${f}.tmp`, 'w');
  let bytes = 0;
  let ok = false;
  try {
    for (const b of parts) {
      let off = 0;
      while (off < b.length) off += writeSync(fd, b, off, b.length - off);
      bytes += b.length;
    }
    fsyncSync(fd);
    ok = true;
  } finally {
    closeSync(fd);
    // A failed write (a full disk) leaves no half file behind.
    if (!ok) rmSync(`${f}.tmp`, { force: true });
  }
  renameSync(`${f}.tmp`, f);
  return bytes;
}

/** A saved journal opened for reading: chunks are read from the file as ranges ask for them. */
export interface SavedJournalFile extends SavedJournalSource {
  close(): void;
}

/** Exactly `n` bytes at `offset`; throws if the file ends first (it was cut after being opened). */
function readExactly(fd: number, offset: number, n: number): Buffer {
  const buf = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const k = readSync(fd, buf, got, n - got, offset + got);
    if (k === 0) throw new Error(`journal file: ended ${n - got} bytes short at ${offset + got}`);
    got += k;
  }
  return buf;
}

/**
 * A saved journal, or undefined when there is none or it cannot be read (then the stop reports a gap,
 * as without it). Only the index is read here; each range then reads and decodes just the chunks it
 * covers, so a stopping subscriber holds a page of records, not the whole file (up to the publisher's
 * `journal.maxBytes`). A chunk that cannot be read or decoded makes that range throw (the caller
 * reports the rest as `saved_journal_unreadable`). Close it when done.
 */
export function openJournalFile(cfg: Pick<Config, 'runDir'>, publisher: string): SavedJournalFile | undefined {
  const f = journalFilePath(cfg, publisher);
  let fd: number | undefined;
  try {
    if (!existsSync(f)) return undefined;
    fd = openSync(f, 'r');
    const size = fstatSync(fd).size;
    const index = decodeJournalIndex(readExactly(fd, 0, Math.min(size, headerBytes(readExactly(fd, 0, Math.min(size, 4))))), size);
    const file = fd;
    let closed = false;
    return {
      session: index.session,
      // Another session's seqs are all unavailable: as from an empty journal.
      range: (session, first, last, maxRecords = Number.MAX_SAFE_INTEGER) =>
        rangeOverChunks(session === index.session ? index.chunks : [], first, last, maxRecords, (i) => {
          const c = index.chunks[i]!;
          return decodeBatch(readExactly(file, c.offset, c.bytes));
        }),
      close: () => {
        if (!closed) closeSync(file);
        closed = true;
      },
    };
  } catch {
    if (fd !== undefined) closeSync(fd);
    return undefined;
  }
}

/** A new session makes the previous one's saved journal useless: remove it (and any half-written one). */
export function removeJournalFile(cfg: Pick<Config, 'runDir'>, publisher: string): void {
  rmSync(journalFilePath(cfg, publisher), { force: true });
  rmSync(`${journalFilePath(cfg, publisher)}.tmp`, { force: true });
}
