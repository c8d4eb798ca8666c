/* queue_poll.c - the queue trigger's poller (see queue_poll.h).
 *
 * One receive is outstanding at a time; it gathers messages into the batch
 * being filled until the batch is full, the queue is empty, or the batching
 * window closes, then the batch goes to the function and the next one starts
 * filling while up to `desired` batches are in flight. An empty queue parks
 * the poller until the store says the queue has messages (or a one-second
 * fallback timer). Every 250 ms a tick reads the queue's counts and settings,
 * feeds the autoscaler and re-pumps.
 *
 * Failure handling follows the queue's redrive policy: a failed message that
 * has used up maxReceiveCount moves to the DLQ at once with attributes saying
 * why; others become visible again after an exponential backoff instead of a
 * whole visibility timeout. On FIFO queues a failure also fails the later
 * messages of its group in the batch, so order holds across retries.
 *
 * Store and invoker callbacks hold a reference on the poller; destroy marks it
 * closing and the last callback frees it. */
#include "queue_poll.h"

#include "../consumers/retry.h"
#include "../consumers/scaler.h"
#include "jsonw.h"
#include "sluice/error.h"
#include "sluice/filter.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "sqs_event.h"
#include "strmap.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define TICK_MS 250
#define IDLE_REPOLL_MS 1000
#define RECV_CHUNK 10           /* per receive; batches above it take several */
#define MAX_FILTERS 5           /* Lambda allows 5 filters per mapping */

typedef struct item {
    char id[SL_MSG_ID_LEN + 1];
    char *receipt;
    char *group;                /* FIFO group, or NULL */
    uint32_t receive_count;
    bool failed;
} item_t;

typedef struct batch {
    sl_qpoll_t *p;
    sl_jbuf_t text;             /* {"Records":[ and the records so far, comma-separated */
    item_t *items;
    size_t n, cap;
    int64_t first_ms;           /* when its first message arrived (batching window) */
} batch_t;

struct sl_qpoll {
    sl_qpoll_env_t env;
    char *region, *account;
    sl_trigger_spec_t spec;
    sl_invoker_t *inv;
    char queue[96];
    char *queue_arn, *arn_prefix;
    sl_filter_t *filters[MAX_FILTERS];
    size_t nfilters;
    sl_scaler_t scaler;
    struct event *tick_ev;
    struct event *wake_ev;      /* window end / idle re-poll */
    batch_t *filling;
    uint32_t in_flight;
    bool receiving;
    bool parked;                /* queue looked empty: waiting for a notification */
    bool ticking;               /* a tick's queue_get is outstanding */
    bool closing, stopping;
    void (*stop_done)(void *arg);
    void *stop_arg;
    int refs;
    /* the queue's settings, refreshed every tick */
    bool have_cfg, fifo, has_dlq;
    uint32_t max_receives;
    sl_strmap_t first_failure;  /* message id -> int64_t* epoch ms */
    sl_qpoll_stats_t st;
};

static void pump(sl_qpoll_t *p);

static int64_t
wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- Lifetime ---- */

static void
batch_free(batch_t *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++) {
        sl_free(b->items[i].receipt);
        sl_free(b->items[i].group);
    }
    sl_free(b->items);
    sl_free(b->text.p);
    sl_free(b);
}

static void
poller_free(sl_qpoll_t *p)
{
    size_t pos = 0;
    const char *k;
    void *v;

    for (size_t i = 0; i < p->nfilters; i++)
        sl_filter_destroy(p->filters[i]);
    while (sl__strmap_next(&p->first_failure, &pos, &k, &v))
        sl_free(v);
    sl__strmap_deinit(&p->first_failure);
    batch_free(p->filling);
    event_free(p->tick_ev);
    event_free(p->wake_ev);
    sl_trigger_spec_deinit(&p->spec);
    sl_free(p->queue_arn);
    sl_free(p->arn_prefix);
    sl_free(p->region);
    sl_free(p->account);
    sl_free(p);
}

