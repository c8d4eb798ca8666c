/* invoke.c - the invoker's public face (invoke.h): invocations
 * from sl_invoker_invoke to their callback, graceful shutdown and destroy.
 * Where instances come from and go to is pool.c's business; how they run is
 * the backends'.
 *
 * Every result goes through one "done" list and one deferred event, so a
 * callback never runs inside sl_invoker_invoke or inside a backend's own
 * callback (where it could destroy the invoker under our feet), and a burst of
 * completions costs one event activation. A callback may call
 * sl_invoker_invoke, sl_invoker_shutdown or sl_invoker_destroy: destroy from a
 * callback marks the invoker and the delivery loop frees it as it unwinds. */
#include "invoke.h"

#include "function_json.h"
#include "pool.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "sluice/message.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DELIVER_BUDGET 256      /* callbacks per activation of the delivery event */

static char *
dup_or_null(const char *s)
{
    return s ? sl_strdup(s) : NULL;
}

/* ---- Time ---- */

int64_t
sl__inv_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
sl__inv_now_ms(void)
{
    return sl__inv_now_us() / 1000;
}

int64_t
sl__inv_epoch_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Calls ---- */

void
sl__inv_call_free(sl_inv_call_t *c)
{
    if (c == NULL)
        return;
    sl_free(c->payload);
    sl_free(c->out);
    sl_free(c->error_type);
    sl_free(c->error_message);
    sl_free(c);
}

void
sl__inv_call_set_result(sl_inv_call_t *c, sl_invoke_outcome_t outcome, const char *out,
                        size_t out_len, const char *error_type, const char *error_message)
{
    c->outcome = outcome;
    sl_free(c->out);
    sl_free(c->error_type);
    sl_free(c->error_message);
    c->out = NULL;
    c->out_len = 0;
    if (out) {
        c->out = sl_malloc(out_len + 1);
        memcpy(c->out, out, out_len);
        c->out[out_len] = '\0';
        c->out_len = out_len;
    }
    c->error_type = dup_or_null(error_type);
    c->error_message = dup_or_null(error_message);
}

void
sl__inv_schedule_delivery(sl_invoker_t *inv)
{
    event_active(inv->deliver_ev, EV_TIMEOUT, 0);
}

void
sl__inv_call_finish(sl_invoker_t *inv, sl_inv_call_t *c)
{
    c->next = NULL;
    if (inv->done_tail)
        inv->done_tail->next = c;
    else
        inv->done_head = c;
    inv->done_tail = c;
    sl__inv_schedule_delivery(inv);
}

static void
invoker_free(sl_invoker_t *inv)
{
    sl_inv_call_t *c;

    sl__pool_deinit(inv);
    if (inv->be && inv->be_state)
        inv->be->destroy(inv);
    while ((c = inv->queue_head) != NULL) {
        inv->queue_head = c->next;
        sl__inv_call_free(c);
    }
    while ((c = inv->done_head) != NULL) {
        inv->done_head = c->next;
        sl__inv_call_free(c);
    }
    if (inv->deliver_ev)
        event_free(inv->deliver_ev);
    if (inv->timer_ev)
        event_free(inv->timer_ev);
    sl__vheap_deinit(&inv->heap);
    sl_free(inv->init_error_type);
    sl_free(inv->init_error_message);
    sl_free(inv->region);
    sl_free(inv->account);
    sl_free(inv->arn);
    sl_function_spec_deinit(&inv->spec);
    sl_free(inv);
}

/* The delivery event: runs result callbacks in completion order, frees dead
 * instances, and reports the end of a shutdown once nothing is left. */
