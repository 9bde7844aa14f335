/**
 * The one schema for integration_config.json: validation, the `Config` type, defaults (every tunable
 * carries its unit in its name) and the JSON Schema printed by `nbpy config schema` all come from here.
 */
import { z } from 'zod';

const describeValue = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

/** A TCP port: 1-65535, with an error that says what it got. */
export const port = () =>
  z
    .int({ error: (iss) => `expected 1-65535, got ${describeValue(iss.input)}` })
    .min(1, { error: (iss) => `expected 1-65535, got ${describeValue(iss.input)}` })
    .max(65535, { error: (iss) => `expected 1-65535, got ${describeValue(iss.input)}` });

const positiveInt = (what: string) =>
  z.int({ error: (iss) => `expected ${what}, got ${describeValue(iss.input)}` }).positive({
    error: (iss) => `expected ${what}, got ${describeValue(iss.input)}`,
  });

const nonNegativeInt = (what: string) =>
  z.int({ error: (iss) => `expected ${what}, got ${describeValue(iss.input)}` }).min(0, {
    error: (iss) => `expected ${what}, got ${describeValue(iss.input)}`,
  });

/** A service or publisher name: lower snake case, usable in file names and metric labels. */
const name = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,62}$/, { error: (iss) => `expected a lower_snake_case name, got ${describeValue(iss.input)}` });

/** Name of the environment variable that holds a secret (the secret itself is never in the file). */
const envName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, { error: (iss) => `expected an environment variable name, got ${describeValue(iss.input)}` })
  .describe('Name of the environment variable holding the value; never the value itself.');

/** InfluxDB duration literal: 30d, 7d, 365d, 1h, 1w, INF. */
export const influxDuration = z.string().regex(/^(INF|inf|\d+(ns|u|µ|ms|s|m|h|d|w))+$/, {
  error: (iss) => `expected an InfluxDB duration such as 7d or 1h, got ${describeValue(iss.input)}`,
});

/** Host to bind or connect to. Loopback by default: nothing is exposed unless configured. */
const host = z.string().min(1).default('127.0.0.1');

const url = z.url({ error: (iss) => `expected a URL, got ${describeValue(iss.input)}` });

// ---------------------------------------------------------------- backing services

const provider = z
  .enum(['docker', 'process', 'external'])
  .describe('docker: docker compose; process: a local binary started and owned by nbpy; external: already running at url.');

const credentials = z
  .strictObject({
    usernameEnv: envName.optional(),
    passwordEnv: envName.optional(),
    tokenEnv: envName.optional(),
  })
  .default({});

export const influxBackingSchema = z.strictObject({
  provider: provider.default('process'),
  url: url.default('http://127.0.0.1:8086'),
  healthPath: z.string().default('/ping'),
  /** The `influxd` binary for the process provider. */
  binary: z.string().default('influxd'),
  /** docker compose service name for the docker provider. */
  composeService: z.string().default('influxdb'),
  credentials: credentials.default({ usernameEnv: 'NBPY_INFLUXDB_USER', passwordEnv: 'NBPY_INFLUXDB_PASSWORD' }),
  startTimeoutMs: positiveInt('a timeout in ms').default(20_000),
});

export const grafanaBackingSchema = z.strictObject({
  enabled: z.boolean().default(true),
  provider: provider.default('docker'),
  url: url.default('http://127.0.0.1:3000'),
  healthPath: z.string().default('/api/health'),
  composeService: z.string().default('grafana'),
  credentials: credentials.default({
    usernameEnv: 'NBPY_GRAFANA_USER',
    passwordEnv: 'NBPY_GRAFANA_PASSWORD',
    tokenEnv: 'NBPY_GRAFANA_TOKEN',
  }),
  startTimeoutMs: positiveInt('a timeout in ms').default(60_000),
});

// ---------------------------------------------------------------- InfluxDB and measurements

export const retentionPolicySchema = z.strictObject({
  name,
  duration: influxDuration,
  shardDuration: influxDuration,
  default: z.boolean().default(false),
});

