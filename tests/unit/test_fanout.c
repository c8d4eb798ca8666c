/* test_fanout.c - the topic fanout over the memory store, driven on a real event loop:
 * a publish record reaches the queues whose filter policies match (enveloped or raw),
 * a malformed outbox entry is dropped without harm, a subscription's policy change takes
 * effect at once, a delivery to a missing queue lands in the subscription's DLQ, many
 * publishes claimed together reach each queue exactly once (gathered into batch sends),
 * deliveries whose batch a queue refuses still arrive one by one, and publishes a stopped
 * broker left in the outbox are delivered by the next one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "../../triggers/fanout.h"
#include "jsonr.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/store.h"

typedef struct fx {
    struct event_base *base;
    sl_store_t *store;
    sl_fanout_t *f;
    int pending;
    int status;
    size_t n;                   /* messages or outbox items seen by the last callback */
    char body[4096];
    char attr_names[256];
} fx_t;

static fx_t fx;

/* Runs the loop until cond holds, for at most 20 s (a bound, not a timing check). */
static void
run_until(bool (*cond)(void), const char *what)
{
    time_t end = time(NULL) + 20;
    bool done;

    /* cond may consume what it looks for (a receive): call it once per turn. */
    while (!(done = cond()) && time(NULL) < end) {
        struct timeval tv = { 0, 10000 };

        event_base_loopexit(fx.base, &tv);
        event_base_dispatch(fx.base);
    }
    if (!done)
        fail_msg("timed out waiting for %s", what);
}

static bool
settled(void)
{
    return fx.pending == 0;
}

static void
on_done(void *arg, int status)
{
    (void)arg;
    fx.status = status;
    fx.pending--;
}

static void
on_info(void *arg, int status, const sl_queue_info_t *info)
{
    (void)info;
    on_done(arg, status);
}

static void
on_loaded(void *arg, int status)
{
    on_done(arg, status);
}

static int
setup(void **state)
{
    char err[128];
    sl_fanout_opts_t o = { "us-east-1", "000000000000", 100 };

    (void)state;
    memset(&fx, 0, sizeof(fx));
    fx.base = event_base_new();
    assert_int_equal(sl_store_open(fx.base, "memory", &fx.store, err, sizeof(err)), SL_OK);
    fx.f = sl_fanout_create(fx.base, fx.store, NULL, &o);
    sl_fanout_set_base_url(fx.f, "http://127.0.0.1:1/");
    fx.pending = 1;
    sl_fanout_load(fx.f, on_loaded, NULL);
    run_until(settled, "the load");
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    sl_fanout_destroy(fx.f);
    sl_store_destroy(fx.store);
    event_base_free(fx.base);
    return 0;
}

static void
make_queue_sized(const char *name, uint32_t max_size)
{
    sl_queue_cfg_t cfg;

    sl_queue_cfg_init(&cfg);
    if (max_size)
        cfg.max_size = max_size;
    fx.pending = 1;
    assert_int_equal(sl_store_queue_create(fx.store, name, &cfg, NULL, on_info, NULL), SL_OK);
    run_until(settled, "queue create");
    sl_queue_cfg_deinit(&cfg);
}

static void
make_queue(const char *name)
{
    make_queue_sized(name, 0);
}

static void
on_recv(void *arg, int status, const sl_received_t *msgs, size_t n)
{
    (void)arg;
    fx.status = status;
    fx.n = n;
    fx.body[0] = fx.attr_names[0] = '\0';
    if (n) {
        snprintf(fx.body, sizeof(fx.body), "%.*s", (int)msgs[0].msg->body_len,
                 msgs[0].msg->body);
        for (uint32_t i = 0; i < msgs[0].msg->nattrs; i++) {
            strncat(fx.attr_names, msgs[0].msg->attrs[i].name,
                    sizeof(fx.attr_names) - strlen(fx.attr_names) - 2);
            strcat(fx.attr_names, " ");
        }
    }
    fx.pending--;
}

/* Receives (once) from name; fx.n and fx.body say what came. */
static void
receive(const char *name)
{
    sl_recv_opts_t o = { 10, 30 };

    fx.pending = 1;
    assert_int_equal(sl_store_receive(fx.store, name, &o, on_recv, NULL), SL_OK);
    run_until(settled, "receive");
}

