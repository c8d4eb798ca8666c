/* redis.c - the Redis store: every queue state change is one Lua script.
 *
 * Each operation builds one EVALSHA (redis_scripts.c holds the scripts and the
 * key layout), hands it to the connection manager (redis_conn.c: reconnects,
 * deadlines, NOSCRIPT) and turns the script's reply into the interface's
 * results, which it lends to the caller's callback and frees afterwards. A
 * batch of sends, a receive and a batch of deletes are one round trip each,
 * concurrent requests pipeline on the one command connection, and neighbouring
 * sends, receives or deletes of one queue asked for in the same pass of the
 * loop are merged into one script call (see "Merging"). Messages are
 * stored as msgpack records (codec.c) beside a small delivery-state string that
 * scripts update in place, so a receive never re-encodes a body.
 *
 * Time is Redis's: scripts read TIME, so several brokers on one Redis agree on
 * deadlines. Due delays and visibility timeouts are promoted inside whatever
 * script touches the queue next; no timer of ours is needed for correctness.
 *
 * Waking long polls. Scripts PUBLISH a queue's name on <prefix>notify when it
 * goes from nothing to receive to something (sends, expiries they promote,
 * deletes that unlock a FIFO group, moves to a DLQ), and every broker's second
 * connection is SUBSCRIBEd there, so a send through one broker wakes polls
 * parked on another. What becomes visible by time passing alone is covered by
 * the receive script: when it finds nothing it returns the queue's earliest
 * delay or visibility deadline, and we arm a wake-up for it (one heap, one
 * timer). Races closed here: a notification that overtakes the reply of an
 * empty receive (both are on their way at once, on two connections) is
 * replayed after that receive's callback, or after the queue lookup that a
 * long poll without WaitTimeSeconds makes before parking; and after the
 * subscriber reconnects every queue polled recently gets a notification,
 * since some may have been missed. */
#include "redis.h"

#include "codec.h"
#include "redis_conn.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "strmap.h"
#include "vheap.h"

#include <hiredis/hiredis.h>

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECEIPT_LEN 40              /* hex: queue uid, message key, serial */
#define WATCH_KEEP_MS 30000         /* a queue polled empty this recently is watched */
#define WATCH_SWEEP_MS 10000
#define REPLAY_AFTER_GET_MS 1000    /* a get this soon after an empty receive may be a
                                     * long poll looking up the queue's default wait */

/* A queue this broker polls: notification count, pending wake-up. */
typedef struct watch {
    sl_vheap_node_t hn;             /* wake-up (monotonic ms), when scheduled */
    char *name;
    uint64_t gen;                   /* notifications seen */
    uint64_t empty_gen;             /* gen when the last empty receive was submitted,
                                     * advanced when a missed notification is replayed */
    uint32_t receiving;             /* receives in flight */
    int64_t last_empty;             /* monotonic ms of the last empty receive; 0 = none */
} watch_t;

typedef struct rstore {
    sl_store_t base;
    sl_rconn_t *conn;
    char *prefix;
    sl_strmap_t watches;            /* queue name -> watch_t */
    sl_vheap_t wakes;
    struct event *wake_timer;
    int64_t wake_at;                /* armed for; 0 = not armed */
    int64_t next_sweep;
    struct merge *open;             /* sends, receives or deletes held until the pass
                                     * ends ("Merging"); NULL = none */
    struct event *flush_ev;         /* active while open is not NULL */
    int depth;                      /* our callbacks on the stack */
    bool closing;
} rstore_t;

/* One operation in flight. */
typedef struct rop {
    rstore_t *rs;
    void *cb;
    void *arg;
    size_t n;
    char *name;                     /* queue */
    char (*ids)[SL_MSG_ID_LEN + 1]; /* send: the ids given */
    int *rcs;                       /* delete, change visibility: pre-judged receipts */
    uint64_t (*rv)[3];              /* delete: the receipts split (uid, key, serial) */
    sl_resp_t args;                 /* send: n, then the messages' arguments */
    bool has_args;
    uint32_t max;                   /* receive: messages wanted */
    watch_t *w;                     /* receive */
    uint64_t gen;                   /* receive: w->gen at submission */
    sl_queue_cfg_t want;            /* create: the settings asked for */
    bool has_want;
    sl_msg_attr_t *extra;           /* dead letter: attributes to add (one block) */
    size_t nextra;
    char uid[24], key[24], ser[12]; /* dead letter: the receipt, split */
} rop_t;

static void really_free(rstore_t *rs);

static int64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
enter(rstore_t *rs)
{
    rs->depth++;
}

static void
leave(rstore_t *rs)
{
    if (--rs->depth == 0 && rs->closing)
        really_free(rs);
}

/* ---- Operations ---- */

static rop_t *
rop_new(rstore_t *rs, void *cb, void *arg, const char *name)
{
    rop_t *o = sl_calloc(1, sizeof(*o));

    o->rs = rs;
    o->cb = cb;
    o->arg = arg;
    o->name = name ? sl_strdup(name) : NULL;
    return o;
}

static void
rop_free(rop_t *o)
{
    if (o->w)
        o->w->receiving--;
    if (o->has_want)
        sl_queue_cfg_deinit(&o->want);
    sl_free(o->ids);
    sl_free(o->rcs);
    sl_free(o->rv);
    if (o->has_args)
        sl__resp_deinit(&o->args);
    sl_free(o->extra);
    sl_free(o->name);
    sl_free(o);
}

/* Starts a script call: EVALSHA sha 0 prefix [name] ... (nargs counts what the
 * caller adds after those). */
static void
script_begin(rstore_t *rs, sl_resp_t *r, sl_rscript_t s, const char *name, size_t nargs)
{
    sl__resp_script(r, s, nargs + (name ? 2 : 1));
    sl__resp_str(r, rs->prefix);
    if (name)
        sl__resp_str(r, name);
}

static void merge_flush(rstore_t *rs);
static void merge_add(rstore_t *rs, sl_rscript_t script, rop_t *o, int32_t vis, size_t items,
                      size_t bytes);

/* Submits a command. A call held for merging goes first, so Redis runs the
 * scripts in the order they were asked for. */
static void
submit(rstore_t *rs, sl_resp_t *r, sl_rconn_reply_fn fn, void *arg)
{
    merge_flush(rs);
    sl__rconn_submit(rs->conn, r, fn, arg);
}

/* ---- Replies ---- */

static bool
is_array(const redisReply *r, size_t min)
{
    return r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= min;
}

static bool
r_int(const redisReply *r, size_t i, long long *out)
{
    if (i >= r->elements || r->element[i]->type != REDIS_REPLY_INTEGER)
        return false;
    *out = r->element[i]->integer;
    return true;
}

/* A string element; NULL (and *len 0) for nil. False for anything else. */
static bool
r_str(const redisReply *r, size_t i, const char **p, size_t *len)
{
    const redisReply *e;

    if (i >= r->elements)
        return false;
    e = r->element[i];
    if (e->type == REDIS_REPLY_NIL) {
        *p = NULL;
        *len = 0;
        return true;
    }
    if (e->type != REDIS_REPLY_STRING)
        return false;
    *p = e->str;
    *len = e->len;
    return true;
}

/* The status a script reply leads with, as an SL_* code. */
static int
reply_status(const rop_t *o, const char *what, int status, const redisReply *r)
{
    long long st;

    if (status != SL_OK)
        return status;
    if (!is_array(r, 1) || !r_int(r, 0, &st)) {
        sl_log(SL_LOG_ERROR, "redis reply malformed op=%s queue=%s", what,
               o->name ? o->name : "-");
        return SL_EBACKEND;
    }
    switch (st) {
    case 0:
        return SL_OK;
    case 1:
        return SL_ENOTFOUND;
    case 2:
        return SL_EFULL;
    case 3:
        return SL_EPROTO;
    }
    sl_log(SL_LOG_ERROR, "redis reply status unknown op=%s status=%lld", what, st);
    return SL_EBACKEND;
}

static void
malformed(const rop_t *o, const char *what)
{
    sl_log(SL_LOG_ERROR, "redis reply malformed op=%s queue=%s", what, o->name ? o->name : "-");
}

/* ---- Notifications and wake-ups ---- */

