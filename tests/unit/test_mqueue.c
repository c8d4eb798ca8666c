/* test_mqueue.c - one queue of the memory store as a synchronous data structure, with
 * time as a parameter: send/receive/delete, visibility timeouts and change-visibility,
 * receipts (stale, foreign, malformed), delays, retention, purge, FIFO groups (order,
 * one in-flight batch per group, order across retries, deduplication window), redrive
 * to a dead-letter queue, size checks, attributes, and a differential run of a standard
 * queue against a dumb model over random operations (seed from SLUICE_SEED or the time,
 * printed). Deadlines are processed as the store does: pop due nodes from the shared
 * heap and hand each to sl__mq_expire. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sluice/error.h"
#include "sluice/message.h"
#include "sluice/queue.h"
#include "store/mqueue.h"
#include "vheap.h"

#define T0 INT64_C(1700000000000)       /* epoch ms every test starts at */
#define SEC INT64_C(1000)

/* ---- Helpers ---- */

typedef struct batch {
    size_t n;
    sl_mmsg_t *m[16];
    char r[16][SL_MQ_RECEIPT_LEN + 1];
} batch_t;

static sl_mq_t *
make_queue(sl_vheap_t *heap, const char *name, bool fifo, uint32_t visibility_s)
{
    sl_queue_cfg_t cfg;
    sl_mq_t *q;

    sl_queue_cfg_init(&cfg);
    cfg.fifo = fifo;
    cfg.visibility_s = visibility_s;
    q = sl__mq_create(name, &cfg, heap, T0);
    sl_queue_cfg_deinit(&cfg);
    return q;
}

/* Replaces one setting through sl__mq_set_cfg. */
static void
set_cfg(sl_mq_t *q, void (*tweak)(sl_queue_cfg_t *c, uint32_t v), uint32_t v)
{
    sl_queue_cfg_t cfg;

    sl_queue_cfg_copy(&cfg, sl__mq_cfg(q));
    tweak(&cfg, v);
    sl__mq_set_cfg(q, &cfg, T0);
    sl_queue_cfg_deinit(&cfg);
}

static void tw_delay(sl_queue_cfg_t *c, uint32_t v) { c->delay_s = v; }
static void tw_retention(sl_queue_cfg_t *c, uint32_t v) { c->retention_s = v; }
static void tw_max_size(sl_queue_cfg_t *c, uint32_t v) { c->max_size = v; }
static void tw_content_dedup(sl_queue_cfg_t *c, uint32_t v) { c->content_dedup = v != 0; }

static void
msg_in(sl_msg_in_t *in, const char *body)
{
    memset(in, 0, sizeof(*in));
    sl_uuid4(in->id);
    in->body = body;
    in->body_len = strlen(body);
    sl_md5_hex(in->body, in->body_len, in->md5_body);
    in->delay_s = -1;
}

/* Sends body; returns the result (and whether something became receivable). */
static sl_send_result_t
send_full(sl_mq_t *q, const char *body, const char *group, const char *dedup, int32_t delay_s,
          int64_t now, bool *wake)
{
    sl_msg_in_t in;
    sl_send_result_t res;
    bool w;

    msg_in(&in, body);
    in.group_id = group;
    in.dedup_id = dedup;
    in.delay_s = delay_s;
    w = sl__mq_send(q, &in, now, &res);
    if (wake)
        *wake = w;
    if (res.err == SL_SEND_OK && dedup == NULL)
        assert_string_equal(res.id, in.id);
    return res;
}

static sl_send_result_t
send_body(sl_mq_t *q, const char *body, int64_t now)
{
    sl_send_result_t res = send_full(q, body, NULL, NULL, -1, now, NULL);

    assert_int_equal(res.err, SL_SEND_OK);
    return res;
}

static sl_send_result_t
send_fifo(sl_mq_t *q, const char *body, const char *group, const char *dedup, int64_t now)
{
    sl_send_result_t res = send_full(q, body, group, dedup, -1, now, NULL);

    assert_int_equal(res.err, SL_SEND_OK);
    return res;
}

static size_t
recv_batch(sl_mq_t *q, uint32_t max, int32_t vis_s, sl_mq_t *dlq, int64_t now, batch_t *b)
{
    assert_true(max <= 16);
    memset(b, 0, sizeof(*b));
    b->n = sl__mq_receive(q, max, vis_s, dlq, now, b->m, b->r);
    assert_true(b->n <= max);
    for (size_t i = 0; i < b->n; i++)
        assert_int_equal(strlen(b->r[i]), SL_MQ_RECEIPT_LEN);
    return b->n;
}

static const sl_msg_t *
bm(const batch_t *b, size_t i)
{
    assert_true(i < b->n);
    return sl__mmsg_view(b->m[i]);
}

static void
batch_release(batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        sl__mmsg_unref(b->m[i]);
    b->n = 0;
}

/* Receives at most max and returns how many came (releasing them). */
static size_t
receive_count(sl_mq_t *q, uint32_t max, int64_t now)
{
    batch_t b;
    size_t n = recv_batch(q, max, -1, NULL, now, &b);

    batch_release(&b);
    return n;
}

/* Processes every deadline due at now, as the store's timer does. Returns how many
 * expiries made a message receivable. */
static int
tick(sl_vheap_t *heap, int64_t now)
{
    sl_vheap_node_t *n;
    int woke = 0;

    while ((n = sl__vheap_pop_due(heap, now)) != NULL)
        if (sl__mq_expire(n, now) != NULL)
            woke++;
    return woke;
}

static void
assert_counts(sl_mq_t *q, uint64_t visible, uint64_t inflight, uint64_t delayed)
{
    sl_queue_info_t info;

    sl__mq_info(q, &info);
    assert_int_equal(info.visible, visible);
    assert_int_equal(info.inflight, inflight);
    assert_int_equal(info.delayed, delayed);
}

/* Destroys the queues and checks nothing was left in the shared heap. */
static void
finish(sl_vheap_t *heap, sl_mq_t *q1, sl_mq_t *q2)
{
    sl__mq_destroy(q1);
    sl__mq_destroy(q2);
    assert_int_equal(heap->n, 0);
    sl__vheap_deinit(heap);
}

/* ---- Standard queues ---- */

static void
test_create_info(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    sl_queue_info_t info;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "orders", false, 30);
    assert_string_equal(sl__mq_name(q), "orders");
    assert_false(sl__mq_cfg(q)->fifo);
    assert_int_equal(sl__mq_cfg(q)->visibility_s, 30);
    sl__mq_info(q, &info);
    assert_string_equal(info.name, "orders");
    assert_ptr_equal(info.cfg, sl__mq_cfg(q));
    assert_int_equal(info.created_s, T0 / 1000);
    assert_int_equal(info.modified_s, T0 / 1000);
    assert_counts(q, 0, 0, 0);
    assert_false(sl__mq_has_visible(q));
    sl_kvlist_set(sl__mq_tags(q), "team", "a");
    sl__mq_info(q, &info);
    assert_string_equal(sl_kvlist_get(info.tags, "team"), "a");
    finish(&heap, q, NULL);
}

