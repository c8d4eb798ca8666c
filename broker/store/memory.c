/* memory.c - the embedded store: everything in this process's memory.
 *
 * Operations run at once when submitted (they only touch memory), and their
 * callbacks are deferred through one libevent event so that no callback ever runs
 * inside the call that submitted it, which is the rule that lets callers be
 * written once for every backend. Results that point at messages hold a
 * reference, so a purge between the operation and its callback cannot free what
 * the callback is about to read. All deadlines of all queues share one heap and
 * one timer. The outbox is a list: it is short-lived work, scanned on claim. */
#include "memory.h"

#include "mqueue.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "strmap.h"
#include "vheap.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

typedef enum {
    OP_DONE, OP_INFO, OP_NAMES, OP_SEND, OP_RECV, OP_BATCH, OP_OUTBOX, OP_NOTIFY, OP_DOC, OP_DOCS,
} op_kind_t;

typedef struct op {
    struct op *next;
    op_kind_t kind;
    int status;
    void *cb;
    void *arg;
    size_t n;
    /* results, by kind */
    sl_send_result_t *send;
    sl_mmsg_t **msgs;
    char (*receipts)[SL_MQ_RECEIPT_LEN + 1];
    int *rcs;
    char **names;
    char *name;                 /* OP_INFO, OP_NOTIFY */
    sl_queue_cfg_t cfg;         /* OP_INFO snapshot */
    sl_kvlist_t tags;
    sl_queue_info_t info;
    sl_outbox_item_t *items;
    char *doc;                  /* OP_DOC */
    size_t doc_len;
    char **docs;                /* OP_DOCS, with names */
} op_t;

typedef struct obx {
    struct obx *next;
    char id[SL_MSG_ID_LEN + 1];
    char *kind;
    void *payload;
    size_t len;
    int64_t due_ms;             /* claimable from; a claim moves it to lease end */
    uint32_t attempts;
} obx_t;

typedef struct memstore {
    sl_store_t base;
    sl_strmap_t queues;         /* name -> sl_mq_t */
    sl_vheap_t heap;
    struct event *timer;
    int64_t timer_at;           /* armed for; 0 = not armed */
    struct event *done_ev;
    op_t *head, *tail;
    obx_t *outbox;
    sl_strmap_t meta;           /* "kind\x1fname" -> doc (NUL-terminated copy) */
    sl_memstore_clock_fn clock;
} memstore_t;

static int64_t
wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int64_t
now_ms(memstore_t *ms)
{
    return ms->clock ? ms->clock() : wall_ms();
}

/* ---- Completions ---- */

static op_t *
op_new(op_kind_t kind, void *cb, void *arg)
{
    op_t *o = sl_calloc(1, sizeof(*o));

    o->kind = kind;
    o->cb = cb;
    o->arg = arg;
    return o;
}

static void
op_free(op_t *o)
{
    for (size_t i = 0; o->msgs && i < o->n; i++)
        sl__mmsg_unref(o->msgs[i]);
    for (size_t i = 0; o->names && i < o->n; i++)
        sl_free(o->names[i]);
    for (size_t i = 0; o->docs && i < o->n; i++)
        sl_free(o->docs[i]);
    sl_free(o->docs);
    sl_free(o->doc);
    if (o->kind == OP_INFO && o->status == SL_OK) {
        sl_queue_cfg_deinit(&o->cfg);
        sl_kvlist_deinit(&o->tags);
    }
    if (o->items) {
        for (size_t i = 0; i < o->n; i++) {
            sl_free((void *)o->items[i].id);
            sl_free((void *)o->items[i].kind);
            sl_free((void *)o->items[i].payload);
        }
        sl_free(o->items);
    }
    sl_free(o->send);
    sl_free(o->msgs);
    sl_free(o->receipts);
    sl_free(o->rcs);
    sl_free(o->names);
    sl_free(o->name);
    sl_free(o);
}

static void
complete(memstore_t *ms, op_t *o)
{
    o->next = NULL;
    if (ms->tail)
        ms->tail->next = o;
    else
        ms->head = o;
    ms->tail = o;
    event_active(ms->done_ev, EV_READ, 0);
}

static void
notify_later(memstore_t *ms, const char *queue)
{
    op_t *o;

    if (ms->base.notify == NULL)
        return;
    o = op_new(OP_NOTIFY, NULL, NULL);
    o->name = sl_strdup(queue);
    complete(ms, o);
}

