/* test_codec.c - msgpack records of messages, queue settings and outbox entries:
 * round trips, every truncation of a record, flipped bytes (never a crash, never
 * a wrong success that reads past the input), wrong versions and shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "sluice/error.h"
#include "sluice/mem.h"

static void
make_msg(sl_msg_in_t *in, sl_msg_attr_t *attrs)
{
    static const char bin[] = { 0, 1, 2, (char)0xff, 'x' };

    memset(in, 0, sizeof(*in));
    sl_uuid4(in->id);
    strcpy(in->md5_body, "0123456789abcdef0123456789abcdef");
    strcpy(in->md5_attrs, "fedcba9876543210fedcba9876543210");
    in->body = "h\xc3\xa9llo\0world";
    in->body_len = 12;
    attrs[0].name = "color";
    attrs[0].type = "String";
    attrs[0].value = "blue";
    attrs[0].len = 4;
    attrs[1].name = "blob";
    attrs[1].type = "Binary.custom";
    attrs[1].value = (char *)bin;
    attrs[1].len = sizeof(bin);
    in->attrs = attrs;
    in->nattrs = 2;
    in->trace_header = "Root=1-abc";
    in->group_id = "g:1";
    in->dedup_id = "d-1";
    in->delay_s = -1;
}

/* Decodes from an exact-size heap copy so AddressSanitizer sees overreads. */
static int
unpack_copy(const sl_buf_t *b, size_t len, const char *src, sl_msg_t **out)
{
    char *copy = malloc(len ? len : 1);
    int rc;

    memcpy(copy, b->p, len);
    rc = sl_codec_unpack_msg(copy, len, src, src ? strlen(src) : 0, out);
    free(copy);         /* the result must not point into the input */
    return rc;
}

static void
test_msg_round_trip(void **state)
{
    sl_msg_attr_t attrs[2];
    sl_msg_in_t in;
    sl_buf_t b;
    sl_msg_t *m = NULL;

    (void)state;
    make_msg(&in, attrs);
    sl_buf_init(&b);
    sl_codec_pack_msg(&b, &in);
    assert_int_equal(unpack_copy(&b, b.len, "src-queue", &m), SL_OK);
    assert_string_equal(m->id, in.id);
    assert_string_equal(m->md5_body, in.md5_body);
    assert_string_equal(m->md5_attrs, in.md5_attrs);
    assert_int_equal(m->body_len, 12);
    assert_memory_equal(m->body, in.body, 12);
    assert_int_equal(m->body[12], '\0');
    assert_int_equal(m->nattrs, 2);
    assert_string_equal(m->attrs[0].name, "color");
    assert_string_equal(m->attrs[0].type, "String");
    assert_int_equal(m->attrs[0].len, 4);
    assert_string_equal(m->attrs[0].value, "blue");
    assert_string_equal(m->attrs[1].type, "Binary.custom");
    assert_int_equal(m->attrs[1].len, 5);
    assert_memory_equal(m->attrs[1].value, attrs[1].value, 5);
    assert_string_equal(m->trace_header, "Root=1-abc");
    assert_string_equal(m->group_id, "g:1");
    assert_string_equal(m->dedup_id, "d-1");
    assert_string_equal(m->dlq_source, "src-queue");
    assert_int_equal(m->receive_count, 0);
    sl_free(m);
    sl_buf_deinit(&b);
}

static void
test_msg_minimal(void **state)
{
    sl_msg_in_t in;
    sl_buf_t b;
    sl_msg_t *m = NULL;

    (void)state;
    memset(&in, 0, sizeof(in));
    sl_uuid4(in.id);
    in.body = "";
    sl_buf_init(&b);
    sl_codec_pack_msg(&b, &in);
    assert_int_equal(unpack_copy(&b, b.len, NULL, &m), SL_OK);
    assert_int_equal(m->body_len, 0);
    assert_string_equal(m->body, "");
    assert_int_equal(m->nattrs, 0);
    assert_null(m->attrs);
    assert_null(m->trace_header);
    assert_null(m->group_id);
    assert_null(m->dedup_id);
    assert_null(m->dlq_source);
    assert_string_equal(m->md5_attrs, "");
    sl_free(m);
    sl_buf_deinit(&b);
}

static void
test_msg_truncated_and_damaged(void **state)
{
    sl_msg_attr_t attrs[2];
    sl_msg_in_t in;
    sl_buf_t b;
    sl_msg_t *m;

    (void)state;
    make_msg(&in, attrs);
    sl_buf_init(&b);
    sl_codec_pack_msg(&b, &in);
    for (size_t len = 0; len < b.len; len++) {
        m = NULL;
        assert_int_equal(unpack_copy(&b, len, NULL, &m), SL_EPROTO);
        assert_null(m);
    }
    /* Trailing garbage is not a record either. */
    sl_buf_append(&b, "x", 1);
    assert_int_equal(unpack_copy(&b, b.len, NULL, &m), SL_EPROTO);
    b.len--;
    /* Every single-byte change decodes to something well formed or fails cleanly. */
    srand(7);
    for (size_t i = 0; i < b.len; i++) {
        char saved = b.p[i];

        b.p[i] = (char)rand();
        m = NULL;
        if (unpack_copy(&b, b.len, NULL, &m) == SL_OK) {
            assert_true(strlen(m->id) <= SL_MSG_ID_LEN);
            assert_true(m->nattrs <= SL_CODEC_MAX_ATTRS);
            sl_free(m);
        }
        b.p[i] = saved;
    }
    sl_buf_deinit(&b);
}