static void
test_send_receive_delete(void **state)
{
    static const char *const bodies[] = { "a", "b", "c" };
    sl_vheap_t heap;
    sl_mq_t *q;
    sl_send_result_t sent[3];
    batch_t b;
    bool wake, seen[3] = { false };

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "orders", false, 30);
    for (int i = 0; i < 3; i++) {
        sent[i] = send_full(q, bodies[i], NULL, NULL, -1, T0, &wake);
        assert_int_equal(sent[i].err, SL_SEND_OK);
        assert_int_equal(sent[i].seq, 0);        /* no sequence numbers on standard */
        assert_true(wake);
    }
    assert_counts(q, 3, 0, 0);
    assert_true(sl__mq_has_visible(q));
    assert_int_equal(recv_batch(q, 10, -1, NULL, T0 + 5, &b), 3);
    for (size_t i = 0; i < 3; i++) {
        const sl_msg_t *m = bm(&b, i);
        int k = m->body[0] - 'a';

        assert_true(k >= 0 && k < 3 && !seen[k]);
        seen[k] = true;
        assert_string_equal(m->id, sent[k].id);
        assert_int_equal(m->body_len, 1);
        assert_int_equal(m->receive_count, 1);
        assert_int_equal(m->first_receive_ms, T0 + 5);
        assert_int_equal(m->sent_ms, T0);
        assert_int_equal(m->seq, 0);
        assert_string_equal(m->md5_attrs, "");
        assert_null(m->dlq_source);
    }
    assert_counts(q, 0, 3, 0);
    assert_false(sl__mq_has_visible(q));
    assert_int_equal(receive_count(q, 10, T0 + 6), 0);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(sl__mq_delete(q, b.r[i], T0 + 7), SL_OK);
    assert_counts(q, 0, 0, 0);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(sl__mq_delete(q, b.r[i], T0 + 8), SL_ENOTFOUND);
    batch_release(&b);
    finish(&heap, q, NULL);
}

static void
test_receive_respects_max(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    char body[8];

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "many", false, 30);
    for (int i = 0; i < 25; i++) {
        snprintf(body, sizeof(body), "m%d", i);
        send_body(q, body, T0);
    }
    assert_int_equal(receive_count(q, 1, T0), 1);
    assert_int_equal(receive_count(q, 10, T0), 10);
    assert_int_equal(receive_count(q, 10, T0), 10);
    assert_int_equal(receive_count(q, 10, T0), 4);
    assert_int_equal(receive_count(q, 10, T0), 0);
    assert_counts(q, 0, 25, 0);
    finish(&heap, q, NULL);
}

static void
test_hidden_message_reappears_after_timeout(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    batch_t b1, b2;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "orders", false, 30 /* visibility_s */);
    send_body(q, "a", T0);
    assert_int_equal(recv_batch(q, 1, -1, NULL, T0 + 1000, &b1), 1);
    assert_int_equal(tick(&heap, T0 + 30999), 0);
    assert_int_equal(receive_count(q, 10, T0 + 30999), 0);   /* still hidden */
    assert_counts(q, 0, 1, 0);
    assert_int_equal(tick(&heap, T0 + 31000), 1);            /* deadline reached */
    assert_counts(q, 1, 0, 0);
    assert_int_equal(recv_batch(q, 1, -1, NULL, T0 + 32000, &b2), 1);
    assert_string_equal(bm(&b2, 0)->id, bm(&b1, 0)->id);
    assert_int_equal(bm(&b2, 0)->receive_count, 2);
    assert_int_equal(bm(&b2, 0)->first_receive_ms, T0 + 1000);   /* the first one */
    assert_string_not_equal(b1.r[0], b2.r[0]);
    /* The first receipt is stale now. */
    assert_int_equal(sl__mq_delete(q, b1.r[0], T0 + 32001), SL_ENOTFOUND);
    assert_counts(q, 0, 1, 0);
    assert_int_equal(sl__mq_delete(q, b2.r[0], T0 + 32002), SL_OK);
    assert_counts(q, 0, 0, 0);
    batch_release(&b1);
    batch_release(&b2);
    finish(&heap, q, NULL);
}

static void
test_receive_visibility_override(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    batch_t b;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "orders", false, 30);
    send_body(q, "a", T0);
    assert_int_equal(recv_batch(q, 1, 5, NULL, T0, &b), 1);   /* 5 s, not the queue's 30 */
    batch_release(&b);
    tick(&heap, T0 + 4999);
    assert_int_equal(receive_count(q, 1, T0 + 4999), 0);
    tick(&heap, T0 + 5000);
    /* Visibility 0: in flight until the next deadline pass, at the same instant. */
    assert_int_equal(recv_batch(q, 1, 0, NULL, T0 + 5000, &b), 1);
    batch_release(&b);
    assert_counts(q, 0, 1, 0);
    assert_int_equal(tick(&heap, T0 + 5000), 1);
    assert_counts(q, 1, 0, 0);
    finish(&heap, q, NULL);
}

static void
test_a_visible_message_can_be_deleted_with_its_last_receipt(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    batch_t b;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "orders", false, 1);
    send_body(q, "a", T0);
    recv_batch(q, 1, -1, NULL, T0, &b);
    tick(&heap, T0 + 1000);
    assert_counts(q, 1, 0, 0);
    /* Not received again since: the receipt still names it. */
    assert_int_equal(sl__mq_delete(q, b.r[0], T0 + 1001), SL_OK);
    assert_counts(q, 0, 0, 0);
    batch_release(&b);
    finish(&heap, q, NULL);
}

static void
test_change_visibility(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    batch_t b, b2;
    bool vis = true;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "orders", false, 30);
    send_body(q, "a", T0);
    send_body(q, "b", T0);
    assert_int_equal(recv_batch(q, 2, -1, NULL, T0, &b), 2);
    /* 0 = visible now. */
    assert_int_equal(sl__mq_change_visibility(q, b.r[0], 0, T0 + 10, &vis), SL_OK);
    assert_true(vis);
    assert_counts(q, 1, 1, 0);
    assert_true(sl__mq_has_visible(q));
    /* Now not in flight: same receipt, ENOTFOUND. */
    assert_int_equal(sl__mq_change_visibility(q, b.r[0], 10 * SEC, T0 + 11, &vis), SL_ENOTFOUND);
    assert_false(vis);
    /* Extend the other: still hidden after its original 30 s, visible at the new end. */
    assert_int_equal(sl__mq_change_visibility(q, b.r[1], 100 * SEC, T0 + 20 * SEC, &vis), SL_OK);
    assert_false(vis);
    batch_release(&b);
    assert_int_equal(recv_batch(q, 10, 200, NULL, T0 + 20 * SEC, &b), 1);   /* "a", 200 s */
    batch_release(&b);
    tick(&heap, T0 + 31 * SEC);
    assert_counts(q, 0, 2, 0);
    tick(&heap, T0 + 119999);
    assert_counts(q, 0, 2, 0);
    tick(&heap, T0 + 120 * SEC);
    assert_counts(q, 1, 1, 0);                   /* "b" back; "a" hidden till 220 s */
    /* Shorten: visible at the new, earlier deadline. */
    assert_int_equal(recv_batch(q, 1, -1, NULL, T0 + 121 * SEC, &b), 1);
    assert_string_equal(bm(&b, 0)->body, "b");
    assert_int_equal(sl__mq_change_visibility(q, b.r[0], 1 * SEC, T0 + 122 * SEC, &vis), SL_OK);
    tick(&heap, T0 + 122999);
    assert_counts(q, 0, 2, 0);
    tick(&heap, T0 + 123 * SEC);
    assert_counts(q, 1, 1, 0);
    /* Milliseconds are kept, not rounded to seconds (a trigger's retry backoff). */
    assert_int_equal(recv_batch(q, 1, -1, NULL, T0 + 124 * SEC, &b2), 1);
    assert_int_equal(sl__mq_change_visibility(q, b2.r[0], 250, T0 + 124 * SEC, &vis), SL_OK);
    tick(&heap, T0 + 124 * SEC + 249);
    assert_counts(q, 0, 2, 0);
    tick(&heap, T0 + 124 * SEC + 250);
    assert_counts(q, 1, 1, 0);
    batch_release(&b2);
    batch_release(&b);
    finish(&heap, q, NULL);
}