static void
run_op(memstore_t *ms, op_t *o)
{
    sl_received_t rv[16], *recv = rv;

    switch (o->kind) {
    case OP_DONE:
        ((sl_store_done_cb)o->cb)(o->arg, o->status);
        break;
    case OP_INFO:
        ((sl_store_info_cb)o->cb)(o->arg, o->status, o->status == SL_OK ? &o->info : NULL);
        break;
    case OP_NAMES:
        ((sl_store_names_cb)o->cb)(o->arg, o->status, o->names, o->n);
        break;
    case OP_SEND:
        ((sl_store_send_cb)o->cb)(o->arg, o->status, o->send, o->n);
        break;
    case OP_RECV:
        if (o->n > 16)
            recv = sl_malloc(o->n * sizeof(*recv));
        else if (o->n == 0)
            recv = NULL;
        for (size_t i = 0; i < o->n; i++) {
            recv[i].msg = sl__mmsg_view(o->msgs[i]);
            recv[i].receipt = o->receipts[i];
        }
        ((sl_store_recv_cb)o->cb)(o->arg, o->status, recv, o->n);
        if (recv != rv)
            sl_free(recv);          /* NULL when empty */
        break;
    case OP_BATCH:
        ((sl_store_batch_cb)o->cb)(o->arg, o->status, o->rcs, o->n);
        break;
    case OP_OUTBOX:
        ((sl_store_outbox_cb)o->cb)(o->arg, o->status, o->items, o->n);
        break;
    case OP_DOC:
        ((sl_store_doc_cb)o->cb)(o->arg, o->status, o->doc, o->doc_len);
        break;
    case OP_DOCS:
        ((sl_store_docs_cb)o->cb)(o->arg, o->status, o->names, o->docs, o->n);
        break;
    case OP_NOTIFY:
        if (ms->base.notify)
            ms->base.notify(ms->base.notify_arg, o->name);
        break;
    }
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
    memstore_t *ms = arg;
    op_t *o = ms->head, *next;

    (void)fd;
    (void)what;
    /* Detach first: callbacks submit new operations, which go on a new list. */
    ms->head = ms->tail = NULL;
    for (; o != NULL; o = next) {
        next = o->next;
        run_op(ms, o);
        op_free(o);
    }
}

/* ---- Deadlines ---- */

static void
arm_timer(memstore_t *ms)
{
    sl_vheap_node_t *n = sl__vheap_peek(&ms->heap);
    struct timeval tv;
    int64_t delta;

    if (n == NULL) {
        if (ms->timer_at) {
            event_del(ms->timer);
            ms->timer_at = 0;
        }
        return;
    }
    if (ms->timer_at == n->key)
        return;
    delta = n->key - now_ms(ms);
    if (delta < 0)
        delta = 0;
    tv.tv_sec = (time_t)(delta / 1000);
    tv.tv_usec = (suseconds_t)((delta % 1000) * 1000);
    event_add(ms->timer, &tv);
    ms->timer_at = n->key;
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    memstore_t *ms = arg;
    int64_t now = now_ms(ms);
    sl_vheap_node_t *n;
    int budget = 4096;

    (void)fd;
    (void)what;
    ms->timer_at = 0;
    while (budget-- > 0 && (n = sl__vheap_pop_due(&ms->heap, now)) != NULL) {
        sl_mq_t *q = sl__mq_expire(n, now);

        if (q != NULL)
            notify_later(ms, sl__mq_name(q));
    }
    if (budget <= 0 && sl__vheap_peek(&ms->heap) && sl__vheap_peek(&ms->heap)->key <= now) {
        event_active(ms->timer, EV_TIMEOUT, 0);   /* more due: continue next round */
        ms->timer_at = -1;
        return;
    }
    arm_timer(ms);
}

void
sl_memstore_tick(sl_store_t *s)
{
    on_timer(-1, 0, s);
}

/* ---- Queues ---- */

static sl_mq_t *
queue_find(memstore_t *ms, const char *name)
{
    return sl__strmap_get(&ms->queues, name);
}

static void
snapshot_info(op_t *o, sl_mq_t *q)
{
    sl_queue_info_t info;

    sl__mq_info(q, &info);
    o->name = sl_strdup(info.name);
    sl_queue_cfg_copy(&o->cfg, info.cfg);
    sl_kvlist_init(&o->tags);
    sl_kvlist_copy(&o->tags, info.tags);
    o->info = info;
    o->info.name = o->name;
    o->info.cfg = &o->cfg;
    o->info.tags = &o->tags;
}

