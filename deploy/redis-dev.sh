#!/usr/bin/env bash
# redis-dev.sh - local development on Redis in one command: starts redis-server (data in
# $SLUICE_REDIS_DIR, default ./.sluice-redis, append-only file on, so queues and messages
# survive restarts of both sluiced and Redis) and sluiced on it in the foreground.
# Ctrl-C stops both. Needs a built tree (deploy/quickstart.sh) and redis-server.
#   bash deploy/redis-dev.sh [extra sluiced flags, e.g. --config deploy/sluice.yaml]
# environment: REDIS_PORT (6379), SLUICE_LISTEN (127.0.0.1:9324), BUILD_DIR (build)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
REDIS_PORT=${REDIS_PORT:-6379}
DIR=${SLUICE_REDIS_DIR:-$PWD/.sluice-redis}
command -v redis-server >/dev/null || { echo "redis-dev: needs redis-server (apt-get install redis-server)" >&2; exit 1; }
[ -x "$BUILD_DIR/sluiced" ] || { echo "redis-dev: build first (bash deploy/quickstart.sh --no-wait)" >&2; exit 1; }
mkdir -p "$DIR"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR" --appendonly yes \
    --save '' --logfile "$DIR/redis.log" &
RPID=$!
SPID=
stop() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
    kill "$RPID" 2>/dev/null; wait "$RPID" 2>/dev/null
}
trap 'stop; exit 0' INT TERM
trap stop EXIT
for _ in $(seq 1 50); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    kill -0 $RPID 2>/dev/null || { echo "redis-dev: redis-server did not start (port $REDIS_PORT in use?); see $DIR/redis.log" >&2; exit 1; }
    sleep 0.1
done
echo "redis-dev: Redis on 127.0.0.1:$REDIS_PORT (data in $DIR); look with: redis-cli -p $REDIS_PORT --scan --pattern 'sluice:*'"
"$BUILD_DIR/sluiced" --store "redis://127.0.0.1:$REDIS_PORT" "$@" &
SPID=$!
wait "$SPID"