static void
notify(rstore_t *rs, const char *queue)
{
    if (rs->base.notify && !rs->closing)
        rs->base.notify(rs->base.notify_arg, queue);
}

static watch_t *
watch_get(rstore_t *rs, const char *name)
{
    watch_t *w = sl__strmap_get(&rs->watches, name);

    if (w == NULL) {
        w = sl_calloc(1, sizeof(*w));
        sl__vheap_node_init(&w->hn);
        w->name = sl_strdup(name);
        sl__strmap_put(&rs->watches, name, w);
    }
    return w;
}

static void
watch_free(rstore_t *rs, watch_t *w)
{
    sl__vheap_remove(&rs->wakes, &w->hn);
    sl__strmap_del(&rs->watches, w->name);
    sl_free(w->name);
    sl_free(w);
}

static bool
watch_is_idle(const watch_t *w, int64_t now)
{
    return w->receiving == 0 && !sl__vheap_node_is_queued(&w->hn) &&
           (w->last_empty == 0 || now - w->last_empty > WATCH_KEEP_MS);
}

static void
arm_wake(rstore_t *rs)
{
    sl_vheap_node_t *n = sl__vheap_peek(&rs->wakes);
    int64_t at = n ? n->key : 0, delta;
    struct timeval tv;

    if (rs->watches.n > 0 && (at == 0 || rs->next_sweep < at))
        at = rs->next_sweep;
    if (at == 0) {
        if (rs->wake_at) {
            event_del(rs->wake_timer);
            rs->wake_at = 0;
        }
        return;
    }
    if (rs->wake_at == at)
        return;
    delta = at - mono_ms();
    if (delta < 0)
        delta = 0;
    tv.tv_sec = (time_t)(delta / 1000);
    tv.tv_usec = (suseconds_t)((delta % 1000) * 1000);
    event_add(rs->wake_timer, &tv);
    rs->wake_at = at;
}

static void
sweep_watches(rstore_t *rs, int64_t now)
{
    size_t pos = 0, n = 0;
    const char *name;
    void *val;
    watch_t **idle = sl_malloc((rs->watches.n + 1) * sizeof(*idle));

    while (sl__strmap_next(&rs->watches, &pos, &name, &val))
        if (watch_is_idle(val, now))
            idle[n++] = val;
    for (size_t i = 0; i < n; i++)
        watch_free(rs, idle[i]);
    sl_free(idle);
    rs->next_sweep = now + WATCH_SWEEP_MS;
}

static void
on_wake_timer(evutil_socket_t fd, short what, void *arg)
{
    rstore_t *rs = arg;
    int64_t now = mono_ms();
    sl_vheap_node_t *n;
    int budget = 1024;

    (void)fd;
    (void)what;
    rs->wake_at = 0;
    enter(rs);
    while (!rs->closing && budget-- > 0 && (n = sl__vheap_pop_due(&rs->wakes, now)) != NULL) {
        watch_t *w = sl_container_of(n, watch_t, hn);

        notify(rs, w->name);
    }
    if (!rs->closing) {
        if (now >= rs->next_sweep)
            sweep_watches(rs, now);
        arm_wake(rs);
    }
    leave(rs);
}

static void
on_message(void *arg, const char *payload, size_t len)
{
    rstore_t *rs = arg;
    char *name = sl_strndup(payload, len);
    watch_t *w = sl__strmap_get(&rs->watches, name);

    enter(rs);
    if (w != NULL)
        w->gen++;
    notify(rs, name);
    sl_free(name);
    leave(rs);
}

static void
on_sub_ready(void *arg, bool first)
{
    rstore_t *rs = arg;
    int64_t now = mono_ms();
    size_t pos = 0, n = 0;
    const char *name;
    void *val;
    char **names;

    if (first)
        return;
    /* Notifications sent while we were not subscribed are lost: wake every
     * queue that may have parked polls. Names are copied first because the
     * callbacks submit receives, which add watches. */
    enter(rs);
    names = sl_malloc((rs->watches.n + 1) * sizeof(*names));
    while (sl__strmap_next(&rs->watches, &pos, &name, &val)) {
        const watch_t *w = val;

        if (w->last_empty != 0 && now - w->last_empty <= WATCH_KEEP_MS)
            names[n++] = sl_strdup(name);
    }
    for (size_t i = 0; i < n; i++) {
        notify(rs, names[i]);
        sl_free(names[i]);
    }
    sl_free(names);
    leave(rs);
}

/* The script says it published: when our subscriber is down the notification
 * will not come back to us, so deliver it here. Called after the caller's
 * callback, which may have destroyed the store (and its connection). */
static void
published(rstore_t *rs, const char *queue)
{
    if (rs->closing)
        return;
    if (!sl__rconn_sub_is_ready(rs->conn))
        notify(rs, queue);
}

/* ---- Queue metadata ---- */

static void
cfg_args(sl_resp_t *r, const sl_queue_cfg_t *cfg, bool with_fifo)
{
    sl_buf_t b;

    sl_buf_init(&b);
    sl_codec_pack_cfg(&b, cfg);
    sl__resp_arg(r, b.p, b.len);
    sl_buf_deinit(&b);
    if (with_fifo)
        sl__resp_str(r, cfg->fifo ? "1" : "0");
    sl__resp_i64(r, cfg->visibility_s);
    sl__resp_i64(r, cfg->delay_s);
    sl__resp_i64(r, cfg->retention_s);
    sl__resp_i64(r, cfg->max_size);
    sl__resp_str(r, cfg->content_dedup ? "1" : "0");
    sl__resp_str(r, cfg->dlq_name ? cfg->dlq_name : "");
    sl__resp_i64(r, cfg->max_receives);
}

/* Turns an info reply (see info() in the scripts) into a callback. */
static void
deliver_info(rop_t *o, int status, const redisReply *r)
{
    sl_store_info_cb cb = (sl_store_info_cb)o->cb;
    long long existed, fifo, created, modified, vis, inf, dly;
    const char *blob;
    size_t blen;
    const redisReply *tags;
    sl_queue_cfg_t cfg;
    sl_kvlist_t kv;
    sl_queue_info_t info;

    status = reply_status(o, "queue_info", status, r);
    if (status != SL_OK) {
        cb(o->arg, status, NULL);
        return;
    }
    if (!is_array(r, 10) || !r_int(r, 1, &existed) || !r_str(r, 2, &blob, &blen) ||
        blob == NULL || !r_int(r, 3, &fifo) || !r_int(r, 4, &created) ||
        !r_int(r, 5, &modified) || !r_int(r, 6, &vis) || !r_int(r, 7, &inf) ||
        !r_int(r, 8, &dly) || r->element[9]->type != REDIS_REPLY_ARRAY) {
        malformed(o, "queue_info");
        cb(o->arg, SL_EBACKEND, NULL);
        return;
    }
    if (sl_codec_unpack_cfg(blob, blen, &cfg) != SL_OK) {
        sl_log(SL_LOG_ERROR, "redis queue settings undecodable queue=%s", o->name);
        sl_queue_cfg_deinit(&cfg);
        cb(o->arg, SL_EBACKEND, NULL);
        return;
    }
    cfg.fifo = fifo != 0;           /* the one FifoQueue scripts go by */
    if (o->has_want && existed && !sl_queue_cfg_equal(&cfg, &o->want)) {
        sl_queue_cfg_deinit(&cfg);
        cb(o->arg, SL_EEXIST, NULL);
        return;
    }
    if (o->has_want && !existed)
        sl_log(SL_LOG_INFO, "queue created queue=%s fifo=%d store=redis", o->name, cfg.fifo);
    sl_kvlist_init(&kv);
    tags = r->element[9];
    for (size_t i = 0; i + 1 < tags->elements; i += 2)
        if (tags->element[i]->type == REDIS_REPLY_STRING &&
            tags->element[i + 1]->type == REDIS_REPLY_STRING)
            sl_kvlist_set(&kv, tags->element[i]->str, tags->element[i + 1]->str);
    memset(&info, 0, sizeof(info));
    info.name = o->name;
    info.cfg = &cfg;
    info.tags = &kv;
    info.created_s = created;
    info.modified_s = modified;
    info.visible = vis > 0 ? (uint64_t)vis : 0;
    info.inflight = inf > 0 ? (uint64_t)inf : 0;
    info.delayed = dly > 0 ? (uint64_t)dly : 0;
    cb(o->arg, SL_OK, &info);
    sl_queue_cfg_deinit(&cfg);
    sl_kvlist_deinit(&kv);
}

