/**
 * Grafana HTTP API client (legacy /api endpoints, grafana.md §6) and the idempotent bootstrap:
 * datasource upsert by uid, folder, dashboards by uid with overwrite. Every object reports what
 * happened to it: created | updated | unchanged | skipped (owned by file provisioning).
 *
 * Secrets (token, passwords) go into headers and request bodies only; no message carries them.
 */
import { NbpyError } from '../core/errors.js';
import type { DatasourceModel } from './provisioning.js';
import type { GeneratedDashboard } from './dashboards.js';

export type ChangeAction = 'created' | 'updated' | 'unchanged' | 'skipped';

export interface Change {
  kind: 'datasource' | 'folder' | 'dashboard';
  uid: string;
  title: string;
  action: ChangeAction;
  detail?: string;
}

export interface GrafanaAuth {
  /** The Authorization header value, or undefined for none. */
  header?: string;
  /** How it was obtained, for messages: `token from NBPY_GRAFANA_TOKEN`, never the secret. */
  describe: string;
  /** The env var names that can hold credentials, for the error message of a 401. */
  envNames: string[];
}

export interface CredentialEnvNames {
  usernameEnv?: string;
  passwordEnv?: string;
  tokenEnv?: string;
}

/** Credentials from the environment: a service-account token wins over user + password. */
export function authFromEnv(names: CredentialEnvNames, env: NodeJS.ProcessEnv = process.env): GrafanaAuth {
  const envNames = [names.tokenEnv, names.usernameEnv, names.passwordEnv].filter((n): n is string => !!n);
  const token = names.tokenEnv ? env[names.tokenEnv] : undefined;
  if (token) return { header: `Bearer ${token}`, describe: `service-account token from ${names.tokenEnv}`, envNames };
  const user = names.usernameEnv ? env[names.usernameEnv] : undefined;
  const password = names.passwordEnv ? env[names.passwordEnv] : undefined;
  if (user && password !== undefined)
    return {
      header: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
      describe: `basic auth (user from ${names.usernameEnv})`,
      envNames,
    };
  return { describe: 'no credentials', envNames };
}

export interface GrafanaClientOptions {
  url: string;
  auth: GrafanaAuth;
  /** Per-request timeout. */
  requestTimeoutMs?: number;
}

interface Res {
  status: number;
  body: unknown;
}

const msgOf = (body: unknown): string =>
  body && typeof body === 'object' && 'message' in body
    ? String((body as { message: unknown }).message)
    : typeof body === 'string'
      ? body
      : JSON.stringify(body);

/** `desired` is contained in `actual`: every key of desired deep-equals; arrays elementwise, same length. */
export function containsDeep(actual: unknown, desired: unknown): boolean {
  if (desired === null || typeof desired !== 'object') return actual === desired;
  if (Array.isArray(desired)) {
    return Array.isArray(actual) && actual.length === desired.length && desired.every((d, i) => containsDeep(actual[i], d));
  }
  if (!actual || typeof actual !== 'object' || Array.isArray(actual)) return false;
  const a = actual as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).every(([k, v]) => v === undefined || containsDeep(a[k], v));
}

export class GrafanaClient {
  readonly url: string;
  private readonly auth: GrafanaAuth;
  private readonly timeoutMs: number;

  constructor(opts: GrafanaClientOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    this.auth = opts.auth;
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
  }

