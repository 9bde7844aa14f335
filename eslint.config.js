// typescript-eslint's recommended rules plus the import-direction rules of ../shared/STYLE.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layer = (files, forbidden, why, ignores = []) => ({
  files,
  ignores,
  rules: {
    'no-restricted-imports': ['error', { patterns: forbidden.map((group) => ({ group: [group], message: why })) }],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'run/**', 'logs/**', 'artifacts/**', 'src/console/static/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  layer(
    ['src/core/**'],
    ['../**', 'node:*'],
    'core is pure: it imports nothing from the project and does no I/O',
    // Its tests may use node:test and node:assert (still nothing outside core).
    ['src/core/**/*.test.ts'],
  ),
  layer(['src/core/**/*.test.ts'], ['../**'], 'core is pure: it imports nothing from the project'),
  layer(
    ['src/venues/**'],
    ['**/bus/**', '**/storage/**', '**/health/**', '**/grafana/**', '**/console/**', '**/cli/**'],
    'a connector does not know the bus or the store exist',
  ),
  layer(
    ['src/bus/**'],
    ['**/venues/**', '**/storage/**', '**/health/**', '**/grafana/**', '**/console/**', '**/cli/**'],
    'the bus knows records, not venues or stores',
  ),
  layer(
    ['src/storage/**'],
    ['**/venues/**', '**/bus/**', '**/grafana/**', '**/console/**', '**/cli/**'],
    'a sink does not know venues or the bus exist',
  ),
  layer(
    ['src/health/**'],
    ['**/venues/**', '**/bus/**', '**/storage/**', '**/grafana/**', '**/console/**', '**/supervisor/**', '**/cli/**', '**/bin/**'],
    'health judges what it is told (the manager view, /health answers); the entry files in cli/ and bin/ wire it',
  ),
  layer(
    ['src/grafana/**'],
    ['**/venues/**', '**/bus/**', '**/storage/**', '**/health/**', '**/console/**', '**/cli/**', '**/bin/**'],
    'dashboards are built from the config alone',
  ),
  layer(
    ['src/console/**'],
    ['**/venues/**', '**/bus/**', '**/storage/**', '**/grafana/**', '**/health/**', '**/cli/**', '**/bin/**'],
    'the console is handed its bus reader (a ConsoleBus) by src/cli/console.ts; it imports no other layer',
  ),
  layer(
    ['src/venues/*/parse.ts', 'src/venues/*/normalise.ts', 'src/venues/*/protocol.ts', 'src/venues/*/book.ts', 'src/venues/*/cache.ts'],
    ['./wire.js', '**/wire.js', 'node:net', 'node:tls', 'node:http', 'node:https', 'ws'],
    'pure parsing and state never import wire I/O',
  ),
);
