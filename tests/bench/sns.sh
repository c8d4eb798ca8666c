#!/usr/bin/env bash
# sns.sh - topic fanout: publish -> N queues, against the issue's target
# (>= 100,000 deliveries/s at N = 10 on the memory store).
#
# Builds Release, starts its own sluiced on a free loopback port (memory store),
# then $RUNS times, for N in $SUBS:
#   - `sluice-bench sns`: a topic with N raw (RawMessageDelivery) queue
#     subscriptions, $DELIVERIES / N messages of $SIZE bytes published with
#     PublishBatch of $BATCH over $CONNECTIONS kept-alive connections (SNS query
#     protocol); deliveries/s until all N x M are in the queues, publishes/s;
#   - the reference: the same N x M messages sent into N queues with SQS
#     SendMessageBatch by the same load generator (the enqueue path without fanout);
# plus enveloped delivery at N = 10. Medians of the runs, a Markdown summary with
# the ratios fanout / reference. Every count must be exact (each queue holds each
# message once); a run that is not is reported as an error.
# The server is pinned to core 0 and the load generator to core 1 (taskset).
# Every loop is bounded and everything started here is stopped on exit.
#
# usage: tests/bench/sns.sh [--no-build] [--smoke] [--help]
#   --smoke   a quick correctness pass for ctest: no build, one run of small
#             counts with --verify (every message received and checked); exit 1
#             unless every count is exact. Prints no figures worth recording.
# environment: BUILD_DIR (default ./build-rel), RUNS (3), SUBS ("1 10 100"),
#   DELIVERIES (200000), SIZE (256), BATCH (10), CONNECTIONS (4),
#   RESULTS_DIR (default $BUILD_DIR/bench-results).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-rel}
RUNS=${RUNS:-3}
SUBS=${SUBS:-"1 10 100"}
DELIVERIES=${DELIVERIES:-200000}
SIZE=${SIZE:-256}
BATCH=${BATCH:-10}
CONNECTIONS=${CONNECTIONS:-4}
RESULTS_DIR=${RESULTS_DIR:-$BUILD_DIR/bench-results}

DO_BUILD=1
SMOKE=0
for arg in "$@"; do
    case $arg in
    --no-build) DO_BUILD=0 ;;
    --smoke) SMOKE=1 DO_BUILD=0 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "sns.sh: unknown argument $arg (see --help)" >&2
        exit 2
        ;;
    esac
done
if [ "$SMOKE" = 1 ]; then
    RUNS=1
    DELIVERIES=2000
fi

