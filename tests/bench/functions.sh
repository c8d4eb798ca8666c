#!/usr/bin/env bash
# functions.sh - measure functions and triggers against DESIGN.md §10 (tests/bench/README.md,
# "Functions and triggers").
#
# Builds Release, then runs tests/bench/functions.py, which on loopback only and with
# sluiced pinned to core 0 and every load generator and function process on core 1:
#   ceiling  sluice-bench's send phase against `sluice-bench ceiling` (the reference);
#   drain    a queue trigger (batch 10) draining a preloaded backlog of $MESSAGES
#            256-byte messages into a no-op native, process (C runtime, 4 instances)
#            and http (trivial evhttp server, 4 connections) function;
#   latency  SendMessage -> handler start, native, batch 1, at $LATENCY_RATE msg/s;
#   step     the autoscaler's settle time after a step from 0 to $STEP_RATE msg/s;
#   cold     a process instance's spawn -> first `next`, minus a bare spawn;
# $RUNS times each, and prints a Markdown summary of the medians.
#
# usage: tests/bench/functions.sh [--no-build] [--only LIST] [--help]
#   --only LIST   comma-separated subset of ceiling,drain,latency,step,cold
# environment: BUILD_DIR (default ./build), RUNS (3), MESSAGES (1000000),
#   LATENCY_RATE (1000), LATENCY_SECS (10), STEP_RATE (400), STEP_SECS (40).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
DO_BUILD=1
ONLY=ceiling,drain,latency,step,cold
while [ $# -gt 0 ]; do
    case $1 in
    --no-build) DO_BUILD=0 ;;
    --only) ONLY=${2:?--only needs a list}; shift ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "functions.sh: unknown argument $1 (see --help)" >&2
        exit 2
        ;;
    esac
    shift
done
command -v taskset >/dev/null || { echo "functions.sh: needs taskset (util-linux)" >&2; exit 1; }
if [ "$DO_BUILD" = 1 ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD_DIR" -j2 --target sluiced sluice-bench test_invokers \
        sluice_test_c_runtime sluice_bench_native >/dev/null
fi
exec python3 "$ROOT/tests/bench/functions.py" "$BUILD_DIR" --only "$ONLY" \
    --runs "${RUNS:-3}" --messages "${MESSAGES:-1000000}" --rate "${LATENCY_RATE:-1000}" \
    --seconds "${LATENCY_SECS:-10}" --step-rate "${STEP_RATE:-400}" \
    --step-seconds "${STEP_SECS:-40}"
