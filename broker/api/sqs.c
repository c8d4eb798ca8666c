/* sqs.c - the SQS operations, implemented once against the JSON 1.0 protocol's
 * input and output objects (the query protocol is converted to and from these
 * by api/sqs_query.c, and the native API maps onto them too).
 *
 * A call validates its input, submits one store operation (two for the few
 * read-modify-write operations), and renders the output in the store's
 * callback. ReceiveMessage long polls by parking the call on a per-queue waiter
 * list that the store's notifications wake; each parked call has one timer for
 * its WaitTimeSeconds deadline. A call can be cancelled (its client went away)
 * while a store operation is outstanding: it is then freed when that callback
 * arrives, and never replies. */
#include "sqs.h"

#include "../consumers/redrive.h"

#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "sqs_attrs.h"
#include "sqs_msg.h"
#include "strmap.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define BATCH_MAX 10

struct sl_sqs {
    struct event_base *base;
    sl_store_t *store;
    char *region, *account, *advertise, *arn_prefix;
    sl_strmap_t waiters;            /* queue name -> first parked call */
    sl_redrive_t *redrive;          /* message move tasks */
    sl_sqs_call_t *calls;           /* every live call */
};

typedef bool (*op_fn)(sl_sqs_call_t *c);    /* true: pending; false: replied */

typedef struct op_def {
    const char *name;
    op_fn fn;
} op_def_t;

struct sl_sqs_call {
    sl_sqs_t *svc;
    const op_def_t *op;
    json_t *in;
    char *host;
    sl_sqs_reply_fn reply;
    void *arg;
    sl_sqs_call_t *prev, *next;     /* svc->calls */
    bool cancelled;
    int store_pending;
    char queue[SL_QUEUE_NAME_MAX + 1];
    /* ReceiveMessage */
    sl_recv_opts_t ropts;
    sl_sqs_sel_t sel;
    int wait_s;                     /* -1 until known */
    int64_t deadline_ms;            /* 0 until parked once */
    struct event *timer;
    sl_sqs_call_t *wprev, *wnext;
    bool parked;
    /* batches and read-modify-write */
    json_t *out;
    json_t *failed;
    sl_sqs_msgin_t *msgs;
    size_t nmsgs;
    const char *entry_ids[BATCH_MAX];   /* each entry's Id, as take_entries checked them */
    const char *ids[BATCH_MAX];     /* entry Id per store item */
    const char **receipts;
    sl_vis_change_t *vis;
    size_t nitems;
    /* CreateQueue / SetQueueAttributes, across the dead-letter target check */
    sl_queue_cfg_t cfg;
    sl_kvlist_t tags;
    bool have_cfg;
    void (*after_dlq_check)(sl_sqs_call_t *c);
};

/* ---- Helpers ---- */

static int64_t
wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

char *
sl_sqs_queue_url(const sl_sqs_t *svc, const char *host, const char *name)
{
    size_t n = strlen(name) + strlen(svc->account) + 300;
    char *u = sl_malloc(n);

    if (svc->advertise)
        snprintf(u, n, "%s/%s/%s", svc->advertise, svc->account, name);
    else
        snprintf(u, n, "http://%.200s/%s/%s", host && *host ? host : "127.0.0.1:9324",
                 svc->account, name);
    return u;
}

char *
sl_sqs_queue_arn(const sl_sqs_t *svc, const char *name)
{
    char *a = sl_malloc(strlen(svc->arn_prefix) + strlen(name) + 1);

    strcpy(a, svc->arn_prefix);
    strcat(a, name);
    return a;
}

static void
set_url(sl_sqs_call_t *c, json_t *o, const char *key, const char *name)
{
    char *u = sl_sqs_queue_url(c->svc, c->host, name);

    json_object_set_new(o, key, json_string(u));
    sl_free(u);
}

static void
call_free(sl_sqs_call_t *c)
{
    sl_sqs_t *svc = c->svc;

    if (c->prev)
        c->prev->next = c->next;
    else
        svc->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->timer)
        event_free(c->timer);
    for (size_t i = 0; i < c->nmsgs; i++)
        sl__sqs_msgin_deinit(&c->msgs[i]);
    sl_free(c->msgs);
    sl_free(c->receipts);
    sl_free(c->vis);
    json_decref(c->out);
    json_decref(c->failed);
    json_decref(c->in);
    if (c->have_cfg) {
        sl_queue_cfg_deinit(&c->cfg);
        sl_kvlist_deinit(&c->tags);
    }
    sl_free(c->host);
    sl_free(c);
}

/* Replies and frees. Always returns false so ops can `return finish(...)`. */
static bool
finish(sl_sqs_call_t *c, const sl_api_err_t *err, json_t *out)
{
    if (!c->cancelled)
        c->reply(c->arg, err, out);
    call_free(c);
    return false;
}

