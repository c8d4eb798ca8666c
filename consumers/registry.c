/* registry.c - functions and triggers (see registry.h).
 *
 * The store holds the specs, so a restart (or another sluiced on the same Redis)
 * finds them again; this module holds what runs: one invoker per function and one
 * poller per trigger. Changes are validated, written to the store, and applied
 * here when the write succeeds. A function that triggers use cannot be deleted
 * (Lambda allows it, but a trigger left pointing at nothing helps nobody).
 *
 * Callbacks always run later: requests that fail validation complete through a
 * deferred event, like the store's own. */
#include "registry.h"

#include "../triggers/queue_poll.h"
#include "fnlog.h"
#include "scaler.h"
#include "function_json.h"
#include "invoke.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "sluice/trigger.h"
#include "strmap.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fn {
    sl_function_spec_t spec;
    sl_invoker_t *inv;
    sl_fnlog_t *log;            /* its instances' recent output; kept across updates */
} fn_t;

typedef struct trg {
    sl_trigger_spec_t spec;
    sl_qpoll_t *poll;
} trg_t;

typedef struct req req_t;

struct sl_registry {
    struct event_base *base;
    sl_store_t *store;
    char *region, *account;
    sl_strmap_t fns;            /* name -> fn_t */
    sl_strmap_t trgs;           /* id -> trg_t */
    req_t *deferred;            /* completions waiting for the loop */
    struct event *defer_ev;
    int triggers_pending;
    int shutdown_pending;
    void (*shutdown_done)(void *);
    void *shutdown_arg;
};

struct req {
    req_t *next;
    sl_registry_t *r;
    sl_registry_cb cb;
    void *arg;
    int status;
    char msg[300];
    json_t *out;
    /* what the operation needs across store callbacks */
    sl_function_spec_t fspec;
    sl_trigger_spec_t tspec;
    bool have_fspec, have_tspec;
    char name[128];
    const char *kind;           /* "function" or "trigger" (static) */
};

/* ---- Completion ---- */

static req_t *
req_new(sl_registry_t *r, sl_registry_cb cb, void *arg)
{
    req_t *q = sl_calloc(1, sizeof(*q));

    q->r = r;
    q->cb = cb;
    q->arg = arg;
    return q;
}

static void
req_free(req_t *q)
{
    if (q->have_fspec)
        sl_function_spec_deinit(&q->fspec);
    if (q->have_tspec)
        sl_trigger_spec_deinit(&q->tspec);
    json_decref(q->out);
    sl_free(q);
}

static void
finish_now(req_t *q)
{
    q->cb(q->arg, q->status, q->status == SL_OK ? NULL : q->msg, q->out);
    req_free(q);
}

static void
on_deferred(evutil_socket_t fd, short what, void *arg)
{
    sl_registry_t *r = arg;
    req_t *q = r->deferred, *next;

    (void)fd;
    (void)what;
    r->deferred = NULL;
    for (; q != NULL; q = next) {
        next = q->next;
        finish_now(q);
    }
}

/* Completes q later, with status and (optionally) a message. */
static void
finish(req_t *q, int status, json_t *out, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
finish(req_t *q, int status, json_t *out, const char *fmt, ...)
{
    sl_registry_t *r = q->r;
    req_t **pp = &r->deferred;

    q->status = status;
    q->out = out;
    if (fmt) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(q->msg, sizeof(q->msg), fmt, ap);
        va_end(ap);
    }
    while (*pp)
        pp = &(*pp)->next;
    q->next = NULL;
    *pp = q;
    event_active(r->defer_ev, EV_READ, 0);
}

static const char *
store_msg(int status)
{
    return status == SL_ENOTFOUND ? "not found" : sl_strerror(status);
}

/* ---- Running parts ---- */

static void
fn_free(fn_t *f)
{
    sl_invoker_destroy(f->inv);     /* may still write to f->log while stopping */
    sl__fnlog_destroy(f->log);
    sl_function_spec_deinit(&f->spec);
    sl_free(f);
}

static void
trg_free(trg_t *t)
{
    sl_qpoll_destroy(t->poll);
    sl_trigger_spec_deinit(&t->spec);
    sl_free(t);
}

