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
          (e): e is Record<string, unknown> => typeof e === 'object' && e !== null && norm(String((e as { name?: unknown }).name)) === norm(seg),
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

/** Cross-field checks over a schema-valid config. Each problem is `path: message`. */
export function crossCheck(cfg: Config): string[] {
  const problems: string[] = [];
  // Ports: every listening port nbpy owns, per host.
  const ports = new Map<string, string>();
  const claim = (p: number, hostName: string, path: string, who: string) => {
    const key = `${hostName === '0.0.0.0' ? '*' : hostName}:${p}`;
    const prev = ports.get(key) ?? ports.get(`*:${p}`);
    if (prev) problems.push(`${path}: port ${p} is already used by ${prev}; pick a free port`);
    else ports.set(key, `${path} (${who})`);
  };
  cfg.publishers.forEach((p, i) => {
    claim(p.port, p.bindHost, `publishers[${i}].port`, p.name);
    claim(p.statusPort, p.bindHost, `publishers[${i}].statusPort`, p.name);
  });
  cfg.subscribers.forEach((s, i) => claim(s.port, s.bindHost, `subscribers[${i}].port`, s.name));
  if (cfg.console.enabled) claim(cfg.console.port, cfg.console.host, 'console.port', 'console');

  // Names are unique across publishers and subscribers (they name processes, logs and PID files).
  const names = new Map<string, string>();
  const nameOf = (n: string, path: string) => {
    const prev = names.get(n);
    if (prev) problems.push(`${path}: name "${n}" is already used by ${prev}`);
    else names.set(n, path);
  };
  cfg.publishers.forEach((p, i) => nameOf(p.name, `publishers[${i}].name`));
  cfg.subscribers.forEach((s, i) => nameOf(s.name, `subscribers[${i}].name`));

  // Topics: one publisher per topic, and no topic that is a prefix of another (ZeroMQ prefix match
  // would deliver both to a subscriber of the shorter one).
  const topics = new Map<string, string>();
  cfg.publishers.forEach((p, i) => {
    const prev = topics.get(p.topic);
    if (prev) problems.push(`publishers[${i}].topic: topic "${p.topic}" is already published by ${prev}`);
    else topics.set(p.topic, `publishers[${i}] (${p.name})`);
  });
  for (const [a, wa] of topics)
    for (const [b] of topics)
      if (a !== b && b.startsWith(a))
        problems.push(`${wa.split(' ')[0]}.topic: topic "${a}" is a prefix of "${b}"; subscribers of "${a}" would also receive "${b}"`);

  const measurementNames = new Set(Object.keys(cfg.influxdb.measurements));
  const rpNames = new Set(cfg.influxdb.retentionPolicies.map((r) => r.name));
  cfg.subscribers.forEach((s, i) => {
    s.topics.forEach((t, j) => {
      if (![...topics.keys()].some((pt) => pt.startsWith(t)))
        problems.push(
          `subscribers[${i}].topics[${j}]: no publisher publishes topic "${t}" (published: ${[...topics.keys()].join(', ') || 'none'})`,
        );
    });
    for (const [kind, m] of Object.entries(s.measurements))
      if (!measurementNames.has(m))
        problems.push(`subscribers[${i}].measurements.${kind}: measurement "${m}" is not defined in influxdb.measurements`);
    if (!rpNames.has(s.retentionPolicy))
      problems.push(`subscribers[${i}].retentionPolicy: "${s.retentionPolicy}" is not one of influxdb.retentionPolicies (${[...rpNames].join(', ')})`);
  });

  const defaults = cfg.influxdb.retentionPolicies.filter((r) => r.default);
  if (defaults.length !== 1)
    problems.push(`influxdb.retentionPolicies: exactly one policy must have "default": true (found ${defaults.length})`);
  const rpSeen = new Set<string>();
  cfg.influxdb.retentionPolicies.forEach((r, i) => {
    if (rpSeen.has(r.name)) problems.push(`influxdb.retentionPolicies[${i}].name: duplicate policy "${r.name}"`);
    rpSeen.add(r.name);
  });
  for (const m of [cfg.influxdb.eventsMeasurement, cfg.influxdb.healthMeasurement])
    if (!measurementNames.has(m)) problems.push(`influxdb.measurements: "${m}" is referenced but not defined`);
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
    throw new UsageError(problems.join('\n'), problems);
  }
  problems.push(...crossCheck(result.data).map((p) => `${label}: ${p}`));
  if (problems.length) throw new UsageError(problems.join('\n'), problems);
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