static const char *poll_queue;

static bool
queue_has_message(void)
{
    receive(poll_queue);
    return fx.n > 0;
}

static void
wait_message(const char *queue)
{
    poll_queue = queue;
    run_until(queue_has_message, queue);
}

static void
add_sub(const char *id, const char *topic, const char *queue, const char *policy, bool raw,
        const char *dlq)
{
    sl_sub_spec_t s;
    char arn[200], err[256];

    sl_sub_spec_init(&s);
    s.id = sl_strdup(id);
    s.topic = sl_strdup(topic);
    snprintf(arn, sizeof(arn), "arn:aws:sqs:us-east-1:000000000000:%s", queue);
    s.endpoint = sl_strdup(arn);
    s.proto = SL_SUB_SQS;
    s.confirmed = true;
    if (policy)
        sl_kvlist_set(&s.attrs, "FilterPolicy", policy);
    if (raw)
        sl_kvlist_set(&s.attrs, "RawMessageDelivery", "true");
    if (dlq) {
        snprintf(arn, sizeof(arn), "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:"
                 "000000000000:%s\"}", dlq);
        sl_kvlist_set(&s.attrs, "RedrivePolicy", arn);
    }
    assert_int_equal(sl_fanout_sub_set(fx.f, &s, err, sizeof(err)), SL_OK);
    sl_sub_spec_deinit(&s);
}

static void
add_topic(const char *name)
{
    sl_topic_spec_t t;

    sl_topic_spec_init(&t);
    t.name = sl_strdup(name);
    sl_fanout_topic_set(fx.f, &t);
    sl_topic_spec_deinit(&t);
}

static void
publish(const char *topic, const char *msg, const char *attrs_json)
{
    json_t *rec = json_pack("{s:s, s:s, s:s, s:I}", "id", "11111111-2222-4333-8444-555555555555",
                            "topic", topic, "message", msg, "ts", (json_int_t)1700000000000);

    if (attrs_json)
        json_object_set_new(rec, "attrs", json_loads(attrs_json, 0, NULL));
    fx.pending = 1;
    assert_int_equal(sl_fanout_publish(fx.f, rec, on_done, NULL), SL_OK);
    run_until(settled, "the publish");
    assert_int_equal(fx.status, SL_OK);
    json_decref(rec);
}

static void
test_fanout_filters_envelope_and_raw(void **state)
{
    json_t *env;

    (void)state;
    make_queue("all");
    make_queue("red");
    add_topic("t");
    add_sub("s-all", "t", "all", NULL, false, NULL);
    add_sub("s-red", "t", "red", "{\"color\":[\"red\"]}", true, NULL);
    publish("t", "blue one", "{\"color\":{\"Type\":\"String\",\"Value\":\"blue\"}}");
    publish("t", "red one", "{\"color\":{\"Type\":\"String\",\"Value\":\"red\"},"
                            "\"n\":{\"Type\":\"Number\",\"Value\":\"7\"}}");
    wait_message("red");
    assert_int_equal(fx.n, 1);
    assert_string_equal(fx.body, "red one");
    assert_non_null(strstr(fx.attr_names, "color "));
    assert_non_null(strstr(fx.attr_names, "n "));
    wait_message("all");
    env = json_loads(fx.body, 0, NULL);
    assert_non_null(env);
    assert_string_equal(json_string_value(json_object_get(env, "Type")), "Notification");
    assert_string_equal(json_string_value(json_object_get(env, "TopicArn")),
                        "arn:aws:sns:us-east-1:000000000000:t");
    assert_string_equal(json_string_value(json_object_get(env, "Timestamp")),
                        "2023-11-14T22:13:20.000Z");
    assert_true(strncmp(json_string_value(json_object_get(env, "UnsubscribeURL")),
                        "http://127.0.0.1:1/?Action=Unsubscribe&SubscriptionArn=", 55) == 0);
    json_decref(env);
    /* The policy changes: the next publish follows the new one. */
    add_sub("s-red", "t", "red", "{\"color\":[\"blue\"]}", true, NULL);
    publish("t", "blue two", "{\"color\":{\"Type\":\"String\",\"Value\":\"blue\"}}");
    wait_message("red");
    assert_string_equal(fx.body, "blue two");
}