say() { echo "sns.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

BENCH=$BUILD_DIR/sluice-bench
SLUICED=$BUILD_DIR/sluiced
[ "$SMOKE" = 1 ] || command -v jq >/dev/null ||
    die "needs jq to read sluice-bench --json output (apt-get install jq)"

# ---- processes: everything started here is tracked and stopped on exit ----

SERVER_PID=

stop_pid() {
    local pid=$1 i
    if kill -TERM "$pid" 2>/dev/null; then
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    [ -z "$SERVER_PID" ] || stop_pid "$SERVER_PID"
    [ -z "${SCRATCH:-}" ] || rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- arithmetic on figures ----

median() {
    printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g |
        awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "" }'
}

median_of() { # jq field, files...
    local field=$1 f vals=()
    shift
    for f in "$@"; do
        vals+=("$(jq -r "($field) // empty" "$f" 2>/dev/null || true)")
    done
    median "${vals[@]+"${vals[@]}"}"
}

fmt_int() { # 123456.7 -> 123,457
    [ -n "$1" ] || { echo "n/a"; return; }
    printf "%.0f" "$1" | sed ':a; s/\B[0-9]\{3\}\>/,&/; ta'
}

ratio() {
    if [ -n "$1" ] && [ -n "$2" ] && awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
    else
        echo "n/a"
    fi
}

meets() { # VALUE LIMIT -> yes / no / n/a (VALUE >= LIMIT)
    [ -n "$1" ] || { echo "n/a"; return; }
    if awk -v v="$1" -v l="$2" 'BEGIN { exit !(v >= l) }'; then echo "yes"; else echo "**no**"; fi
}

# ---- build ----

if [ "$DO_BUILD" = 1 ]; then
    mkdir -p "$BUILD_DIR"
    say "building Release in $BUILD_DIR"
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$BUILD_DIR/bench-build.log" 2>&1 ||
        die "cmake configure failed, see $BUILD_DIR/bench-build.log"
    cmake --build "$BUILD_DIR" -j2 --target sluice-bench sluiced >>"$BUILD_DIR/bench-build.log" 2>&1 ||
        die "the build failed, see $BUILD_DIR/bench-build.log"
fi
[ -x "$BENCH" ] || die "no $BENCH (build it, or drop --no-build)"
[ -x "$SLUICED" ] || die "no $SLUICED (build it, or drop --no-build)"

if [ "$SMOKE" = 0 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    PIN_SERVER=(taskset -c 0)
    PIN_CLIENT=(taskset -c 1)
else
    [ "$SMOKE" = 1 ] || say "warning: fewer than 2 cores or no taskset: not pinning"
    PIN_SERVER=()
    PIN_CLIENT=()
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "$SMOKE" = 1 ]; then
    SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/sluice-sns-smoke.XXXXXX")
    OUT=$SCRATCH
else
    OUT=$RESULTS_DIR/sns-$STAMP
    mkdir -p "$OUT"
fi

# ---- the server ----

PORT=$("$BENCH" freeport)
ENDPOINT=http://127.0.0.1:$PORT
"${PIN_SERVER[@]}" "$SLUICED" --listen "127.0.0.1:$PORT" --log-level warn >"$OUT/sluiced.log" 2>&1 &
SERVER_PID=$!
"$BENCH" wait-ready --timeout-ms 10000 "$ENDPOINT/healthz" >/dev/null ||
    die "sluiced did not answer /healthz (see $OUT/sluiced.log)"

# ---- the runs ----

FAILED=0
# one_run NAME ARGS...: JSON to $OUT/NAME.json; counts failures, never exits
one_run() {
    local name=$1 rc=0 f
    shift
    f=$OUT/$name.json
    timeout 600 "${PIN_CLIENT[@]}" "$BENCH" sns --endpoint "$ENDPOINT" --json \
        --deliveries "$DELIVERIES" --size "$SIZE" --batch "$BATCH" \
        --connections "$CONNECTIONS" --timeout 300 "$@" >"$f" 2>"$f.log" || rc=$?
    if [ "$rc" != 0 ]; then
        FAILED=$((FAILED + 1))
        say "  $name: FAILED (exit $rc): $(cat "$f" "$f.log" | tr '\n' ' ' | cut -c1-400)"
        return 0
    fi
    if [ "$SMOKE" = 1 ]; then
        say "  $name: exact"
    else
        say "  $name: $(fmt_int "$(jq -r '.deliver.per_s' "$f")") deliveries/s," \
            "$(fmt_int "$(jq -r '.send.msg_per_s' "$f")") msg/s acknowledged"
    fi
}

VERIFY=()
[ "$SMOKE" = 0 ] || VERIFY=(--verify)
for i in $(seq 1 "$RUNS"); do
    say "run $i of $RUNS"
    for n in $SUBS; do
        one_run "raw-$n-$i" --subs "$n" "${VERIFY[@]+"${VERIFY[@]}"}"
        one_run "ref-$n-$i" --subs "$n" --reference "${VERIFY[@]+"${VERIFY[@]}"}"
    done
    one_run "env-10-$i" --subs 10 --envelope "${VERIFY[@]+"${VERIFY[@]}"}"
done
kill -0 "$SERVER_PID" 2>/dev/null || { FAILED=$((FAILED + 1)); say "sluiced exited (see $OUT/sluiced.log)"; }

if [ "$SMOKE" = 1 ]; then
    [ "$FAILED" = 0 ] || die "$FAILED run(s) not exact"
    say "all counts exact"
    exit 0
fi

# ---- summary ----

files() { local k; for k in $(seq 1 "$RUNS"); do [ -s "$OUT/$1-$k.json" ] && echo "$OUT/$1-$k.json"; done; }
# median over the runs of (fanout / reference of the same run): steadier than a
# ratio of medians when other work comes and goes on the machine
run_ratio() { # NAME N
    local k a b rs=()
    for k in $(seq 1 "$RUNS"); do
        [ -s "$OUT/$1-$2-$k.json" ] && [ -s "$OUT/ref-$2-$k.json" ] || continue
        a=$(jq -r '.deliver.per_s // empty' "$OUT/$1-$2-$k.json")
        b=$(jq -r '.deliver.per_s // empty' "$OUT/ref-$2-$k.json")
        rs+=("$(ratio "$a" "$b")")
    done
    median "${rs[@]+"${rs[@]}"}"
}
row() { # LABEL NAME N
    local label=$1 name=$2 n=$3 fs rs d p rd
    mapfile -t fs < <(files "$name-$n")
    mapfile -t rs < <(files "ref-$n")
    d=$( [ ${#fs[@]} -gt 0 ] && median_of .deliver.per_s "${fs[@]}" || echo "")
    p=$( [ ${#fs[@]} -gt 0 ] && median_of .send.msg_per_s "${fs[@]}" || echo "")
    rd=$( [ ${#rs[@]} -gt 0 ] && median_of .deliver.per_s "${rs[@]}" || echo "")
    echo "| $label | $n | $(fmt_int "$d") | $(fmt_int "$p") | $(fmt_int "$rd") |" \
        "$(ratio "$d" "$rd") | $(run_ratio "$name" "$n") |" \
        "$([ "$n" = 10 ] && [ "$name" = raw ] && meets "$d" 100000 || echo "") |"
}

cat <<EOF

### sns.sh results

$(date -u +"%Y-%m-%d %H:%M UTC"), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?"),
$(uname -sr), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')).
sluiced (memory store) pinned to core 0, sluice-bench to core 1. ${SIZE}-byte messages,
PublishBatch / SendMessageBatch of $BATCH, $CONNECTIONS connections, $DELIVERIES deliveries
per run (M = $DELIVERIES / N publishes); medians of $RUNS runs. Raw JSON: $OUT
Load average before / after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg).
Runs not exact (lost, duplicated or failed): $FAILED.

| delivery | N | deliveries/s | publishes/s | reference: SendMessageBatch msg/s | ratio of medians | median of per-run ratios | ≥ 100k at N = 10 |
|---|---:|---:|---:|---:|---:|---:|---|
EOF
for n in $SUBS; do
    row raw raw "$n"
done
row enveloped env 10
cat <<EOF

deliveries/s: N x M over the time from the first PublishBatch until every queue holds M
(polled through /metrics once the last publish is answered). publishes/s: M over the time
until the last PublishBatch answer. reference: the same N x M messages sent into N queues
with SendMessageBatch, in the same server, by the same load generator, right after each
fanout run; per-run ratio: fanout / reference of the same run.
EOF
[ "$FAILED" = 0 ]
