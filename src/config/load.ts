/**
 * Loading the config: read, apply environment overrides, validate with the one schema, then the
 * cross-field checks a schema cannot express (duplicate ports, names, topics, dangling references).
 *
 * Environment overrides: `NBPY_CFG__<SEGMENT>__<SEGMENT>...=<value>`. Segments match keys
 * case-insensitively with underscores ignored (`FLUSH_INTERVAL_MS` = `flushIntervalMs`); inside
 * `publishers` and `subscribers` a segment names an entry (`NBPY_CFG__PUBLISHERS__KRAKEN_TICK__PORT`).
 * The value is parsed as JSON when it parses (numbers, booleans, arrays), else taken as a string.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { UsageError } from '../core/errors.js';
import { configSchema, type Config } from './schema.js';

export const ENV_PREFIX = 'NBPY_CFG__';

/** Format a zod-style path as `publishers[2].port`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out || '(root)';
}

const norm = (s: string) => s.replace(/_/g, '').toUpperCase();

/** Apply NBPY_CFG__ overrides to the raw (unvalidated) config object. Returns problems found. */
export function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith(ENV_PREFIX) || value === undefined) continue;
    const segs = key.slice(ENV_PREFIX.length).split('__').filter(Boolean);
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = value;
    }
    let node: unknown = raw;
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!;
      const last = i === segs.length - 1;
      if (Array.isArray(node)) {
        const entry = node.find(
          (e): e is Record<string, unknown> =>
            typeof e === 'object' && e !== null && norm(String((e as { name?: unknown }).name)) === norm(seg),
        );
        if (!entry || last) {
          problems.push(`${key}: no entry named ${seg.toLowerCase()} to override`);
          break;
        }
        node = entry;
        continue;
      }
      if (typeof node !== 'object' || node === null) {
        problems.push(`${key}: ${segs.slice(0, i).join('__')} is not an object`);
        break;
      }
      const obj = node as Record<string, unknown>;
      const existing = Object.keys(obj).find((k) => norm(k) === norm(seg));
      const k = existing ?? segs[i]!.toLowerCase().replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
      if (last) {
        obj[k] = parsed;
      } else {
        if (obj[k] === undefined) obj[k] = {};
        node = obj[k];
      }
    }
  }
  return problems;
}

type Loose = Record<string, unknown>;
const obj = (v: unknown): Loose => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Loose) : {});
const arr = (v: unknown): Loose[] => (Array.isArray(v) ? v.map(obj) : []);
const str = (v: unknown, dflt = ''): string => (typeof v === 'string' ? v : dflt);
const int = (v: unknown): number | undefined => (Number.isInteger(v) ? (v as number) : undefined);

/**
 * Cross-field checks a schema cannot express. They run on the raw object too (before defaults,
 * even when the schema failed) so one run reports every problem; values of the wrong type are
 * skipped here because the schema already names them. Each problem is `path: message`.
 */