static bool
fail(sl_sqs_call_t *c, const sl_api_errkind_t *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
fail(sl_sqs_call_t *c, const sl_api_errkind_t *kind, const char *fmt, ...)
{
    sl_api_err_t e;
    va_list ap;

    va_start(ap, fmt);
    sl_api_err_vset(&e, kind, fmt, ap);
    va_end(ap);
    return finish(c, &e, NULL);
}

static bool
fail_err(sl_sqs_call_t *c, const sl_api_err_t *e)
{
    return finish(c, e, NULL);
}

static bool
ok(sl_sqs_call_t *c, json_t *out)
{
    bool r = finish(c, NULL, out);

    json_decref(out);
    return r;
}

/* A store callback arrived: false when the call was cancelled (and is now freed). */
static bool
resume(sl_sqs_call_t *c)
{
    c->store_pending--;
    if (c->cancelled) {
        call_free(c);
        return false;
    }
    return true;
}

/* Maps a store failure to the protocol's error. */
static bool
fail_store(sl_sqs_call_t *c, int status)
{
    if (status == SL_ENOTFOUND)
        return fail(c, &SL_ERR_NONEXISTENT_QUEUE, "The specified queue does not exist.");
    if (status == SL_EBACKEND || status == SL_ETIMEDOUT || status == SL_EAGAIN)
        return fail(c, &SL_ERR_UNAVAILABLE, "The store is unavailable; try again. (%s)",
                    sl_strerror(status));
    sl_log(SL_LOG_ERROR, "store failed op=%s queue=%s status=%s", c->op->name, c->queue,
           sl_strerror(status));
    return fail(c, &SL_ERR_INTERNAL, "Internal error (%s).", sl_strerror(status));
}

static const char *
get_str(const sl_sqs_call_t *c, const char *key)
{
    return json_string_value(json_object_get(c->in, key));
}

/* Fills c->queue from QueueUrl (the last path segment, whatever the host). */
static bool
take_queue(sl_sqs_call_t *c)
{
    const char *url = get_str(c, "QueueUrl"), *name;

    if (url == NULL || *url == '\0') {
        fail(c, &SL_ERR_MISSING_PARAM, "The request must contain the parameter QueueUrl.");
        return false;
    }
    name = strrchr(url, '/');
    name = name ? name + 1 : url;
    if (!sl_queue_name_is_valid(name)) {
        fail(c, &SL_ERR_NONEXISTENT_QUEUE, "The specified queue does not exist.");
        return false;
    }
    strcpy(c->queue, name);
    return true;
}

/* -1 on error (replied), 0 absent, 1 present. */
static int
take_int(sl_sqs_call_t *c, const char *key, long long min, long long max, long long *out)
{
    int rc = sl__json_int(c->in, key, min, max, out);

    if (rc < 0)
        fail(c, &SL_ERR_INVALID_PARAM,
             "Value for parameter %s is invalid. Reason: must be an integer between %lld and "
             "%lld.", key, min, max);
    return rc;
}

/* 1..80 of [A-Za-z0-9_-] (a loop: glibc's strspn builds a table on every call). */
static bool
batch_id_is_valid(const char *id)
{
    size_t n = 0;

    for (; id[n] != '\0'; n++) {
        unsigned char ch = (unsigned char)id[n];

        if (n == 80 || !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                         (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return false;
    }
    return n > 0;
}

/* Validates the Entries of a batch request; returns the array or NULL (replied). */
static json_t *
take_entries(sl_sqs_call_t *c)
{
    json_t *entries = json_object_get(c->in, "Entries"), *e;
    size_t i;

    if (entries == NULL || (json_is_array(entries) && json_array_size(entries) == 0)) {
        fail(c, &SL_ERR_EMPTY_BATCH, "There should be at least one %s in the request.",
             "Entry");
        return NULL;
    }
    if (!json_is_array(entries)) {
        fail(c, &SL_ERR_INVALID_PARAM, "Entries must be a list.");
        return NULL;
    }
    if (json_array_size(entries) > BATCH_MAX) {
        fail(c, &SL_ERR_TOO_MANY_ENTRIES,
             "Maximum number of entries per request are 10. You have sent %zu.",
             json_array_size(entries));
        return NULL;
    }
    json_array_foreach(entries, i, e) {
        const char *id = json_string_value(json_object_get(e, "Id"));

        if (!json_is_object(e) || id == NULL || !batch_id_is_valid(id)) {
            fail(c, &SL_ERR_INVALID_BATCH_ID,
                 "A batch entry id can only contain alphanumeric characters, hyphens and "
                 "underscores. It can be at most 80 letters long.");
            return NULL;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(id, c->entry_ids[k]) == 0) {
                fail(c, &SL_ERR_IDS_NOT_DISTINCT, "Id %s repeated.", id);
                return NULL;
            }
        }
        c->entry_ids[i] = id;
    }
    return entries;
}

static void
add_failed(json_t *failed, const char *id, const sl_api_err_t *e)
{
    json_t *f = json_object();

    json_object_set_new(f, "Id", json_string(id));
    json_object_set_new(f, "SenderFault", json_boolean(e->sender));
    json_object_set_new(f, "Code", json_string(e->shape));
    json_object_set_new(f, "Message", json_string(e->message));
    json_array_append_new(failed, f);
}

/* ---- Queues ---- */

/* Takes QueueUrl and reads the queue; cb continues the operation. */
static bool
get_queue(sl_sqs_call_t *c, sl_store_info_cb cb)
{
    int rc;

    if (!take_queue(c))
        return false;
    if ((rc = sl_store_queue_get(c->svc->store, c->queue, cb, c)) != SL_OK)
        return fail_store(c, rc);
    c->store_pending++;
    return true;
}


static bool
queue_is_fifo_name(const char *q)
{
    size_t n = strlen(q);

    return n > 5 && strcmp(q + n - 5, ".fifo") == 0;
}


static void
on_created(void *arg, int status, const sl_queue_info_t *info)
{
    sl_sqs_call_t *c = arg;
    json_t *out;

    if (!resume(c))
        return;
    if (status == SL_EEXIST) {
        fail(c, &SL_ERR_QUEUE_EXISTS,
             "A queue already exists with the same name and a different value for attribute(s)"
             ".");
        return;
    }
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    out = json_object();
    set_url(c, out, "QueueUrl", info->name);
    ok(c, out);
}

static bool
tags_to_kv(sl_sqs_call_t *c, const json_t *tags, sl_kvlist_t *kv)
{
    const char *k;
    json_t *v;

    if (tags == NULL || json_is_null(tags))
        return true;
    if (!json_is_object(tags) || json_object_size(tags) > 50) {
        fail(c, &SL_ERR_INVALID_PARAM, "Tags must be a map of at most 50 tags.");
        return false;
    }
    json_object_foreach((json_t *)tags, k, v) {
        if (!json_is_string(v) || strlen(k) == 0 || strlen(k) > 128 ||
            json_string_length(v) > 256) {
            fail(c, &SL_ERR_INVALID_PARAM, "Tag %.128s is invalid: keys are 1 to 128 "
                 "characters, values at most 256.", k);
            return false;
        }
        sl_kvlist_set(kv, k, json_string_value(v));
    }
    return true;
}

static void
on_dlq_checked(void *arg, int status, const sl_queue_info_t *info)
{
    sl_sqs_call_t *c = arg;

    if (!resume(c))
        return;
    if (status == SL_ENOTFOUND) {
        fail(c, &SL_ERR_INVALID_PARAM, "Value %.300s for parameter RedrivePolicy is invalid. "
             "Reason: Dead letter target does not exist.", c->cfg.redrive_policy);
        return;
    }
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    if (info->cfg->fifo != c->cfg.fifo) {
        fail(c, &SL_ERR_INVALID_PARAM, "Value %.300s for parameter RedrivePolicy is invalid. "
             "Reason: Dead-letter queue must be the same type of queue as the source.",
             c->cfg.redrive_policy);
        return;
    }
    c->after_dlq_check(c);
}

/* Runs next once the RedrivePolicy's target (if any) is known to exist and to be
 * of the same type, as SQS requires. */
static bool
check_dlq_then(sl_sqs_call_t *c, void (*next)(sl_sqs_call_t *c))
{
    int rc;

    if (c->cfg.dlq_name == NULL) {
        next(c);
        return true;
    }
    c->after_dlq_check = next;
    if ((rc = sl_store_queue_get(c->svc->store, c->cfg.dlq_name, on_dlq_checked, c)) != SL_OK)
        return fail_store(c, rc);
    c->store_pending++;
    return true;
}

static void
do_create(sl_sqs_call_t *c)
{
    int rc = sl_store_queue_create(c->svc->store, c->queue, &c->cfg, &c->tags, on_created, c);

    if (rc != SL_OK) {
        fail_store(c, rc);
        return;
    }
    c->store_pending++;
}

static bool
op_create_queue(sl_sqs_call_t *c)
{
    const char *name = get_str(c, "QueueName");
    sl_api_err_t e;
    bool is_fifo_name;

    if (name == NULL)
        return fail(c, &SL_ERR_MISSING_PARAM, "The request must contain the parameter QueueName.");
    if (!sl_queue_name_is_valid(name))
        return fail(c, &SL_ERR_INVALID_PARAM,
                    "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 "
                    "in length");
    strcpy(c->queue, name);
    sl_queue_cfg_init(&c->cfg);
    sl_kvlist_init(&c->tags);
    c->have_cfg = true;
    if (!sl__sqs_attrs_apply(&c->cfg, json_object_get(c->in, "Attributes"), true, &e))
        return fail_err(c, &e);
    is_fifo_name = queue_is_fifo_name(name);
    if (c->cfg.fifo != is_fifo_name)
        return fail(c, &SL_ERR_INVALID_PARAM,
                    "The name of a FIFO queue can only include alphanumeric characters, hyphens, "
                    "or underscores, must end with .fifo suffix and be 1 to 80 in length; a "
                    "queue whose name ends in .fifo must set FifoQueue=true.");
    if (!tags_to_kv(c, json_object_get(c->in, "tags"), &c->tags) ||
        !tags_to_kv(c, json_object_get(c->in, "Tags"), &c->tags))
        return false;
    return check_dlq_then(c, do_create);
}

static void
on_got_url(void *arg, int status, const sl_queue_info_t *info)
{
    sl_sqs_call_t *c = arg;
    json_t *out;

    if (!resume(c))
        return;
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    out = json_object();
    set_url(c, out, "QueueUrl", info->name);
    ok(c, out);
}

static bool
op_get_queue_url(sl_sqs_call_t *c)
{
    const char *name = get_str(c, "QueueName");
    int rc;

    if (name == NULL)
        return fail(c, &SL_ERR_MISSING_PARAM, "The request must contain the parameter QueueName.");
    if (!sl_queue_name_is_valid(name))
        return fail(c, &SL_ERR_NONEXISTENT_QUEUE, "The specified queue does not exist.");
    strcpy(c->queue, name);
    if ((rc = sl_store_queue_get(c->svc->store, name, on_got_url, c)) != SL_OK)
        return fail_store(c, rc);
    c->store_pending++;
    return true;
}

static char *
hex_encode(const char *s)
{
    size_t n = strlen(s);
    char *h = sl_malloc(2 * n + 1);

    for (size_t i = 0; i < n; i++)
        sprintf(h + 2 * i, "%02x", (unsigned char)s[i]);
    h[2 * n] = '\0';
    return h;
}

static char *
hex_decode(const char *h)
{
    size_t n = strlen(h);
    char *s;

    if (n % 2 || n > 2 * (SL_QUEUE_NAME_MAX + 1) || strspn(h, "0123456789abcdef") != n)
        return NULL;
    s = sl_malloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;

        sscanf(h + 2 * i, "%2x", &v);
        s[i] = (char)v;
    }
    s[n / 2] = '\0';
    return s;
}

static void
on_listed(void *arg, int status, char *const *names, size_t n)
{
    sl_sqs_call_t *c = arg;
    long long max = 1000;
    const char *tok = get_str(c, "NextToken");
    char *after = tok ? hex_decode(tok) : NULL;
    bool paged = json_object_get(c->in, "MaxResults") != NULL;
    json_t *out, *urls;
    size_t i = 0, taken = 0;

    if (!resume(c)) {
        sl_free(after);
        return;
    }
    if (status != SL_OK) {
        sl_free(after);
        fail_store(c, status);
        return;
    }
    sl__json_int(c->in, "MaxResults", 1, 1000, &max);
    out = json_object();
    urls = json_array();
    if (after)
        while (i < n && strcmp(names[i], after) <= 0)
            i++;
    for (; i < n && taken < (size_t)max; i++, taken++) {
        char *u = sl_sqs_queue_url(c->svc, c->host, names[i]);

        json_array_append_new(urls, json_string(u));
        sl_free(u);
    }
    if (taken)
        json_object_set_new(out, "QueueUrls", urls);
    else
        json_decref(urls);
    if (paged && i < n && taken) {
        char *next = hex_encode(names[i - 1]);

        json_object_set_new(out, "NextToken", json_string(next));
        sl_free(next);
    }
    sl_free(after);
    ok(c, out);
}

static bool
op_list_queues(sl_sqs_call_t *c)
{
    const char *prefix = get_str(c, "QueueNamePrefix");
    const char *tok = get_str(c, "NextToken");
    long long max;
    char *t;
    int rc;

    if (take_int(c, "MaxResults", 1, 1000, &max) < 0)
        return false;
    if (tok != NULL) {
        if ((t = hex_decode(tok)) == NULL)
            return fail(c, &SL_ERR_INVALID_PARAM, "Invalid NextToken.");
        sl_free(t);
    }
    if ((rc = sl_store_queue_list(c->svc->store, prefix, on_listed, c)) != SL_OK)
        return fail_store(c, rc);
    c->store_pending++;
    return true;
}

static void
on_done_empty(void *arg, int status)
{
    sl_sqs_call_t *c = arg;

    if (!resume(c))
        return;
    if (status != SL_OK)
        fail_store(c, status);
    else
        ok(c, json_object());
}

/* DeleteQueue and PurgeQueue: take QueueUrl, run one store operation, answer {}. */
static bool
queue_op(sl_sqs_call_t *c, int (*op)(sl_store_t *, const char *, sl_store_done_cb, void *))
{
    int rc;

    if (!take_queue(c))
        return false;
    if ((rc = op(c->svc->store, c->queue, on_done_empty, c)) != SL_OK)
        return fail_store(c, rc);
    c->store_pending++;
    return true;
}

static bool
op_delete_queue(sl_sqs_call_t *c)
{
    return queue_op(c, sl_store_queue_delete);
}

static bool
op_purge_queue(sl_sqs_call_t *c)
{
    return queue_op(c, sl_store_queue_purge);
}

static void
on_got_attrs(void *arg, int status, const sl_queue_info_t *info)
{
    sl_sqs_call_t *c = arg;
    sl_api_err_t e;
    json_t *attrs, *out;
    char *arn;

    if (!resume(c))
        return;
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    arn = sl_sqs_queue_arn(c->svc, info->name);
    attrs = sl__sqs_attrs_render(info, arn, json_object_get(c->in, "AttributeNames"), &e);
    sl_free(arn);
    if (attrs == NULL) {
        fail_err(c, &e);
        return;
    }
    out = json_object();
    if (json_object_size(attrs))
        json_object_set_new(out, "Attributes", attrs);
    else
        json_decref(attrs);
    ok(c, out);
}

static bool
op_get_queue_attributes(sl_sqs_call_t *c)
{
    return get_queue(c, on_got_attrs);
}

static void
do_set(sl_sqs_call_t *c)
{
    int rc = sl_store_queue_set(c->svc->store, c->queue, &c->cfg, on_done_empty, c);

    if (rc != SL_OK) {
        fail_store(c, rc);
        return;
    }
    c->store_pending++;
}

static void
on_got_for_set(void *arg, int status, const sl_queue_info_t *info)
{
    sl_sqs_call_t *c = arg;
    sl_api_err_t e;

    if (!resume(c))
        return;
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    sl_queue_cfg_copy(&c->cfg, info->cfg);
    sl_kvlist_init(&c->tags);
    c->have_cfg = true;
    if (!sl__sqs_attrs_apply(&c->cfg, json_object_get(c->in, "Attributes"), false, &e)) {
        fail_err(c, &e);
        return;
    }
    check_dlq_then(c, do_set);
}

static bool
op_set_queue_attributes(sl_sqs_call_t *c)
{
    int rc;

    if (!take_queue(c))
        return false;
    if (!json_is_object(json_object_get(c->in, "Attributes")))
        return fail(c, &SL_ERR_MISSING_PARAM, "The request must contain the parameter Attributes.");
    if ((rc = sl_store_queue_get(c->svc->store, c->queue, on_got_for_set, c)) != SL_OK)
        return fail_store(c, rc);
    c->store_pending++;
    return true;
}

static void
on_got_tags(void *arg, int status, const sl_queue_info_t *info)
{
    sl_sqs_call_t *c = arg;
    json_t *out, *tags;

    if (!resume(c))
        return;
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    out = json_object();
    if (info->tags->n) {
        tags = json_object();
        for (size_t i = 0; i < info->tags->n; i++)
            json_object_set_new(tags, info->tags->v[i].key, json_string(info->tags->v[i].val));
        json_object_set_new(out, "Tags", tags);
    }
    ok(c, out);
}

static bool
op_list_queue_tags(sl_sqs_call_t *c)
{
    return get_queue(c, on_got_tags);
}

static bool
op_tag_queue(sl_sqs_call_t *c)
{
    const json_t *tags = json_object_get(c->in, "Tags");
    sl_kvlist_t kv;
    int rc;

    if (!take_queue(c))
        return false;
    if (tags == NULL)
        tags = json_object_get(c->in, "tags");
    if (!json_is_object(tags) || json_object_size(tags) == 0)
        return fail(c, &SL_ERR_MISSING_PARAM, "The request must contain the parameter Tags.");
    sl_kvlist_init(&kv);
    if (!tags_to_kv(c, tags, &kv)) {
        sl_kvlist_deinit(&kv);
        return false;
    }
    rc = sl_store_queue_tag(c->svc->store, c->queue, &kv, NULL, 0, on_done_empty, c);
    sl_kvlist_deinit(&kv);
    if (rc != SL_OK)
        return fail_store(c, rc);
    c->store_pending++;
    return true;
}

static bool
op_untag_queue(sl_sqs_call_t *c)
{
    const json_t *keys = json_object_get(c->in, "TagKeys"), *v;
    const char *list[64];
    size_t i, n = 0;
    int rc;

    if (!take_queue(c))
        return false;
    if (!json_is_array(keys) || json_array_size(keys) == 0)
        return fail(c, &SL_ERR_MISSING_PARAM, "The request must contain the parameter TagKeys.");
    if (json_array_size(keys) > 64)
        return fail(c, &SL_ERR_INVALID_PARAM, "Too many TagKeys.");
    json_array_foreach(keys, i, v) {
        if (!json_is_string(v))
            return fail(c, &SL_ERR_INVALID_PARAM, "TagKeys must be strings.");
        list[n++] = json_string_value(v);
    }
    if ((rc = sl_store_queue_tag(c->svc->store, c->queue, NULL, list, n, on_done_empty, c)) !=
        SL_OK)
        return fail_store(c, rc);
    c->store_pending++;
    return true;
}

static void
on_dlq_sources(void *arg, int status, char *const *names, size_t n)
{
    sl_sqs_call_t *c = arg;
    json_t *out, *urls;

    if (!resume(c))
        return;
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    out = json_object();
    urls = json_array();
    for (size_t i = 0; i < n; i++) {
        char *u = sl_sqs_queue_url(c->svc, c->host, names[i]);

        json_array_append_new(urls, json_string(u));
        sl_free(u);
    }
    json_object_set_new(out, "queueUrls", urls);
    ok(c, out);
}

static void
on_dlq_exists(void *arg, int status, const sl_queue_info_t *info)
{
    sl_sqs_call_t *c = arg;
    int rc;

    (void)info;
    if (!resume(c))
        return;
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    if ((rc = sl_store_queue_dlq_sources(c->svc->store, c->queue, on_dlq_sources, c)) != SL_OK) {
        fail_store(c, rc);
        return;
    }
    c->store_pending++;
}

static bool
op_list_dead_letter_source_queues(sl_sqs_call_t *c)
{
    return get_queue(c, on_dlq_exists);
}

/* ---- Sending ---- */

/* Why the store refused one message, in SQS's words. */
static void
send_err(sl_send_err_t why, const sl_sqs_msgin_t *m, sl_api_err_t *e)
{
    switch (why) {
    case SL_SEND_TOO_LONG:
        sl_api_err_set(e, &SL_ERR_INVALID_PARAM,
                       "One or more parameters are invalid. Reason: Message must be shorter "
                       "than the queue's MaximumMessageSize.");
        break;
    case SL_SEND_NEED_GROUP_ID:
        sl_api_err_set(e, &SL_ERR_MISSING_PARAM,
                       "The request must contain the parameter MessageGroupId.");
        break;
    case SL_SEND_NEED_DEDUP_ID:
        sl_api_err_set(e, &SL_ERR_INVALID_PARAM,
                       "The queue should either have ContentBasedDeduplication enabled or "
                       "MessageDeduplicationId provided explicitly");
        break;
    case SL_SEND_DELAY_ON_FIFO:
        sl_api_err_set(e, &SL_ERR_INVALID_PARAM,
                       "Value %d for parameter DelaySeconds is invalid. Reason: The request "
                       "include parameter that is not valid for this queue type.",
                       m->in.delay_s);
        break;
    case SL_SEND_NOT_FIFO_FIELD:
        sl_api_err_set(e, &SL_ERR_INVALID_PARAM,
                       "The request include parameter MessageDeduplicationId that is not valid "
                       "for this queue type");
        break;
    default:
        sl_api_err_set(e, &SL_ERR_INTERNAL, "Internal error.");
        break;
    }
}

static json_t *
send_result(const sl_sqs_msgin_t *m, const sl_send_result_t *r)
{
    json_t *o = json_object();

    json_object_set_new(o, "MessageId", json_string(r->id));
    json_object_set_new(o, "MD5OfMessageBody", json_string(m->in.md5_body));
    if (m->in.nattrs)
        json_object_set_new(o, "MD5OfMessageAttributes", json_string(m->in.md5_attrs));
    if (m->md5_sys[0])
        json_object_set_new(o, "MD5OfMessageSystemAttributes", json_string(m->md5_sys));
    if (r->seq) {
        char buf[24];

        snprintf(buf, sizeof(buf), "%020" PRIu64, r->seq);
        json_object_set_new(o, "SequenceNumber", json_string(buf));
    }
    return o;
}

static bool
send_status(sl_sqs_call_t *c, int status)
{
    if (status == SL_EFULL) {
        fail(c, &SL_ERR_BATCH_TOO_LONG,
             "Batch requests cannot be longer than the queue's MaximumMessageSize.");
        return false;
    }
    if (status != SL_OK) {
        fail_store(c, status);
        return false;
    }
    return true;
}

static void
on_sent_one(void *arg, int status, const sl_send_result_t *res, size_t n)
{
    sl_sqs_call_t *c = arg;
    sl_api_err_t e;

    if (!resume(c))
        return;
    if (status == SL_EFULL) {           /* the batch is this one message */
        send_err(SL_SEND_TOO_LONG, &c->msgs[0], &e);
        fail_err(c, &e);
        return;
    }
    if (!send_status(c, status))
        return;
    sl_assert(n == 1);
    if (res[0].err != SL_SEND_OK) {
        send_err(res[0].err, &c->msgs[0], &e);
        fail_err(c, &e);
        return;
    }
    ok(c, send_result(&c->msgs[0], &res[0]));
}

static bool
op_send_message(sl_sqs_call_t *c)
{
    sl_api_err_t e;
    int rc;

    if (!take_queue(c))
        return false;
    c->msgs = sl_calloc(1, sizeof(*c->msgs));
    c->nmsgs = 1;
    if (!sl__sqs_msgin_parse(c->in, queue_is_fifo_name(c->queue), &c->msgs[0], &e))
        return fail_err(c, &e);
    if ((rc = sl_store_send(c->svc->store, c->queue, &c->msgs[0].in, 1, on_sent_one, c)) != SL_OK)
        return fail_store(c, rc);
    c->store_pending++;
    return true;
}

static void
on_sent_batch(void *arg, int status, const sl_send_result_t *res, size_t n)
{
    sl_sqs_call_t *c = arg;
    json_t *out, *good;

    if (!resume(c) || !send_status(c, status))
        return;
    good = json_array();
    for (size_t i = 0; i < n; i++) {
        if (res[i].err != SL_SEND_OK) {
            sl_api_err_t e;

            send_err(res[i].err, &c->msgs[i], &e);
            add_failed(c->failed, c->ids[i], &e);
        } else {
            json_t *r = send_result(&c->msgs[i], &res[i]);

            json_object_set_new(r, "Id", json_string(c->ids[i]));
            json_array_append_new(good, r);
        }
    }
    out = json_object();
    json_object_set_new(out, "Successful", good);
    json_object_set(out, "Failed", c->failed);
    ok(c, out);
}

/* Builds the store's message array from a send batch's entries; invalid
 * entries go to c->failed. */
static void
collect_batch(sl_sqs_call_t *c, const json_t *entries, sl_msg_in_t *ins)
{
    size_t i;
    json_t *en;

    /* Not zeroed: sl__sqs_msgin_parse initialises what it uses (~700 B each). */
    c->msgs = sl_malloc(json_array_size(entries) * sizeof(*c->msgs));
    json_array_foreach(entries, i, en) {
        sl_sqs_msgin_t *m = &c->msgs[c->nmsgs];
        sl_api_err_t e;

        if (!sl__sqs_msgin_parse(en, queue_is_fifo_name(c->queue), m, &e)) {
            sl__sqs_msgin_deinit(m);
            add_failed(c->failed, c->entry_ids[i], &e);
            continue;
        }
        c->ids[c->nmsgs] = c->entry_ids[i];
        c->nmsgs++;
    }
    for (size_t k = 0; k < c->nmsgs; k++)
        ins[k] = c->msgs[k].in;
}

static bool
op_send_message_batch(sl_sqs_call_t *c)
{
    sl_msg_in_t ins[BATCH_MAX];
    json_t *entries, *out;
    int rc;

    if (!take_queue(c) || (entries = take_entries(c)) == NULL)
        return false;
    c->failed = json_array();
    collect_batch(c, entries, ins);
    if (c->nmsgs == 0) {
        out = json_object();
        json_object_set_new(out, "Successful", json_array());
        json_object_set(out, "Failed", c->failed);
        return ok(c, out);
    }
    if ((rc = sl_store_send(c->svc->store, c->queue, ins, c->nmsgs, on_sent_batch, c)) != SL_OK)
        return fail_store(c, rc);
    c->store_pending++;
    return true;
}

/* ---- Receiving ---- */

static void do_receive(sl_sqs_call_t *c);

static void
unpark(sl_sqs_call_t *c)
{
    if (!c->parked)
        return;
    if (c->wprev) {
        c->wprev->wnext = c->wnext;
    } else if (c->wnext) {
        sl__strmap_put(&c->svc->waiters, c->queue, c->wnext);
    } else {
        sl__strmap_del(&c->svc->waiters, c->queue);
    }
    if (c->wnext)
        c->wnext->wprev = c->wprev;
    c->wprev = c->wnext = NULL;
    c->parked = false;
}

static void
park(sl_sqs_call_t *c)
{
    sl_sqs_call_t *head = sl__strmap_get(&c->svc->waiters, c->queue);

    c->wprev = NULL;
    c->wnext = head;
    if (head)
        head->wprev = c;
    sl__strmap_put(&c->svc->waiters, c->queue, c);
    c->parked = true;
}

static void
on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
    sl_sqs_call_t *c = arg;

    (void)fd;
    (void)what;
    unpark(c);
    if (c->store_pending == 0)
        ok(c, json_object());
    else
        c->deadline_ms = 1;     /* the receive under way finishes the call */
}

