# sqs.sh - an SQS-event handler for the shell custom runtime (_HANDLER=sqs.handler),
# used by tests/integration/test_triggers.py. It records every body it sees in
# $SLUICE_TEST_OUT (one line per record) and fails the whole batch when a body
# contains "poison"; with "partial" in a body it reports that record alone in
# batchItemFailures; a body starting with "nap" takes half a second.
handler () {
    EVENT_DATA=$1
    printf '%s\n' "$EVENT_DATA" >> "${SLUICE_TEST_OUT:-/dev/null}"
    case "$EVENT_DATA" in
    *'"body":"nap'*)
        sleep 0.5
        echo '{}'
        ;;
    *poison*)
        echo "poisoned batch"
        return 1
        ;;
    *partial*)
        ID=$(printf '%s' "$EVENT_DATA" | sed -n 's/.*"messageId":"\([^"]*\)","receiptHandle":"[^"]*","body":"partial.*/\1/p')
        printf '{"batchItemFailures":[{"itemIdentifier":"%s"}]}' "$ID"
        ;;
    *)
        echo '{}'
        ;;
    esac
}