static void
test_bad_receipts(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q, *other;
    batch_t b, ob;
    char bad[SL_MQ_RECEIPT_LEN + 2];
    bool vis;
    size_t i;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "orders", false, 30);
    other = make_queue(&heap, "other", false, 30);
    send_body(q, "a", T0);
    send_body(other, "x", T0);
    recv_batch(q, 1, -1, NULL, T0, &b);
    recv_batch(other, 1, -1, NULL, T0, &ob);
    /* Malformed: empty, short, long, non-hex, upper-case hex. */
    assert_int_equal(sl__mq_delete(q, "", T0), SL_EPROTO);
    assert_int_equal(sl__mq_delete(q, "abc", T0), SL_EPROTO);
    snprintf(bad, sizeof(bad), "%s0", b.r[0]);
    assert_int_equal(sl__mq_delete(q, bad, T0), SL_EPROTO);
    memcpy(bad, b.r[0], sizeof(b.r[0]));
    bad[5] = 'g';
    assert_int_equal(sl__mq_delete(q, bad, T0), SL_EPROTO);
    memcpy(bad, b.r[0], sizeof(b.r[0]));
    for (i = 0; bad[i]; i++)
        if (bad[i] >= 'a' && bad[i] <= 'f')
            break;
    if (bad[i] != '\0') {
        bad[i] = (char)(bad[i] - 'a' + 'A');
        assert_int_equal(sl__mq_delete(q, bad, T0), SL_EPROTO);
    }
    assert_int_equal(sl__mq_change_visibility(q, "nonsense", 0, T0, &vis), SL_EPROTO);
    assert_false(vis);
    /* Foreign: a well-formed receipt of another queue. */
    assert_int_equal(sl__mq_delete(q, ob.r[0], T0), SL_EPROTO);
    assert_int_equal(sl__mq_change_visibility(q, ob.r[0], 0, T0, &vis), SL_EPROTO);
    /* Well-formed, this queue, but no such message key. */
    memcpy(bad, b.r[0], sizeof(b.r[0]));
    memcpy(bad + 16, "00000000000fffff", 16);
    assert_int_equal(sl__mq_delete(q, bad, T0), SL_ENOTFOUND);
    /* Nothing was harmed. */
    assert_counts(q, 0, 1, 0);
    assert_counts(other, 0, 1, 0);
    assert_int_equal(sl__mq_delete(q, b.r[0], T0), SL_OK);
    /* Deleted: its receipt no longer finds it. */
    assert_int_equal(sl__mq_change_visibility(q, b.r[0], 0, T0, &vis), SL_ENOTFOUND);
    batch_release(&b);
    batch_release(&ob);
    finish(&heap, q, other);
}

static void
test_receipt_of_a_recreated_queue_is_refused(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    batch_t b;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "orders", false, 30);
    send_body(q, "a", T0);
    recv_batch(q, 1, -1, NULL, T0, &b);
    sl__mq_destroy(q);
    q = make_queue(&heap, "orders", false, 30);
    send_body(q, "a", T0);
    assert_int_equal(receive_count(q, 1, T0), 1);
    assert_int_not_equal(sl__mq_delete(q, b.r[0], T0), SL_OK);
    assert_counts(q, 0, 1, 0);
    /* The result outlived the queue it came from. */
    assert_string_equal(bm(&b, 0)->body, "a");
    batch_release(&b);
    finish(&heap, q, NULL);
}

static void
test_delays(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    bool wake = true;
    sl_send_result_t r;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "delayed", false, 30);
    set_cfg(q, tw_delay, 10);
    r = send_full(q, "queue-delay", NULL, NULL, -1, T0, &wake);      /* 10 s */
    assert_int_equal(r.err, SL_SEND_OK);
    assert_false(wake);
    r = send_full(q, "own-delay", NULL, NULL, 5, T0, &wake);         /* 5 s */
    assert_false(wake);
    r = send_full(q, "no-delay", NULL, NULL, 0, T0, &wake);          /* 0 overrides 10 */
    assert_true(wake);
    assert_counts(q, 1, 0, 2);
    assert_int_equal(receive_count(q, 10, T0), 1);
    assert_int_equal(tick(&heap, T0 + 4999), 0);
    assert_int_equal(receive_count(q, 10, T0 + 4999), 0);
    assert_int_equal(tick(&heap, T0 + 5000), 1);
    assert_counts(q, 1, 1, 1);
    assert_int_equal(tick(&heap, T0 + 9999), 0);
    assert_int_equal(tick(&heap, T0 + 10000), 1);
    assert_counts(q, 2, 1, 0);
    assert_int_equal(receive_count(q, 10, T0 + 10000), 2);
    finish(&heap, q, NULL);
}

static void
test_retention(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    batch_t b;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "short", false, 30);
    set_cfg(q, tw_retention, 60);
    /* Visible all along: gone exactly 60 s after it was sent. */
    send_body(q, "visible", T0);
    tick(&heap, T0 + 59999);
    assert_counts(q, 1, 0, 0);
    tick(&heap, T0 + 60 * SEC);
    assert_counts(q, 0, 0, 0);
    /* In flight when retention ends: it does not come back. */
    send_body(q, "inflight", T0 + 100 * SEC);
    recv_batch(q, 1, -1, NULL, T0 + 150 * SEC, &b);
    tick(&heap, T0 + 180 * SEC);
    assert_counts(q, 0, 0, 0);
    assert_int_equal(sl__mq_delete(q, b.r[0], T0 + 180 * SEC), SL_ENOTFOUND);
    assert_string_equal(bm(&b, 0)->body, "inflight");           /* result still readable */
    batch_release(&b);
    /* Past retention but not yet processed: receive does not hand it out. */
    send_body(q, "stale", T0 + 200 * SEC);
    assert_int_equal(receive_count(q, 10, T0 + 260 * SEC), 0);
    assert_counts(q, 0, 0, 0);
    /* Delayed beyond retention: never seen. */
    set_cfg(q, tw_delay, 900);
    send_body(q, "too-late", T0 + 300 * SEC);
    assert_counts(q, 0, 0, 1);
    assert_int_equal(tick(&heap, T0 + 1200 * SEC), 0);
    assert_counts(q, 0, 0, 0);
    finish(&heap, q, NULL);
}

static void
test_purge(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    batch_t b;
    bool vis;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "orders", false, 30);
    for (int i = 0; i < 5; i++)
        send_body(q, "x", T0);
    send_full(q, "later", NULL, NULL, 60, T0, NULL);
    assert_int_equal(recv_batch(q, 2, -1, NULL, T0, &b), 2);
    assert_counts(q, 3, 2, 1);
    sl__mq_purge(q);
    assert_counts(q, 0, 0, 0);
    assert_false(sl__mq_has_visible(q));
    assert_int_equal(heap.n, 0);
    assert_int_equal(sl__mq_delete(q, b.r[0], T0), SL_ENOTFOUND);
    assert_int_equal(sl__mq_change_visibility(q, b.r[1], 0, T0, &vis), SL_ENOTFOUND);
    assert_string_equal(bm(&b, 1)->body, "x");   /* results hold their own reference */
    batch_release(&b);
    /* Still usable. */
    send_body(q, "after", T0 + 1);
    assert_int_equal(receive_count(q, 10, T0 + 1), 1);
    finish(&heap, q, NULL);
}