static int
start_function(sl_registry_t *r, const sl_function_spec_t *spec, char *err, size_t errlen)
{
    sl_invoker_opts_t o = { 0 };
    fn_t *f, *old = sl__strmap_get(&r->fns, spec->name);
    sl_fnlog_t *log = old ? old->log : sl__fnlog_create(SL_FNLOG_LINES, SL_FNLOG_BYTES);
    sl_invoker_t *inv;

    o.region = r->region;
    o.account = r->account;
    o.output = log;
    if ((inv = sl_invoker_create(r->base, spec, &o, err, errlen)) == NULL) {
        if (old == NULL)
            sl__fnlog_destroy(log);
        return SL_EINVAL;
    }
    f = sl_calloc(1, sizeof(*f));
    sl_function_spec_copy(&f->spec, spec);
    f->inv = inv;
    f->log = log;
    old = sl__strmap_put(&r->fns, spec->name, f);
    if (old != NULL) {
        /* The ring moves to the new function; the old invoker's last lines still
         * land in it while it is destroyed below. */
        /* Triggers feeding the old invoker move to the new one. */
        size_t pos = 0;
        const char *id;
        void *v;
        sl_qpoll_env_t env = { r->base, r->store, r->region, r->account };

        while (sl__strmap_next(&r->trgs, &pos, &id, &v)) {
            trg_t *t = v;
            char e[256];

            if (strcmp(t->spec.function, spec->name) != 0)
                continue;
            sl_qpoll_destroy(t->poll);
            t->poll = sl_qpoll_create(&env, &t->spec, inv, e, sizeof(e));
        }
        sl_invoker_destroy(old->inv);
        old->inv = NULL;
        old->log = NULL;
        fn_free(old);
    }
    sl_log(SL_LOG_INFO, "function started function=%s kind=%s max_concurrency=%u",
           spec->name, sl_function_kind_name(spec->kind), spec->max_concurrency);
    return SL_OK;
}

static int
start_trigger(sl_registry_t *r, const sl_trigger_spec_t *spec, char *err, size_t errlen)
{
    fn_t *f = sl__strmap_get(&r->fns, spec->function);
    sl_qpoll_env_t env = { r->base, r->store, r->region, r->account };
    sl_qpoll_t *poll;
    trg_t *t, *old;

    if (f == NULL) {
        snprintf(err, errlen, "function %s does not exist", spec->function);
        return SL_ENOTFOUND;
    }
    if ((poll = sl_qpoll_create(&env, spec, f->inv, err, errlen)) == NULL)
        return SL_EINVAL;
    t = sl_calloc(1, sizeof(*t));
    sl_trigger_spec_copy(&t->spec, spec);
    t->poll = poll;
    if ((old = sl__strmap_put(&r->trgs, spec->id, t)) != NULL)
        trg_free(old);
    return SL_OK;
}

/* ---- Loading ---- */

typedef struct load {
    sl_registry_t *r;
    void (*done)(void *arg, int status);
    void *arg;
} load_t;

static void
on_triggers_loaded(void *arg, int status, char *const *names, char *const *docs, size_t n)
{
    load_t *l = arg;

    for (size_t i = 0; status == SL_OK && i < n; i++) {
        json_t *doc = json_loads(docs[i], 0, NULL);
        sl_trigger_spec_t t;
        char err[256];

        sl_trigger_spec_init(&t);
        if (doc == NULL || !sl_trigger_spec_from_json(&t, doc, err, sizeof(err)) ||
            start_trigger(l->r, &t, err, sizeof(err)) != SL_OK)
            sl_log(SL_LOG_ERROR, "stored trigger not started trigger=%s error=\"%s\"", names[i],
                   doc ? err : "bad JSON");
        sl_trigger_spec_deinit(&t);
        json_decref(doc);
    }
    l->done(l->arg, status);
    sl_free(l);
}

static void
on_functions_loaded(void *arg, int status, char *const *names, char *const *docs, size_t n)
{
    load_t *l = arg;

    for (size_t i = 0; status == SL_OK && i < n; i++) {
        json_t *doc = json_loads(docs[i], 0, NULL);
        sl_function_spec_t f;
        char err[256];

        sl_function_spec_init(&f);
        if (doc == NULL || !sl_function_spec_from_json(&f, doc, err, sizeof(err)) ||
            start_function(l->r, &f, err, sizeof(err)) != SL_OK)
            sl_log(SL_LOG_ERROR, "stored function not started function=%s error=\"%s\"",
                   names[i], doc ? err : "bad JSON");
        sl_function_spec_deinit(&f);
        json_decref(doc);
    }
    if (status != SL_OK ||
        sl_store_meta_list(l->r->store, "trigger", on_triggers_loaded, l) != SL_OK) {
        l->done(l->arg, status != SL_OK ? status : SL_EBACKEND);
        sl_free(l);
    }
}

