/**
 * RetentionAdmin: the store-side housekeeping every backend offers (storage/influx/admin.ts,
 * storage/embedded/...): create what the config describes, report, clean up, downsample.
 */

export interface RetentionPolicyInfo {
  name: string;
  /** As the store reports it (InfluxDB: Go duration text, "168h0m0s"; "0s" = infinite). */
  duration: string;
  shardDuration: string;
  replicaN?: number;
  default: boolean;
}

export interface MeasurementStats {
  measurement: string;
  retentionPolicy: string;
  points: number;
  /** Series (tag combinations) of the measurement in this policy; -1 when unknown. */
  series: number;
  first_us: number | null;
  last_us: number | null;
  points_last_minute: number;
}

export interface StoreStats {
  measurements: MeasurementStats[];
  /** Bytes on disk per retention policy, where the store reports it. */
  disk: { retentionPolicy: string; bytes: number }[];
}

export interface CleanupOptions {
  /** One measurement, or every measurement when absent. */
  measurement?: string;
  /** Duration literal such as 30d or 12h: points older than now minus this go. */
  olderThan: string;
  /** Count only; delete nothing. */
  dryRun: boolean;
}

export interface CleanupResult {
  dryRun: boolean;
  olderThan: string;
  /** Points that would be (dryRun) or were deleted, per measurement. */
  measurements: { measurement: string; points: number }[];
  total: number;
}

export interface DownsampleOptions {
  /** Window start, µs since epoch (rounded down to the minute). */
  since_us: number;
  /** Window end, exclusive, µs since epoch (rounded down to the minute). */
  until_us: number;
}

export interface RetentionAdmin {
  /** Create the database and retention policies from the config; idempotent. Lists what changed. */
  create(): Promise<{ changed: string[] }>;
  list(): Promise<RetentionPolicyInfo[]>;
  stats(): Promise<StoreStats>;
  cleanup(opts: CleanupOptions): Promise<CleanupResult>;
  /** 1-minute bars of the window into the long-term policy; re-running a window overwrites it. */
  downsample(opts: DownsampleOptions): Promise<{ points: number }>;
}