static void
on_info(void *arg, int status, redisReply *r)
{
    rop_t *o = arg;
    rstore_t *rs = o->rs;

    if (status == SL_RCONN_CANCELLED) {
        rop_free(o);
        return;
    }
    enter(rs);
    deliver_info(o, status, r);
    rop_free(o);
    leave(rs);
}

static int
r_queue_create(sl_store_t *s, const char *name, const sl_queue_cfg_t *cfg,
               const sl_kvlist_t *tags, sl_store_info_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    size_t nt = tags ? tags->n : 0;
    rop_t *o;
    sl_resp_t r;

    if (!sl_queue_name_is_valid(name))
        return SL_EINVAL;           /* key names rely on it (no ':') */
    o = rop_new(rs, (void *)cb, arg, name);
    sl_queue_cfg_copy(&o->want, cfg);
    o->has_want = true;
    script_begin(rs, &r, SL_RS_QUEUE_CREATE, name, 10 + 2 * nt);
    cfg_args(&r, cfg, true);
    sl__resp_i64(&r, (int64_t)nt);
    for (size_t i = 0; i < nt; i++) {
        sl__resp_str(&r, tags->v[i].key);
        sl__resp_str(&r, tags->v[i].val);
    }
    submit(rs, &r, on_info, o);
    return SL_OK;
}

/* A long poll without WaitTimeSeconds looks up the queue's default wait
 * between its empty receive and parking; a notification that arrived since
 * that receive was submitted would find nobody parked, so replay it once. */
static void
on_got(void *arg, int status, redisReply *r)
{
    rop_t *o = arg;
    rstore_t *rs = o->rs;
    watch_t *w;

    if (status == SL_RCONN_CANCELLED) {
        rop_free(o);
        return;
    }
    enter(rs);
    deliver_info(o, status, r);
    w = rs->closing ? NULL : sl__strmap_get(&rs->watches, o->name);
    if (w != NULL && w->gen != w->empty_gen && w->last_empty != 0 &&
        mono_ms() - w->last_empty <= REPLAY_AFTER_GET_MS) {
        w->empty_gen = w->gen;
        notify(rs, o->name);
    }
    rop_free(o);
    leave(rs);
}

static int
r_queue_get(sl_store_t *s, const char *name, sl_store_info_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = rop_new(rs, (void *)cb, arg, name);
    sl_resp_t r;

    script_begin(rs, &r, SL_RS_QUEUE_GET, name, 0);
    submit(rs, &r, on_got, o);
    return SL_OK;
}

static void
on_done(void *arg, int status, redisReply *r)
{
    rop_t *o = arg;
    rstore_t *rs = o->rs;

    if (status == SL_RCONN_CANCELLED) {
        rop_free(o);
        return;
    }
    enter(rs);
    ((sl_store_done_cb)o->cb)(o->arg, reply_status(o, "done", status, r));
    rop_free(o);
    leave(rs);
}

static int
r_queue_set(sl_store_t *s, const char *name, const sl_queue_cfg_t *cfg, sl_store_done_cb cb,
            void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = rop_new(rs, (void *)cb, arg, name);
    sl_resp_t r;

    script_begin(rs, &r, SL_RS_QUEUE_SET, name, 8);
    cfg_args(&r, cfg, false);
    submit(rs, &r, on_done, o);
    return SL_OK;
}

static int
r_queue_tag(sl_store_t *s, const char *name, const sl_kvlist_t *set, const char *const *remove,
            size_t nremove, sl_store_done_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    size_t ns = set ? set->n : 0;
    rop_t *o = rop_new(rs, (void *)cb, arg, name);
    sl_resp_t r;

    script_begin(rs, &r, SL_RS_QUEUE_TAG, name, 2 + 2 * ns + nremove);
    sl__resp_i64(&r, (int64_t)ns);
    for (size_t i = 0; i < ns; i++) {
        sl__resp_str(&r, set->v[i].key);
        sl__resp_str(&r, set->v[i].val);
    }
    sl__resp_i64(&r, (int64_t)nremove);
    for (size_t i = 0; i < nremove; i++)
        sl__resp_str(&r, remove[i]);
    submit(rs, &r, on_done, o);
    return SL_OK;
}

static int
simple_script(rstore_t *rs, sl_rscript_t script, const char *name, sl_store_done_cb cb,
              void *arg)
{
    rop_t *o = rop_new(rs, (void *)cb, arg, name);
    sl_resp_t r;

    script_begin(rs, &r, script, name, 0);
    submit(rs, &r, on_done, o);
    return SL_OK;
}

static int
r_queue_delete(sl_store_t *s, const char *name, sl_store_done_cb cb, void *arg)
{
    return simple_script((rstore_t *)s, SL_RS_QUEUE_DELETE, name, cb, arg);
}

static int
r_queue_purge(sl_store_t *s, const char *name, sl_store_done_cb cb, void *arg)
{
    return simple_script((rstore_t *)s, SL_RS_QUEUE_PURGE, name, cb, arg);
}

