#!/usr/bin/env bash
# test_cli.sh BUILD_DIR - the `sluice` command-line client against a real sluiced.
# Starts BUILD_DIR/sluiced on a free loopback port, drives every CLI command through it
# (queues, send from an argument and from stdin, receive --delete, stats, purge, FIFO
# groups and dedup ids, functions, function logs, triggers, stats, redrive) and checks outputs and the documented exit statuses: 1 for a
# broker error, 2 for a usage error, 3 for an unreachable broker. sluiced is killed on
# exit. The last line is "N passed, M failed"; the exit status is non-zero on failure.
set -u

BUILD=${1:?usage: test_cli.sh BUILD_DIR}
SLUICE=$BUILD/sluice
SLUICED=$BUILD/sluiced
PASS=0
FAIL=0
PID=
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-cli.XXXXXX")

cleanup() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

ok() {
    PASS=$((PASS + 1))
    echo "ok - $1"
}

bad() {
    FAIL=$((FAIL + 1))
    echo "not ok - $1"
    [ -n "${2:-}" ] && printf '#   %s\n' "$2"
    return 0
}

finish() {
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
    exit
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# sl ARGS... : runs the CLI against the broker with stdin from /dev/null; sets OUT, ERR, RC.
sl() {
    OUT=$("$SLUICE" --endpoint "$EP" --timeout 15 "$@" </dev/null 2>"$TMP/err")
    RC=$?
    ERR=$(cat "$TMP/err")
}

# sl_in INPUT ARGS... : as sl, with INPUT (byte for byte) on stdin.
sl_in() {
    local input=$1
    shift
    OUT=$(printf '%s' "$input" | "$SLUICE" --endpoint "$EP" --timeout 15 "$@" 2>"$TMP/err")
    RC=$?
    ERR=$(cat "$TMP/err")
}

# expect DESC RC [STDOUT] : the last command exited RC and, when given, printed STDOUT.
expect() {
    if [ "$RC" != "$2" ]; then
        bad "$1" "exit $RC, want $2; stdout [$OUT] stderr [$ERR]"
    elif [ $# -ge 3 ] && [ "$OUT" != "$3" ]; then
        bad "$1" "stdout [$OUT], want [$3]; stderr [$ERR]"
    else
        ok "$1"
    fi
}

# expect_err DESC RC REGEX : the last command exited RC with stderr matching REGEX.
expect_err() {
    if [ "$RC" = "$2" ] && printf '%s\n' "$ERR" | grep -Eq "$3"; then
        ok "$1"
    else
        bad "$1" "exit $RC (want $2), stderr [$ERR] !~ /$3/"
    fi
}

# attr QUEUE NAME : prints attribute NAME from `queue stats QUEUE`.
attr() {
    "$SLUICE" --endpoint "$EP" queue stats "$1" </dev/null 2>/dev/null |
        awk -v n="$2" '$1 == n { print $2 }'
}

# receive_all QUEUE WANT : receives with --delete until WANT bodies came (or 5 tries, since
# a standard queue may return fewer than --max); prints them sorted.
receive_all() {
    local got=0 i
    : >"$TMP/bodies"
    for i in 1 2 3 4 5; do
        "$SLUICE" --endpoint "$EP" receive "$1" --max 10 --wait 1 --delete \
            </dev/null >>"$TMP/bodies" 2>>"$TMP/err" || break
        got=$(wc -l <"$TMP/bodies")
        [ "$got" -ge "$2" ] && break
    done
    sort "$TMP/bodies"
}

for bin in "$SLUICE" "$SLUICED"; do
    if [ ! -x "$bin" ]; then
        bad "build has $bin"
        finish
    fi
done

PORT=$(free_port)
EP=http://127.0.0.1:$PORT
"$SLUICED" --listen "127.0.0.1:$PORT" --log-level warn >"$TMP/sluiced.log" 2>&1 &
PID=$!
up=
for _ in $(seq 50); do
    if python3 -c 'import sys, urllib.request as u
sys.exit(0 if u.urlopen(sys.argv[1] + "/healthz", timeout=1).read().strip() == b"ok" else 1)' \
        "$EP" 2>/dev/null; then
        up=1
        break
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$up" ]; then
    bad "sluiced answers /healthz within 5 s" "$(tail -5 "$TMP/sluiced.log")"
    finish
fi
ok "sluiced answers /healthz"

# ---- Usage and version ----

sl version
[ "${OUT#sluice }" != "$OUT" ] && ok "version prints 'sluice X'" || bad "version" "[$OUT]"
sl --help
expect "--help exits 0" 0
printf '%s\n' "$OUT" | grep -q 'receive QUEUE' && ok "--help lists receive" || bad "--help text"
sl frob
expect_err "unknown command exits 2" 2 "^sluice: unknown command 'frob'"
sl receive
expect_err "missing argument exits 2" 2 "^sluice: missing"
sl receive q --max lots
expect_err "non-numeric --max exits 2" 2 "^sluice: --max"
sl queue create q --attr NoEquals
expect_err "--attr without = exits 2" 2 "Name=Value"
OUT=$("$SLUICE" 2>"$TMP/err" </dev/null); RC=$?; ERR=$(cat "$TMP/err")
expect_err "no command exits 2 with usage" 2 "^Usage: sluice"

# ---- Standard queue ----

sl queue create t-orders --attr VisibilityTimeout=45 --tag team=cli
if [ "$RC" = 0 ] && [ -n "$OUT" ] && [ "${OUT%t-orders}" != "$OUT" ]; then
    ok "queue create prints the queue URL"
else
    bad "queue create" "exit $RC stdout [$OUT] stderr [$ERR]"
fi
sl queue create t-orders --attr VisibilityTimeout=45
expect "queue create again with the same attributes succeeds" 0
sl queue create t-other
sl queue list
printf '%s\n' "$OUT" | grep -qx t-orders && printf '%s\n' "$OUT" | grep -qx t-other &&
    ok "queue list prints one name a line" || bad "queue list" "[$OUT]"
sl queue list --prefix t-or
expect "queue list --prefix filters" 0 "t-orders"
sl queue list --prefix no-such-prefix
expect "queue list with no match prints nothing" 0 ""
sl queue list --json
printf '%s' "$OUT" | python3 -c 'import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(q["name"] == "t-orders" and q["url"] for q in d["queues"]) else 1)' &&
    ok "queue list --json is the raw reply" || bad "queue list --json" "[$OUT]"
[ "$(attr t-orders VisibilityTimeout)" = 45 ] && ok "queue create --attr took effect" ||
    bad "VisibilityTimeout attribute" "$(attr t-orders VisibilityTimeout)"

sl send t-orders "from an argument"
[ "$RC" = 0 ] && [ -n "$OUT" ] && [ "$(printf '%s\n' "$OUT" | wc -l)" = 1 ] &&
    ok "send prints the message id" || bad "send" "exit $RC [$OUT] [$ERR]"
sl_in "from stdin" send t-orders
expect "send reads stdin without BODY" 0
sl_in "from dash" send t-orders - --attr colour=red --attr-number n=5
expect "send - reads stdin, with attributes" 0
[ "$(attr t-orders ApproximateNumberOfMessages)" = 3 ] && ok "queue stats counts 3 messages" ||
    bad "queue stats count" "$(attr t-orders ApproximateNumberOfMessages)"
sl queue stats t-orders
printf '%s\n' "$OUT" | grep -Eq '^QueueArn +arn:' && ok "queue stats prints 'Name  value' lines" ||
    bad "queue stats format" "[$OUT]"

got=$(receive_all t-orders 3)
want=$(printf '%s\n' "from an argument" "from dash" "from stdin")
[ "$got" = "$want" ] && ok "receive --delete prints each body" || bad "receive bodies" "[$got]"
sl receive t-orders
expect "receive on an empty queue prints nothing, exits 0" 0 ""
[ "$(attr t-orders ApproximateNumberOfMessagesNotVisible)" = 0 ] &&
    ok "receive --delete deleted the messages" ||
    bad "messages left in flight" "$(attr t-orders ApproximateNumberOfMessagesNotVisible)"

sl send t-orders "with attrs" --attr colour=blue
sl receive t-orders --json --wait 1
printf '%s' "$OUT" | python3 -c 'import json, sys
m = json.load(sys.stdin)["messages"][0]
ok = (m["body"] == "with attrs" and m["receipt"] and m["id"]
      and m["message_attributes"]["colour"] == {"type": "String", "value": "blue"})
sys.exit(0 if ok else 1)' && ok "receive --json shows receipt and attributes" ||
    bad "receive --json" "[$OUT]"
[ "$(attr t-orders ApproximateNumberOfMessagesNotVisible)" = 1 ] &&
    ok "receive without --delete leaves the message in flight" || bad "in flight count"

sl send t-orders "héllo wörld ✓ \"quoted\""
got=$(receive_all t-orders 1)
[ "$got" = "héllo wörld ✓ \"quoted\"" ] && ok "UTF-8 and quotes round-trip" || bad "UTF-8" "[$got]"

sl send t-orders later --delay 30
expect "send --delay" 0
[ "$(attr t-orders ApproximateNumberOfMessagesDelayed)" = 1 ] && ok "delayed message is counted" ||
    bad "delayed count" "$(attr t-orders ApproximateNumberOfMessagesDelayed)"
sl receive t-orders
expect "delayed message is not received yet" 0 ""

sl send t-orders one
sl send t-orders two
sl queue purge t-orders
expect "queue purge" 0 ""
[ "$(attr t-orders ApproximateNumberOfMessages)" = 0 ] &&
    [ "$(attr t-orders ApproximateNumberOfMessagesDelayed)" = 0 ] &&
    ok "purge emptied the queue" || bad "purge" "$(attr t-orders ApproximateNumberOfMessages)"

# ---- FIFO queue ----

sl queue create t-jobs.fifo --fifo
expect "queue create --fifo" 0
[ "$(attr t-jobs.fifo FifoQueue)" = true ] && ok "FifoQueue is true" || bad "FifoQueue attribute"
sl send t-jobs.fifo orphan --dedup x
expect_err "FIFO send without --group is a broker error" 1 "^sluice: MissingParameter: "
sl send t-jobs.fifo first --group g1 --dedup d1
expect "FIFO send --group --dedup" 0
sl send t-jobs.fifo first --group g1 --dedup d1
expect "FIFO send of a duplicate succeeds" 0
sl send t-jobs.fifo second --group g1 --dedup d2
sl send t-jobs.fifo third --group g1 --dedup d3
sl receive t-jobs.fifo --max 10 --delete
expect "FIFO receive is in order, without the duplicate" 0 "$(printf 'first\nsecond\nthird')"

# ---- Broker errors and unreachable broker ----

sl receive t-no-such-queue
expect_err "receive from an unknown queue exits 1" 1 "^sluice: QueueDoesNotExist: "
sl queue stats t-no-such-queue
expect_err "stats of an unknown queue exits 1" 1 "^sluice: QueueDoesNotExist: "
sl receive t-orders --max 11
expect_err "--max 11 is rejected by the broker" 1 "^sluice: InvalidParameterValue: "
OUT=$(SLUICE_ENDPOINT=$EP "$SLUICE" queue list 2>"$TMP/err" </dev/null); RC=$?
printf '%s\n' "$OUT" | grep -qx t-orders && ok "SLUICE_ENDPOINT picks the broker" ||
    bad "SLUICE_ENDPOINT" "exit $RC [$OUT]"
DEAD=$(free_port)
OUT=$("$SLUICE" --endpoint "http://127.0.0.1:$DEAD" --timeout 5 queue list 2>"$TMP/err" \
      </dev/null); RC=$?; ERR=$(cat "$TMP/err")
expect_err "unreachable endpoint exits 3" 3 "^sluice: cannot reach http://127.0.0.1:$DEAD"

# ---- Functions, triggers, stats, redrive ----

sl function create t-fn --process true --cwd . --env A=1 --timeout 3 --max-concurrency 2
expect "function create prints the name" 0 "t-fn"
sl function list
printf '%s\n' "$OUT" | grep -qx 't-fn process 0/2' && ok "function list shows it" ||
    bad "function list" "exit $RC [$OUT] [$ERR]"
sl function list --json
printf '%s' "$OUT" | python3 -c 'import json, os, sys
f = [f for f in json.load(sys.stdin)["functions"] if f["name"] == "t-fn"][0]
ok = (f["command"] == "true" and f["timeout_ms"] == 3000 and f["env"] == {"A": "1"}
      and f["cwd"] == os.path.realpath("."))
sys.exit(0 if ok else 1)' && ok "function create sent command, timeout, env and cwd" ||
    bad "function list --json" "[$OUT]"
sl function create t-fn2
expect_err "function create without a kind exits 2" 2 "exactly one of"
sl queue create t-src
sl trigger create --source queue:t-src --function t-fn --batch-size 5 --filter '{"body":{"k":["v"]}}'
TRG=$OUT
[ "$RC" = 0 ] && [ -n "$TRG" ] && ok "trigger create prints the id" ||
    bad "trigger create" "exit $RC [$OUT] [$ERR]"
sl trigger create --source queue:t-src --function t-fn --filter '{bad'
expect_err "trigger create with a bad --filter exits 2" 2 "^sluice: --filter"
sl trigger list
printf '%s\n' "$OUT" | grep -qx "$TRG queue:t-src t-fn 5" && ok "trigger list shows it" ||
    bad "trigger list" "exit $RC [$OUT] [$ERR]"
sl stats
[ "$RC" = 0 ] && printf '%s\n' "$OUT" | grep -q "^$TRG  *t-fn  *queue:t-src " &&
    printf '%s\n' "$OUT" | grep -Eq '^t-fn +[0-9]+ +[0-9]+ +[0-9]+$' &&
    ok "stats prints the trigger and function tables" || bad "stats" "exit $RC [$OUT] [$ERR]"
sl stats --json
printf '%s' "$OUT" | python3 -c 'import json, sys
d = json.load(sys.stdin)
sys.exit(0 if "desired" in d["triggers"][0]["state"] and d["functions"] else 1)' &&
    ok "stats --json is the raw reply" || bad "stats --json" "[$OUT]"
sl trigger delete "$TRG"
expect "trigger delete" 0 ""
sl trigger list
expect "trigger list after delete is empty" 0 ""
sl function delete t-fn
expect "function delete" 0 ""
sl function delete t-fn
expect_err "deleting an unknown function exits 1" 1 "^sluice: ResourceNotFoundException: "
sl function invoke t-no-such-fn
expect_err "invoking an unknown function exits 1" 1 "^sluice: ResourceNotFoundException: "

# function logs: a real process function (the shell custom runtime) that writes to
# stderr; its lines come back through the broker's per-function ring.
FN_DIR=$(cd "$(dirname "$0")/functions/shell" && pwd)
sl function create t-log --process 'sh ./bootstrap' --cwd "$FN_DIR" --handler function.handler
sl function logs t-log
expect "function logs of a function that never ran is empty" 0 ""
sl function invoke t-log --payload '{"action":"log"}'
REQ=$(printf '%s' "$OUT" | python3 -c 'import json, sys; print(json.load(sys.stdin)["request_id"])')
sl function logs t-log
printf '%s\n' "$OUT" | grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z 1 stderr $REQ log line one from the handler$" &&
    printf '%s\n' "$OUT" | grep -q "stderr $REQ log line two from the handler$" &&
    printf '%s\n' "$OUT" | grep -q " 1 stdout - bootstrap starting function=t-log" &&
    ok "function logs prints the instance's lines with time, instance, stream, request" ||
    bad "function logs" "exit $RC [$OUT] [$ERR]"
sl function logs t-log --tail 1
[ "$(printf '%s\n' "$OUT" | wc -l)" = 1 ] && printf '%s' "$OUT" | grep -q 'log line two' &&
    ok "function logs --tail 1 is one line" || bad "function logs --tail 1" "[$OUT]"
sl function logs t-log --json
printf '%s' "$OUT" | python3 -c 'import json, sys
d = json.load(sys.stdin)
seqs = [l["seq"] for l in d["lines"]]
ok = (seqs == sorted(seqs) and d["next"] == seqs[-1] and d["missed"] == 0
      and {"seq", "time", "instance", "stream", "request", "line"} <= set(d["lines"][-1]))
sys.exit(0 if ok else 1)' && ok "function logs --json is the raw reply" ||
    bad "function logs --json" "[$OUT]"
"$SLUICE" --endpoint "$EP" function logs t-log --follow >"$TMP/follow" 2>"$TMP/follow.err" &
FOLLOW=$!
sl function invoke t-log --payload '{"action":"log","n":"second"}'
REQ2=$(printf '%s' "$OUT" | python3 -c 'import json, sys; print(json.load(sys.stdin)["request_id"])')
for _ in $(seq 100); do
    grep -q "stderr $REQ2 log line two" "$TMP/follow" && break
    sleep 0.1
done
kill "$FOLLOW" 2>/dev/null
wait "$FOLLOW" 2>/dev/null
[ "$(grep -c "log line one from the handler" "$TMP/follow")" = 2 ] &&
    grep -q "stderr $REQ2 log line two" "$TMP/follow" &&
    ok "function logs --follow prints old lines, then new ones once each" ||
    bad "function logs --follow" "[$(cat "$TMP/follow")] [$(cat "$TMP/follow.err")]"
sl function logs t-no-such-fn
expect_err "logs of an unknown function exits 1" 1 "^sluice: ResourceNotFoundException: "
OUT=$(curl -s -o /dev/null -w '%{http_code}' "$EP/v1/functions/t-log/logs?tail=x")
[ "$OUT" = 400 ] && ok "a bad ?tail= is 400" || bad "bad tail" "[$OUT]"
OUT=$(curl -s -o /dev/null -w '%{http_code}' "$EP/v1/functions/t-log/logs?after=-1")
[ "$OUT" = 400 ] && ok "a bad ?after= is 400" || bad "bad after" "[$OUT]"
sl function logs t-log --tail x
expect_err "function logs --tail x exits 2" 2 "tail"
sl function delete t-log
sl redrive t-src --rate 5
expect_err "redrive of a queue that is no DLQ prints the SQS error" 1 "^sluice: [A-Za-z.]+: "
sl redrive status t-src
[ "$RC" = 0 ] || printf '%s\n' "$ERR" | grep -Eq '^sluice: [A-Za-z.]+: ' &&
    ok "redrive status answers or prints the SQS error" || bad "redrive status" "exit $RC [$ERR]"
sl redrive status t-src --to x
expect_err "redrive status with --to exits 2" 2 "do not go with"
sl queue delete t-src

# ---- Deleting queues ----

sl queue delete t-orders
expect "queue delete" 0 ""
sl queue delete t-other
sl queue delete t-jobs.fifo
sl queue stats t-orders
expect_err "a deleted queue is gone" 1 "^sluice: QueueDoesNotExist: "
sl queue list --prefix t-
expect "queue list after deletes" 0 ""

kill -0 "$PID" 2>/dev/null && ok "sluiced still running" || bad "sluiced died" \
    "$(tail -5 "$TMP/sluiced.log")"
finish
