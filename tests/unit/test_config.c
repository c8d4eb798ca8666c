/* test_config.c - sluice.yaml: defaults, every setting, the queues list with attributes
 * and tags, the YAML-to-JSON conversion, and what is refused (unknown keys, bad YAML
 * with its line, aliases, a top level that is not a mapping, wrong value shapes).
 * Each case writes a temporary file with mkstemp and removes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "sluice/error.h"

typedef struct tmpfile_s {
    char path[256];
} tmp_t;

static void
tmp_write(tmp_t *t, const char *text, size_t len)
{
    const char *dir = getenv("TMPDIR");
    int fd;

    snprintf(t->path, sizeof(t->path), "%s/sluice-config-XXXXXX", dir && *dir ? dir : "/tmp");
    fd = mkstemp(t->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static void
tmp_remove(tmp_t *t)
{
    unlink(t->path);
}

/* Loads text as a config file onto c; returns the status, errbuf filled. */
static int
load_text(sl_config_t *c, const char *text, char *errbuf, size_t errlen)
{
    tmp_t t;
    int rc;

    tmp_write(&t, text, strlen(text));
    errbuf[0] = '\0';
    rc = sl_config_load(c, t.path, errbuf, errlen);
    tmp_remove(&t);
    return rc;
}

/* The text must be refused with an error message containing each of the needles. */
static void
assert_load_fails(const char *text, const char *needle1, const char *needle2)
{
    sl_config_t c;
    char err[512];
    int rc;

    sl_config_init(&c);
    rc = load_text(&c, text, err, sizeof(err));
    sl_config_deinit(&c);
    if (rc != SL_EINVAL)
        fail_msg("rc %d for:\n%s", rc, text);
    if (needle1 && strstr(err, needle1) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err, needle1);
    if (needle2 && strstr(err, needle2) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err, needle2);
}

static void
test_defaults(void **state)
{
    sl_config_t c;

    (void)state;
    sl_config_init(&c);
    assert_string_equal(c.listen, "127.0.0.1:9324");
    assert_string_equal(c.store, "memory");
    assert_string_equal(c.region, "us-east-1");
    assert_string_equal(c.account, "000000000000");
    assert_null(c.advertise_url);
    assert_string_equal(c.log_level, "info");
    assert_null(c.sns_ca_file);
    assert_null(c.queues);
    sl_config_deinit(&c);
    assert_null(c.listen);                      /* deinit clears */
    sl_config_deinit(&c);                       /* and may run twice */
}

static void
test_all_settings(void **state)
{
    sl_config_t c;
    char err[512];

    (void)state;
    sl_config_init(&c);
    assert_int_equal(load_text(&c,
                               "# sluice.yaml\n"
                               "listen: 0.0.0.0:4599\n"
                               "store: \"memory://\"\n"
                               "region: eu-west-1\n"
                               "account: '123456789012'\n"
                               "advertise_url: http://sqs.local:4599\n"
                               "log_level: debug\n"
                               "sns_ca_file: /etc/sluice/ca.pem\n",
                               err, sizeof(err)),
                     SL_OK);
    assert_string_equal(c.listen, "0.0.0.0:4599");
    assert_string_equal(c.store, "memory://");
    assert_string_equal(c.region, "eu-west-1");
    assert_string_equal(c.account, "123456789012");
    assert_string_equal(c.advertise_url, "http://sqs.local:4599");
    assert_string_equal(c.log_level, "debug");
    assert_string_equal(c.sns_ca_file, "/etc/sluice/ca.pem");
    assert_null(c.queues);
    /* A second file changes only what it names. */
    assert_int_equal(load_text(&c, "region: ap-south-1\naccount: 000000000001\n", err,
                               sizeof(err)),
                     SL_OK);
    assert_string_equal(c.region, "ap-south-1");
    assert_string_equal(c.account, "000000000001");      /* a string, leading zeros kept */
    assert_string_equal(c.listen, "0.0.0.0:4599");
    sl_config_deinit(&c);
}

static void
test_empty_file_keeps_defaults(void **state)
{
    sl_config_t c;
    char err[512];

    (void)state;
    sl_config_init(&c);
    assert_int_equal(load_text(&c, "", err, sizeof(err)), SL_OK);
    assert_int_equal(load_text(&c, "# only a comment\n", err, sizeof(err)), SL_OK);
    assert_string_equal(c.listen, "127.0.0.1:9324");
    assert_null(c.queues);
    sl_config_deinit(&c);
}

