/* pool.c - an invoker's instances: when to start, use, reap and replace them.
 *
 * Each instance moves through one state machine (pool.h, sl_inst_state_t):
 *
 *   STARTING --ready--> IDLE --call--> BUSY --complete--> FINISHING --ready--> IDLE
 *      |                 |               |                    |
 *      | init failure    | idle expiry   | deadline:          | (shutdown,
 *      | or exit         | (above min)   |  process: killed -> STOPPING
 *      v                 v               |  http:    cancelled -> IDLE
 *   STOPPING/DEAD    STOPPING            |  native:  ORPHANED --thread returns--> IDLE
 *                                        | exit: CRASH -> DEAD
 *   STOPPING --exit (or SIGKILL after the grace period, then exit)--> DEAD -> freed
 *
 * FINISHING exists for process instances: the call has its answer, but the
 * runtime is only ready for the next one when it asks (`GET next`). http and
 * native instances pass through it at once.
 *
 * Dispatch (sl__pool_kick) is FIFO over calls and LIFO over idle instances, so
 * the same few instances stay warm and the surplus ages out and is reaped.
 * It starts an instance for each queued call not covered by one already
 * starting or finishing, within max_concurrency, and keeps min_concurrency.
 *
 * After an init failure (init/error, an exit before the first `next`, a hung
 * init) restarts back off: 1 s doubling to 30 s while failures continue.
 * Meanwhile calls that no live instance can serve fail at once with
 * SL_INVOKE_INIT_ERROR rather than wait out the backoff.
 *
 * Every deadline (init, call, idle expiry, kill after SIGTERM, backoff) lives in
 * one heap per invoker with one libevent timer armed for the earliest. */
#include "pool.h"

#include "sluice/log.h"
#include "sluice/mem.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

static const char *const state_names[SL_INST_NSTATES] = {
    "starting", "idle", "busy", "finishing", "orphaned", "stopping", "dead",
};

const char *
sl__inst_state_name(sl_inst_state_t s)
{
    return s < SL_INST_NSTATES ? state_names[s] : "?";
}

/* ---- Deadlines ---- */

static void
arm_timer(sl_invoker_t *inv)
{
    sl_vheap_node_t *top = sl__vheap_peek(&inv->heap);
    struct timeval tv;
    int64_t delay;

    if (top == NULL || (inv->timer_at != 0 && inv->timer_at <= top->key))
        return;                 /* armed early enough; it re-arms when it fires */
    delay = top->key - sl__inv_now_ms();
    if (delay < 0)
        delay = 0;
    tv.tv_sec = (time_t)(delay / 1000);
    tv.tv_usec = (suseconds_t)((delay % 1000) * 1000);
    evtimer_add(inv->timer_ev, &tv);
    inv->timer_at = top->key;
}

static void
set_deadline(sl_inv_inst_t *in, int64_t at_ms)
{
    sl__vheap_set(&in->inv->heap, &in->tnode, at_ms);
    arm_timer(in->inv);
}

static void
clear_deadline(sl_inv_inst_t *in)
{
    sl__vheap_remove(&in->inv->heap, &in->tnode);
}

/* ---- States ---- */

static void
idle_push(sl_invoker_t *inv, sl_inv_inst_t *in)
{
    in->idle_prev = NULL;
    in->idle_next = inv->idle_top;
    if (inv->idle_top)
        inv->idle_top->idle_prev = in;
    inv->idle_top = in;
}

static void
idle_remove(sl_invoker_t *inv, sl_inv_inst_t *in)
{
    if (in->idle_prev)
        in->idle_prev->idle_next = in->idle_next;
    else
        inv->idle_top = in->idle_next;
    if (in->idle_next)
        in->idle_next->idle_prev = in->idle_prev;
    in->idle_prev = in->idle_next = NULL;
}

static void
set_state(sl_inv_inst_t *in, sl_inst_state_t st)
{
    sl_invoker_t *inv = in->inv;

    if (in->state == st)
        return;
    sl_log(SL_LOG_DEBUG, "instance state function=%s instance=%u from=%s to=%s",
           sl__inv_name(inv), in->id, sl__inst_state_name(in->state), sl__inst_state_name(st));
    if (in->state == SL_INST_IDLE)
        idle_remove(inv, in);
    inv->count[in->state]--;
    in->state = st;
    inv->count[st]++;
    if (st == SL_INST_IDLE)
        idle_push(inv, in);
}