static void
on_store_notify(void *arg, const char *queue)
{
    sl_sqs_t *svc = arg;
    sl_sqs_call_t *c = sl__strmap_del(&svc->waiters, queue), *next;

    /* Detach the whole list first: woken calls may park again. */
    for (; c != NULL; c = next) {
        next = c->wnext;
        c->wprev = c->wnext = NULL;
        c->parked = false;
        do_receive(c);
    }
}

/* Waits (long poll) or answers empty. */
static void
wait_or_finish(sl_sqs_call_t *c)
{
    int64_t now = wall_ms();

    if (c->wait_s <= 0 || (c->deadline_ms != 0 && now >= c->deadline_ms)) {
        ok(c, json_object());
        return;
    }
    if (c->deadline_ms == 0) {
        struct timeval tv = { c->wait_s, 0 };

        c->deadline_ms = now + (int64_t)c->wait_s * 1000;
        c->timer = evtimer_new(c->svc->base, on_wait_timeout, c);
        evtimer_add(c->timer, &tv);
    }
    park(c);
}

static void
on_wait_cfg(void *arg, int status, const sl_queue_info_t *info)
{
    sl_sqs_call_t *c = arg;

    if (!resume(c))
        return;
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    c->wait_s = (int)info->cfg->wait_s;
    wait_or_finish(c);
}

