/* mqueue.c - the memory store's queue: ready lists, FIFO groups, dedup window,
 * visibility and delay deadlines, retention, redrive.
 *
 * Standard queues keep visible messages on one ready list (append at the tail).
 * FIFO queues keep every message of a group on the group's list in sequence
 * order, whatever its state; a group is ready when nothing of it is in flight
 * and its head is visible, and ready groups sit on a list of their own. A
 * message that comes back after a visibility timeout therefore keeps its place
 * in its group, which is what keeps order across retries.
 *
 * Each message sits in the store's deadline heap exactly once, keyed by its next
 * event: the end of its delay, the end of its visibility timeout, or (when
 * visible) the end of its retention. One allocation holds a message with its
 * body and attributes, so a send costs O(1) allocations. */
#include "mqueue.h"

#include "sluice/error.h"
#include "sluice/mem.h"
#include "strmap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MSG_DELAYED,        /* waiting for DelaySeconds to pass */
    MSG_VISIBLE,        /* can be received */
    MSG_INFLIGHT,       /* received; hidden until its visibility deadline */
};

typedef struct group group_t;

struct sl_mmsg {
    sl_msg_t m;                 /* public view; strings point into this block */
    sl_vheap_node_t hn;
    sl_mq_t *q;                 /* NULL once removed from its queue */
    sl_mmsg_t *prev, *next;     /* ready list (standard) or group list (FIFO) */
    sl_mmsg_t *hnext;           /* hash chain by key */
    group_t *group;
    uint64_t key;               /* queue-local id, part of the receipt handle */
    int64_t expire_ms;          /* end of retention */
    uint32_t serial;            /* bumped by every receive; stale receipts lose */
    uint32_t refs;
    uint8_t state;
};

struct group {
    char *name;
    sl_mmsg_t *head, *tail;     /* all messages of the group, sequence order */
    group_t *rprev, *rnext;     /* ready-groups list */
    uint32_t inflight;
    bool ready;
};

typedef struct dedup {
    struct dedup *next;         /* insertion order = expiry order */
    char *key;
    char id[SL_MSG_ID_LEN + 1];
    uint64_t seq;
    int64_t expire_ms;
} dedup_t;

struct sl_mq {
    char *name;
    sl_queue_cfg_t cfg;
    sl_kvlist_t tags;
    sl_vheap_t *heap;
    uint64_t uid;               /* incarnation id: receipts of a deleted queue die */
    uint64_t next_key;
    uint64_t next_seq;
    int64_t created_s, modified_s;
    uint64_t n_visible, n_inflight, n_delayed;
    sl_mmsg_t *rhead, *rtail;   /* standard: visible messages */
    group_t *ghead, *gtail;     /* FIFO: ready groups */
    sl_strmap_t groups;
    sl_strmap_t dedups;
    dedup_t *dhead, *dtail;
    sl_mmsg_t **buckets;        /* key -> message */
    size_t nbuckets, nmsgs;
};

/* ---- Message memory ---- */

static char *
put_str(char **cur, const char *s, size_t n)
{
    char *p = *cur;

    memcpy(p, s, n);
    p[n] = '\0';
    *cur += n + 1;
    return p;
}

