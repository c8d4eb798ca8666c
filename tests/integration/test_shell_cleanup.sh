#!/usr/bin/env bash
# Shell tests leave no server behind: a script that starts redis-server
# (redis_lib.sh) and sluiced (lib.sh) and then exits, passing or failing, leaves
# neither running and removes Redis's temp dir. (test_sns_awscli.sh once left
# one redis-server per Redis run: lib.sh's stop_broker ends with exit, so a
# trap 'stop_broker; redis_cleanup' never reached redis_cleanup.)
# Usage: test_shell_cleanup.sh BUILD_DIR
set -u
BUILD_DIR=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
command -v redis-server >/dev/null || { echo "SKIP: no redis-server"; exit 77; }

FAILED=0
gone() { # PID: true once PID has exited (at most 5 s)
    local i
    for i in $(seq 50); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# A test script as the shell tests write them: Redis, then the broker on it, the
# cleanup hook, and an exit status; and one killed by SIGKILL (no trap runs
# for redis_cleanup: only the server's parent-death signal can stop it).
for how in pass fail killed; do
    out=$(bash -c '
        . "$1/lib.sh"
        . "$1/redis_lib.sh"
        start_redis || exit 1
        LIB_AFTER_BROKER=redis_cleanup
        start_broker "$2" --store "$REDIS_URL" || exit 1
        echo "$REDIS_PID $BROKER_PID $REDIS_DIR"
        case $3 in
        pass) exit 0 ;;
        fail) exit 1 ;;
        killed) kill -KILL $$ ;;
        esac' _ "$HERE" "$BUILD_DIR" "$how" 2>/dev/null | tail -n 1)
    read -r rpid bpid rdir <<<"$out"
    if [ -z "${rpid:-}" ] || [ -z "${bpid:-}" ]; then
        echo "not ok - $how: the script did not start redis-server and sluiced ($out)"
        FAILED=1
        continue
    fi
    if gone "$rpid"; then echo "ok   - $how: redis-server $rpid stopped"
    else echo "not ok - $how: redis-server $rpid still running"; kill -TERM "$rpid"; FAILED=1; fi
    if gone "$bpid"; then echo "ok   - $how: sluiced $bpid stopped"
    else echo "not ok - $how: sluiced $bpid still running"; kill -TERM "$bpid"; FAILED=1; fi
    if [ "$how" != killed ]; then
        if [ ! -e "$rdir" ]; then echo "ok   - $how: $rdir removed"
        else echo "not ok - $how: $rdir left behind"; rm -rf "$rdir"; FAILED=1; fi
    else
        rm -rf "$rdir"
    fi
done
exit $FAILED