export function crossCheck(input: unknown): string[] {
  const cfg = obj(input);
  const publishers = arr(cfg.publishers);
  const subscribers = arr(cfg.subscribers);
  const influx = obj(cfg.influxdb);
  const consoleCfg = obj(cfg.console);
  const problems: string[] = [];
  // Ports: every listening port nbpy owns, per host.
  const ports = new Map<string, string>();
  const claim = (p: number | undefined, hostName: string, path: string, who: string) => {
    if (p === undefined) return;
    const key = `${hostName === '0.0.0.0' ? '*' : hostName}:${p}`;
    const prev = ports.get(key) ?? ports.get(`*:${p}`);
    if (prev) problems.push(`${path}: port ${p} is already used by ${prev}; pick a free port`);
    else ports.set(key, `${path} (${who})`);
  };
  publishers.forEach((p, i) => {
    const h = str(p.bindHost, '127.0.0.1');
    claim(int(p.port), h, `publishers[${i}].port`, str(p.name));
    claim(int(p.statusPort), h, `publishers[${i}].statusPort`, str(p.name));
    claim(int(p.retransmitPort), h, `publishers[${i}].retransmitPort`, str(p.name));
  });
  subscribers.forEach((s, i) => claim(int(s.port), str(s.bindHost, '127.0.0.1'), `subscribers[${i}].port`, str(s.name)));
  if (consoleCfg.enabled !== false) claim(int(consoleCfg.port) ?? 8080, str(consoleCfg.host, '127.0.0.1'), 'console.port', 'console');

  // Names are unique across publishers and subscribers (they name processes, logs and PID files).
  const names = new Map<string, string>();
  const nameOf = (n: string, path: string) => {
    if (!n) return;
    const prev = names.get(n);
    if (prev) problems.push(`${path}: name "${n}" is already used by ${prev}`);
    else names.set(n, path);
  };
  publishers.forEach((p, i) => nameOf(str(p.name), `publishers[${i}].name`));
  subscribers.forEach((s, i) => nameOf(str(s.name), `subscribers[${i}].name`));

  // Topics: one publisher per topic, and no topic that is a prefix of another (ZeroMQ prefix match
  // would deliver both to a subscriber of the shorter one).
  const topics = new Map<string, string>();
  publishers.forEach((p, i) => {
    const t = str(p.topic);
    if (!t) return;
    const prev = topics.get(t);
    if (prev) problems.push(`publishers[${i}].topic: topic "${t}" is already published by ${prev}`);
    else topics.set(t, `publishers[${i}]`);
  });
  for (const [a, wa] of topics)
    for (const [b] of topics)
      if (a !== b && b.startsWith(a))
        problems.push(`${wa}.topic: topic "${a}" is a prefix of "${b}"; subscribers of "${a}" would also receive "${b}"`);

  const measurementNames = new Set(Object.keys(obj(influx.measurements)));
  const rps = Array.isArray(influx.retentionPolicies)
    ? arr(influx.retentionPolicies)
    : [{ name: 'default', default: true }, { name: 'high_frequency' }, { name: 'long_term' }];
  const rpNames = new Set(rps.map((r) => str(r.name)));
  subscribers.forEach((s, i) => {
    (Array.isArray(s.topics) ? s.topics : []).forEach((t: unknown, j: number) => {
      if (typeof t === 'string' && ![...topics.keys()].some((pt) => pt.startsWith(t)))
        problems.push(
          `subscribers[${i}].topics[${j}]: no publisher publishes topic "${t}" (published: ${[...topics.keys()].join(', ') || 'none'})`,
        );
    });
    for (const [kind, m] of Object.entries(obj(s.measurements)))
      if (typeof m === 'string' && !measurementNames.has(m))
        problems.push(`subscribers[${i}].measurements.${kind}: measurement "${m}" is not defined in influxdb.measurements`);
    const rp = str(s.retentionPolicy, 'high_frequency');
    if (!rpNames.has(rp))
      problems.push(`subscribers[${i}].retentionPolicy: "${rp}" is not one of influxdb.retentionPolicies (${[...rpNames].join(', ')})`);
  });

  const defaults = rps.filter((r) => r.default === true);
  if (defaults.length !== 1)
    problems.push(`influxdb.retentionPolicies: exactly one policy must have "default": true (found ${defaults.length})`);
  const rpSeen = new Set<string>();
  rps.forEach((r, i) => {
    const n = str(r.name);
    if (rpSeen.has(n)) problems.push(`influxdb.retentionPolicies[${i}].name: duplicate policy "${n}"`);
    rpSeen.add(n);
  });
  for (const [key, dflt] of [
    ['eventsMeasurement', 'nbpy_events'],
    ['healthMeasurement', 'nbpy_health'],
  ] as const) {
    const m = str(influx[key], dflt);
    if (!measurementNames.has(m)) problems.push(`influxdb.${key}: measurement "${m}" is not defined in influxdb.measurements`);
  }
  return problems;
}

export interface LoadedConfig {
  config: Config;
  path: string;
}

/** Validate an already-read raw object. Throws UsageError listing every problem as `file: path: message`. */
export function parseConfig(raw: unknown, sourceName: string, env: NodeJS.ProcessEnv = process.env): Config {
  const label = basename(sourceName);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new UsageError(`${label}: expected a JSON object at the top level`);
  const copy = structuredClone(raw) as Record<string, unknown>;
  const envProblems = applyEnvOverrides(copy, env);
  const result = configSchema.safeParse(copy);
  const problems = envProblems.map((p) => `${label}: ${p}`);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys)
          problems.push(`${label}: ${formatPath([...issue.path, k])}: unknown key; remove it or check its spelling`);
      } else {
        problems.push(`${label}: ${formatPath(issue.path)}: ${issue.message}`);
      }
    }
  }
  problems.push(...crossCheck(result.success ? result.data : copy).map((p) => `${label}: ${p}`));
  if (problems.length || !result.success) throw new UsageError(problems.join('\n'), problems);
  return result.data;
}

/** Read and validate a config file. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT'
        ? `${path}: no such file; pass --config <file> or run from the directory holding integration_config.json`
        : `${path}: cannot read (${code ?? String(e)})`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${basename(path)}: not valid JSON: ${(e as Error).message}`);
  }
  return { config: parseConfig(raw, path, env), path };
}
