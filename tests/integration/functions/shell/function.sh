# function.sh - the handler the shell bootstrap runs (_HANDLER=function.handler).
# It is given the event JSON as $1 and prints the response on stdout; a
# non-zero return is a function error whose message is what it printed.
# What it does depends on the event's "action":
#   echo (default)  respond with the event itself
#   fail            function error
#   nap             sleep half a second, then echo
#   sleep           sleep far past any test timeout
#   env             respond with what the Lambda environment says
#   crash           kill the runtime mid-invocation
#   log             write two lines to stderr, then respond
handler () {
    EVENT_DATA=$1
    case "$EVENT_DATA" in
    *'"action":"fail"'*)
        echo "failed on purpose"
        return 1
        ;;
    *'"action":"nap"'*)
        sleep 0.5
        ;;
    *'"action":"sleep"'*)
        sleep 30
        ;;
    *'"action":"env"'*)
        printf '{"name":"%s","version":"%s","memory":"%s","group":"%s","stream":"%s",' \
            "$AWS_LAMBDA_FUNCTION_NAME" "$AWS_LAMBDA_FUNCTION_VERSION" \
            "$AWS_LAMBDA_FUNCTION_MEMORY_SIZE" "$AWS_LAMBDA_LOG_GROUP_NAME" \
            "$AWS_LAMBDA_LOG_STREAM_NAME"
        printf '"region":"%s","root":"%s","handler":"%s","tz":"%s","init":"%s","key":"%s",' \
            "$AWS_REGION" "$LAMBDA_TASK_ROOT" "$_HANDLER" "$TZ" \
            "$AWS_LAMBDA_INITIALIZATION_TYPE" "$AWS_ACCESS_KEY_ID"
        printf '"extra":"%s","cwd":"%s"}' "${SLUICE_TEST_EXTRA:-}" "$(pwd)"
        return 0
        ;;
    *'"action":"crash"'*)
        echo "crashing the runtime" >&2
        kill -KILL $$
        ;;
    *'"action":"log"'*)
        echo "log line one from the handler" >&2
        echo "log line two from the handler" >&2
        ;;
    esac
    printf '%s' "$EVENT_DATA"
}
