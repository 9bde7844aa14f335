/**
 * Raw InfluxQL pieces for Grafana targets, and the macro rendering Grafana's InfluxDB backend does
 * (grafana.md §3.1), so tests can run every generated query against a real influxd. Pure.
 */

/** Quote an InfluxQL identifier: `"high_frequency"`. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A measurement qualified by its retention policy: `"high_frequency"."kraken_tick"` (grafana.md: name the RP). */
export function source(rp: string, measurement: string): string {
  return `${quoteIdent(rp)}.${quoteIdent(measurement)}`;
}

/** Several sources for one FROM clause (InfluxQL merges them): one per retention policy. */
export function sources(rps: readonly string[], measurement: string): string {
  return [...new Set(rps)].map((rp) => source(rp, measurement)).join(', ');
}

/**
 * The one tag-filter form used everywhere (grafana.md §4, §9.7): `"tag" =~ /^${var:regex}$/`, with
 * the variable `multi` + `includeAll` + `allValue: ".*"`. `:regex` escapes `/` and `.`, so values
 * such as `XBT/USD` or a Betfair market id `1.180770798` are safe.
 */
export function tagFilter(tag: string, variable: string): string {
  return `${quoteIdent(tag)} =~ /^\${${variable}:regex}$/`;
}

/** `WHERE` body: the tag filters, then `$timeFilter` (always last, always present). */
export function whereClause(filters: readonly string[]): string {
  return [...filters, '$timeFilter'].join(' AND ');
}

/**
 * Grafana's `escapeRegex` (@grafana/data), what the `:regex` variable format applies to each
 * value: backslash before `\ ^ $ * + ? . ( ) | [ ] { } /`.
 */
export function escapeRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
}

/** What `${v:regex}` becomes for a selection: All -> the allValue; one value -> escaped; several -> `(a|b)`. */
export function formatRegexSelection(selection: 'all' | readonly string[], allValue = '.*'): string {
  if (selection === 'all') return allValue;
  const esc = selection.map(escapeRegex);
  if (esc.length === 1) return esc[0]!;
  return `(${esc.join('|')})`;
}

export interface MacroValues {
  fromMs: number;
  toMs: number;
  intervalMs: number;
  /** Variable name -> selection (All or the chosen values). */
  variables: Readonly<Record<string, 'all' | readonly string[]>>;
}

/** Format a millisecond interval the way Grafana does for `$__interval` (`1s`, `500ms`, `2m`). */
export function formatInterval(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const VAR_RE = /\$\{(\w+)(?::(\w+))?\}|\$(\w+)/g;

/**
 * Render a query the way Grafana would before InfluxDB sees it: template variables (frontend) then
 * `$timeFilter`, `$__interval`, `$__interval_ms`, `$interval` (backend, plain string replacement).
 * An unknown `$name` is left as is, so InfluxDB reports it.
 */
export function renderQuery(query: string, v: MacroValues): string {
  return query.replace(VAR_RE, (whole, braced: string | undefined, format: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    switch (name) {
      case 'timeFilter':
        return `time >= ${v.fromMs}ms and time <= ${v.toMs}ms`;
      case '__interval':
      case 'interval':
        return formatInterval(v.intervalMs);
      case '__interval_ms':
        return String(v.intervalMs);
    }
    const sel = v.variables[name];
    if (sel === undefined) return whole;
    if (format === 'regex') return formatRegexSelection(sel);
    // Other formats are not used by the generated dashboards; render like Grafana's default (first value).
    return sel === 'all' ? '.*' : (sel[0] ?? '');
  });
}

/** Names of every template variable a query refers to (`$x`, `${x}`, `${x:fmt}`), built-ins excluded. */
export function referencedVariables(query: string): string[] {
  const out = new Set<string>();
  for (const m of query.matchAll(VAR_RE)) {
    const name = m[1] ?? m[3] ?? '';
    if (!BUILTINS.has(name) && !/^tag_/.test(name) && !/^\d$/.test(name)) out.add(name);
  }
  return [...out];
}

/** Built-in Grafana variables and alias patterns that need no templating entry (grafana.md §7.4). */
export const BUILTINS: ReadonlySet<string> = new Set([
  'timeFilter',
  '__interval',
  '__interval_ms',
  'interval',
  '__range',
  '__range_s',
  '__range_ms',
  '__from',
  '__to',
  'col',
  'm',
  'measurement',
]);