static void
on_received(void *arg, int status, const sl_received_t *msgs, size_t n)
{
    sl_sqs_call_t *c = arg;
    json_t *out, *list;
    int rc;

    if (!resume(c))
        return;
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    if (n == 0) {
        if (c->deadline_ms == 1) {          /* timed out while this receive ran */
            ok(c, json_object());
            return;
        }
        if (c->wait_s < 0) {                /* learn the queue's default wait */
            if ((rc = sl_store_queue_get(c->svc->store, c->queue, on_wait_cfg, c)) != SL_OK) {
                fail_store(c, rc);
                return;
            }
            c->store_pending++;
            return;
        }
        wait_or_finish(c);
        return;
    }
    out = json_object();
    list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, sl__sqs_msg_render(msgs[i].msg, msgs[i].receipt, &c->sel,
                                                       c->svc->account, c->svc->arn_prefix));
    json_object_set_new(out, "Messages", list);
    ok(c, out);
}

static void
do_receive(sl_sqs_call_t *c)
{
    int rc = sl_store_receive(c->svc->store, c->queue, &c->ropts, on_received, c);

    if (rc != SL_OK) {
        fail_store(c, rc);
        return;
    }
    c->store_pending++;
}

static bool
op_receive_message(sl_sqs_call_t *c)
{
    long long max = 1, vis = -1, wait = -1;

    if (!take_queue(c))
        return false;
    if (take_int(c, "MaxNumberOfMessages", 1, 10, &max) < 0 ||
        take_int(c, "VisibilityTimeout", 0, 43200, &vis) < 0 ||
        take_int(c, "WaitTimeSeconds", 0, 20, &wait) < 0)
        return false;
    c->ropts.max = (uint32_t)max;
    c->ropts.visibility_s = (int32_t)vis;
    c->wait_s = (int)wait;
    sl__sqs_sel_parse(c->in, &c->sel);
    do_receive(c);
    return true;
}

