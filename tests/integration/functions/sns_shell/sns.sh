# sns.sh - an SNS-event handler for the shell custom runtime (_HANDLER=sns.handler),
# used by tests/integration/test_sns.py. It records every event in
# $SLUICE_TEST_OUT (one line each) and fails when the message holds "poison".
handler () {
    EVENT_DATA=$1
    printf '%s\n' "$EVENT_DATA" >> "${SLUICE_TEST_OUT:-/dev/null}"
    case "$EVENT_DATA" in
    *poison*)
        echo "poisoned message"
        return 1
        ;;
    *)
        echo '{}'
        ;;
    esac
}
