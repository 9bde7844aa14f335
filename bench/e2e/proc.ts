/**
 * CPU seconds and peak RSS of a process from /proc (Linux): utime+stime from /proc/<pid>/stat, the
 * peak resident set (VmHWM) and the current one (VmRSS) from /proc/<pid>/status. Pure parsing apart
 * from the reads, so the parsers can be tested on captured text.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let ticks: number | undefined;
/** Clock ticks per second (CLK_TCK), 100 on Linux unless told otherwise. */
export function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** utime + stime in clock ticks from the text of /proc/<pid>/stat (the comm field may hold spaces). */
export function parseStatTicks(text: string): number {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  return Number(rest[11]) + Number(rest[12]);
}

/** A `Name:   N kB` line of /proc/<pid>/status, in bytes; 0 when absent. */
export function parseStatusKb(text: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

export interface ProcSample {
  cpuS: number;
  rssBytes: number;
  peakRssBytes: number;
  /** Private resident memory (RssAnon): RSS less the file-backed pages (the node binary, shared libraries) every process maps alike. */
  anonBytes: number;
}

/** One reading, or undefined when the process is gone. */
export function readProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return {
      cpuS: parseStatTicks(stat) / clockTicks(),
      rssBytes: parseStatusKb(status, 'VmRSS'),
      peakRssBytes: parseStatusKb(status, 'VmHWM'),
      anonBytes: parseStatusKb(status, 'RssAnon'),
    };
  } catch {
    return undefined;
  }
}

/** Pids whose command line contains `needle` (to find a process nbpy started, e.g. influxd by its config path). */
export function pidsByCmdline(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(needle)) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

/** Tracks named processes: last CPU reading, peak RSS; keeps the last values after a process exits. */
export class ProcTracker {
  readonly procs = new Map<
    number,
    { name: string; kind: string; first?: ProcSample; last?: ProcSample; end?: ProcSample; peakRssBytes: number; peakAnonBytes: number }
  >();
  /** performance.now() at {@link markWindow} and {@link markEnd}. */
  windowStartMs?: number;
  windowEndMs?: number;

  track(pid: number, name: string, kind: string): void {
    if (!this.procs.has(pid)) this.procs.set(pid, { name, kind, peakRssBytes: 0, peakAnonBytes: 0 });
  }

  sample(): void {
    for (const [pid, p] of this.procs) {
      const s = readProc(pid);
      if (!s) continue;
      p.first ??= s;
      p.last = s;
      p.peakRssBytes = Math.max(p.peakRssBytes, s.peakRssBytes, s.rssBytes);
      p.peakAnonBytes = Math.max(p.peakAnonBytes, s.anonBytes);
    }
  }

  /** Mark the start of the measured window: CPU is reported from here. */
  markWindow(): void {
    this.windowStartMs = performance.now();
    for (const [pid, p] of this.procs) {
      const s = readProc(pid);
      if (s) p.first = s;
    }
  }

  /**
   * Mark the end of the measured window: CPU is reported up to here (not up to the last sample,
   * which may come after the latency tail wait). A process that exited keeps its last reading.
   */
  markEnd(): void {
    this.windowEndMs = performance.now();
    for (const [pid, p] of this.procs) {
      const s = readProc(pid);
      if (s) {
        p.last = s;
        p.peakRssBytes = Math.max(p.peakRssBytes, s.peakRssBytes, s.rssBytes);
        p.peakAnonBytes = Math.max(p.peakAnonBytes, s.anonBytes);
      }
      p.end = p.last;
    }
  }
}