static void
test_attributes_round_trip(void **state)
{
    static const char binval[] = { 0, 1, 2, (char)0xff };
    sl_msg_attr_t attrs[3] = {
        { (char *)"color", (char *)"String", (char *)"blue", 4 },
        { (char *)"size", (char *)"Number.int", (char *)"42", 2 },
        { (char *)"blob", (char *)"Binary", (char *)binval, sizeof(binval) },
    };
    sl_vheap_t heap;
    sl_mq_t *q;
    sl_msg_in_t in;
    sl_send_result_t res;
    batch_t b;
    const sl_msg_t *m;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "attrs", false, 30);
    msg_in(&in, "body with attributes");
    in.attrs = attrs;
    in.nattrs = 3;
    sl_md5_attrs(attrs, 3, in.md5_attrs);
    in.trace_header = "Root=1-5759e988-bd862e3fe1be46a994272793";
    sl__mq_send(q, &in, T0, &res);
    assert_int_equal(res.err, SL_SEND_OK);
    assert_int_equal(recv_batch(q, 1, -1, NULL, T0, &b), 1);
    m = bm(&b, 0);
    assert_string_equal(m->id, in.id);
    assert_string_equal(m->md5_body, in.md5_body);
    assert_string_equal(m->md5_attrs, in.md5_attrs);
    assert_string_equal(m->body, "body with attributes");
    assert_string_equal(m->trace_header, in.trace_header);
    assert_null(m->group_id);
    assert_null(m->dedup_id);
    assert_int_equal(m->nattrs, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(m->attrs[i].name, attrs[i].name);
        assert_string_equal(m->attrs[i].type, attrs[i].type);
        assert_int_equal(m->attrs[i].len, attrs[i].len);
        assert_memory_equal(m->attrs[i].value, attrs[i].value, attrs[i].len);
        assert_ptr_not_equal(m->attrs[i].value, attrs[i].value);     /* copied */
    }
    batch_release(&b);
    finish(&heap, q, NULL);
}

static void
test_size_limits(void **state)
{
    sl_msg_attr_t attr = { (char *)"name", (char *)"String", (char *)"12345678", 8 };
    sl_vheap_t heap;
    sl_mq_t *q;
    sl_msg_in_t msgs[2];
    sl_send_result_t res;
    char big[1100];

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "small", false, 30);
    set_cfg(q, tw_max_size, 1024);
    memset(big, 'x', sizeof(big));
    big[1024] = '\0';
    /* One message: exactly the limit passes, one more byte is refused. */
    msg_in(&msgs[0], big);
    assert_int_equal(sl__mq_check_batch(q, msgs, 1), SL_OK);
    sl__mq_send(q, &msgs[0], T0, &res);
    assert_int_equal(res.err, SL_SEND_OK);
    big[1024] = 'x';
    big[1025] = '\0';
    msg_in(&msgs[0], big);
    assert_int_equal(sl__mq_check_batch(q, msgs, 1), SL_EFULL);
    sl__mq_send(q, &msgs[0], T0, &res);
    assert_int_equal(res.err, SL_SEND_TOO_LONG);
    /* Attribute names, types and values count: 1006 + 4 + 6 + 8 = 1024, then 1025. */
    big[1006] = '\0';
    msg_in(&msgs[0], big);
    msgs[0].attrs = &attr;
    msgs[0].nattrs = 1;
    assert_int_equal(sl_msg_in_size(&msgs[0]), 1024);
    sl__mq_send(q, &msgs[0], T0, &res);
    assert_int_equal(res.err, SL_SEND_OK);
    big[1006] = 'x';
    big[1007] = '\0';
    msg_in(&msgs[0], big);
    msgs[0].attrs = &attr;
    msgs[0].nattrs = 1;
    sl__mq_send(q, &msgs[0], T0, &res);
    assert_int_equal(res.err, SL_SEND_TOO_LONG);
    assert_counts(q, 2, 0, 0);
    /* A batch is judged on its total. */
    big[600] = '\0';
    msg_in(&msgs[0], big);
    msg_in(&msgs[1], big);
    assert_int_equal(sl__mq_check_batch(q, msgs, 2), SL_EFULL);
    big[600] = 'x';
    big[512] = '\0';
    msg_in(&msgs[0], big);
    msg_in(&msgs[1], big);
    assert_int_equal(sl__mq_check_batch(q, msgs, 2), SL_OK);
    assert_int_equal(sl__mq_check_batch(q, msgs, 0), SL_OK);
    finish(&heap, q, NULL);
}

static void
test_standard_refusals(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    sl_msg_in_t in;
    sl_send_result_t res;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "std", false, 30);
    /* A deduplication id on a standard queue is refused... */
    assert_int_equal(send_full(q, "a", NULL, "dedup-1", -1, T0, NULL).err,
                     SL_SEND_NOT_FIFO_FIELD);
    assert_counts(q, 0, 0, 0);
    /* ...unless it was derived from the body (the caller computes it for any queue
     * whose name ends in .fifo; it means nothing here). */
    msg_in(&in, "a");
    in.dedup_id = "0000000000000000000000000000000000000000000000000000000000000000";
    in.dedup_from_content = true;
    sl__mq_send(q, &in, T0, &res);
    assert_int_equal(res.err, SL_SEND_OK);
    assert_counts(q, 1, 0, 0);
    finish(&heap, q, NULL);
}

/* ---- FIFO queues ---- */

static void
test_fifo_order_and_group_lock(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    sl_send_result_t r[5];
    batch_t b;
    bool wake;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "orders.fifo", true, 30);
    r[0] = send_fifo(q, "g1-1", "g1", "d1", T0);
    r[1] = send_fifo(q, "g1-2", "g1", "d2", T0);
    r[2] = send_fifo(q, "g1-3", "g1", "d3", T0);
    r[3] = send_fifo(q, "g2-1", "g2", "d4", T0);
    r[4] = send_fifo(q, "g2-2", "g2", "d5", T0);
    for (int i = 1; i < 5; i++)
        assert_true(r[i].seq > r[i - 1].seq);
    assert_counts(q, 5, 0, 0);
    /* One message: g1's head. */
    assert_int_equal(recv_batch(q, 1, -1, NULL, T0, &b), 1);
    assert_string_equal(bm(&b, 0)->body, "g1-1");
    assert_int_equal(bm(&b, 0)->seq, r[0].seq);
    assert_string_equal(bm(&b, 0)->group_id, "g1");
    assert_string_equal(bm(&b, 0)->dedup_id, "d1");
    /* g1 is locked while g1-1 is in flight; g2 is not blocked. */
    {
        batch_t b2;

        assert_int_equal(recv_batch(q, 10, -1, NULL, T0, &b2), 2);
        assert_string_equal(bm(&b2, 0)->body, "g2-1");
        assert_string_equal(bm(&b2, 1)->body, "g2-2");
        assert_int_equal(receive_count(q, 10, T0), 0);
        /* A new message of a locked group waits too. */
        send_full(q, "g2-3", "g2", "d6", -1, T0, &wake);
        assert_false(wake);
        assert_int_equal(receive_count(q, 10, T0), 0);
        /* Deleting one of g2's batch does not unlock it; deleting both does. */
        assert_int_equal(sl__mq_delete(q, b2.r[0], T0), SL_OK);
        assert_int_equal(receive_count(q, 10, T0), 0);
        assert_int_equal(sl__mq_delete(q, b2.r[1], T0), SL_OK);
        batch_release(&b2);
        assert_int_equal(recv_batch(q, 10, -1, NULL, T0, &b2), 1);
        assert_string_equal(bm(&b2, 0)->body, "g2-3");
        batch_release(&b2);
    }
    /* Done with g1-1: the rest of g1 in order. */
    assert_int_equal(sl__mq_delete(q, b.r[0], T0), SL_OK);
    batch_release(&b);
    assert_int_equal(recv_batch(q, 10, -1, NULL, T0, &b), 2);
    assert_string_equal(bm(&b, 0)->body, "g1-2");
    assert_string_equal(bm(&b, 1)->body, "g1-3");
    batch_release(&b);
    assert_counts(q, 0, 3, 0);
    finish(&heap, q, NULL);
}

