/**
 * Size/age batching: a batch is handed on at `batchSize` items, at `maxBatchBytes` (estimated), or
 * `flushIntervalMs` after its first item arrived, whichever comes first. Time comes from a Clock so
 * tests move it by hand.
 */
import type { Clock } from '../core/clock.js';

export interface BatchSettings {
  /** Items (lines) per batch at most. */
  batchSize: number;
  /** Age of the oldest item at which the batch goes anyway, ms. */
  flushIntervalMs: number;
  /** Estimated bytes per batch at most (a single larger item still makes a batch of its own). */
  maxBatchBytes: number;
  /**
   * Age at which the very first batch goes (when shorter than `flushIntervalMs`): a service just
   * started shows in the store at once, not a flush interval later. Default: `flushIntervalMs`.
   */
  firstBatchMs?: number;
}

export type FlushCause = 'size' | 'bytes' | 'age' | 'manual';

export class Batcher<T> {
  private items: T[] = [];
  private bytes = 0;
  private timer: { cancel(): void } | undefined;
  private first = true;

  constructor(
    private readonly settings: BatchSettings,
    private readonly clock: Clock,
    private readonly onBatch: (items: T[], bytes: number, cause: FlushCause) => void,
    private readonly sizeOf: (item: T) => number = () => 0,
  ) {}

  /** Items waiting for the next batch. */
  get pending(): number {
    return this.items.length;
  }

  add(item: T): void {
    const size = this.sizeOf(item);
    if (this.items.length > 0 && this.bytes + size > this.settings.maxBatchBytes) this.emit('bytes');
    this.items.push(item);
    this.bytes += size;
    if (this.items.length === 1) {
      const { flushIntervalMs, firstBatchMs } = this.settings;
      const ageMs = this.first ? Math.min(firstBatchMs ?? flushIntervalMs, flushIntervalMs) : flushIntervalMs;
      this.timer = this.clock.setTimeout(() => this.emit('age'), ageMs);
    }
    if (this.items.length >= this.settings.batchSize) this.emit('size');
    else if (this.bytes >= this.settings.maxBatchBytes) this.emit('bytes');
  }

  addMany(items: Iterable<T>): void {
    for (const it of items) this.add(it);
  }

  /** Hand on whatever is waiting now. */
  flush(): void {
    if (this.items.length) this.emit('manual');
  }

  /** Stop the age timer (pending items stay until flush()). */
  close(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private emit(cause: FlushCause): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.first = false;
    const items = this.items;
    const bytes = this.bytes;
    this.items = [];
    this.bytes = 0;
    if (items.length) this.onBatch(items, bytes, cause);
  }
}