static void
mark_dead(sl_inv_inst_t *in)
{
    clear_deadline(in);
    set_state(in, SL_INST_DEAD);
    sl__inv_schedule_delivery(in->inv);
}

static void
stop_inst(sl_inv_inst_t *in, bool graceful, const char *reason)
{
    sl_invoker_t *inv = in->inv;

    if (in->state == SL_INST_STOPPING || in->state == SL_INST_DEAD)
        return;
    sl_assert(in->call == NULL);
    sl_log(SL_LOG_INFO, "instance stopping function=%s instance=%u state=%s reason=%s",
           sl__inv_name(inv), in->id, sl__inst_state_name(in->state), reason);
    clear_deadline(in);
    set_state(in, SL_INST_STOPPING);
    if (inv->be->stop(in, graceful))
        mark_dead(in);
    else
        set_deadline(in, sl__inv_now_ms() + inv->term_grace_ms);
}

/* ---- Calls ---- */

static sl_inv_call_t *
dequeue(sl_invoker_t *inv)
{
    sl_inv_call_t *c = inv->queue_head;

    if (c) {
        inv->queue_head = c->next;
        if (inv->queue_head == NULL)
            inv->queue_tail = NULL;
        inv->nqueued--;
        c->next = NULL;
    }
    return c;
}

static void
fail_call(sl_invoker_t *inv, sl_inv_call_t *c, sl_invoke_outcome_t outcome, const char *type,
          const char *msg)
{
    sl__inv_call_set_result(c, outcome, NULL, 0, type, msg);
    sl__inv_call_finish(inv, c);
}

static void
fail_queued_init_error(sl_invoker_t *inv)
{
    sl_inv_call_t *c;
    size_t n = inv->nqueued;

    if (n == 0)
        return;
    sl_log(SL_LOG_WARN, "invocations failed function=%s reason=init_backoff count=%zu "
           "error_type=%s", sl__inv_name(inv), n, inv->init_error_type ? inv->init_error_type : "-");
    while ((c = dequeue(inv)) != NULL)
        fail_call(inv, c, SL_INVOKE_INIT_ERROR, inv->init_error_type, inv->init_error_message);
}

static void
run_call(sl_inv_inst_t *in, sl_inv_call_t *c)
{
    sl_invoker_t *inv = in->inv;
    int64_t now_us = sl__inv_now_us();

    c->started_us = now_us;
    c->deadline_ms = now_us / 1000 + inv->spec.timeout_ms;
    c->deadline_epoch_ms = sl__inv_epoch_ms() + inv->spec.timeout_ms;
    if (in->ncalls == 0 && in->async_start && c->queued_us <= in->ready_us) {
        c->cold_start = true;
        c->cold_start_ms = (in->ready_us - in->spawned_us + 500) / 1000;
        inv->stats.cold_starts++;
    }
    in->ncalls++;
    in->call = c;
    set_state(in, SL_INST_BUSY);
    set_deadline(in, c->deadline_ms);
    sl_log(SL_LOG_DEBUG, "invoke started function=%s request=%s instance=%u cold=%d",
           sl__inv_name(inv), c->request_id, in->id, (int)c->cold_start);
    inv->be->run(in);
}

/* ---- Starting ---- */

static bool
backing_off(const sl_invoker_t *inv, int64_t now_ms)
{
    return inv->backoff_until != 0 && now_ms < inv->backoff_until;
}

static void
start_inst(sl_invoker_t *inv, const char *reason)
{
    sl_inv_inst_t *in = sl_calloc(1, sizeof(*in));
    char err[256] = "";
    int rc;

    in->inv = inv;
    in->id = ++inv->next_inst_id;
    inv->stats.instances_started++;
    sl__vheap_node_init(&in->tnode);
    in->spawned_us = sl__inv_now_us();
    in->state = SL_INST_STARTING;
    inv->count[SL_INST_STARTING]++;
    in->next = inv->insts;
    if (inv->insts)
        inv->insts->prev = in;
    inv->insts = in;
    sl_log(SL_LOG_INFO, "instance starting function=%s instance=%u reason=%s running=%zu",
           sl__inv_name(inv), in->id, reason, sl_invoker_running(inv));
    set_deadline(in, in->spawned_us / 1000 + SL_INV_INIT_TIMEOUT_MS);
    in->in_start = true;
    rc = inv->be->start(in, err, sizeof(err));
    in->in_start = false;
    if (rc < 0)
        sl__pool_init_failed(in, "Runtime.StartError", err[0] ? err : "instance failed to start",
                             true);
}