static void
test_fifo_order_kept_across_retry(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    batch_t b;
    bool vis;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "retry.fifo", true, 10);
    send_fifo(q, "1", "g", "d1", T0);
    send_fifo(q, "2", "g", "d2", T0);
    send_fifo(q, "3", "g", "d3", T0);
    /* Take two, let them time out: the same two come back first, in order. */
    assert_int_equal(recv_batch(q, 2, -1, NULL, T0, &b), 2);
    batch_release(&b);
    assert_int_equal(receive_count(q, 10, T0 + 9999), 0);
    assert_int_equal(tick(&heap, T0 + 10 * SEC), 1);    /* one wake: the group, once */
    assert_int_equal(recv_batch(q, 1, -1, NULL, T0 + 10 * SEC, &b), 1);
    assert_string_equal(bm(&b, 0)->body, "1");
    assert_int_equal(bm(&b, 0)->receive_count, 2);
    /* Hand the head back early: it comes first again, before 2 and 3. */
    assert_int_equal(sl__mq_change_visibility(q, b.r[0], 0, T0 + 11 * SEC, &vis), SL_OK);
    assert_true(vis);
    batch_release(&b);
    assert_int_equal(recv_batch(q, 10, -1, NULL, T0 + 11 * SEC, &b), 3);
    assert_string_equal(bm(&b, 0)->body, "1");
    assert_string_equal(bm(&b, 1)->body, "2");
    assert_string_equal(bm(&b, 2)->body, "3");
    assert_int_equal(bm(&b, 0)->receive_count, 3);
    assert_int_equal(bm(&b, 1)->receive_count, 2);
    assert_int_equal(bm(&b, 2)->receive_count, 1);
    /* Returning the second of an in-flight batch does not unlock the group. */
    assert_int_equal(sl__mq_change_visibility(q, b.r[1], 0, T0 + 12 * SEC, &vis), SL_OK);
    assert_false(vis);
    assert_int_equal(receive_count(q, 10, T0 + 12 * SEC), 0);
    assert_int_equal(sl__mq_delete(q, b.r[0], T0 + 12 * SEC), SL_OK);
    assert_int_equal(receive_count(q, 10, T0 + 12 * SEC), 0);   /* "3" still in flight */
    assert_int_equal(sl__mq_delete(q, b.r[2], T0 + 12 * SEC), SL_OK);
    batch_release(&b);
    assert_int_equal(recv_batch(q, 10, -1, NULL, T0 + 12 * SEC, &b), 1);
    assert_string_equal(bm(&b, 0)->body, "2");
    batch_release(&b);
    finish(&heap, q, NULL);
}

static void
test_fifo_queue_delay_keeps_order(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    batch_t b;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "slow.fifo", true, 30);
    set_cfg(q, tw_delay, 10);
    send_fifo(q, "first", "g", "d1", T0);
    set_cfg(q, tw_delay, 0);
    send_fifo(q, "second", "g", "d2", T0 + 1);
    assert_counts(q, 1, 0, 1);
    /* "second" is visible but must not overtake "first". */
    assert_int_equal(receive_count(q, 10, T0 + 1), 0);
    assert_int_equal(tick(&heap, T0 + 10 * SEC), 1);
    assert_int_equal(recv_batch(q, 10, -1, NULL, T0 + 10 * SEC, &b), 2);
    assert_string_equal(bm(&b, 0)->body, "first");
    assert_string_equal(bm(&b, 1)->body, "second");
    batch_release(&b);
    finish(&heap, q, NULL);
}

static void
test_fifo_dedup_window(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    sl_send_result_t first, dup, later;
    bool wake = true;
    batch_t b;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "dedup.fifo", true, 30);
    first = send_fifo(q, "one", "g", "same", T0);
    /* Within the window: the first id and sequence number, nothing stored. */
    dup = send_full(q, "other body", "g", "same", -1, T0 + 1, &wake);
    assert_int_equal(dup.err, SL_SEND_OK);
    assert_false(wake);
    assert_string_equal(dup.id, first.id);
    assert_int_equal(dup.seq, first.seq);
    assert_counts(q, 1, 0, 0);
    /* The id is remembered even after the message is deleted. */
    assert_int_equal(recv_batch(q, 1, -1, NULL, T0 + 2, &b), 1);
    assert_int_equal(sl__mq_delete(q, b.r[0], T0 + 3), SL_OK);
    batch_release(&b);
    dup = send_full(q, "one", "g", "same", -1, T0 + 4, NULL);
    assert_int_equal(dup.err, SL_SEND_OK);
    assert_string_equal(dup.id, first.id);
    assert_counts(q, 0, 0, 0);
    /* Other ids are not affected. */
    send_fifo(q, "two", "g", "another", T0 + 5);
    assert_counts(q, 1, 0, 0);
    /* The scope is the queue, not the group. */
    dup = send_full(q, "one", "other-group", "same", -1, T0 + 6, NULL);
    assert_string_equal(dup.id, first.id);
    assert_counts(q, 1, 0, 0);
    /* The last millisecond of the window still deduplicates. */
    dup = send_full(q, "one", "g", "same", -1, T0 + 299999, NULL);
    assert_string_equal(dup.id, first.id);
    assert_counts(q, 1, 0, 0);
    /* After five minutes the id may be used again. */
    later = send_full(q, "one", "g", "same", -1, T0 + 300000, &wake);
    assert_int_equal(later.err, SL_SEND_OK);
    assert_string_not_equal(later.id, first.id);
    assert_true(later.seq > first.seq);
    assert_counts(q, 2, 0, 0);
    finish(&heap, q, NULL);
}

static void
test_fifo_content_dedup(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    sl_msg_in_t in;
    sl_send_result_t r1, r2;
    char hash[65];

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "content.fifo", true, 30);
    msg_in(&in, "same body");
    sl_sha256_hex(in.body, in.body_len, hash);
    in.group_id = "g";
    in.dedup_id = hash;
    in.dedup_from_content = true;
    /* Without ContentBasedDeduplication a derived id is not enough. */
    sl__mq_send(q, &in, T0, &r1);
    assert_int_equal(r1.err, SL_SEND_NEED_DEDUP_ID);
    assert_counts(q, 0, 0, 0);
    set_cfg(q, tw_content_dedup, 1);
    sl__mq_send(q, &in, T0, &r1);
    assert_int_equal(r1.err, SL_SEND_OK);
    msg_in(&in, "same body");                    /* new id, same content */
    in.group_id = "g";
    in.dedup_id = hash;
    in.dedup_from_content = true;
    sl__mq_send(q, &in, T0 + 1, &r2);
    assert_int_equal(r2.err, SL_SEND_OK);
    assert_string_equal(r2.id, r1.id);
    assert_counts(q, 1, 0, 0);
    finish(&heap, q, NULL);
}