static void
ref(sl_qpoll_t *p)
{
    p->refs++;
}

/* Drops a reference; false when the poller is closing (and maybe freed now). */
static bool
unref_alive(sl_qpoll_t *p)
{
    p->refs--;
    if (!p->closing)
        return true;
    if (p->refs == 0)
        poller_free(p);
    return false;
}

static void
maybe_stop_done(sl_qpoll_t *p)
{
    if (p->stopping && p->in_flight == 0 && p->stop_done) {
        void (*done)(void *) = p->stop_done;

        p->stop_done = NULL;
        done(p->stop_arg);
    }
}

/* ---- Store helpers (fire and forget, with a reference held) ---- */

static void
on_store_done(void *arg, int status)
{
    sl_qpoll_t *p = arg;

    if (status != SL_OK && status != SL_ENOTFOUND && !p->closing)
        sl_log(SL_LOG_WARN, "trigger store op failed trigger=%s queue=%s status=%s", p->spec.id,
               p->queue, sl_strerror(status));
    unref_alive(p);
}

static void
on_batch_done(void *arg, int status, const int *rcs, size_t n)
{
    (void)rcs;
    (void)n;
    on_store_done(arg, status);
}

static void
delete_receipts(sl_qpoll_t *p, const char **receipts, size_t n)
{
    if (n == 0)
        return;
    ref(p);
    if (sl_store_delete_batch(p->env.store, p->queue, receipts, n, on_batch_done, p) != SL_OK)
        p->refs--;
}

/* ---- Filling batches ---- */

/* The filter criteria see the record as a tree, so only triggers with filters build
 * one; the event itself is written directly (sl_sqs_event_write). */
static bool
passes_filters(const sl_qpoll_t *p, const sl_msg_t *m, const char *receipt)
{
    json_t *rec, *view;
    bool ok = false;

    if (p->nfilters == 0)
        return true;
    rec = sl_sqs_event_record(m, receipt, p->queue_arn, p->region, p->account, p->arn_prefix);
    view = sl_sqs_event_filter_view(rec);
    for (size_t i = 0; i < p->nfilters && !ok; i++)
        ok = sl_filter_match(p->filters[i], view);
    json_decref(view);
    json_decref(rec);
    return ok;
}

static void
batch_add(batch_t *b, const sl_msg_t *m, const char *receipt)
{
    const sl_qpoll_t *p = b->p;
    item_t *it;

    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->items = sl_realloc(b->items, b->cap * sizeof(*b->items));
    }
    it = &b->items[b->n++];
    memcpy(it->id, m->id, sizeof(it->id));
    it->receipt = sl_strdup(receipt);
    it->group = m->group_id ? sl_strdup(m->group_id) : NULL;
    it->receive_count = m->receive_count;
    it->failed = false;
    if (b->n > 1)
        sl_jbuf_raw(&b->text, ",", 1);
    sl_sqs_event_write(&b->text, m, receipt, p->queue_arn, p->region, p->account,
                       p->arn_prefix);
}

static batch_t *
batch_new(sl_qpoll_t *p)
{
    batch_t *b = sl_calloc(1, sizeof(*b));

    b->p = p;
    sl_jbuf_lit(&b->text, "{\"Records\":[");
    return b;
}

static void dispatch(sl_qpoll_t *p);

static void
arm_wake(sl_qpoll_t *p, int64_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

    event_add(p->wake_ev, &tv);
}