/* names from elements [first..] of an array reply of strings. */
static void
deliver_names(rop_t *o, int status, const redisReply *r, size_t first)
{
    sl_store_names_cb cb = (sl_store_names_cb)o->cb;
    char **names;
    size_t n = 0;

    if (status != SL_OK) {
        cb(o->arg, status, NULL, 0);
        return;
    }
    if (!is_array(r, first)) {
        malformed(o, "names");
        cb(o->arg, SL_EBACKEND, NULL, 0);
        return;
    }
    names = sl_malloc((r->elements - first + 1) * sizeof(*names));
    for (size_t i = first; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            names[n++] = r->element[i]->str;    /* hiredis NUL-terminates strings */
    cb(o->arg, SL_OK, names, n);
    sl_free(names);
}

static void
on_list(void *arg, int status, redisReply *r)
{
    rop_t *o = arg;
    rstore_t *rs = o->rs;

    if (status == SL_RCONN_CANCELLED) {
        rop_free(o);
        return;
    }
    enter(rs);
    deliver_names(o, status, r, 0);
    rop_free(o);
    leave(rs);
}

static void
on_dlq_sources(void *arg, int status, redisReply *r)
{
    rop_t *o = arg;
    rstore_t *rs = o->rs;

    if (status == SL_RCONN_CANCELLED) {
        rop_free(o);
        return;
    }
    enter(rs);
    deliver_names(o, reply_status(o, "dlq_sources", status, r), r, 1);
    rop_free(o);
    leave(rs);
}

static int
r_queue_list(sl_store_t *s, const char *prefix, sl_store_names_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = rop_new(rs, (void *)cb, arg, NULL);
    size_t plen = strlen(rs->prefix);
    sl_resp_t r;
    char *key = sl_malloc(plen + 7);

    memcpy(key, rs->prefix, plen);
    memcpy(key + plen, "queues", 7);
    sl__resp_init(&r, 4);
    sl__resp_str(&r, "ZRANGEBYLEX");
    sl__resp_str(&r, key);
    if (prefix == NULL || *prefix == '\0') {
        sl__resp_str(&r, "-");
        sl__resp_str(&r, "+");
    } else {
        size_t n = strlen(prefix);
        char *lo = sl_malloc(n + 3);

        lo[0] = '[';
        memcpy(lo + 1, prefix, n);
        sl__resp_arg(&r, lo, n + 1);
        lo[n + 1] = '\xff';         /* names are ASCII: every one with the prefix sorts below */
        sl__resp_arg(&r, lo, n + 2);
        sl_free(lo);
    }
    sl_free(key);
    submit(rs, &r, on_list, o);
    return SL_OK;
}

static int
r_queue_dlq_sources(sl_store_t *s, const char *dlq, sl_store_names_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = rop_new(rs, (void *)cb, arg, dlq);
    sl_resp_t r;

    script_begin(rs, &r, SL_RS_DLQ_SOURCES, dlq, 0);
    submit(rs, &r, on_dlq_sources, o);
    return SL_OK;
}

/* ---- Send ---- */

static const sl_send_err_t send_errs[] = {
    SL_SEND_OK, SL_SEND_TOO_LONG, SL_SEND_NEED_GROUP_ID, SL_SEND_NEED_DEDUP_ID,
    SL_SEND_DELAY_ON_FIFO, SL_SEND_NOT_FIFO_FIELD,
};

/* Hands one batch of sends its results: its batch status and 3 * o->n entries of r
 * from element first on (or status when it is not SL_OK). The caller frees o. */
static void
deliver_sent(rop_t *o, int status, const redisReply *r, size_t first)
{
    sl_store_send_cb cb = (sl_store_send_cb)o->cb;
    sl_send_result_t *res = NULL;
    long long bst;

    if (status == SL_OK && (!r_int(r, first, &bst) || (bst != 0 && bst != 2))) {
        malformed(o, "send");
        status = SL_EBACKEND;
    }
    if (status == SL_OK && bst == 2)
        status = SL_EFULL;
    if (status == SL_OK) {
        res = sl_calloc(o->n ? o->n : 1, sizeof(*res));
        for (size_t i = 0; i < o->n && status == SL_OK; i++) {
            size_t e = first + 1 + 3 * i;
            long long err, seq;
            const char *fid;
            size_t flen;

            if (!r_int(r, e, &err) || !r_int(r, e + 1, &seq) || !r_str(r, e + 2, &fid, &flen) ||
                err < 0 || err >= (long long)(sizeof(send_errs) / sizeof(send_errs[0])) ||
                flen > SL_MSG_ID_LEN) {
                malformed(o, "send");
                status = SL_EBACKEND;
                break;
            }
            res[i].err = send_errs[err];
            res[i].seq = seq > 0 ? (uint64_t)seq : 0;
            if (err == 0 && flen > 0)
                memcpy(res[i].id, fid, flen);       /* a duplicate: the first's id */
            else if (err == 0)
                memcpy(res[i].id, o->ids[i], sizeof(res[i].id));
        }
    }
    if (status == SL_OK)
        cb(o->arg, SL_OK, res, o->n);
    else
        cb(o->arg, status, NULL, 0);
    sl_free(res);
}

static int
r_send(sl_store_t *s, const char *queue, const sl_msg_in_t *msgs, size_t n, sl_store_send_cb cb,
       void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = rop_new(rs, (void *)cb, arg, queue);
    sl_resp_t *r = &o->args;
    sl_buf_t b;

    o->n = n;
    o->ids = sl_malloc((n ? n : 1) * sizeof(*o->ids));
    sl__resp_init(r, 1 + 7 * n);
    o->has_args = true;
    sl__resp_i64(r, (int64_t)n);
    sl_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        const sl_msg_in_t *m = &msgs[i];
        int flags = (m->group_id ? 1 : 0) | (m->dedup_id ? 2 : 0) |
                    (m->dedup_id && m->dedup_from_content ? 4 : 0);

        memcpy(o->ids[i], m->id, sizeof(o->ids[i]));
        b.len = 0;
        sl_codec_pack_msg(&b, m);
        sl__resp_arg(r, b.p, b.len);
        sl__resp_str(r, m->id);
        sl__resp_i64(r, (int64_t)sl_msg_in_size(m));
        sl__resp_i64(r, flags);
        sl__resp_str(r, m->group_id ? m->group_id : "");
        sl__resp_str(r, m->dedup_id ? m->dedup_id : "");
        sl__resp_i64(r, m->delay_s < 0 ? -1 : m->delay_s);
    }
    sl_buf_deinit(&b);
    merge_add(rs, SL_RS_SEND, o, 0, n, r->b.len);
    return SL_OK;
}

/* ---- Receive ---- */

/* After an empty receive: wake the queue's polls when its earliest delay or
 * visibility timeout ends (Redis's clock, carried over as a delay). */
static void
schedule_wake(rstore_t *rs, watch_t *w, long long redis_now, long long next)
{
    int64_t now = mono_ms(), due;

    w->last_empty = now;
    if (next < 0)
        return;
    due = now + (next > redis_now ? (int64_t)(next - redis_now) : 0) + 1;
    if (sl__vheap_node_is_queued(&w->hn) && w->hn.key <= due && w->hn.key > now)
        return;
    sl__vheap_set(&rs->wakes, &w->hn, due);
    arm_wake(rs);
}

/* Writes the receipt of a message: queue uid, key and serial in fixed-width hex. */
static void
receipt_format(char out[RECEIPT_LEN + 1], uint64_t uid, uint64_t key, uint32_t ser)
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 15; i >= 0; i--, uid >>= 4)
        out[i] = hex[uid & 15];
    for (int i = 31; i >= 16; i--, key >>= 4)
        out[i] = hex[key & 15];
    for (int i = 39; i >= 32; i--, ser >>= 4)
        out[i] = hex[ser & 15];
    out[RECEIPT_LEN] = '\0';
}

/* Reads a delivery state "rc:serial:first_receive:sent:seq:expire:dlq_source:group"
 * (redis_scripts.c): the six numbers into v, the dlq source (borrowed from p) into
 * *src. False when malformed. */
static bool
parse_state(const char *p, size_t len, long long v[6], const char **src, size_t *srclen)
{
    const char *end = p + len;

    for (int i = 0; i < 6; i++) {
        unsigned long long x = 0;
        int digits = 0;

        for (; p < end && *p >= '0' && *p <= '9' && digits < 19; p++, digits++)
            x = x * 10 + (unsigned long long)(*p - '0');
        if (digits == 0 || p >= end || *p != ':')
            return false;
        v[i] = (long long)x;
        p++;
    }
    *src = p;
    while (p < end && *p != ':')
        p++;
    if (p >= end)
        return false;
    *srclen = (size_t)(p - *src);
    return true;
}

/* Hands one receiver its messages: the cnt triples (key, state, record) of r from
 * element first on, with the reply's Redis time, next deadline and queue uid; or
 * status when it is not SL_OK. The caller frees o. */
static void
deliver_received(rop_t *o, int status, const redisReply *r, size_t first, size_t cnt,
                 long long now, long long next, long long uid)
{
    rstore_t *rs = o->rs;
    sl_store_recv_cb cb = (sl_store_recv_cb)o->cb;
    sl_received_t *rv = NULL;
    sl_msg_t **msgs = NULL;
    char (*receipts)[RECEIPT_LEN + 1] = NULL;
    size_t n = status == SL_OK ? cnt : 0, got = 0;
    watch_t *w = o->w;

    if (status == SL_OK) {
        rv = sl_calloc(n ? n : 1, sizeof(*rv));
        msgs = sl_calloc(n ? n : 1, sizeof(*msgs));
        receipts = sl_calloc(n ? n : 1, sizeof(*receipts));
    }
    for (size_t i = 0; i < n; i++) {
        size_t b = first + 3 * i, klen, blen, stlen, slen;
        const char *key, *blob, *st, *src;
        long long v[6];             /* rc, serial, first receive, sent, seq, expire */
        sl_msg_t *m;

        if (!r_str(r, b, &key, &klen) || key == NULL || !r_str(r, b + 1, &st, &stlen) ||
            st == NULL || !parse_state(st, stlen, v, &src, &slen) ||
            !r_str(r, b + 2, &blob, &blen) || blob == NULL) {
            malformed(o, "receive");
            continue;
        }
        if (sl_codec_unpack_msg(blob, blen, src, slen, &m) != SL_OK) {
            sl_log(SL_LOG_ERROR, "redis message record undecodable queue=%s key=%s", o->name,
                   key);
            continue;
        }
        m->receive_count = (uint32_t)v[0];
        m->first_receive_ms = v[2];
        m->sent_ms = v[3];
        m->seq = (uint64_t)v[4];
        receipt_format(receipts[got], (uint64_t)uid, strtoull(key, NULL, 10), (uint32_t)v[1]);
        msgs[got] = m;
        rv[got].msg = m;
        rv[got].receipt = receipts[got];
        got++;
    }
    if (status == SL_OK && got == 0 && w != NULL) {
        schedule_wake(rs, w, now, next);
        w->empty_gen = o->gen;
    }
    cb(o->arg, status, status == SL_OK ? rv : NULL, status == SL_OK ? got : 0);
    for (size_t i = 0; i < got; i++)
        sl_free(msgs[i]);
    sl_free(msgs);
    sl_free(rv);
    sl_free(receipts);
    /* A notification that arrived while this receive was under way may
     * describe a message it did not see: replay it now that the caller has
     * parked its poll. */
    if (status == SL_OK && got == 0 && w != NULL && w->gen != o->gen && !rs->closing) {
        w->empty_gen = w->gen;
        notify(rs, o->name);
    }
}

