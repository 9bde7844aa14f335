/**
 * Small typed constructors for classic (schemaVersion 42) dashboard JSON, typed with @grafana/schema
 * (grafana.md §0 approach (a)). Pure: they only build objects.
 */
import type {
  DataSourceRef,
  FieldColorModeId,
  GridPos,
  MappingType,
  Panel,
  RowPanel,
  ThresholdsMode,
  VariableHide,
  VariableModel,
  VariableRefresh,
  VariableSort,
} from '@grafana/schema';

/** Schema version Grafana 13.2.3 (the pinned image, and @grafana/schema 13.2.3) writes. */
export const SCHEMA_VERSION = 42;
/** The grid is 24 columns wide. */
export const GRID_COLUMNS = 24;

/**
 * A raw InfluxQL target (grafana.md §3.1). A type alias (not an interface) so it is assignable to
 * @grafana/schema's open `Record<string, unknown>` target type.
 */
export type InfluxTarget = {
  refId: string;
  datasource: DataSourceRef;
  rawQuery: true;
  query: string;
  resultFormat: 'time_series' | 'table';
  alias?: string;
};

export interface QuerySpec {
  query: string;
  alias?: string;
  format?: 'time_series' | 'table';
}

/** Places panels left to right, wrapping at 24 columns; rows start a new line. */
export class Grid {
  private x = 0;
  private y = 0;
  private lineH = 0;
  place(w: number, h: number): GridPos {
    if (this.x + w > GRID_COLUMNS) this.newLine();
    const pos: GridPos = { x: this.x, y: this.y, w, h };
    this.x += w;
    this.lineH = Math.max(this.lineH, h);
    return pos;
  }
  newLine(): void {
    this.y += this.lineH;
    this.x = 0;
    this.lineH = 0;
  }
}

export interface PanelOptions {
  w?: number;
  h?: number;
  unit?: string;
  decimals?: number;
  description?: string;
}

/** Builds the panels of one dashboard: ids, grid positions and targets with the datasource ref. */
export class PanelSet {
  readonly panels: (Panel | RowPanel)[] = [];
  private nextId = 1;
  private readonly grid = new Grid();
  constructor(private readonly ds: DataSourceRef) {}

  private targets(qs: readonly QuerySpec[]): InfluxTarget[] {
    return qs.map((q, i) => {
      const t: InfluxTarget = {
        refId: String.fromCharCode(65 + i),
        datasource: { ...this.ds },
        rawQuery: true,
        query: q.query,
        resultFormat: q.format ?? 'time_series',
      };
      if (q.alias) t.alias = q.alias;
      return t;
    });
  }

  private base(type: string, title: string, qs: readonly QuerySpec[], o: PanelOptions, defW: number, defH: number): Panel {
    const p: Panel = {
      id: this.nextId++,
      type,
      title,
      gridPos: this.grid.place(o.w ?? defW, o.h ?? defH),
      datasource: { ...this.ds },
      targets: this.targets(qs),
    };
    if (o.description) p.description = o.description;
    return p;
  }

  row(title: string): void {
    this.grid.newLine();
    const r: RowPanel = { id: this.nextId++, type: 'row', title, collapsed: false, panels: [], gridPos: this.grid.place(GRID_COLUMNS, 1) };
    this.grid.newLine();
    this.panels.push(r);
  }

  timeseries(
    title: string,
    qs: readonly QuerySpec[],
    o: PanelOptions & { draw?: 'line' | 'points' | 'bars'; step?: boolean; stack?: boolean } = {},
  ): void {
    const p = this.base('timeseries', title, qs, o, 12, 8);
    p.fieldConfig = {
      defaults: {
        ...(o.unit ? { unit: o.unit } : {}),
        ...(o.decimals !== undefined ? { decimals: o.decimals } : {}),
        custom: {
          drawStyle: o.draw ?? 'line',
          lineInterpolation: o.step ? 'stepAfter' : 'linear',
          lineWidth: 1,
          fillOpacity: o.draw === 'bars' ? 80 : 0,
          pointSize: 4,
          showPoints: o.draw === 'points' ? 'always' : 'never',
          spanNulls: false,
          stacking: { mode: o.stack ? 'normal' : 'none', group: 'A' },
        },
      },
      overrides: [],
    };
    p.options = {
      legend: { showLegend: true, displayMode: 'list', placement: 'bottom', calcs: [] },
      tooltip: { mode: 'multi', sort: 'none' },
    };
    this.panels.push(p);
  }

  stat(
    title: string,
    qs: readonly QuerySpec[],
    o: PanelOptions & { thresholds?: { value: number | null; color: string }[]; noValue?: string } = {},
  ): void {
    const p = this.base('stat', title, qs, o, 6, 4);
    p.fieldConfig = {
      defaults: {
        ...(o.unit ? { unit: o.unit } : {}),
        ...(o.decimals !== undefined ? { decimals: o.decimals } : {}),
        ...(o.noValue !== undefined ? { noValue: o.noValue } : {}),
        thresholds: { mode: 'absolute' as ThresholdsMode, steps: o.thresholds ?? [{ value: null, color: 'green' }] },
        color: { mode: 'thresholds' as FieldColorModeId },
      },
      overrides: [],
    };
    p.options = {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'value',
      graphMode: 'none',
      textMode: 'auto',
      justifyMode: 'auto',
      orientation: 'auto',
    };
    this.panels.push(p);
  }

  table(title: string, qs: readonly QuerySpec[], o: PanelOptions = {}): void {
    const p = this.base(
      'table',
      title,
      qs.map((q) => ({ ...q, format: 'table' as const })),
      o,
      24,
      9,
    );
    p.fieldConfig = { defaults: { ...(o.unit ? { unit: o.unit } : {}) }, overrides: [] };
    p.options = { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } };
    this.panels.push(p);
  }

  stateTimeline(
    title: string,
    qs: readonly QuerySpec[],
    mappings: Record<string, { text: string; color: string }>,
    o: PanelOptions = {},
  ): void {
    const p = this.base('state-timeline', title, qs, o, 12, 6);
    p.fieldConfig = {
      defaults: {
        mappings: [
          {
            type: 'value' as MappingType.ValueToText,
            options: Object.fromEntries(Object.entries(mappings).map(([k, v], i) => [k, { ...v, index: i }])),
          },
        ],
        color: { mode: 'thresholds' as FieldColorModeId },
        thresholds: { mode: 'absolute' as ThresholdsMode, steps: [{ value: null, color: 'text' }] },
      },
      overrides: [],
    };
    p.options = {
      mergeValues: true,
      showValue: 'auto',
      rowHeight: 0.9,
      legend: { showLegend: true, displayMode: 'list', placement: 'bottom' },
    };
    this.panels.push(p);
  }
}

/**
 * A query variable over one tag key, in the safe form (grafana.md §4): multi + includeAll +
 * allValue `.*`, refreshed on time-range change, sorted alphabetically.
 */
export function tagVariable(ds: DataSourceRef, name: string, label: string, query: string): VariableModel & { definition: string } {
  const v: VariableModel = {
    type: 'query',
    name,
    label,
    datasource: { ...ds },
    query: { refId: 'InfluxVariableQueryEditor-VariableQuery', query },
    refresh: 2 as VariableRefresh,
    sort: 1 as VariableSort,
    multi: true,
    includeAll: true,
    allValue: '.*',
    hide: 0 as VariableHide,
    current: { text: ['All'], value: ['$__all'] },
    options: [],
  };
  // `definition` is what the variable editor shows; @grafana/schema does not list it.
  return { ...v, definition: query };
}