static void
test_fifo_refusals(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "strict.fifo", true, 30);
    assert_int_equal(send_full(q, "a", NULL, "d", -1, T0, NULL).err, SL_SEND_NEED_GROUP_ID);
    assert_int_equal(send_full(q, "a", "g", NULL, -1, T0, NULL).err, SL_SEND_NEED_DEDUP_ID);
    assert_int_equal(send_full(q, "a", "g", "d", 0, T0, NULL).err, SL_SEND_DELAY_ON_FIFO);
    assert_int_equal(send_full(q, "a", "g", "d", 5, T0, NULL).err, SL_SEND_DELAY_ON_FIFO);
    assert_counts(q, 0, 0, 0);
    /* A refused send does not claim its dedup id. */
    assert_int_equal(send_fifo(q, "a", "g", "d", T0).err, SL_SEND_OK);
    assert_counts(q, 1, 0, 0);
    finish(&heap, q, NULL);
}

static void
test_fifo_groups_interleave(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    char body[16], group[8], dedup[16];
    int next[4] = { 0, 0, 0, 0 };
    batch_t b;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "many.fifo", true, 30);
    for (int i = 0; i < 40; i++) {
        snprintf(group, sizeof(group), "g%d", i % 4);
        snprintf(body, sizeof(body), "%d:%d", i % 4, i / 4);
        snprintf(dedup, sizeof(dedup), "d%d", i);
        send_fifo(q, body, group, dedup, T0);
    }
    /* Receive and delete in small batches; each group's messages come in order. */
    for (int round = 0; round < 100 && (recv_batch(q, 3, -1, NULL, T0, &b), b.n > 0);
         round++) {
        for (size_t i = 0; i < b.n; i++) {
            int g, k;

            assert_int_equal(sscanf(bm(&b, i)->body, "%d:%d", &g, &k), 2);
            assert_int_equal(k, next[g]);
            next[g]++;
            assert_int_equal(sl__mq_delete(q, b.r[i], T0), SL_OK);
        }
        batch_release(&b);
    }
    for (int g = 0; g < 4; g++)
        assert_int_equal(next[g], 10);
    assert_counts(q, 0, 0, 0);
    finish(&heap, q, NULL);
}

static void
test_fifo_retention(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    batch_t b;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "old.fifo", true, 30);
    set_cfg(q, tw_retention, 60);
    send_fifo(q, "first", "g", "d1", T0);
    send_fifo(q, "second", "g", "d2", T0 + 30 * SEC);
    send_fifo(q, "lonely", "h", "d3", T0);
    /* Not yet processed by the heap: receive drops what has expired, and the head
     * going away lets the next of the group through. */
    assert_int_equal(recv_batch(q, 10, -1, NULL, T0 + 60 * SEC, &b), 1);
    assert_string_equal(bm(&b, 0)->body, "second");
    batch_release(&b);
    assert_counts(q, 0, 1, 0);
    /* Expiring behind an in-flight head through the heap. */
    send_fifo(q, "third", "g", "d4", T0 + 61 * SEC);
    tick(&heap, T0 + 121 * SEC);
    assert_counts(q, 0, 0, 0);
    assert_int_equal(receive_count(q, 10, T0 + 121 * SEC), 0);
    send_fifo(q, "fourth", "g", "d5", T0 + 122 * SEC);
    assert_int_equal(receive_count(q, 10, T0 + 122 * SEC), 1);
    finish(&heap, q, NULL);
}

/* ---- Redrive ---- */

static sl_mq_t *
make_source(sl_vheap_t *heap, const char *name, bool fifo, const char *dlq, uint32_t max)
{
    sl_queue_cfg_t cfg;
    sl_mq_t *q;

    sl_queue_cfg_init(&cfg);
    cfg.fifo = fifo;
    cfg.visibility_s = 10;
    cfg.dlq_name = (char *)dlq;
    cfg.max_receives = max;
    q = sl__mq_create(name, &cfg, heap, T0);         /* copies */
    return q;
}

static void
test_redrive_to_dlq(void **state)
{
    sl_msg_attr_t attr = { (char *)"k", (char *)"String", (char *)"v", 1 };
    sl_vheap_t heap;
    sl_mq_t *src, *dlq;
    sl_msg_in_t in;
    sl_send_result_t res;
    batch_t b;
    bool vis;

    (void)state;
    sl__vheap_init(&heap);
    src = make_source(&heap, "src", false, "dead", 2);
    dlq = make_queue(&heap, "dead", false, 30);
    msg_in(&in, "poison");
    in.attrs = &attr;
    in.nattrs = 1;
    sl_md5_attrs(&attr, 1, in.md5_attrs);
    sl__mq_send(src, &in, T0, &res);
    /* Receives 1 and 2 hand it out. */
    assert_int_equal(recv_batch(src, 1, -1, dlq, T0, &b), 1);
    assert_int_equal(bm(&b, 0)->receive_count, 1);
    sl__mq_change_visibility(src, b.r[0], 0, T0, &vis);
    batch_release(&b);
    assert_int_equal(recv_batch(src, 1, -1, dlq, T0 + 1, &b), 1);
    assert_int_equal(bm(&b, 0)->receive_count, 2);
    batch_release(&b);
    tick(&heap, T0 + 11 * SEC);
    assert_counts(src, 1, 0, 0);
    /* The third moves it instead. */
    assert_int_equal(recv_batch(src, 1, -1, dlq, T0 + 12 * SEC, &b), 0);
    assert_counts(src, 0, 0, 0);
    assert_counts(dlq, 1, 0, 0);
    assert_true(sl__mq_has_visible(dlq));
    assert_int_equal(recv_batch(dlq, 1, -1, NULL, T0 + 13 * SEC, &b), 1);
    assert_string_equal(bm(&b, 0)->id, in.id);
    assert_string_equal(bm(&b, 0)->body, "poison");
    assert_string_equal(bm(&b, 0)->md5_body, in.md5_body);
    assert_string_equal(bm(&b, 0)->md5_attrs, in.md5_attrs);
    assert_int_equal(bm(&b, 0)->nattrs, 1);
    assert_string_equal(bm(&b, 0)->attrs[0].name, "k");
    assert_string_equal(bm(&b, 0)->attrs[0].type, "String");
    assert_string_equal(bm(&b, 0)->attrs[0].value, "v");
    assert_string_equal(bm(&b, 0)->dlq_source, "src");
    assert_int_equal(bm(&b, 0)->sent_ms, T0);
    assert_true(bm(&b, 0)->receive_count >= 1);
    assert_int_equal(sl__mq_delete(dlq, b.r[0], T0 + 14 * SEC), SL_OK);
    batch_release(&b);
    /* Without a DLQ at hand the message is simply received again. */
    send_body(src, "no-dlq", T0 + 20 * SEC);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(recv_batch(src, 1, 0, NULL, T0 + 20 * SEC, &b), 1);
        assert_int_equal(bm(&b, 0)->receive_count, (uint32_t)i + 1);
        batch_release(&b);
        tick(&heap, T0 + 20 * SEC);
    }
    finish(&heap, src, dlq);
}