export const FIELD_TYPES = ['float', 'integer', 'string', 'boolean'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export const measurementSchema = z.strictObject({
  /** Tag keys (indexed, strings). */
  tags: z.array(z.string().min(1)).default([]),
  /** Field keys and their InfluxDB types; a float is always written as a float. */
  fields: z.record(z.string().min(1), z.enum(FIELD_TYPES)),
});
export type MeasurementSchema = z.infer<typeof measurementSchema>;

export const influxdbSchema = z.strictObject({
  database: z.string().min(1).default('tick'),
  retentionPolicies: z
    .array(retentionPolicySchema)
    .min(1)
    .default([
      { name: 'default', duration: '30d', shardDuration: '1d', default: true },
      { name: 'high_frequency', duration: '7d', shardDuration: '1h', default: false },
      { name: 'long_term', duration: '365d', shardDuration: '7d', default: false },
    ]),
  /** Measurement for gap and status records of every publisher. */
  eventsMeasurement: z.string().default('nbpy_events'),
  /** Measurement for pipeline health (rates, lag, drops) written by nbpy itself. */
  healthMeasurement: z.string().default('nbpy_health'),
  measurements: z.record(z.string().min(1), measurementSchema).default({}),
  requestTimeoutMs: positiveInt('a timeout in ms').default(10_000),
});

// ---------------------------------------------------------------- publishers

const faults = z
  .strictObject({
    /** Drop the connection every N ms (0 = never). */
    dropEveryMs: nonNegativeInt('milliseconds').default(0),
    /** Stall (send nothing, keep the socket) every N ms for stallMs (0 = never). */
    stallEveryMs: nonNegativeInt('milliseconds').default(0),
    stallMs: nonNegativeInt('milliseconds').default(0),
    /** Probability (0-1) of a bad book checksum per book message. */
    badChecksumRate: z.number().min(0).max(1).default(0),
    /** Probability (0-1) of a garbage frame per message. */
    garbageRate: z.number().min(0).max(1).default(0),
    /**
     * Betfair simulator only: every market turns SUSPENDED this many ms after start (0 = never),
     * then only heartbeats flow; health then reports the silence as expected.
     */
    suspendAfterMs: nonNegativeInt('milliseconds').default(0),
  })
  .default({ dropEveryMs: 0, stallEveryMs: 0, stallMs: 0, badChecksumRate: 0, garbageRate: 0, suspendAfterMs: 0 });

export const sourceSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('live'),
    /** Override the venue URL (tests point this at a simulator). */
    url: z.string().optional(),
  }),
  z.strictObject({
    type: z.literal('simulated'),
    /** Venue messages per second the simulator sends; 0 = as fast as possible. */
    ratePerS: nonNegativeInt('messages per second').default(20),
    seed: z.int().default(1),
    faults,
    /** OANDA simulator only: weekend mode (prices not tradeable, then heartbeats only), for fault tests. */
    weekend: z.boolean().default(false),
  }),
  z.strictObject({
    type: z.literal('replay'),
    file: z.string().min(1),
    /** 1 = recorded pace, 0 = as fast as possible. */
    speed: z.number().min(0).default(1),
    loop: z.boolean().default(false),
  }),
]);
export type SourceConfig = z.infer<typeof sourceSchema>;

