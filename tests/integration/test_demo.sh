#!/usr/bin/env bash
# test_demo.sh BUILD_DIR [REPO_DIR] - keeps the docker-compose demo true without Docker:
# runs deploy/demo.sh (Redis, sluiced with deploy/sluice.yaml, the demo's function and
# trigger; the steps exit non-zero unless every order is handled and the poisoned one is
# dead-lettered), and checks that what the Dockerfile and docker-compose.yml refer to
# exists. Exits 77 (skipped) without redis-server.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
REPO=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
command -v redis-server >/dev/null || { echo "SKIP: redis-server not installed"; exit 77; }

fail() { echo "FAIL: $*" >&2; exit 1; }

# Every file the image copies from the build context exists.
while read -r src; do
    [ -e "$REPO/$src" ] || fail "deploy/Dockerfile copies $src, which does not exist"
done < <(sed -n 's/^COPY \([^-][^ ]*\) .*/\1/p' "$REPO/deploy/Dockerfile" | grep -v '^\.$')
# The compose file parses and the demo container runs the steps the image carries.
python3 - "$REPO/deploy/docker-compose.yml" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
s = c["services"]
assert set(s) >= {"redis", "sluice", "demo", "awscli"}, s.keys()
assert s["demo"]["entrypoint"][1] == "/opt/sluice/demo-steps.sh", s["demo"]["entrypoint"]
assert s["sluice"]["environment"]["SLUICE_STORE"] == "redis://redis:6379"
PY

out=$(bash "$REPO/deploy/demo.sh" "$BUILD" 2>&1) || { echo "$out"; fail "deploy/demo.sh failed"; }
echo "$out" | tail -n 25
grep -q 'order handled: order-20' <<<"$out" || fail "the function's output is not in the broker log"
grep -q '"sluice.error"' <<<"$out" || fail "the dead letter carries no sluice.error"

# deploy/redis-dev.sh, the README's one command for Redis: a queue created through it
# is in Redis, and in Redis's append-only file.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP=$(free_port); SP=$(free_port); DEV=$(mktemp -d)
REDIS_PORT=$RP SLUICE_REDIS_DIR=$DEV BUILD_DIR=$BUILD bash "$REPO/deploy/redis-dev.sh" \
    --listen "127.0.0.1:$SP" >"$DEV/out.log" 2>&1 &
DEVPID=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$SP/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
"$BUILD/sluice" --endpoint "http://127.0.0.1:$SP" queue create devq >/dev/null
keys=$(redis-cli -p "$RP" --scan --pattern 'sluice:q:devq*' | wc -l)
kill -TERM $DEVPID; wait $DEVPID || true
grep -rqs devq "$DEV/appendonlydir" || { cat "$DEV/out.log"; fail "redis-dev.sh: devq not in the AOF"; }
rm -rf "$DEV"
[ "$keys" -gt 0 ] || fail "redis-dev.sh: no keys for the queue in Redis"
echo "PASS: the demo handles every order and dead-letters the poisoned one; redis-dev.sh stores in Redis"
