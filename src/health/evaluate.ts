/**
 * Observations -> check results (pure). probe.ts fills {@link Observations} from the running system
 * (HTTP, TCP, run directory, disk); this file judges them, so every verdict is unit-testable with
 * made-up observations and a fixed time.
 */
import type { Config } from '../config/schema.js';
import {
  diskCheck,
  dropsCheck,
  fail,
  freshnessCheck,
  marketState,
  pass,
  queueCheck,
  restartsCheck,
  spoolCheck,
  uptimeCheck,
  warn,
  type CheckResult,
} from './checks.js';

/** An HTTP endpoint's answer (or why there was none). */
export interface HttpObservation {
  ok: boolean;
  status?: number;
  ms?: number;
  error?: string;
  body?: Record<string, unknown>;
}

/** What the service manager's run directory says about a service. */
export interface ProcessObservation {
  state: string;
  alive: boolean;
  pid: number | null;
  restarts: number;
  crashLoop: boolean;
  uptimePct: number | null;
  lastError: string | null;
}

export interface ServiceObservation {
  name: string;
  kind: 'publisher' | 'subscriber';
  /** null: no run-state file (not started by `nbpy start`, or never started). */
  process: ProcessObservation | null;
  /** Publishers: the ZeroMQ PUB port accepts TCP connections. */
  zmqPort?: { endpoint: string; accepting: boolean; error?: string };
  /** GET /health on the status port. */
  status: HttpObservation & { url: string };
}

/** Newest point of one measurement in the store (and per instrument/series when known). */
export interface StoreObservation {
  measurement: string;
  /** µs since epoch of the newest point in the look-back range; null: none in range. */
  newestUs: number | null;
  /** Points in the last `rateWindowS` seconds. */
  recentPoints: number | null;
  rateWindowS: number;
  /** Newest point per series label (`BTC/USD`, `1.18:123`), µs. */
  series?: Record<string, number>;
  error?: string;
}