void
sl_registry_load(sl_registry_t *r, void (*done)(void *arg, int status), void *arg)
{
    load_t *l = sl_calloc(1, sizeof(*l));

    l->r = r;
    l->done = done;
    l->arg = arg;
    if (sl_store_meta_list(r->store, "function", on_functions_loaded, l) != SL_OK) {
        sl_free(l);
        done(arg, SL_EBACKEND);     /* the store has no metadata: nothing to load */
    }
}

/* ---- Functions ---- */

static void
on_fn_stored(void *arg, int status)
{
    req_t *q = arg;
    char err[256];
    int rc;

    if (status != SL_OK) {
        finish(q, status, NULL, "store: %s", store_msg(status));
        return;
    }
    if ((rc = start_function(q->r, &q->fspec, err, sizeof(err))) != SL_OK) {
        finish(q, rc, NULL, "%s", err);
        return;
    }
    finish(q, SL_OK, sl_function_spec_to_json(&q->fspec), NULL);
}

static void
put_doc(req_t *q, const char *kind, const char *name, json_t *doc, sl_store_done_cb cb)
{
    size_t len = json_dumpb(doc, NULL, 0, JSON_COMPACT);
    char *text = sl_malloc(len + 1);

    json_dumpb(doc, text, len, JSON_COMPACT);
    if (sl_store_meta_put(q->r->store, kind, name, text, len, cb, q) != SL_OK)
        finish(q, SL_EBACKEND, NULL, "the store keeps no %s documents", kind);
    sl_free(text);
}

void
sl_registry_function_put(sl_registry_t *r, const json_t *doc, sl_registry_cb cb, void *arg)
{
    req_t *q = req_new(r, cb, arg);
    char err[256];
    json_t *canon;

    sl_function_spec_init(&q->fspec);
    q->have_fspec = true;
    if (!sl_function_spec_from_json(&q->fspec, doc, err, sizeof(err))) {
        finish(q, SL_EINVAL, NULL, "%s", err);
        return;
    }
    canon = sl_function_spec_to_json(&q->fspec);
    put_doc(q, "function", q->fspec.name, canon, on_fn_stored);
    json_decref(canon);
}

static json_t *
fn_json(const fn_t *f)
{
    json_t *o = sl_function_spec_to_json(&f->spec);

    json_object_set_new(o, "instances_running",
                        json_integer((json_int_t)sl_invoker_running(f->inv)));
    json_object_set_new(o, "instances_busy", json_integer((json_int_t)sl_invoker_busy(f->inv)));
    json_object_set_new(o, "queued", json_integer((json_int_t)sl_invoker_queued(f->inv)));
    json_object_set_new(o, "cold_starts",
                        json_integer((json_int_t)sl_invoker_cold_starts(f->inv)));
    return o;
}

void
sl_registry_function_get(sl_registry_t *r, const char *name, sl_registry_cb cb, void *arg)
{
    req_t *q = req_new(r, cb, arg);
    fn_t *f = sl__strmap_get(&r->fns, name);

    if (f == NULL)
        finish(q, SL_ENOTFOUND, NULL, "function %s does not exist", name);
    else
        finish(q, SL_OK, fn_json(f), NULL);
}

static int
cmp_json_name(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                  json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

void
sl_registry_function_list(sl_registry_t *r, sl_registry_cb cb, void *arg)
{
    req_t *q = req_new(r, cb, arg);
    json_t **all = sl_calloc(r->fns.n + 1, sizeof(*all)), *list = json_array(), *out;
    size_t pos = 0, n = 0;
    const char *k;
    void *v;

    while (sl__strmap_next(&r->fns, &pos, &k, &v))
        all[n++] = fn_json(v);
    qsort(all, n, sizeof(*all), cmp_json_name);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, all[i]);
    sl_free(all);
    out = json_object();
    json_object_set_new(out, "functions", list);
    finish(q, SL_OK, out, NULL);
}

/* After the store dropped a function's or trigger's document (q->kind, q->name):
 * stop what runs. A document already gone from the store but still running here
 * (the store lost it) is stopped too and counts as deleted. */
