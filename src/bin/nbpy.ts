#!/usr/bin/env node
import { main } from '../cli/index.js';

const code = await main(process.argv);
process.exitCode = code;
// A finished command whose process does not end has left something open (a socket, a timer, a
// server): that is a bug, but a service that never exits is worse. Exit anyway and name what was open.
const EXIT_GRACE_MS = 10_000;
setTimeout(() => {
  process.stderr.write(
    `nbpy: the command finished ${EXIT_GRACE_MS / 1000} s ago but the process is still busy (open: ${process.getActiveResourcesInfo().join(', ')}); exiting\n`,
  );
  process.exit(code);
}, EXIT_GRACE_MS).unref();
