#!/usr/bin/env bash
# Quick start: install what sluice needs to build (Debian 12), build it, start
# sluiced on its embedded store, and show a message going through it with the
# sluice CLI. The broker then keeps running in the foreground until Ctrl-C.
#   bash deploy/quickstart.sh [--no-wait]     (--no-wait: stop after the demo)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
LISTEN=${SLUICE_LISTEN:-127.0.0.1:9324}
say() { printf '\033[1mquickstart:\033[0m %s\n' "$*"; }

PKGS=(build-essential cmake pkg-config libevent-dev libhiredis-dev libmsgpack-dev
      librdkafka-dev libjansson-dev libyaml-dev libssl-dev libcmocka-dev curl)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=(); [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    say "installing ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" </dev/null
fi

say "building (cmake -S . -B build)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target sluiced sluice >/dev/null

say "starting sluiced --listen $LISTEN (embedded memory store)"
build/sluiced --listen "$LISTEN" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null' EXIT
for _ in $(seq 1 100); do
    curl -fs "http://$LISTEN/healthz" >/dev/null 2>&1 && break
    kill -0 $PID 2>/dev/null || { say "sluiced did not start"; exit 1; }
    sleep 0.05
done

export SLUICE_ENDPOINT="http://$LISTEN"
say "sluice queue create hello";  build/sluice queue create hello
say "sluice send hello 'Hello, sluice!'"; build/sluice send hello 'Hello, sluice!'
say "sluice receive hello --delete"; build/sluice receive hello --delete
say "sluice queue stats hello";    build/sluice queue stats hello | grep -E 'Approximate|QueueArn'
say "sluice topic create news";    build/sluice topic create news
say "sluice topic subscribe news sqs hello --raw --filter '{\"lang\":[\"en\"]}'"
build/sluice topic subscribe news sqs hello --raw --filter '{"lang":["en"]}'
say "sluice topic publish news 'Hello, subscribers!' --attr lang=en"
build/sluice topic publish news 'Hello, subscribers!' --attr lang=en
say "sluice topic publish news 'Hallo!' --attr lang=de   (filtered out)"
build/sluice topic publish news 'Hallo!' --attr lang=de
say "sluice receive hello --wait 5 --max 10 --delete"
build/sluice receive hello --wait 5 --max 10 --delete
cat <<MSG

sluiced is serving SQS (query and JSON protocols) and SNS on http://$LISTEN. Try:
  aws --endpoint-url http://$LISTEN sqs list-queues
  aws --endpoint-url http://$LISTEN sns list-topics
  build/sluice --help
MSG
if [ "${1:-}" = "--no-wait" ]; then
    exit 0
fi
say "broker running (pid $PID); Ctrl-C to stop"
wait $PID