static void
on_deleted(void *arg, int status)
{
    req_t *q = arg;
    bool is_fn = strcmp(q->kind, "function") == 0;
    void *x = sl__strmap_del(is_fn ? &q->r->fns : &q->r->trgs, q->name);

    if (x != NULL) {
        if (is_fn)
            fn_free(x);
        else
            trg_free(x);
        sl_log(SL_LOG_INFO, "%s deleted name=%s", q->kind, q->name);
    }
    if (status != SL_OK && x == NULL)
        finish(q, status, NULL, "%s %s does not exist", q->kind, q->name);
    else
        finish(q, SL_OK, json_object(), NULL);
}

static void
delete_doc(req_t *q, const char *kind, const char *name)
{
    q->kind = kind;
    snprintf(q->name, sizeof(q->name), "%s", name);
    if (sl_store_meta_delete(q->r->store, kind, name, on_deleted, q) != SL_OK)
        finish(q, SL_EBACKEND, NULL, "the store keeps no %s documents", kind);
}

void
sl_registry_function_delete(sl_registry_t *r, const char *name, sl_registry_cb cb, void *arg)
{
    req_t *q = req_new(r, cb, arg);
    size_t pos = 0;
    const char *id;
    void *v;

    while (sl__strmap_next(&r->trgs, &pos, &id, &v)) {
        if (strcmp(((trg_t *)v)->spec.function, name) == 0) {
            finish(q, SL_EEXIST, NULL, "function %s is used by trigger %s; delete it first",
                   name, id);
            return;
        }
    }
    delete_doc(q, "function", name);
}

static const char *const outcome_names[] = {
    "ok", "function_error", "timeout", "crash", "init_error", "cancelled",
};

static void
on_invoked(void *arg, const sl_invoke_result_t *res)
{
    req_t *q = arg;
    json_t *out = json_object(), *payload = NULL;

    json_object_set_new(out, "status", json_string((unsigned)res->outcome < 6
                                                       ? outcome_names[res->outcome] : "?"));
    if (res->payload && res->len)
        payload = json_loadb(res->payload, res->len, JSON_DECODE_ANY, NULL);
    if (payload == NULL && res->payload)
        payload = json_stringn(res->payload, res->len);
    json_object_set_new(out, "payload", payload ? payload : json_null());
    if (res->error_type)
        json_object_set_new(out, "error_type", json_string(res->error_type));
    if (res->error_message)
        json_object_set_new(out, "error_message", json_string(res->error_message));
    if (res->request_id)
        json_object_set_new(out, "request_id", json_string(res->request_id));
    json_object_set_new(out, "duration_ms", json_integer(res->duration_ms));
    json_object_set_new(out, "cold_start", json_boolean(res->cold_start));
    finish(q, SL_OK, out, NULL);
}

void
sl_registry_function_invoke(sl_registry_t *r, const char *name, const char *payload, size_t len,
                            sl_registry_cb cb, void *arg)
{
    req_t *q = req_new(r, cb, arg);
    fn_t *f = sl__strmap_get(&r->fns, name);

    if (f == NULL) {
        finish(q, SL_ENOTFOUND, NULL, "function %s does not exist", name);
        return;
    }
    if (sl_invoker_invoke(f->inv, payload, len, on_invoked, q) != SL_OK)
        finish(q, SL_ESTATE, NULL, "function %s is shutting down", name);
}

static const char *
stream_name(sl_fnlog_stream_t s)
{
    return s == SL_FNLOG_STDERR ? "stderr" : "stdout";
}

