/* test_sqs_event.c - the trigger's direct writer of Lambda SQS records
 * (sl_sqs_event_write) against the jansson record (sl_sqs_event_record) written by
 * sl_json_write: byte for byte the same for standard and FIFO messages, attributes of
 * every type (repeated names too), trace headers, dead-letter sources, and bodies with
 * every byte that needs escaping, invalid UTF-8 included; plus random bodies and
 * attributes (SLUICE_SEED replays a run). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../broker/jsonw.h"
#include "../../triggers/sqs_event.h"
#include "sluice/mem.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
check_same(const sl_msg_t *m)
{
    const char *arn = "arn:aws:sqs:eu-west-1:123456789012:orders";
    const char *prefix = "arn:aws:sqs:eu-west-1:123456789012:";
    json_t *rec = sl_sqs_event_record(m, "rcpt\"\\1", arn, "eu-west-1", "123456789012", prefix);
    struct evbuffer *ev = evbuffer_new();
    sl_jbuf_t b = { NULL, 0, 0 };
    size_t n;

    sl_json_write(ev, rec);
    sl_sqs_event_write(&b, m, "rcpt\"\\1", arn, "eu-west-1", "123456789012", prefix);
    n = evbuffer_get_length(ev);
    if (n != b.n || memcmp(evbuffer_pullup(ev, -1), b.p, n) != 0) {
        fprintf(stderr, "jansson: %.*s\ndirect:  %.*s\n", (int)n,
                (const char *)evbuffer_pullup(ev, -1), (int)b.n, b.p);
        fail();
    }
    json_decref(rec);
    evbuffer_free(ev);
    sl_free(b.p);
}

static void
base_msg(sl_msg_t *m, char *body, size_t len)
{
    memset(m, 0, sizeof(*m));
    strcpy(m->id, "5fea7756-0ea4-451a-a703-a558b933e274");
    strcpy(m->md5_body, "5d41402abc4b2a76b9719d911017c592");
    m->body = body;
    m->body_len = len;
    m->sent_ms = 1700000000123;
    m->first_receive_ms = 1700000000456;
    m->receive_count = 3;
}

static void
test_standard_and_fifo(void **state)
{
    char body[] = "hello";
    sl_msg_t m;

    (void)state;
    base_msg(&m, body, strlen(body));
    check_same(&m);
    m.first_receive_ms = 0;
    m.receive_count = 0;
    check_same(&m);
    m.seq = 18;
    m.group_id = "g\"1";
    check_same(&m);
    m.dedup_id = "d-1";
    m.trace_header = "Root=1-5759e988-bd862e3fe1be46a994272793";
    m.dlq_source = "orders-src";
    check_same(&m);
}

static void
test_attributes(void **state)
{
    char body[] = "{\"k\":1}";
    sl_msg_attr_t at[] = {
        { "colour", "String", "blue", 4 },
        { "n", "Number.int", "42", 2 },
        { "bin", "Binary", "\x00\xff\x10", 3 },
        { "quote\"name", "String.x", "a\nb", 3 },
        { "colour", "String", "red", 3 },       /* repeated: first place, last value */
    };
    sl_msg_t m;

    (void)state;
    base_msg(&m, body, strlen(body));
    strcpy(m.md5_attrs, "0123456789abcdef0123456789abcdef");
    for (uint32_t n = 1; n <= 5; n++) {
        m.attrs = at;
        m.nattrs = n;
        check_same(&m);
    }
}

static void
test_every_byte_in_bodies(void **state)
{
    char body[512];
    sl_msg_t m;

    (void)state;
    for (int c = 0; c < 256; c++) {
        for (int i = 0; i < 40; i++)
            body[i] = (char)(i % 9 == 4 ? c : 'a' + i % 26);
        base_msg(&m, body, 40);     /* NUL bytes included */
        check_same(&m);
    }
}

static void
test_random(void **state)
{
    const char *env = getenv("SLUICE_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
    static const char alphabet[] = "ab\"\\\n\t\x01\x7f\xc3\xa9\xff{}:, ";
    char body[300], vals[4][40];
    sl_msg_attr_t at[4];
    sl_msg_t m;

    (void)state;
    printf("test_sqs_event seed=%u (SLUICE_SEED replays)\n", seed);
    srand(seed);
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)rand() % sizeof(body);

        for (size_t i = 0; i < len; i++)
            body[i] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
        base_msg(&m, body, len);
        m.receive_count = (uint32_t)rand();
        m.seq = rand() % 2 ? (uint64_t)rand() : 0;
        m.group_id = m.seq && rand() % 2 ? "grp" : NULL;
        m.nattrs = (uint32_t)(rand() % 5);
        for (uint32_t i = 0; i < m.nattrs; i++) {
            size_t vl = (size_t)rand() % sizeof(vals[i]);

            for (size_t k = 0; k < vl; k++)
                vals[i][k] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
            at[i].name = (char *)(const char *[]){ "a", "b", "c" }[rand() % 3];
            at[i].type = (char *)(rand() % 3 == 0 ? "Binary" : "String");
            at[i].value = vals[i];
            at[i].len = vl;
        }
        m.attrs = at;
        check_same(&m);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standard_and_fifo),
        cmocka_unit_test(test_attributes),
        cmocka_unit_test(test_every_byte_in_bodies),
        cmocka_unit_test(test_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