static void
on_received(void *arg, int status, const sl_received_t *msgs, size_t n)
{
    sl_qpoll_t *p = arg;
    const char *drop[RECV_CHUNK * 10];
    size_t ndrop = 0;
    int64_t now = wall_ms();
    batch_t *b;

    p->receiving = false;
    if (!unref_alive(p))
        return;
    if (status != SL_OK) {
        if (status != SL_ENOTFOUND)
            sl_log(SL_LOG_WARN, "trigger receive failed trigger=%s queue=%s status=%s",
                   p->spec.id, p->queue, sl_strerror(status));
        p->parked = true;
        arm_wake(p, IDLE_REPOLL_MS);
        return;
    }
    if (p->filling == NULL)
        p->filling = batch_new(p);
    b = p->filling;
    for (size_t i = 0; i < n; i++) {
        if (!passes_filters(p, msgs[i].msg, msgs[i].receipt)) {
            drop[ndrop++] = msgs[i].receipt;        /* valid until this callback returns */
            continue;
        }
        if (b->n == 0)
            b->first_ms = now;
        batch_add(b, msgs[i].msg, msgs[i].receipt);
    }
    p->st.filtered += ndrop;
    delete_receipts(p, drop, ndrop);
    if (n > 0)
        sl_scaler_on_arrivals(&p->scaler, n, now);
    if (b->n >= p->spec.batch_size ||
        (b->n > 0 && (p->spec.batch_window_ms == 0 ||
                      now - b->first_ms >= p->spec.batch_window_ms))) {
        dispatch(p);
    } else if (n == 0) {
        p->parked = true;   /* nothing to receive: wait for a notification or the timer */
        arm_wake(p, b->n > 0 ? p->spec.batch_window_ms - (now - b->first_ms) : IDLE_REPOLL_MS);
        return;
    } else if (b->n > 0 && p->spec.batch_window_ms > 0) {
        arm_wake(p, p->spec.batch_window_ms - (now - b->first_ms));
    }
    pump(p);
}

static uint32_t
concurrency_cap(const sl_qpoll_t *p)
{
    uint32_t cap = p->scaler.desired;
    const sl_function_spec_t *fs = sl_invoker_spec(p->inv);

    if (p->spec.max_concurrency && cap > p->spec.max_concurrency)
        cap = p->spec.max_concurrency;
    if (fs && cap > fs->max_concurrency)
        cap = fs->max_concurrency;
    return cap;
}

static void
pump(sl_qpoll_t *p)
{
    sl_recv_opts_t ro;
    uint32_t want;

    if (p->closing || p->stopping || p->receiving || p->parked || !p->have_cfg ||
        !p->spec.enabled || p->in_flight >= concurrency_cap(p))
        return;
    want = p->spec.batch_size - (uint32_t)(p->filling ? p->filling->n : 0);
    ro.max = want < RECV_CHUNK ? want : RECV_CHUNK;
    ro.visibility_s = -1;
    ref(p);
    p->receiving = true;
    if (sl_store_receive(p->env.store, p->queue, &ro, on_received, p) != SL_OK) {
        p->receiving = false;
        p->refs--;
        p->parked = true;
        arm_wake(p, IDLE_REPOLL_MS);
    }
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
    sl_qpoll_t *p = arg;
    batch_t *b = p->filling;

    (void)fd;
    (void)what;
    if (b != NULL && b->n > 0 && wall_ms() - b->first_ms >= p->spec.batch_window_ms &&
        p->in_flight < concurrency_cap(p) && !p->receiving) {
        dispatch(p);
        return;
    }
    p->parked = false;
    pump(p);
}

static void
on_notify(void *arg, const char *queue)
{
    sl_qpoll_t *p = arg;

    if (strcmp(queue, p->queue) != 0)
        return;
    p->parked = false;
    if (p->scaler.desired == 0)
        event_active(p->tick_ev, EV_TIMEOUT, 0);    /* wake the autoscaler: a cold start */
    pump(p);
}

/* ---- Outcomes ---- */

