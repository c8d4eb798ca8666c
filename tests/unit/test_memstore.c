/* test_memstore.c - the memory store through the public sl_store_* interface on a real
 * event_base: the asynchronous rule (no callback inside the submitting call, each
 * exactly once), queue create/get/set/tag/list/delete/purge, DLQ sources, messages
 * through the store, notifications, deadlines driven by an injected clock and
 * sl_memstore_tick, the outbox (lease, ack, retry), and destroy with callbacks pending.
 * The loop is driven with EVLOOP_NONBLOCK in bounded loops, so nothing waits on the
 * wall clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/message.h"
#include "sluice/queue.h"
#include "sluice/store.h"
#include "store/memory.h"

#define T0 INT64_C(1700000000000)
#define MAXR 16

static int64_t fake_now;

static int64_t
fake_clock(void)
{
    return fake_now;
}

/* What one callback saw, copied out (results are borrowed for the callback only). */
typedef struct call {
    bool returned;              /* set once the submitting call has returned */
    bool early;                 /* the callback ran before that */
    int runs;
    int status;
    size_t n;
    /* info */
    bool has_info;
    char name[96];
    bool fifo;
    uint32_t visibility_s;
    uint64_t visible, inflight, delayed;
    int64_t created_s;
    size_t ntags;
    char tags[8][2][32];
    /* names */
    char names[MAXR][96];
    /* send */
    sl_send_result_t send[MAXR];
    /* receive */
    char ids[MAXR][SL_MSG_ID_LEN + 1];
    char bodies[MAXR][64];
    char receipts[MAXR][128];
    uint32_t receive_counts[MAXR];
    char dlq_source[MAXR][96];
    /* batch */
    int rcs[MAXR];
    /* outbox */
    char ob_id[MAXR][SL_MSG_ID_LEN + 1];
    char ob_kind[MAXR][32];
    char ob_payload[MAXR][64];
    uint32_t ob_attempts[MAXR];
} call_t;

static void
seen(call_t *c, int status)
{
    if (!c->returned)
        c->early = true;
    c->runs++;
    c->status = status;
}

static void
on_done(void *arg, int status)
{
    seen(arg, status);
}

static void
on_info(void *arg, int status, const sl_queue_info_t *info)
{
    call_t *c = arg;

    seen(c, status);
    if (info == NULL)
        return;
    c->has_info = true;
    snprintf(c->name, sizeof(c->name), "%s", info->name);
    c->fifo = info->cfg->fifo;
    c->visibility_s = info->cfg->visibility_s;
    c->visible = info->visible;
    c->inflight = info->inflight;
    c->delayed = info->delayed;
    c->created_s = info->created_s;
    c->ntags = info->tags->n < 8 ? info->tags->n : 8;
    for (size_t i = 0; i < c->ntags; i++) {
        snprintf(c->tags[i][0], 32, "%s", info->tags->v[i].key);
        snprintf(c->tags[i][1], 32, "%s", info->tags->v[i].val);
    }
}

static void
on_names(void *arg, int status, char *const *names, size_t n)
{
    call_t *c = arg;

    seen(c, status);
    c->n = n;
    for (size_t i = 0; i < n && i < MAXR; i++)
        snprintf(c->names[i], sizeof(c->names[i]), "%s", names[i]);
}

static void
on_send(void *arg, int status, const sl_send_result_t *res, size_t n)
{
    call_t *c = arg;

    seen(c, status);
    c->n = n;
    for (size_t i = 0; i < n && i < MAXR; i++)
        c->send[i] = res[i];
}

static void
on_recv(void *arg, int status, const sl_received_t *msgs, size_t n)
{
    call_t *c = arg;

    seen(c, status);
    c->n = n;
    for (size_t i = 0; i < n && i < MAXR; i++) {
        const sl_msg_t *m = msgs[i].msg;

        snprintf(c->ids[i], sizeof(c->ids[i]), "%s", m->id);
        snprintf(c->bodies[i], sizeof(c->bodies[i]), "%.*s", (int)m->body_len, m->body);
        snprintf(c->receipts[i], sizeof(c->receipts[i]), "%s", msgs[i].receipt);
        c->receive_counts[i] = m->receive_count;
        snprintf(c->dlq_source[i], sizeof(c->dlq_source[i]), "%s",
                 m->dlq_source ? m->dlq_source : "");
    }
}

static void
on_batch(void *arg, int status, const int *rcs, size_t n)
{
    call_t *c = arg;

    seen(c, status);
    c->n = n;
    for (size_t i = 0; i < n && i < MAXR; i++)
        c->rcs[i] = rcs[i];
}

static void
on_outbox(void *arg, int status, const sl_outbox_item_t *items, size_t n)
{
    call_t *c = arg;

    seen(c, status);
    c->n = n;
    for (size_t i = 0; i < n && i < MAXR; i++) {
        snprintf(c->ob_id[i], sizeof(c->ob_id[i]), "%s", items[i].id);
        snprintf(c->ob_kind[i], sizeof(c->ob_kind[i]), "%s", items[i].kind);
        snprintf(c->ob_payload[i], sizeof(c->ob_payload[i]), "%.*s", (int)items[i].len,
                 (const char *)items[i].payload);
        c->ob_attempts[i] = items[i].attempts;
    }
}