void
sl_registry_function_logs(sl_registry_t *r, const char *name, uint64_t after, size_t tail,
                          sl_registry_cb cb, void *arg)
{
    req_t *q = req_new(r, cb, arg);
    fn_t *f = sl__strmap_get(&r->fns, name);
    json_t *out, *lines;
    size_t first, n;
    uint64_t missed;

    if (f == NULL) {
        finish(q, SL_ENOTFOUND, NULL, "function %s does not exist", name);
        return;
    }
    n = sl__fnlog_select(f->log, after, tail, &first, &missed);
    lines = json_array();
    for (size_t i = 0; i < n; i++) {
        const sl_fnlog_line_t *l = sl__fnlog_at(f->log, first + i);
        json_t *text = json_stringn(l->text, l->len);

        if (text == NULL)       /* not UTF-8: keep it readable rather than lose it */
            text = json_string_nocheck("(output line is not UTF-8)");
        json_array_append_new(lines, json_pack("{s:I, s:I, s:I, s:s, s:o, s:o}",
                                               "seq", (json_int_t)l->seq,
                                               "time", (json_int_t)l->time_ms,
                                               "instance", (json_int_t)l->instance,
                                               "stream", stream_name(l->stream),
                                               "request", l->request[0]
                                                   ? json_string(l->request) : json_null(),
                                               "line", text));
    }
    out = json_pack("{s:s, s:o, s:I, s:I}", "function", name, "lines", lines,
                    "next", (json_int_t)(n ? sl__fnlog_at(f->log, first + n - 1)->seq
                                           : after > sl__fnlog_last_seq(f->log)
                                           ? sl__fnlog_last_seq(f->log) : after),
                    "missed", (json_int_t)missed);
    finish(q, SL_OK, out, NULL);
}

/* ---- Triggers ---- */

static void
on_trg_stored(void *arg, int status)
{
    req_t *q = arg;
    char err[256];
    int rc;

    if (status != SL_OK) {
        finish(q, status, NULL, "store: %s", store_msg(status));
        return;
    }
    if ((rc = start_trigger(q->r, &q->tspec, err, sizeof(err))) != SL_OK) {
        finish(q, rc, NULL, "%s", err);
        return;
    }
    finish(q, SL_OK, sl_trigger_spec_to_json(&q->tspec), NULL);
}

static void
on_trg_queue(void *arg, int status, const sl_queue_info_t *info)
{
    req_t *q = arg;
    fn_t *f = sl__strmap_get(&q->r->fns, q->tspec.function);
    json_t *doc;

    if (status != SL_OK) {
        finish(q, status, NULL, status == SL_ENOTFOUND ? "queue %s does not exist"
                                                       : "store: %s",
               status == SL_ENOTFOUND ? q->tspec.source + 6 : store_msg(status));
        return;
    }
    if (f == NULL) {
        finish(q, SL_ENOTFOUND, NULL, "function %s does not exist", q->tspec.function);
        return;
    }
    if (info->cfg->fifo && q->tspec.batch_size > SL_TRIGGER_FIFO_BATCH_MAX) {
        finish(q, SL_EINVAL, NULL, "batch size for a FIFO queue must be 1 to 10");
        return;
    }
    if (q->tspec.batch_size > 10 && q->tspec.batch_window_ms == 0) {
        finish(q, SL_EINVAL, NULL, "a batch size over 10 needs a batching window (as Lambda)");
        return;
    }
    if ((uint64_t)f->spec.timeout_ms > (uint64_t)info->cfg->visibility_s * 1000) {
        finish(q, SL_EINVAL, NULL, "Queue visibility timeout: %u seconds is less than Function "
               "timeout: %u seconds", info->cfg->visibility_s, (f->spec.timeout_ms + 999) / 1000);
        return;
    }
    doc = sl_trigger_spec_to_json(&q->tspec);
    put_doc(q, "trigger", q->tspec.id, doc, on_trg_stored);
    json_decref(doc);
}

void
sl_registry_trigger_put(sl_registry_t *r, const json_t *doc, sl_registry_cb cb, void *arg)
{
    req_t *q = req_new(r, cb, arg);
    char err[256];

    sl_trigger_spec_init(&q->tspec);
    q->have_tspec = true;
    if (!sl_trigger_spec_from_json(&q->tspec, doc, err, sizeof(err))) {
        finish(q, SL_EINVAL, NULL, "%s", err);
        return;
    }
    if (q->tspec.id == NULL || *q->tspec.id == '\0') {
        char id[SL_MSG_ID_LEN + 1];

        sl_uuid4(id);
        sl_free(q->tspec.id);
        q->tspec.id = sl_strdup(id);
    }
    if (sl_store_queue_get(r->store, q->tspec.source + 6, on_trg_queue, q) != SL_OK)
        finish(q, SL_EBACKEND, NULL, "store unavailable");
}

