/** Time reaches logic through a Clock so tests can fake it instead of sleeping. */
export interface Clock {
  /** Wall clock, microseconds since epoch (integer). */
  nowUs(): number;
  /** Wall clock, milliseconds since epoch. */
  nowMs(): number;
  /** Monotonic milliseconds (for ages, timeouts and backoff). */
  monoMs(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

const originNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

/** The real clock: wall time in µs derived from hrtime so successive reads have µs resolution. */
export const systemClock: Clock = {
  nowUs: () => Number((originNs + process.hrtime.bigint()) / 1000n),
  nowMs: () => Date.now(),
  monoMs: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/** A clock tests move by hand. */
export class FakeClock implements Clock {
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  constructor(private ms = 1_700_000_000_000) {}
  nowUs(): number {
    return this.ms * 1000;
  }
  nowMs(): number {
    return this.ms;
  }
  monoMs(): number {
    return this.ms;
  }
  setTimeout(fn: () => void, ms: number): { cancel(): void } {
    const id = this.nextId++;
    this.timers.push({ at: this.ms + ms, fn, id });
    return { cancel: () => (this.timers = this.timers.filter((t) => t.id !== id)) };
  }
  /** Move time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.ms + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.ms = next.at;
      next.fn();
    }
    this.ms = end;
  }
}

/** Parse an RFC 3339 time with up to 9 fractional digits into integer µs since epoch, exactly. */
export function rfc3339ToUs(text: string): number | null {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return null;
  const secMs = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(secMs)) return null;
  const frac = (m[2] ?? '').padEnd(6, '0').slice(0, 6);
  return secMs * 1000 + Number(frac);
}

/** OANDA-style epoch seconds with a fraction ("1477585526.123456789") into µs, exactly. */
export function epochSecondsTextToUs(text: string): number | null {
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * 1_000_000 + Number((m[2] ?? '').padEnd(6, '0').slice(0, 6));
}
