#!/usr/bin/env bash
# run.sh - measure sluiced against the performance budget of DESIGN.md §10.
#
# Builds Release, then on loopback only:
#   1. time to ready and idle RSS of sluiced, median of $STARTS starts;
#   2. sluice-bench run against sluiced, $RUNS times (send, receive + delete, and
#      end-to-end latency at $LATENCY_RATE msg/s), median of each figure;
#   3. the same send / receive load against `sluice-bench ceiling` (evhttp answering
#      canned bodies: the HTTP ceiling), $RUNS times;
#   4. a Markdown summary with sluiced / ceiling ratios and the targets.
# The server is pinned to core 0 and the load generator to core 1 (taskset).
# Every loop is bounded and everything started here is stopped on exit.
#
# usage: tests/bench/run.sh [--no-build] [--ceiling-only] [--help]
# environment: BUILD_DIR (default ./build), RUNS (3), STARTS (5), MESSAGES (200000),
#   SIZE (256), BATCH (10), CONNECTIONS (4), RECEIVERS (4), LATENCY_RATE (1000),
#   LATENCY_SECS (5), RESULTS_DIR (default $BUILD_DIR/bench-results).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
RUNS=${RUNS:-3}
STARTS=${STARTS:-5}
MESSAGES=${MESSAGES:-200000}
SIZE=${SIZE:-256}
BATCH=${BATCH:-10}
CONNECTIONS=${CONNECTIONS:-4}
RECEIVERS=${RECEIVERS:-4}
LATENCY_RATE=${LATENCY_RATE:-1000}
LATENCY_SECS=${LATENCY_SECS:-5}
RESULTS_DIR=${RESULTS_DIR:-$BUILD_DIR/bench-results}

DO_BUILD=1
DO_SLUICED=1
for arg in "$@"; do
    case $arg in
    --no-build) DO_BUILD=0 ;;
    --ceiling-only) DO_SLUICED=0 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "run.sh: unknown argument $arg (see --help)" >&2
        exit 2
        ;;
    esac
done

say() { echo "run.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

BENCH=$BUILD_DIR/sluice-bench
SLUICED=$BUILD_DIR/sluiced
command -v jq >/dev/null || die "needs jq to read sluice-bench --json output (apt-get install jq)"

# ---- processes: everything started here is tracked and stopped on exit ----

PIDS=()
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
    local pid
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid"
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_server() {
    local pid=$1 kept=() p
    stop_pid "$pid"
    for p in "${PIDS[@]}"; do
        [ "$p" = "$pid" ] || kept+=("$p")
    done
    PIDS=("${kept[@]+"${kept[@]}"}")
}

rss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo ""
}

# ---- arithmetic on figures ----

median() {
    printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g |
        awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "" }'
}

