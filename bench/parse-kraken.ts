/**
 * Kraken book throughput: messages of the recorded v1 book session (10 pairs, depth 1000) parsed,
 * applied to the books with every checksum verified, and normalised to depth records, per second on
 * one core. The recording is looped with fresh session state per pass. Prints nothing.
 */
import { fileURLToPath } from 'node:url';
import type { Frame } from '../src/venues/connector.js';
import { createKrakenReplaySession } from '../src/venues/kraken/session.js';
import { loadRecording } from '../src/venues/recording.js';

const FIXTURE = fileURLToPath(new URL('../../shared/fixtures/recorded/kraken/v1_book1000_10pairs_2021-04-17.jsonl', import.meta.url));

/** Run for at least `minMs` (default 2000) and report book messages per second. */
export async function run(minMs = 2000): Promise<{ kraken_book_per_s: number; checksums_verified: number; passes: number }> {
  const frames: Frame[] = loadRecording(FIXTURE);
  const bookFrames = frames.filter((f) => f.text.includes('"book-'));
  let books = 0;
  let verified = 0;
  let passes = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    const session = createKrakenReplaySession({ publishLevels: 10 });
    for (const f of bookFrames) {
      const r = session.onFrame(f);
      for (const rec of r.records) {
        if (rec.kind !== 'depth') continue;
        books++;
        if (rec.checksum !== null) {
          if (!rec.checksum_ok) throw new Error(`checksum failed in pass ${passes}: ${rec.instrument}`);
          verified++;
        }
      }
    }
    passes++;
    elapsed = performance.now() - t0;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { kraken_book_per_s: Math.round((books / elapsed) * 1000), checksums_verified: verified, passes };
}