static int
m_queue_create(sl_store_t *s, const char *name, const sl_queue_cfg_t *cfg,
               const sl_kvlist_t *tags, sl_store_info_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    sl_mq_t *q = queue_find(ms, name);
    op_t *o = op_new(OP_INFO, (void *)cb, arg);

    if (q != NULL && !sl_queue_cfg_equal(sl__mq_cfg(q), cfg)) {
        o->status = SL_EEXIST;
    } else {
        if (q == NULL) {
            q = sl__mq_create(name, cfg, &ms->heap, now_ms(ms));
            sl__strmap_put(&ms->queues, name, q);
            if (tags)
                sl_kvlist_copy(sl__mq_tags(q), tags);
            sl_log(SL_LOG_INFO, "queue created queue=%s fifo=%d", name, cfg->fifo);
        }
        snapshot_info(o, q);
    }
    complete(ms, o);
    return SL_OK;
}

static int
m_queue_get(sl_store_t *s, const char *name, sl_store_info_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    sl_mq_t *q = queue_find(ms, name);
    op_t *o = op_new(OP_INFO, (void *)cb, arg);

    if (q == NULL)
        o->status = SL_ENOTFOUND;
    else
        snapshot_info(o, q);
    complete(ms, o);
    return SL_OK;
}

static void
done_status(memstore_t *ms, int status, sl_store_done_cb cb, void *arg)
{
    op_t *o = op_new(OP_DONE, (void *)cb, arg);

    o->status = status;
    complete(ms, o);
}

static int
m_queue_set(sl_store_t *s, const char *name, const sl_queue_cfg_t *cfg, sl_store_done_cb cb,
            void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    sl_mq_t *q = queue_find(ms, name);

    if (q != NULL)
        sl__mq_set_cfg(q, cfg, now_ms(ms));
    done_status(ms, q ? SL_OK : SL_ENOTFOUND, cb, arg);
    return SL_OK;
}

static int
m_queue_tag(sl_store_t *s, const char *name, const sl_kvlist_t *set, const char *const *remove,
            size_t nremove, sl_store_done_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    sl_mq_t *q = queue_find(ms, name);

    if (q != NULL) {
        if (set)
            sl_kvlist_copy(sl__mq_tags(q), set);
        for (size_t i = 0; i < nremove; i++)
            sl_kvlist_del(sl__mq_tags(q), remove[i]);
    }
    done_status(ms, q ? SL_OK : SL_ENOTFOUND, cb, arg);
    return SL_OK;
}

