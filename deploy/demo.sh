#!/usr/bin/env bash
# demo.sh - the docker-compose demo without Docker: a private redis-server, sluiced on
# it with deploy/sluice.yaml's queues, and deploy/demo-steps.sh (a function under the
# Lambda Runtime API, a queue trigger, orders, retries, a dead letter).
#   bash deploy/demo.sh [BUILD_DIR]      (default: build; run deploy/quickstart.sh first)
# Needs redis-server and curl (Debian: apt-get install redis-server curl). Everything it
# starts listens on loopback only and is stopped on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
command -v redis-server >/dev/null || { echo "demo: needs redis-server" >&2; exit 1; }
command -v curl >/dev/null || { echo "demo: needs curl" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" \
    >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
PORT=$(free_port)
"$BUILD/sluiced" --config "$ROOT/deploy/sluice.yaml" --listen "127.0.0.1:$PORT" \
    --store "redis://127.0.0.1:$RPORT" >"$TMP/sluiced.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
echo "sluiced on http://127.0.0.1:$PORT, store redis://127.0.0.1:$RPORT"
rc=0
sh "$ROOT/deploy/demo-steps.sh" "http://127.0.0.1:$PORT" "$ROOT/deploy/functions" \
    "$ROOT/tests/integration/functions/shell/bootstrap" "$BUILD/sluice" || rc=$?
printf '\n== the broker log: what the function printed, and the retries\n'
grep -E 'function output|retry|dead' "$TMP/sluiced.log" | tail -n 12 || true
exit $rc
