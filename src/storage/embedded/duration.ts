/** InfluxDB duration literals (`7d`, `1h30m`, `INF`) as microseconds, for retention in the embedded store. */

const UNIT_US: Readonly<Record<string, number>> = {
  ns: 0.001,
  u: 1,
  µ: 1,
  ms: 1_000,
  s: 1_000_000,
  m: 60_000_000,
  h: 3_600_000_000,
  d: 86_400_000_000,
  w: 604_800_000_000,
};

/**
 * Parse an InfluxDB duration literal into µs. `INF` (any case) is `Infinity`: keep forever.
 * Returns null when the text is not a duration.
 */
export function parseDurationUs(text: string): number | null {
  if (/^inf$/i.test(text)) return Infinity;
  const re = /(\d+)(ns|u|µ|ms|s|m|h|d|w)/gy;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * UNIT_US[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos === 0 || pos !== text.length) return null;
  return Math.floor(total);
}