static void
test_queues_with_attributes_and_tags(void **state)
{
    sl_config_t c;
    char err[512];
    const json_t *q0, *q1, *attrs, *tags;

    (void)state;
    sl_config_init(&c);
    assert_int_equal(load_text(&c,
                               "queues:\n"
                               "  - name: orders\n"
                               "    attributes:\n"
                               "      VisibilityTimeout: 60\n"
                               "      FifoQueue: false\n"
                               "      RedrivePolicy: '{\"deadLetterTargetArn\":"
                               "\"arn:aws:sqs:us-east-1:000000000000:dead\",\"maxReceiveCount\":3}'\n"
                               "    tags:\n"
                               "      team: payments\n"
                               "      cost-center: \"42\"\n"
                               "  - name: dead\n"
                               "  - {name: flow.fifo, attributes: {FifoQueue: 'true'}}\n",
                               err, sizeof(err)),
                     SL_OK);
    assert_non_null(c.queues);
    assert_true(json_is_array(c.queues));
    assert_int_equal(json_array_size(c.queues), 3);
    q0 = json_array_get(c.queues, 0);
    assert_string_equal(json_string_value(json_object_get(q0, "name")), "orders");
    attrs = json_object_get(q0, "attributes");
    /* Plain scalars are typed; the SQS layer accepts numbers and booleans too. */
    assert_int_equal(json_integer_value(json_object_get(attrs, "VisibilityTimeout")), 60);
    assert_true(json_is_false(json_object_get(attrs, "FifoQueue")));
    assert_string_equal(json_string_value(json_object_get(attrs, "RedrivePolicy")),
                        "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:dead\","
                        "\"maxReceiveCount\":3}");
    tags = json_object_get(q0, "tags");
    assert_int_equal(json_object_size(tags), 2);
    assert_string_equal(json_string_value(json_object_get(tags, "team")), "payments");
    assert_string_equal(json_string_value(json_object_get(tags, "cost-center")), "42");
    q1 = json_array_get(c.queues, 1);
    assert_string_equal(json_string_value(json_object_get(q1, "name")), "dead");
    assert_null(json_object_get(q1, "attributes"));
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_array_get(c.queues, 2), "attributes"), "FifoQueue")),
        "true");
    /* Loading again replaces the list (no leak under ASan). */
    assert_int_equal(load_text(&c, "queues: [{name: only}]\n", err, sizeof(err)), SL_OK);
    assert_int_equal(json_array_size(c.queues), 1);
    sl_config_deinit(&c);
}

static void
test_topics_with_subscriptions(void **state)
{
    sl_config_t c;
    char err[512];
    const json_t *t0, *sub;

    (void)state;
    sl_config_init(&c);
    assert_int_equal(load_text(&c,
                               "topics:\n"
                               "  - name: orders\n"
                               "    attributes: {DisplayName: Orders}\n"
                               "    tags: {team: shop}\n"
                               "    subscriptions:\n"
                               "      - protocol: sqs\n"
                               "        endpoint: big-orders\n"
                               "        attributes:\n"
                               "          RawMessageDelivery: true\n"
                               "          FilterPolicy: {amount: [{numeric: ['>=', 100]}]}\n"
                               "      - {protocol: https, endpoint: 'https://h.example/x'}\n"
                               "  - name: bare.fifo\n"
                               "    attributes: {FifoTopic: 'true'}\n",
                               err, sizeof(err)),
                     SL_OK);
    assert_int_equal(json_array_size(c.topics), 2);
    t0 = json_array_get(c.topics, 0);
    assert_string_equal(json_string_value(json_object_get(t0, "name")), "orders");
    assert_int_equal(json_array_size(json_object_get(t0, "subscriptions")), 2);
    sub = json_array_get(json_object_get(t0, "subscriptions"), 0);
    assert_string_equal(json_string_value(json_object_get(sub, "endpoint")), "big-orders");
    /* Kept as YAML typed them; apply turns them into SNS's strings. */
    assert_true(json_is_true(json_object_get(json_object_get(sub, "attributes"),
                                             "RawMessageDelivery")));
    assert_true(json_is_object(json_object_get(json_object_get(sub, "attributes"),
                                               "FilterPolicy")));
    assert_null(json_object_get(json_array_get(c.topics, 1), "subscriptions"));
    sl_config_deinit(&c);
}