static void
on_claim(void *arg, int status, const sl_outbox_item_t *items, size_t n)
{
    (void)arg;
    (void)items;
    fx.status = status;
    fx.n = n;
    fx.pending--;
}

static bool
nothing_left(void)
{
    /* Claim with a lease of 1 ms: what the fanout left behind shows up here. */
    fx.pending = 1;
    assert_int_equal(sl_store_outbox_claim(fx.store, 10, 1, on_claim, NULL), SL_OK);
    run_until(settled, "claim");
    return fx.n == 0;
}

static void
test_malformed_entry_is_dropped(void **state)
{
    static const char rec_without_id[] = "{\"sub\":\"s-x\",\"rec\":{\"topic\":\"t\"}}";

    (void)state;
    /* A record that cannot be rendered, for a subscription with a DLQ: dropped too. */
    add_topic("t");
    add_sub("s-x", "t", "q", NULL, false, "dlq");
    fx.pending = 3;
    assert_int_equal(sl_store_outbox_append(fx.store, "sns.deliver", rec_without_id,
                                            strlen(rec_without_id), 0, on_done, NULL), SL_OK);
    assert_int_equal(sl_store_outbox_append(fx.store, "sns.publish", "{not json", 9, 0, on_done,
                                            NULL), SL_OK);
    assert_int_equal(sl_store_outbox_append(fx.store, "sns.deliver", "[1,2]", 5, 0, on_done,
                                            NULL), SL_OK);
    run_until(settled, "the appends");
    run_until(nothing_left, "the fanout to drop the malformed entries");
}

static void
test_missing_queue_goes_to_dlq(void **state)
{
    json_t *env;

    (void)state;
    make_queue("dlq");
    add_topic("t2");
    add_sub("s-lost", "t2", "no-such-queue", NULL, false, "dlq");
    publish("t2", "lost", NULL);
    wait_message("dlq");
    env = json_loads(fx.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(env, "Message")), "lost");
    assert_non_null(strstr(fx.attr_names, "ErrorCode "));
    json_decref(env);
}

/* Publishes n messages "m-<i>-" + filler up to size bytes, all appended before the
 * worker runs, so one claim takes them together. */
static void
publish_many(const char *topic, int n, size_t size)
{
    char msg[2048], id[64];

    assert_true(size < sizeof(msg));
    fx.pending = n;
    for (int i = 0; i < n; i++) {
        json_t *rec;
        int k = snprintf(msg, sizeof(msg), "m-%d-", i);

        memset(msg + k, 'x', size > (size_t)k ? size - (size_t)k : 0);
        msg[size > (size_t)k ? size : (size_t)k] = '\0';
        snprintf(id, sizeof(id), "11111111-2222-4333-8444-%012d", i);
        rec = json_pack("{s:s, s:s, s:s, s:I}", "id", id, "topic", topic, "message", msg, "ts",
                        (json_int_t)1700000000000);
        assert_int_equal(sl_fanout_publish(fx.f, rec, on_done, NULL), SL_OK);
        json_decref(rec);
    }
    run_until(settled, "the publishes");
    assert_int_equal(fx.status, SL_OK);
}

static int drain_seen[64];
static int drain_total;

static void
on_drain(void *arg, int status, const sl_received_t *msgs, size_t n)
{
    (void)arg;
    fx.status = status;
    fx.n = n;
    for (size_t i = 0; i < n; i++) {
        char b[4096];
        const char *env;
        int seq = -1;

        snprintf(b, sizeof(b), "%.*s", (int)msgs[i].msg->body_len, msgs[i].msg->body);
        env = strstr(b, "\"Message\":\"");
        if (sscanf(env ? env + 11 : b, "m-%d-", &seq) == 1 && seq >= 0 && seq < 64)
            drain_seen[seq]++;
        drain_total++;
    }
    fx.pending--;
}