void
sl__pool_kick(sl_invoker_t *inv)
{
    if (inv->kicking) {
        inv->kick_again = true;
        return;
    }
    inv->kicking = true;
    do {
        size_t live, soon, want;
        const char *reason = "queued";

        inv->kick_again = false;
        while (inv->queue_head && inv->idle_top)
            run_call(inv->idle_top, dequeue(inv));
        if (inv->state != SL_INV_RUNNING)
            break;
        live = sl_invoker_running(inv);
        soon = inv->count[SL_INST_STARTING] + inv->count[SL_INST_FINISHING];
        want = inv->nqueued > soon ? inv->nqueued - soon : 0;
        if (live + want < inv->spec.min_concurrency) {
            want = inv->spec.min_concurrency - live;
            reason = "min_concurrency";
        }
        if (live + want > inv->spec.max_concurrency)
            want = inv->spec.max_concurrency > live ? inv->spec.max_concurrency - live : 0;
        if (want > 0 && backing_off(inv, sl__inv_now_ms())) {
            if (live == 0)
                fail_queued_init_error(inv);
            want = 0;
        }
        while (want-- > 0 && inv->state == SL_INV_RUNNING)
            start_inst(inv, reason);
    } while (inv->kick_again);
    inv->kicking = false;
}

void
sl__pool_enqueue(sl_invoker_t *inv, sl_inv_call_t *c)
{
    c->next = NULL;
    if (inv->queue_tail)
        inv->queue_tail->next = c;
    else
        inv->queue_head = c;
    inv->queue_tail = c;
    inv->nqueued++;
    sl__pool_kick(inv);
}

/* ---- Backend events ---- */

void
sl__pool_ready(sl_inv_inst_t *in)
{
    sl_invoker_t *inv = in->inv;

    switch (in->state) {
    case SL_INST_STARTING:
        in->ready_us = sl__inv_now_us();
        in->async_start = !in->in_start;
        inv->init_streak = 0;
        if (in->async_start) {
            inv->stats.instances_ready++;
            inv->stats.start_us_last = in->ready_us - in->spawned_us;
            inv->stats.start_us_total += inv->stats.start_us_last;
        }
        sl_log(SL_LOG_INFO, "instance ready function=%s instance=%u cold_start_us=%lld",
               sl__inv_name(inv), in->id, (long long)(in->ready_us - in->spawned_us));
        break;
    case SL_INST_FINISHING:
    case SL_INST_ORPHANED:
        break;
    default:
        return;
    }
    clear_deadline(in);
    if (inv->state != SL_INV_RUNNING) {
        stop_inst(in, true, "shutdown");
        return;
    }
    set_state(in, SL_INST_IDLE);
    if (inv->spec.idle_timeout_ms)
        set_deadline(in, sl__inv_now_ms() + inv->spec.idle_timeout_ms);
    sl__pool_kick(inv);
}

/* Ends in->call with a result; in goes FINISHING. The caller decides what next. */
static void
complete_call(sl_inv_inst_t *in, sl_invoke_outcome_t outcome, const char *out, size_t out_len,
              const char *error_type, const char *error_message)
{
    sl_invoker_t *inv = in->inv;
    sl_inv_call_t *c = in->call;

    sl_assert(in->state == SL_INST_BUSY && c != NULL);
    sl__inv_call_set_result(c, outcome, out, out_len, error_type, error_message);
    c->duration_ms = (sl__inv_now_us() - c->started_us + 500) / 1000;
    in->call = NULL;
    clear_deadline(in);
    if (outcome == SL_INVOKE_OK)
        sl_log(SL_LOG_DEBUG, "invoke done function=%s request=%s instance=%u outcome=ok "
               "duration_ms=%lld", sl__inv_name(inv), c->request_id, in->id,
               (long long)c->duration_ms);
    else
        sl_log(SL_LOG_INFO, "invoke failed function=%s request=%s instance=%u outcome=%d "
               "error_type=%s duration_ms=%lld", sl__inv_name(inv), c->request_id, in->id,
               (int)outcome, error_type ? error_type : "-", (long long)c->duration_ms);
    if (outcome == SL_INVOKE_TIMEOUT)
        inv->stats.timeouts++;
    else if (outcome == SL_INVOKE_CRASH)
        inv->stats.crashes++;
    else if (outcome == SL_INVOKE_FUNCTION_ERROR)
        inv->stats.function_errors++;
    sl__inv_call_finish(inv, c);
    set_state(in, SL_INST_FINISHING);
}