const publisherCommon = {
  name,
  /** ZeroMQ PUB port. */
  port: port(),
  /** Address the PUB socket binds. */
  bindHost: host,
  /** Address subscribers on other hosts use to reach it. */
  connectHost: host,
  /** HTTP status/metrics port. */
  statusPort: port(),
  /** The data topic every record of this publisher is sent on. */
  topic: z.string().regex(/^[a-z][a-z0-9_.]*$/, { error: (iss) => `expected a topic like kraken.tick, got ${describeValue(iss.input)}` }),
  source: sourceSchema.default({
    type: 'simulated',
    ratePerS: 20,
    seed: 1,
    faults: { dropEveryMs: 0, stallEveryMs: 0, stallMs: 0, badChecksumRate: 0, garbageRate: 0, suspendAfterMs: 0 },
    weekend: false,
  }),
  /** Record raw venue frames (JSON Lines, gzip, rotated) under dataDir/recordings. */
  record: z.boolean().default(false),
  enabled: z.boolean().default(true),
  /** Seconds without a venue message after which the connection is declared dead. */
  staleAfterMs: positiveInt('milliseconds').default(10_000),
  /**
   * ZeroMQ ROUTER port answering retransmission requests from the journal (docs/wire-format.md,
   * "Retransmission"); bound on bindHost. Absent = no retransmission: subscribers store holes as gaps.
   */
  retransmitPort: port().optional(),
  /** What the publisher keeps for retransmission: whichever bound is reached first evicts the oldest. */
  journal: z
    .strictObject({
      /** Most records kept. */
      maxRecords: positiveInt('a record count').default(200_000),
      /** Oldest record kept, ms. */
      maxAgeMs: positiveInt('milliseconds').default(60_000),
      /** Most bytes kept (records are kept msgpack-encoded, ~200-1000 bytes each). */
      maxBytes: positiveInt('bytes').default(128 * 1024 * 1024),
    })
    .default({ maxRecords: 200_000, maxAgeMs: 60_000, maxBytes: 128 * 1024 * 1024 }),
  /** ZeroMQ send high-water mark per subscriber (messages, each a batch); past it PUB drops for that subscriber. */
  sendHwm: nonNegativeInt('a message count').default(100_000),
  /**
   * Longest a record waits on the publisher for others to share its bus message, ms (0 = only the
   * records of one event-loop turn). A few ms turn one message per venue message into one per burst,
   * which every reader pays for per message (docs/PERFORMANCE.md).
   */
  batchMs: nonNegativeInt('milliseconds')
    .max(1000, { error: (iss) => `expected at most 1000 ms, got ${describeValue(iss.input)}` })
    .default(20),
};

export const krakenPublisherSchema = z.strictObject({
  ...publisherCommon,
  venue: z.literal('kraken'),
  feed: z.enum(['ticker', 'book', 'trade']),
  instruments: z.array(z.string().min(1)).min(1),
  /** Book depth to subscribe to (Kraken allows 10, 25, 100, 500, 1000). */
  bookDepth: z.union([z.literal(10), z.literal(25), z.literal(100), z.literal(500), z.literal(1000)]).default(10),
  /** Levels per side put in each depth record. */
  publishLevels: positiveInt('a level count').max(1000).default(10),
});

export const oandaPublisherSchema = z.strictObject({
  ...publisherCommon,
  venue: z.literal('oanda'),
  feed: z.literal('pricing'),
  instruments: z.array(z.string().min(1)).min(1),
  environment: z.enum(['practice', 'live']).default('practice'),
  credentials: z
    .strictObject({ tokenEnv: envName.default('NBPY_OANDA_TOKEN'), accountIdEnv: envName.default('NBPY_OANDA_ACCOUNT_ID') })
    .default({ tokenEnv: 'NBPY_OANDA_TOKEN', accountIdEnv: 'NBPY_OANDA_ACCOUNT_ID' }),
});

/** Betfair ESA marketDataFilter.fields values (venues.md §3.2). */
export const BETFAIR_MARKET_DATA_FIELDS = [
  'EX_BEST_OFFERS_DISP',
  'EX_BEST_OFFERS',
  'EX_ALL_OFFERS',
  'EX_TRADED',
  'EX_TRADED_VOL',
  'EX_LTP',
  'EX_MARKET_DEF',
  'SP_TRADED',
  'SP_PROJECTED',
] as const;

