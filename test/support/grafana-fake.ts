/**
 * A small fake of Grafana's legacy HTTP API (grafana.md §6) on 127.0.0.1:0, recording requests:
 * /api/health, datasources by uid, folders, dashboards by uid (including read-only provisioned
 * objects). Enough to test the bootstrap's idempotence and its error handling.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  authorization?: string;
  body?: unknown;
}

export interface FakeGrafana {
  url: string;
  requests: RecordedRequest[];
  datasources: Map<string, Record<string, unknown>>;
  folders: Map<string, { uid: string; title: string }>;
  dashboards: Map<string, { dashboard: Record<string, unknown>; folderUid: string; version: number; provisioned: boolean }>;
  /** Writes (POST/PUT) seen since the last reset. */
  writes(): RecordedRequest[];
  resetRequests(): void;
  close(): Promise<void>;
}

export interface FakeGrafanaOptions {
  /** Accepted Authorization header values; anything else gets 401. */
  accept: string[];
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) : undefined;
}

export async function startFakeGrafana(opts: FakeGrafanaOptions): Promise<FakeGrafana> {
  const requests: RecordedRequest[] = [];
  const datasources = new Map<string, Record<string, unknown>>();
  const folders = new Map<string, { uid: string; title: string }>();
  const dashboards: FakeGrafana['dashboards'] = new Map();
  let nextId = 1;

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const path = url.pathname;
      const method = req.method ?? 'GET';
      const body = await readBody(req);
      requests.push({ method, path, authorization: req.headers.authorization, body });
      const send = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (path === '/api/health') return send(200, { database: 'ok', version: '13.2.3', commit: 'fake' });
      if (!opts.accept.includes(req.headers.authorization ?? '')) return send(401, { message: 'Unauthorized' });

      let m: RegExpExecArray | null;
      if ((m = /^\/api\/datasources\/uid\/([^/]+)(\/health)?$/.exec(path))) {
        const uid = decodeURIComponent(m[1]!);
        const ds = datasources.get(uid);
        if (!ds) return send(404, { message: 'Data source not found' });
        if (m[2]) return send(200, { status: 'OK', message: 'datasource is working. 8 measurements found' });
        if (method === 'GET') return send(200, ds);
        if (method === 'PUT') {
          if (ds.readOnly) return send(403, { message: 'Cannot update read-only data source' });
          const { secureJsonData, ...rest } = body as Record<string, unknown>;
          datasources.set(uid, {
            ...rest,
            id: ds.id,
            readOnly: false,
            secureJsonFields: secureJsonData ? { password: true } : (ds.secureJsonFields ?? {}),
          });
          return send(200, { message: 'Datasource updated', id: ds.id, name: rest.name });
        }
      }
      if (path === '/api/datasources' && method === 'POST') {
        const { secureJsonData, ...rest } = body as Record<string, unknown>;
        for (const d of datasources.values())
          if (d.name === rest.name || d.uid === rest.uid) return send(409, { message: 'data source with the same name already exists' });
        const id = nextId++;
        datasources.set(String(rest.uid), {
          ...rest,
          id,
          orgId: 1,
          readOnly: false,
          secureJsonFields: secureJsonData ? { password: true } : {},
        });
        return send(200, { datasource: { ...rest, id }, id, message: 'Datasource added', name: rest.name });
      }
      if ((m = /^\/api\/folders\/([^/]+)$/.exec(path))) {
        const f = folders.get(decodeURIComponent(m[1]!));
        if (!f) return send(404, { message: 'folder not found' });
        if (method === 'GET') return send(200, { ...f, id: 1 });
        if (method === 'PUT') {
          f.title = String((body as { title: string }).title);
          return send(200, f);
        }
      }
      if (path === '/api/folders' && method === 'POST') {
        const f = body as { uid: string; title: string };
        if (folders.has(f.uid)) return send(409, { message: 'a folder with the same uid already exists' });
        folders.set(f.uid, { uid: f.uid, title: f.title });
        return send(200, { ...f, id: nextId++ });
      }
      if ((m = /^\/api\/dashboards\/uid\/([^/]+)$/.exec(path)) && method === 'GET') {
        const d = dashboards.get(decodeURIComponent(m[1]!));
        if (!d) return send(404, { message: 'Dashboard not found' });
        return send(200, {
          dashboard: { ...d.dashboard, id: 7, version: d.version },
          meta: { provisioned: d.provisioned, folderUid: d.folderUid },
        });
      }
      if (path === '/api/dashboards/db' && method === 'POST') {
        const b = body as { dashboard: Record<string, unknown>; folderUid?: string; overwrite?: boolean };
        const uid = String(b.dashboard.uid);
        const cur = dashboards.get(uid);
        if (cur?.provisioned) return send(400, { message: 'Cannot save provisioned dashboard' });
        if (typeof b.dashboard.refresh === 'string' && /^[1-4]s$/.test(b.dashboard.refresh))
          return send(400, { message: 'Dashboard refresh interval is too low' });
        const { id: _id, ...dash } = b.dashboard;
        dashboards.set(uid, { dashboard: dash, folderUid: b.folderUid ?? '', version: (cur?.version ?? 0) + 1, provisioned: false });
        return send(200, { id: 7, uid, url: `/d/${uid}/x`, status: 'success', version: (cur?.version ?? 0) + 1 });
      }
      send(404, { message: `fake: no route ${method} ${path}` });
    })().catch((e: Error) => {
      res.writeHead(500);
      res.end(JSON.stringify({ message: e.message }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    datasources,
    folders,
    dashboards,
    writes: () => requests.filter((r) => r.method === 'POST' || r.method === 'PUT'),
    resetRequests: () => void requests.splice(0),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