  /** One request; 401/403 and unreachable become errors that name the fix. Other statuses are returned. */
  async request(method: string, path: string, body?: unknown): Promise<Res> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.auth.header) headers.authorization = this.auth.header;
    let r: Response;
    try {
      r = await fetch(this.url + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw new NbpyError(
        'E_GRAFANA_UNREACHABLE',
        `Grafana at ${this.url} is unreachable (${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}); start it (docker compose up -d grafana) or set backing.grafana.url`,
        true,
      );
    }
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    if (r.status === 401)
      throw new NbpyError(
        'E_GRAFANA_AUTH',
        `Grafana at ${this.url} refused the credentials (401, ${this.auth.describe}); set ${this.auth.envNames[0] ?? 'the token variable'} to a service-account token, or ${this.auth.envNames.slice(1).join(' and ') || 'user and password variables'} (names from backing.grafana.credentials)`,
      );
    if (r.status === 403 && !/read-only/i.test(msgOf(parsed)))
      throw new NbpyError(
        'E_GRAFANA_FORBIDDEN',
        `Grafana at ${this.url} denied ${method} ${path} (403, ${this.auth.describe}): the account needs the Admin or Editor role`,
      );
    return { status: r.status, body: parsed };
  }

  private fail(what: string, res: Res): never {
    throw new NbpyError('E_GRAFANA_API', `Grafana ${what} failed: ${res.status} ${msgOf(res.body)}`, res.status >= 500);
  }

  /** GET /api/health until it answers 200 or the deadline passes. */
  async waitHealthy(timeoutMs: number): Promise<{ version?: string }> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const r = await this.request('GET', '/api/health');
        if (r.status === 200) return r.body as { version?: string };
        last = new Error(`/api/health answered ${r.status} ${msgOf(r.body)}`);
      } catch (e) {
        if (!(e instanceof NbpyError) || e.code !== 'E_GRAFANA_UNREACHABLE') throw e;
        last = e;
      }
      if (Date.now() >= deadline) throw last instanceof Error ? last : new Error(String(last));
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Create or update the datasource by uid; a file-provisioned (read-only) one is left alone. */
  async upsertDatasource(ds: DatasourceModel): Promise<Change> {
    const base = { kind: 'datasource' as const, uid: ds.uid, title: ds.name };
    const path = `/api/datasources/uid/${encodeURIComponent(ds.uid)}`;
    const cur = await this.request('GET', path);
    if (cur.status === 404) {
      const r = await this.request('POST', '/api/datasources', ds);
      if (r.status === 409)
        throw new NbpyError(
          'E_GRAFANA_DS_CONFLICT',
          `Grafana already has a datasource named "${ds.name}" with another uid; delete or rename it, or change grafana.datasourceName (the uid ${ds.uid} must stay fixed)`,
        );
      if (r.status !== 200) this.fail(`creating datasource ${ds.uid}`, r);
      return { ...base, action: 'created' };
    }
    if (cur.status !== 200) this.fail(`reading datasource ${ds.uid}`, cur);
    const stored = cur.body as Record<string, unknown>;
    if (stored.readOnly === true) return { ...base, action: 'skipped', detail: 'provisioned from files (read-only)' };
    const { secureJsonData, ...plain } = ds;
    const secretStored = (stored.secureJsonFields as Record<string, boolean> | undefined)?.password === true;
    // Stored secrets cannot be read back: a password counts as unchanged once one is stored.
    const same = containsDeep(stored, plain) && (!secureJsonData?.password || secretStored);
    if (same) return { ...base, action: 'unchanged' };
    const r = await this.request('PUT', path, { ...ds, id: stored.id });
    if (r.status === 403) return { ...base, action: 'skipped', detail: 'read-only datasource (provisioned from files)' };
    if (r.status !== 200) this.fail(`updating datasource ${ds.uid}`, r);
    return { ...base, action: 'updated' };
  }

  /** GET /api/datasources/uid/:uid/health: whether Grafana can query InfluxDB through it. */
  async datasourceHealth(uid: string): Promise<{ ok: boolean; message: string }> {
    const r = await this.request('GET', `/api/datasources/uid/${encodeURIComponent(uid)}/health`);
    const b = (r.body ?? {}) as { status?: string; message?: string };
    return { ok: r.status === 200 && b.status === 'OK', message: b.message ?? msgOf(r.body) };
  }

  /** Create the folder, or rename it back to `title` if needed. */
  async ensureFolder(uid: string, title: string): Promise<Change> {
    const base = { kind: 'folder' as const, uid, title };
    const path = `/api/folders/${encodeURIComponent(uid)}`;
    const cur = await this.request('GET', path);
    if (cur.status === 200) {
      if ((cur.body as { title?: string }).title === title) return { ...base, action: 'unchanged' };
      const r = await this.request('PUT', path, { title, overwrite: true });
      if (r.status !== 200) this.fail(`renaming folder ${uid}`, r);
      return { ...base, action: 'updated' };
    }
    if (cur.status !== 404) this.fail(`reading folder ${uid}`, cur);
    const r = await this.request('POST', '/api/folders', { uid, title });
    if (r.status === 409) return { ...base, action: 'unchanged', detail: 'already existed' };
    if (r.status !== 200) this.fail(`creating folder ${uid}`, r);
    return { ...base, action: 'created' };
  }

  /** Save a dashboard by uid into a folder (overwrite); unchanged when Grafana already holds the same JSON there. */
  async upsertDashboard(d: GeneratedDashboard, folderUid: string): Promise<Change> {
    const base = { kind: 'dashboard' as const, uid: d.uid, title: d.title };
    const cur = await this.request('GET', `/api/dashboards/uid/${encodeURIComponent(d.uid)}`);
    let existed = false;
    if (cur.status === 200) {
      existed = true;
      const { dashboard, meta } = cur.body as { dashboard?: unknown; meta?: { provisioned?: boolean; folderUid?: string } };
      if (meta?.provisioned) return { ...base, action: 'skipped', detail: 'provisioned from files; files own this uid' };
      if ((meta?.folderUid ?? '') === folderUid && containsDeep(dashboard, d)) return { ...base, action: 'unchanged' };
    } else if (cur.status !== 404) this.fail(`reading dashboard ${d.uid}`, cur);
    const r = await this.request('POST', '/api/dashboards/db', {
      dashboard: { ...d, id: null },
      folderUid,
      overwrite: true,
      message: 'generated by nbpy grafana',
    });
    if (r.status === 400 && /provisioned/i.test(msgOf(r.body)))
      return { ...base, action: 'skipped', detail: 'provisioned from files; files own this uid' };
    if (r.status !== 200) this.fail(`saving dashboard ${d.uid}`, r);
    return { ...base, action: existed ? 'updated' : 'created' };
  }
}

export interface GrafanaPlan {
  datasource?: DatasourceModel;
  folder?: { uid: string; title: string };
  dashboards?: readonly GeneratedDashboard[];
}

/** Apply a plan in the documented order (grafana.md §6): datasource, folder, dashboards. */
export async function applyToGrafana(client: GrafanaClient, plan: GrafanaPlan): Promise<Change[]> {
  const changes: Change[] = [];
  if (plan.datasource) changes.push(await client.upsertDatasource(plan.datasource));
  if (plan.dashboards?.length) {
    const folder = plan.folder ?? { uid: 'nbpy', title: 'nbpy' };
    changes.push(await client.ensureFolder(folder.uid, folder.title));
    for (const d of plan.dashboards) changes.push(await client.upsertDashboard(d, folder.uid));
  }
  return changes;
}