void
sl__pool_complete(sl_inv_inst_t *in, sl_invoke_outcome_t outcome, const char *out, size_t out_len,
                  const char *error_type, const char *error_message)
{
    sl_invoker_t *inv = in->inv;

    complete_call(in, outcome, out, out_len, error_type, error_message);
    if (inv->state != SL_INV_RUNNING)
        stop_inst(in, true, "shutdown");
    else if (inv->spec.idle_timeout_ms)
        set_deadline(in, sl__inv_now_ms() + inv->spec.idle_timeout_ms);
}

void
sl__pool_init_failed(sl_inv_inst_t *in, const char *error_type, const char *error_message,
                     bool already_stopped)
{
    sl_invoker_t *inv = in->inv;
    int64_t now = sl__inv_now_ms();
    int64_t delay = SL_INV_BACKOFF_MIN_MS;
    sl_inv_call_t *c;

    inv->stats.init_failures++;
    if (!backing_off(inv, now))
        inv->init_streak++;
    for (unsigned i = 1; i < inv->init_streak && delay < SL_INV_BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > SL_INV_BACKOFF_MAX_MS)
        delay = SL_INV_BACKOFF_MAX_MS;
    inv->backoff_until = now + delay;
    sl__vheap_set(&inv->heap, &inv->backoff_node, inv->backoff_until);
    arm_timer(inv);
    sl_free(inv->init_error_type);
    sl_free(inv->init_error_message);
    inv->init_error_type = sl_strdup(error_type ? error_type : "Runtime.Unknown");
    inv->init_error_message = sl_strdup(error_message ? error_message : "init failed");
    sl_log(SL_LOG_WARN, "instance init failed function=%s instance=%u error_type=%s "
           "message=\"%s\" failures=%u backoff_ms=%lld", sl__inv_name(inv), in->id,
           inv->init_error_type, inv->init_error_message, inv->init_streak, (long long)delay);
    if ((c = dequeue(inv)) != NULL)
        fail_call(inv, c, SL_INVOKE_INIT_ERROR, inv->init_error_type, inv->init_error_message);
    if (already_stopped) {
        if (in->state != SL_INST_DEAD)
            mark_dead(in);
    } else {
        stop_inst(in, true, "init_failed");
    }
    sl__pool_kick(inv);
}

void
sl__pool_exited(sl_inv_inst_t *in, const char *why)
{
    sl_invoker_t *inv = in->inv;
    char msg[256];

    switch (in->state) {
    case SL_INST_STARTING:
        snprintf(msg, sizeof(msg), "Runtime exited with error: %s", why);
        sl__pool_init_failed(in, "Runtime.ExitError", msg, true);
        return;
    case SL_INST_BUSY:
        snprintf(msg, sizeof(msg), "RequestId: %s Error: Runtime exited with error: %s",
                 in->call->request_id, why);
        sl_log(SL_LOG_WARN, "instance crashed function=%s instance=%u request=%s why=\"%s\"",
               sl__inv_name(inv), in->id, in->call->request_id, why);
        complete_call(in, SL_INVOKE_CRASH, NULL, 0, "Runtime.ExitError", msg);
        break;
    case SL_INST_STOPPING:
        sl_log(SL_LOG_INFO, "instance stopped function=%s instance=%u why=\"%s\"",
               sl__inv_name(inv), in->id, why);
        break;
    case SL_INST_DEAD:
        return;
    default:
        sl_log(SL_LOG_WARN, "instance exited function=%s instance=%u state=%s why=\"%s\"",
               sl__inv_name(inv), in->id, sl__inst_state_name(in->state), why);
        break;
    }
    mark_dead(in);
    sl__pool_kick(inv);
}

/* ---- Timer ---- */