/* Submits with expr (which must return SL_OK), marks the call returned, and checks
 * that its callback has not run yet. */
#define SUBMIT(c, expr)                                   \
    do {                                                  \
        memset((c), 0, sizeof(*(c)));                     \
        assert_int_equal((expr), SL_OK);                  \
        (c)->returned = true;                             \
        assert_int_equal((c)->runs, 0);                   \
    } while (0)

typedef struct fixture {
    struct event_base *base;
    sl_store_t *s;
    int notified;
    bool in_submit;             /* a notification arriving now would be synchronous */
    bool notified_early;
    char last_notified[96];
} fixture_t;

static fixture_t fx;

/* Runs the loop until c's callback ran, then a little more: exactly once, and not
 * before the submitting call returned. */
static void
wait_for(call_t *c)
{
    for (int i = 0; i < 100 && c->runs == 0; i++)
        event_base_loop(fx.base, EVLOOP_NONBLOCK);
    assert_int_equal(c->runs, 1);
    for (int i = 0; i < 3; i++)
        event_base_loop(fx.base, EVLOOP_NONBLOCK);
    assert_int_equal(c->runs, 1);
    assert_false(c->early);
}

static void
pump(void)
{
    for (int i = 0; i < 5; i++)
        event_base_loop(fx.base, EVLOOP_NONBLOCK);
}

static void
on_notify(void *arg, const char *queue)
{
    fixture_t *f = arg;

    if (f->in_submit)
        f->notified_early = true;
    f->notified++;
    snprintf(f->last_notified, sizeof(f->last_notified), "%s", queue);
}

static int
setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    fake_now = T0;
    fx.base = event_base_new();
    assert_non_null(fx.base);
    assert_int_equal(sl_memstore_create(fx.base, fake_clock, &fx.s), SL_OK);
    assert_non_null(fx.s);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    sl_store_destroy(fx.s);
    event_base_free(fx.base);
    return 0;
}

/* ---- Helpers over the store ---- */

