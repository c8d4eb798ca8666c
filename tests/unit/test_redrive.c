/* test_redrive.c - dead-letter redrive tasks against the real memory store on a real
 * event_base: back to each message's own source or to one destination, message
 * attributes and FIFO ids preserved, the start checks (not a DLQ, missing queues,
 * rate, one active task per source), rate limiting, cancel between and during steps,
 * failures when a queue vanishes, the history list, and destroy with work in flight.
 * The loop is driven with EVLOOP_NONBLOCK in bounded loops; the rate test measures
 * with the loop and asserts only loose bounds. */
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
#include <event2/event.h>

#include "../../consumers/redrive.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "sluice/message.h"
#include "sluice/queue.h"
#include "sluice/store.h"
#include "store/memory.h"

#define MAXM 40

static struct event_base *base;
static sl_store_t *st;
static sl_redrive_t *rd;

static int64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One loop pass, then a short nap so waits on the rate timer do not spin hot. */
static void
pass(void)
{
    struct timespec nap = { 0, 500000 };

    event_base_loop(base, EVLOOP_NONBLOCK);
    nanosleep(&nap, NULL);
}

static void
pump(int n)
{
    for (int i = 0; i < n; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

/* ---- Store helpers (synchronous by pumping) ---- */

typedef struct call {
    int runs;
    int status;
    uint64_t visible, inflight;
    size_t n;
    sl_send_result_t res;
} call_t;

/* A received message, copied out. */
typedef struct got {
    char id[SL_MSG_ID_LEN + 1];
    char body[64];
    char receipt[128];
    char dlq_source[96];
    char trace[64];
    char group[32];
    char dedup[80];
    char md5_attrs[SL_MD5_HEX_LEN + 1];
    uint32_t nattrs;
    char attr_name[4][32];
    char attr_type[4][32];
    char attr_value[4][32];
    size_t attr_len[4];
} got_t;

typedef struct recv_call {
    int runs;
    int status;
    size_t n;
    got_t m[MAXM];
} recv_call_t;

static void
wait_runs(const int *runs)
{
    for (int i = 0; i < 200 && *runs == 0; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(*runs, 1);
}

static void
on_done(void *arg, int status)
{
    call_t *c = arg;

    c->runs++;
    c->status = status;
}

static void
on_info(void *arg, int status, const sl_queue_info_t *info)
{
    call_t *c = arg;

    c->runs++;
    c->status = status;
    if (info != NULL) {
        c->visible = info->visible;
        c->inflight = info->inflight;
    }
}

static void
on_send(void *arg, int status, const sl_send_result_t *res, size_t n)
{
    call_t *c = arg;

    c->runs++;
    c->status = status;
    c->n = n;
    if (n > 0)
        c->res = res[0];
}

static void
copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static void
on_recv(void *arg, int status, const sl_received_t *msgs, size_t n)
{
    recv_call_t *c = arg;

    c->runs++;
    c->status = status;
    c->n = n;
    for (size_t i = 0; i < n && i < MAXM; i++) {
        const sl_msg_t *m = msgs[i].msg;
        got_t *g = &c->m[i];

        copy_str(g->id, sizeof(g->id), m->id);
        snprintf(g->body, sizeof(g->body), "%.*s", (int)m->body_len, m->body);
        copy_str(g->receipt, sizeof(g->receipt), msgs[i].receipt);
        copy_str(g->dlq_source, sizeof(g->dlq_source), m->dlq_source);
        copy_str(g->trace, sizeof(g->trace), m->trace_header);
        copy_str(g->group, sizeof(g->group), m->group_id);
        copy_str(g->dedup, sizeof(g->dedup), m->dedup_id);
        copy_str(g->md5_attrs, sizeof(g->md5_attrs), m->md5_attrs);
        g->nattrs = m->nattrs;
        for (uint32_t k = 0; k < m->nattrs && k < 4; k++) {
            copy_str(g->attr_name[k], sizeof(g->attr_name[k]), m->attrs[k].name);
            copy_str(g->attr_type[k], sizeof(g->attr_type[k]), m->attrs[k].type);
            g->attr_len[k] = m->attrs[k].len;
            memcpy(g->attr_value[k], m->attrs[k].value,
                   m->attrs[k].len < sizeof(g->attr_value[k]) ? m->attrs[k].len
                                                              : sizeof(g->attr_value[k]));
        }
    }
}

/* Creates name; with dlq, its RedrivePolicy names dlq with maxReceiveCount max. */
static void
create_queue(const char *name, bool fifo, const char *dlq, uint32_t max)
{
    sl_queue_cfg_t cfg;
    call_t c = { 0 };

    sl_queue_cfg_init(&cfg);
    cfg.fifo = fifo;
    if (dlq != NULL) {
        char policy[200];

        snprintf(policy, sizeof(policy),
                 "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:%s\","
                 "\"maxReceiveCount\":%u}", dlq, max);
        cfg.redrive_policy = sl_strdup(policy);
        cfg.dlq_name = sl_strdup(dlq);
        cfg.max_receives = max;
    }
    assert_int_equal(sl_store_queue_create(st, name, &cfg, NULL, on_info, &c), SL_OK);
    wait_runs(&c.runs);
    assert_int_equal(c.status, SL_OK);
    sl_queue_cfg_deinit(&cfg);
}

static void
delete_queue(const char *name)
{
    call_t c = { 0 };

    assert_int_equal(sl_store_queue_delete(st, name, on_done, &c), SL_OK);
    wait_runs(&c.runs);
    assert_int_equal(c.status, SL_OK);
}

typedef struct msg_spec {
    const char *body;
    const sl_msg_attr_t *attrs;
    uint32_t nattrs;
    const char *trace;
    const char *group;
    const char *dedup;
} msg_spec_t;

static void
send_spec(const char *queue, const msg_spec_t *sp)
{
    sl_msg_in_t in;
    call_t c = { 0 };

    memset(&in, 0, sizeof(in));
    sl_uuid4(in.id);
    in.body = sp->body;
    in.body_len = strlen(sp->body);
    sl_md5_hex(in.body, in.body_len, in.md5_body);
    in.attrs = sp->attrs;
    in.nattrs = sp->nattrs;
    sl_md5_attrs(sp->attrs, sp->nattrs, in.md5_attrs);
    in.trace_header = sp->trace;
    in.group_id = sp->group;
    in.dedup_id = sp->dedup;
    in.delay_s = -1;
    assert_int_equal(sl_store_send(st, queue, &in, 1, on_send, &c), SL_OK);
    wait_runs(&c.runs);
    assert_int_equal(c.status, SL_OK);
    assert_int_equal(c.res.err, SL_SEND_OK);
}

static void
send_body(const char *queue, const char *body)
{
    msg_spec_t sp = { .body = body };

    send_spec(queue, &sp);
}

static void
receive(const char *queue, uint32_t max, int32_t vis, recv_call_t *c)
{
    sl_recv_opts_t o = { max, vis };

    memset(c, 0, sizeof(*c));
    assert_int_equal(sl_store_receive(st, queue, &o, on_recv, c), SL_OK);
    wait_runs(&c->runs);
    assert_int_equal(c->status, SL_OK);
}

/* Receives everything visible in queue (hidden 30 s), in order. */
static void
drain(const char *queue, recv_call_t *all)
{
    recv_call_t c;

    memset(all, 0, sizeof(*all));
    for (;;) {
        receive(queue, 10, 30, &c);
        if (c.n == 0)
            break;
        for (size_t i = 0; i < c.n && all->n < MAXM; i++)
            all->m[all->n++] = c.m[i];
    }
}

static void
counts(const char *queue, uint64_t *visible, uint64_t *inflight)
{
    call_t c = { 0 };

    assert_int_equal(sl_store_queue_get(st, queue, on_info, &c), SL_OK);
    wait_runs(&c.runs);
    assert_int_equal(c.status, SL_OK);
    *visible = c.visible;
    if (inflight != NULL)
        *inflight = c.inflight;
}

static uint64_t
visible(const char *queue)
{
    uint64_t v;

    counts(queue, &v, NULL);
    return v;
}

/* Moves every visible message of queue to its DLQ through sl_store_dead_letter. */
static void
dead_letter_all(const char *queue)
{
    recv_call_t c;

    receive(queue, 10, 30, &c);
    for (size_t i = 0; i < c.n; i++) {
        call_t d = { 0 };

        assert_int_equal(sl_store_dead_letter(st, queue, c.m[i].receipt, NULL, 0, on_done, &d),
                         SL_OK);
        wait_runs(&d.runs);
        assert_int_equal(d.status, SL_OK);
    }
}

/* Moves every message of queue (maxReceiveCount 1) to its DLQ by receiving past the
 * limit: a receive hidden for 0 s, then one more. */
static void
receive_past_limit(const char *queue)
{
    recv_call_t c;
    int64_t until = mono_ms() + 200;

    receive(queue, 10, 0, &c);
    assert_true(c.n > 0);
    while (mono_ms() < until)
        pass();                         /* the 0 s visibility ends on the store's timer */
    receive(queue, 10, 30, &c);
    assert_int_equal(c.n, 0);           /* all went to the DLQ instead */
}

/* ---- Redrive helpers ---- */

typedef struct start_call {
    int runs;
    int status;
    bool has_info;
    sl_redrive_task_info_t info;
    bool destroy_in_cb;         /* sl_redrive_destroy from the callback */
    bool cancel_in_cb;          /* sl_redrive_cancel from the callback */
    int cancel_rc;
} start_call_t;

static void
on_started(void *arg, int status, const sl_redrive_task_info_t *info)
{
    start_call_t *c = arg;

    c->runs++;
    c->status = status;
    c->has_info = info != NULL;
    if (info != NULL)
        c->info = *info;
    if (c->cancel_in_cb && info != NULL)
        c->cancel_rc = sl_redrive_cancel(rd, info->handle, NULL);
    if (c->destroy_in_cb) {
        sl_redrive_destroy(rd);
        rd = NULL;
    }
}

/* Starts a task and waits for its callback; returns the status. */
static int
start(const char *source, const char *dest, uint32_t rate, start_call_t *c)
{
    memset(c, 0, sizeof(*c));
    assert_int_equal(sl_redrive_start(rd, source, dest, rate, on_started, c), SL_OK);
    assert_int_equal(c->runs, 0);               /* never inside the call */
    wait_runs(&c->runs);
    if (c->status == SL_OK) {
        assert_true(c->has_info);
        assert_string_equal(c->info.status, SL_REDRIVE_RUNNING);
        assert_true(c->info.handle[0] != '\0');
    } else {
        assert_false(c->has_info);
    }
    return c->status;
}

static sl_redrive_task_info_t
newest(const char *source)
{
    sl_redrive_task_info_t info[1];

    assert_int_equal(sl_redrive_list(rd, source, info, 1), 1);
    return info[0];
}

static bool
is_done(const char *source)
{
    sl_redrive_task_info_t t = newest(source);

    return strcmp(t.status, SL_REDRIVE_RUNNING) != 0 &&
           strcmp(t.status, SL_REDRIVE_CANCELLING) != 0;
}

/* Runs the loop until source's newest task has ended (at most ms). */
static sl_redrive_task_info_t
wait_done(const char *source, int64_t ms)
{
    int64_t until = mono_ms() + ms;

    while (!is_done(source) && mono_ms() < until)
        pass();
    assert_true(is_done(source));
    return newest(source);
}

static const got_t *
find_body(const recv_call_t *all, const char *body)
{
    for (size_t i = 0; i < all->n; i++) {
        if (strcmp(all->m[i].body, body) == 0)
            return &all->m[i];
    }
    return NULL;
}

/* ---- Fixture ---- */

static int
setup(void **state)
{
    (void)state;
    base = event_base_new();
    assert_non_null(base);
    assert_int_equal(sl_memstore_create(base, NULL, &st), SL_OK);
    rd = sl_redrive_create(base, st);
    assert_non_null(rd);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    sl_redrive_destroy(rd);
    rd = NULL;
    pump(5);
    sl_store_destroy(st);
    st = NULL;
    event_base_free(base);
    base = NULL;
    return 0;
}

/* Two sources a and b dead-letter into dlq; target is a plain queue. */
static void
two_sources(void)
{
    create_queue("dlq", false, NULL, 0);
    create_queue("a", false, "dlq", 3);
    create_queue("b", false, "dlq", 1);
    create_queue("target", false, NULL, 0);
    send_body("a", "a1");
    send_body("a", "a2");
    send_body("a", "a3");
    send_body("b", "b1");
    send_body("b", "b2");
    dead_letter_all("a");
    receive_past_limit("b");
    assert_int_equal(visible("dlq"), 5);
    assert_int_equal(visible("a"), 0);
    assert_int_equal(visible("b"), 0);
}

/* Fills dlq (a source q names it) with n messages and creates target. */
static void
one_source(size_t n)
{
    char body[32];

    create_queue("dlq", false, NULL, 0);
    create_queue("q", false, "dlq", 5);
    create_queue("target", false, NULL, 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(body, sizeof(body), "m%zu", i);
        send_body("q", body);
    }
    for (size_t i = 0; i < n; i += 10)
        dead_letter_all("q");
    assert_int_equal(visible("dlq"), n);
}

/* ---- Tests ---- */

static void
test_back_to_own_sources(void **state)
{
    start_call_t c;
    sl_redrive_task_info_t t;
    recv_call_t a, b;
    uint64_t v, inflight;

    (void)state;
    two_sources();
    assert_int_equal(start("dlq", NULL, 0, &c), SL_OK);
    assert_string_equal(c.info.source, "dlq");
    assert_string_equal(c.info.dest, "");
    assert_int_equal(c.info.rate, 0);
    assert_int_equal(c.info.to_move, 5);
    assert_true(c.info.started_ms > 1600000000000);
    t = wait_done("dlq", 5000);
    assert_string_equal(t.status, SL_REDRIVE_COMPLETED);
    assert_int_equal(t.moved, 5);
    assert_int_equal(t.to_move, 5);
    assert_int_equal(t.skipped, 0);
    assert_string_equal(t.handle, "");          /* only RUNNING tasks show it */
    assert_string_equal(t.failure, "");
    counts("dlq", &v, &inflight);
    assert_int_equal(v + inflight, 0);
    drain("a", &a);
    drain("b", &b);
    assert_int_equal(a.n, 3);
    assert_int_equal(b.n, 2);
    assert_non_null(find_body(&a, "a1"));
    assert_non_null(find_body(&a, "a2"));
    assert_non_null(find_body(&a, "a3"));
    assert_non_null(find_body(&b, "b1"));
    assert_non_null(find_body(&b, "b2"));
    assert_string_equal(find_body(&a, "a1")->dlq_source, "");  /* a fresh message */
    assert_int_equal(visible("target"), 0);
}

static void
test_to_destination(void **state)
{
    start_call_t c;
    sl_redrive_task_info_t t;
    recv_call_t all;

    (void)state;
    two_sources();
    assert_int_equal(start("dlq", "target", 100, &c), SL_OK);
    assert_string_equal(c.info.dest, "target");
    assert_int_equal(c.info.rate, 100);
    t = wait_done("dlq", 5000);
    assert_string_equal(t.status, SL_REDRIVE_COMPLETED);
    assert_int_equal(t.moved, 5);
    assert_string_equal(t.dest, "target");
    assert_int_equal(t.rate, 100);
    drain("target", &all);
    assert_int_equal(all.n, 5);
    assert_int_equal(visible("a"), 0);
    assert_int_equal(visible("b"), 0);
    assert_int_equal(visible("dlq"), 0);
}

static void
test_attributes_preserved(void **state)
{
    static const sl_msg_attr_t attrs[] = {
        { "color", "String", "blue", 4 },
        { "count", "Number", "42", 2 },
        { "blob", "Binary", "\x01\x02\x00\x03", 4 },
    };
    msg_spec_t sp = { .body = "with-attrs", .attrs = attrs, .nattrs = 3,
                      .trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1" };
    char md5[SL_MD5_HEX_LEN + 1];
    start_call_t c;
    recv_call_t all;
    const got_t *g;

    (void)state;
    create_queue("dlq", false, NULL, 0);
    create_queue("q", false, "dlq", 5);
    create_queue("target", false, NULL, 0);
    send_spec("q", &sp);
    send_body("q", "plain");
    dead_letter_all("q");
    assert_int_equal(start("dlq", "target", 0, &c), SL_OK);
    assert_string_equal(wait_done("dlq", 5000).status, SL_REDRIVE_COMPLETED);
    drain("target", &all);
    assert_int_equal(all.n, 2);
    g = find_body(&all, "with-attrs");
    assert_non_null(g);
    assert_int_equal(g->nattrs, 3);
    for (int k = 0; k < 3; k++) {
        assert_string_equal(g->attr_name[k], attrs[k].name);
        assert_string_equal(g->attr_type[k], attrs[k].type);
        assert_int_equal(g->attr_len[k], attrs[k].len);
        assert_memory_equal(g->attr_value[k], attrs[k].value, attrs[k].len);
    }
    sl_md5_attrs(attrs, 3, md5);
    assert_string_equal(g->md5_attrs, md5);
    assert_string_equal(g->trace, sp.trace);
    g = find_body(&all, "plain");
    assert_non_null(g);
    assert_int_equal(g->nattrs, 0);
    assert_string_equal(g->trace, "");
}

static void
test_fifo_ids_preserved(void **state)
{
    static const msg_spec_t msgs[] = {
        { .body = "g1-first", .group = "g1", .dedup = "d1" },
        { .body = "g2-only", .group = "g2", .dedup = "d2" },
        { .body = "g1-second", .group = "g1", .dedup = "d3" },
    };
    start_call_t c;
    recv_call_t all;
    const got_t *g;
    size_t first = MAXM, second = MAXM;

    (void)state;
    create_queue("dlq.fifo", true, NULL, 0);
    create_queue("src.fifo", true, "dlq.fifo", 5);
    create_queue("out.fifo", true, NULL, 0);
    create_queue("plain", false, NULL, 0);
    for (size_t i = 0; i < 3; i++)
        send_spec("src.fifo", &msgs[i]);
    dead_letter_all("src.fifo");
    assert_int_equal(visible("dlq.fifo"), 3);

    /* A standard destination for a FIFO DLQ is refused. */
    assert_int_equal(start("dlq.fifo", "plain", 0, &c), SL_EINVAL);

    assert_int_equal(start("dlq.fifo", "out.fifo", 0, &c), SL_OK);
    assert_string_equal(wait_done("dlq.fifo", 5000).status, SL_REDRIVE_COMPLETED);
    assert_int_equal(newest("dlq.fifo").moved, 3);
    drain("out.fifo", &all);
    assert_int_equal(all.n, 3);
    for (size_t i = 0; i < 3; i++) {
        g = find_body(&all, msgs[i].body);
        assert_non_null(g);
        assert_string_equal(g->group, msgs[i].group);
        assert_string_equal(g->dedup, msgs[i].dedup);
    }
    for (size_t i = 0; i < all.n; i++) {
        if (strcmp(all.m[i].body, "g1-first") == 0)
            first = i;
        if (strcmp(all.m[i].body, "g1-second") == 0)
            second = i;
    }
    assert_true(first < second);                /* order within the group kept */
}

/* Back to the original FIFO source while the ids are still in its deduplication
 * window: sending would drop them as duplicates, so they stay in the DLQ. */
static void
test_fifo_duplicates_left_in_dlq(void **state)
{
    msg_spec_t sp = { .body = "dup", .group = "g", .dedup = "same-id" };
    start_call_t c;
    sl_redrive_task_info_t t;
    uint64_t v, inflight;

    (void)state;
    create_queue("dlq.fifo", true, NULL, 0);
    create_queue("src.fifo", true, "dlq.fifo", 5);
    send_spec("src.fifo", &sp);
    dead_letter_all("src.fifo");
    assert_int_equal(start("dlq.fifo", NULL, 0, &c), SL_OK);
    t = wait_done("dlq.fifo", 5000);
    assert_string_equal(t.status, SL_REDRIVE_COMPLETED);
    assert_int_equal(t.moved, 0);
    assert_int_equal(t.skipped, 1);
    counts("dlq.fifo", &v, &inflight);
    assert_int_equal(v + inflight, 1);          /* not lost */
    assert_int_equal(visible("src.fifo"), 0);
}

/* A message sent to the DLQ directly has no original queue: with no destination it
 * is left where it is. */
static void
test_no_origin_left_in_dlq(void **state)
{
    start_call_t c;
    sl_redrive_task_info_t t;
    uint64_t v, inflight;

    (void)state;
    create_queue("dlq", false, NULL, 0);
    create_queue("q", false, "dlq", 5);
    send_body("q", "from-q");
    dead_letter_all("q");
    send_body("dlq", "direct");
    assert_int_equal(start("dlq", NULL, 0, &c), SL_OK);
    assert_int_equal(c.info.to_move, 2);
    t = wait_done("dlq", 5000);
    assert_string_equal(t.status, SL_REDRIVE_COMPLETED);
    assert_int_equal(t.moved, 1);
    assert_int_equal(t.skipped, 1);
    counts("dlq", &v, &inflight);
    assert_int_equal(v + inflight, 1);
    assert_int_equal(visible("q"), 1);
}

static void
test_start_checks(void **state)
{
    start_call_t c;

    (void)state;
    create_queue("dlq", false, NULL, 0);
    create_queue("q", false, "dlq", 5);
    create_queue("other", false, NULL, 0);
    create_queue("fifo.fifo", true, NULL, 0);

    assert_int_equal(start("q", NULL, 0, &c), SL_EINVAL);           /* nobody's DLQ */
    assert_int_equal(start("other", "dlq", 0, &c), SL_EINVAL);
    assert_int_equal(start("nope", NULL, 0, &c), SL_ENOTFOUND);
    assert_int_equal(start("dlq", "nope", 0, &c), SL_ENOTFOUND);
    assert_int_equal(start("dlq", "dlq", 0, &c), SL_EINVAL);        /* dest is the source */
    assert_int_equal(start("dlq", "fifo.fifo", 0, &c), SL_EINVAL);  /* other kind */
    assert_int_equal(start("dlq", "other", SL_REDRIVE_RATE_MAX + 1, &c), SL_EINVAL);
    assert_int_equal(sl_redrive_list(rd, "dlq", &c.info, 1), 0);     /* nothing started */
    assert_int_equal(sl_redrive_list(rd, "q", &c.info, 1), 0);

    /* Malformed calls fail at once and never call back. */
    memset(&c, 0, sizeof(c));
    assert_int_equal(sl_redrive_start(rd, NULL, NULL, 0, on_started, &c), SL_EINVAL);
    assert_int_equal(sl_redrive_start(rd, "", NULL, 0, on_started, &c), SL_EINVAL);
    assert_int_equal(sl_redrive_start(rd, "dlq", NULL, 0, NULL, &c), SL_EINVAL);
    {
        char longname[200];

        memset(longname, 'x', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        assert_int_equal(sl_redrive_start(rd, longname, NULL, 0, on_started, &c), SL_EINVAL);
        assert_int_equal(sl_redrive_start(rd, "dlq", longname, 0, on_started, &c), SL_EINVAL);
    }
    pump(10);
    assert_int_equal(c.runs, 0);

    /* Rates at the bounds are fine. */
    assert_int_equal(start("dlq", "other", SL_REDRIVE_RATE_MAX, &c), SL_OK);
    assert_string_equal(wait_done("dlq", 5000).status, SL_REDRIVE_COMPLETED);
    assert_int_equal(start("dlq", "other", 1, &c), SL_OK);
    assert_string_equal(wait_done("dlq", 5000).status, SL_REDRIVE_COMPLETED);
}

static void
test_second_start_refused(void **state)
{
    start_call_t c1, c2, c3;
    uint64_t moved = 99;

    (void)state;
    one_source(5);
    assert_int_equal(start("dlq", "target", 1, &c1), SL_OK);
    assert_int_equal(start("dlq", "target", 1, &c2), SL_EEXIST);
    assert_int_equal(start("dlq", NULL, 0, &c2), SL_EEXIST);
    assert_int_equal(sl_redrive_cancel(rd, c1.info.handle, &moved), SL_OK);
    assert_true(moved <= 5);
    assert_string_equal(wait_done("dlq", 5000).status, SL_REDRIVE_CANCELLED);
    /* Once it ended, a new one may start. */
    assert_int_equal(start("dlq", "target", 0, &c3), SL_OK);
    assert_string_equal(wait_done("dlq", 5000).status, SL_REDRIVE_COMPLETED);

    /* Two starts in flight together: exactly one wins. */
    send_body("q", "again");
    dead_letter_all("q");
    memset(&c1, 0, sizeof(c1));
    memset(&c2, 0, sizeof(c2));
    assert_int_equal(sl_redrive_start(rd, "dlq", "target", 1, on_started, &c1), SL_OK);
    assert_int_equal(sl_redrive_start(rd, "dlq", NULL, 1, on_started, &c2), SL_OK);
    wait_runs(&c1.runs);
    wait_runs(&c2.runs);
    assert_true((c1.status == SL_OK && c2.status == SL_EEXIST) ||
                (c1.status == SL_EEXIST && c2.status == SL_OK));
}

static void
test_rate_limit(void **state)
{
    start_call_t c;
    sl_redrive_task_info_t t;
    int64_t t0, until;

    (void)state;
    one_source(30);
    assert_int_equal(start("dlq", "target", 20, &c), SL_OK);
    t0 = mono_ms();
    /* 30 messages at 20/s cannot be done within half a second. */
    until = t0 + 500;
    while (mono_ms() < until) {
        pass();
        t = newest("dlq");
        assert_string_equal(t.status, SL_REDRIVE_RUNNING);
        assert_true(t.moved < 30);
    }
    t = wait_done("dlq", 10000);
    assert_string_equal(t.status, SL_REDRIVE_COMPLETED);
    assert_int_equal(t.moved, 30);
    assert_true(mono_ms() - t0 >= 1000);
    assert_int_equal(visible("target"), 30);
}

static void
test_cancel_between_steps(void **state)
{
    start_call_t c;
    sl_redrive_task_info_t t;
    uint64_t moved = 0, v, inflight;
    int64_t until;

    (void)state;
    one_source(30);
    assert_int_equal(start("dlq", "target", 10, &c), SL_OK);   /* a step of 10 a second */
    until = mono_ms() + 5000;
    while (newest("dlq").moved < 10 && mono_ms() < until)
        pass();
    pump(5);                                    /* let the step's delete finish */
    assert_int_equal(sl_redrive_cancel(rd, c.info.handle, &moved), SL_OK);
    assert_int_equal(moved, 10);
    t = newest("dlq");
    assert_string_equal(t.status, SL_REDRIVE_CANCELLED);    /* it was idle */
    assert_string_equal(t.handle, "");
    assert_int_equal(t.moved, 10);
    /* Nothing moves any more. */
    until = mono_ms() + 1500;
    while (mono_ms() < until)
        pass();
    assert_int_equal(newest("dlq").moved, 10);
    assert_int_equal(visible("target"), 10);
    counts("dlq", &v, &inflight);
    assert_int_equal(v, 20);
    assert_int_equal(inflight, 0);
    /* Finished and unknown handles. */
    assert_int_equal(sl_redrive_cancel(rd, c.info.handle, &moved), SL_ENOTFOUND);
    assert_int_equal(sl_redrive_cancel(rd, "no-such-handle", &moved), SL_ENOTFOUND);
}

/* Cancels from a store notification, i.e. while the task's sends are in flight. */
typedef struct cancel_ctx {
    bool armed;
    int rc;
    int calls;
    uint64_t moved;
    char status[16];
} cancel_ctx_t;

static void
cancel_on_notify(void *arg, const char *queue)
{
    cancel_ctx_t *x = arg;
    sl_redrive_task_info_t t;

    if (!x->armed || x->calls > 0 || strcmp(queue, "target") != 0)
        return;
    x->calls++;
    assert_int_equal(sl_redrive_list(rd, "dlq", &t, 1), 1);
    x->rc = sl_redrive_cancel(rd, t.handle, &x->moved);
    assert_int_equal(sl_redrive_list(rd, "dlq", &t, 1), 1);
    snprintf(x->status, sizeof(x->status), "%s", t.status);
}

static void
test_cancel_during_step(void **state)
{
    start_call_t c;
    cancel_ctx_t x = { 0 };
    sl_redrive_task_info_t t;
    uint64_t moved;

    (void)state;
    one_source(30);
    assert_int_equal(sl_store_listen(st, cancel_on_notify, &x), SL_OK);
    x.armed = true;
    assert_int_equal(start("dlq", "target", 0, &c), SL_OK);
    t = wait_done("dlq", 5000);
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.rc, SL_OK);
    assert_string_equal(x.status, SL_REDRIVE_CANCELLING);
    assert_true(x.moved < 10);
    assert_string_equal(t.status, SL_REDRIVE_CANCELLED);
    assert_int_equal(t.moved, 10);              /* the step in flight was finished */
    assert_int_equal(visible("target"), 10);
    assert_int_equal(visible("dlq"), 20);
    /* Once CANCELLED it is finished: nothing left to cancel. */
    assert_int_equal(sl_redrive_cancel(rd, c.info.handle, &moved), SL_ENOTFOUND);
    sl_store_unlisten(st, cancel_on_notify, &x);
}

static void
test_cancel_in_start_callback(void **state)
{
    start_call_t c;

    (void)state;
    one_source(3);
    memset(&c, 0, sizeof(c));
    c.cancel_in_cb = true;
    assert_int_equal(sl_redrive_start(rd, "dlq", "target", 0, on_started, &c), SL_OK);
    wait_runs(&c.runs);
    assert_int_equal(c.status, SL_OK);
    assert_int_equal(c.cancel_rc, SL_OK);
    pump(20);
    assert_string_equal(newest("dlq").status, SL_REDRIVE_CANCELLED);
    assert_int_equal(newest("dlq").moved, 0);
    assert_int_equal(visible("dlq"), 3);
}

static void
test_destination_deleted_fails(void **state)
{
    start_call_t c;
    sl_redrive_task_info_t t;
    uint64_t v, inflight;
    int64_t until;

    (void)state;
    one_source(30);
    assert_int_equal(start("dlq", "target", 10, &c), SL_OK);
    until = mono_ms() + 5000;
    while (newest("dlq").moved < 10 && mono_ms() < until)
        pass();
    delete_queue("target");
    t = wait_done("dlq", 5000);
    assert_string_equal(t.status, SL_REDRIVE_FAILED);
    assert_string_equal(t.failure, "destination queue does not exist: target");
    assert_int_equal(t.moved, 10);
    counts("dlq", &v, &inflight);
    assert_int_equal(v + inflight, 20);         /* the rest stays in the DLQ */
}

static void
test_source_deleted_fails(void **state)
{
    start_call_t c;
    sl_redrive_task_info_t t;
    int64_t until;

    (void)state;
    one_source(30);
    assert_int_equal(start("dlq", "target", 10, &c), SL_OK);
    until = mono_ms() + 5000;
    while (newest("dlq").moved < 10 && mono_ms() < until)
        pass();
    delete_queue("dlq");
    t = wait_done("dlq", 5000);
    assert_string_equal(t.status, SL_REDRIVE_FAILED);
    assert_string_equal(t.failure, "source queue does not exist: dlq");
    assert_int_equal(t.moved, 10);
}

static void
test_list_newest_first(void **state)
{
    static const char *const dests[] = { "t1", "t2", "t3" };
    sl_redrive_task_info_t out[20];
    start_call_t c;
    char name[16];
    size_t n;

    (void)state;
    create_queue("dlq", false, NULL, 0);
    create_queue("q", false, "dlq", 5);
    create_queue("dlq2", false, NULL, 0);
    create_queue("q2", false, "dlq2", 5);
    for (size_t i = 0; i < 3; i++) {
        create_queue(dests[i], false, NULL, 0);
        send_body("q", dests[i]);
        dead_letter_all("q");
        assert_int_equal(start("dlq", dests[i], 0, &c), SL_OK);
        assert_string_equal(wait_done("dlq", 5000).status, SL_REDRIVE_COMPLETED);
    }
    n = sl_redrive_list(rd, "dlq", out, 10);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(out[i].dest, dests[2 - i]);
        assert_int_equal(out[i].moved, 1);
        assert_string_equal(out[i].status, SL_REDRIVE_COMPLETED);
        if (i > 0)
            assert_true(out[i - 1].started_ms >= out[i].started_ms);
    }
    assert_int_equal(sl_redrive_list(rd, "dlq", out, 2), 2);
    assert_string_equal(out[0].dest, "t3");
    assert_int_equal(sl_redrive_list(rd, "dlq2", out, 10), 0);
    assert_int_equal(sl_redrive_list(rd, "nope", out, 10), 0);

    /* Only the last SL_REDRIVE_HISTORY finished tasks are kept, plus a running one. */
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof(name), "h%d", i);
        create_queue(name, false, NULL, 0);
        assert_int_equal(start("dlq", name, 0, &c), SL_OK);
        assert_string_equal(wait_done("dlq", 5000).status, SL_REDRIVE_COMPLETED);
    }
    n = sl_redrive_list(rd, "dlq", out, 20);
    assert_int_equal(n, SL_REDRIVE_HISTORY);
    assert_string_equal(out[0].dest, "h11");
    assert_string_equal(out[SL_REDRIVE_HISTORY - 1].dest, "h2");
    for (int i = 0; i < 5; i++) {
        send_body("q", "slow");
        dead_letter_all("q");
    }
    assert_int_equal(start("dlq", "t1", 1, &c), SL_OK);
    n = sl_redrive_list(rd, "dlq", out, 20);
    assert_int_equal(n, SL_REDRIVE_HISTORY + 1);
    assert_string_equal(out[0].status, SL_REDRIVE_RUNNING);
    assert_string_equal(out[0].handle, c.info.handle);
    assert_string_equal(out[1].dest, "h11");
    /* The other source's history is its own. */
    send_body("q2", "x");
    dead_letter_all("q2");
    assert_int_equal(start("dlq2", NULL, 0, &c), SL_OK);
    assert_string_equal(wait_done("dlq2", 5000).status, SL_REDRIVE_COMPLETED);
    assert_int_equal(sl_redrive_list(rd, "dlq2", out, 20), 1);
    assert_int_equal(visible("q2"), 1);
}

/* Destroyed from a store notification, while sends of a step are in flight; their
 * callbacks arrive after and must find nothing. */
static void
destroy_on_notify(void *arg, const char *queue)
{
    int *calls = arg;

    if (strcmp(queue, "target") != 0 || rd == NULL)
        return;
    (*calls)++;
    sl_redrive_destroy(rd);
    rd = NULL;
}

static void
test_destroy_with_task_running(void **state)
{
    start_call_t c;
    int calls = 0;

    (void)state;
    one_source(30);
    assert_int_equal(sl_store_listen(st, destroy_on_notify, &calls), SL_OK);
    assert_int_equal(start("dlq", "target", 0, &c), SL_OK);
    for (int i = 0; i < 200 && rd != NULL; i++)
        pass();
    assert_null(rd);
    assert_int_equal(calls, 1);
    pump(20);                                   /* the late store callbacks */
    assert_true(visible("target") >= 1);
    assert_true(visible("target") <= 10);
    sl_store_unlisten(st, destroy_on_notify, &calls);
}

/* Destroyed between steps, and destroyed with the store right after (whose pending
 * callbacks then never run). */
static void
test_destroy_then_store(void **state)
{
    start_call_t c, c2;

    (void)state;
    one_source(30);
    assert_int_equal(start("dlq", "target", 10, &c), SL_OK);
    memset(&c2, 0, sizeof(c2));
    assert_int_equal(sl_redrive_start(rd, "dlq", NULL, 0, on_started, &c2), SL_OK);
    sl_redrive_destroy(rd);
    rd = NULL;
    sl_store_destroy(st);
    st = NULL;
    pump(10);
    assert_int_equal(c2.runs, 0);               /* no callback after destroy */
    assert_int_equal(sl_memstore_create(base, NULL, &st), SL_OK);   /* for teardown */
}

static void
test_destroy_with_start_pending(void **state)
{
    start_call_t c;

    (void)state;
    one_source(3);
    memset(&c, 0, sizeof(c));
    assert_int_equal(sl_redrive_start(rd, "dlq", "target", 0, on_started, &c), SL_OK);
    sl_redrive_destroy(rd);
    rd = NULL;
    pump(20);
    assert_int_equal(c.runs, 0);
    assert_int_equal(visible("dlq"), 3);
}

static void
test_destroy_in_start_callback(void **state)
{
    start_call_t c;

    (void)state;
    one_source(3);
    memset(&c, 0, sizeof(c));
    c.destroy_in_cb = true;
    assert_int_equal(sl_redrive_start(rd, "dlq", "target", 0, on_started, &c), SL_OK);
    wait_runs(&c.runs);
    assert_int_equal(c.status, SL_OK);
    assert_null(rd);
    pump(20);
    assert_int_equal(c.runs, 1);
    assert_int_equal(visible("dlq"), 3);
    assert_int_equal(visible("target"), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_back_to_own_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_to_destination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attributes_preserved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_ids_preserved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_duplicates_left_in_dlq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_origin_left_in_dlq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_start_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_between_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_during_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_in_start_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destination_deleted_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_deleted_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_task_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_then_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_start_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_in_start_callback, setup, teardown),
    };

    sl_log_level = SL_LOG_ERROR;                /* task start/end lines are noise here */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