# jq field of each result file, then their median ("" when none has it)
median_of() {
    local field=$1 f vals=()
    shift
    for f in "$@"; do
        vals+=("$(jq -r "($field) // empty" "$f" 2>/dev/null || true)")
    done
    median "${vals[@]+"${vals[@]}"}"
}

sum_of() {
    local field=$1 f total=0 v
    shift
    for f in "$@"; do
        v=$(jq -r "($field) // 0" "$f" 2>/dev/null || echo 0)
        total=$((total + ${v%.*}))
    done
    echo "$total"
}

fmt_int() { # 123456.7 -> 123,457
    [ -n "$1" ] || { echo "n/a"; return; }
    printf "%.0f" "$1" | sed ':a; s/\B[0-9]\{3\}\>/,&/; ta'
}

fmt_ms() {
    [ -n "$1" ] || { echo "n/a"; return; }
    printf "%.3f" "$1"
}

ratio() {
    if [ -n "$1" ] && [ -n "$2" ] && awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
    else
        echo "n/a"
    fi
}

# meets VALUE OP LIMIT -> yes / no / n/a
meets() {
    [ -n "$1" ] || { echo "n/a"; return; }
    if awk -v v="$1" -v l="$3" -v op="$2" \
        'BEGIN { exit !((op == ">=" && v >= l) || (op == "<=" && v <= l)) }'; then
        echo "yes"
    else
        echo "**no**"
    fi
}

# ---- build ----

if [ "$DO_BUILD" = 1 ]; then
    mkdir -p "$BUILD_DIR"
    say "building Release in $BUILD_DIR"
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$BUILD_DIR/bench-build.log" 2>&1 ||
        die "cmake configure failed, see $BUILD_DIR/bench-build.log"
    cmake --build "$BUILD_DIR" -j"$(nproc)" --target sluice-bench >>"$BUILD_DIR/bench-build.log" 2>&1 ||
        die "sluice-bench did not build, see $BUILD_DIR/bench-build.log"
    if [ "$DO_SLUICED" = 1 ] &&
        ! cmake --build "$BUILD_DIR" -j"$(nproc)" --target sluiced >>"$BUILD_DIR/bench-build.log" 2>&1; then
        say "sluiced did not build (see $BUILD_DIR/bench-build.log); measuring the ceiling only"
        DO_SLUICED=0
    fi
fi
[ -x "$BENCH" ] || die "no $BENCH (build it, or drop --no-build)"
if [ "$DO_SLUICED" = 1 ] && [ ! -x "$SLUICED" ]; then
    say "no $SLUICED; measuring the ceiling only"
    DO_SLUICED=0
fi

if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    PIN_SERVER=(taskset -c 0)
    PIN_CLIENT=(taskset -c 1)
else
    say "warning: fewer than 2 cores or no taskset: not pinning (figures are not comparable)"
    PIN_SERVER=()
    PIN_CLIENT=()
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
OUT=$RESULTS_DIR/$STAMP
mkdir -p "$OUT"
LOAD_ARGS=(--json --size "$SIZE" --batch "$BATCH" --connections "$CONNECTIONS"
    --receivers "$RECEIVERS" --messages "$MESSAGES" --timeout 300)

# Runs the load generator (pinned to core 1); JSON to $2. Never fails the script:
# errors are counted in the JSON and reported in the summary.
bench_run() {
    local endpoint=$1 out=$2 rc=0
    shift 2
    timeout 400 "${PIN_CLIENT[@]}" "$BENCH" run --endpoint "$endpoint" "${LOAD_ARGS[@]}" "$@" \
        >"$out" 2>"$out.log" || rc=$?
    if [ "$rc" != 0 ]; then
        say "warning: sluice-bench run exited $rc (see $out.log)"
    fi
    jq -e . "$out" >/dev/null 2>&1 || echo '{}' >"$out"
    say "  send $(fmt_int "$(jq -r '.send.msg_per_s // empty' "$out")") msg/s," \
        "receive+delete $(fmt_int "$(jq -r '.receive.msg_per_s // empty' "$out")") msg/s," \
        "errors $(jq -r '.errors.total // "n/a"' "$out")"
}

# ---- 1. sluiced: time to ready and idle RSS ----

# Starts a server (PORT LOG COMMAND...) with the clock read in the forked shell
# just before exec, and a poller started first (so its own start-up is not
# counted). Sets READY to the ms from exec to the first 200 from /healthz, and
# SERVER_PID. Not for $(...): the server must stay a child of this shell.
timed_start() {
    local port=$1 log=$2 poll ready t0 rc=0
    shift 2
    : >"$OUT/ready"
    "${PIN_CLIENT[@]}" "$BENCH" wait-ready --epoch --timeout-ms 10000 \
        "http://127.0.0.1:$port/healthz" >"$OUT/ready" &
    poll=$!
    PIDS+=("$poll")
    for _ in $(seq 1 500); do # until the poller is polling, at most 5 s
        [ -s "$OUT/ready" ] && break
        sleep 0.01
    done
    (
        [ ${#PIN_SERVER[@]} -eq 0 ] || taskset -pc 0 "$BASHPID" >/dev/null
        echo "${EPOCHREALTIME//[.,]/}" >"$OUT/t0"
        exec "$@" >>"$log" 2>&1
    ) &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait "$poll" || rc=$?
    stop_server "$poll"
    [ "$rc" = 0 ] || return 1
    ready=$(tail -n 1 "$OUT/ready")
    t0=$(cat "$OUT/t0")
    READY=$(awk -v a="$ready" -v b="$t0" 'BEGIN { printf "%.3f", (a - b) / 1000 }')
}

READY_MS=() IDLE_RSS=()
SLUICED_NOTE=""
if [ "$DO_SLUICED" = 1 ]; then
    say "sluiced: $STARTS starts for time-to-ready and idle RSS"
    for i in $(seq 1 "$STARTS"); do
        port=$("$BENCH" freeport)
        if timed_start "$port" "$OUT/sluiced-start.log" \
            "$SLUICED" --listen "127.0.0.1:$port" --log-level warn; then
            READY_MS+=("$READY")
            IDLE_RSS+=("$(rss_kb "$SERVER_PID")")
            say "  start $i: ready in $READY ms, RSS $(rss_kb "$SERVER_PID") kB"
        else
            SLUICED_NOTE="sluiced did not answer /healthz within 5 s (see $OUT/sluiced-start.log)"
            say "$SLUICED_NOTE"
            stop_server "$SERVER_PID"
            DO_SLUICED=0
            break
        fi
        stop_server "$SERVER_PID"
    done
elif [ -z "$SLUICED_NOTE" ]; then
    SLUICED_NOTE="sluiced not measured (not built, or --ceiling-only)"
fi

# ---- 2. sluiced under load ----

SLUICED_FILES=()
LOADED_RSS=""
if [ "$DO_SLUICED" = 1 ]; then
    port=$("$BENCH" freeport)
    timed_start "$port" "$OUT/sluiced-load.log" \
        "$SLUICED" --listen "127.0.0.1:$port" --log-level warn || die "sluiced did not start"
    for i in $(seq 1 "$RUNS"); do
        say "sluiced: run $i of $RUNS"
        f=$OUT/sluiced-$i.json
        bench_run "http://127.0.0.1:$port" "$f" --create --queue "bench-$STAMP-$i" \
            --latency-rate "$LATENCY_RATE" --latency-duration "$LATENCY_SECS"
        SLUICED_FILES+=("$f")
    done
    sleep 1
    LOADED_RSS=$(rss_kb "$SERVER_PID")
    kill -0 "$SERVER_PID" 2>/dev/null || SLUICED_NOTE="sluiced exited during the load (see $OUT/sluiced-load.log)"
    stop_server "$SERVER_PID"
fi

# ---- 3. the HTTP ceiling ----

CEILING_FILES=()
port=$("$BENCH" freeport)
# started like sluiced, so its time to ready and RSS show the floor of the method
timed_start "$port" "$OUT/ceiling.log" "$BENCH" ceiling --listen "127.0.0.1:$port" \
    --batch "$BATCH" --receive-messages "$BATCH" --size "$SIZE" ||
    die "the ceiling server did not start"
CEILING_READY=$READY
CEILING_RSS=$(rss_kb "$SERVER_PID")
for i in $(seq 1 "$RUNS"); do
    say "ceiling: run $i of $RUNS"
    f=$OUT/ceiling-$i.json
    # no real messages there: phase 2 runs a fixed number of receives, MD5s are canned
    bench_run "http://127.0.0.1:$port" "$f" --queue ceiling --no-verify \
        --requests $(((MESSAGES + BATCH - 1) / BATCH))
    CEILING_FILES+=("$f")
done
stop_server "$SERVER_PID"

# ---- 4. summary ----

S=("${SLUICED_FILES[@]+"${SLUICED_FILES[@]}"}")
C=("${CEILING_FILES[@]}")
m() { # side field
    local side=$1 field=$2
    if [ "$side" = s ]; then
        [ ${#S[@]} -gt 0 ] && median_of "$field" "${S[@]}" || echo ""
    else
        median_of "$field" "${C[@]}"
    fi
}

s_send=$(m s .send.msg_per_s) c_send=$(m c .send.msg_per_s)
s_recv=$(m s .receive.msg_per_s) c_recv=$(m c .receive.msg_per_s)
kb_to_mb() { [ -n "$1" ] && awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }' || echo "n/a"; }
ready=$(median "${READY_MS[@]+"${READY_MS[@]}"}")
idle=$(median "${IDLE_RSS[@]+"${IDLE_RSS[@]}"}")
idle_mb=$([ -n "$idle" ] && awk -v k="$idle" 'BEGIN { print k / 1024 }' || echo "")
pair() { echo "$(fmt_ms "$(m "$1" "$2.p50")") / $(fmt_ms "$(m "$1" "$2.p99")")"; }
s_err=$([ ${#S[@]} -gt 0 ] && sum_of .errors.total "${S[@]}" || echo "n/a")
c_err=$(sum_of .errors.total "${C[@]}")

cat <<EOF

## sluice-bench results

$(date -u +"%Y-%m-%d %H:%M UTC"), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?"),
$(uname -sr), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')).
Server pinned to core 0, load generator to core 1. ${SIZE}-byte bodies, batches of $BATCH,
$CONNECTIONS send + $RECEIVERS receive connections, $MESSAGES messages; medians of $RUNS runs
(time to ready and idle RSS: medians of $STARTS starts). Raw JSON: $OUT
Load average before / after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg) (anything well
above 0 means other work shared the cores and the figures are low).
${SLUICED_NOTE:+
Note: $SLUICED_NOTE.
}
| figure | sluiced | ceiling | sluiced / ceiling | target | met |
|---|---:|---:|---:|---|---|
| send (SendMessageBatch), msg/s | $(fmt_int "$s_send") | $(fmt_int "$c_send") | $(ratio "$s_send" "$c_send") | ≥ 150,000 | $(meets "$s_send" ">=" 150000) |
| send request p50 / p99, ms | $(pair s .send.latency_ms) | $(pair c .send.latency_ms) | | | |
| receive + delete, msg/s | $(fmt_int "$s_recv") | $(fmt_int "$c_recv") | $(ratio "$s_recv" "$c_recv") | ≥ 75,000 | $(meets "$s_recv" ">=" 75000) |
| ReceiveMessage p50 / p99, ms | $(pair s .receive.receive_latency_ms) | $(pair c .receive.receive_latency_ms) | | | |
| DeleteMessageBatch p50 / p99, ms | $(pair s .receive.delete_latency_ms) | $(pair c .receive.delete_latency_ms) | | | |
| end to end p50 / p99 at $LATENCY_RATE msg/s, ms | $(pair s .latency.e2e_ms) | — | | fauxqs 0.31 / 0.77 | |
| idle RSS after start, MB | $(kb_to_mb "$idle") | $(kb_to_mb "$CEILING_RSS") | | ≤ 8 | $(meets "$idle_mb" "<=" 8) |
| RSS after the load (+1 s), MB | $(kb_to_mb "$LOADED_RSS") | — | | | |
| time to ready, ms | $(fmt_ms "$ready") | $(fmt_ms "$CEILING_READY") | | ≤ 50 | $(meets "$ready" "<=" 50) |
| load generator CPU, send / receive, % | $(m s .send.client_cpu_pct) / $(m s .receive.client_cpu_pct) | $(m c .send.client_cpu_pct) / $(m c .receive.client_cpu_pct) | | < 90 | |
| errors, all runs | $s_err | $c_err | | 0 | |

Load generator CPU near 100% means the client, not the server, set the figure.
Time to ready runs from just before exec to the first 200 from /healthz, polled every
0.2 ms from the other core; the ceiling column (one start) shows the method's floor.
EOF