/* One receive of up to 10 from poll_queue into drain_seen; fx.n says how many. */
static void
drain_once(void)
{
    sl_recv_opts_t o = { 10, 300 };

    fx.pending = 1;
    assert_int_equal(sl_store_receive(fx.store, poll_queue, &o, on_drain, NULL), SL_OK);
    run_until(settled, "receive");
}

/* Receives from queue until it holds want messages, checks each of 0..want-1 came
 * exactly once, and that nothing more comes. */
static void
expect_each_once(const char *queue, int want)
{
    memset(drain_seen, 0, sizeof(drain_seen));
    drain_total = 0;
    poll_queue = queue;
    for (int tries = 0; tries < 2000 && drain_total < want; tries++) {
        drain_once();
        if (fx.n == 0) {
            struct timeval tv = { 0, 5000 };

            event_base_loopexit(fx.base, &tv);
            event_base_dispatch(fx.base);
        }
    }
    assert_int_equal(drain_total, want);
    for (int i = 0; i < want; i++)
        assert_int_equal(drain_seen[i], 1);
    drain_once();
    assert_int_equal(fx.n, 0);
}

static void
test_publishes_claimed_together_reach_each_queue_once(void **state)
{
    (void)state;
    make_queue("a");
    make_queue("b");
    make_queue("c");
    add_topic("tt");
    add_sub("s-a", "tt", "a", NULL, true, NULL);
    add_sub("s-b", "tt", "b", NULL, false, NULL);
    add_sub("s-c", "tt", "c", "{\"color\":[\"red\"]}", true, NULL);   /* matches none */
    publish_many("tt", 37, 40);         /* more than one batch send per queue */
    expect_each_once("a", 37);
    expect_each_once("b", 37);
    expect_each_once("c", 0);
    run_until(nothing_left, "the publishes to be acked");
}

static void
test_refused_batch_still_delivers_each(void **state)
{
    (void)state;
    /* 1024-byte queue: a batch of 300-byte messages is over its limit, one is not. */
    make_queue_sized("small", 1024);
    make_queue("big");
    add_topic("ts");
    add_sub("s-small", "ts", "small", NULL, true, NULL);
    add_sub("s-big", "ts", "big", NULL, true, NULL);
    publish_many("ts", 12, 300);
    expect_each_once("big", 12);
    expect_each_once("small", 12);
    run_until(nothing_left, "the deliveries to be acked");
}

/* A broker stopped after accepting publishes but before fanning them out leaves
 * their entries in the outbox: the next broker's fanout delivers each once. */
static void
test_publish_left_in_outbox_is_delivered_by_the_next_fanout(void **state)
{
    sl_fanout_opts_t o = { "us-east-1", "000000000000", 100 };
    char rec[256];

    (void)state;
    sl_fanout_destroy(fx.f);            /* "the broker stopped" */
    fx.f = sl_fanout_create(fx.base, fx.store, NULL, &o);   /* "the next broker" */
    sl_fanout_set_base_url(fx.f, "http://127.0.0.1:1/");
    fx.pending = 1;
    sl_fanout_load(fx.f, on_loaded, NULL);
    run_until(settled, "the load");
    make_queue("after");
    add_topic("tr");                    /* (in the cache only: after the load, or it is lost) */
    add_sub("s-after", "tr", "after", NULL, true, NULL);
    /* the entries the stopped broker accepted: not appended by this fanout, so
     * nothing kicks it; its periodic claim finds them */
    fx.pending = 12;
    for (int i = 0; i < 12; i++) {
        snprintf(rec, sizeof(rec), "{\"id\":\"11111111-2222-4333-8444-%012d\",\"topic\":"
                 "\"tr\",\"message\":\"m-%d-\",\"ts\":1700000000000}", i, i);
        assert_int_equal(sl_store_outbox_append(fx.store, "sns.publish", rec, strlen(rec), 0,
                                                on_done, NULL), SL_OK);
    }
    run_until(settled, "the appends");
    expect_each_once("after", 12);
    run_until(nothing_left, "the publishes to be acked");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fanout_filters_envelope_and_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_entry_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_queue_goes_to_dlq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publishes_claimed_together_reach_each_queue_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_batch_still_delivers_each, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_publish_left_in_outbox_is_delivered_by_the_next_fanout, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
