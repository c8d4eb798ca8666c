#!/usr/bin/env bash
# SQS through Debian's aws CLI v2.9 (/usr/bin/aws), which speaks the SQS query
# protocol. Usage: test_awscli.sh BUILD_DIR [REPO_DIR]
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_DIR=${1:?usage: test_awscli.sh BUILD_DIR [REPO_DIR]}
. "$HERE/lib.sh"

AWS=/usr/bin/aws
if [ ! -x "$AWS" ]; then
    echo "SKIP: $AWS (Debian package awscli) not installed; run tests/install-deps.sh"
    exit 77
fi
export AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard

start_broker "$BUILD_DIR" || exit 1

PASSED=0
FAILED=0
ok()   { PASSED=$((PASSED + 1)); echo "ok   - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }

# sqs ARGS...: run the CLI against our broker; stdout to $OUT, stderr to $ERR.
OUT="$TEST_TMP/out.json"
ERR="$TEST_TMP/err.txt"
sqs() {
    timeout 60 "$AWS" --endpoint-url "$ENDPOINT" --region us-east-1 --output json \
        --cli-connect-timeout 5 --cli-read-timeout 30 sqs "$@" >"$OUT" 2>"$ERR"
}

# jget EXPR: evaluate a Python expression over the JSON in $OUT (bound to d).
jget() {
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1])) if open(sys.argv[1]).read().strip() else {}
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))' "$OUT" "$1"
}

# expect NAME GOT WANT
expect() {
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got [$2] want [$3]"; cat "$ERR"; fi
}

# run NAME ARGS...: the command must succeed.
run() {
    local name=$1 rc; shift
    sqs "$@"
    rc=$?
    [ $rc -eq 0 ] && return 0
    fail "$name: aws sqs $1 exited $rc"
    sed 's/^/    /' "$ERR"
    return 1
}

md5() { printf '%s' "$1" | md5sum | cut -d' ' -f1; }

Q="$ENDPOINT/000000000000/cli-q"

# ---- create / list / attributes ----
if run create-queue create-queue --queue-name cli-q \
       --attributes VisibilityTimeout=40; then
    expect "create-queue returns the queue URL" "$(jget 'd["QueueUrl"]')" "$Q"
fi
run create-queue-2 create-queue --queue-name cli-other >/dev/null
if run list-queues list-queues --queue-name-prefix cli-q; then
    expect "list-queues with prefix" "$(jget 'd.get("QueueUrls")')" "[\"$Q\"]"
fi
if run get-queue-url get-queue-url --queue-name cli-q; then
    expect "get-queue-url" "$(jget 'd["QueueUrl"]')" "$Q"
fi
if run get-queue-attributes get-queue-attributes --queue-url "$Q" --attribute-names All; then
    expect "VisibilityTimeout set at create" "$(jget 'd["Attributes"]["VisibilityTimeout"]')" "40"
    expect "MaximumMessageSize default" "$(jget 'd["Attributes"]["MaximumMessageSize"]')" "262144"
    expect "QueueArn" "$(jget 'd["Attributes"]["QueueArn"]')" \
        "arn:aws:sqs:us-east-1:000000000000:cli-q"
fi

# ---- send / receive / delete ----
BODY="héllo wörld & = + ~*'()! 😀 a/b?c#d%"
if run send-message send-message --queue-url "$Q" --message-body "$BODY" \
       --message-attributes '{"color":{"DataType":"String","StringValue":"blue"},
                              "size":{"DataType":"Number","StringValue":"42"},
                              "blob":{"DataType":"Binary","BinaryValue":"AAEC"}}'; then
    expect "send-message MD5OfMessageBody" "$(jget 'd["MD5OfMessageBody"]')" "$(md5 "$BODY")"
    expect "send-message MD5OfMessageAttributes" "$(jget 'd["MD5OfMessageAttributes"]')" \
        "b812dfcb966c8d052a5a11c97720d12b"
    MID=$(jget 'd["MessageId"]')
fi
if run receive-message receive-message --queue-url "$Q" --max-number-of-messages 10 \
       --attribute-names All --message-attribute-names All; then
    expect "receive-message got one message" "$(jget 'len(d.get("Messages", []))')" "1"
    expect "received body" "$(jget 'd["Messages"][0]["Body"]')" "$BODY"
    expect "received MessageId" "$(jget 'd["Messages"][0]["MessageId"]')" "${MID:-}"
    expect "received MD5OfBody" "$(jget 'd["Messages"][0]["MD5OfBody"]')" "$(md5 "$BODY")"
    expect "received binary attribute" \
        "$(jget 'd["Messages"][0]["MessageAttributes"]["blob"]["BinaryValue"]')" "AAEC"
    expect "received ApproximateReceiveCount" \
        "$(jget 'd["Messages"][0]["Attributes"]["ApproximateReceiveCount"]')" "1"
    RH=$(jget 'd["Messages"][0]["ReceiptHandle"]')
    if run delete-message delete-message --queue-url "$Q" --receipt-handle "$RH"; then
        ok "delete-message"
    fi
fi
if run receive-after-delete receive-message --queue-url "$Q" --visibility-timeout 0; then
    expect "queue empty after delete" "$(jget 'len(d.get("Messages", []))')" "0"
fi

# ---- errors: exit 254 and the legacy code in the message ----
sqs get-queue-url --queue-name cli-nope
rc=$?
expect "non-existent queue exit status" "$rc" "254"
if grep -q 'AWS.SimpleQueueService.NonExistentQueue' "$ERR"; then
    ok "non-existent queue message names AWS.SimpleQueueService.NonExistentQueue"
else
    fail "non-existent queue message: $(cat "$ERR")"
fi
sqs send-message --queue-url "$ENDPOINT/000000000000/cli-nope" --message-body x
expect "send to non-existent queue exit status" "$?" "254"

# ---- delete queue ----
if run delete-queue delete-queue --queue-url "$Q"; then
    ok "delete-queue"
fi
sqs get-queue-url --queue-name cli-q
expect "deleted queue is gone" "$?" "254"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