static sl_mmsg_t *
mmsg_new(const sl_msg_in_t *in)
{
    size_t size = sizeof(sl_mmsg_t) + in->nattrs * sizeof(sl_msg_attr_t) + in->body_len + 1;
    sl_mmsg_t *m;
    char *cur;

    for (uint32_t i = 0; i < in->nattrs; i++)
        size += strlen(in->attrs[i].name) + strlen(in->attrs[i].type) + in->attrs[i].len + 3;
    if (in->trace_header)
        size += strlen(in->trace_header) + 1;
    if (in->group_id)
        size += strlen(in->group_id) + 1;
    if (in->dedup_id)
        size += strlen(in->dedup_id) + 1;
    m = sl_malloc(size);
    memset(m, 0, sizeof(*m));
    m->refs = 1;
    sl__vheap_node_init(&m->hn);
    memcpy(m->m.id, in->id, sizeof(m->m.id));
    memcpy(m->m.md5_body, in->md5_body, sizeof(m->m.md5_body));
    memcpy(m->m.md5_attrs, in->md5_attrs, sizeof(m->m.md5_attrs));
    m->m.attrs = (sl_msg_attr_t *)(void *)(m + 1);
    m->m.nattrs = in->nattrs;
    cur = (char *)(m->m.attrs + in->nattrs);
    m->m.body = put_str(&cur, in->body, in->body_len);
    m->m.body_len = in->body_len;
    for (uint32_t i = 0; i < in->nattrs; i++) {
        const sl_msg_attr_t *a = &in->attrs[i];

        m->m.attrs[i].name = put_str(&cur, a->name, strlen(a->name));
        m->m.attrs[i].type = put_str(&cur, a->type, strlen(a->type));
        m->m.attrs[i].value = put_str(&cur, a->value, a->len);
        m->m.attrs[i].len = a->len;
    }
    if (in->trace_header)
        m->m.trace_header = put_str(&cur, in->trace_header, strlen(in->trace_header));
    if (in->group_id)
        m->m.group_id = put_str(&cur, in->group_id, strlen(in->group_id));
    if (in->dedup_id)
        m->m.dedup_id = put_str(&cur, in->dedup_id, strlen(in->dedup_id));
    return m;
}

void
sl__mmsg_unref(sl_mmsg_t *m)
{
    if (m == NULL || --m->refs > 0)
        return;
    sl_free(m->m.dlq_source);
    sl_free(m);
}

const sl_msg_t *
sl__mmsg_view(const sl_mmsg_t *m)
{
    return &m->m;
}

/* ---- Key index ---- */

static void
index_grow(sl_mq_t *q)
{
    size_t nb = q->nbuckets ? q->nbuckets * 2 : 256;
    sl_mmsg_t **b = sl_calloc(nb, sizeof(*b));

    for (size_t i = 0; i < q->nbuckets; i++) {
        sl_mmsg_t *m = q->buckets[i], *next;

        for (; m != NULL; m = next) {
            next = m->hnext;
            m->hnext = b[m->key & (nb - 1)];
            b[m->key & (nb - 1)] = m;
        }
    }
    sl_free(q->buckets);
    q->buckets = b;
    q->nbuckets = nb;
}

static void
index_add(sl_mq_t *q, sl_mmsg_t *m)
{
    if (q->nmsgs >= q->nbuckets)
        index_grow(q);
    m->hnext = q->buckets[m->key & (q->nbuckets - 1)];
    q->buckets[m->key & (q->nbuckets - 1)] = m;
    q->nmsgs++;
}

static sl_mmsg_t *
index_find(const sl_mq_t *q, uint64_t key)
{
    if (q->nbuckets == 0)
        return NULL;
    for (sl_mmsg_t *m = q->buckets[key & (q->nbuckets - 1)]; m != NULL; m = m->hnext)
        if (m->key == key)
            return m;
    return NULL;
}

static void
index_del(sl_mq_t *q, sl_mmsg_t *m)
{
    sl_mmsg_t **pp = &q->buckets[m->key & (q->nbuckets - 1)];

    while (*pp != m)
        pp = &(*pp)->hnext;
    *pp = m->hnext;
    q->nmsgs--;
}

/* ---- Ready structures ---- */

static void
rlist_append(sl_mq_t *q, sl_mmsg_t *m)
{
    m->next = NULL;
    m->prev = q->rtail;
    if (q->rtail)
        q->rtail->next = m;
    else
        q->rhead = m;
    q->rtail = m;
}

static void
rlist_remove(sl_mq_t *q, sl_mmsg_t *m)
{
    if (m->prev)
        m->prev->next = m->next;
    else
        q->rhead = m->next;
    if (m->next)
        m->next->prev = m->prev;
    else
        q->rtail = m->prev;
    m->prev = m->next = NULL;
}

