# Shared helpers for the shell integration tests; source it, don't run it.
#
#   . "$(dirname "$0")/lib.sh"
#   start_broker "$BUILD_DIR"      # sets BROKER_PID BROKER_PORT ENDPOINT BROKER_LOG
#   ...                            # stop_broker runs on exit (trap) and fails
#                                  # the test if sluiced's log shows a sanitizer report
#
# Each test gets its own sluiced on a free loopback port, the AWS environment
# pinned to dummy credentials, and no user config (~/.aws) in the way.

PY=/usr/bin/python3

export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_DEFAULT_REGION=us-east-1
export AWS_REGION=us-east-1
export AWS_PAGER=""
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SQS \
      AWS_DEFAULT_PROFILE AWS_CA_BUNDLE || true

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-it.XXXXXX")
export AWS_CONFIG_FILE="$TEST_TMP/aws-config"
export AWS_SHARED_CREDENTIALS_FILE="$TEST_TMP/aws-credentials"
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"

BROKER_PID=""
BROKER_PORT=""
BROKER_LOG=""
ENDPOINT=""
LIB_FAILED=0

log() { printf '%s\n' "$*" >&2; }

PDEATHSIG=""
if setpriv --pdeathsig TERM true 2>/dev/null; then
    PDEATHSIG="setpriv --pdeathsig TERM"
fi

# free_port: print a loopback TCP port that was free a moment ago.
free_port() {
    "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# healthz PORT: 0 when GET /healthz answers 200.
healthz() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        "http://127.0.0.1:$1/healthz" 2>/dev/null)" = "200" ]
}

# start_broker BUILD_DIR [extra sluiced args...]
# Starts sluiced, waits (at most 10 s) for /healthz; returns 1 if it never
# becomes ready. Retries with another port if sluiced exits at once (a port
# taken between free_port and bind).
start_broker() {
    local build_dir=$1; shift
    local bin="$build_dir/sluiced" attempt deadline
    if [ ! -x "$bin" ]; then
        log "FAIL: $bin not found or not executable"
        return 1
    fi
    trap stop_broker EXIT
    for attempt in 1 2 3; do
        BROKER_PORT=$(free_port)
        BROKER_LOG="$TEST_TMP/sluiced.$attempt.log"
        # setpriv --pdeathsig: sluiced goes too if this script is killed (ctest timeout)
        $PDEATHSIG "$bin" --listen "127.0.0.1:$BROKER_PORT" --store memory \
            --log-level info "$@" </dev/null >"$BROKER_LOG" 2>&1 &
        BROKER_PID=$!
        deadline=$((SECONDS + 10))
        while [ $SECONDS -lt $deadline ]; do
            if healthz "$BROKER_PORT"; then
                ENDPOINT="http://127.0.0.1:$BROKER_PORT"
                log "sluiced pid $BROKER_PID ready on $ENDPOINT"
                return 0
            fi
            kill -0 "$BROKER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$BROKER_PID" 2>/dev/null; then
            log "FAIL: sluiced (pid $BROKER_PID) not ready on port $BROKER_PORT within 10 s"
            stop_broker_quiet
            return 1
        fi
        wait "$BROKER_PID" 2>/dev/null || true
        log "sluiced exited during start (attempt $attempt); log:"
        tail -n 20 "$BROKER_LOG" >&2 || true
        check_broker_log "$BROKER_LOG" || return 1
        BROKER_PID=""
    done
    log "FAIL: sluiced did not start"
    return 1
}

# check_broker_log FILE: 1 (and prints the report) if a sanitizer complained.
check_broker_log() {
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$1" 2>/dev/null; then
        log "FAIL: sanitizer report in sluiced log $1:"
        grep -nE -A 30 'AddressSanitizer|LeakSanitizer|runtime error:' "$1" | head -n 80 >&2
        return 1
    fi
    return 0
}

stop_broker_quiet() {
    local i
    [ -n "$BROKER_PID" ] || return 0
    if kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -TERM "$BROKER_PID" 2>/dev/null || true
        for i in $(seq 1 100); do
            kill -0 "$BROKER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$BROKER_PID" 2>/dev/null; then
            log "sluiced did not exit 10 s after SIGTERM; killing"
            kill -KILL "$BROKER_PID" 2>/dev/null || true
        fi
    else
        log "FAIL: sluiced (pid $BROKER_PID) died during the test"
        LIB_FAILED=1
    fi
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
}

# stop_broker: the EXIT trap. Stops sluiced, checks its log, turns a dirty log
# into a non-zero exit status, removes the temp dir (keeps it on failure).
stop_broker() {
    local rc=$?
    trap - EXIT
    stop_broker_quiet
    # What the test started besides the broker (e.g. redis_cleanup): stop_broker
    # ends with exit, so a trap's later commands would never run.
    [ -n "${LIB_AFTER_BROKER:-}" ] && $LIB_AFTER_BROKER
    if [ -n "$BROKER_LOG" ]; then
        check_broker_log "$BROKER_LOG" || LIB_FAILED=1
    fi
    if [ $LIB_FAILED -ne 0 ] && [ $rc -eq 0 ]; then
        rc=1
    fi
    if [ $rc -eq 0 ]; then
        rm -rf "$TEST_TMP"
    else
        log "sluiced log kept in $TEST_TMP (last lines follow)"
        [ -n "$BROKER_LOG" ] && tail -n 30 "$BROKER_LOG" >&2
    fi
    exit $rc
}