static void
test_redrive_in_a_batch(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *src, *dlq;
    batch_t b;

    (void)state;
    sl__vheap_init(&heap);
    src = make_source(&heap, "src", false, "dead", 1);
    dlq = make_queue(&heap, "dead", false, 30);
    send_body(src, "p1", T0);
    send_body(src, "p2", T0);
    assert_int_equal(recv_batch(src, 10, 0, dlq, T0, &b), 2);
    batch_release(&b);
    tick(&heap, T0);
    send_body(src, "fresh", T0);
    /* Both old ones move; the fresh one is still handed out in the same call. */
    assert_int_equal(recv_batch(src, 10, -1, dlq, T0 + 1, &b), 1);
    assert_string_equal(bm(&b, 0)->body, "fresh");
    batch_release(&b);
    assert_counts(src, 0, 1, 0);
    assert_counts(dlq, 2, 0, 0);
    finish(&heap, src, dlq);
}

static void
test_redrive_fifo(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *src, *dlq;
    batch_t b;

    (void)state;
    sl__vheap_init(&heap);
    src = make_source(&heap, "src.fifo", true, "dead.fifo", 1);
    dlq = make_queue(&heap, "dead.fifo", true, 30);
    send_fifo(src, "a", "g", "d1", T0);
    send_fifo(src, "b", "g", "d2", T0);
    assert_int_equal(recv_batch(src, 1, 0, dlq, T0, &b), 1);
    assert_string_equal(bm(&b, 0)->body, "a");
    batch_release(&b);
    tick(&heap, T0);
    /* "a" is past its limit: it moves and "b" comes next. */
    assert_int_equal(recv_batch(src, 10, -1, dlq, T0 + 1, &b), 1);
    assert_string_equal(bm(&b, 0)->body, "b");
    batch_release(&b);
    assert_int_equal(recv_batch(dlq, 10, -1, NULL, T0 + 2, &b), 1);
    assert_string_equal(bm(&b, 0)->body, "a");
    assert_string_equal(bm(&b, 0)->group_id, "g");
    assert_string_equal(bm(&b, 0)->dlq_source, "src.fifo");
    assert_true(bm(&b, 0)->seq > 0);
    batch_release(&b);
    /* The only message of its group moves: the group goes away with it. */
    send_fifo(src, "alone", "h", "d3", T0 + 3);
    assert_int_equal(recv_batch(src, 1, 0, dlq, T0 + 3, &b), 1);
    batch_release(&b);
    tick(&heap, T0 + 3);
    assert_int_equal(recv_batch(src, 10, -1, dlq, T0 + 4, &b), 0);
    assert_counts(src, 0, 1, 0);                 /* "b" */
    assert_counts(dlq, 1, 1, 0);
    send_fifo(src, "again", "h", "d4", T0 + 5);  /* the group comes back to life */
    assert_int_equal(recv_batch(src, 10, -1, dlq, T0 + 5, &b), 1);
    assert_string_equal(bm(&b, 0)->body, "again");
    batch_release(&b);
    finish(&heap, src, dlq);
}

/* ---- Lifetime ---- */

static void
test_results_outlive_destroy(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    batch_t b;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "gone", true, 30);
    send_fifo(q, "kept", "g", "d", T0);
    send_fifo(q, "dropped", "g", "e", T0);
    send_fifo(q, "other", "h", "f", T0);
    recv_batch(q, 1, -1, NULL, T0, &b);
    sl__mq_destroy(q);
    assert_int_equal(heap.n, 0);
    assert_string_equal(bm(&b, 0)->body, "kept");
    assert_string_equal(bm(&b, 0)->group_id, "g");
    batch_release(&b);
    sl__vheap_deinit(&heap);
}

static void
test_set_cfg_keeps_fifo(void **state)
{
    sl_vheap_t heap;
    sl_mq_t *q;
    sl_queue_cfg_t cfg;
    sl_queue_info_t info;

    (void)state;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "x.fifo", true, 30);
    sl_queue_cfg_init(&cfg);                     /* fifo false */
    cfg.visibility_s = 99;
    sl_kvlist_set(&cfg.extra, "Policy", "{}");
    sl__mq_set_cfg(q, &cfg, T0 + 5000);
    sl_queue_cfg_deinit(&cfg);                   /* the queue has its own copy */
    assert_true(sl__mq_cfg(q)->fifo);
    assert_int_equal(sl__mq_cfg(q)->visibility_s, 99);
    assert_string_equal(sl_kvlist_get(&sl__mq_cfg(q)->extra, "Policy"), "{}");
    sl__mq_info(q, &info);
    assert_int_equal(info.modified_s, (T0 + 5000) / 1000);
    assert_int_equal(info.created_s, T0 / 1000);
    finish(&heap, q, NULL);
}

/* ---- Differential test: a standard queue against a model ---- */

#define MODEL_MAX 4096
#define RING 256
#define DIFF_OPS 100000

enum { M_DELAYED, M_VISIBLE, M_INFLIGHT };

typedef struct mmodel {
    char id[SL_MSG_ID_LEN + 1];
    int mid;                    /* unique number, names the message in receipts */
    int state;
    int64_t deadline;           /* delayed/in flight: when it becomes visible */
    int64_t expire;             /* end of retention */
    uint32_t receives;          /* also the serial a valid receipt carries */
} mmodel_t;

typedef struct mreceipt {
    char r[SL_MQ_RECEIPT_LEN + 1];
    int mid;
    uint32_t serial;
} mreceipt_t;