static json_t *
trg_json(const trg_t *t)
{
    json_t *o = sl_trigger_spec_to_json(&t->spec);
    sl_qpoll_stats_t st;

    sl_qpoll_stats(t->poll, &st);
    json_object_set_new(o, "state", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:I, "
                                              "s:f, s:f}",
                                              "invocations", (json_int_t)st.invocations,
                                              "errors", (json_int_t)st.errors,
                                              "messages_ok", (json_int_t)st.messages_ok,
                                              "retries", (json_int_t)st.retries,
                                              "dead_lettered", (json_int_t)st.dead_lettered,
                                              "filtered", (json_int_t)st.filtered,
                                              "in_flight", (int)st.in_flight,
                                              "desired", (int)st.desired,
                                              "backlog", (json_int_t)st.backlog,
                                              "arrival_rate", st.arrival_rate,
                                              "mean_duration_ms", st.mean_duration_ms));
    return o;
}

void
sl_registry_trigger_list(sl_registry_t *r, sl_registry_cb cb, void *arg)
{
    req_t *q = req_new(r, cb, arg);
    json_t *list = json_array(), *out = json_object();
    size_t pos = 0;
    const char *k;
    void *v;

    while (sl__strmap_next(&r->trgs, &pos, &k, &v))
        json_array_append_new(list, trg_json(v));
    json_object_set_new(out, "triggers", list);
    finish(q, SL_OK, out, NULL);
}

void
sl_registry_trigger_delete(sl_registry_t *r, const char *id, sl_registry_cb cb, void *arg)
{
    req_t *q = req_new(r, cb, arg);

    delete_doc(q, "trigger", id);
}

json_t *
sl_registry_stats(sl_registry_t *r)
{
    json_t *out = json_object(), *tl = json_array(), *fl = json_array();
    size_t pos = 0;
    const char *k;
    void *v;

    while (sl__strmap_next(&r->trgs, &pos, &k, &v))
        json_array_append_new(tl, trg_json(v));
    pos = 0;
    while (sl__strmap_next(&r->fns, &pos, &k, &v))
        json_array_append_new(fl, fn_json(v));
    json_object_set_new(out, "triggers", tl);
    json_object_set_new(out, "functions", fl);
    return out;
}

/* Writes s as a Prometheus label value: backslash, quote and newline escaped. */
static void
label(struct evbuffer *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            evbuffer_add_printf(b, "\\%c", *s);
        else if (*s == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, s, 1);
    }
}

static void
family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{function="F"[,extra]} value */
static void
fn_sample(struct evbuffer *b, const char *name, const char *fn, const char *extra,
          unsigned long long v)
{
    evbuffer_add_printf(b, "%s{function=\"", name);
    label(b, fn);
    evbuffer_add_printf(b, "\"%s} %llu\n", extra ? extra : "", v);
}

/* name{trigger="T",function="F"[,extra]} value */
static void
trg_sample(struct evbuffer *b, const char *name, const trg_t *t, const char *extra,
           unsigned long long v)
{
    evbuffer_add_printf(b, "%s{trigger=\"", name);
    label(b, t->spec.id);
    evbuffer_add_printf(b, "\",function=\"");
    label(b, t->spec.function);
    evbuffer_add_printf(b, "\"%s} %llu\n", extra ? extra : "", v);
}

typedef enum { FN_RUNNING, FN_BUSY, FN_QUEUED, FN_INVOCATIONS, FN_COLD, FN_FN_ERR, FN_TIMEOUT,
               FN_CRASH, FN_STARTS, FN_INIT_FAIL, FN_NFIELDS } fn_field_t;

static unsigned long long
fn_value(const fn_t *f, fn_field_t k)
{
    sl_invoker_stats_t st;

    sl_invoker_stats(f->inv, &st);
    switch (k) {
    case FN_RUNNING: return sl_invoker_running(f->inv);
    case FN_BUSY: return sl_invoker_busy(f->inv);
    case FN_QUEUED: return sl_invoker_queued(f->inv);
    case FN_INVOCATIONS: return st.invocations;
    case FN_COLD: return st.cold_starts;
    case FN_FN_ERR: return st.function_errors;
    case FN_TIMEOUT: return st.timeouts;
    case FN_CRASH: return st.crashes;
    case FN_STARTS: return st.instances_started;
    case FN_INIT_FAIL: return st.init_failures;
    default: return 0;
    }
}

