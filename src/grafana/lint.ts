/**
 * Project rules for generated dashboards that Grafana itself does not enforce (grafana.md §7.4).
 * Pure: a dashboard (or all of them) in, a list of problems out (empty = fine).
 */
import type { Dashboard, Panel, RowPanel, VariableModel } from '@grafana/schema';
import { GRID_COLUMNS, SCHEMA_VERSION } from './panels.js';
import { referencedVariables } from './influxql.js';

export interface LintOptions {
  datasourceUid: string;
  /** Grafana's min_refresh_interval (default 5s). */
  minRefreshMs?: number;
}

/**
 * uids: Grafana's legacy rule is `[a-zA-Z0-9_-]{1,40}`; we also require lowercase and a leading
 * letter (Kubernetes-style storage in Grafana 12+ lowercases names). Underscores are kept because
 * the project's dashboard uids (`kraken_tick_stream`) are fixed by the spec.
 */
export const UID_RE = /^[a-z][a-z0-9_-]{0,39}$/;

/** `5s`, `1m`, ... in ms; NaN when unparseable. */
export function durationMs(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
}

const AGG_RE =
  /\b(count|sum|mean|median|mode|spread|stddev|first|last|min|max|percentile|top|bottom|distinct|integral|non_negative_difference|non_negative_derivative|difference|derivative)\s*\(/i;

function isRef(v: unknown, uid: string): boolean {
  if (!v || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return Object.keys(o).length === 2 && o.type === 'influxdb' && o.uid === uid;
}

/** Problems in one InfluxQL query of a panel target. */
export function lintQuery(q: string, where: string): string[] {
  const out: string[] = [];
  const selects = (q.match(/\bSELECT\b/gi) ?? []).length;
  const tf = (q.match(/\$timeFilter/g) ?? []).length;
  if (tf === 0) out.push(`${where}: query has no $timeFilter`);
  else if (tf < selects) out.push(`${where}: every SELECT (subqueries too) needs its own $timeFilter`);
  if (/GROUP BY time\(/i.test(q) && !AGG_RE.test(q)) out.push(`${where}: GROUP BY time() without an aggregate`);
  const fillAt = q.search(/fill\([^)]*\)\s*(ORDER BY time (ASC|DESC)\s*)?(LIMIT \d+\s*)?$/i);
  if (/fill\(/i.test(q) && (fillAt === -1 || !/GROUP BY/i.test(q.slice(0, fillAt))))
    out.push(`${where}: fill() must be the last GROUP BY item`);
  out.push(...lintTagFilters(q, where));
  return out;
}

function lintTagFilters(q: string, where: string): string[] {
  const out: string[] = [];
  if (/=\s*'\$\{?\w+/.test(q)) out.push(`${where}: a variable inside quotes (= '$var') breaks on escaped values; use =~ /^\${var:regex}$/`);
  if (/\/\^\$\w/.test(q) || /\/\^\$\{\w+\}\$\//.test(q)) out.push(`${where}: bare /^$var$/ regex; use /^\${var:regex}$/`);
  return out;
}

function panelsOf(d: Dashboard): (Panel | RowPanel)[] {
  const out: (Panel | RowPanel)[] = [];
  for (const p of d.panels ?? []) {
    out.push(p);
    if (p.type === 'row') out.push(...(p as RowPanel).panels);
  }
  return out;
}

/** Every rule of grafana.md §7.4 for one dashboard. */
export function lintDashboard(d: Dashboard, opts: LintOptions): string[] {
  const out: string[] = [];
  const uid = d.uid ?? '';
  const at = (s: string) => `${uid || '(no uid)'}: ${s}`;
  if (!UID_RE.test(uid)) out.push(at(`uid must match ${UID_RE}`));
  if (!d.title) out.push(at('no title'));
  if (d.schemaVersion !== SCHEMA_VERSION) out.push(at(`schemaVersion ${d.schemaVersion}, expected ${SCHEMA_VERSION}`));
  if (d.id !== undefined && d.id !== null) out.push(at('id must be absent or null'));
  const refreshMs = durationMs(d.refresh ?? '');
  if (!(refreshMs >= (opts.minRefreshMs ?? 5000)))
    out.push(at(`refresh "${d.refresh}" is below the minimum ${opts.minRefreshMs ?? 5000} ms`));
  const text = JSON.stringify(d);
  if (/\$\{DS_|__inputs|__requires/.test(text)) out.push(at('uses ${DS_...}/__inputs placeholders; reference the datasource by uid'));

  const vars = (d.templating?.list ?? []) as VariableModel[];
  const defined = new Set<string>();
  vars.forEach((v, i) => {
    const w = at(`variable ${v.name || i}`);
    if (defined.has(v.name)) out.push(`${w}: defined twice`);
    if (v.type === 'query') {
      if (!isRef(v.datasource, opts.datasourceUid)) out.push(`${w}: datasource must be {type:'influxdb', uid:'${opts.datasourceUid}'}`);
      if (!(v.multi && v.includeAll && v.allValue === '.*')) out.push(`${w}: must be multi + includeAll with allValue ".*"`);
      const q = typeof v.query === 'string' ? v.query : String((v.query as Record<string, unknown> | undefined)?.query ?? '');
      if (!/^SHOW TAG VALUES /i.test(q) && !q.includes('$timeFilter')) out.push(`${w}: query is neither SHOW TAG VALUES nor time-filtered`);
      for (const r of referencedVariables(q)) if (!defined.has(r)) out.push(`${w}: refers to $${r}, not defined before it`);
      out.push(...lintTagFilters(q, w));
    }
    defined.add(v.name);
  });

  const ids = new Set<number>();
  const boxes: { id: number; x: number; y: number; w: number; h: number }[] = [];
  for (const p of panelsOf(d)) {
    const w = at(`panel ${p.id ?? '?'} "${p.title ?? ''}"`);
    if (typeof p.id !== 'number') out.push(`${w}: no id`);
    else if (ids.has(p.id)) out.push(`${w}: duplicate id`);
    else ids.add(p.id);
    const g = p.gridPos;
    if (!g) out.push(`${w}: no gridPos`);
    else {
      if (!(g.x >= 0 && g.w >= 1 && g.w <= GRID_COLUMNS && g.x + g.w <= GRID_COLUMNS && g.h >= 1 && g.y >= 0))
        out.push(`${w}: gridPos outside the 24-column grid`);
      for (const b of boxes)
        if (g.x < b.x + b.w && b.x < g.x + g.w && g.y < b.y + b.h && b.y < g.y + g.h) out.push(`${w}: overlaps panel ${b.id}`);
      boxes.push({ id: p.id ?? -1, ...g });
    }
    if (p.type === 'row') continue;
    const panel = p as Panel;
    if (!isRef(panel.datasource, opts.datasourceUid)) out.push(`${w}: datasource must be {type:'influxdb', uid:'${opts.datasourceUid}'}`);
    const targets = panel.targets ?? [];
    if (targets.length === 0) out.push(`${w}: no targets`);
    const refIds = new Set<string>();
    for (const t of targets) {
      const tw = `${w} target ${String(t.refId)}`;
      if (typeof t.refId !== 'string' || refIds.has(t.refId)) out.push(`${tw}: refId missing or duplicate`);
      else refIds.add(t.refId);
      if (!isRef(t.datasource, opts.datasourceUid)) out.push(`${tw}: datasource must be the provisioned uid`);
      if (t.rawQuery !== true) out.push(`${tw}: rawQuery must be true (else Grafana rebuilds the query from builder fields)`);
      const q = typeof t.query === 'string' ? t.query : '';
      out.push(...lintQuery(q, tw));
      for (const r of referencedVariables(q)) if (!defined.has(r)) out.push(`${tw}: refers to $${r}, which is not a dashboard variable`);
    }
  }
  return out;
}

/** Rules across dashboards: unique uids and titles (one folder). */
export function lintDashboards(ds: readonly Dashboard[], opts: LintOptions): string[] {
  const out = ds.flatMap((d) => lintDashboard(d, opts));
  const uids = new Set<string>();
  const titles = new Set<string>();
  for (const d of ds) {
    if (d.uid && uids.has(d.uid)) out.push(`${d.uid}: uid used twice`);
    if (d.uid) uids.add(d.uid);
    if (d.title && titles.has(d.title)) out.push(`${d.uid}: title "${d.title}" used twice in the folder`);
    if (d.title) titles.add(d.title);
  }
  return out;
}