/* ---- Deleting and visibility ---- */

static void
on_deleted_one(void *arg, int status, const int *rcs, size_t n)
{
    sl_sqs_call_t *c = arg;

    if (!resume(c))
        return;
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    sl_assert(n == 1);
    if (rcs[0] == SL_EPROTO) {
        fail(c, &SL_ERR_RECEIPT_INVALID, "The input receipt handle \"%.100s\" is not a valid "
             "receipt handle.", c->receipts[0]);
        return;
    }
    ok(c, json_object());           /* already deleted or stale: SQS answers success */
}

static bool
op_delete_message(sl_sqs_call_t *c)
{
    const char *r = get_str(c, "ReceiptHandle");
    int rc;

    if (!take_queue(c))
        return false;
    if (r == NULL)
        return fail(c, &SL_ERR_MISSING_PARAM,
                    "The request must contain the parameter ReceiptHandle.");
    c->receipts = sl_malloc(sizeof(*c->receipts));
    c->receipts[0] = r;
    c->nitems = 1;
    if ((rc = sl_store_delete_batch(c->svc->store, c->queue, c->receipts, 1, on_deleted_one,
                                    c)) != SL_OK)
        return fail_store(c, rc);
    c->store_pending++;
    return true;
}

static void
on_batch_done(void *arg, int status, const int *rcs, size_t n)
{
    sl_sqs_call_t *c = arg;
    bool vis = c->vis != NULL;
    json_t *out, *good;

    if (!resume(c))
        return;
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    good = json_array();
    for (size_t i = 0; i < n; i++) {
        sl_api_err_t e;

        if (rcs[i] == SL_EPROTO) {
            sl_api_err_set(&e, &SL_ERR_RECEIPT_INVALID, "The input receipt handle \"%.100s\" "
                           "is not a valid receipt handle.", c->receipts[i]);
            add_failed(c->failed, c->ids[i], &e);
        } else if (rcs[i] == SL_ENOTFOUND && vis) {
            sl_api_err_set(&e, &SL_ERR_NOT_INFLIGHT, "Message does not exist or is not "
                           "available for visibility timeout change.");
            add_failed(c->failed, c->ids[i], &e);
        } else {
            json_t *s = json_object();

            json_object_set_new(s, "Id", json_string(c->ids[i]));
            json_array_append_new(good, s);
        }
    }
    out = json_object();
    json_object_set_new(out, "Successful", good);
    json_object_set(out, "Failed", c->failed);
    ok(c, out);
}