static int
r_receive(sl_store_t *s, const char *queue, const sl_recv_opts_t *opts, sl_store_recv_cb cb,
          void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = rop_new(rs, (void *)cb, arg, queue);

    o->w = watch_get(rs, queue);
    o->w->receiving++;
    o->gen = o->w->gen;
    o->max = opts->max ? opts->max : 1;
    merge_add(rs, SL_RS_RECEIVE, o, opts->visibility_s < 0 ? -1 : opts->visibility_s, o->max,
              0);
    if (rs->wake_at == 0)
        arm_wake(rs);               /* starts the watch sweeps */
    return SL_OK;
}

/* ---- Delete and visibility ---- */

/* Splits a receipt into its three numbers (hex, lower case: what receipt_format
 * writes); false when malformed. */
static bool
receipt_split(const char *rc, uint64_t v[3])
{
    static const int width[3] = { 16, 16, 8 };

    if (rc == NULL)
        return false;
    for (int f = 0; f < 3; f++) {
        v[f] = 0;
        for (int i = 0; i < width[f]; i++, rc++) {
            int d = *rc >= '0' && *rc <= '9' ? *rc - '0' : *rc >= 'a' && *rc <= 'f' ? *rc - 'a' + 10
                                                                                      : -1;

            if (d < 0)
                return false;
            v[f] = v[f] << 4 | (uint64_t)d;
        }
    }
    return *rc == '\0';
}

/* Splits a receipt into decimal uid, key and serial; false when malformed. */
static bool
parse_receipt(const char *rc, char uid[24], char key[24], char ser[12])
{
    uint64_t v[3];

    if (!receipt_split(rc, v))
        return false;
    uid[sl__dec_u64(uid, v[0])] = '\0';
    key[sl__dec_u64(key, v[1])] = '\0';
    ser[sl__dec_u64(ser, v[2])] = '\0';
    return true;
}

static void
resp_u64(sl_resp_t *r, uint64_t v)
{
    char tmp[20];

    sl__resp_arg(r, tmp, sl__dec_u64(tmp, v));
}

/* Hands one batch its per-receipt results, o->n integers of r from element first
 * on (or status when it is not SL_OK). The caller frees o. */
static void
deliver_batch(rop_t *o, int status, const redisReply *r, size_t first)
{
    sl_store_batch_cb cb = (sl_store_batch_cb)o->cb;

    for (size_t i = 0; status == SL_OK && i < o->n; i++) {
        long long v;

        if (!r_int(r, first + i, &v)) {
            malformed(o, "batch");
            status = SL_EBACKEND;
        } else if (o->rcs[i] == SL_OK) {
            o->rcs[i] = v == 0 ? SL_OK : v == 1 ? SL_ENOTFOUND : SL_EPROTO;
        }
    }
    if (status == SL_OK)
        cb(o->arg, SL_OK, o->rcs, o->n);
    else
        cb(o->arg, status, NULL, 0);
}

static void
on_batch(void *arg, int status, redisReply *r)
{
    rop_t *o = arg;
    rstore_t *rs = o->rs;
    long long pub = 0;

    if (status == SL_RCONN_CANCELLED) {
        rop_free(o);
        return;
    }
    enter(rs);
    status = reply_status(o, "batch", status, r);
    if (status == SL_OK && (!is_array(r, 2 + o->n) || !r_int(r, 1, &pub))) {
        malformed(o, "batch");
        status = SL_EBACKEND;
    }
    deliver_batch(o, status, r, 2);
    if (status == SL_OK && pub)
        published(rs, o->name);
    rop_free(o);
    leave(rs);
}

/* The receipts of a batch, checked and split; a malformed one is judged SL_EPROTO
 * at once and sent as uid 0, which no queue has, so the script calls it foreign. */
static rop_t *
batch_new(rstore_t *rs, const char *queue, const char *const *receipts,
          const sl_vis_change_t *v, size_t n, sl_store_batch_cb cb, void *arg)
{
    rop_t *o = rop_new(rs, (void *)cb, arg, queue);

    o->n = n;
    o->rcs = sl_calloc(n ? n : 1, sizeof(int));
    o->rv = sl_calloc(n ? n : 1, sizeof(*o->rv));
    for (size_t i = 0; i < n; i++)
        if (!receipt_split(v ? v[i].receipt : receipts[i], o->rv[i]))
            o->rcs[i] = SL_EPROTO;
    return o;
}

static int
r_delete_batch(sl_store_t *s, const char *queue, const char *const *receipts, size_t n,
               sl_store_batch_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;

    merge_add(rs, SL_RS_DELETE, batch_new(rs, queue, receipts, NULL, n, cb, arg), 0, n, 0);
    return SL_OK;
}

static int
r_change_visibility(sl_store_t *s, const char *queue, const sl_vis_change_t *v, size_t n,
                    sl_store_batch_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = batch_new(rs, queue, NULL, v, n, cb, arg);
    sl_resp_t r;

    script_begin(rs, &r, SL_RS_CHANGE_VIS, queue, 1 + 4 * n);
    sl__resp_i64(&r, (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        resp_u64(&r, o->rv[i][0]);
        resp_u64(&r, o->rv[i][1]);
        resp_u64(&r, o->rv[i][2]);
        sl__resp_i64(&r, v[i].visibility_ms);
    }
    submit(rs, &r, on_batch, o);
    return SL_OK;
}

/* ---- Merging ----
 * Clients of one queue tend to ask together: several connections' SendMessageBatch,
 * ReceiveMessage or DeleteMessageBatch are read in the same pass of the loop. A
 * script call has a fixed cost in Redis several times a message's (EVALSHA, the
 * prelude's TIME and queue lookup, the promotion and retention sweeps; callgrind:
 * ~170k instructions a call, against ~32k a message and script), so sends of one queue,
 * receives of one queue with the same visibility, and deletes of one queue, asked
 * for one after another are held until the pass ends (an event made active, which
 * libevent runs in the same pass) and sent as one call. Only neighbours merge: any
 * other command flushes the held one first, so Redis runs the scripts in the order
 * they were asked for, and the scripts serve each merged request in turn, so the
 * result is what separate calls back to back would give. */

#define MERGE_MAX_OPS 64            /* requests in one call */
#define MERGE_MAX_ITEMS 256         /* messages sent or asked for, or receipts, in one call */
#define MERGE_MAX_BYTES (1 << 20)   /* sends: arguments in one call (a script blocks Redis) */

typedef struct merge {
    rstore_t *rs;
    sl_rscript_t script;            /* SL_RS_RECEIVE or SL_RS_DELETE */
    char *name;                     /* queue */
    int32_t vis;                    /* receive: visibility seconds, -1 = the queue's */
    rop_t *ops[MERGE_MAX_OPS];
    size_t n;
    size_t items;
    size_t bytes;                   /* sends: RESP of their arguments */
} merge_t;

static void
merge_free(merge_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->ops[i] != NULL)
            rop_free(m->ops[i]);
    sl_free(m->name);
    sl_free(m);
}

static void
on_merged_receive(merge_t *m, int status, const redisReply *r)
{
    long long now = 0, next = -1, uid = 0;
    size_t first = 4 + m->n, total = 0;

    if (status == SL_OK && (!is_array(r, 4 + m->n) || !r_int(r, 1, &now) ||
                            !r_int(r, 2, &next))) {
        malformed(m->ops[0], "receive");
        status = SL_EBACKEND;
    }
    if (status == SL_OK) {
        const char *us;
        size_t ul;

        /* the uid comes back as the string HMGET read */
        if (r_str(r, 3, &us, &ul) && us != NULL)
            uid = strtoll(us, NULL, 10);
        else if (!r_int(r, 3, &uid))
            uid = 0;
        for (size_t i = 0; i < m->n && status == SL_OK; i++) {
            long long c;

            if (!r_int(r, 4 + i, &c) || c < 0 || c > (long long)m->ops[i]->max) {
                malformed(m->ops[0], "receive");
                status = SL_EBACKEND;
            }
            total += (size_t)c;
        }
        if (status == SL_OK && r->elements != first + 3 * total) {
            malformed(m->ops[0], "receive");
            status = SL_EBACKEND;
        }
    }
    for (size_t i = 0; i < m->n; i++) {
        rop_t *o = m->ops[i];
        long long c = 0;

        m->ops[i] = NULL;
        if (status == SL_OK)
            r_int(r, 4 + i, &c);
        if (!m->rs->closing)        /* else destroyed by an earlier callback: no more */
            deliver_received(o, status, r, first, (size_t)c, now, next, uid);
        rop_free(o);
        first += 3 * (size_t)c;
    }
}

