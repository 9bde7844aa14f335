/**
 * The one builder behind every generated dashboard. A dashboard is described as data: its sources
 * (a FROM clause and the tag variables that filter it), its tag variables, and rows of panels with
 * one InfluxQL query each, given by its SELECT list and what differs from the dashboard's defaults.
 * `renderDashboard` turns that into classic dashboard JSON (typed with @grafana/schema). Pure.
 *
 * Every query it writes is raw InfluxQL, filters tags with `=~ /^${var:regex}$/` and ends its
 * WHERE with `$timeFilter` (grafana.md §3, §4, §9).
 */
import type { Dashboard, DataSourceRef } from '@grafana/schema';
import { quoteIdent, tagFilter, whereClause } from './influxql.js';
import { PanelSet, SCHEMA_VERSION, tagVariable } from './panels.js';

/** Tag put on every generated dashboard (and used to find them). */
export const GENERATED_TAG = 'nbpy';

/** A generated dashboard: @grafana/schema's Dashboard, with the variables' `definition` kept. */
export type GeneratedDashboard = Dashboard & { uid: string; title: string };

/** A multi-value query variable over one tag key (grafana.md §4); it also names that tag's filter. */
export interface VariableSpec {
  name: string;
  label: string;
  /** The tag key it lists, and filters on where a source names this variable. */
  key: string;
  /** The source whose tag values it lists (default `main`). */
  source?: string;
  /** A variable whose selection narrows this one's values (Betfair runners within the chosen markets). */
  within?: string;
}

/** What panels read: a FROM clause and the variables that filter it, in WHERE order. */
export interface SourceSpec {
  from: string;
  filters: readonly string[];
}

/** One panel's query: its SELECT list and what differs from the source and the dashboard's defaults. */
export interface QueryParts {
  select: string;
  /** Key of `DashboardSpec.sources` (default `main`). */
  source?: string;
  /** Conditions put before the source's tag filters in the WHERE. */
  conditions?: readonly string[];
  /** Only the last minute (`AND time > now() - 1m`): rates over a fixed window. */
  recent?: boolean;
  /**
   * Read from a subquery over the source instead, for aggregates of per-point expressions (VWAP):
   * `FROM (SELECT <select> FROM <source> WHERE <filters> GROUP BY <by>) WHERE $timeFilter`.
   */
  subquery?: { select: string; by: readonly string[] };
  /** GROUP BY tags; defaults from the dashboard by panel type (tables: none). */
  by?: readonly string[];
  /** fill() of a time-grouped query (default `DashboardSpec.fill`). */
  fill?: string;
  /** Legend alias; defaults in `renderDashboard`. Tables have none. */
  alias?: string;
  /** Newest first, at most this many rows (`ORDER BY time DESC LIMIT n`). */
  limit?: number;
}

export type QueryOptions = Omit<QueryParts, 'select'>;
export type StatOptions = NonNullable<Parameters<PanelSet['stat']>[2]>;
export type SeriesOptions = NonNullable<Parameters<PanelSet['timeseries']>[2]>;
export type TableOptions = NonNullable<Parameters<PanelSet['table']>[2]>;
export type StateMappings = Parameters<PanelSet['stateTimeline']>[2];
export type StateOptions = NonNullable<Parameters<PanelSet['stateTimeline']>[3]>;

interface Titled extends QueryParts {
  title: string;
}

/** A panel: its type, title, query and the options of the matching PanelSet method. */
export type PanelSpec =
  | ({ type: 'stat' } & Titled & StatOptions)
  | ({ type: 'timeseries' } & Titled & SeriesOptions)
  | ({ type: 'table' } & Titled & TableOptions)
  | ({ type: 'state-timeline'; mappings: StateMappings } & Titled & StateOptions);

export interface RowSpec {
  title: string;
  panels: readonly PanelSpec[];
}

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  /** Tags after the generated ones. */
  tags: readonly string[];
  /** `main` is the default source of panels and variables. */
  sources: Readonly<Record<string, SourceSpec>>;
  variables: readonly VariableSpec[];
  /** GROUP BY of stat panels that do not say (default none). */
  statBy?: readonly string[];
  /** GROUP BY (after `time($__interval)`) of time-series and state-timeline panels that do not say (default none). */
  seriesBy?: readonly string[];
  /** fill() of time-grouped queries that do not say (default `none`). */
  fill?: string;
  /**
   * Legend alias of time-series and state-timeline panels that do not say. Without it, and for
   * stat panels, the alias is `$tag_<t>` for each GROUP BY tag.
   */
  seriesAlias?: string;
  rows: readonly RowSpec[];
}

/** Settings that come from the config rather than the dashboard description. */
export interface RenderContext {
  ds: DataSourceRef;
  refresh: string;
}

// ---------------------------------------------------------------- panel constructors

export const stat = (title: string, select: string, o: QueryOptions & StatOptions = {}): PanelSpec => ({
  type: 'stat',
  title,
  select,
  ...o,
});

export const series = (title: string, select: string, o: QueryOptions & SeriesOptions = {}): PanelSpec => ({
  type: 'timeseries',
  title,
  select,
  ...o,
});