static void
test_msg_wrong_version(void **state)
{
    /* [2, ...]: a record of a later format. */
    static const unsigned char rec[] = { 0x99, 0x02, 0xa1, 'a', 0xa0, 0xa0, 0xc4, 0x00, 0x90,
                                         0xc0, 0xc0, 0xc0 };
    sl_msg_t *m = NULL;

    (void)state;
    assert_int_equal(sl_codec_unpack_msg(rec, sizeof(rec), NULL, 0, &m), SL_EPROTO);
    assert_null(m);
    assert_int_equal(sl_codec_unpack_msg("", 0, NULL, 0, &m), SL_EPROTO);
}

static void
test_cfg_round_trip(void **state)
{
    sl_queue_cfg_t c, d;
    sl_buf_t b;

    (void)state;
    sl_queue_cfg_init(&c);
    c.fifo = true;
    c.content_dedup = true;
    c.visibility_s = 45;
    c.delay_s = 3;
    c.retention_s = 600;
    c.max_size = 2048;
    c.wait_s = 20;
    c.redrive_policy = sl_strdup("{\"deadLetterTargetArn\":\"arn:x:dlq\",\"maxReceiveCount\":4}");
    c.dlq_name = sl_strdup("dlq");
    c.max_receives = 4;
    sl_kvlist_set(&c.extra, "Policy", "{}");
    sl_kvlist_set(&c.extra, "KmsMasterKeyId", "alias/x");
    sl_buf_init(&b);
    sl_codec_pack_cfg(&b, &c);
    assert_int_equal(sl_codec_unpack_cfg(b.p, b.len, &d), SL_OK);
    assert_true(sl_queue_cfg_equal(&c, &d));
    assert_string_equal(d.redrive_policy, c.redrive_policy);
    sl_queue_cfg_deinit(&d);
    for (size_t len = 0; len < b.len; len++) {
        assert_int_equal(sl_codec_unpack_cfg(b.p, len, &d), SL_EPROTO);
        sl_queue_cfg_deinit(&d);
    }
    sl_buf_deinit(&b);
    /* Defaults survive too. */
    sl_queue_cfg_deinit(&c);
    sl_queue_cfg_init(&c);
    sl_buf_init(&b);
    sl_codec_pack_cfg(&b, &c);
    assert_int_equal(sl_codec_unpack_cfg(b.p, b.len, &d), SL_OK);
    assert_true(sl_queue_cfg_equal(&c, &d));
    assert_null(d.dlq_name);
    sl_queue_cfg_deinit(&d);
    sl_queue_cfg_deinit(&c);
    sl_buf_deinit(&b);
}

static void
test_cfg_bad_input(void **state)
{
    /* {"v": 1, "vis": "x"}: a field of the wrong type. */
    static const unsigned char bad_type[] = { 0x82, 0xa1, 'v', 0x01, 0xa3, 'v', 'i', 's', 0xa1,
                                              'x' };
    /* {"vis": 3}: no version first. */
    static const unsigned char no_ver[] = { 0x81, 0xa3, 'v', 'i', 's', 0x03 };
    /* {"v": 1, "future": 7}: unknown fields are skipped. */
    static const unsigned char future[] = { 0x82, 0xa1, 'v', 0x01, 0xa6, 'f', 'u', 't', 'u', 'r',
                                            'e', 0x07 };
    sl_queue_cfg_t d;

    (void)state;
    assert_int_equal(sl_codec_unpack_cfg(bad_type, sizeof(bad_type), &d), SL_EPROTO);
    sl_queue_cfg_deinit(&d);
    assert_int_equal(sl_codec_unpack_cfg(no_ver, sizeof(no_ver), &d), SL_EPROTO);
    sl_queue_cfg_deinit(&d);
    assert_int_equal(sl_codec_unpack_cfg(future, sizeof(future), &d), SL_OK);
    assert_int_equal(d.visibility_s, SL_QUEUE_DEFAULT_VISIBILITY_S);
    sl_queue_cfg_deinit(&d);
}

static void
test_outbox_round_trip(void **state)
{
    static const char payload[] = { 'a', 0, 'b' };
    const char *kind;
    const void *p;
    size_t klen, plen;
    sl_buf_t b;

    (void)state;
    sl_buf_init(&b);
    sl_codec_pack_outbox(&b, "fanout", payload, sizeof(payload));
    assert_int_equal(sl_codec_unpack_outbox(b.p, b.len, &kind, &klen, &p, &plen), SL_OK);
    assert_int_equal(klen, 6);
    assert_memory_equal(kind, "fanout", 6);
    assert_int_equal(plen, 3);
    assert_memory_equal(p, payload, 3);
    for (size_t len = 0; len < b.len; len++)
        assert_int_equal(sl_codec_unpack_outbox(b.p, len, &kind, &klen, &p, &plen), SL_EPROTO);
    sl_buf_deinit(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_round_trip),
        cmocka_unit_test(test_msg_minimal),
        cmocka_unit_test(test_msg_truncated_and_damaged),
        cmocka_unit_test(test_msg_wrong_version),
        cmocka_unit_test(test_cfg_round_trip),
        cmocka_unit_test(test_cfg_bad_input),
        cmocka_unit_test(test_outbox_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
