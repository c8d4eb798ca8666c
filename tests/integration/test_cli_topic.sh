#!/usr/bin/env bash
# test_cli_topic.sh BUILD_DIR - `sluice topic ...` against a real sluiced: create, list,
# subscribe queues (raw with a filter policy, and one with a DLQ), publish from an
# argument and from stdin, subscriptions, unsubscribe, delete, and the exit statuses
# (1 broker error, 2 usage error). The last line is "N passed, M failed".
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_DIR=${1:?usage: test_cli_topic.sh BUILD_DIR}
. "$HERE/lib.sh"
SLUICE=$BUILD_DIR/sluice
PASS=0
FAIL=0

ok()  { PASS=$((PASS + 1)); echo "ok - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "not ok - $1"; [ -n "${2:-}" ] && printf '#   %s\n' "$2"; }

start_broker "$BUILD_DIR" || exit 1

# sl ARGS... : the CLI with stdin from /dev/null; sets OUT, ERR, RC.
sl() {
    OUT=$("$SLUICE" --endpoint "$ENDPOINT" --timeout 15 "$@" </dev/null 2>"$TEST_TMP/err")
    RC=$?
    ERR=$(cat "$TEST_TMP/err")
}
expect() {
    if [ "$RC" != "$2" ]; then
        bad "$1" "exit $RC, want $2; stdout [$OUT] stderr [$ERR]"
    elif [ $# -ge 3 ] && [ "$OUT" != "$3" ]; then
        bad "$1" "stdout [$OUT], want [$3]; stderr [$ERR]"
    else
        ok "$1"
    fi
}
expect_err() {
    if [ "$RC" = "$2" ] && printf '%s\n' "$ERR" | grep -Eq "$3"; then ok "$1"
    else bad "$1" "exit $RC (want $2), stderr [$ERR] !~ /$3/"; fi
}
# bodies QUEUE WANT: receives (bounded) until WANT bodies came; prints them sorted.
bodies() {
    : >"$TEST_TMP/bodies"
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        "$SLUICE" --endpoint "$ENDPOINT" receive "$1" --max 10 --wait 1 --delete \
            </dev/null >>"$TEST_TMP/bodies" 2>/dev/null || break
        [ "$(wc -l <"$TEST_TMP/bodies")" -ge "$2" ] && break
    done
    sort "$TEST_TMP/bodies"
}

ARN=arn:aws:sns:us-east-1:000000000000:cli-orders
sl topic create cli-orders
expect "topic create prints the ARN" 0 "$ARN"
sl topic list
printf '%s\n' "$OUT" | grep -qx "$ARN" && ok "topic list shows it" || bad "topic list" "$OUT"
sl queue create cli-big
sl queue create cli-dlq
sl topic subscribe cli-orders sqs cli-big --raw --filter '{"size":[{"numeric":[">",10]}]}'
[ "$RC" = 0 ] && [ "${OUT%:*}" = "$ARN" ] && ok "topic subscribe prints the ARN" ||
    bad "topic subscribe" "rc $RC [$OUT] [$ERR]"
SUB=$OUT
sl topic subscribe cli-orders sqs cli-missing-queue --dlq cli-dlq
expect "topic subscribe with --dlq" 0
sl topic publish cli-orders small --attr-number size=3
expect "topic publish prints an id" 0
[ "${#OUT}" = 36 ] && ok "the id is a UUID" || bad "message id" "$OUT"
OUT=$(printf 'big from stdin' | "$SLUICE" --endpoint "$ENDPOINT" topic publish cli-orders \
    --attr-number size=50 --subject s 2>"$TEST_TMP/err")
RC=$?
expect "topic publish from stdin" 0
[ "$(bodies cli-big 1)" = "big from stdin" ] && ok "the filtered raw queue got only the big one" ||
    bad "filtered raw delivery" "$(cat "$TEST_TMP/bodies")"
[ "$(bodies cli-dlq 2 | wc -l)" = 2 ] && ok "deliveries to a missing queue land in the DLQ" ||
    bad "DLQ" "$(cat "$TEST_TMP/bodies")"
sl topic subscriptions cli-orders
[ "$(printf '%s\n' "$OUT" | wc -l)" = 2 ] && ok "topic subscriptions lists both" ||
    bad "topic subscriptions" "$OUT"
sl topic unsubscribe "$SUB"
expect "topic unsubscribe" 0 ""
sl topic subscribe cli-orders sqs cli-big --filter '{"a":[{"wildcard":"x*"}]}'
expect_err "a bad filter policy exits 1 with AWS's message" 1 \
    "^sluice: InvalidParameter: Invalid parameter: FilterPolicy: "
sl topic publish cli-nope hello
expect_err "publishing to a missing topic exits 1" 1 "^sluice: NotFound: Topic does not exist"
sl topic frob
expect_err "an unknown topic command exits 2" 2 "unknown command"
sl topic subscribe cli-orders sqs
expect_err "a missing argument exits 2" 2 "missing"
sl topic --help
expect "topic --help exits 0" 0
sl topic delete cli-orders
expect "topic delete" 0 ""
sl topic list
printf '%s\n' "$OUT" | grep -qx "$ARN" && bad "deleted topic still listed" || ok "topic deleted"

check_broker_log "$BROKER_LOG" || FAIL=$((FAIL + 1))
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