/* Hands each merged send or delete batch its slice of r: after the reply's two
 * header elements, batch i takes per_call + per_item * n_i elements. */
static void
on_merged_batches(merge_t *m, int status, const redisReply *r, const char *what,
                  size_t per_call, size_t per_item,
                  void (*deliver)(rop_t *o, int status, const redisReply *r, size_t first))
{
    long long pub = 0;
    size_t first = 2;

    if (status == SL_OK && (!is_array(r, 2 + per_call * m->n + per_item * m->items) ||
                            !r_int(r, 1, &pub))) {
        malformed(m->ops[0], what);
        status = SL_EBACKEND;
    }
    for (size_t i = 0; i < m->n; i++) {
        rop_t *o = m->ops[i];
        size_t n = o->n;

        m->ops[i] = NULL;
        if (!m->rs->closing)
            deliver(o, status, r, first);
        rop_free(o);
        first += per_call + per_item * n;
    }
    if (status == SL_OK && pub)
        published(m->rs, m->name);
}

static void
on_merged(void *arg, int status, redisReply *r)
{
    merge_t *m = arg;
    rstore_t *rs = m->rs;

    if (status == SL_RCONN_CANCELLED) {
        merge_free(m);
        return;
    }
    enter(rs);
    status = reply_status(m->ops[0], sl__rscript_name(m->script), status, r);
    if (m->script == SL_RS_SEND)
        on_merged_batches(m, status, r, "send", 1, 3, deliver_sent);
    else if (m->script == SL_RS_RECEIVE)
        on_merged_receive(m, status, r);
    else
        on_merged_batches(m, status, r, "batch", 0, 1, deliver_batch);
    merge_free(m);
    leave(rs);
}

/* Sends the held call, if any. */
static void
merge_flush(rstore_t *rs)
{
    merge_t *m = rs->open;
    sl_resp_t r;

    if (m == NULL)
        return;
    rs->open = NULL;
    if (m->script == SL_RS_SEND) {
        size_t nargs = 0;

        for (size_t i = 0; i < m->n; i++)
            nargs += m->ops[i]->args.argc;
        script_begin(rs, &r, SL_RS_SEND, m->name, nargs);
        for (size_t i = 0; i < m->n; i++)
            sl__resp_args_of(&r, &m->ops[i]->args);
    } else if (m->script == SL_RS_RECEIVE) {
        script_begin(rs, &r, SL_RS_RECEIVE, m->name, 1 + m->n);
        sl__resp_i64(&r, m->vis);
        for (size_t i = 0; i < m->n; i++)
            sl__resp_i64(&r, m->ops[i]->max);
    } else {
        script_begin(rs, &r, SL_RS_DELETE, m->name, 1 + 3 * m->items);
        sl__resp_i64(&r, (int64_t)m->items);
        for (size_t i = 0; i < m->n; i++) {
            const rop_t *o = m->ops[i];

            for (size_t j = 0; j < o->n; j++) {
                resp_u64(&r, o->rv[j][0]);
                resp_u64(&r, o->rv[j][1]);
                resp_u64(&r, o->rv[j][2]);
            }
        }
    }
    sl__rconn_submit(rs->conn, &r, on_merged, m);
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    merge_flush(arg);
}

/* Holds o (a send of items messages whose arguments take bytes, a receive asking
 * for items messages with visibility vis, or a delete of items receipts) to go
 * out with its neighbours; takes ownership of o. */
static void
merge_add(rstore_t *rs, sl_rscript_t script, rop_t *o, int32_t vis, size_t items,
          size_t bytes)
{
    merge_t *m = rs->open;

    if (m != NULL && (m->script != script || strcmp(m->name, o->name) != 0 || m->vis != vis ||
                      m->n == MERGE_MAX_OPS || m->items + items > MERGE_MAX_ITEMS ||
                      m->bytes + bytes > MERGE_MAX_BYTES))
        merge_flush(rs);
    if ((m = rs->open) == NULL) {
        m = sl_calloc(1, sizeof(*m));
        m->rs = rs;
        m->script = script;
        m->name = sl_strdup(o->name);
        m->vis = vis;
        rs->open = m;
        event_active(rs->flush_ev, EV_TIMEOUT, 1);
    }
    m->ops[m->n++] = o;
    m->items += items;
    m->bytes += bytes;
}

/* ---- Dead letters ----
 * Two round trips, for a rare path (a trigger giving up on a message): read the
 * record, merge the extra attributes here (their digest is an MD5, which Redis
 * scripts cannot compute), then move it by a script that checks the receipt
 * again, so a message received meanwhile is not moved. */

/* The record with the extra attributes (same name replaced) and the attribute
 * digest recomputed; false when the stored record cannot be read. */
static bool
merge_record(const rop_t *o, const char *blob, size_t blen, sl_buf_t *out)
{
    sl_msg_attr_t *merged;
    sl_msg_in_t in;
    sl_msg_t *m;
    size_t n = 0;

    if (sl_codec_unpack_msg(blob, blen, NULL, 0, &m) != SL_OK)
        return false;
    merged = sl_malloc((m->nattrs + o->nextra + 1) * sizeof(*merged));
    for (uint32_t i = 0; i < m->nattrs; i++) {
        bool replaced = false;

        for (size_t k = 0; k < o->nextra; k++)
            replaced |= strcmp(m->attrs[i].name, o->extra[k].name) == 0;
        if (!replaced)
            merged[n++] = m->attrs[i];
    }
    for (size_t k = 0; k < o->nextra && n < SL_CODEC_MAX_ATTRS; k++)
        merged[n++] = o->extra[k];
    memset(&in, 0, sizeof(in));
    memcpy(in.id, m->id, sizeof(in.id));
    memcpy(in.md5_body, m->md5_body, sizeof(in.md5_body));
    sl_md5_attrs(merged, n, in.md5_attrs);
    in.body = m->body;
    in.body_len = m->body_len;
    in.attrs = merged;
    in.nattrs = (uint32_t)n;
    in.trace_header = m->trace_header;
    in.group_id = m->group_id;
    in.dedup_id = m->dedup_id;
    in.delay_s = -1;
    sl_codec_pack_msg(out, &in);
    sl_free(merged);
    sl_free(m);
    return true;
}

static void
on_dead_lettered(void *arg, int status, redisReply *r)
{
    rop_t *o = arg;
    rstore_t *rs = o->rs;
    const char *dlq = NULL;
    size_t dlen;
    long long pub = 0;

    if (status == SL_RCONN_CANCELLED) {
        rop_free(o);
        return;
    }
    enter(rs);
    status = reply_status(o, "dead_letter", status, r);
    if (status == SL_OK && (!is_array(r, 3) || !r_int(r, 1, &pub) ||
                            !r_str(r, 2, &dlq, &dlen) || dlq == NULL)) {
        malformed(o, "dead_letter");
        status = SL_EBACKEND;
    }
    ((sl_store_done_cb)o->cb)(o->arg, status);
    if (status == SL_OK && pub)
        published(rs, dlq);
    rop_free(o);
    leave(rs);
}

