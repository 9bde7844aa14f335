/**
 * The sink contract: what a subscriber writes records into. One driver per backend
 * (storage/influx, storage/embedded); one contract test suite runs against every driver.
 */
import type { BusRecord } from '../core/records.js';

/** Where a batch of records goes: measurement per record kind, retention policy. */
export interface WriteTarget {
  /** Measurement per record kind (`{ tick: 'kraken_tick' }`); gap/status go to `eventsMeasurement`. */
  measurements: Readonly<Record<string, string>>;
  eventsMeasurement: string;
  retentionPolicy: string;
}

export const DROP_REASONS = [
  'bad_request',
  'partial_write',
  'field_type_conflict',
  'beyond_retention',
  'spool_full',
  'no_measurement',
  'invalid_record',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export interface WriteResult {
  /** Points the store accepted. */
  written: number;
  /** Points dropped, by reason (never silently: each reason is logged once with a sample). */
  dropped: Partial<Record<DropReason, number>>;
}

export interface Sink {
  readonly kind: 'influxdb' | 'embedded';
  /** Check reachability and create what is missing (database, tables, retention policies). */
  open(): Promise<void>;
  /** Write records. Throws an error with `retriable: true` when the store is unreachable. */
  write(records: readonly BusRecord[], target: WriteTarget): Promise<WriteResult>;
  /** Count points per measurement (optionally since a time, µs). */
  count(measurement: string, sinceUs?: number): Promise<number>;
  close(): Promise<void>;
}