static void
create_queue(const char *name, const sl_queue_cfg_t *cfg, const sl_kvlist_t *tags)
{
    call_t c;

    SUBMIT(&c, sl_store_queue_create(fx.s, name, cfg, tags, on_info, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    assert_string_equal(c.name, name);
}

static void
create_plain(const char *name, uint32_t visibility_s)
{
    sl_queue_cfg_t cfg;

    sl_queue_cfg_init(&cfg);
    cfg.visibility_s = visibility_s;
    create_queue(name, &cfg, NULL);
    sl_queue_cfg_deinit(&cfg);
}

static void
msg_in(sl_msg_in_t *in, const char *body)
{
    memset(in, 0, sizeof(*in));
    sl_uuid4(in->id);
    in->body = body;
    in->body_len = strlen(body);
    sl_md5_hex(body, in->body_len, in->md5_body);
    in->delay_s = -1;
}

static void
send_one(const char *queue, const char *body, int32_t delay_s, call_t *c)
{
    sl_msg_in_t in;

    msg_in(&in, body);
    in.delay_s = delay_s;
    SUBMIT(c, sl_store_send(fx.s, queue, &in, 1, on_send, c));
    wait_for(c);
}

static void
receive(const char *queue, uint32_t max, int32_t vis, call_t *c)
{
    sl_recv_opts_t o = { max, vis };

    SUBMIT(c, sl_store_receive(fx.s, queue, &o, on_recv, c));
    wait_for(c);
}

static void
get_info(const char *queue, call_t *c)
{
    SUBMIT(c, sl_store_queue_get(fx.s, queue, on_info, c));
    wait_for(c);
}

/* ---- Tests ---- */

static void
test_open_by_url(void **state)
{
    sl_store_t *s = NULL;
    char err[128] = "";

    (void)state;
    assert_int_equal(sl_store_open(fx.base, "memory", &s, err, sizeof(err)), SL_OK);
    assert_string_equal(s->ops->name, "memory");
    assert_ptr_equal(s->base, fx.base);
    sl_store_destroy(s);
    s = NULL;
    assert_int_equal(sl_store_open(fx.base, "memory://", &s, err, sizeof(err)), SL_OK);
    sl_store_destroy(s);
    /* (redis:// and kafka:// are other backends' business.) */
    assert_int_equal(sl_store_open(fx.base, "nonsense", &s, err, sizeof(err)), SL_EINVAL);
    assert_true(strlen(err) > 0);
    err[0] = '\0';
    assert_int_equal(sl_store_open(fx.base, "memoryx", &s, err, sizeof(err)), SL_EINVAL);
    assert_true(strlen(err) > 0);
    sl_store_destroy(NULL);                     /* no-op */
}

/* Every operation, successful or not, completes later and exactly once. */
static void
test_async_rule_every_operation(void **state)
{
    sl_queue_cfg_t cfg;
    sl_kvlist_t tags;
    const char *rm[] = { "gone" };
    sl_msg_in_t in;
    sl_recv_opts_t ro = { 10, -1 };
    const char *receipts[1];
    sl_vis_change_t vc;
    call_t c, r;
    char receipt[128];

    (void)state;
    sl_queue_cfg_init(&cfg);
    sl_kvlist_init(&tags);
    sl_kvlist_set(&tags, "k", "v");
    SUBMIT(&c, sl_store_queue_create(fx.s, "q", &cfg, &tags, on_info, &c));
    wait_for(&c);
    SUBMIT(&c, sl_store_queue_get(fx.s, "q", on_info, &c));
    wait_for(&c);
    SUBMIT(&c, sl_store_queue_set(fx.s, "q", &cfg, on_done, &c));
    wait_for(&c);
    SUBMIT(&c, sl_store_queue_tag(fx.s, "q", &tags, rm, 1, on_done, &c));
    wait_for(&c);
    SUBMIT(&c, sl_store_queue_list(fx.s, NULL, on_names, &c));
    wait_for(&c);
    SUBMIT(&c, sl_store_queue_dlq_sources(fx.s, "q", on_names, &c));
    wait_for(&c);
    msg_in(&in, "x");
    SUBMIT(&c, sl_store_send(fx.s, "q", &in, 1, on_send, &c));
    wait_for(&c);
    SUBMIT(&r, sl_store_receive(fx.s, "q", &ro, on_recv, &r));
    wait_for(&r);
    assert_int_equal(r.n, 1);
    snprintf(receipt, sizeof(receipt), "%s", r.receipts[0]);
    vc.receipt = receipt;
    vc.visibility_ms = 5000;
    SUBMIT(&c, sl_store_change_visibility(fx.s, "q", &vc, 1, on_batch, &c));
    wait_for(&c);
    receipts[0] = receipt;
    SUBMIT(&c, sl_store_delete_batch(fx.s, "q", receipts, 1, on_batch, &c));
    wait_for(&c);
    SUBMIT(&c, sl_store_queue_purge(fx.s, "q", on_done, &c));
    wait_for(&c);
    SUBMIT(&c, sl_store_outbox_append(fx.s, "fanout", "p", 1, 0, on_done, &c));
    wait_for(&c);
    SUBMIT(&r, sl_store_outbox_claim(fx.s, 10, 1000, on_outbox, &r));
    wait_for(&r);
    SUBMIT(&c, sl_store_outbox_retry(fx.s, r.ob_id[0], 0, on_done, &c));
    wait_for(&c);
    SUBMIT(&c, sl_store_outbox_ack(fx.s, r.ob_id[0], on_done, &c));
    wait_for(&c);
    SUBMIT(&c, sl_store_queue_delete(fx.s, "q", on_done, &c));
    wait_for(&c);
    /* Failures are reported through the callback the same way. */
    SUBMIT(&c, sl_store_queue_get(fx.s, "q", on_info, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_ENOTFOUND);
    SUBMIT(&c, sl_store_queue_set(fx.s, "q", &cfg, on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_ENOTFOUND);
    SUBMIT(&c, sl_store_queue_tag(fx.s, "q", &tags, NULL, 0, on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_ENOTFOUND);
    SUBMIT(&c, sl_store_queue_delete(fx.s, "q", on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_ENOTFOUND);
    SUBMIT(&c, sl_store_queue_purge(fx.s, "q", on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_ENOTFOUND);
    SUBMIT(&c, sl_store_send(fx.s, "q", &in, 1, on_send, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_ENOTFOUND);
    SUBMIT(&c, sl_store_receive(fx.s, "q", &ro, on_recv, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_ENOTFOUND);
    assert_int_equal(c.n, 0);
    SUBMIT(&c, sl_store_delete_batch(fx.s, "q", receipts, 1, on_batch, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_ENOTFOUND);
    SUBMIT(&c, sl_store_change_visibility(fx.s, "q", &vc, 1, on_batch, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_ENOTFOUND);
    SUBMIT(&c, sl_store_outbox_ack(fx.s, "no-such-id", on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_ENOTFOUND);
    SUBMIT(&c, sl_store_outbox_retry(fx.s, "no-such-id", 0, on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_ENOTFOUND);
    sl_kvlist_deinit(&tags);
    sl_queue_cfg_deinit(&cfg);
}

/* Several submissions before the loop runs: each completes once, in order. */
static int order_log[8];
static int order_n;

static void
on_done_ordered(void *arg, int status)
{
    (void)status;
    order_log[order_n++] = (int)(intptr_t)arg;
}

static void
test_many_pending_complete_in_order(void **state)
{
    (void)state;
    order_n = 0;
    create_plain("q", 30);
    for (int i = 0; i < 5; i++)
        assert_int_equal(sl_store_queue_purge(fx.s, "q", on_done_ordered, (void *)(intptr_t)i),
                         SL_OK);
    assert_int_equal(order_n, 0);
    pump();
    assert_int_equal(order_n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(order_log[i], i);
}

/* A callback that submits again: the new callback runs later, not inside it. */
typedef struct chain {
    int depth;
    int ran;
    bool nested;                /* a callback ran while another was on the stack */
    bool in_cb;
} chain_t;

static void
on_chain(void *arg, int status)
{
    chain_t *ch = arg;

    (void)status;
    if (ch->in_cb)
        ch->nested = true;
    ch->in_cb = true;
    ch->ran++;
    if (ch->ran < ch->depth)
        (void)sl_store_queue_purge(fx.s, "q", on_chain, ch);
    ch->in_cb = false;
}

static void
test_resubmit_from_callback(void **state)
{
    chain_t ch = { 4, 0, false, false };

    (void)state;
    create_plain("q", 30);
    assert_int_equal(sl_store_queue_purge(fx.s, "q", on_chain, &ch), SL_OK);
    for (int i = 0; i < 100 && ch.ran < 4; i++)
        event_base_loop(fx.base, EVLOOP_NONBLOCK);
    assert_int_equal(ch.ran, 4);
    assert_false(ch.nested);
}

static void
test_create_idempotent_and_conflict(void **state)
{
    sl_queue_cfg_t cfg;
    call_t c;

    (void)state;
    sl_queue_cfg_init(&cfg);
    cfg.visibility_s = 45;
    SUBMIT(&c, sl_store_queue_create(fx.s, "orders", &cfg, NULL, on_info, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    assert_true(c.has_info);
    assert_string_equal(c.name, "orders");
    assert_int_equal(c.visibility_s, 45);
    assert_int_equal(c.created_s, T0 / 1000);
    /* Same settings: fine, same queue. */
    fake_now = T0 + 5000;
    SUBMIT(&c, sl_store_queue_create(fx.s, "orders", &cfg, NULL, on_info, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    assert_int_equal(c.created_s, T0 / 1000);
    /* Other settings: SL_EEXIST, no info. */
    cfg.visibility_s = 46;
    SUBMIT(&c, sl_store_queue_create(fx.s, "orders", &cfg, NULL, on_info, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_EEXIST);
    assert_false(c.has_info);
    get_info("orders", &c);
    assert_int_equal(c.visibility_s, 45);
    sl_queue_cfg_deinit(&cfg);
}

static void
test_set_replaces_settings(void **state)
{
    sl_queue_cfg_t cfg;
    call_t c;

    (void)state;
    sl_queue_cfg_init(&cfg);
    cfg.fifo = true;
    create_queue("x.fifo", &cfg, NULL);
    cfg.fifo = false;
    cfg.visibility_s = 7;
    SUBMIT(&c, sl_store_queue_set(fx.s, "x.fifo", &cfg, on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    get_info("x.fifo", &c);
    assert_int_equal(c.visibility_s, 7);
    assert_true(c.fifo);                        /* cannot change after creation */
    sl_queue_cfg_deinit(&cfg);
}

static void
test_list_prefix_sorted(void **state)
{
    static const char *const names[] = { "b-2", "a-1", "b-10", "c", "b-1", "B-3" };
    call_t c;

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        create_plain(names[i], 30);
    SUBMIT(&c, sl_store_queue_list(fx.s, NULL, on_names, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    assert_int_equal(c.n, 6);
    assert_string_equal(c.names[0], "B-3");
    assert_string_equal(c.names[1], "a-1");
    assert_string_equal(c.names[2], "b-1");
    assert_string_equal(c.names[3], "b-10");
    assert_string_equal(c.names[4], "b-2");
    assert_string_equal(c.names[5], "c");
    SUBMIT(&c, sl_store_queue_list(fx.s, "b-", on_names, &c));
    wait_for(&c);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.names[0], "b-1");
    assert_string_equal(c.names[1], "b-10");
    assert_string_equal(c.names[2], "b-2");
    SUBMIT(&c, sl_store_queue_list(fx.s, "", on_names, &c));
    wait_for(&c);
    assert_int_equal(c.n, 6);
    SUBMIT(&c, sl_store_queue_list(fx.s, "zzz", on_names, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    assert_int_equal(c.n, 0);
    /* Deleted queues leave the list. */
    SUBMIT(&c, sl_store_queue_delete(fx.s, "b-10", on_done, &c));
    wait_for(&c);
    SUBMIT(&c, sl_store_queue_list(fx.s, "b-", on_names, &c));
    wait_for(&c);
    assert_int_equal(c.n, 2);
}

static void
create_with_dlq(const char *name, const char *dlq, uint32_t max)
{
    sl_queue_cfg_t cfg;

    sl_queue_cfg_init(&cfg);
    cfg.visibility_s = 30;
    if (dlq) {
        char policy[160];

        snprintf(policy, sizeof(policy),
                 "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:%s\","
                 "\"maxReceiveCount\":%u}", dlq, max);
        cfg.redrive_policy = strdup(policy);
        cfg.dlq_name = strdup(dlq);
        cfg.max_receives = max;
    }
    create_queue(name, &cfg, NULL);
    free(cfg.redrive_policy);
    free(cfg.dlq_name);
    cfg.redrive_policy = cfg.dlq_name = NULL;
    sl_queue_cfg_deinit(&cfg);
}

static void
test_dlq_sources(void **state)
{
    call_t c;

    (void)state;
    create_with_dlq("dead", NULL, 0);
    create_with_dlq("src-b", "dead", 3);
    create_with_dlq("src-a", "dead", 5);
    create_with_dlq("elsewhere", "other", 3);
    create_with_dlq("plain", NULL, 0);
    SUBMIT(&c, sl_store_queue_dlq_sources(fx.s, "dead", on_names, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.names[0], "src-a");
    assert_string_equal(c.names[1], "src-b");
    SUBMIT(&c, sl_store_queue_dlq_sources(fx.s, "plain", on_names, &c));
    wait_for(&c);
    assert_int_equal(c.n, 0);
}

static const char *
tag_of(const call_t *c, const char *key)
{
    for (size_t i = 0; i < c->ntags; i++)
        if (strcmp(c->tags[i][0], key) == 0)
            return c->tags[i][1];
    return NULL;
}

static void
test_tags(void **state)
{
    sl_queue_cfg_t cfg;
    sl_kvlist_t tags;
    const char *rm_a[] = { "a", "not-there" };
    call_t c;

    (void)state;
    sl_queue_cfg_init(&cfg);
    sl_kvlist_init(&tags);
    sl_kvlist_set(&tags, "a", "1");
    create_queue("tagged", &cfg, &tags);
    get_info("tagged", &c);
    assert_int_equal(c.ntags, 1);
    assert_string_equal(tag_of(&c, "a"), "1");
    /* Set merges: new keys added, existing ones replaced. */
    sl_kvlist_deinit(&tags);
    sl_kvlist_set(&tags, "b", "2");
    sl_kvlist_set(&tags, "a", "3");
    SUBMIT(&c, sl_store_queue_tag(fx.s, "tagged", &tags, NULL, 0, on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    get_info("tagged", &c);
    assert_int_equal(c.ntags, 2);
    assert_string_equal(tag_of(&c, "a"), "3");
    assert_string_equal(tag_of(&c, "b"), "2");
    /* Remove (unknown keys are ignored). */
    SUBMIT(&c, sl_store_queue_tag(fx.s, "tagged", NULL, rm_a, 2, on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    get_info("tagged", &c);
    assert_int_equal(c.ntags, 1);
    assert_null(tag_of(&c, "a"));
    assert_string_equal(tag_of(&c, "b"), "2");
    sl_kvlist_deinit(&tags);
    sl_queue_cfg_deinit(&cfg);
}

static void
test_messages_through_the_store(void **state)
{
    sl_msg_in_t in[2];
    sl_recv_opts_t ro = { 10, -1 };
    const char *receipts[3];
    call_t c, r;
    char rc0[128], rc1[128];

    (void)state;
    create_plain("q", 30);
    msg_in(&in[0], "one");
    msg_in(&in[1], "two");
    SUBMIT(&c, sl_store_send(fx.s, "q", in, 2, on_send, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.send[0].err, SL_SEND_OK);
    assert_string_equal(c.send[0].id, in[0].id);
    assert_string_equal(c.send[1].id, in[1].id);
    get_info("q", &c);
    assert_int_equal(c.visible, 2);
    SUBMIT(&r, sl_store_receive(fx.s, "q", &ro, on_recv, &r));
    wait_for(&r);
    assert_int_equal(r.status, SL_OK);
    assert_int_equal(r.n, 2);
    assert_true((strcmp(r.bodies[0], "one") == 0 && strcmp(r.bodies[1], "two") == 0) ||
                (strcmp(r.bodies[0], "two") == 0 && strcmp(r.bodies[1], "one") == 0));
    assert_int_equal(r.receive_counts[0], 1);
    get_info("q", &c);
    assert_int_equal(c.visible, 0);
    assert_int_equal(c.inflight, 2);
    snprintf(rc0, sizeof(rc0), "%s", r.receipts[0]);
    snprintf(rc1, sizeof(rc1), "%s", r.receipts[1]);
    receipts[0] = rc0;
    receipts[1] = "not-a-receipt";
    receipts[2] = rc1;
    SUBMIT(&c, sl_store_delete_batch(fx.s, "q", receipts, 3, on_batch, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.rcs[0], SL_OK);
    assert_int_equal(c.rcs[1], SL_EPROTO);
    assert_int_equal(c.rcs[2], SL_OK);
    SUBMIT(&c, sl_store_delete_batch(fx.s, "q", receipts, 1, on_batch, &c));
    wait_for(&c);
    assert_int_equal(c.rcs[0], SL_ENOTFOUND);
    receive("q", 10, -1, &r);
    assert_int_equal(r.n, 0);
    get_info("q", &c);
    assert_int_equal(c.visible + c.inflight + c.delayed, 0);
}

static void
test_send_batch_too_large(void **state)
{
    sl_queue_cfg_t cfg;
    sl_msg_in_t in[2];
    static char big[700];
    call_t c;

    (void)state;
    sl_queue_cfg_init(&cfg);
    cfg.max_size = 1024;
    create_queue("small", &cfg, NULL);
    memset(big, 'x', sizeof(big) - 1);
    msg_in(&in[0], big);
    msg_in(&in[1], big);
    SUBMIT(&c, sl_store_send(fx.s, "small", in, 2, on_send, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_EFULL);
    get_info("small", &c);
    assert_int_equal(c.visible, 0);             /* nothing of the batch stored */
    sl_queue_cfg_deinit(&cfg);
}

static void
test_info_counts(void **state)
{
    call_t c, r;

    (void)state;
    create_plain("q", 30);
    send_one("q", "a", -1, &c);
    send_one("q", "b", -1, &c);
    send_one("q", "c", -1, &c);
    send_one("q", "later", 60, &c);
    receive("q", 1, -1, &r);
    assert_int_equal(r.n, 1);
    get_info("q", &c);
    assert_int_equal(c.status, SL_OK);
    assert_int_equal(c.visible, 2);
    assert_int_equal(c.inflight, 1);
    assert_int_equal(c.delayed, 1);
    SUBMIT(&c, sl_store_queue_purge(fx.s, "q", on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    get_info("q", &c);
    assert_int_equal(c.visible + c.inflight + c.delayed, 0);
}

static void
test_notify_after_send_is_deferred(void **state)
{
    sl_msg_in_t in;
    call_t c;

    (void)state;
    create_plain("q", 30);
    sl_store_set_notify(fx.s, on_notify, &fx);
    msg_in(&in, "wake up");
    fx.in_submit = true;
    SUBMIT(&c, sl_store_send(fx.s, "q", &in, 1, on_send, &c));
    fx.in_submit = false;
    assert_int_equal(fx.notified, 0);
    wait_for(&c);
    pump();
    assert_false(fx.notified_early);
    assert_int_equal(fx.notified, 1);
    assert_string_equal(fx.last_notified, "q");
    /* A delayed message does not wake anyone until its delay ends. */
    fx.notified = 0;
    send_one("q", "later", 10, &c);
    pump();
    assert_int_equal(fx.notified, 0);
    fake_now += 10000;
    fx.in_submit = true;
    sl_memstore_tick(fx.s);
    fx.in_submit = false;
    pump();
    assert_false(fx.notified_early);
    assert_int_equal(fx.notified, 1);
    /* Without a notify function nothing is queued. */
    sl_store_set_notify(fx.s, NULL, NULL);
    send_one("q", "quiet", -1, &c);
    pump();
    assert_int_equal(fx.notified, 1);
}

static void
test_visibility_expiry_by_clock(void **state)
{
    call_t c, r;
    char first_id[SL_MSG_ID_LEN + 1];

    (void)state;
    create_plain("q", 30);
    sl_store_set_notify(fx.s, on_notify, &fx);
    send_one("q", "a", -1, &c);
    receive("q", 1, -1, &r);
    assert_int_equal(r.n, 1);
    snprintf(first_id, sizeof(first_id), "%s", r.ids[0]);
    pump();
    fx.notified = 0;
    fake_now = T0 + 29999;
    sl_memstore_tick(fx.s);
    pump();
    receive("q", 1, -1, &r);
    assert_int_equal(r.n, 0);
    assert_int_equal(fx.notified, 0);
    fake_now = T0 + 30000;
    sl_memstore_tick(fx.s);
    pump();
    assert_int_equal(fx.notified, 1);
    get_info("q", &c);
    assert_int_equal(c.visible, 1);
    receive("q", 1, -1, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ids[0], first_id);
    assert_int_equal(r.receive_counts[0], 2);
}

static void
test_change_visibility_through_store(void **state)
{
    sl_vis_change_t v[2];
    call_t c, r;
    char receipt[128];

    (void)state;
    create_plain("q", 30);
    sl_store_set_notify(fx.s, on_notify, &fx);
    send_one("q", "a", -1, &c);
    receive("q", 1, -1, &r);
    snprintf(receipt, sizeof(receipt), "%s", r.receipts[0]);
    pump();
    fx.notified = 0;
    v[0].receipt = receipt;
    v[0].visibility_ms = 0;
    v[1].receipt = "garbage";
    v[1].visibility_ms = 0;
    fx.in_submit = true;
    SUBMIT(&c, sl_store_change_visibility(fx.s, "q", v, 2, on_batch, &c));
    fx.in_submit = false;
    wait_for(&c);
    pump();
    assert_int_equal(c.rcs[0], SL_OK);
    assert_int_equal(c.rcs[1], SL_EPROTO);
    assert_false(fx.notified_early);
    assert_int_equal(fx.notified, 1);
    receive("q", 1, -1, &r);
    assert_int_equal(r.n, 1);
}

static void
test_redrive_through_store(void **state)
{
    call_t c, r;

    (void)state;
    create_with_dlq("dead", NULL, 0);
    create_with_dlq("src", "dead", 1);
    sl_store_set_notify(fx.s, on_notify, &fx);
    send_one("src", "poison", -1, &c);
    receive("src", 1, 0, &r);                  /* receive 1, visible again at once */
    assert_int_equal(r.n, 1);
    sl_memstore_tick(fx.s);
    pump();
    fx.notified = 0;
    receive("src", 1, -1, &r);                 /* receive 2: moved instead */
    assert_int_equal(r.n, 0);
    pump();
    assert_int_equal(fx.notified, 1);
    assert_string_equal(fx.last_notified, "dead");
    receive("dead", 1, -1, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.bodies[0], "poison");
    assert_string_equal(r.dlq_source[0], "src");
}

static char doc_seen[256];
static char docs_seen[4][2][64];

static void
on_doc(void *arg, int status, const char *doc, size_t len)
{
    seen(arg, status);
    snprintf(doc_seen, sizeof(doc_seen), "%.*s", (int)len, doc ? doc : "");
}

static void
on_docs(void *arg, int status, char *const *names, char *const *docs, size_t n)
{
    call_t *c = arg;

    seen(c, status);
    c->n = n;
    for (size_t i = 0; i < n && i < 4; i++) {
        snprintf(docs_seen[i][0], 64, "%s", names[i]);
        snprintf(docs_seen[i][1], 64, "%s", docs[i]);
    }
}

static void
test_meta_documents(void **state)
{
    call_t c;

    (void)state;
    SUBMIT(&c, sl_store_meta_put(fx.s, "function", "b", "{\"v\":2}", 7, on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    SUBMIT(&c, sl_store_meta_put(fx.s, "function", "a", "{\"v\":1}", 7, on_done, &c));
    wait_for(&c);
    SUBMIT(&c, sl_store_meta_put(fx.s, "trigger", "a", "{\"t\":1}", 7, on_done, &c));
    wait_for(&c);
    SUBMIT(&c, sl_store_meta_put(fx.s, "function", "b", "{\"v\":3}", 7, on_done, &c));
    wait_for(&c);                               /* put replaces */
    SUBMIT(&c, sl_store_meta_get(fx.s, "function", "b", on_doc, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    assert_string_equal(doc_seen, "{\"v\":3}");
    SUBMIT(&c, sl_store_meta_list(fx.s, "function", on_docs, &c));
    wait_for(&c);
    assert_int_equal(c.n, 2);                   /* kinds do not mix; name order */
    assert_string_equal(docs_seen[0][0], "a");
    assert_string_equal(docs_seen[0][1], "{\"v\":1}");
    assert_string_equal(docs_seen[1][0], "b");
    SUBMIT(&c, sl_store_meta_delete(fx.s, "function", "a", on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    SUBMIT(&c, sl_store_meta_delete(fx.s, "function", "a", on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_ENOTFOUND);
    SUBMIT(&c, sl_store_meta_get(fx.s, "function", "a", on_doc, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_ENOTFOUND);
}

static void
test_dead_letter_with_reasons(void **state)
{
    sl_msg_attr_t why[2] = {
        { "sluice.error", "String", "boom", 4 },
        { "sluice.attempts", "Number", "3", 1 },
    };
    call_t c, r, d;

    (void)state;
    create_with_dlq("graveyard", NULL, 0);
    create_with_dlq("work", "graveyard", 5);
    send_one("work", "bad apple", -1, &c);
    receive("work", 1, 30, &r);
    assert_int_equal(r.n, 1);
    SUBMIT(&d, sl_store_dead_letter(fx.s, "work", "not-a-receipt", why, 2, on_done, &d));
    wait_for(&d);
    assert_int_equal(d.status, SL_EPROTO);
    SUBMIT(&d, sl_store_dead_letter(fx.s, "work", r.receipts[0], why, 2, on_done, &d));
    wait_for(&d);
    assert_int_equal(d.status, SL_OK);
    /* Gone from the source at once, waiting in the dead-letter queue. */
    SUBMIT(&d, sl_store_dead_letter(fx.s, "work", r.receipts[0], why, 2, on_done, &d));
    wait_for(&d);
    assert_int_equal(d.status, SL_ENOTFOUND);
    receive("graveyard", 1, 30, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.bodies[0], "bad apple");
    assert_string_equal(r.dlq_source[0], "work");
    /* A queue without a redrive policy has nowhere to send it. */
    SUBMIT(&d, sl_store_dead_letter(fx.s, "graveyard", r.receipts[0], why, 2, on_done, &d));
    wait_for(&d);
    assert_int_equal(d.status, SL_ENOTFOUND);
}

static void
test_receive_results_survive_purge_and_delete(void **state)
{
    sl_recv_opts_t ro = { 10, -1 };
    call_t c, r, p, d;

    (void)state;
    create_plain("q", 30);
    send_one("q", "still readable", -1, &c);
    /* All three are queued before the loop runs: the receive result must hold on. */
    SUBMIT(&r, sl_store_receive(fx.s, "q", &ro, on_recv, &r));
    SUBMIT(&p, sl_store_queue_purge(fx.s, "q", on_done, &p));
    SUBMIT(&d, sl_store_queue_delete(fx.s, "q", on_done, &d));
    wait_for(&r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.bodies[0], "still readable");
    assert_int_equal(p.runs, 1);
    assert_int_equal(d.runs, 1);
    assert_int_equal(d.status, SL_OK);
}

static void
test_outbox(void **state)
{
    call_t c, cl;
    char id[SL_MSG_ID_LEN + 1];

    (void)state;
    SUBMIT(&c, sl_store_outbox_append(fx.s, "fanout", "payload-1", 9, 0, on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    SUBMIT(&c, sl_store_outbox_append(fx.s, "invoke", "payload-2", 9, 2000, on_done, &c));
    wait_for(&c);
    /* Only the first is due. */
    SUBMIT(&cl, sl_store_outbox_claim(fx.s, 10, 1000, on_outbox, &cl));
    wait_for(&cl);
    assert_int_equal(cl.status, SL_OK);
    assert_int_equal(cl.n, 1);
    assert_string_equal(cl.ob_kind[0], "fanout");
    assert_string_equal(cl.ob_payload[0], "payload-1");
    assert_int_equal(cl.ob_attempts[0], 1);
    assert_int_equal(strlen(cl.ob_id[0]), SL_MSG_ID_LEN);
    snprintf(id, sizeof(id), "%s", cl.ob_id[0]);
    /* Leased: hidden until the lease ends. */
    fake_now = T0 + 999;
    SUBMIT(&cl, sl_store_outbox_claim(fx.s, 10, 1000, on_outbox, &cl));
    wait_for(&cl);
    assert_int_equal(cl.n, 0);
    fake_now = T0 + 1000;
    SUBMIT(&cl, sl_store_outbox_claim(fx.s, 10, 1000, on_outbox, &cl));
    wait_for(&cl);
    assert_int_equal(cl.n, 1);
    assert_string_equal(cl.ob_id[0], id);
    assert_int_equal(cl.ob_attempts[0], 2);
    /* Retry: due again after the delay, not before. */
    SUBMIT(&c, sl_store_outbox_retry(fx.s, id, 500, on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    fake_now = T0 + 1499;
    SUBMIT(&cl, sl_store_outbox_claim(fx.s, 10, 1000, on_outbox, &cl));
    wait_for(&cl);
    assert_int_equal(cl.n, 0);
    fake_now = T0 + 1500;
    SUBMIT(&cl, sl_store_outbox_claim(fx.s, 10, 1000, on_outbox, &cl));
    wait_for(&cl);
    assert_int_equal(cl.n, 1);
    assert_int_equal(cl.ob_attempts[0], 3);
    /* Ack: gone for good. */
    SUBMIT(&c, sl_store_outbox_ack(fx.s, id, on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_OK);
    SUBMIT(&c, sl_store_outbox_ack(fx.s, id, on_done, &c));
    wait_for(&c);
    assert_int_equal(c.status, SL_ENOTFOUND);
    /* The delayed one is due at +2000; max limits a claim. */
    fake_now = T0 + 2000;
    SUBMIT(&c, sl_store_outbox_append(fx.s, "fanout", "payload-3", 9, 0, on_done, &c));
    wait_for(&c);
    SUBMIT(&cl, sl_store_outbox_claim(fx.s, 1, 1000, on_outbox, &cl));
    wait_for(&cl);
    assert_int_equal(cl.n, 1);
    assert_string_equal(cl.ob_payload[0], "payload-2");
    SUBMIT(&cl, sl_store_outbox_claim(fx.s, 5, 1000, on_outbox, &cl));
    wait_for(&cl);
    assert_int_equal(cl.n, 1);
    assert_string_equal(cl.ob_payload[0], "payload-3");
    fake_now = T0 + 10000;
    SUBMIT(&cl, sl_store_outbox_claim(fx.s, 0, 1000, on_outbox, &cl));
    wait_for(&cl);
    assert_int_equal(cl.n, 0);
}

/* Destroying the store with callbacks pending: they never run, nothing leaks (ASan). */
static void
test_destroy_with_pending_callbacks(void **state)
{
    sl_msg_in_t in;
    sl_recv_opts_t ro = { 10, -1 };
    sl_queue_cfg_t cfg;
    call_t c[8];

    (void)state;
    sl_queue_cfg_init(&cfg);
    create_plain("q", 30);
    sl_store_set_notify(fx.s, on_notify, &fx);
    msg_in(&in, "pending");
    SUBMIT(&c[0], sl_store_send(fx.s, "q", &in, 1, on_send, &c[0]));
    SUBMIT(&c[1], sl_store_receive(fx.s, "q", &ro, on_recv, &c[1]));
    SUBMIT(&c[2], sl_store_queue_get(fx.s, "q", on_info, &c[2]));
    SUBMIT(&c[3], sl_store_queue_list(fx.s, NULL, on_names, &c[3]));
    SUBMIT(&c[4], sl_store_outbox_append(fx.s, "k", "p", 1, 0, on_done, &c[4]));
    SUBMIT(&c[5], sl_store_outbox_claim(fx.s, 5, 100, on_outbox, &c[5]));
    SUBMIT(&c[6], sl_store_send(fx.s, "q", &in, 1, on_send, &c[6]));
    SUBMIT(&c[7], sl_store_queue_create(fx.s, "q2", &cfg, NULL, on_info, &c[7]));
    sl_store_destroy(fx.s);
    fx.s = NULL;
    pump();
    for (int i = 0; i < 8; i++)
        assert_int_equal(c[i].runs, 0);
    assert_int_equal(fx.notified, 0);
    sl_queue_cfg_deinit(&cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_by_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_rule_every_operation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_pending_complete_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resubmit_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_idempotent_and_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_replaces_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_prefix_sorted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dlq_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_messages_through_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_batch_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_after_send_is_deferred, setup, teardown),
        cmocka_unit_test_setup_teardown(test_visibility_expiry_by_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_visibility_through_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redrive_through_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receive_results_survive_purge_and_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_meta_documents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_with_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_pending_callbacks, setup, teardown),
    };

    sl_log_level = SL_LOG_WARN;                 /* queue created/deleted lines are noise */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
