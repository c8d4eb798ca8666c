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
echo "$out" | grep -q 'order handled: order-20' || fail "the function's output is not in the broker log"
echo "$out" | grep -q '"sluice.error"' || fail "the dead letter carries no sluice.error"
echo "PASS: the demo handles every order and dead-letters the poisoned one"
