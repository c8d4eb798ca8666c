#!/bin/sh
# demo-steps.sh - what the demo does against a running sluiced: create a function
# (the order handler under a Lambda custom runtime) and a trigger from the "orders"
# queue, send orders (one of them poisoned), and show the outcome: orders handled,
# the poisoned one retried with backoff then dead-lettered with the reason
# attributes, and the autoscaler's view. Exits non-zero when the outcome is wrong,
# so tests/integration/test_demo.sh can check the demo stays true.
#   demo-steps.sh ENDPOINT FUNCTIONS_DIR RUNTIME [SLUICE_CLI]
# FUNCTIONS_DIR holds orders/orders.sh; RUNTIME is the custom runtime's bootstrap (the
# POSIX sh + curl one of tests/integration/functions/shell).
# Used by deploy/demo.sh (on this machine) and by docker-compose.yml (in a container).
set -eu
ENDPOINT=$1
FN_DIR=$2
RUNTIME=$3
SLUICE=${4:-sluice}
say() { printf '\n== %s\n' "$*"; }
cli() { "$SLUICE" --endpoint "$ENDPOINT" "$@"; }
attr() { printf '%s' "$1" | sed -n "s/.*\"$2\":\"\([0-9]*\)\".*/\1/p"; }

say "queues from sluice.yaml"
cli queue list
say "function orders-handler: a process speaking the Lambda Runtime API"
cli function create orders-handler --process "sh $RUNTIME" --cwd "$FN_DIR/orders" \
    --handler orders.handler --timeout 10 --max-concurrency 4 --idle-timeout 5 >/dev/null
cli function list
say "trigger: queue orders -> orders-handler, one message per batch"
cli trigger create --source queue:orders --function orders-handler --batch-size 1 \
    --retry-base 200 --retry-cap 1000 >/dev/null
cli trigger list
say "sending 20 orders and a poisoned one"
for i in $(seq 1 20); do
    cli send orders "order-$i" >/dev/null
done
cli send orders "poison-order" >/dev/null
say "waiting for the orders to be handled and the poisoned one to be dead-lettered"
i=0
while [ $i -lt 150 ]; do          # at most 30 s
    orders=$(cli queue stats orders --json)
    left=$(attr "$orders" ApproximateNumberOfMessages)
    inflight=$(attr "$orders" ApproximateNumberOfMessagesNotVisible)
    dead=$(attr "$(cli queue stats orders-dlq --json)" ApproximateNumberOfMessages)
    [ "$left" = 0 ] && [ "$inflight" = 0 ] && [ "$dead" = 1 ] && break
    sleep 0.2
    i=$((i + 1))
done
cli stats
say "the dead-letter queue: the poisoned order, with why it is there"
cli receive orders-dlq --json --max 1
if [ "$left" != 0 ] || [ "$inflight" != 0 ] || [ "$dead" != 1 ]; then
    echo "demo: expected every order handled and one dead letter; got visible=$left in_flight=$inflight dead=$dead" >&2
    exit 1
fi
say "done: 20 orders handled, 1 dead-lettered after 5 attempts (see the broker log)"
