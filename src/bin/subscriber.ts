#!/usr/bin/env node
/** One subscriber process: `subscriber.ts <name> [--config F]` (the same as `nbpy subscriber run <name>`). */
import { main } from '../cli/index.js';

process.exitCode = await main([process.argv[0]!, process.argv[1]!, 'subscriber', 'run', ...process.argv.slice(2)]);