static void
test_topic_shapes_rejected(void **state)
{
    (void)state;
    assert_load_fails("topics: orders\n", "topics", "list");
    assert_load_fails("topics:\n  - attributes: {}\n", "topics[0]", "name");
    assert_load_fails("topics:\n  - name: a\n  - name: b\n    atributes: {}\n", "topics[1]",
                      "atributes");
    assert_load_fails("topics:\n  - name: a\n    tags: [x]\n", "topics[0]", "mappings");
    assert_load_fails("topics:\n  - name: a\n    subscriptions: {protocol: sqs}\n", "topics[0]",
                      "list");
    assert_load_fails("topics:\n  - name: a\n    subscriptions:\n      - protocol: sqs\n",
                      "topics[0].subscriptions[0]", "endpoint");
    assert_load_fails("topics:\n  - name: a\n    subscriptions:\n      - protocol: sqs\n"
                      "        endpoint: q\n        filter: x\n", "subscriptions[0]", "filter");
    assert_load_fails("topics:\n  - name: a\n    subscriptions:\n      - protocol: sqs\n"
                      "        endpoint: q\n        attributes: x\n", "subscriptions[0]",
                      "mapping");
}

static void
test_unknown_keys_rejected(void **state)
{
    (void)state;
    assert_load_fails("listen: a\nlisen: b\n", "unknown setting", "lisen");
    assert_load_fails("Listen: a\n", "Listen", NULL);               /* case matters */
    assert_load_fails("queues:\n  - name: a\n    atributes: {}\n", "atributes", "queues[0]");
}

/* Was a bug (fixed): sl_config_load checked only the first entry of
 * queues. Its check loop, json_array_foreach(q, i, v), reuses q as the value variable
 * of the inner json_object_foreach(v, key, q), so after queues[0] q is a string and the
 * outer loop ends. Entries from queues[1] on are stored unchecked: a typo such as
 * "atributes" in the second queue silently creates that queue with default settings,
 * and an entry without a name (or not a mapping) reaches main's apply step. */
static void
test_BUG_every_queue_entry_is_checked(void **state)
{
    (void)state;
    assert_load_fails("queues:\n  - name: a\n  - name: b\n    atributes: {}\n", "queues[1]",
                      "atributes");
    assert_load_fails("queues:\n  - name: a\n  - attributes: {}\n", "queues[1]", "name");
    assert_load_fails("queues:\n  - name: a\n  - name: b\n  - 42\n", "queues[2]", NULL);
}

static void
test_value_shapes_rejected(void **state)
{
    (void)state;
    assert_load_fails("listen: [a, b]\n", "listen", "string");
    assert_load_fails("region: {a: b}\n", "region", NULL);
    assert_load_fails("queues: orders\n", "queues", "list");
    assert_load_fails("queues: {name: x}\n", "queues", "list");
    assert_load_fails("queues:\n  - attributes: {}\n", "queues[0]", "name");
    assert_load_fails("queues:\n  - name: [x]\n", "queues[0]", "name");
    assert_load_fails("queues:\n  - orders\n", "queues[0]", NULL);
}

static void
test_bad_yaml_reports_line(void **state)
{
    sl_config_t c;
    char err[512], want[300];
    tmp_t t;
    static const char text[] = "listen: a\n"
                               "store: memory\n"
                               "region: [unclosed\n"
                               "account: x\n"
                               "log_level: info\n";

    (void)state;
    /* Indentation error on line 3. */
    assert_load_fails("listen: a\nstore: b\n  region: c\n", ":3:", NULL);
    /* A tab where YAML forbids it, on line 2. */
    assert_load_fails("listen: a\n\tstore: b\n", ":2:", NULL);
    /* The message names the file. */
    sl_config_init(&c);
    tmp_write(&t, text, strlen(text));
    assert_int_equal(sl_config_load(&c, t.path, err, sizeof(err)), SL_EINVAL);
    snprintf(want, sizeof(want), "%s:", t.path);
    assert_non_null(strstr(err, want));
    /* The flow sequence opened on line 3 is never closed; libyaml notices at the
     * next key, a line or two on: some line number past 1 is reported. */
    assert_true(strstr(err, ":3:") || strstr(err, ":4:") || strstr(err, ":5:") ||
                strstr(err, ":6:"));
    tmp_remove(&t);
    sl_config_deinit(&c);
    /* Unterminated quote. */
    assert_load_fails("listen: a\nregion: \"abc\n", "sluice-config-", NULL);
}

static void
test_bad_yaml_does_not_change_config(void **state)
{
    sl_config_t c;
    char err[512];

    (void)state;
    sl_config_init(&c);
    assert_int_equal(load_text(&c, "listen: 1.2.3.4:1\nstore: [x\n", err, sizeof(err)),
                     SL_EINVAL);
    assert_string_equal(c.listen, "127.0.0.1:9324");            /* parse fails first */
    sl_config_deinit(&c);
}