/* Shared by DeleteMessageBatch and ChangeMessageVisibilityBatch. */
static bool
receipt_batch(sl_sqs_call_t *c, bool vis)
{
    json_t *entries, *en;
    size_t i;
    int rc;

    if (!take_queue(c) || (entries = take_entries(c)) == NULL)
        return false;
    c->failed = json_array();
    c->receipts = sl_calloc(json_array_size(entries), sizeof(*c->receipts));
    if (vis)
        c->vis = sl_calloc(json_array_size(entries), sizeof(*c->vis));
    json_array_foreach(entries, i, en) {
        const char *id = c->entry_ids[i];
        const char *r = json_string_value(json_object_get(en, "ReceiptHandle"));
        long long t = 0;
        sl_api_err_t e;

        if (r == NULL) {
            sl_api_err_set(&e, &SL_ERR_MISSING_PARAM,
                           "The request must contain the parameter ReceiptHandle.");
            add_failed(c->failed, id, &e);
            continue;
        }
        if (vis && sl__json_int(en, "VisibilityTimeout", 0, 43200, &t) != 1) {
            sl_api_err_set(&e, &SL_ERR_INVALID_PARAM, "Value for parameter VisibilityTimeout "
                           "is invalid. Reason: must be an integer between 0 and 43200.");
            add_failed(c->failed, id, &e);
            continue;
        }
        c->ids[c->nitems] = id;
        c->receipts[c->nitems] = r;
        if (vis) {
            c->vis[c->nitems].receipt = r;
            c->vis[c->nitems].visibility_ms = (uint32_t)t * 1000;
        }
        c->nitems++;
    }
    if (vis)
        rc = sl_store_change_visibility(c->svc->store, c->queue, c->vis, c->nitems, on_batch_done,
                                        c);
    else
        rc = sl_store_delete_batch(c->svc->store, c->queue, c->receipts, c->nitems, on_batch_done,
                                   c);
    if (rc != SL_OK)
        return fail_store(c, rc);
    c->store_pending++;
    return true;
}