export const table = (title: string, select: string, o: QueryOptions & TableOptions = {}): PanelSpec => ({
  type: 'table',
  title,
  select,
  ...o,
});

/** The newest rows, these columns (quoted), newest first. */
export const latestTable = (title: string, columns: readonly string[], o: QueryOptions & TableOptions = {}): PanelSpec =>
  table(title, columns.map(quoteIdent).join(', '), { limit: 50, ...o });

export const stateTimeline = (title: string, select: string, mappings: StateMappings, o: QueryOptions & StateOptions = {}): PanelSpec => ({
  type: 'state-timeline',
  title,
  select,
  mappings,
  ...o,
});

/** A row and its panels; `false` entries (a panel that needs a field the schema lacks) are left out. */
export function row(title: string, ...panels: (PanelSpec | false)[]): RowSpec {
  return { title, panels: panels.filter((p): p is PanelSpec => p !== false) };
}

// ---------------------------------------------------------------- rendering

const tagAlias = (by: readonly string[]) => by.map((t) => `$tag_${t}`).join(' ');
const groupBy = (tags: readonly string[]) => tags.map(quoteIdent);

/** The InfluxQL of one panel and its legend alias. */
function panelQuery(spec: DashboardSpec, p: PanelSpec, whereOf: (source: string) => string): { query: string; alias?: string } {
  const timed = p.type === 'timeseries' || p.type === 'state-timeline';
  const by = p.by ?? (p.type === 'stat' ? spec.statBy : timed ? spec.seriesBy : undefined) ?? [];
  const sourceName = p.source ?? 'main';
  const from = sourceOf(spec, sourceName).from;

  let q: string;
  if (p.subquery) {
    const inner = `SELECT ${p.subquery.select} FROM ${from} WHERE ${whereOf(sourceName)} GROUP BY ${groupBy(p.subquery.by).join(', ')}`;
    q = `SELECT ${p.select} FROM (${inner}) WHERE $timeFilter`;
  } else {
    const where = [...(p.conditions ?? []), whereOf(sourceName)].join(' AND ');
    q = `SELECT ${p.select} FROM ${from} WHERE ${where}${p.recent ? ' AND time > now() - 1m' : ''}`;
  }
  if (timed) q += ` GROUP BY ${['time($__interval)', ...groupBy(by)].join(', ')} fill(${p.fill ?? spec.fill ?? 'none'})`;
  else if (by.length > 0) q += ` GROUP BY ${groupBy(by).join(', ')}`;
  if (p.limit !== undefined) q += ` ORDER BY time DESC LIMIT ${p.limit}`;

  if (p.type === 'table') return { query: q };
  const alias = p.alias ?? (timed ? spec.seriesAlias : undefined) ?? tagAlias(by);
  return { query: q, alias };
}

function sourceOf(spec: DashboardSpec, name: string): SourceSpec {
  const s = spec.sources[name];
  if (!s) throw new Error(`dashboard ${spec.uid}: no source "${name}"`);
  return s;
}

/** Render a dashboard description: ids, grid positions, datasource refs and the dashboard shell. */
export function renderDashboard(ctx: RenderContext, spec: DashboardSpec): GeneratedDashboard {
  const keyOf = (variable: string): string => {
    const v = spec.variables.find((x) => x.name === variable);
    if (!v) throw new Error(`dashboard ${spec.uid}: no variable "${variable}"`);
    return v.key;
  };
  const filterOf = (variable: string) => tagFilter(keyOf(variable), variable);
  const whereOf = (source: string) => whereClause(sourceOf(spec, source).filters.map(filterOf));

  const ps = new PanelSet(ctx.ds);
  for (const r of spec.rows) {
    ps.row(r.title);
    for (const p of r.panels) {
      const targets = [panelQuery(spec, p, whereOf)];
      switch (p.type) {
        case 'stat':
          ps.stat(p.title, targets, p);
          break;
        case 'timeseries':
          ps.timeseries(p.title, targets, p);
          break;
        case 'table':
          ps.table(p.title, targets, p);
          break;
        case 'state-timeline':
          ps.stateTimeline(p.title, targets, p.mappings, p);
          break;
      }
    }
  }

  const variables = spec.variables.map((v) => {
    const values = `SHOW TAG VALUES FROM ${sourceOf(spec, v.source ?? 'main').from} WITH KEY = ${quoteIdent(v.key)}`;
    return tagVariable(ctx.ds, v.name, v.label, v.within ? `${values} WHERE ${filterOf(v.within)}` : values);
  });

  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: [GENERATED_TAG, 'generated', ...spec.tags],
    editable: true,
    schemaVersion: SCHEMA_VERSION,
    timezone: 'utc',
    refresh: ctx.refresh,
    time: { from: 'now-15m', to: 'now' },
    timepicker: { refresh_intervals: ['5s', '10s', '30s', '1m', '5m'] },
    graphTooltip: 1 as Dashboard['graphTooltip'],
    annotations: { list: [] },
    links: [],
    templating: { list: variables },
    panels: ps.panels,
  };
}
