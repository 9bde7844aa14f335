/**
 * A publisher's session file (`<runDir>/sessions/<publisher>.json`): its current session and last seq,
 * rewritten every heartbeat and once more at a clean stop. The publisher writes it (restart gaps);
 * a stopping subscriber on the same host reads it to name exactly what it never read (docs/STORAGE.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';

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
