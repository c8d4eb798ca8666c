#!/usr/bin/env bash
# redis.sh - sluiced on the Redis store against the ceiling of that same Redis for
# sluice's own scripts (DESIGN.md §10, issue 3), in one run.
#
# Builds Release, then on loopback only:
#   1. starts a private redis-server on a free port (no persistence: --save '',
#      --appendonly no, a temporary --dir) and sluiced on it;
#   2. end to end, $RUNS times: sluice-bench send (phase 1), then receive + delete
#      (phase 2), the same sizes and batches as run.sh but 16 connections each
#      way (as many requests in flight as the ceiling's -c 4 -P 4), each phase
#      with INFO commandstats and the CPU time of sluiced and redis-server read
#      before and after; then, on a fresh queue, sluice-bench run --together
#      (send, receive and delete at once, a steady pipeline), read the same way;
#   3. the ceiling, $RUNS times, on the same redis-server with sluiced stopped:
#      the broker's own send, receive and delete scripts (SCRIPT LOAD of the text
#      `sluice-bench redis-script` prints from sluice_core, checked against the
#      SHA sluiced calls), by EVALSHA with batches of $BATCH and the arguments
#      sluiced passes; once with one batch per call, and once with as many
#      batches per call as sluiced's merged calls carried in step 2 (median,
#      rounded), call counts rounded down to a multiple of -c x -P:
#        send     redis-benchmark, $MESSAGES / $BATCH calls of $BATCH messages whose
#                 records are as long as sluiced's for $SIZE-byte bodies (the script
#                 stores records without reading them, so printable filler of the
#                 real length costs the same), each record and id made different in
#                 every call by redis-benchmark -r;
#        receive  redis-benchmark, $MESSAGES / $BATCH calls taking $BATCH each from
#                 the messages the send step left (checked: all in flight after);
#        delete   redis-cli --pipe of $MESSAGES / $BATCH calls carrying the real
#                 receipt (queue uid, key, serial) of every message received, each
#                 exactly once (checked: the queue is empty after). redis-benchmark
#                 repeats one fixed command, and deleting the same handles again
#                 would take the cheap not-found path, so it cannot measure this.
#   4. a Markdown summary: msg/s end to end (send, receive + delete, all three
#      for the same messages one after the other, and all three at once), both
#      ceilings, their ratios, EVALSHA + EVAL calls per $BATCH messages sent,
#      received and deleted, messages per call, µs of Redis per script and CPU
#      per message.
#
# CPU pinning (2 cores, 3 programs): Redis is the scarcest resource here, so
# redis-server has core 1 to itself in both measurements; sluiced and the load
# generator (sluice-bench, then redis-benchmark / redis-cli) share core 0. The
# ratio is then "what share of one Redis core's script throughput sluice gets".
# Every loop is bounded and everything started here is stopped on exit.
#
# usage: tests/bench/redis.sh [--no-build] [--help]
# environment: BUILD_DIR (default ./build-rel, configured Release), RUNS (3),
#   MESSAGES (200000), SIZE (256), BATCH (10), CONNECTIONS (16), RECEIVERS (16),
#   RB_CLIENTS (4) and RB_PIPELINE (4): redis-benchmark's -c and -P,
#   RESULTS_DIR (default $BUILD_DIR/bench-results).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-rel}
RUNS=${RUNS:-3}
MESSAGES=${MESSAGES:-200000}
SIZE=${SIZE:-256}
BATCH=${BATCH:-10}
# 16 requests in flight each way, as the ceiling has (redis-benchmark -c 4 -P 4)
CONNECTIONS=${CONNECTIONS:-16}
RECEIVERS=${RECEIVERS:-16}
RB_CLIENTS=${RB_CLIENTS:-4}
RB_PIPELINE=${RB_PIPELINE:-4}
RESULTS_DIR=${RESULTS_DIR:-$BUILD_DIR/bench-results}
PREFIX=sluice:

DO_BUILD=1
for arg in "$@"; do
    case $arg in
    --no-build) DO_BUILD=0 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "redis.sh: unknown argument $arg (see --help)" >&2
        exit 2
        ;;
    esac
done

say() { echo "redis.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

BENCH=$BUILD_DIR/sluice-bench
SLUICED=$BUILD_DIR/sluiced
for tool in jq redis-server redis-cli redis-benchmark taskset; do
    command -v "$tool" >/dev/null || die "needs $tool (tests/install-deps.sh installs it)"
done
[ $((MESSAGES % BATCH)) = 0 ] || die "MESSAGES must be a multiple of BATCH"
CALLS=$((MESSAGES / BATCH))

# ---- processes: everything started here is tracked and stopped on exit ----

PIDS=()
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-redis-bench.XXXXXX")

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
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
        stop_pid "$pid"
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- arithmetic on figures ----

median() {
    printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g |
        awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "" }'
}