static bool
op_delete_message_batch(sl_sqs_call_t *c)
{
    return receipt_batch(c, false);
}

static bool
op_change_message_visibility_batch(sl_sqs_call_t *c)
{
    return receipt_batch(c, true);
}

static void
on_vis_changed(void *arg, int status, const int *rcs, size_t n)
{
    sl_sqs_call_t *c = arg;

    if (!resume(c))
        return;
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    sl_assert(n == 1);
    if (rcs[0] == SL_EPROTO)
        fail(c, &SL_ERR_RECEIPT_INVALID, "The input receipt handle \"%.100s\" is not a valid "
             "receipt handle.", c->vis[0].receipt);
    else if (rcs[0] == SL_ENOTFOUND)
        fail(c, &SL_ERR_NOT_INFLIGHT, "Message does not exist or is not available for "
             "visibility timeout change.");
    else
        ok(c, json_object());
}

static bool
op_change_message_visibility(sl_sqs_call_t *c)
{
    const char *r = get_str(c, "ReceiptHandle");
    long long t = 0;
    int rc;

    if (!take_queue(c))
        return false;
    if (r == NULL)
        return fail(c, &SL_ERR_MISSING_PARAM,
                    "The request must contain the parameter ReceiptHandle.");
    rc = take_int(c, "VisibilityTimeout", 0, 43200, &t);
    if (rc < 0)
        return false;
    if (rc == 0)
        return fail(c, &SL_ERR_MISSING_PARAM,
                    "The request must contain the parameter VisibilityTimeout.");
    c->vis = sl_malloc(sizeof(*c->vis));
    c->vis[0].receipt = r;
    c->vis[0].visibility_ms = (uint32_t)t * 1000;
    if ((rc = sl_store_change_visibility(c->svc->store, c->queue, c->vis, 1, on_vis_changed, c)) !=
        SL_OK)
        return fail_store(c, rc);
    c->store_pending++;
    return true;
}

static bool
op_unsupported(sl_sqs_call_t *c)
{
    return fail(c, &SL_ERR_UNSUPPORTED, "%s is not supported by sluice yet.", c->op->name);
}

/* ---- Message move tasks (dead-letter redrive) ---- */

/* The queue name an ARN ends with, or NULL. */
static const char *
arn_queue(const char *arn)
{
    const char *c = arn ? strrchr(arn, ':') : NULL;

    return c && strncmp(arn, "arn:", 4) == 0 && sl_queue_name_is_valid(c + 1) ? c + 1 : NULL;
}

static void
on_move_started(void *arg, int status, const sl_redrive_task_info_t *info)
{
    sl_sqs_call_t *c = arg;
    json_t *out;

    if (!resume(c))
        return;
    switch (status) {
    case SL_OK:
        out = json_object();
        json_object_set_new(out, "TaskHandle", json_string(info->handle));
        ok(c, out);
        return;
    case SL_ENOTFOUND:
        fail(c, &SL_ERR_RESOURCE_NOT_FOUND, "The source or destination queue does not exist.");
        return;
    case SL_EEXIST:
        fail(c, &SL_ERR_INVALID_PARAM, "A message move task is already running for this "
             "source queue.");
        return;
    case SL_EINVAL:
        fail(c, &SL_ERR_INVALID_PARAM, "The source queue is not a dead-letter queue of any "
             "queue, or the destination does not fit it.");
        return;
    default:
        fail_store(c, status);
    }
}

static bool
op_start_message_move_task(sl_sqs_call_t *c)
{
    const char *src = arn_queue(get_str(c, "SourceArn"));
    const char *dst_arn = get_str(c, "DestinationArn");
    const char *dst = dst_arn ? arn_queue(dst_arn) : NULL;
    long long rate = 0;
    int rc;

    if (get_str(c, "SourceArn") == NULL)
        return fail(c, &SL_ERR_MISSING_PARAM, "The request must contain the parameter SourceArn.");
    if (src == NULL || (dst_arn != NULL && dst == NULL))
        return fail(c, &SL_ERR_INVALID_PARAM, "SourceArn and DestinationArn must be queue ARNs.");
    if (take_int(c, "MaxNumberOfMessagesPerSecond", 1, SL_REDRIVE_RATE_MAX, &rate) < 0)
        return false;
    snprintf(c->queue, sizeof(c->queue), "%s", src);
    rc = sl_redrive_start(c->svc->redrive, src, dst, (uint32_t)rate, on_move_started, c);
    if (rc != SL_OK)
        return fail_store(c, rc);
    c->store_pending++;
    return true;
}