static void
on_deliver(evutil_socket_t fd, short what, void *arg)
{
    sl_invoker_t *inv = arg;
    int budget = DELIVER_BUDGET;
    sl_inv_call_t *c;

    (void)fd;
    (void)what;
    sl__pool_collect(inv);
    inv->delivering = true;
    while (budget-- > 0 && (c = inv->done_head) != NULL) {
        sl_invoke_result_t r;

        inv->done_head = c->next;
        if (inv->done_head == NULL)
            inv->done_tail = NULL;
        memset(&r, 0, sizeof(r));
        r.outcome = c->outcome;
        r.payload = c->out;
        r.len = c->out_len;
        r.error_type = c->error_type;
        r.error_message = c->error_message;
        r.request_id = c->request_id;
        r.duration_ms = c->duration_ms;
        r.cold_start = c->cold_start;
        r.cold_start_ms = c->cold_start_ms;
        c->cb(c->arg, &r);
        sl__inv_call_free(c);
        if (inv->destroyed) {
            invoker_free(inv);
            return;
        }
    }
    inv->delivering = false;
    if (inv->done_head) {
        sl__inv_schedule_delivery(inv);
        return;
    }
    if (inv->state == SL_INV_SHUTTING_DOWN && !inv->shutdown_fired && sl__pool_is_drained(inv)) {
        inv->shutdown_fired = true;
        sl_log(SL_LOG_INFO, "invoker stopped function=%s invocations=%llu cold_starts=%llu",
               sl__inv_name(inv), (unsigned long long)inv->stats.invocations,
               (unsigned long long)inv->stats.cold_starts);
        if (inv->shutdown_done) {
            inv->delivering = true;
            inv->shutdown_done(inv->shutdown_arg);
            inv->delivering = false;
            if (inv->destroyed)
                invoker_free(inv);
        }
    }
}

/* ---- Public ---- */

sl_invoker_t *
sl_invoker_create(struct event_base *base, const sl_function_spec_t *spec,
                  const sl_invoker_opts_t *opts, char *errbuf, size_t errlen)
{
    sl_invoker_t *inv;
    const char *region = opts && opts->region ? opts->region : "us-east-1";
    const char *account = opts && opts->account ? opts->account : "000000000000";
    char tmp[512];
    int n;

    if (errlen)
        errbuf[0] = '\0';
    if (spec->name == NULL || !sl_function_name_is_valid(spec->name)) {
        snprintf(errbuf, errlen, "invalid function name");
        return NULL;
    }
    if (spec->max_concurrency == 0 || spec->min_concurrency > spec->max_concurrency) {
        snprintf(errbuf, errlen, "need 0 <= min_concurrency <= max_concurrency and max >= 1");
        return NULL;
    }
    inv = sl_calloc(1, sizeof(*inv));
    inv->base = base;
    sl_function_spec_copy(&inv->spec, spec);
    if (inv->spec.timeout_ms == 0)
        inv->spec.timeout_ms = 3000;
    if (inv->spec.memory_mb == 0)
        inv->spec.memory_mb = 128;
    inv->region = sl_strdup(region);
    inv->account = sl_strdup(account);
    n = snprintf(tmp, sizeof(tmp), "arn:aws:lambda:%s:%s:function:%s", region, account,
                 spec->name);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        snprintf(errbuf, errlen, "region or account too long");
        goto out_free;
    }
    inv->arn = sl_strdup(tmp);
    inv->term_grace_ms = opts && opts->term_grace_ms ? opts->term_grace_ms : SL_INV_TERM_GRACE_MS;
    inv->output = opts ? opts->output : NULL;
    switch (spec->kind) {
    case SL_FUNCTION_PROCESS:
        inv->be = &sl__inv_process_backend;
        break;
    case SL_FUNCTION_HTTP:
        inv->be = &sl__inv_http_backend;
        break;
    case SL_FUNCTION_NATIVE:
        inv->be = &sl__inv_native_backend;
        break;
    default:
        snprintf(errbuf, errlen, "unknown function kind %d", (int)spec->kind);
        goto out_free;
    }
    inv->deliver_ev = event_new(base, -1, 0, on_deliver, inv);
    sl__pool_init(inv);
    if (inv->be->create(inv, errbuf, errlen) < 0) {
        inv->be = NULL;
        goto out_free;
    }
    sl_log(SL_LOG_INFO,
           "invoker created function=%s kind=%s timeout_ms=%u min=%u max=%u idle_timeout_ms=%u",
           spec->name, inv->be->kind, inv->spec.timeout_ms, spec->min_concurrency,
           spec->max_concurrency, spec->idle_timeout_ms);
    sl__pool_kick(inv);         /* min_concurrency */
    return inv;