fmt_int() { # 123456.7 -> 123,457
    [ -n "$1" ] || { echo "n/a"; return; }
    printf "%.0f" "$1" | sed ':a; s/\B[0-9]\{3\}\>/,&/; ta'
}

calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }

ratio() {
    if [ -n "$1" ] && [ -n "$2" ] && awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
    else
        echo "n/a"
    fi
}

meets() { # VALUE OP LIMIT -> yes / **no** / n/a
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
    cmake --build "$BUILD_DIR" -j2 --target sluice-bench sluiced >>"$BUILD_DIR/bench-build.log" 2>&1 ||
        die "the build failed, see $BUILD_DIR/bench-build.log"
fi
[ -x "$BENCH" ] && [ -x "$SLUICED" ] || die "no $BENCH or $SLUICED (build them, or drop --no-build)"

[ "$(nproc)" -ge 2 ] || die "needs two cores (redis-server gets one to itself)"
PIN_REDIS=(taskset -c 1)
PIN_REST=(taskset -c 0)

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
OUT=$RESULTS_DIR/redis-$STAMP
mkdir -p "$OUT"

# ---- Redis and sluiced ----

RPORT=$("$BENCH" freeport)
"${PIN_REDIS[@]}" redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$TMP" --logfile "$OUT/redis.log" &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
R=(redis-cli -h 127.0.0.1 -p "$RPORT")
for _ in $(seq 1 100); do
    [ "$("${R[@]}" ping 2>/dev/null)" = PONG ] && break
    sleep 0.05
done
[ "$("${R[@]}" ping 2>/dev/null)" = PONG ] || die "redis-server did not start (see $OUT/redis.log)"

SPORT=$("$BENCH" freeport)
"${PIN_REST[@]}" "$SLUICED" --listen "127.0.0.1:$SPORT" --store "redis://127.0.0.1:$RPORT" \
    --log-level warn >"$OUT/sluiced.log" 2>&1 &
SLUICED_PID=$!
PIDS+=("$SLUICED_PID")
"$BENCH" wait-ready --timeout-ms 10000 "http://127.0.0.1:$SPORT/healthz" >/dev/null ||
    die "sluiced did not answer /healthz (see $OUT/sluiced.log)"
ENDPOINT=http://127.0.0.1:$SPORT

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

# INFO commandstats field of a command ("" when it never ran)
cmdstat() {
    "${R[@]}" info commandstats | tr -d '\r' |
        awk -F'[:,=]' -v c="cmdstat_$1" -v f="$2" \
            '$1 == c { for (i = 2; i < NF; i += 2) if ($i == f) print $(i + 1) }'
}
script_calls() { echo $(($(cmdstat evalsha calls || true) + $(cmdstat eval calls || true) + 0)); }

LOAD_ARGS=(--json --size "$SIZE" --batch "$BATCH" --connections "$CONNECTIONS"
    --receivers "$RECEIVERS" --messages "$MESSAGES" --timeout 300)

# One phase of sluice-bench against sluiced; JSON to $1, then "calls usec sluiced_s redis_s"
# of that phase to $1.stats. Never fails the script: errors are in the JSON.
e2e_phase() {
    local out=$1 s0 r0 rc=0
    shift
    "${R[@]}" config resetstat >/dev/null
    s0=$(cpu_ticks "$SLUICED_PID") r0=$(cpu_ticks "$REDIS_PID")
    timeout 400 "${PIN_REST[@]}" "$BENCH" run --endpoint "$ENDPOINT" "${LOAD_ARGS[@]}" "$@" \
        >"$out" 2>"$out.log" || rc=$?
    [ "$rc" = 0 ] || say "warning: sluice-bench run exited $rc (see $out.log)"
    jq -e . "$out" >/dev/null 2>&1 || echo '{}' >"$out"
    echo "$(script_calls) $(cmdstat evalsha usec) \
$(calc "($(cpu_ticks "$SLUICED_PID") - $s0) / $TICK") \
$(calc "($(cpu_ticks "$REDIS_PID") - $r0) / $TICK")" >"$out.stats"
}

E_SEND=() E_RECV=() E_ALL=() E_PER10=() E_MPC=() E_ERR=0 E_SCPU=() E_RCPU=() E_USEND=() E_URECV=()
E_TOG=() E_TPER10=() E_TSCPU=() E_TRCPU=()
for i in $(seq 1 "$RUNS"); do
    say "end to end: run $i of $RUNS"
    q=bench-$STAMP-$i
    e2e_phase "$OUT/e2e-$i-send.json" --create --queue "$q" --phases 1
    e2e_phase "$OUT/e2e-$i-recv.json" --queue "$q" --phases 2
    e2e_phase "$OUT/e2e-$i-together.json" --create --queue "$q-t" --phases 12 --together
    read -r c1 u1 s1 r1 <"$OUT/e2e-$i-send.json.stats"
    read -r c2 u2 s2 r2 <"$OUT/e2e-$i-recv.json.stats"
    read -r c3 _ s3 r3 <"$OUT/e2e-$i-together.json.stats"
    ssec=$(jq -r '.send.seconds // empty' "$OUT/e2e-$i-send.json")
    rsec=$(jq -r '.receive.seconds // empty' "$OUT/e2e-$i-recv.json")
    sent=$(jq -r '.send.messages // 0' "$OUT/e2e-$i-send.json")
    deleted=$(jq -r '.receive.deleted // 0' "$OUT/e2e-$i-recv.json")
    tdel=$(jq -r '.receive.deleted // 0' "$OUT/e2e-$i-together.json")
    E_SEND+=("$(jq -r '.send.msg_per_s // empty' "$OUT/e2e-$i-send.json")")
    E_RECV+=("$(jq -r '.receive.msg_per_s // empty' "$OUT/e2e-$i-recv.json")")
    E_TOG+=("$(jq -r '.receive.msg_per_s // empty' "$OUT/e2e-$i-together.json")")
    if [ -n "$ssec" ] && [ -n "$rsec" ] && [ "$deleted" -gt 0 ]; then
        E_ALL+=("$(calc "$deleted / ($ssec + $rsec)")")
        E_PER10+=("$(calc "($c1 + $c2) * $BATCH / $deleted")")
        E_MPC+=("$(calc "($sent + 2 * $deleted) / ($c1 + $c2)")")   # messages per call
        E_SCPU+=("$(calc "($s1 + $s2) * 1e6 / $deleted")")
        E_RCPU+=("$(calc "($r1 + $r2) * 1e6 / $deleted")")
        E_USEND+=("$(calc "$u1 / $c1")")
        E_URECV+=("$(calc "$u2 / $c2")")
    fi
    if [ "$tdel" -gt 0 ]; then
        E_TPER10+=("$(calc "$c3 * $BATCH / $tdel")")
        E_TSCPU+=("$(calc "$s3 * 1e6 / $tdel")")
        E_TRCPU+=("$(calc "$r3 * 1e6 / $tdel")")
    fi
    [ "$sent" = "$deleted" ] || say "warning: run $i sent $sent but deleted $deleted"
    [ "$tdel" = "$MESSAGES" ] || say "warning: together run $i deleted $tdel of $MESSAGES"
    E_ERR=$((E_ERR + $(jq -r '.errors.total // 1' "$OUT/e2e-$i-send.json") +
        $(jq -r '.errors.total // 1' "$OUT/e2e-$i-recv.json") +
        $(jq -r '.errors.total // 1' "$OUT/e2e-$i-together.json")))
    say "  send ${E_SEND[-1]} msg/s, receive+delete ${E_RECV[-1]} msg/s," \
        "${E_PER10[-1]:-?} scripts per $BATCH messages; all at once ${E_TOG[-1]} msg/s"
done

# ---- the ceiling: sluice's scripts by EVALSHA, sluiced idle then stopped ----

CQ=ceiling
# The queue as sluiced creates it, and one real record to measure.
"$BENCH" run --endpoint "$ENDPOINT" --create --queue "$CQ" --phases 1 --messages "$BATCH" \
    --batch "$BATCH" --size "$SIZE" >/dev/null 2>&1 || die "could not create the ceiling queue"
key=$("${R[@]}" hkeys "${PREFIX}q:$CQ:msg" | head -n 1)
RECLEN=$("${R[@]}" hstrlen "${PREFIX}q:$CQ:msg" "$key")
"$BENCH" run --endpoint "$ENDPOINT" --queue "$CQ" --phases 2 --messages "$BATCH" \
    --batch "$BATCH" --size "$SIZE" >/dev/null 2>&1 || die "could not drain the ceiling queue"
stop_pid "$SLUICED_PID"
UID_=$("${R[@]}" hget "${PREFIX}q:$CQ" uid)
[ "$("${R[@]}" hlen "${PREFIX}q:$CQ:msg")" = 0 ] || die "the ceiling queue is not empty"

declare -A SHA
for s in send receive delete; do
    "$BENCH" redis-script "$s" >"$TMP/$s.lua"
    SHA[$s]=$("${R[@]}" -x script load <"$TMP/$s.lua")
    [ "${SHA[$s]}" = "$("$BENCH" redis-script --sha "$s")" ] || die "SHA of $s differs"
done

# send: the arguments r_send passes, with records of the real length. Each record and
# id starts or ends with __rand_int__, which redis-benchmark -r replaces by a random
# 12-digit number in every command, so that they differ as sluiced's do (callgrind: the
# script's instructions are the same either way, 488k per call).
REC=__rand_int__$(head -c $((RECLEN > 12 ? RECLEN - 12 : 0)) /dev/zero | tr '\0' r)
SEND_ARGS=()
for j in $(seq 1 "$BATCH"); do
    SEND_ARGS+=("$REC" "$(printf '%08x-0000-4000-8000-' "$j")__rand_int__" "$SIZE" 0 "" "" -1)
done

# redis-benchmark's requests per second from its CSV (last line, second field)
rb() {
    "${PIN_REST[@]}" redis-benchmark -h 127.0.0.1 -p "$RPORT" -c "$RB_CLIENTS" \
        -P "$RB_PIPELINE" -n "$RB_N" --csv "$@" 2>/dev/null | tail -n 1 | cut -d, -f2 | tr -d '"'
}

# One ceiling measurement with K batches of $BATCH per script call (K > 1: as the
# broker's merged calls carry them). Sets c_s c_r c_d (msg/s), u_s u_r u_d (µs per call)
# and c_cpu (redis-server µs per message).
ceiling_once() {
    local k=$1 kb=$(($1 * BATCH)) m calls rps k0 r0 n j t0 t1
    local sargs=() rargs=()
    # a multiple of -c x -P: redis-benchmark rounds the count up to one
    calls=$((MESSAGES / kb / (RB_CLIENTS * RB_PIPELINE) * RB_CLIENTS * RB_PIPELINE))
    [ "$calls" -gt 0 ] || die "MESSAGES too small for $k batches per call"
    m=$((calls * kb))
    RB_N=$calls
    for j in $(seq 1 "$k"); do
        sargs+=("$BATCH" "${SEND_ARGS[@]}")
        rargs+=("$BATCH")
    done
    k0=$("${R[@]}" hget "${PREFIX}q:$CQ" nk)
    r0=$(cpu_ticks "$REDIS_PID")

    "${R[@]}" config resetstat >/dev/null
    rps=$(rb -r 1000000000000 EVALSHA "${SHA[send]}" 0 "$PREFIX" "$CQ" "${sargs[@]}")
    c_s=$(calc "$rps * $kb")
    u_s=$(cmdstat evalsha usec_per_call)
    n=$("${R[@]}" llen "${PREFIX}q:$CQ:vis")
    [ "$n" = "$m" ] || die "ceiling send stored $n messages, not $m"

    "${R[@]}" config resetstat >/dev/null
    rps=$(rb EVALSHA "${SHA[receive]}" 0 "$PREFIX" "$CQ" 60 "${rargs[@]}")
    c_r=$(calc "$rps * $kb")
    u_r=$(cmdstat evalsha usec_per_call)
    n=$("${R[@]}" zcard "${PREFIX}q:$CQ:inf")
    [ "$n" = "$m" ] || die "ceiling receive left $n in flight, not $m"

    # every receipt once: keys k0+1.. with serial 1 (each message received once)
    awk -v calls="$calls" -v b="$kb" -v k0="$k0" -v sha="${SHA[delete]}" \
        -v p="$PREFIX" -v q="$CQ" -v uid="$UID_" '
        function arg(s) { printf "$%d\r\n%s\r\n", length(s), s }
        BEGIN {
            for (c = 0; c < calls; c++) {
                printf "*%d\r\n", 6 + 3 * b
                arg("EVALSHA"); arg(sha); arg("0"); arg(p); arg(q); arg(b "")
                for (j = 1; j <= b; j++) { arg(uid ""); arg((k0 + c * b + j) ""); arg("1") }
            }
        }' >"$TMP/delete.resp"
    "${R[@]}" config resetstat >/dev/null
    t0=$EPOCHREALTIME
    "${PIN_REST[@]}" "${R[@]}" --pipe <"$TMP/delete.resp" >"$OUT/ceiling-$k-delete.log" 2>&1 ||
        die "redis-cli --pipe failed (see $OUT/ceiling-$k-delete.log)"
    t1=$EPOCHREALTIME
    c_d=$(calc "$m / (${t1/,/.} - ${t0/,/.})")
    u_d=$(cmdstat evalsha usec_per_call)
    n=$("${R[@]}" hlen "${PREFIX}q:$CQ:msg")
    [ "$n" = 0 ] || die "ceiling delete left $n messages (see $OUT/ceiling-$k-delete.log)"
    c_cpu=$(calc "($(cpu_ticks "$REDIS_PID") - $r0) / $TICK * 1e6 / $m")
}

# The merged ceiling: as many batches per call as sluiced's calls carried (median,
# rounded; at most 256 messages, the broker's own limit).
KM=$(awk -v m="$(median "${E_MPC[@]}")" -v b="$BATCH" 'BEGIN {
    k = int(m / b + 0.5); if (k < 1) k = 1; if (k * b > 256) k = int(256 / b); print k }')

C_SEND=() C_RECV=() C_DEL=() C_ALL=() U_SEND=() U_RECV=() U_DEL=() C_RCPU=()
M_SEND=() M_RECV=() M_DEL=() M_ALL=() M_RCPU=()
for i in $(seq 1 "$RUNS"); do
    say "ceiling: run $i of $RUNS"
    ceiling_once 1
    C_SEND+=("$c_s") C_RECV+=("$c_r") C_DEL+=("$c_d") U_SEND+=("$u_s") U_RECV+=("$u_r")
    U_DEL+=("$u_d") C_RCPU+=("$c_cpu")
    C_ALL+=("$(calc "1 / (1 / $c_s + 1 / $c_r + 1 / $c_d)")")
    say "  send $c_s msg/s, receive $c_r, delete $c_d, all three ${C_ALL[-1]};" \
        "redis-server CPU $c_cpu µs per message"
    if [ "$KM" -gt 1 ]; then
        ceiling_once "$KM"
        M_SEND+=("$c_s") M_RECV+=("$c_r") M_DEL+=("$c_d") M_RCPU+=("$c_cpu")
        M_ALL+=("$(calc "1 / (1 / $c_s + 1 / $c_r + 1 / $c_d)")")
        say "  $KM batches per call: send $c_s msg/s, receive $c_r, delete $c_d," \
            "all three ${M_ALL[-1]}; redis-server CPU $c_cpu µs per message"
    fi
done

# ---- summary ----

e_send=$(median "${E_SEND[@]}") e_recv=$(median "${E_RECV[@]}") e_all=$(median "${E_ALL[@]}")
e_tog=$(median "${E_TOG[@]}")
c_send=$(median "${C_SEND[@]}") c_recv_only=$(median "${C_RECV[@]}") c_del=$(median "${C_DEL[@]}")
c_all=$(median "${C_ALL[@]}")
c_rd=()
for i in "${!C_RECV[@]}"; do
    c_rd+=("$(calc "1 / (1 / ${C_RECV[$i]} + 1 / ${C_DEL[$i]})")")
done
c_recv=$(median "${c_rd[@]}")
m_rd=()
for i in "${!M_RECV[@]}"; do
    m_rd+=("$(calc "1 / (1 / ${M_RECV[$i]} + 1 / ${M_DEL[$i]})")")
done
m_send=$(median "${M_SEND[@]}") m_recv=$(median "${m_rd[@]}") m_all=$(median "${M_ALL[@]}")
per10=$(median "${E_PER10[@]}")
tper10=$(median "${E_TPER10[@]}")
us() { [ -n "$1" ] && printf "%.1f" "$1" || echo "n/a"; }
if [ "$KM" -gt 1 ]; then mk="$KM × $BATCH"; else mk="(not run)"; fi

cat <<EOF

## sluice on Redis: end to end and the Redis ceiling

$(date -u +"%Y-%m-%d %H:%M UTC"), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?"),
$(uname -sr), $(nproc) cores, $(redis-server --version | awk '{ print $3 }' | tr -d 'v=').
redis-server (no persistence) pinned to core 1 alone; sluiced and the load generators on
core 0. ${SIZE}-byte bodies, batches of $BATCH, $CONNECTIONS send + $RECEIVERS receive
connections, $MESSAGES messages; redis-benchmark -c $RB_CLIENTS -P $RB_PIPELINE; medians of
$RUNS runs. Raw JSON: $OUT
Load average before / after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg).