static void
group_set_ready(sl_mq_t *q, group_t *g, bool ready)
{
    if (g->ready == ready)
        return;
    g->ready = ready;
    if (ready) {
        g->rnext = NULL;
        g->rprev = q->gtail;
        if (q->gtail)
            q->gtail->rnext = g;
        else
            q->ghead = g;
        q->gtail = g;
    } else {
        if (g->rprev)
            g->rprev->rnext = g->rnext;
        else
            q->ghead = g->rnext;
        if (g->rnext)
            g->rnext->rprev = g->rprev;
        else
            q->gtail = g->rprev;
        g->rprev = g->rnext = NULL;
    }
}

/* Re-evaluates a group after any change; frees it when empty. Returns true
 * when it is ready (has a receivable message). */
static bool
group_update(sl_mq_t *q, group_t *g)
{
    bool ready = g->inflight == 0 && g->head != NULL && g->head->state == MSG_VISIBLE;

    group_set_ready(q, g, ready);
    if (g->head == NULL && g->inflight == 0) {
        sl__strmap_del(&q->groups, g->name);
        sl_free(g->name);
        sl_free(g);
    }
    return ready;
}

static group_t *
group_get(sl_mq_t *q, const char *name)
{
    group_t *g = sl__strmap_get(&q->groups, name);

    if (g == NULL) {
        g = sl_calloc(1, sizeof(*g));
        g->name = sl_strdup(name);
        sl__strmap_put(&q->groups, name, g);
    }
    return g;
}

/* ---- State changes ---- */

static void
count(sl_mq_t *q, uint8_t state, int delta)
{
    uint64_t *c = state == MSG_VISIBLE ? &q->n_visible
                : state == MSG_INFLIGHT ? &q->n_inflight : &q->n_delayed;

    *c += (uint64_t)(int64_t)delta;
}

/* Moves m to state; keeps counters, lists and the heap right. Returns true
 * when a message became receivable. */
static bool
set_state(sl_mq_t *q, sl_mmsg_t *m, uint8_t state, int64_t deadline)
{
    uint8_t old = m->state;

    count(q, old, -1);
    count(q, state, +1);
    m->state = state;
    if (!q->cfg.fifo) {
        if (old == MSG_VISIBLE && state != MSG_VISIBLE)
            rlist_remove(q, m);
        else if (old != MSG_VISIBLE && state == MSG_VISIBLE)
            rlist_append(q, m);
    } else {
        if (old == MSG_INFLIGHT && state != MSG_INFLIGHT)
            m->group->inflight--;
        else if (old != MSG_INFLIGHT && state == MSG_INFLIGHT)
            m->group->inflight++;
    }
    sl__vheap_set(q->heap, &m->hn, state == MSG_VISIBLE ? m->expire_ms : deadline);
    if (q->cfg.fifo)
        return group_update(q, m->group);
    return state == MSG_VISIBLE;
}

/* Takes m out of q (delete, purge, expiry, move to a DLQ) and drops the
 * queue's reference. */
static void
unlink_msg(sl_mq_t *q, sl_mmsg_t *m)
{
    count(q, m->state, -1);
    sl__vheap_remove(q->heap, &m->hn);
    index_del(q, m);
    if (!q->cfg.fifo) {
        if (m->state == MSG_VISIBLE)
            rlist_remove(q, m);
    } else {
        group_t *g = m->group;

        if (m->state == MSG_INFLIGHT)
            g->inflight--;
        if (m->prev)
            m->prev->next = m->next;
        else
            g->head = m->next;
        if (m->next)
            m->next->prev = m->prev;
        else
            g->tail = m->prev;
        m->group = NULL;
        group_update(q, g);
    }
    m->prev = m->next = NULL;
    m->q = NULL;
    sl__mmsg_unref(m);
}

/* Adds a new message block to q, delayed for delay_ms (0: visible now).
 * Returns true when it is receivable at once. */