static void
on_deadline(sl_inv_inst_t *in, int64_t now)
{
    sl_invoker_t *inv = in->inv;
    char msg[128];

    switch (in->state) {
    case SL_INST_STARTING:
        snprintf(msg, sizeof(msg), "Init timed out after %.2f seconds",
                 SL_INV_INIT_TIMEOUT_MS / 1000.0);
        sl__pool_init_failed(in, "Sandbox.Timedout", msg, false);
        break;
    case SL_INST_BUSY: {
        sl_inst_state_t next = inv->be->timed_out(in);

        snprintf(msg, sizeof(msg), "Task timed out after %.2f seconds",
                 inv->spec.timeout_ms / 1000.0);
        sl_log(SL_LOG_WARN, "invoke timed out function=%s request=%s instance=%u then=%s",
               sl__inv_name(inv), in->call->request_id, in->id, sl__inst_state_name(next));
        complete_call(in, SL_INVOKE_TIMEOUT, NULL, 0, "Sandbox.Timedout", msg);
        if (next == SL_INST_STOPPING) {
            set_state(in, SL_INST_STOPPING);
            set_deadline(in, now + inv->term_grace_ms);
        } else if (next == SL_INST_ORPHANED) {
            set_state(in, SL_INST_ORPHANED);
        } else {
            sl__pool_ready(in);
        }
        sl__pool_kick(inv);
        break;
    }
    case SL_INST_IDLE:
        if (inv->state == SL_INV_RUNNING &&
            sl_invoker_running(inv) <= inv->spec.min_concurrency) {
            set_deadline(in, now + inv->spec.idle_timeout_ms);
            break;
        }
        stop_inst(in, true, "idle");
        sl__pool_kick(inv);
        break;
    case SL_INST_FINISHING:
        stop_inst(in, false, "no_next_request");
        sl__pool_kick(inv);
        break;
    case SL_INST_STOPPING:
        sl_log(SL_LOG_WARN, "instance killed function=%s instance=%u reason=grace_period_over",
               sl__inv_name(inv), in->id);
        if (inv->be->kill)
            inv->be->kill(in);
        break;
    default:
        break;
    }
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    sl_invoker_t *inv = arg;
    sl_vheap_node_t *n;
    int64_t now = sl__inv_now_ms();
    int budget = 256;

    (void)fd;
    (void)what;
    inv->timer_at = 0;
    while (budget-- > 0 && (n = sl__vheap_pop_due(&inv->heap, now)) != NULL) {
        if (n == &inv->backoff_node) {
            sl_log(SL_LOG_INFO, "instance restarts allowed again function=%s",
                   sl__inv_name(inv));
            inv->backoff_until = 0;
            sl__pool_kick(inv);
        } else {
            on_deadline(sl_container_of(n, sl_inv_inst_t, tnode), now);
        }
    }
    arm_timer(inv);
}

/* ---- Lifetime ---- */

void
sl__pool_init(sl_invoker_t *inv)
{
    sl__vheap_init(&inv->heap);
    sl__vheap_node_init(&inv->backoff_node);
    inv->timer_ev = evtimer_new(inv->base, on_timer, inv);
}

void
sl__pool_shutdown(sl_invoker_t *inv)
{
    sl_inv_call_t *c;
    sl_inv_inst_t *in, *next;

    while ((c = dequeue(inv)) != NULL)
        fail_call(inv, c, SL_INVOKE_CANCELLED, "Sluice.Shutdown", "the invoker shut down");
    for (in = inv->insts; in; in = next) {
        next = in->next;
        if (in->state == SL_INST_STARTING || in->state == SL_INST_IDLE ||
            in->state == SL_INST_FINISHING)
            stop_inst(in, true, "shutdown");
    }
}

bool
sl__pool_is_drained(const sl_invoker_t *inv)
{
    return inv->nqueued == 0 && inv->count[SL_INST_STARTING] == 0 &&
           inv->count[SL_INST_IDLE] == 0 && inv->count[SL_INST_BUSY] == 0 &&
           inv->count[SL_INST_FINISHING] == 0 && inv->count[SL_INST_STOPPING] == 0;
}

static void
unlink_inst(sl_invoker_t *inv, sl_inv_inst_t *in)
{
    if (in->prev)
        in->prev->next = in->next;
    else
        inv->insts = in->next;
    if (in->next)
        in->next->prev = in->prev;
    if (in->state == SL_INST_IDLE)
        idle_remove(inv, in);
    inv->count[in->state]--;
    clear_deadline(in);
}

void
sl__pool_collect(sl_invoker_t *inv)
{
    sl_inv_inst_t *in, *next;

    if (inv->count[SL_INST_DEAD] == 0)
        return;
    for (in = inv->insts; in; in = next) {
        next = in->next;
        if (in->state != SL_INST_DEAD)
            continue;
        unlink_inst(inv, in);
        inv->be->free_inst(in);
        sl_free(in);
    }
}

void
sl__pool_deinit(sl_invoker_t *inv)
{
    sl_inv_inst_t *in;

    while ((in = inv->insts) != NULL) {
        unlink_inst(inv, in);
        if (inv->be)
            inv->be->free_inst(in);
        if (in->call)
            sl__inv_call_free(in->call);
        sl_free(in);
    }
    sl__vheap_remove(&inv->heap, &inv->backoff_node);
}