void
sl_registry_metrics(sl_registry_t *r, struct evbuffer *b)
{
    static const struct {
        const char *name, *type, *extra, *help;
        fn_field_t k;
        bool first;         /* first sample of its family: print HELP and TYPE */
    } ff[] = {
        { "sluice_function_instances", "gauge", ",state=\"running\"",
          "Instances of the function, running (incl. starting) and busy", FN_RUNNING, true },
        { "sluice_function_instances", "gauge", ",state=\"busy\"", NULL, FN_BUSY, false },
        { "sluice_function_queued", "gauge", NULL,
          "Invocations waiting for a free instance", FN_QUEUED, true },
        { "sluice_function_invocations_total", "counter", NULL,
          "Invocations accepted by the function", FN_INVOCATIONS, true },
        { "sluice_function_cold_starts_total", "counter", NULL,
          "Invocations that waited for an instance to start", FN_COLD, true },
        { "sluice_function_errors_total", "counter", ",type=\"function_error\"",
          "Invocations that failed, by how", FN_FN_ERR, true },
        { "sluice_function_errors_total", "counter", ",type=\"timeout\"", NULL, FN_TIMEOUT,
          false },
        { "sluice_function_errors_total", "counter", ",type=\"crash\"", NULL, FN_CRASH, false },
        { "sluice_function_instance_starts_total", "counter", NULL,
          "Instances started", FN_STARTS, true },
        { "sluice_function_init_failures_total", "counter", NULL,
          "Instances that failed to initialise", FN_INIT_FAIL, true },
    };
    size_t pos = 0, n = 0;
    const sl_scaler_t **scalers;
    const char **names;
    const char *k;
    void *v;
    int len;

    for (size_t i = 0; i < sizeof(ff) / sizeof(ff[0]); i++) {
        if (ff[i].first)
            family(b, ff[i].name, ff[i].type, ff[i].help);
        pos = 0;
        while (sl__strmap_next(&r->fns, &pos, &k, &v))
            fn_sample(b, ff[i].name, k, ff[i].extra, fn_value(v, ff[i].k));
    }
    family(b, "sluice_function_last_start_seconds", "gauge",
           "Spawn to ready of the latest instance start (process: to its first next)");
    pos = 0;
    while (sl__strmap_next(&r->fns, &pos, &k, &v)) {
        sl_invoker_stats_t st;

        sl_invoker_stats(((fn_t *)v)->inv, &st);
        evbuffer_add_printf(b, "sluice_function_last_start_seconds{function=\"");
        label(b, k);
        evbuffer_add_printf(b, "\"} %.6f\n", (double)st.start_us_last / 1e6);
    }

    /* Per trigger: its counters, and the instances of the function it feeds. */
    {
        static const struct {
            const char *name, *type, *help;
        } tf[] = {
            { "sluice_trigger_desired_concurrency", "gauge", "The autoscaler's concurrency" },
            { "sluice_trigger_in_flight", "gauge", "Batches being invoked" },
            { "sluice_trigger_backlog", "gauge", "Visible messages in the source at the last tick" },
            { "sluice_trigger_instances", "gauge",
              "Instances of the trigger's function, running and busy" },
            { "sluice_trigger_invocations_total", "counter", "Batches handed to the function" },
            { "sluice_trigger_errors_total", "counter", "Batches that failed as a whole" },
            { "sluice_trigger_messages_ok_total", "counter", "Messages deleted after success" },
            { "sluice_trigger_retries_total", "counter",
              "Messages made visible again after a backoff" },
            { "sluice_trigger_dead_lettered_total", "counter", "Messages moved to the DLQ" },
            { "sluice_trigger_filtered_total", "counter",
              "Messages deleted unseen by the filter criteria" },
        };

        for (size_t i = 0; i < sizeof(tf) / sizeof(tf[0]); i++) {
            family(b, tf[i].name, tf[i].type, tf[i].help);
            pos = 0;
            while (sl__strmap_next(&r->trgs, &pos, &k, &v)) {
                trg_t *t = v;
                fn_t *f = sl__strmap_get(&r->fns, t->spec.function);
                sl_qpoll_stats_t st;

                sl_qpoll_stats(t->poll, &st);
                switch (i) {
                case 0: trg_sample(b, tf[i].name, t, NULL, st.desired); break;
                case 1: trg_sample(b, tf[i].name, t, NULL, st.in_flight); break;
                case 2: trg_sample(b, tf[i].name, t, NULL, st.backlog); break;
                case 3:
                    trg_sample(b, tf[i].name, t, ",state=\"running\"",
                               f ? sl_invoker_running(f->inv) : 0);
                    trg_sample(b, tf[i].name, t, ",state=\"busy\"",
                               f ? sl_invoker_busy(f->inv) : 0);
                    break;
                case 4: trg_sample(b, tf[i].name, t, NULL, st.invocations); break;
                case 5: trg_sample(b, tf[i].name, t, NULL, st.errors); break;
                case 6: trg_sample(b, tf[i].name, t, NULL, st.messages_ok); break;
                case 7: trg_sample(b, tf[i].name, t, NULL, st.retries); break;
                case 8: trg_sample(b, tf[i].name, t, NULL, st.dead_lettered); break;
                default: trg_sample(b, tf[i].name, t, NULL, st.filtered); break;
                }
            }
        }
    }

    /* The autoscaler's inputs and outputs (sluice_scaler_*, docs/autoscaling.md). */
    scalers = sl_calloc(r->trgs.n + 1, sizeof(*scalers));
    names = sl_calloc(r->trgs.n + 1, sizeof(*names));
    pos = 0;
    while (sl__strmap_next(&r->trgs, &pos, &k, &v)) {
        scalers[n] = sl_qpoll_scaler(((trg_t *)v)->poll);
        names[n++] = k;
    }
    if ((len = sl_scaler_metrics_render(scalers, names, n, NULL, 0)) > 0) {
        char *text = sl_malloc((size_t)len + 1);

        sl_scaler_metrics_render(scalers, names, n, text, (size_t)len + 1);
        evbuffer_add(b, text, (size_t)len);
        sl_free(text);
    }
    sl_free(scalers);
    sl_free(names);
}