static int
m_queue_delete(sl_store_t *s, const char *name, sl_store_done_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    sl_mq_t *q = sl__strmap_del(&ms->queues, name);

    if (q != NULL) {
        sl__mq_destroy(q);
        arm_timer(ms);
        sl_log(SL_LOG_INFO, "queue deleted queue=%s", name);
    }
    done_status(ms, q ? SL_OK : SL_ENOTFOUND, cb, arg);
    return SL_OK;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
list_names(memstore_t *ms, const char *prefix, const char *dlq, sl_store_names_cb cb, void *arg)
{
    op_t *o = op_new(OP_NAMES, (void *)cb, arg);
    size_t pos = 0, plen = prefix ? strlen(prefix) : 0;
    const char *name;
    void *val;

    o->names = sl_calloc(ms->queues.n + 1, sizeof(char *));
    while (sl__strmap_next(&ms->queues, &pos, &name, &val)) {
        const sl_queue_cfg_t *cfg = sl__mq_cfg(val);

        if (prefix && strncmp(name, prefix, plen) != 0)
            continue;
        if (dlq && (cfg->dlq_name == NULL || strcmp(cfg->dlq_name, dlq) != 0))
            continue;
        o->names[o->n++] = sl_strdup(name);
    }
    qsort(o->names, o->n, sizeof(char *), cmp_str);
    complete(ms, o);
    return SL_OK;
}

static int
m_queue_list(sl_store_t *s, const char *prefix, sl_store_names_cb cb, void *arg)
{
    return list_names((memstore_t *)s, prefix, NULL, cb, arg);
}

static int
m_queue_dlq_sources(sl_store_t *s, const char *dlq, sl_store_names_cb cb, void *arg)
{
    return list_names((memstore_t *)s, NULL, dlq, cb, arg);
}

static int
m_queue_purge(sl_store_t *s, const char *name, sl_store_done_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    sl_mq_t *q = queue_find(ms, name);

    if (q != NULL) {
        sl__mq_purge(q);
        arm_timer(ms);
    }
    done_status(ms, q ? SL_OK : SL_ENOTFOUND, cb, arg);
    return SL_OK;
}

/* ---- Messages ---- */

static int
m_send(sl_store_t *s, const char *queue, const sl_msg_in_t *msgs, size_t n, sl_store_send_cb cb,
       void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    sl_mq_t *q = queue_find(ms, queue);
    op_t *o = op_new(OP_SEND, (void *)cb, arg);
    int64_t now = now_ms(ms);
    bool wake = false;

    if (q == NULL) {
        o->status = SL_ENOTFOUND;
    } else if (sl__mq_check_batch(q, msgs, n) != SL_OK) {
        o->status = SL_EFULL;
    } else {
        o->send = sl_malloc(n * sizeof(*o->send));
        o->n = n;
        for (size_t i = 0; i < n; i++)
            wake |= sl__mq_send(q, &msgs[i], now, &o->send[i]);
        arm_timer(ms);
    }
    complete(ms, o);
    if (wake)
        notify_later(ms, queue);
    return SL_OK;
}

static int
m_receive(sl_store_t *s, const char *queue, const sl_recv_opts_t *opts, sl_store_recv_cb cb,
          void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    sl_mq_t *q = queue_find(ms, queue), *dlq = NULL;
    op_t *o = op_new(OP_RECV, (void *)cb, arg);

    if (q == NULL) {
        o->status = SL_ENOTFOUND;
    } else {
        const sl_queue_cfg_t *cfg = sl__mq_cfg(q);
        uint32_t max = opts->max ? opts->max : 1;

        if (cfg->dlq_name)
            dlq = queue_find(ms, cfg->dlq_name);
        o->msgs = sl_malloc(max * sizeof(*o->msgs));
        o->receipts = sl_malloc(max * sizeof(*o->receipts));
        o->n = sl__mq_receive(q, max, opts->visibility_s, dlq, now_ms(ms), o->msgs,
                              o->receipts);
        if (o->n)
            arm_timer(ms);
    }
    complete(ms, o);
    if (dlq != NULL && sl__mq_has_visible(dlq))
        notify_later(ms, sl__mq_name(dlq));
    return SL_OK;
}

static int
m_delete_batch(sl_store_t *s, const char *queue, const char *const *receipts, size_t n,
               sl_store_batch_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    sl_mq_t *q = queue_find(ms, queue);
    op_t *o = op_new(OP_BATCH, (void *)cb, arg);
    int64_t now = now_ms(ms);

    if (q == NULL) {
        o->status = SL_ENOTFOUND;
    } else {
        o->rcs = sl_malloc((n ? n : 1) * sizeof(int));
        o->n = n;
        for (size_t i = 0; i < n; i++)
            o->rcs[i] = sl__mq_delete(q, receipts[i], now);
        arm_timer(ms);
    }
    complete(ms, o);
    return SL_OK;
}

static int
m_change_visibility(sl_store_t *s, const char *queue, const sl_vis_change_t *v, size_t n,
                    sl_store_batch_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    sl_mq_t *q = queue_find(ms, queue);
    op_t *o = op_new(OP_BATCH, (void *)cb, arg);
    int64_t now = now_ms(ms);
    bool wake = false;

    if (q == NULL) {
        o->status = SL_ENOTFOUND;
    } else {
        o->rcs = sl_malloc((n ? n : 1) * sizeof(int));
        o->n = n;
        for (size_t i = 0; i < n; i++) {
            bool vis;

            o->rcs[i] = sl__mq_change_visibility(q, v[i].receipt, v[i].visibility_ms, now, &vis);
            wake |= vis;
        }
        arm_timer(ms);
    }
    complete(ms, o);
    if (wake)
        notify_later(ms, queue);
    return SL_OK;
}

/* ---- Outbox ---- */

static int
m_outbox_append(sl_store_t *s, const char *kind, const void *payload, size_t len,
                int64_t delay_ms, sl_store_done_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    obx_t *x = sl_calloc(1, sizeof(*x)), **pp = &ms->outbox;

    sl_uuid4(x->id);
    x->kind = sl_strdup(kind);
    x->payload = sl_memdup(payload, len);
    x->len = len;
    x->due_ms = now_ms(ms) + (delay_ms > 0 ? delay_ms : 0);
    while (*pp)
        pp = &(*pp)->next;
    *pp = x;
    done_status(ms, SL_OK, cb, arg);
    return SL_OK;
}

static int
m_outbox_claim(sl_store_t *s, size_t max, int64_t lease_ms, sl_store_outbox_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    op_t *o = op_new(OP_OUTBOX, (void *)cb, arg);
    int64_t now = now_ms(ms);

    o->items = sl_calloc(max ? max : 1, sizeof(*o->items));
    for (obx_t *x = ms->outbox; x != NULL && o->n < max; x = x->next) {
        sl_outbox_item_t *it = &o->items[o->n];

        if (x->due_ms > now)
            continue;
        x->due_ms = now + lease_ms;
        x->attempts++;
        it->id = sl_strdup(x->id);
        it->kind = sl_strdup(x->kind);
        it->payload = sl_memdup(x->payload, x->len);
        it->len = x->len;
        it->attempts = x->attempts;
        o->n++;
    }
    complete(ms, o);
    return SL_OK;
}

static obx_t *
outbox_find(memstore_t *ms, const char *id, obx_t ***prevp)
{
    obx_t **pp = &ms->outbox;

    for (; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            *prevp = pp;
            return *pp;
        }
    }
    return NULL;
}