export const betfairPublisherSchema = z.strictObject({
  ...publisherCommon,
  venue: z.literal('betfair'),
  feed: z.literal('market'),
  /** Market ids to subscribe to ("1.180770798"); empty = use the filter below. */
  markets: z
    .array(z.string().regex(/^\d+\.\d+$/, { error: (iss) => `expected a market id like 1.180770798, got ${describeValue(iss.input)}` }))
    .default([]),
  eventTypeIds: z.array(z.string()).default([]),
  marketTypes: z.array(z.string()).default([]),
  /** Betfair ladder levels for the data filter (1-10). */
  ladderLevels: positiveInt('1-10').max(10).default(3),
  /**
   * marketDataFilter.fields to subscribe to. Records use the best ladder view subscribed: EX_ALL_OFFERS
   * (full depth, heavy) over EX_BEST_OFFERS over EX_BEST_OFFERS_DISP (virtual prices included).
   */
  dataFields: z
    .array(z.enum(BETFAIR_MARKET_DATA_FIELDS))
    .min(1)
    .default(['EX_BEST_OFFERS', 'EX_TRADED', 'EX_TRADED_VOL', 'EX_LTP', 'EX_MARKET_DEF']),
  host: z.string().default('stream-api.betfair.com'),
  credentials: z
    .strictObject({ appKeyEnv: envName.default('NBPY_BETFAIR_APP_KEY'), sessionTokenEnv: envName.default('NBPY_BETFAIR_SESSION_TOKEN') })
    .default({ appKeyEnv: 'NBPY_BETFAIR_APP_KEY', sessionTokenEnv: 'NBPY_BETFAIR_SESSION_TOKEN' }),
});

export const publisherSchema = z.discriminatedUnion('venue', [krakenPublisherSchema, oandaPublisherSchema, betfairPublisherSchema]);
export type PublisherConfig = z.infer<typeof publisherSchema>;

// ---------------------------------------------------------------- subscribers

export const subscriberSchema = z.strictObject({
  name,
  /** The subscriber's own HTTP status/metrics port. */
  port: port(),
  bindHost: host,
  /** Topics it reads (ZeroMQ prefix match against publishers' topics). */
  topics: z.array(z.string().min(1)).min(1),
  /** Target measurement per record kind (`{"tick":"kraken_tick"}`); gap/status go to influxdb.eventsMeasurement. */
  measurements: z.record(z.string(), z.string().min(1)),
  retentionPolicy: z.string().default('high_frequency'),
  batchSize: positiveInt('a line count')
    .max(1_000_000, { error: (iss) => `expected at most 1000000 lines, got ${describeValue(iss.input)}` })
    .default(5000),
  flushIntervalMs: positiveInt('milliseconds').default(1000),
  maxBatchBytes: positiveInt('bytes')
    .max(256 * 1024 * 1024, { error: (iss) => `expected at most 256 MiB, got ${describeValue(iss.input)}` })
    .default(4 * 1024 * 1024),
  gzip: z.boolean().default(true),
  /**
   * Cap on the records this subscriber holds in memory (batching, queued, being written, waiting for
   * the spool), bytes of JS heap as estimated per record (~450 B a tick, ~2.6 KB a 10+10-level depth
   * record). Past it the subscriber stops reading the bus: records wait in ZeroMQ (rcvHwm), then the
   * publisher's journal (gap recovery). Keep it above 2 x maxBatchBytes x 2.5.
   */
  maxHeldBytes: positiveInt('bytes')
    .min(1024 * 1024, { error: (iss) => `expected at least 1 MiB, got ${describeValue(iss.input)}` })
    .default(24 * 1024 * 1024),
  /** Size cap of the on-disk spool used while the store is unreachable. */
  spoolMaxBytes: positiveInt('bytes').default(1024 * 1024 * 1024),
  /**
   * A store that is up but slower than the bus for this long: what memory cannot hold goes to the
   * spool instead of waiting in ZeroMQ's queues and the publisher's journal (neither is durable).
   */
  overflowAfterMs: positiveInt('milliseconds').default(2000),
  /** ZeroMQ receive high-water mark (messages). */
  rcvHwm: nonNegativeInt('a message count')
    .max(10_000_000, { error: (iss) => `expected at most 10000000 messages, got ${describeValue(iss.input)}` })
    .default(100_000),
  /** Gap recovery: ask publishers that have a retransmitPort for what the bus lost, and store it in order. */
  recovery: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Give up on a hole (store it as a gap) after this long without progress, ms. */
      holdTimeoutMs: positiveInt('milliseconds').default(10_000),
      /** Most records held back behind open holes; past it the oldest hole is given up. */
      maxHeldRecords: positiveInt('a record count').default(200_000),
    })
    .default({ enabled: true, holdTimeoutMs: 10_000, maxHeldRecords: 200_000 }),
  enabled: z.boolean().default(true),
});
export type SubscriberConfig = z.infer<typeof subscriberSchema>;