/* ---- Lifetime ---- */

sl_registry_t *
sl_registry_create(struct event_base *base, sl_store_t *store, const char *region,
                   const char *account)
{
    sl_registry_t *r = sl_calloc(1, sizeof(*r));

    r->base = base;
    r->store = store;
    r->region = sl_strdup(region ? region : "us-east-1");
    r->account = sl_strdup(account ? account : "000000000000");
    sl__strmap_init(&r->fns);
    sl__strmap_init(&r->trgs);
    r->defer_ev = event_new(base, -1, 0, on_deferred, r);
    return r;
}

/* Shutdown runs in two phases, each counted down from 1 so that a step that
 * completes at once cannot end its phase early: first every trigger stops
 * polling and drains its batches, then every function's instances stop. */
static void
on_function_stopped(void *arg)
{
    sl_registry_t *r = arg;

    if (--r->shutdown_pending == 0 && r->shutdown_done)
        r->shutdown_done(r->shutdown_arg);
}

static void
stop_functions(sl_registry_t *r)
{
    size_t pos = 0;
    const char *k;
    void *v;

    r->shutdown_pending = 1;
    while (sl__strmap_next(&r->fns, &pos, &k, &v)) {
        r->shutdown_pending++;
        sl_invoker_shutdown(((fn_t *)v)->inv, on_function_stopped, r);
    }
    on_function_stopped(r);
}

static void
on_trigger_stopped(void *arg)
{
    sl_registry_t *r = arg;

    if (--r->triggers_pending == 0)
        stop_functions(r);
}

void
sl_registry_shutdown(sl_registry_t *r, void (*done)(void *arg), void *arg)
{
    size_t pos = 0;
    const char *k;
    void *v;

    r->shutdown_done = done;
    r->shutdown_arg = arg;
    r->triggers_pending = 1;
    while (sl__strmap_next(&r->trgs, &pos, &k, &v)) {
        r->triggers_pending++;
        sl_qpoll_stop(((trg_t *)v)->poll, on_trigger_stopped, r);
    }
    on_trigger_stopped(r);
}

void
sl_registry_destroy(sl_registry_t *r)
{
    size_t pos = 0;
    const char *k;
    void *v;

    if (r == NULL)
        return;
    while (sl__strmap_next(&r->trgs, &pos, &k, &v))
        trg_free(v);
    pos = 0;
    while (sl__strmap_next(&r->fns, &pos, &k, &v))
        fn_free(v);
    while (r->deferred) {
        req_t *q = r->deferred;

        r->deferred = q->next;
        req_free(q);
    }
    sl__strmap_deinit(&r->trgs);
    sl__strmap_deinit(&r->fns);
    event_free(r->defer_ev);
    sl_free(r->region);
    sl_free(r->account);
    sl_free(r);
}