static uint64_t
seed_from_env(const char *test)
{
    const char *s = getenv("SLUICE_SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);

    printf("# %s seed=%llu (set SLUICE_SEED to replay)\n", test, (unsigned long long)seed);
    return seed ? seed : 1;
}

static uint64_t
rnd(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 2685821657736338717ULL;
}

static mmodel_t model[MODEL_MAX];
static size_t model_n;

static mmodel_t *
model_find_mid(int mid)
{
    for (size_t i = 0; i < model_n; i++)
        if (model[i].mid == mid)
            return &model[i];
    return NULL;
}

static mmodel_t *
model_find_id(const char *id)
{
    for (size_t i = 0; i < model_n; i++)
        if (strcmp(model[i].id, id) == 0)
            return &model[i];
    return NULL;
}

static void
model_remove(mmodel_t *m)
{
    *m = model[--model_n];
}

/* What the heap pass does at now: deadlines end, retention ends. */
static void
model_tick(int64_t now)
{
    for (size_t i = 0; i < model_n;) {
        mmodel_t *m = &model[i];

        if (m->state != M_VISIBLE && m->deadline <= now)
            m->state = M_VISIBLE;
        if (m->state == M_VISIBLE && m->expire <= now) {
            model_remove(m);            /* slot i now holds another message */
            continue;
        }
        i++;
    }
}

static void
model_counts(uint64_t *vis, uint64_t *infl, uint64_t *del)
{
    *vis = *infl = *del = 0;
    for (size_t i = 0; i < model_n; i++) {
        if (model[i].state == M_VISIBLE)
            (*vis)++;
        else if (model[i].state == M_INFLIGHT)
            (*infl)++;
        else
            (*del)++;
    }
}

static void
test_differential_random(void **state)
{
    static mreceipt_t ring[RING];
    uint64_t seed = seed_from_env("test_mqueue differential"), st = seed;
    size_t nring = 0;
    int next_mid = 1, received = 0, deleted = 0;
    int64_t now = T0;
    sl_vheap_t heap;
    sl_mq_t *q;

    (void)state;
    model_n = 0;
    sl__vheap_init(&heap);
    q = make_queue(&heap, "diff", false, 3);
    set_cfg(q, tw_retention, 60);
    for (int op = 0; op < DIFF_OPS; op++) {
        unsigned what = (unsigned)(rnd(&st) % 100);
        uint64_t v, i, d, mv, mi, md;

        if (what < 25 && model_n < MODEL_MAX) {             /* send */
            int32_t delay = (int32_t)(rnd(&st) % 6) - 2;     /* -1 (queue: 0) .. 3; -2 -> -1 */
            sl_send_result_t res;
            mmodel_t *m = &model[model_n++];

            if (delay < -1)
                delay = -1;
            res = send_full(q, "m", NULL, NULL, delay, now, NULL);
            assert_int_equal(res.err, SL_SEND_OK);
            memcpy(m->id, res.id, sizeof(m->id));
            m->mid = next_mid++;
            m->receives = 0;
            m->expire = now + 60 * SEC;
            m->state = delay > 0 ? M_DELAYED : M_VISIBLE;
            m->deadline = now + (delay > 0 ? delay : 0) * SEC;
        } else if (what < 45) {                              /* receive */
            uint32_t max = (uint32_t)(rnd(&st) % 10) + 1;
            int32_t vis = (int32_t)(rnd(&st) % 7) - 1;       /* -1 (queue: 3) .. 5 */
            int64_t vis_ms = (vis < 0 ? 3 : vis) * SEC;
            batch_t b;
            uint64_t want;

            model_counts(&want, &mi, &md);
            recv_batch(q, max, vis, NULL, now, &b);
            if (b.n != (want < max ? want : max))
                fail_msg("seed=%llu op=%d: received %zu of max %u, model has %llu visible",
                         (unsigned long long)seed, op, b.n, max, (unsigned long long)want);
            for (size_t k = 0; k < b.n; k++) {
                mmodel_t *m = model_find_id(bm(&b, k)->id);

                if (m == NULL || m->state != M_VISIBLE)
                    fail_msg("seed=%llu op=%d: received %s, which the model says is %s",
                             (unsigned long long)seed, op, bm(&b, k)->id,
                             m == NULL ? "gone" : m->state == M_DELAYED ? "delayed"
                                                                        : "in flight");
                m->state = M_INFLIGHT;
                m->deadline = now + vis_ms;
                m->receives++;
                assert_int_equal(bm(&b, k)->receive_count, m->receives);
                ring[nring % RING].mid = m->mid;
                ring[nring % RING].serial = m->receives;
                memcpy(ring[nring % RING].r, b.r[k], sizeof(b.r[k]));
                nring++;
                received++;
            }
            batch_release(&b);
        } else if (what < 60 && nring > 0) {                 /* delete */
            mreceipt_t *r = &ring[rnd(&st) % (nring < RING ? nring : RING)];
            mmodel_t *m = model_find_mid(r->mid);
            int want = m != NULL && m->receives == r->serial ? SL_OK : SL_ENOTFOUND;
            int rc = sl__mq_delete(q, r->r, now);

            if (rc != want)
                fail_msg("seed=%llu op=%d: delete returned %d, model %d",
                         (unsigned long long)seed, op, rc, want);
            if (rc == SL_OK) {
                model_remove(m);
                deleted++;
            }
        } else if (what < 72 && nring > 0) {                 /* change visibility */
            mreceipt_t *r = &ring[rnd(&st) % (nring < RING ? nring : RING)];
            mmodel_t *m = model_find_mid(r->mid);
            /* Whole seconds, and now and then a few milliseconds. */
            uint32_t vis = rnd(&st) % 4 == 0 ? (uint32_t)(rnd(&st) % 1500)
                                             : (uint32_t)(rnd(&st) % 6) * SEC;
            int want = m != NULL && m->receives == r->serial && m->state == M_INFLIGHT
                     ? SL_OK : SL_ENOTFOUND;
            bool visible;
            int rc;

            /* Handing back a message whose retention already ended would leave it on
             * the ready list until a receive walks past it; the model keeps away. */
            if (vis == 0 && m != NULL && m->expire <= now)
                vis = SEC;
            rc = sl__mq_change_visibility(q, r->r, vis, now, &visible);
            if (rc != want)
                fail_msg("seed=%llu op=%d: change visibility returned %d, model %d",
                         (unsigned long long)seed, op, rc, want);
            if (rc == SL_OK) {
                assert_int_equal(visible, vis == 0);
                if (vis == 0)
                    m->state = M_VISIBLE;
                else
                    m->deadline = now + (int64_t)vis;
            }
        } else if (what < 74) {                              /* malformed receipt */
            bool visible;

            assert_int_equal(sl__mq_delete(q, "0123", now), SL_EPROTO);
            assert_int_equal(sl__mq_change_visibility(q, "zz", 1, now, &visible), SL_EPROTO);
        } else {                                             /* time passes */
            now += (int64_t)(rnd(&st) % 1500);
            tick(&heap, now);
            model_tick(now);
        }
        model_counts(&mv, &mi, &md);
        {
            sl_queue_info_t info;

            sl__mq_info(q, &info);
            v = info.visible;
            i = info.inflight;
            d = info.delayed;
        }
        if (v != mv || i != mi || d != md)
            fail_msg("seed=%llu op=%d now=+%lld: queue %llu/%llu/%llu "
                     "(visible/in flight/delayed), model %llu/%llu/%llu",
                     (unsigned long long)seed, op, (long long)(now - T0),
                     (unsigned long long)v, (unsigned long long)i, (unsigned long long)d,
                     (unsigned long long)mv, (unsigned long long)mi, (unsigned long long)md);
        assert_int_equal(sl__mq_has_visible(q), mv > 0);
    }
    /* The run must have exercised something. */
    assert_true(received > 1000);
    assert_true(deleted > 100);
    finish(&heap, q, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_info),
        cmocka_unit_test(test_send_receive_delete),
        cmocka_unit_test(test_receive_respects_max),
        cmocka_unit_test(test_hidden_message_reappears_after_timeout),
        cmocka_unit_test(test_receive_visibility_override),
        cmocka_unit_test(test_a_visible_message_can_be_deleted_with_its_last_receipt),
        cmocka_unit_test(test_change_visibility),
        cmocka_unit_test(test_bad_receipts),
        cmocka_unit_test(test_receipt_of_a_recreated_queue_is_refused),
        cmocka_unit_test(test_delays),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_purge),
        cmocka_unit_test(test_attributes_round_trip),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_standard_refusals),
        cmocka_unit_test(test_fifo_order_and_group_lock),
        cmocka_unit_test(test_fifo_order_kept_across_retry),
        cmocka_unit_test(test_fifo_queue_delay_keeps_order),
        cmocka_unit_test(test_fifo_dedup_window),
        cmocka_unit_test(test_fifo_content_dedup),
        cmocka_unit_test(test_fifo_refusals),
        cmocka_unit_test(test_fifo_groups_interleave),
        cmocka_unit_test(test_fifo_retention),
        cmocka_unit_test(test_redrive_to_dlq),
        cmocka_unit_test(test_redrive_in_a_batch),
        cmocka_unit_test(test_redrive_fifo),
        cmocka_unit_test(test_results_outlive_destroy),
        cmocka_unit_test(test_set_cfg_keeps_fifo),
        cmocka_unit_test(test_differential_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