static bool
parse_item_failures(batch_t *b, const char *payload, size_t len)
{
    json_error_t je;
    json_t *r = payload && len ? json_loadb(payload, len, 0, &je) : NULL, *list, *f;
    size_t i;
    bool ok = true;

    if (r == NULL)
        return len == 0 || payload == NULL;    /* no body: nothing failed */
    list = json_object_get(r, "batchItemFailures");
    if (list == NULL || json_is_null(list)) {
        json_decref(r);
        return true;
    }
    if (!json_is_array(list)) {
        json_decref(r);
        return false;
    }
    json_array_foreach(list, i, f) {
        const char *id = json_string_value(json_object_get(f, "itemIdentifier"));
        bool found = false;

        if (id == NULL || *id == '\0') {
            ok = false;         /* Lambda fails the whole batch on a bad entry */
            break;
        }
        for (size_t k = 0; k < b->n; k++) {
            if (strcmp(b->items[k].id, id) == 0) {
                b->items[k].failed = true;
                found = true;
            }
        }
        if (!found) {
            ok = false;
            break;
        }
    }
    json_decref(r);
    return ok;
}

/* FIFO: a failure fails the rest of its group in this batch, keeping order. */
static void
spread_fifo_failures(batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        if (!b->items[i].failed || b->items[i].group == NULL)
            continue;
        for (size_t k = i + 1; k < b->n; k++)
            if (b->items[k].group && strcmp(b->items[k].group, b->items[i].group) == 0)
                b->items[k].failed = true;
    }
}

static uint64_t
rnd64(void)
{
    char id[SL_MSG_ID_LEN + 1];

    sl_uuid4(id);
    return strtoull(id + 24, NULL, 16);
}

static void
fail_items(sl_qpoll_t *p, batch_t *b, const char *why)
{
    sl_vis_change_t vis[RECV_CHUNK * 10];
    size_t nvis = 0;
    int64_t now = wall_ms();
    char now_s[24], attempts[16];

    snprintf(now_s, sizeof(now_s), "%" PRId64, now);
    for (size_t i = 0; i < b->n; i++) {
        item_t *it = &b->items[i];
        int64_t *first;

        if (!it->failed)
            continue;
        if ((first = sl__strmap_get(&p->first_failure, it->id)) == NULL) {
            first = sl_malloc(sizeof(*first));
            *first = now;
            sl__strmap_put(&p->first_failure, it->id, first);
        }
        if (p->has_dlq && p->max_receives > 0 && it->receive_count >= p->max_receives) {
            char first_s[24];
            sl_msg_attr_t reasons[5] = {
                { "sluice.error", "String", (char *)why, strlen(why) },
                { "sluice.function", "String", p->spec.function, strlen(p->spec.function) },
                { "sluice.attempts", "Number", attempts, 0 },
                { "sluice.first_failure", "Number", first_s, 0 },
                { "sluice.last_failure", "Number", now_s, strlen(now_s) },
            };

            snprintf(attempts, sizeof(attempts), "%u", it->receive_count);
            snprintf(first_s, sizeof(first_s), "%" PRId64, *first);
            reasons[2].len = strlen(attempts);
            reasons[3].len = strlen(first_s);
            sl_log(SL_LOG_INFO, "message dead-lettered trigger=%s queue=%s msg=%s attempts=%u "
                   "error=\"%.200s\"", p->spec.id, p->queue, it->id, it->receive_count, why);
            ref(p);
            if (sl_store_dead_letter(p->env.store, p->queue, it->receipt, reasons, 5,
                                     on_store_done, p) != SL_OK)
                p->refs--;
            sl_free(sl__strmap_del(&p->first_failure, it->id));
            p->st.dead_lettered++;
            continue;
        }
        vis[nvis].receipt = it->receipt;
        vis[nvis].visibility_ms = sl_retry_backoff_ms(it->receive_count, p->spec.retry_base_ms,
                                                      p->spec.retry_cap_ms, rnd64());
        nvis++;
        p->st.retries++;
        if (nvis == sizeof(vis) / sizeof(vis[0])) {
            ref(p);
            if (sl_store_change_visibility(p->env.store, p->queue, vis, nvis, on_batch_done, p) !=
                SL_OK)
                p->refs--;
            nvis = 0;
        }
    }
    if (nvis > 0) {
        ref(p);
        if (sl_store_change_visibility(p->env.store, p->queue, vis, nvis, on_batch_done, p) !=
            SL_OK)
            p->refs--;
    }
}

