/**
 * A JSON Schema for classic dashboards generated from @grafana/schema's own `Dashboard` type with
 * ts-json-schema-generator (grafana.md §7.3), and an Ajv validator over it. Generated at test time,
 * so it always follows the pinned @grafana/schema version.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import AjvModule from 'ajv';
import { createGenerator } from 'ts-json-schema-generator';

const require = createRequire(import.meta.url);
const Ajv = AjvModule.default;

/** The types file the schema is generated from (the pinned package's generated dashboard kind). */
export function dashboardTypesPath(): string {
  const pkg = require.resolve('@grafana/schema/package.json');
  return join(dirname(pkg), 'dist', 'types', 'raw', 'dashboard', 'x', 'types.gen.d.ts');
}

let cached: Record<string, unknown> | undefined;

/** Generate (once per process) the JSON Schema of @grafana/schema's `Dashboard`. */
export function dashboardJsonSchema(): Record<string, unknown> {
  cached ??= createGenerator({
    path: dashboardTypesPath(),
    type: 'Dashboard',
    skipTypeCheck: true,
    additionalProperties: true,
  }).createSchema('Dashboard') as Record<string, unknown>;
  return cached;
}

/** Validate a dashboard against the generated schema; returns Ajv's error texts (empty = valid). */
export function validateDashboardSchema(): (dashboard: unknown) => string[] {
  const validate = new Ajv({ allErrors: true, strict: false }).compile(dashboardJsonSchema());
  return (dashboard) =>
    validate(dashboard) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}