| figure | sluiced on Redis | ceiling, $BATCH per call | ratio | ceiling, $mk per call | ratio | target | met |
|---|---:|---:|---:|---:|---:|---|---|
| send, msg/s | $(fmt_int "$e_send") | $(fmt_int "$c_send") | $(ratio "$e_send" "$c_send") | $(fmt_int "$m_send") | $(ratio "$e_send" "$m_send") | | |
| receive + delete, msg/s | $(fmt_int "$e_recv") | $(fmt_int "$c_recv") | $(ratio "$e_recv" "$c_recv") | $(fmt_int "$m_recv") | $(ratio "$e_recv" "$m_recv") | | |
| send + receive + delete, one after the other, msg/s ³ | $(fmt_int "$e_all") | $(fmt_int "$c_all") | $(ratio "$e_all" "$c_all") | $(fmt_int "$m_all") | $(ratio "$e_all" "$m_all") | ≥ 30,000; ≥ 0.40 | $(meets "$e_all" ">=" 30000); $(meets "$(ratio "$e_all" "$c_all")" ">=" 0.40) |
| send, receive and delete at once (steady pipeline), msg/s ⁴ | $(fmt_int "$e_tog") | $(fmt_int "$c_all") | $(ratio "$e_tog" "$c_all") | $(fmt_int "$m_all") | $(ratio "$e_tog" "$m_all") | ≥ 30,000; ≥ 0.40 | $(meets "$e_tog" ">=" 30000); $(meets "$(ratio "$e_tog" "$c_all")" ">=" 0.40) |
| EVALSHA + EVAL per $BATCH messages, one after the other / at once | $(printf "%.2f" "${per10:-0}") / $(printf "%.2f" "${tper10:-0}") | 3 | | $(awk -v k="$KM" 'BEGIN { printf "%.2f", 3 / k }') | | ≤ 4 | $(meets "$per10" "<=" 4); $(meets "$tper10" "<=" 4) |
| messages per script call | $(us "$(median "${E_MPC[@]}")") | $BATCH | | $((KM * BATCH)) | | | |
| Redis µs per send / receive / delete script | $(us "$(median "${E_USEND[@]}")") / $(us "$(median "${E_URECV[@]}")") ¹ | $(us "$(median "${U_SEND[@]}")") / $(us "$(median "${U_RECV[@]}")") / $(us "$(median "${U_DEL[@]}")") | | | | | |
| CPU µs per message, sluiced / redis-server ² | $(us "$(median "${E_SCPU[@]}")") / $(us "$(median "${E_RCPU[@]}")") | — / $(us "$(median "${C_RCPU[@]}")") | $(ratio "$(median "${C_RCPU[@]}")" "$(median "${E_RCPU[@]}")") | — / $(us "$(median "${M_RCPU[@]}")") | $(ratio "$(median "${M_RCPU[@]}")" "$(median "${E_RCPU[@]}")") | | |
| CPU µs per message at once, sluiced / redis-server ² | $(us "$(median "${E_TSCPU[@]}")") / $(us "$(median "${E_TRCPU[@]}")") | | | | | | |
| errors, all runs | $E_ERR | 0 | | 0 | | 0 | |

Ceiling per script, msg/s, $BATCH per call: send $(fmt_int "$c_send"), receive $(fmt_int "$c_recv_only"),
delete $(fmt_int "$c_del") (redis-cli --pipe with every real receipt once); $mk per call:
send $(fmt_int "$m_send"), receive $(fmt_int "$(median "${M_RECV[@]}")"), delete $(fmt_int "$(median "${M_DEL[@]}")").
The broker merges requests of one queue that arrive together into one script call, so its
calls carry more than $BATCH messages; the second ceiling runs the scripts with as many.
¹ end to end, receive and delete scripts together (INFO commandstats usec_per_call).
² from /proc/PID/stat over each measurement, all three steps, per message; the ratio is
ceiling / end to end, the share of Redis's work per message that is the scripts' own. It
does not depend on what else runs on the machine the way msg/s do.
³ messages ÷ (send time + receive-and-delete time) for sluiced, and
1 / (1/send + 1/receive + 1/delete) for the ceilings: the same messages through all three.
⁴ sluice-bench run --together: senders and receivers (long polls, WaitTimeSeconds 1)
from one start until every message sent is deleted; messages ÷ that time.
EOF
