/**
 * A publisher's session file (`<runDir>/sessions/<publisher>.json`): its current session and last seq,
 * rewritten every heartbeat and once more at a clean stop. The publisher writes it (restart gaps);
 * a stopping subscriber on the same host reads it to name exactly what it never read (docs/STORAGE.md).
 * Beside it, a clean stop saves the publisher's journal (`<publisher>.journal`, src/bus/journal-file.ts),
 * from which that subscriber takes those records instead (docs/RECOVERY.md).
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { PublishJournal } from '../bus/journal.js';
import { decodeJournalFile, encodeJournalFile } from '../bus/journal-file.js';

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

/**
 * A saved journal, or undefined when there is none or it cannot be read (then the stop reports a gap,
 * as without it). The file is read whole (up to the publisher's `journal.maxBytes`); its chunks are
 * decoded only when asked for.
 */
export function readJournalFile(cfg: Pick<Config, 'runDir'>, publisher: string): PublishJournal | undefined {
  const f = journalFilePath(cfg, publisher);
  try {
    if (!existsSync(f)) return undefined;
    const saved = decodeJournalFile(readFileSync(f));
    return PublishJournal.fromChunks(saved.session, saved.chunks);
  } catch {
    return undefined;
  }
}

/** A new session makes the previous one's saved journal useless: remove it (and any half-written one). */
export function removeJournalFile(cfg: Pick<Config, 'runDir'>, publisher: string): void {
  rmSync(journalFilePath(cfg, publisher), { force: true });
  rmSync(`${journalFilePath(cfg, publisher)}.tmp`, { force: true });
}
