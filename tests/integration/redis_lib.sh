# A private redis-server for shell integration tests; source it, don't run it.
#
#   . "$(dirname "$0")/redis_lib.sh"
#   start_redis || exit 1   # sets REDIS_PID REDIS_PORT REDIS_DIR REDIS_URL; a test
#                           # without redis-server installed exits 77 (skipped)
#   ... --store "$REDIS_URL?prefix=mytest:" ...
#   pause_redis / resume_redis      # SIGSTOP / SIGCONT: a frozen server
#   stop_redis                      # by pid; start_redis again reuses the port
#   redis_cleanup                   # stop_redis and remove REDIS_DIR (call it from
#                                   # your EXIT trap)
#
# The server listens on 127.0.0.1 on a free port, keeps nothing on disk
# (--save '' --appendonly no) and runs in its own temp dir; it is stopped by its
# pid, never by name.

REDIS_PID=""
REDIS_PORT=""
REDIS_DIR=""
REDIS_URL=""
REDIS_SERVER_BIN=${REDIS_SERVER_BIN:-$(command -v redis-server || true)}
# setpriv --pdeathsig: the server goes when the test script does, even if the
# script's cleanup never runs (a ctest timeout, an exit in another trap).
REDIS_PDEATHSIG=()
if setpriv --pdeathsig TERM true 2>/dev/null; then
    REDIS_PDEATHSIG=(setpriv --pdeathsig TERM)
fi

redis_log() { printf '%s\n' "$*" >&2; }

# redis_free_port: a loopback TCP port that was free a moment ago.
redis_free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# redis_accepts PORT: true when something accepts TCP connections there.
redis_accepts() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# redis_ping: true when the server answers PING with PONG.
redis_ping() {
    local reply
    reply=$( { exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" &&
               printf 'PING\r\n' >&3 &&
               timeout 2 head -c 7 <&3; } 2>/dev/null)
    case $reply in
    +PONG*) return 0 ;;
    esac
    return 1
}

# start_redis: starts redis-server (on REDIS_PORT when already set, so a restart
# keeps the URL); waits at most 10 s for PONG.
start_redis() {
    local deadline
    if [ -z "$REDIS_SERVER_BIN" ] || [ ! -x "$REDIS_SERVER_BIN" ]; then
        redis_log "SKIP: redis-server is not installed"
        exit 77
    fi
    [ -n "$REDIS_DIR" ] || REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-redis.XXXXXX")
    [ -n "$REDIS_PORT" ] || REDIS_PORT=$(redis_free_port)
    "${REDIS_PDEATHSIG[@]}" "$REDIS_SERVER_BIN" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$REDIS_DIR" </dev/null >>"$REDIS_DIR/redis.log" 2>&1 &
    REDIS_PID=$!
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
    deadline=$((SECONDS + 10))
    while [ $SECONDS -lt $deadline ]; do
        if redis_ping; then
            redis_log "redis-server pid $REDIS_PID ready on $REDIS_URL"
            return 0
        fi
        if ! kill -0 "$REDIS_PID" 2>/dev/null; then
            redis_log "FAIL: redis-server exited at start; log:"
            tail -n 20 "$REDIS_DIR/redis.log" >&2
            REDIS_PID=""
            return 1
        fi
        sleep 0.05
    done
    redis_log "FAIL: redis-server not ready on port $REDIS_PORT within 10 s"
    return 1
}

pause_redis() {
    [ -n "$REDIS_PID" ] && kill -STOP "$REDIS_PID"
}

resume_redis() {
    [ -n "$REDIS_PID" ] && kill -CONT "$REDIS_PID"
}

# stop_redis: SIGTERM (SIGKILL after 5 s) by pid.
stop_redis() {
    local i
    [ -n "$REDIS_PID" ] || return 0
    kill -CONT "$REDIS_PID" 2>/dev/null
    kill -TERM "$REDIS_PID" 2>/dev/null
    for i in $(seq 50); do
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$REDIS_PID" 2>/dev/null; then
        redis_log "redis-server did not exit 5 s after SIGTERM; killing"
        kill -KILL "$REDIS_PID" 2>/dev/null
    fi
    wait "$REDIS_PID" 2>/dev/null
    REDIS_PID=""
}

redis_cleanup() {
    stop_redis
    if [ -n "$REDIS_DIR" ]; then
        rm -rf "$REDIS_DIR"
        REDIS_DIR=""
    fi
}