static void
on_invoked(void *arg, const sl_invoke_result_t *r)
{
    batch_t *b = arg;
    sl_qpoll_t *p = b->p;
    const char *ok_receipts[SL_TRIGGER_BATCH_MAX > 1024 ? 1024 : SL_TRIGGER_BATCH_MAX];
    size_t nok = 0, nfailed = 0;
    char why[300];
    bool whole = r->outcome != SL_INVOKE_OK;

    p->in_flight--;
    if (!unref_alive(p)) {
        batch_free(b);
        return;
    }
    p->st.invocations++;
    if (!whole && p->spec.report_batch_item_failures &&
        !parse_item_failures(b, r->payload, r->len)) {
        whole = true;
        snprintf(why, sizeof(why), "Invalid batchItemFailures in the function's response");
    } else if (whole) {
        snprintf(why, sizeof(why), "%s: %s",
                 r->error_type ? r->error_type
                 : r->outcome == SL_INVOKE_TIMEOUT ? "Sandbox.Timedout"
                 : r->outcome == SL_INVOKE_CRASH ? "Runtime.ExitError"
                 : r->outcome == SL_INVOKE_INIT_ERROR ? "Runtime.InitError" : "Error",
                 r->error_message ? r->error_message
                 : r->payload && r->len ? r->payload : "the function failed");
    } else {
        snprintf(why, sizeof(why), "Reported in batchItemFailures");
    }
    if (whole) {
        p->st.errors++;
        for (size_t i = 0; i < b->n; i++)
            b->items[i].failed = true;
    }
    if (p->fifo)
        spread_fifo_failures(b);
    for (size_t i = 0; i < b->n; i++) {
        if (b->items[i].failed) {
            nfailed++;
            continue;
        }
        sl_free(sl__strmap_del(&p->first_failure, b->items[i].id));
        ok_receipts[nok++] = b->items[i].receipt;
        if (nok == sizeof(ok_receipts) / sizeof(ok_receipts[0])) {
            delete_receipts(p, ok_receipts, nok);
            p->st.messages_ok += nok;
            nok = 0;
        }
    }
    delete_receipts(p, ok_receipts, nok);
    p->st.messages_ok += nok;
    sl_scaler_on_completion(&p->scaler, (uint32_t)b->n, r->duration_ms, nfailed > 0, wall_ms());
    sl_log(nfailed ? SL_LOG_INFO : SL_LOG_DEBUG,
           "trigger batch done trigger=%s function=%s messages=%zu failed=%zu outcome=%d "
           "duration_ms=%" PRId64 " cold_start=%d", p->spec.id, p->spec.function, b->n, nfailed,
           (int)r->outcome, r->duration_ms, r->cold_start);
    if (nfailed)
        fail_items(p, b, why);
    batch_free(b);
    maybe_stop_done(p);
    pump(p);
}

static void
dispatch(sl_qpoll_t *p)
{
    batch_t *b = p->filling;
    int rc;

    p->filling = NULL;
    event_del(p->wake_ev);
    sl_jbuf_raw(&b->text, "]}", 2);
    p->in_flight++;
    ref(p);
    rc = sl_invoker_invoke(p->inv, b->text.p, b->text.n, on_invoked, b);
    sl_free(b->text.p);                 /* the invoker keeps its own copy */
    b->text.p = NULL;
    b->text.n = b->text.cap = 0;
    if (rc != SL_OK) {
        sl_invoke_result_t r = { 0 };

        r.outcome = SL_INVOKE_CANCELLED;
        r.error_type = "Sluice.InvokerStopped";
        r.error_message = "the function is shutting down";
        on_invoked(b, &r);
    }
}

/* ---- Ticks ---- */

