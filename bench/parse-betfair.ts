/**
 * Betfair throughput: market change messages of every recorded Betfair fixture parsed, applied to the
 * change cache and normalised to runner/market records, per second on one core. The recordings are
 * looped with a fresh replay session per pass. Prints nothing.
 *
 * Also {@link measureCacheHeap}: the heap held by a cache of N markets with full-depth ladders.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BetfairCache } from '../src/venues/betfair/cache.js';
import { parseBetfairMessage, type ChangeMessage } from '../src/venues/betfair/parse.js';
import { createBetfairReplaySession } from '../src/venues/betfair/session.js';
import type { Frame } from '../src/venues/connector.js';
import { loadRecording } from '../src/venues/recording.js';

const DIR = fileURLToPath(new URL('../../shared/fixtures/recorded/betfair/', import.meta.url));

/** Run for at least `minMs` (default 2000) and report change messages per second. */
export async function run(minMs = 2000): Promise<{ betfair_per_s: number; records_per_s: number; mb_per_s: number; passes: number }> {
  const frames: Frame[] = readdirSync(DIR)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => loadRecording(DIR + f))
    .filter((f) => f.text.includes('"op":"mcm"'));
  const bytesPerPass = frames.reduce((n, f) => n + f.text.length, 0);
  let messages = 0;
  let records = 0;
  let passes = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    const session = createBetfairReplaySession({ depth: 3 });
    for (const f of frames) {
      const r = session.onFrame(f);
      if (r.errors.length) throw new Error(`parse error in pass ${passes}: ${r.errors[0]?.message}`);
      records += r.records.length;
    }
    messages += frames.length;
    passes++;
    elapsed = performance.now() - t0;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return {
    betfair_per_s: Math.round((messages / elapsed) * 1000),
    records_per_s: Math.round((records / elapsed) * 1000),
    mb_per_s: Math.round(((bytesPerPass * passes) / elapsed / 1000) * 10) / 10,
    passes,
  };
}

function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
}

/**
 * Heap held by a cache of `markets` markets, `runnersPerMarket` runners each, with full-depth
 * ladders of `levelsPerSide` prices per side plus traded volume at `levelsPerSide / 2` prices.
 * Built by applying one synthetic SUB_IMAGE per market (through the real parser).
 */
export function measureCacheHeap(opts: { markets?: number; runnersPerMarket?: number; levelsPerSide?: number } = {}): {
  markets: number;
  runners: number;
  levels: number;
  heap_bytes: number;
  bytes_per_market: number;
} {
  const markets = opts.markets ?? 500;
  const runnersPerMarket = opts.runnersPerMarket ?? 10;
  const levelsPerSide = opts.levelsPerSide ?? 100;
  const price = (i: number) => (101 + i) / 100;
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  const cache = new BetfairCache();
  for (let m = 0; m < markets; m++) {
    // built, parsed and applied one market at a time, so only the cache is left when we measure
    const rc = Array.from({ length: runnersPerMarket }, (_, r) => ({
      id: 1_000_000 + r,
      atb: Array.from({ length: levelsPerSide }, (_, i) => [price(i), 10 + ((i * 7 + r) % 900) + 0.37]),
      atl: Array.from({ length: levelsPerSide }, (_, i) => [price(levelsPerSide + i), 12 + ((i * 11 + r) % 700) + 0.51]),
      trd: Array.from({ length: levelsPerSide / 2 }, (_, i) => [price(levelsPerSide - 25 + i), 100 + i + 0.25]),
      ltp: price(levelsPerSide),
      tv: 123456.78,
    }));
    const text = JSON.stringify({
      op: 'mcm',
      pt: 1,
      clk: 'x',
      mc: [
        {
          id: `1.${String(200000000 + m)}`,
          img: true,
          marketDefinition: { status: 'OPEN', inPlay: false, version: 1, runners: rc.map((x) => ({ id: x.id, status: 'ACTIVE' })) },
          tv: 1,
          rc,
        },
      ],
    });
    const parsed = parseBetfairMessage(text);
    if (parsed.kind !== 'mcm') throw new Error('synthetic image did not parse');
    cache.apply(parsed as ChangeMessage);
  }
  collectGarbage();
  const heap = process.memoryUsage().heapUsed - before;
  if (cache.marketCount !== markets) throw new Error('cache lost markets');
  return {
    markets,
    runners: markets * runnersPerMarket,
    levels: markets * runnersPerMarket * levelsPerSide * 2.5,
    heap_bytes: heap,
    bytes_per_market: Math.round(heap / markets),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(JSON.stringify(await run()));
  console.log(JSON.stringify(measureCacheHeap()));
}
