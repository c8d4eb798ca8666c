#!/usr/bin/env bash
# SNS through Debian's aws CLI v2.9 (/usr/bin/aws): a topic fanned out to two
# queues with different filter policies, one raw and one enveloped, PublishBatch,
# subscription attributes, AWS's error for a bad filter policy, unsubscribe and
# delete. With SLUICE_IT_STORE=redis the broker runs on a private redis-server.
# Usage: test_sns_awscli.sh BUILD_DIR [REPO_DIR]
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_DIR=${1:?usage: test_sns_awscli.sh BUILD_DIR [REPO_DIR]}
. "$HERE/lib.sh"

AWS=/usr/bin/aws
if [ ! -x "$AWS" ]; then
    echo "SKIP: $AWS (Debian package awscli) not installed; run tests/install-deps.sh"
    exit 77
fi
export AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard

STORE_ARGS=()
if [ "${SLUICE_IT_STORE:-memory}" = redis ]; then
    . "$HERE/redis_lib.sh"
    start_redis || exit $?
    STORE_ARGS=(--store "$REDIS_URL?prefix=snscli:")
    LIB_AFTER_BROKER=redis_cleanup
    trap redis_cleanup EXIT         # until start_broker sets its own trap
fi
start_broker "$BUILD_DIR" "${STORE_ARGS[@]}" || exit 1

PASSED=0
FAILED=0
ok()   { PASSED=$((PASSED + 1)); echo "ok   - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }

OUT="$TEST_TMP/out.json"
ERR="$TEST_TMP/err.txt"
aws_() {
    timeout 60 "$AWS" --endpoint-url "$ENDPOINT" --region us-east-1 --output json \
        --cli-connect-timeout 5 --cli-read-timeout 30 "$@" >"$OUT" 2>"$ERR"
}
jget() {
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1])) if open(sys.argv[1]).read().strip() else {}
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))' "$OUT" "$1"
}
expect() {
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got [$2] want [$3]"; cat "$ERR"; fi
}
run() {
    local name=$1 rc; shift
    aws_ "$@"
    rc=$?
    [ $rc -eq 0 ] && return 0
    fail "$name: aws $1 $2 exited $rc"
    sed 's/^/    /' "$ERR"
    return 1
}
# receive_bodies URL N: up to N message bodies (JSON list, sorted), bounded wait.
receive_bodies() {
    local url=$1 want=$2 all="[]" i
    for i in $(seq 1 20); do
        aws_ sqs receive-message --queue-url "$url" --max-number-of-messages 10 \
            --wait-time-seconds 1 --message-attribute-names All || break
        all=$("$PY" -c 'import json, sys
a = json.loads(sys.argv[1])
t = open(sys.argv[2]).read().strip()
a += [m["Body"] for m in (json.loads(t).get("Messages", []) if t else [])]
print(json.dumps(sorted(a)))' "$all" "$OUT")
        [ "$("$PY" -c 'import json, sys; print(len(json.loads(sys.argv[1])))' "$all")" -ge "$want" ] && break
    done
    printf '%s' "$all"
}

ARN=arn:aws:sns:us-east-1:000000000000:cli-topic
run create-topic sns create-topic --name cli-topic && expect "create-topic ARN" "$(jget 'd["TopicArn"]')" "$ARN"
run create-queue sqs create-queue --queue-name cli-all >/dev/null
run create-queue sqs create-queue --queue-name cli-big >/dev/null
ALL="$ENDPOINT/000000000000/cli-all"
BIG="$ENDPOINT/000000000000/cli-big"

run subscribe sns subscribe --topic-arn "$ARN" --protocol sqs \
    --notification-endpoint arn:aws:sqs:us-east-1:000000000000:cli-all --return-subscription-arn
SUB_ALL=$(jget 'd["SubscriptionArn"]')
expect "subscription ARN is the topic's" "${SUB_ALL%:*}" "$ARN"
run subscribe-filtered sns subscribe --topic-arn "$ARN" --protocol sqs \
    --notification-endpoint arn:aws:sqs:us-east-1:000000000000:cli-big \
    --attributes '{"RawMessageDelivery":"true","FilterPolicy":"{\"amount\":[{\"numeric\":[\">=\",100]}]}"}'

run publish-small sns publish --topic-arn "$ARN" --message small \
    --message-attributes '{"amount":{"DataType":"Number","StringValue":"5"}}'
run publish-big sns publish --topic-arn "$ARN" --message big --subject cli \
    --message-attributes '{"amount":{"DataType":"Number","StringValue":"250"}}'
run publish-batch sns publish-batch --topic-arn "$ARN" --publish-batch-request-entries \
    'Id=a,Message=batch-a' 'Id=b,Message=batch-b'
expect "publish-batch successes" "$(jget 'len(d["Successful"])')" "2"

expect "raw queue got only what matched" "$(receive_bodies "$BIG" 1)" '["big"]'
ENV=$(receive_bodies "$ALL" 4)
expect "enveloped queue got all four" "$("$PY" -c 'import json, sys
print(json.dumps(sorted(json.loads(b)["Message"] for b in json.loads(sys.argv[1]))))' "$ENV")" \
    '["batch-a", "batch-b", "big", "small"]'
expect "envelope names the topic" "$("$PY" -c 'import json, sys
print({json.loads(b)["TopicArn"] for b in json.loads(sys.argv[1])}.pop())' "$ENV")" "$ARN"

run get-subscription-attributes sns get-subscription-attributes --subscription-arn "$SUB_ALL"
expect "subscription endpoint" "$(jget 'd["Attributes"]["Endpoint"]')" \
    "arn:aws:sqs:us-east-1:000000000000:cli-all"

aws_ sns subscribe --topic-arn "$ARN" --protocol sqs \
    --notification-endpoint arn:aws:sqs:us-east-1:000000000000:cli-all \
    --attributes '{"FilterPolicy":"{\"a\":[{\"wildcard\":\"x*\"}]}"}'
expect "bad filter policy exit status" "$?" "254"
if grep -q '(InvalidParameter).*Invalid parameter: FilterPolicy: ' "$ERR"; then
    ok "bad filter policy gives InvalidParameter with AWS's prefix"
else
    fail "bad filter policy message: $(cat "$ERR")"
fi
aws_ sns publish --topic-arn "$ARN-nope" --message x
expect "publish to a missing topic exit status" "$?" "254"
grep -q '(NotFound)' "$ERR" && ok "missing topic is NotFound" || fail "missing topic: $(cat "$ERR")"

run unsubscribe sns unsubscribe --subscription-arn "$SUB_ALL"
run list-subscriptions-by-topic sns list-subscriptions-by-topic --topic-arn "$ARN"
expect "one subscription left" "$(jget 'len(d["Subscriptions"])')" "1"
run delete-topic sns delete-topic --topic-arn "$ARN"
run list-topics sns list-topics
expect "topic gone" "$(jget '[t for t in d.get("Topics", []) if t["TopicArn"] == "'"$ARN"'"]')" "[]"

check_broker_log "$BROKER_LOG" || FAILED=$((FAILED + 1))
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