// ---------------------------------------------------------------- startup, validation, shutdown

export const PHASES = ['backing', 'influx_setup', 'services', 'grafana', 'validation'] as const;

const phaseSchema = z.strictObject({
  name: z.enum(PHASES),
  dependsOn: z.array(z.enum(PHASES)).default([]),
  timeoutMs: positiveInt('milliseconds').default(30_000),
  retries: nonNegativeInt('a retry count').default(3),
});

export const startupSchema = z.strictObject({
  phases: z.array(phaseSchema).default([
    { name: 'backing', dependsOn: [], timeoutMs: 30_000, retries: 3 },
    { name: 'influx_setup', dependsOn: ['backing'], timeoutMs: 15_000, retries: 3 },
    { name: 'services', dependsOn: ['influx_setup'], timeoutMs: 30_000, retries: 2 },
    { name: 'grafana', dependsOn: ['backing'], timeoutMs: 30_000, retries: 3 },
    { name: 'validation', dependsOn: ['services'], timeoutMs: 30_000, retries: 1 },
  ]),
});

/** The service manager's restart policy: capped exponential backoff that resets after a stable run; never gives up. */
export const supervisorSchema = z.strictObject({
  restartInitialDelayMs: positiveInt('milliseconds').default(250),
  restartMaxDelayMs: positiveInt('milliseconds').default(30_000),
  /** A run this long resets the backoff. */
  stableAfterMs: positiveInt('milliseconds').default(30_000),
  /** This many crashes within crashLoopWindowMs is reported as a crash loop (and retried at the max delay). */
  crashLoopCount: positiveInt('a crash count').default(5),
  crashLoopWindowMs: positiveInt('milliseconds').default(60_000),
});

export const validationSchema = z.strictObject({
  windowMs: positiveInt('milliseconds').default(10_000),
  /** Newest point older than this in the store = stale. */
  maxNewestAgeS: positiveInt('seconds').default(60),
  probe: z.boolean().default(true),
});

export const shutdownSchema = z.strictObject({
  phaseTimeoutMs: positiveInt('milliseconds').default(30_000),
  signals: z.array(z.enum(['SIGINT', 'SIGTERM', 'SIGHUP'])).default(['SIGINT', 'SIGTERM']),
});

// ---------------------------------------------------------------- the bus (ZeroMQ) and its security

/** Path of a file holding a secret (a key file); the secret itself is never in the config. */
const secretFile = z.string().min(1).describe('Path of a file holding the secret (mode 0600); never the secret itself.');

export const curveSchema = z.strictObject({
  /** Encrypt and authenticate the bus with CURVE: publishers are CURVE servers, every reader a client. */
  enabled: z.boolean().default(false),
  /** Env var holding the publishers' CURVE public key (Z85; every reader needs it). */
  serverPublicKeyEnv: envName.default('NBPY_CURVE_SERVER_PUBLIC_KEY'),
  /** Env var holding the publishers' CURVE secret key (publisher hosts only). */
  serverSecretKeyEnv: envName.default('NBPY_CURVE_SERVER_SECRET_KEY'),
  /** Key file (`nbpy bus keygen --out`) used when the env vars are not set; subscriber hosts may hold it without secretKey. */
  serverKeyFile: secretFile.optional(),
  /** Env vars of the readers' own key pair; when unset each reader uses an ephemeral pair. */
  clientPublicKeyEnv: envName.default('NBPY_CURVE_CLIENT_PUBLIC_KEY'),
  clientSecretKeyEnv: envName.default('NBPY_CURVE_CLIENT_SECRET_KEY'),
  clientKeyFile: secretFile.optional(),
});