static void
on_tick_info(void *arg, int status, const sl_queue_info_t *info)
{
    sl_qpoll_t *p = arg;
    const char *why = "";
    uint32_t before;
    int64_t now = wall_ms();
    int level;

    p->ticking = false;
    if (!unref_alive(p))
        return;
    if (status != SL_OK) {
        if (status == SL_ENOTFOUND && p->have_cfg)
            sl_log(SL_LOG_WARN, "trigger source queue missing trigger=%s queue=%s", p->spec.id,
                   p->queue);
        p->have_cfg = false;
        return;
    }
    p->have_cfg = true;
    p->fifo = info->cfg->fifo;
    p->has_dlq = info->cfg->dlq_name != NULL;
    p->max_receives = info->cfg->max_receives;
    p->st.backlog = info->visible;
    before = p->scaler.desired;
    sl_scaler_tick(&p->scaler, info->visible, p->in_flight, now, &why);
    /* Every decision is logged with its inputs: changes at info, the rest at debug. */
    level = p->scaler.desired != before ? SL_LOG_INFO : SL_LOG_DEBUG;
    if (level >= sl_log_level) {
        char buf[512];

        sl_scaler_format(&p->scaler, buf, sizeof(buf));
        sl_log(level, "autoscaler decision trigger=%s function=%s %s running=%zu busy=%zu "
               "queued=%zu", p->spec.id, p->spec.function, buf, sl_invoker_running(p->inv),
               sl_invoker_busy(p->inv), sl_invoker_queued(p->inv));
    }
    if (p->scaler.desired != before)
        p->parked = false;
    pump(p);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    sl_qpoll_t *p = arg;

    (void)fd;
    (void)what;
    if (p->closing || p->ticking)
        return;
    ref(p);
    p->ticking = true;
    if (sl_store_queue_get(p->env.store, p->queue, on_tick_info, p) != SL_OK) {
        p->ticking = false;
        p->refs--;
    }
}

/* ---- Filters ---- */

static bool
add_filter(sl_qpoll_t *p, const char *text, size_t len, char *err, size_t errlen)
{
    char e[256];

    if (p->nfilters == MAX_FILTERS) {
        snprintf(err, errlen, "at most %d filters", MAX_FILTERS);
        return false;
    }
    if (sl_filter_compile(text, len, SL_FILTER_LAMBDA, &p->filters[p->nfilters], e, sizeof(e)) !=
        SL_OK) {
        snprintf(err, errlen, "invalid filter pattern: %s", e);
        return false;
    }
    p->nfilters++;
    return true;
}

static bool
add_filter_json(sl_qpoll_t *p, const json_t *pat, char *err, size_t errlen)
{
    size_t len;
    char *text;
    bool ok;

    if (json_is_string(pat))
        return add_filter(p, json_string_value(pat), json_string_length(pat), err, errlen);
    len = json_dumpb(pat, NULL, 0, JSON_COMPACT);
    text = sl_malloc(len + 1);
    json_dumpb(pat, text, len, JSON_COMPACT);
    ok = add_filter(p, text, len, err, errlen);
    sl_free(text);
    return ok;
}

/* Accepts Lambda's FilterCriteria ({"Filters":[{"Pattern":"..."}]}), a list of
 * patterns, or one pattern. */
static bool
compile_filters(sl_qpoll_t *p, const char *text, char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je), *v;
    size_t i;
    bool ok = true;

    if (doc == NULL) {
        snprintf(err, errlen, "invalid filter JSON: %s", je.text);
        return false;
    }
    if (json_is_object(doc) && json_is_array(json_object_get(doc, "Filters"))) {
        json_array_foreach(json_object_get(doc, "Filters"), i, v) {
            if (!(ok = add_filter_json(p, json_object_get(v, "Pattern"), err, errlen)))
                break;
        }
    } else if (json_is_array(doc)) {
        json_array_foreach(doc, i, v) {
            if (!(ok = add_filter_json(p, v, err, errlen)))
                break;
        }
    } else {
        ok = add_filter_json(p, doc, err, errlen);
    }
    json_decref(doc);
    return ok;
}

/* ---- Public ---- */