static bool
link_msg(sl_mq_t *q, sl_mmsg_t *m, int64_t delay_ms, int64_t now_ms)
{
    m->q = q;
    m->key = q->next_key++;
    index_add(q, m);
    if (q->cfg.fifo) {
        group_t *g = group_get(q, m->m.group_id ? m->m.group_id : "");

        m->group = g;
        m->prev = g->tail;
        m->next = NULL;
        if (g->tail)
            g->tail->next = m;
        else
            g->head = m;
        g->tail = m;
    }
    /* Enter as delayed, then move to the state it belongs in. */
    m->state = MSG_DELAYED;
    count(q, MSG_DELAYED, +1);
    if (delay_ms > 0) {
        sl__vheap_set(q->heap, &m->hn, now_ms + delay_ms);
        if (q->cfg.fifo)
            group_update(q, m->group);
        return false;
    }
    return set_state(q, m, MSG_VISIBLE, 0);
}

/* ---- Queue ---- */

sl_mq_t *
sl__mq_create(const char *name, const sl_queue_cfg_t *cfg, sl_vheap_t *heap, int64_t now_ms)
{
    sl_mq_t *q = sl_calloc(1, sizeof(*q));
    char id[SL_MSG_ID_LEN + 1];

    q->name = sl_strdup(name);
    sl_queue_cfg_copy(&q->cfg, cfg);
    sl_kvlist_init(&q->tags);
    q->heap = heap;
    sl_uuid4(id);
    q->uid = strtoull(id + 24, NULL, 16) ^ ((uint64_t)strtoul(id + 0, NULL, 16) << 16);
    q->next_key = 1;
    q->next_seq = 1;
    q->created_s = q->modified_s = now_ms / 1000;
    sl__strmap_init(&q->groups);
    sl__strmap_init(&q->dedups);
    return q;
}

static void
dedup_expire(sl_mq_t *q, int64_t now_ms, bool all)
{
    while (q->dhead && (all || q->dhead->expire_ms <= now_ms)) {
        dedup_t *d = q->dhead;

        q->dhead = d->next;
        if (q->dhead == NULL)
            q->dtail = NULL;
        sl__strmap_del(&q->dedups, d->key);
        sl_free(d->key);
        sl_free(d);
    }
}

void
sl__mq_purge(sl_mq_t *q)
{
    for (size_t i = 0; i < q->nbuckets; i++)
        while (q->buckets[i] != NULL)
            unlink_msg(q, q->buckets[i]);
}

void
sl__mq_destroy(sl_mq_t *q)
{
    if (q == NULL)
        return;
    sl__mq_purge(q);
    dedup_expire(q, 0, true);
    sl__strmap_deinit(&q->groups);
    sl__strmap_deinit(&q->dedups);
    sl_free(q->buckets);
    sl_queue_cfg_deinit(&q->cfg);
    sl_kvlist_deinit(&q->tags);
    sl_free(q->name);
    sl_free(q);
}

const char *
sl__mq_name(const sl_mq_t *q)
{
    return q->name;
}

const sl_queue_cfg_t *
sl__mq_cfg(const sl_mq_t *q)
{
    return &q->cfg;
}

void
sl__mq_set_cfg(sl_mq_t *q, const sl_queue_cfg_t *cfg, int64_t now_ms)
{
    bool fifo = q->cfg.fifo;

    sl_queue_cfg_deinit(&q->cfg);
    sl_queue_cfg_copy(&q->cfg, cfg);
    q->cfg.fifo = fifo;         /* FifoQueue cannot change after creation */
    q->modified_s = now_ms / 1000;
}

sl_kvlist_t *
sl__mq_tags(sl_mq_t *q)
{
    return &q->tags;
}

void
sl__mq_info(sl_mq_t *q, sl_queue_info_t *info)
{
    info->name = q->name;
    info->cfg = &q->cfg;
    info->tags = &q->tags;
    info->created_s = q->created_s;
    info->modified_s = q->modified_s;
    info->visible = q->n_visible;
    info->inflight = q->n_inflight;
    info->delayed = q->n_delayed;
}

