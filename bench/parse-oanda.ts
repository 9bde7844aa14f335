/**
 * OANDA parse benchmark: PRICE lines split from chunks, parsed and normalised per second on one
 * core, from the recorded fixtures looped for ~2 s. Prints nothing; bench/run.ts reports.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createLineSplitter } from '../src/venues/oanda/lines.js';
import { createOandaReplaySession } from '../src/venues/oanda/session.js';

const FIXTURES = fileURLToPath(new URL('../../shared/fixtures/recorded/oanda/', import.meta.url));
const CHUNK_BYTES = 16 * 1024;

export async function run(opts: { durationMs?: number } = {}): Promise<{ oanda_per_s: number }> {
  const durationMs = opts.durationMs ?? 2000;
  const priceLines = readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(FIXTURES + f, 'utf8').split('\n'))
    .filter((l) => l.includes('"PRICE"'));
  if (priceLines.length === 0) throw new Error(`no PRICE lines in ${FIXTURES}`);
  // ~1 MB of stream, cut into fixed-size chunks that ignore line boundaries like the real wire.
  const reps = Math.ceil((1024 * 1024) / priceLines.join('\n').length);
  const stream = Buffer.from(Array.from({ length: reps }, () => priceLines.join('\n') + '\n').join(''), 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < stream.length; i += CHUNK_BYTES) chunks.push(stream.subarray(i, i + CHUNK_BYTES));

  const splitter = createLineSplitter();
  const session = createOandaReplaySession();
  let records = 0;
  let sink = 0;
  const pass = () => {
    for (const c of chunks) {
      for (const item of splitter.push(c)) {
        if (!('line' in item)) continue;
        const r = session.onFrame({ text: item.line, receivedAtUs: 1 });
        records += r.records.length;
        sink += r.errors.length;
      }
    }
  };
  pass(); // warm up the JIT
  records = 0;
  const start = performance.now();
  let elapsed = 0;
  while ((elapsed = performance.now() - start) < durationMs) pass();
  if (sink !== 0) throw new Error(`benchmark input produced ${sink} parse errors`);
  await Promise.resolve();
  return { oanda_per_s: Math.round((records / elapsed) * 1000) };
}