sl_qpoll_t *
sl_qpoll_create(const sl_qpoll_env_t *env, const sl_trigger_spec_t *spec, sl_invoker_t *inv,
                char *err, size_t errlen)
{
    sl_qpoll_t *p = sl_calloc(1, sizeof(*p));
    const sl_function_spec_t *fs = sl_invoker_spec(inv);
    sl_scaler_cfg_t sc;
    struct timeval tv = { 0, TICK_MS * 1000 };
    size_t n;

    p->env = *env;
    p->region = sl_strdup(env->region ? env->region : "us-east-1");
    p->account = sl_strdup(env->account ? env->account : "000000000000");
    p->env.region = p->region;
    p->env.account = p->account;
    sl_trigger_spec_copy(&p->spec, spec);
    p->inv = inv;
    p->refs = 1;
    snprintf(p->queue, sizeof(p->queue), "%s", spec->source + 6);   /* after "queue:" */
    n = strlen(p->region) + strlen(p->account) + 32;
    p->arn_prefix = sl_malloc(n);
    snprintf(p->arn_prefix, n, "arn:aws:sqs:%s:%s:", p->region, p->account);
    p->queue_arn = sl_malloc(n + strlen(p->queue));
    snprintf(p->queue_arn, n + strlen(p->queue), "%s%s", p->arn_prefix, p->queue);
    sl__strmap_init(&p->first_failure);
    if (spec->filter && !compile_filters(p, spec->filter, err, errlen)) {
        p->closing = true;
        p->refs = 0;
        p->tick_ev = event_new(env->base, -1, 0, on_tick, p);
        p->wake_ev = evtimer_new(env->base, on_wake, p);
        poller_free(p);
        return NULL;
    }
    sl_scaler_cfg_defaults(&sc);
    sc.min = 0;
    sc.max = spec->max_concurrency ? spec->max_concurrency : (fs ? fs->max_concurrency : 10);
    if (fs && sc.max > fs->max_concurrency)
        sc.max = fs->max_concurrency;
    if (sc.max == 0)
        sc.max = 1;
    sc.batch_size = spec->batch_size;
    sc.tick_ms = TICK_MS;
    sl_scaler_init(&p->scaler, &sc, wall_ms());
    p->tick_ev = event_new(env->base, -1, EV_PERSIST, on_tick, p);
    p->wake_ev = evtimer_new(env->base, on_wake, p);
    event_add(p->tick_ev, &tv);
    sl_store_listen(env->store, on_notify, p);
    event_active(p->tick_ev, EV_TIMEOUT, 0);        /* first tick now: read the queue */
    sl_log(SL_LOG_INFO, "trigger started trigger=%s queue=%s function=%s batch=%u window_ms=%u "
           "filters=%zu", spec->id, p->queue, spec->function, spec->batch_size,
           spec->batch_window_ms, p->nfilters);
    return p;
}

void
sl_qpoll_stop(sl_qpoll_t *p, void (*done)(void *arg), void *arg)
{
    p->stopping = true;
    p->stop_done = done;
    p->stop_arg = arg;
    event_del(p->wake_ev);
    maybe_stop_done(p);
}

void
sl_qpoll_destroy(sl_qpoll_t *p)
{
    if (p == NULL)
        return;
    sl_store_unlisten(p->env.store, on_notify, p);
    event_del(p->tick_ev);
    event_del(p->wake_ev);
    p->closing = true;
    p->stop_done = NULL;
    if (--p->refs == 0)
        poller_free(p);
}

void
sl_qpoll_stats(const sl_qpoll_t *p, sl_qpoll_stats_t *out)
{
    sl_scaler_state_t s;

    *out = p->st;
    out->in_flight = p->in_flight;
    sl_scaler_state(&p->scaler, &s);
    out->desired = s.desired;
    out->arrival_rate = s.arrival_rate;
    out->mean_duration_ms = s.mean_duration_ms;
}

const sl_trigger_spec_t *
sl_qpoll_spec(const sl_qpoll_t *p)
{
    return &p->spec;
}

const sl_scaler_t *
sl_qpoll_scaler(const sl_qpoll_t *p)
{
    return &p->scaler;
}