bool
sl__mq_has_visible(const sl_mq_t *q)
{
    return q->cfg.fifo ? q->ghead != NULL : q->rhead != NULL;
}

/* ---- Send ---- */

int
sl__mq_check_batch(const sl_mq_t *q, const sl_msg_in_t *msgs, size_t n)
{
    size_t total = 0;

    for (size_t i = 0; i < n; i++)
        total += sl_msg_in_size(&msgs[i]);
    return total > q->cfg.max_size ? SL_EFULL : SL_OK;
}

bool
sl__mq_send(sl_mq_t *q, const sl_msg_in_t *in, int64_t now_ms, sl_send_result_t *res)
{
    int64_t delay_ms;
    sl_mmsg_t *m;

    memset(res, 0, sizeof(*res));
    if (sl_msg_in_size(in) > q->cfg.max_size) {
        res->err = SL_SEND_TOO_LONG;
        return false;
    }
    if (q->cfg.fifo) {
        dedup_t *d;

        if (in->group_id == NULL) {
            res->err = SL_SEND_NEED_GROUP_ID;
            return false;
        }
        if (in->delay_s >= 0) {
            res->err = SL_SEND_DELAY_ON_FIFO;
            return false;
        }
        if (in->dedup_id == NULL || (in->dedup_from_content && !q->cfg.content_dedup)) {
            res->err = SL_SEND_NEED_DEDUP_ID;
            return false;
        }
        dedup_expire(q, now_ms, false);
        if ((d = sl__strmap_get(&q->dedups, in->dedup_id)) != NULL) {
            memcpy(res->id, d->id, sizeof(res->id));
            res->seq = d->seq;
            return false;
        }
    } else if (in->dedup_id != NULL && !in->dedup_from_content) {
        res->err = SL_SEND_NOT_FIFO_FIELD;
        return false;
    }
    m = mmsg_new(in);
    m->m.sent_ms = now_ms;
    m->expire_ms = now_ms + (int64_t)q->cfg.retention_s * 1000;
    if (q->cfg.fifo) {
        dedup_t *d = sl_malloc(sizeof(*d));

        m->m.seq = q->next_seq++;
        d->next = NULL;
        d->key = sl_strdup(in->dedup_id);
        memcpy(d->id, in->id, sizeof(d->id));
        d->seq = m->m.seq;
        d->expire_ms = now_ms + SL_QUEUE_DEDUP_WINDOW_MS;
        sl__strmap_put(&q->dedups, d->key, d);
        if (q->dtail)
            q->dtail->next = d;
        else
            q->dhead = d;
        q->dtail = d;
    }
    memcpy(res->id, in->id, sizeof(res->id));
    res->seq = m->m.seq;
    delay_ms = (int64_t)(in->delay_s >= 0 ? (uint32_t)in->delay_s : q->cfg.delay_s) * 1000;
    return link_msg(q, m, delay_ms, now_ms);
}

/* ---- Receive ---- */

static void
put_hex(char *out, uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";

    for (int i = digits - 1; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 15];
}

static bool
get_hex(const char *s, int digits, uint64_t *out)
{
    uint64_t v = 0;

    for (int i = 0; i < digits; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                   : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16;

        if (d == 16)
            return false;
        v = v << 4 | d;
    }
    *out = v;
    return true;
}

/* Receipt: queue incarnation, message key and receive serial, in hex. */
static void
make_receipt(const sl_mq_t *q, const sl_mmsg_t *m, char out[SL_MQ_RECEIPT_LEN + 1])
{
    put_hex(out, q->uid, 16);
    put_hex(out + 16, m->key, 16);
    put_hex(out + 32, m->serial, 8);
    out[SL_MQ_RECEIPT_LEN] = '\0';
}

/* Moves m from q into dlq as a new visible message that keeps its id, body,
 * attributes, sent time and receive count; extra attributes are added (a
 * same-named one replaced) and the attribute MD5 recomputed. */