static bool
op_list_message_move_tasks(sl_sqs_call_t *c)
{
    const char *src = arn_queue(get_str(c, "SourceArn"));
    sl_redrive_task_info_t info[SL_REDRIVE_HISTORY + 1];
    long long max = 1;
    json_t *out, *list;
    size_t n;

    if (src == NULL)
        return fail(c, &SL_ERR_MISSING_PARAM, "The request must contain a queue ARN in SourceArn.");
    if (take_int(c, "MaxResults", 1, 10, &max) < 0)
        return false;
    n = sl_redrive_list(c->svc->redrive, src, info, (size_t)max);
    out = json_object();
    list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_object();

        if (info[i].handle[0])
            json_object_set_new(t, "TaskHandle", json_string(info[i].handle));
        json_object_set_new(t, "Status", json_string(info[i].status));
        json_object_set_new(t, "SourceArn", json_string(get_str(c, "SourceArn")));
        if (info[i].dest[0]) {
            char *arn = sl_sqs_queue_arn(c->svc, info[i].dest);

            json_object_set_new(t, "DestinationArn", json_string(arn));
            sl_free(arn);
        }
        if (info[i].rate)
            json_object_set_new(t, "MaxNumberOfMessagesPerSecond", json_integer(info[i].rate));
        json_object_set_new(t, "ApproximateNumberOfMessagesMoved",
                            json_integer((json_int_t)info[i].moved));
        json_object_set_new(t, "ApproximateNumberOfMessagesToMove",
                            json_integer((json_int_t)info[i].to_move));
        if (info[i].failure[0])
            json_object_set_new(t, "FailureReason", json_string(info[i].failure));
        json_object_set_new(t, "StartedTimestamp", json_integer(info[i].started_ms));
        json_array_append_new(list, t);
    }
    json_object_set_new(out, "Results", list);
    return ok(c, out);
}

static bool
op_cancel_message_move_task(sl_sqs_call_t *c)
{
    const char *h = get_str(c, "TaskHandle");
    uint64_t moved = 0;
    json_t *out;

    if (h == NULL)
        return fail(c, &SL_ERR_MISSING_PARAM, "The request must contain the parameter TaskHandle.");
    if (sl_redrive_cancel(c->svc->redrive, h, &moved) != SL_OK)
        return fail(c, &SL_ERR_RESOURCE_NOT_FOUND, "No running message move task has that handle.");
    out = json_object();
    json_object_set_new(out, "ApproximateNumberOfMessagesMoved", json_integer((json_int_t)moved));
    return ok(c, out);
}

/* ---- Dispatch ---- */

static const op_def_t ops[] = {
    { "CreateQueue", op_create_queue },
    { "GetQueueUrl", op_get_queue_url },
    { "ListQueues", op_list_queues },
    { "DeleteQueue", op_delete_queue },
    { "GetQueueAttributes", op_get_queue_attributes },
    { "SetQueueAttributes", op_set_queue_attributes },
    { "SendMessage", op_send_message },
    { "SendMessageBatch", op_send_message_batch },
    { "ReceiveMessage", op_receive_message },
    { "DeleteMessage", op_delete_message },
    { "DeleteMessageBatch", op_delete_message_batch },
    { "ChangeMessageVisibility", op_change_message_visibility },
    { "ChangeMessageVisibilityBatch", op_change_message_visibility_batch },
    { "PurgeQueue", op_purge_queue },
    { "ListDeadLetterSourceQueues", op_list_dead_letter_source_queues },
    { "TagQueue", op_tag_queue },
    { "UntagQueue", op_untag_queue },
    { "ListQueueTags", op_list_queue_tags },
    { "AddPermission", op_unsupported },
    { "RemovePermission", op_unsupported },
    { "StartMessageMoveTask", op_start_message_move_task },
    { "ListMessageMoveTasks", op_list_message_move_tasks },
    { "CancelMessageMoveTask", op_cancel_message_move_task },
    { NULL, NULL },
};

static const op_def_t *
find_op(const char *op)
{
    const op_def_t *d;

    for (d = ops; d->name != NULL; d++)
        if (strcmp(d->name, op) == 0)
            return d;
    return NULL;
}

bool
sl_sqs_is_action(const char *op)
{
    return find_op(op) != NULL;
}

sl_sqs_call_t *
sl_sqs_call(sl_sqs_t *svc, const char *op, json_t *in, const char *host, sl_sqs_reply_fn reply,
            void *arg)
{
    sl_sqs_call_t *c = sl_calloc(1, sizeof(*c));
    const op_def_t *d;

    c->svc = svc;
    c->reply = reply;
    c->arg = arg;
    c->host = host ? sl_strdup(host) : NULL;
    c->wait_s = -1;
    c->in = json_is_object(in) ? json_incref(in) : json_object();
    c->next = svc->calls;
    if (svc->calls)
        svc->calls->prev = c;
    svc->calls = c;
    d = find_op(op);
    if (d == NULL) {
        static const op_def_t unknown = { "Unknown", NULL };

        c->op = &unknown;
        fail(c, &SL_ERR_INVALID_ACTION, "The action %.64s is not valid for this endpoint.", op);
        return NULL;
    }
    c->op = d;
    if (!json_is_object(in)) {
        fail(c, &SL_ERR_SERIALIZATION, "The request body must be a JSON object.");
        return NULL;
    }
    return d->fn(c) ? c : NULL;
}

void
sl_sqs_call_cancel(sl_sqs_call_t *c)
{
    if (c == NULL)
        return;
    unpark(c);
    if (c->timer)
        evtimer_del(c->timer);
    if (c->store_pending > 0)
        c->cancelled = true;    /* freed when the store's callback arrives */
    else
        call_free(c);
}

sl_sqs_t *
sl_sqs_create(struct event_base *base, sl_store_t *store, const sl_sqs_opts_t *o)
{
    sl_sqs_t *svc = sl_calloc(1, sizeof(*svc));
    size_t n;

    svc->base = base;
    svc->store = store;
    svc->region = sl_strdup(o->region ? o->region : "us-east-1");
    svc->account = sl_strdup(o->account ? o->account : "000000000000");
    if (o->advertise_url && *o->advertise_url) {
        svc->advertise = sl_strdup(o->advertise_url);
        n = strlen(svc->advertise);
        while (n > 0 && svc->advertise[n - 1] == '/')
            svc->advertise[--n] = '\0';
    }
    n = strlen(svc->region) + strlen(svc->account) + 32;
    svc->arn_prefix = sl_malloc(n);
    snprintf(svc->arn_prefix, n, "arn:aws:sqs:%s:%s:", svc->region, svc->account);
    sl__strmap_init(&svc->waiters);
    svc->redrive = sl_redrive_create(base, store);
    sl_store_listen(store, on_store_notify, svc);
    return svc;
}

void
sl_sqs_destroy(sl_sqs_t *svc)
{
    if (svc == NULL)
        return;
    sl_redrive_destroy(svc->redrive);   /* its start callbacks never run after this */
    while (svc->calls) {
        sl_sqs_call_t *c = svc->calls;

        unpark(c);
        call_free(c);
    }
    sl_store_unlisten(svc->store, on_store_notify, svc);
    sl__strmap_deinit(&svc->waiters);
    sl_free(svc->region);
    sl_free(svc->account);
    sl_free(svc->advertise);
    sl_free(svc->arn_prefix);
    sl_free(svc);
}
