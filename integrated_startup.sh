#!/usr/bin/env bash
# Kept for people used to this interface: a thin wrapper over the `nbpy` CLI.
#   ./integrated_startup.sh start|stop|restart|status|validate [options...]
# Options are passed through (e.g. --config config/demo.json, --json).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cmd="${1:-}"
case "$cmd" in
  start | stop | restart | status | validate) shift ;;
  -h | --help | help | "")
    echo "usage: $0 {start|stop|restart|status|validate} [nbpy options]"
    [ -z "$cmd" ] && exit 2 || exit 0
    ;;
  *)
    echo "$0: unknown command '$cmd'; expected start|stop|restart|status|validate" >&2
    exit 2
    ;;
esac
if [ ! -f "$here/dist/bin/nbpy.js" ]; then
  echo "$0: nbpy is not built yet; running 'npm run build' first" >&2
  (cd "$here" && npm run build --silent)
fi
exec node "$here/dist/bin/nbpy.js" "$cmd" "$@"