static int
m_outbox_ack(sl_store_t *s, const char *id, sl_store_done_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    obx_t **pp, *x = outbox_find(ms, id, &pp);

    if (x != NULL) {
        *pp = x->next;
        sl_free(x->kind);
        sl_free(x->payload);
        sl_free(x);
    }
    done_status(ms, x ? SL_OK : SL_ENOTFOUND, cb, arg);
    return SL_OK;
}

static int
m_outbox_retry(sl_store_t *s, const char *id, int64_t delay_ms, sl_store_done_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    obx_t **pp, *x = outbox_find(ms, id, &pp);

    if (x != NULL)
        x->due_ms = now_ms(ms) + (delay_ms > 0 ? delay_ms : 0);
    done_status(ms, x ? SL_OK : SL_ENOTFOUND, cb, arg);
    return SL_OK;
}

/* ---- Dead letters ---- */

static int
m_dead_letter(sl_store_t *s, const char *queue, const char *receipt, const sl_msg_attr_t *extra,
              size_t nextra, sl_store_done_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    sl_mq_t *q = queue_find(ms, queue), *dlq = NULL;
    int rc = SL_ENOTFOUND;

    if (q != NULL) {
        const sl_queue_cfg_t *cfg = sl__mq_cfg(q);

        if (cfg->dlq_name)
            dlq = queue_find(ms, cfg->dlq_name);
        rc = sl__mq_dead_letter(q, receipt, dlq, extra, nextra, now_ms(ms));
        arm_timer(ms);
    }
    done_status(ms, rc, cb, arg);
    if (rc == SL_OK)
        notify_later(ms, sl__mq_name(dlq));
    return SL_OK;
}

/* ---- Metadata ---- */

static char *
meta_key(const char *kind, const char *name)
{
    size_t a = strlen(kind), b = strlen(name);
    char *k = sl_malloc(a + b + 2);

    memcpy(k, kind, a);
    k[a] = '\x1f';
    memcpy(k + a + 1, name, b + 1);
    return k;
}

static int
m_meta_put(sl_store_t *s, const char *kind, const char *name, const char *doc, size_t len,
           sl_store_done_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    char *k = meta_key(kind, name);

    sl_free(sl__strmap_put(&ms->meta, k, sl_strndup(doc, len)));
    sl_free(k);
    done_status(ms, SL_OK, cb, arg);
    return SL_OK;
}

static int
m_meta_get(sl_store_t *s, const char *kind, const char *name, sl_store_doc_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    char *k = meta_key(kind, name);
    const char *doc = sl__strmap_get(&ms->meta, k);
    op_t *o = op_new(OP_DOC, (void *)cb, arg);

    if (doc == NULL) {
        o->status = SL_ENOTFOUND;
    } else {
        o->doc = sl_strdup(doc);
        o->doc_len = strlen(doc);
    }
    sl_free(k);
    complete(ms, o);
    return SL_OK;
}

