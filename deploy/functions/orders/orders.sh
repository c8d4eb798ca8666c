# orders.sh - the demo's order handler, for the shell custom runtime (bootstrap;
# _HANDLER=orders.handler). It gets Lambda's SQS event, logs each order to stderr
# (sluiced prefixes the line with the function and request id), and fails the
# batch when an order says "poison", so the demo shows retries with backoff and,
# after the queue's maxReceiveCount, the dead-letter queue.
handler () {
    EVENT=$1
    BODIES=$(printf '%s' "$EVENT" | sed 's/"body":"/\n/g' | sed -n '2,$s/".*//p')
    for b in $BODIES; do
        case "$b" in
        *poison*) echo "order refused: $b" >&2 ;;
        *) echo "order handled: $b" >&2 ;;
        esac
    done
    case "$EVENT" in
    *poison*)
        echo "cannot handle a poisoned order"
        return 1
        ;;
    esac
    echo '{}'
}