static void
move_to_dlq(sl_mq_t *q, sl_mmsg_t *m, sl_mq_t *dlq, int64_t now_ms, const sl_msg_attr_t *extra,
            size_t nextra)
{
    sl_msg_attr_t merged[SL_MSG_MAX_ATTRS + 16];
    sl_msg_in_t in;
    sl_mmsg_t *c;
    size_t n = 0;

    memset(&in, 0, sizeof(in));
    memcpy(in.id, m->m.id, sizeof(in.id));
    memcpy(in.md5_body, m->m.md5_body, sizeof(in.md5_body));
    memcpy(in.md5_attrs, m->m.md5_attrs, sizeof(in.md5_attrs));
    in.body = m->m.body;
    in.body_len = m->m.body_len;
    in.attrs = m->m.attrs;
    in.nattrs = m->m.nattrs;
    if (nextra > 0) {
        for (uint32_t i = 0; i < m->m.nattrs && n < sizeof(merged) / sizeof(merged[0]); i++) {
            bool replaced = false;

            for (size_t k = 0; k < nextra; k++)
                replaced |= strcmp(m->m.attrs[i].name, extra[k].name) == 0;
            if (!replaced)
                merged[n++] = m->m.attrs[i];
        }
        for (size_t k = 0; k < nextra && n < sizeof(merged) / sizeof(merged[0]); k++)
            merged[n++] = extra[k];
        in.attrs = merged;
        in.nattrs = (uint32_t)n;
        sl_md5_attrs(merged, n, in.md5_attrs);
    }
    in.trace_header = m->m.trace_header;
    in.group_id = dlq->cfg.fifo ? (m->m.group_id ? m->m.group_id : "") : NULL;
    in.dedup_id = dlq->cfg.fifo ? m->m.dedup_id : NULL;
    c = mmsg_new(&in);
    c->m.sent_ms = m->m.sent_ms;
    c->m.first_receive_ms = m->m.first_receive_ms;
    c->m.receive_count = m->m.receive_count;
    c->m.dlq_source = sl_strdup(q->name);
    c->m.seq = dlq->cfg.fifo ? dlq->next_seq++ : 0;
    c->expire_ms = m->m.sent_ms + (int64_t)dlq->cfg.retention_s * 1000;
    unlink_msg(q, m);
    link_msg(dlq, c, 0, now_ms);
}

/* Makes m in flight and records it in the result arrays. */
static void
hand_out(sl_mq_t *q, sl_mmsg_t *m, int64_t vis_ms, int64_t now_ms, sl_mmsg_t **out,
         char (*receipts)[SL_MQ_RECEIPT_LEN + 1])
{
    m->m.receive_count++;
    if (m->m.first_receive_ms == 0)
        m->m.first_receive_ms = now_ms;
    m->serial++;
    set_state(q, m, MSG_INFLIGHT, now_ms + vis_ms);
    m->refs++;
    *out = m;
    make_receipt(q, m, *receipts);
}

static bool
must_dead_letter(const sl_mq_t *q, const sl_mmsg_t *m, const sl_mq_t *dlq)
{
    return dlq != NULL && dlq != q && q->cfg.max_receives > 0 &&
           m->m.receive_count >= q->cfg.max_receives && dlq->cfg.fifo == q->cfg.fifo;
}