typedef struct named_doc {
    char *name;
    char *doc;
} named_doc_t;

static int
cmp_named(const void *a, const void *b)
{
    return strcmp(((const named_doc_t *)a)->name, ((const named_doc_t *)b)->name);
}

static int
m_meta_list(sl_store_t *s, const char *kind, sl_store_docs_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    op_t *o = op_new(OP_DOCS, (void *)cb, arg);
    named_doc_t *all = sl_calloc(ms->meta.n + 1, sizeof(*all));
    size_t pos = 0, klen = strlen(kind), n = 0;
    const char *key;
    void *val;

    while (sl__strmap_next(&ms->meta, &pos, &key, &val)) {
        if (strncmp(key, kind, klen) != 0 || key[klen] != '\x1f')
            continue;
        all[n].name = sl_strdup(key + klen + 1);
        all[n].doc = sl_strdup(val);
        n++;
    }
    qsort(all, n, sizeof(*all), cmp_named);
    o->names = sl_calloc(n + 1, sizeof(char *));
    o->docs = sl_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        o->names[i] = all[i].name;
        o->docs[i] = all[i].doc;
    }
    o->n = n;
    sl_free(all);
    complete(ms, o);
    return SL_OK;
}

static int
m_meta_delete(sl_store_t *s, const char *kind, const char *name, sl_store_done_cb cb, void *arg)
{
    memstore_t *ms = (memstore_t *)s;
    char *k = meta_key(kind, name);
    char *doc = sl__strmap_del(&ms->meta, k);

    sl_free(k);
    done_status(ms, doc ? SL_OK : SL_ENOTFOUND, cb, arg);
    sl_free(doc);
    return SL_OK;
}

/* ---- Lifetime ---- */

static void
m_destroy(sl_store_t *s)
{
    memstore_t *ms = (memstore_t *)s;
    size_t pos = 0;
    const char *name;
    void *val;
    op_t *o, *next;

    for (o = ms->head; o != NULL; o = next) {
        next = o->next;
        op_free(o);
    }
    while (sl__strmap_next(&ms->queues, &pos, &name, &val))
        sl__mq_destroy(val);
    sl__strmap_deinit(&ms->queues);
    pos = 0;
    while (sl__strmap_next(&ms->meta, &pos, &name, &val))
        sl_free(val);
    sl__strmap_deinit(&ms->meta);
    sl__vheap_deinit(&ms->heap);
    while (ms->outbox) {
        obx_t *x = ms->outbox;

        ms->outbox = x->next;
        sl_free(x->kind);
        sl_free(x->payload);
        sl_free(x);
    }
    event_free(ms->timer);
    event_free(ms->done_ev);
    sl_free(ms);
}

static const sl_store_ops_t memory_ops = {
    .name = "memory",
    .destroy = m_destroy,
    .queue_create = m_queue_create,
    .queue_get = m_queue_get,
    .queue_set = m_queue_set,
    .queue_tag = m_queue_tag,
    .queue_delete = m_queue_delete,
    .queue_list = m_queue_list,
    .queue_dlq_sources = m_queue_dlq_sources,
    .queue_purge = m_queue_purge,
    .send = m_send,
    .receive = m_receive,
    .delete_batch = m_delete_batch,
    .change_visibility = m_change_visibility,
    .outbox_append = m_outbox_append,
    .outbox_claim = m_outbox_claim,
    .outbox_ack = m_outbox_ack,
    .outbox_retry = m_outbox_retry,
    .dead_letter = m_dead_letter,
    .meta_put = m_meta_put,
    .meta_get = m_meta_get,
    .meta_list = m_meta_list,
    .meta_delete = m_meta_delete,
};

int
sl_memstore_create(struct event_base *base, sl_memstore_clock_fn clock, sl_store_t **out)
{
    memstore_t *ms = sl_calloc(1, sizeof(*ms));

    ms->base.ops = &memory_ops;
    ms->base.base = base;
    ms->clock = clock;
    sl__strmap_init(&ms->queues);
    sl__strmap_init(&ms->meta);
    sl__vheap_init(&ms->heap);
    ms->timer = evtimer_new(base, on_timer, ms);
    ms->done_ev = event_new(base, -1, 0, on_done, ms);
    *out = &ms->base;
    return SL_OK;
}