export interface Observations {
  nowMs: number;
  /** The run directory exists with a live supervisor (null: no run state at all). */
  supervisor: { running: boolean; pid?: number } | null;
  influx?: { url: string; ping: HttpObservation; query?: HttpObservation & { databaseExists?: boolean } };
  grafana?: { url: string; health: HttpObservation };
  docker?: { available: boolean; error?: string; containers: { service: string; state: string; health: string }[]; wanted: string[] };
  services: ServiceObservation[];
  /** Age of the newest record per topic, from a bus sample and/or the subscribers' /health. */
  topicAgesMs: Record<string, number | null>;
  /** Betfair market statuses per topic when a publisher reports them. */
  betfairStatuses?: Record<string, string[]>;
  /** Store freshness per measurement; `error` set when the store could not be asked. */
  store: StoreObservation[];
  storeError?: string;
  disk?: { path: string; freeBytes: number; totalBytes: number } | { path: string; error: string };
  /** Monitor mode: the previous spool size per subscriber (to see it growing). */
  previousSpoolBytes?: Record<string, number>;
  /** Monitor mode: uptime over the window per service, from the monitor's own samples. */
  windowUptimePct?: Record<string, number | null>;
  windowText?: string;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Publishers and subscribers that are enabled in the config. */
export function enabledServices(config: Config) {
  return {
    publishers: config.publishers.filter((p) => p.enabled),
    subscribers: config.subscribers.filter((s) => s.enabled),
  };
}

/** Measurements a subscriber writes to, with their retention policy and the venues feeding them. */
export interface StoredMeasurement {
  measurement: string;
  retentionPolicy: string;
  venues: string[];
  topics: string[];
  subscriber: string;
  /** Record kinds written to it (tick, depth, trade, runner, market, ...). */
  kinds: string[];
}

export function storedMeasurements(config: Config): StoredMeasurement[] {
  const { publishers, subscribers } = enabledServices(config);
  const out = new Map<string, StoredMeasurement>();
  for (const s of subscribers) {
    const pubs = publishers.filter((p) => s.topics.some((t) => p.topic.startsWith(t)));
    for (const [kind, m] of Object.entries(s.measurements)) {
      const have = out.get(m);
      if (have) {
        if (!have.kinds.includes(kind)) have.kinds.push(kind);
        continue;
      }
      out.set(m, {
        measurement: m,
        retentionPolicy: s.retentionPolicy,
        venues: [...new Set(pubs.map((p) => p.venue))],
        topics: pubs.map((p) => p.topic),
        subscriber: s.name,
        kinds: [kind],
      });
    }
  }
  return [...out.values()];
}

/**
 * Kinds whose every series (instrument) is expected to move continuously while the market is open:
 * quotes and books. Trades, Betfair runner prices and market definitions come when something happens
 * (an illiquid pair may not trade for minutes), so a quiet series of those is not a warning.
 */
const CONTINUOUS_KINDS = new Set(['tick', 'depth']);

/** Judge the observations. Order: system, backing services, services, topics, store, disk. */
export function evaluate(obs: Observations, config: Config): CheckResult[] {
  const checks: CheckResult[] = [];
  const { nowMs } = obs;
  const { publishers, subscribers } = enabledServices(config);

  // ------------------------------------------------------------ is anything running at all?
  const anyAnswer = obs.services.some((s) => s.status.ok);
  const anyAlive = obs.services.some((s) => s.process?.alive);
  if (!anyAnswer && !anyAlive) {
    checks.push(
      fail(
        'system',
        obs.services.length === 0
          ? 'no publishers or subscribers are configured (or all are disabled); nothing to check'
          : 'nothing is running: no service process is alive and no status endpoint answers; start the stack with `nbpy start`',
      ),
    );
  } else if (obs.supervisor && !obs.supervisor.running && obs.services.some((s) => s.process)) {
    checks.push(warn('system', 'no supervisor is running for this run directory: crashed services will not be restarted (nbpy start)'));
  } else {
    checks.push(
      pass(
        'system',
        obs.supervisor?.running
          ? `supervisor running (pid ${obs.supervisor.pid ?? '?'})`
          : 'services answer (not started by a supervisor here)',
      ),
    );
  }

  // ------------------------------------------------------------ backing services
  if (obs.influx) {
    const p = obs.influx.ping;
    checks.push(
      p.ok
        ? pass('influxdb.ping', `InfluxDB at ${obs.influx.url} answers /ping (${p.ms ?? '?'} ms)`)
        : fail(
            'influxdb.ping',
            `store down: InfluxDB at ${obs.influx.url} does not answer /ping (${p.error ?? `HTTP ${p.status}`}); start it (nbpy start) or check backing.influxdb.url`,
          ),
    );
    const q = obs.influx.query;
    if (q && p.ok) {
      if (!q.ok) checks.push(fail('influxdb.query', `query round trip failed: ${q.error ?? `HTTP ${q.status}`}`));
      else if (q.databaseExists === false)
        checks.push(
          warn(
            'influxdb.query',
            `query round trip ${q.ms} ms, but database "${config.influxdb.database}" does not exist yet (created at start)`,
          ),
        );
      else checks.push(pass('influxdb.query', `query round trip ${q.ms} ms`));
    }
  }
  if (obs.grafana) {
    const g = obs.grafana.health;
    const db = typeof g.body?.database === 'string' ? g.body.database : undefined;
    if (!g.ok)
      checks.push(
        fail(
          'grafana.health',
          `Grafana at ${obs.grafana.url} does not answer (${g.error ?? `HTTP ${g.status}`}); start it or set backing.grafana.enabled=false`,
        ),
      );
    else if (db && db !== 'ok') checks.push(warn('grafana.health', `Grafana answers but its database is "${db}"`));
    else
      checks.push(pass('grafana.health', `Grafana at ${obs.grafana.url} healthy${g.body?.version ? ` (${String(g.body.version)})` : ''}`));
  }
  if (obs.docker) {
    const d = obs.docker;
    if (!d.available) checks.push(warn('docker', `cannot list docker containers: ${d.error ?? 'docker not available'}`));
    else
      for (const svc of d.wanted) {
        const c = d.containers.find((x) => x.service === svc);
        const name = `docker.${svc}`;
        if (!c) checks.push(fail(name, `no container for compose service "${svc}"; start it (nbpy start)`));
        else if (c.state !== 'running') checks.push(fail(name, `container for "${svc}" is ${c.state}`));
        else if (c.health && c.health !== 'healthy') checks.push(warn(name, `container for "${svc}" is running, health "${c.health}"`));
        else checks.push(pass(name, `container for "${svc}" running${c.health ? ` (${c.health})` : ''}`));
      }
  }

  // ------------------------------------------------------------ services
  for (const s of obs.services) {
    const base = `${s.kind}.${s.name}`;
    const p = s.process;
    if (p) {
      if (p.alive) checks.push(pass(`${base}.process`, `${p.state}, pid ${p.pid ?? '?'}`));
      else
        checks.push(
          fail(`${base}.process`, `not running (state ${p.state}${p.lastError ? `: ${p.lastError}` : ''}); restart it (nbpy start)`),
        );
      checks.push(restartsCheck(`${base}.restarts`, p.restarts, p.crashLoop));
    } else if (!s.status.ok) {
      checks.push(fail(`${base}.process`, 'not running (no run state and its status endpoint does not answer); start it (nbpy start)'));
    }
    if (s.zmqPort) {
      checks.push(
        s.zmqPort.accepting
          ? pass(`${base}.zmq_port`, `${s.zmqPort.endpoint} accepts connections`)
          : fail(`${base}.zmq_port`, `${s.zmqPort.endpoint} refuses connections (${s.zmqPort.error ?? 'closed'})`),
      );
    }
    const st = s.status;
    if (!st.ok) {
      checks.push(
        fail(`${base}.status`, `${st.url} does not answer (${st.error ?? `HTTP ${st.status}`}); the process may be hung or stopped`),
      );
    } else {
      const b = st.body ?? {};
      const status = typeof b.status === 'string' ? b.status : 'ok';
      const extras: string[] = [];
      if (s.kind === 'publisher') {
        if (b.connected === false) extras.push('venue not connected');
        for (const k of ['records_out', 'reconnects', 'gaps', 'parse_errors', 'checksum_failures'] as const)
          if (num(b[k]) !== undefined) extras.push(`${k}=${num(b[k])}`);
      } else {
        if (b.store_up === false) extras.push('store down');
        for (const k of ['records_in', 'points_written', 'lag_ms', 'seq_gaps'] as const)
          if (num(b[k]) !== undefined) extras.push(`${k}=${Math.round(num(b[k])!)}`);
      }
      const detail = `${status}${extras.length ? `: ${extras.join(', ')}` : ''}`;
      checks.push(
        status === 'down'
          ? fail(`${base}.status`, detail)
          : status === 'degraded'
            ? warn(`${base}.status`, detail)
            : pass(`${base}.status`, detail),
      );
      if (s.kind === 'subscriber') {
        const cfg = subscribers.find((x) => x.name === s.name);
        if (b.store_up === false) checks.push(fail(`${base}.store`, 'store down: this subscriber cannot write; points go to its spool'));
        const depth = num(b.queue_depth);
        if (depth !== undefined) checks.push(queueCheck(`${base}.queue`, depth, cfg?.batchSize ?? 5000));
        const spool = num(b.spool_bytes);
        if (spool !== undefined) checks.push(spoolCheck(`${base}.spool`, spool, obs.previousSpoolBytes?.[s.name], cfg?.spoolMaxBytes ?? 0));
        if (b.dropped_by_reason && typeof b.dropped_by_reason === 'object')
          checks.push(dropsCheck(`${base}.drops`, b.dropped_by_reason as Record<string, number>));
      }
    }
    const win = obs.windowUptimePct?.[s.name];
    if (win !== undefined) checks.push(uptimeCheck(`${base}.uptime`, win, obs.windowText ?? 'the monitoring window'));
    else if (p && p.uptimePct !== null) checks.push(uptimeCheck(`${base}.uptime`, p.uptimePct, 'its supervisor run'));
  }

  // ------------------------------------------------------------ data freshness per topic
  for (const p of publishers) {
    checks.push(
      freshnessCheck({
        name: `topic.${p.topic}.freshness`,
        venue: p.venue,
        ageMs: obs.topicAgesMs[p.topic] ?? null,
        staleAfterMs: p.staleAfterMs,
        nowMs,
        betfairStatuses: obs.betfairStatuses?.[p.topic] ?? [],
        what: `last record on ${p.topic}`,
      }),
    );
  }

  // ------------------------------------------------------------ store freshness per measurement
  if (obs.storeError) checks.push(fail('store.freshness', `cannot read the store: ${obs.storeError}`));
  const maxAgeMs = config.validation.maxNewestAgeS * 1000;
  const measures = storedMeasurements(config);
  for (const m of obs.store) {
    const name = `store.${m.measurement}.freshness`;
    if (m.error) {
      checks.push(fail(name, `cannot read ${m.measurement}: ${m.error}`));
      continue;
    }
    const measure = measures.find((x) => x.measurement === m.measurement);
    const venues = measure?.venues ?? [];
    const venue = venues.length === 1 ? venues[0]! : 'kraken';
    // A Betfair-only measurement is quiet when every market of every topic feeding it is; a topic
    // whose publisher reports no statuses counts as open.
    const statusLists = (measure?.topics ?? []).map((t) => obs.betfairStatuses?.[t] ?? []);
    const betfairStatuses = venue === 'betfair' && !statusLists.some((l) => l.length === 0) ? statusLists.flat() : [];
    const rate =
      m.recentPoints !== null
        ? `; ${m.recentPoints} points in the last ${m.rateWindowS}s (${(m.recentPoints / m.rateWindowS).toFixed(1)}/s)`
        : '';
    const c = freshnessCheck({
      name,
      venue,
      ageMs: m.newestUs === null ? null : Math.max(0, nowMs - m.newestUs / 1000),
      staleAfterMs: maxAgeMs,
      nowMs,
      betfairStatuses,
      what: `newest point of ${m.measurement}`,
    });
    const continuous = (measure?.kinds ?? []).some((k) => CONTINUOUS_KINDS.has(k));
    const stale = continuous ? Object.entries(m.series ?? {}).filter(([, us]) => nowMs - us / 1000 > maxAgeMs) : [];
    if (c.status === 'pass' && stale.length && marketState(venue, nowMs, betfairStatuses).open) {
      checks.push(
        warn(
          name,
          `${c.detail}${rate}; stale series: ${stale.map(([k, us]) => `${k} ${Math.round(nowMs / 1000 - us / 1e6)}s`).join(', ')}`,
        ),
      );
    } else checks.push({ ...c, detail: `${c.detail}${rate}` });
  }

  // ------------------------------------------------------------ disk
  if (obs.disk) {
    if ('error' in obs.disk) checks.push(warn('disk', `cannot read free space under ${obs.disk.path}: ${obs.disk.error}`));
    else checks.push(diskCheck('disk', obs.disk.path, obs.disk.freeBytes, obs.disk.totalBytes));
  }
  return checks;
}