static void
on_dead_letter_read(void *arg, int status, redisReply *r)
{
    rop_t *o = arg;
    rstore_t *rs = o->rs;
    const char *blob = NULL;
    size_t blen = 0;
    sl_resp_t cmd;
    sl_buf_t b;

    if (status == SL_RCONN_CANCELLED) {
        rop_free(o);
        return;
    }
    enter(rs);
    status = reply_status(o, "dead_letter_read", status, r);
    if (status == SL_OK && (!r_str(r, 1, &blob, &blen) || blob == NULL)) {
        malformed(o, "dead_letter_read");
        status = SL_EBACKEND;
    }
    sl_buf_init(&b);
    if (status == SL_OK && o->nextra > 0 && !merge_record(o, blob, blen, &b)) {
        sl_log(SL_LOG_ERROR, "redis message record undecodable queue=%s key=%s", o->name,
               o->key);
        status = SL_EBACKEND;
    }
    if (status != SL_OK || rs->closing) {
        if (!rs->closing)
            ((sl_store_done_cb)o->cb)(o->arg, status);
        sl_buf_deinit(&b);
        rop_free(o);
        leave(rs);
        return;
    }
    script_begin(rs, &cmd, SL_RS_DEAD_LETTER, o->name, 4);
    sl__resp_str(&cmd, o->uid);
    sl__resp_str(&cmd, o->key);
    sl__resp_str(&cmd, o->ser);
    if (o->nextra > 0)
        sl__resp_arg(&cmd, b.p, b.len);
    else
        sl__resp_arg(&cmd, blob, blen);
    sl_buf_deinit(&b);
    submit(rs, &cmd, on_dead_lettered, o);
    leave(rs);
}

static bool parse_receipt(const char *rc, char uid[24], char key[24], char ser[12]);

static int
r_dead_letter(sl_store_t *s, const char *queue, const char *receipt, const sl_msg_attr_t *extra,
              size_t nextra, sl_store_done_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = rop_new(rs, (void *)cb, arg, queue);
    size_t size = nextra * sizeof(*extra);
    sl_resp_t r;
    char *cur;

    if (!parse_receipt(receipt, o->uid, o->key, o->ser)) {
        strcpy(o->uid, "0");        /* no queue has uid 0: the script says "foreign" */
        strcpy(o->key, "0");
        strcpy(o->ser, "0");
    }
    /* The extra attributes are the caller's only until we return: copy them. */
    for (size_t i = 0; i < nextra; i++)
        size += strlen(extra[i].name) + strlen(extra[i].type) + extra[i].len + 3;
    if (nextra > 0) {
        o->extra = sl_malloc(size);
        o->nextra = nextra;
        cur = (char *)(o->extra + nextra);
        for (size_t i = 0; i < nextra; i++) {
            size_t nl = strlen(extra[i].name) + 1, tl = strlen(extra[i].type) + 1;

            o->extra[i].name = memcpy(cur, extra[i].name, nl);
            cur += nl;
            o->extra[i].type = memcpy(cur, extra[i].type, tl);
            cur += tl;
            o->extra[i].value = cur;
            memcpy(cur, extra[i].value, extra[i].len);
            cur[extra[i].len] = '\0';
            cur += extra[i].len + 1;
            o->extra[i].len = extra[i].len;
        }
    }
    script_begin(rs, &r, SL_RS_DEAD_LETTER_READ, queue, 3);
    sl__resp_str(&r, o->uid);
    sl__resp_str(&r, o->key);
    sl__resp_str(&r, o->ser);
    submit(rs, &r, on_dead_letter_read, o);
    return SL_OK;
}

/* ---- Metadata documents ----
 * One hash per kind, P meta:KIND, name -> document. Single commands are atomic
 * already, so no scripts here. */

static void
meta_cmd(rstore_t *rs, sl_resp_t *r, size_t argc, const char *cmd, const char *kind)
{
    size_t plen = strlen(rs->prefix), klen = strlen(kind);
    char *key = sl_malloc(plen + klen + 6);

    memcpy(key, rs->prefix, plen);
    memcpy(key + plen, "meta:", 5);
    memcpy(key + plen + 5, kind, klen + 1);
    sl__resp_init(r, argc);
    sl__resp_str(r, cmd);
    sl__resp_str(r, key);
    sl_free(key);
}

/* HSET (o->n == 0) or HDEL (o->n == 1: 0 deleted is SL_ENOTFOUND). */
static void
on_meta_done(void *arg, int status, redisReply *r)
{
    rop_t *o = arg;
    rstore_t *rs = o->rs;

    if (status == SL_RCONN_CANCELLED) {
        rop_free(o);
        return;
    }
    enter(rs);
    if (status == SL_OK && (r == NULL || r->type != REDIS_REPLY_INTEGER)) {
        malformed(o, "meta");
        status = SL_EBACKEND;
    } else if (status == SL_OK && o->n == 1 && r->integer == 0) {
        status = SL_ENOTFOUND;
    }
    ((sl_store_done_cb)o->cb)(o->arg, status);
    rop_free(o);
    leave(rs);
}

static int
r_meta_put(sl_store_t *s, const char *kind, const char *name, const char *doc, size_t len,
           sl_store_done_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = rop_new(rs, (void *)cb, arg, name);
    sl_resp_t r;

    meta_cmd(rs, &r, 4, "HSET", kind);
    sl__resp_str(&r, name);
    sl__resp_arg(&r, doc, len);
    submit(rs, &r, on_meta_done, o);
    return SL_OK;
}

static int
r_meta_delete(sl_store_t *s, const char *kind, const char *name, sl_store_done_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = rop_new(rs, (void *)cb, arg, name);
    sl_resp_t r;

    o->n = 1;
    meta_cmd(rs, &r, 3, "HDEL", kind);
    sl__resp_str(&r, name);
    submit(rs, &r, on_meta_done, o);
    return SL_OK;
}

static void
on_meta_got(void *arg, int status, redisReply *r)
{
    rop_t *o = arg;
    rstore_t *rs = o->rs;
    sl_store_doc_cb cb = (sl_store_doc_cb)o->cb;

    if (status == SL_RCONN_CANCELLED) {
        rop_free(o);
        return;
    }
    enter(rs);
    if (status == SL_OK && r->type == REDIS_REPLY_STRING)
        cb(o->arg, SL_OK, r->str, r->len);
    else if (status == SL_OK && r->type == REDIS_REPLY_NIL)
        cb(o->arg, SL_ENOTFOUND, NULL, 0);
    else {
        if (status == SL_OK)
            malformed(o, "meta_get");
        cb(o->arg, status == SL_OK ? SL_EBACKEND : status, NULL, 0);
    }
    rop_free(o);
    leave(rs);
}

static int
r_meta_get(sl_store_t *s, const char *kind, const char *name, sl_store_doc_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = rop_new(rs, (void *)cb, arg, name);
    sl_resp_t r;

    meta_cmd(rs, &r, 3, "HGET", kind);
    sl__resp_str(&r, name);
    submit(rs, &r, on_meta_got, o);
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

static void
on_meta_listed(void *arg, int status, redisReply *r)
{
    rop_t *o = arg;
    rstore_t *rs = o->rs;
    sl_store_docs_cb cb = (sl_store_docs_cb)o->cb;
    named_doc_t *all;
    char **names, **docs;
    size_t n = 0;

    if (status == SL_RCONN_CANCELLED) {
        rop_free(o);
        return;
    }
    enter(rs);
    if (status == SL_OK && (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)) {
        malformed(o, "meta_list");
        status = SL_EBACKEND;
    }
    if (status != SL_OK) {
        cb(o->arg, status, NULL, NULL, 0);
        rop_free(o);
        leave(rs);
        return;
    }
    /* HGETALL answers name, doc, name, doc...; the interface wants name order. */
    all = sl_malloc((r->elements / 2 + 1) * sizeof(*all));
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        if (r->element[i]->type != REDIS_REPLY_STRING ||
            r->element[i + 1]->type != REDIS_REPLY_STRING)
            continue;
        all[n].name = r->element[i]->str;       /* hiredis NUL-terminates strings */
        all[n].doc = r->element[i + 1]->str;
        n++;
    }
    qsort(all, n, sizeof(*all), cmp_named);
    names = sl_malloc((n + 1) * sizeof(*names));
    docs = sl_malloc((n + 1) * sizeof(*docs));
    for (size_t i = 0; i < n; i++) {
        names[i] = all[i].name;
        docs[i] = all[i].doc;
    }
    cb(o->arg, SL_OK, names, docs, n);
    sl_free(all);
    sl_free(names);
    sl_free(docs);
    rop_free(o);
    leave(rs);
}

static int
r_meta_list(sl_store_t *s, const char *kind, sl_store_docs_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = rop_new(rs, (void *)cb, arg, kind);
    sl_resp_t r;

    meta_cmd(rs, &r, 2, "HGETALL", kind);
    submit(rs, &r, on_meta_listed, o);
    return SL_OK;
}

