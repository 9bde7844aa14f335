/**
 * Reading recorded venue sessions: `<name>.jsonl` (one raw venue message per line) with an optional
 * sibling `<name>.recv_ts` (one local receive time per line: epoch seconds with a fraction, or a
 * naive ISO time taken as UTC). Files written by nbpy's recorder (`.jsonl.gz`, one JSON object
 * `{"recv_us":..., "text":"..."}` per line) are read too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { epochSecondsTextToUs, rfc3339ToUs } from '../core/clock.js';
import type { Frame } from './connector.js';

/** Parse one `.recv_ts` line into µs since epoch. */
export function parseRecvTs(line: string): number | undefined {
  const t = line.trim();
  if (!t) return undefined;
  const epoch = epochSecondsTextToUs(t);
  if (epoch !== null) return epoch;
  const iso = rfc3339ToUs(/[zZ]|[+-]\d\d:\d\d$/.test(t) ? t : `${t}Z`);
  return iso ?? undefined;
}

/**
 * Load a recording as frames. Lines without a receive time get a synthetic one (1 ms apart from
 * `startUs`) so replays are deterministic.
 */
export function loadRecording(path: string, startUs = 0): Frame[] {
  const raw = readFileSync(path);
  const text = (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (path.endsWith('.gz')) {
    return lines.map((l) => {
      const o = JSON.parse(l) as { recv_us: number; text: string };
      return { text: o.text, receivedAtUs: o.recv_us };
    });
  }
  const tsPath = path.replace(/\.jsonl$/, '.recv_ts');
  const ts = tsPath !== path && existsSync(tsPath) ? readFileSync(tsPath, 'utf8').split('\n') : [];
  return lines.map((l, i) => ({ text: l, receivedAtUs: parseRecvTs(ts[i] ?? '') ?? startUs + i * 1000 }));
}