size_t
sl__mq_receive(sl_mq_t *q, uint32_t max, int32_t vis_s, sl_mq_t *dlq, int64_t now_ms,
               sl_mmsg_t **out, char (*receipts)[SL_MQ_RECEIPT_LEN + 1])
{
    int64_t vis_ms = (int64_t)(vis_s >= 0 ? (uint32_t)vis_s : q->cfg.visibility_s) * 1000;
    size_t got = 0;

    if (!q->cfg.fifo) {
        while (got < max && q->rhead != NULL) {
            sl_mmsg_t *m = q->rhead;

            if (m->expire_ms <= now_ms)
                unlink_msg(q, m);
            else if (must_dead_letter(q, m, dlq))
                move_to_dlq(q, m, dlq, now_ms, NULL, 0);
            else {
                hand_out(q, m, vis_ms, now_ms, &out[got], &receipts[got]);
                got++;
            }
        }
        return got;
    }
    /* FIFO: drain ready groups in turn, each from its head while visible; the
     * first message handed out locks the group until it is done. */
    while (got < max && q->ghead != NULL) {
        group_t *g = q->ghead;
        sl_mmsg_t *m = g->head;

        while (got < max && m != NULL && m->state == MSG_VISIBLE) {
            sl_mmsg_t *next = m->next;
            bool last = next == NULL;

            if (m->expire_ms <= now_ms || must_dead_letter(q, m, dlq)) {
                /* The group may be freed when its last message leaves. */
                if (m->expire_ms <= now_ms)
                    unlink_msg(q, m);
                else
                    move_to_dlq(q, m, dlq, now_ms, NULL, 0);
                if (last)
                    break;
            } else {
                hand_out(q, m, vis_ms, now_ms, &out[got], &receipts[got]);
                got++;
            }
            m = next;
        }
        if (q->ghead == g)              /* not freed and still listed: nothing more to take */
            group_set_ready(q, g, false);
    }
    return got;
}

/* ---- Delete and visibility ---- */

static int
parse_receipt(const sl_mq_t *q, const char *r, sl_mmsg_t **out, uint32_t *serial)
{
    uint64_t uid, key, ser;

    if (strlen(r) != SL_MQ_RECEIPT_LEN || !get_hex(r, 16, &uid) || !get_hex(r + 16, 16, &key) ||
        !get_hex(r + 32, 8, &ser))
        return SL_EPROTO;
    *serial = (uint32_t)ser;
    if (uid != q->uid)
        return SL_EPROTO;
    *out = index_find(q, key);
    return *out != NULL && (*out)->serial == *serial ? SL_OK : SL_ENOTFOUND;
}

int
sl__mq_delete(sl_mq_t *q, const char *receipt, int64_t now_ms)
{
    sl_mmsg_t *m;
    uint32_t serial;
    int rc = parse_receipt(q, receipt, &m, &serial);

    (void)now_ms;
    if (rc == SL_OK)
        unlink_msg(q, m);
    return rc;
}

int
sl__mq_change_visibility(sl_mq_t *q, const char *receipt, uint32_t vis_ms, int64_t now_ms,
                         bool *visible)
{
    sl_mmsg_t *m;
    uint32_t serial;
    int rc = parse_receipt(q, receipt, &m, &serial);

    *visible = false;
    if (rc != SL_OK)
        return rc;
    if (m->state != MSG_INFLIGHT)
        return SL_ENOTFOUND;
    if (vis_ms == 0)
        *visible = set_state(q, m, MSG_VISIBLE, 0);
    else
        sl__vheap_set(q->heap, &m->hn, now_ms + (int64_t)vis_ms);
    return SL_OK;
}

int
sl__mq_dead_letter(sl_mq_t *q, const char *receipt, sl_mq_t *dlq, const sl_msg_attr_t *extra,
                   size_t nextra, int64_t now_ms)
{
    sl_mmsg_t *m;
    uint32_t serial;
    int rc = parse_receipt(q, receipt, &m, &serial);

    if (rc != SL_OK)
        return rc;
    if (dlq == NULL || dlq == q || dlq->cfg.fifo != q->cfg.fifo)
        return SL_ENOTFOUND;
    move_to_dlq(q, m, dlq, now_ms, extra, nextra);
    return SL_OK;
}

/* ---- Deadlines ---- */

sl_mq_t *
sl__mq_expire(sl_vheap_node_t *n, int64_t now_ms)
{
    sl_mmsg_t *m = sl_container_of(n, sl_mmsg_t, hn);
    sl_mq_t *q = m->q;

    if (m->state == MSG_VISIBLE || m->expire_ms <= now_ms) {
        unlink_msg(q, m);       /* retention ended */
        return NULL;
    }
    return set_state(q, m, MSG_VISIBLE, 0) ? q : NULL;
}