static void
test_aliases_rejected(void **state)
{
    (void)state;
    /* The anchor is refused where it stands, before any alias can use it. */
    assert_load_fails("region: &r eu-west-1\naccount: *r\n", "anchors", ":1:");
    assert_load_fails("queues:\n  - &q {name: a}\n  - *q\n", "anchors", ":2:");
    assert_load_fails("region: eu-west-1\naccount: *r\n", "alias", ":2:");
}

static void
test_top_level_must_be_a_mapping(void **state)
{
    (void)state;
    assert_load_fails("- listen\n- store\n", "mapping", NULL);
    assert_load_fails("just a string\n", "mapping", NULL);
    assert_load_fails("[1, 2]\n", "mapping", NULL);
}

static void
test_other_refusals(void **state)
{
    sl_config_t c;
    char err[512] = "";
    char deep[200];
    size_t n = 0;

    (void)state;
    /* A missing file. */
    sl_config_init(&c);
    assert_int_equal(sl_config_load(&c, "/nonexistent/dir/sluice.yaml", err, sizeof(err)),
                     SL_EINVAL);
    assert_non_null(strstr(err, "/nonexistent/dir/sluice.yaml"));
    sl_config_deinit(&c);
    /* A key that is not a scalar. */
    assert_load_fails("? [a, b]\n: c\n", NULL, NULL);
    assert_load_fails("{[a]: b}\n", NULL, NULL);
    /* Invalid UTF-8. */
    assert_load_fails("region: \xff\xfe\n", NULL, NULL);
    /* Nested past the depth limit. */
    n += (size_t)snprintf(deep, sizeof(deep), "queues: ");
    for (int i = 0; i < 40; i++)
        deep[n++] = '[';
    for (int i = 0; i < 40; i++)
        deep[n++] = ']';
    deep[n++] = '\n';
    deep[n] = '\0';
    assert_load_fails(deep, "deep", NULL);
}

static void
test_yaml_load_tree(void **state)
{
    char err[256];
    tmp_t t;
    json_t *j;
    static const char text[] = "a: 1\n"
                               "b: true\n"
                               "c: ~\n"
                               "d:\n"
                               "e: [x, 'y z', \"\\u00e9\"]\n"
                               "f:\n"
                               "  g:\n"
                               "    - h: i\n"
                               "multi: |\n"
                               "  line1\n"
                               "  line2\n";

    (void)state;
    tmp_write(&t, text, strlen(text));
    j = sl_yaml_load(t.path, err, sizeof(err));
    tmp_remove(&t);
    assert_non_null(j);
    /* Plain scalars are typed (YAML core schema); quoted ones stay strings. */
    assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
    assert_true(json_is_true(json_object_get(j, "b")));
    assert_true(json_is_null(json_object_get(j, "c")));
    assert_string_equal(json_string_value(json_object_get(j, "d")), "");
    assert_int_equal(json_array_size(json_object_get(j, "e")), 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "e"), 1)), "y z");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "e"), 2)),
                        "\xc3\xa9");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(j, "f"), "g"), 0), "h")),
        "i");
    assert_string_equal(json_string_value(json_object_get(j, "multi")), "line1\nline2\n");
    json_decref(j);
    /* A scalar document is a string; an empty one an empty object. */
    tmp_write(&t, "hello\n", 6);
    j = sl_yaml_load(t.path, err, sizeof(err));
    tmp_remove(&t);
    assert_string_equal(json_string_value(j), "hello");
    json_decref(j);
    tmp_write(&t, "", 0);
    j = sl_yaml_load(t.path, err, sizeof(err));
    tmp_remove(&t);
    assert_true(json_is_object(j));
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_all_settings),
        cmocka_unit_test(test_empty_file_keeps_defaults),
        cmocka_unit_test(test_queues_with_attributes_and_tags),
        cmocka_unit_test(test_topics_with_subscriptions),
        cmocka_unit_test(test_topic_shapes_rejected),
        cmocka_unit_test(test_unknown_keys_rejected),
        cmocka_unit_test(test_BUG_every_queue_entry_is_checked),
        cmocka_unit_test(test_value_shapes_rejected),
        cmocka_unit_test(test_bad_yaml_reports_line),
        cmocka_unit_test(test_bad_yaml_does_not_change_config),
        cmocka_unit_test(test_aliases_rejected),
        cmocka_unit_test(test_top_level_must_be_a_mapping),
        cmocka_unit_test(test_other_refusals),
        cmocka_unit_test(test_yaml_load_tree),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
