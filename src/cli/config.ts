/** `nbpy config check|schema`. */
import type { Command } from 'commander';
import { configJsonSchema } from '../config/schema.js';
import { configPath, loadFromCommand, printJson, wantsJson } from './common.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('check the configuration, print its JSON Schema');

  config
    .command('check')
    .description('validate the config file (schema, env overrides, duplicate ports/names/topics, dangling references)')
    .option('--json', 'print the result as JSON')
    .action((_opts, cmd: Command) => {
      const { config: cfg, path } = loadFromCommand(cmd);
      const summary = {
        ok: true,
        file: path,
        publishers: cfg.publishers.length,
        subscribers: cfg.subscribers.length,
        topics: cfg.publishers.map((p) => p.topic),
        storage: cfg.storage.backend,
        influxdb: cfg.backing.influxdb.provider,
      };
      if (wantsJson(cmd)) printJson(summary);
      else
        console.log(
          `${configPath(cmd)}: ok: ${summary.publishers} publishers, ${summary.subscribers} subscribers, storage ${summary.storage}, influxdb via ${summary.influxdb}`,
        );
    });

  config
    .command('schema')
    .description('print the JSON Schema of the config file')
    .action(() => {
      console.log(JSON.stringify(configJsonSchema(), null, 2));
    });
}