out_free:
    sl_log(SL_LOG_WARN, "invoker not created function=%s error=\"%s\"", spec->name,
           errlen ? errbuf : "");
    invoker_free(inv);
    return NULL;
}

int
sl_invoker_invoke(sl_invoker_t *inv, const char *payload, size_t len, sl_invoke_cb cb, void *arg)
{
    sl_inv_call_t *c;

    if (inv->state != SL_INV_RUNNING || inv->destroyed)
        return SL_ESTATE;
    c = sl_calloc(1, sizeof(*c));
    sl_uuid4(c->request_id);
    c->payload = sl_malloc(len + 1);
    if (len)
        memcpy(c->payload, payload, len);
    c->payload[len] = '\0';
    c->len = len;
    c->cb = cb;
    c->arg = arg;
    c->queued_us = sl__inv_now_us();
    inv->stats.invocations++;
    sl_log(SL_LOG_DEBUG, "invoke queued function=%s request=%s bytes=%zu", sl__inv_name(inv),
           c->request_id, len);
    sl__pool_enqueue(inv, c);
    return SL_OK;
}

size_t
sl_invoker_running(const sl_invoker_t *inv)
{
    return inv->count[SL_INST_STARTING] + inv->count[SL_INST_IDLE] + inv->count[SL_INST_BUSY] +
           inv->count[SL_INST_FINISHING] + inv->count[SL_INST_ORPHANED];
}

size_t
sl_invoker_busy(const sl_invoker_t *inv)
{
    return inv->count[SL_INST_BUSY] + inv->count[SL_INST_ORPHANED];
}

size_t
sl_invoker_queued(const sl_invoker_t *inv)
{
    return inv->nqueued;
}

uint64_t
sl_invoker_cold_starts(const sl_invoker_t *inv)
{
    return inv->stats.cold_starts;
}

void
sl_invoker_stats(const sl_invoker_t *inv, sl_invoker_stats_t *out)
{
    *out = inv->stats;
}

const sl_function_spec_t *
sl_invoker_spec(const sl_invoker_t *inv)
{
    return &inv->spec;
}

void
sl_invoker_shutdown(sl_invoker_t *inv, void (*done)(void *arg), void *arg)
{
    if (inv->state == SL_INV_SHUTTING_DOWN)
        return;
    sl_log(SL_LOG_INFO, "invoker shutting down function=%s queued=%zu busy=%zu",
           sl__inv_name(inv), inv->nqueued, sl_invoker_busy(inv));
    inv->state = SL_INV_SHUTTING_DOWN;
    inv->shutdown_done = done;
    inv->shutdown_arg = arg;
    sl__pool_shutdown(inv);
    sl__inv_schedule_delivery(inv);
}

void
sl_invoker_destroy(sl_invoker_t *inv)
{
    if (inv == NULL || inv->destroyed)
        return;
    sl_log(SL_LOG_INFO, "invoker destroyed function=%s running=%zu queued=%zu",
           sl__inv_name(inv), sl_invoker_running(inv), inv->nqueued);
    /* The caller may free the output ring once this returns, but a destroy from a
     * result callback frees later: the last lines then go to the log only. */
    if (inv->delivering)
        inv->output = NULL;
    if (inv->delivering) {
        inv->destroyed = true;
        return;
    }
    invoker_free(inv);
}