/* ---- Outbox ---- */

static int
r_outbox_append(sl_store_t *s, const char *kind, const void *payload, size_t len,
                int64_t delay_ms, sl_store_done_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = rop_new(rs, (void *)cb, arg, NULL);
    char id[SL_MSG_ID_LEN + 1];
    sl_resp_t r;
    sl_buf_t b;

    sl_uuid4(id);
    sl_buf_init(&b);
    sl_codec_pack_outbox(&b, kind, payload, len);
    script_begin(rs, &r, SL_RS_OUTBOX_APPEND, NULL, 3);
    sl__resp_str(&r, id);
    sl__resp_arg(&r, b.p, b.len);
    sl__resp_i64(&r, delay_ms > 0 ? delay_ms : 0);
    sl_buf_deinit(&b);
    submit(rs, &r, on_done, o);
    return SL_OK;
}

static void
on_claimed(void *arg, int status, redisReply *r)
{
    rop_t *o = arg;
    rstore_t *rs = o->rs;
    sl_store_outbox_cb cb = (sl_store_outbox_cb)o->cb;
    sl_outbox_item_t *items = NULL;
    char **kinds = NULL;
    size_t n = 0, got = 0;

    if (status == SL_RCONN_CANCELLED) {
        rop_free(o);
        return;
    }
    enter(rs);
    status = reply_status(o, "outbox_claim", status, r);
    if (status == SL_OK && (r->elements - 1) % 3 != 0) {
        malformed(o, "outbox_claim");
        status = SL_EBACKEND;
    }
    if (status == SL_OK) {
        n = (r->elements - 1) / 3;
        items = sl_calloc(n ? n : 1, sizeof(*items));
        kinds = sl_calloc(n ? n : 1, sizeof(*kinds));
    }
    for (size_t i = 0; i < n; i++) {
        const char *id, *blob, *kind;
        size_t idlen, blen, klen;
        long long att;
        const void *payload;
        size_t plen;

        if (!r_str(r, 1 + 3 * i, &id, &idlen) || id == NULL ||
            !r_str(r, 2 + 3 * i, &blob, &blen) || blob == NULL ||
            !r_int(r, 3 + 3 * i, &att) ||
            sl_codec_unpack_outbox(blob, blen, &kind, &klen, &payload, &plen) != SL_OK) {
            sl_log(SL_LOG_ERROR, "redis outbox entry undecodable index=%zu", i);
            continue;
        }
        kinds[got] = sl_strndup(kind, klen);
        items[got].id = id;
        items[got].kind = kinds[got];
        items[got].payload = payload;
        items[got].len = plen;
        items[got].attempts = (uint32_t)att;
        got++;
    }
    cb(o->arg, status, status == SL_OK ? items : NULL, status == SL_OK ? got : 0);
    for (size_t i = 0; i < got; i++)
        sl_free(kinds[i]);
    sl_free(kinds);
    sl_free(items);
    rop_free(o);
    leave(rs);
}

static int
r_outbox_claim(sl_store_t *s, size_t max, int64_t lease_ms, sl_store_outbox_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = rop_new(rs, (void *)cb, arg, NULL);
    sl_resp_t r;

    script_begin(rs, &r, SL_RS_OUTBOX_CLAIM, NULL, 2);
    sl__resp_i64(&r, (int64_t)max);
    sl__resp_i64(&r, lease_ms > 0 ? lease_ms : 0);
    submit(rs, &r, on_claimed, o);
    return SL_OK;
}

static int
r_outbox_ack(sl_store_t *s, const char *id, sl_store_done_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = rop_new(rs, (void *)cb, arg, NULL);
    sl_resp_t r;

    script_begin(rs, &r, SL_RS_OUTBOX_ACK, NULL, 1);
    sl__resp_str(&r, id);
    submit(rs, &r, on_done, o);
    return SL_OK;
}

static int
r_outbox_retry(sl_store_t *s, const char *id, int64_t delay_ms, sl_store_done_cb cb, void *arg)
{
    rstore_t *rs = (rstore_t *)s;
    rop_t *o = rop_new(rs, (void *)cb, arg, NULL);
    sl_resp_t r;

    script_begin(rs, &r, SL_RS_OUTBOX_RETRY, NULL, 2);
    sl__resp_str(&r, id);
    sl__resp_i64(&r, delay_ms > 0 ? delay_ms : 0);
    submit(rs, &r, on_done, o);
    return SL_OK;
}

/* ---- Lifetime ---- */

static void
really_free(rstore_t *rs)
{
    size_t pos = 0;
    const char *name;
    void *val;

    while (sl__strmap_next(&rs->watches, &pos, &name, &val)) {
        watch_t *w = val;

        sl_free(w->name);
        sl_free(w);
    }
    sl__strmap_deinit(&rs->watches);
    sl__vheap_deinit(&rs->wakes);
    event_free(rs->wake_timer);
    event_free(rs->flush_ev);
    sl_free(rs->prefix);
    sl_free(rs);
}

static void
r_destroy(sl_store_t *s)
{
    rstore_t *rs = (rstore_t *)s;

    if (rs->closing)
        return;
    rs->closing = true;
    if (rs->open != NULL) {         /* held, never sent: dropped like the rest */
        merge_free(rs->open);
        rs->open = NULL;
    }
    sl__rconn_destroy(rs->conn);    /* pending operations are dropped, their callbacks never run */
    rs->conn = NULL;
    if (rs->depth == 0)
        really_free(rs);
}

static const sl_store_ops_t redis_ops = {
    .name = "redis",
    .destroy = r_destroy,
    .queue_create = r_queue_create,
    .queue_get = r_queue_get,
    .queue_set = r_queue_set,
    .queue_tag = r_queue_tag,
    .queue_delete = r_queue_delete,
    .queue_list = r_queue_list,
    .queue_dlq_sources = r_queue_dlq_sources,
    .queue_purge = r_queue_purge,
    .send = r_send,
    .receive = r_receive,
    .delete_batch = r_delete_batch,
    .change_visibility = r_change_visibility,
    .outbox_append = r_outbox_append,
    .outbox_claim = r_outbox_claim,
    .outbox_ack = r_outbox_ack,
    .outbox_retry = r_outbox_retry,
    .dead_letter = r_dead_letter,
    .meta_put = r_meta_put,
    .meta_get = r_meta_get,
    .meta_list = r_meta_list,
    .meta_delete = r_meta_delete,
};

int
sl_redisstore_create(struct event_base *base, const char *url, sl_store_t **out, char *errbuf,
                     size_t errlen)
{
    sl_rconn_cfg_t cfg;
    sl_rconn_hooks_t hooks;
    rstore_t *rs;
    char *channel;
    int rc;

    if ((rc = sl__rconn_parse_url(url, &cfg, errbuf, errlen)) != SL_OK)
        return rc;
    rs = sl_calloc(1, sizeof(*rs));
    rs->base.ops = &redis_ops;
    rs->base.base = base;
    rs->prefix = sl_strdup(cfg.prefix);
    sl__strmap_init(&rs->watches);
    sl__vheap_init(&rs->wakes);
    rs->wake_timer = evtimer_new(base, on_wake_timer, rs);
    rs->flush_ev = event_new(base, -1, 0, on_flush, rs);
    rs->next_sweep = mono_ms() + WATCH_SWEEP_MS;
    channel = sl_malloc(strlen(cfg.prefix) + 7);
    strcpy(channel, cfg.prefix);
    strcat(channel, "notify");
    hooks.message = on_message;
    hooks.sub_ready = on_sub_ready;
    hooks.arg = rs;
    sl_log(SL_LOG_INFO, "redis store host=%s port=%d db=%d prefix=%s timeout_ms=%" PRId64,
           cfg.host, cfg.port, cfg.db, cfg.prefix, cfg.timeout_ms);
    rs->conn = sl__rconn_create(base, &cfg, channel, &hooks);
    sl_free(channel);
    sl__rconn_cfg_deinit(&cfg);
    *out = &rs->base;
    return SL_OK;
}

bool
sl_redisstore_is_ready(const sl_store_t *s)
{
    const rstore_t *rs = (const rstore_t *)s;

    return sl__rconn_state(rs->conn) == SL_RLINK_READY;
}