export const busSchema = z.strictObject({
  /** Largest bus message a reader accepts, bytes (ZeroMQ maxMessageSize): a bigger one drops the connection, not the process. */
  maxMessageBytes: positiveInt('bytes')
    .min(64 * 1024, { error: (iss) => `expected at least 65536 bytes, got ${describeValue(iss.input)}` })
    .max(1024 * 1024 * 1024, { error: (iss) => `expected at most 1 GiB, got ${describeValue(iss.input)}` })
    .default(64 * 1024 * 1024),
  curve: curveSchema.default(curveSchema.parse({})),
});

// ---------------------------------------------------------------- grafana, console, storage, logging

export const grafanaSchema = z.strictObject({
  refresh: z
    .string()
    .regex(/^\d+[smhd]$/)
    .default('5s'),
  folder: z.string().default('nbpy'),
  datasourceUid: z.string().default('nbpy-influxdb'),
  datasourceName: z.string().default('nbpy InfluxDB'),
});

export const consoleSchema = z.strictObject({
  enabled: z.boolean().default(true),
  host,
  port: port().default(8080),
  /**
   * Env var holding the bearer token required when host is not loopback (NBPY_STATUS_TOKEN is used
   * when this one is unset). Browsers open `/?token=...` once; the console then sets a cookie.
   */
  tokenEnv: envName.default('NBPY_CONSOLE_TOKEN'),
  /** Chart points kept per series in the browser (sampled, not every record). */
  maxPointsPerSeries: positiveInt('a point count').default(2000),
});

export const storageSchema = z.strictObject({
  backend: z.enum(['influxdb', 'embedded']).default('influxdb'),
  /** DuckDB file for the embedded backend (relative to dataDir). */
  embeddedFile: z.string().default('nbpy.duckdb'),
});

export const loggingSchema = z.strictObject({
  dir: z.string().default('logs'),
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  maxFileBytes: positiveInt('bytes').default(10 * 1024 * 1024),
  maxFiles: positiveInt('a file count').default(5),
  maxTotalBytes: positiveInt('bytes').default(200 * 1024 * 1024),
});

// ---------------------------------------------------------------- the whole file

export const configSchema = z.strictObject({
  $schema: z.string().optional(),
  /** Directory for recordings, spools, the embedded store and nbpy-owned influxd data. */
  dataDir: z.string().default('data'),
  /** Directory for PID files and run state. */
  runDir: z.string().default('run'),
  backing: z
    .strictObject({
      influxdb: influxBackingSchema.default(influxBackingSchema.parse({})),
      grafana: grafanaBackingSchema.default(grafanaBackingSchema.parse({})),
    })
    .default({ influxdb: influxBackingSchema.parse({}), grafana: grafanaBackingSchema.parse({}) }),
  influxdb: influxdbSchema.default(influxdbSchema.parse({})),
  storage: storageSchema.default(storageSchema.parse({})),
  publishers: z.array(publisherSchema).default([]),
  subscribers: z.array(subscriberSchema).default([]),
  bus: busSchema.default(busSchema.parse({})),
  startup: startupSchema.default(startupSchema.parse({})),
  supervisor: supervisorSchema.default(supervisorSchema.parse({})),
  validation: validationSchema.default(validationSchema.parse({})),
  shutdown: shutdownSchema.default(shutdownSchema.parse({})),
  grafana: grafanaSchema.default(grafanaSchema.parse({})),
  console: consoleSchema.default(consoleSchema.parse({})),
  logging: loggingSchema.default(loggingSchema.parse({})),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type KrakenPublisherConfig = z.infer<typeof krakenPublisherSchema>;
export type OandaPublisherConfig = z.infer<typeof oandaPublisherSchema>;
export type BetfairPublisherConfig = z.infer<typeof betfairPublisherSchema>;

/** The JSON Schema of the config file (input side: defaults are optional). */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
