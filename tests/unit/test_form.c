/* test_form.c - the x-www-form-urlencoded parser: decoding, pair splitting, bad escapes,
 * the field cap, every truncation of real bodies, and a differential run against a
 * byte-at-a-time model decoder over random bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "form.h"
#include "sluice/error.h"

/* Bodies of awscli2-sqs-SendMessageBatch.http and awscli2-sqs-SendMessage-specialchars.http. */
static const char batch_body[] =
    "Action=SendMessageBatch&Version=2012-11-05"
    "&QueueUrl=http%3A%2F%2F127.0.0.1%3A4599%2F000000000000%2Fq1"
    "&SendMessageBatchRequestEntry.1.Id=m1&SendMessageBatchRequestEntry.1.MessageBody=one"
    "&SendMessageBatchRequestEntry.2.Id=m2&SendMessageBatchRequestEntry.2.MessageBody=two"
    "&SendMessageBatchRequestEntry.2.DelaySeconds=3"
    "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Name=k"
    "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType=String"
    "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.StringValue=v";

static const char special_body[] =
    "Action=SendMessage&Version=2012-11-05"
    "&QueueUrl=http%3A%2F%2F127.0.0.1%3A4599%2F000000000000%2Fq1"
    "&MessageBody=h%C3%A9llo+w%C3%B6rld+%26+%3D+%2B+~%2A%27%28%29%21+%F0%9F%98%80+a%2Fb%3Fc%23d%25";

/* Parses a NUL-terminated string; the bytes are copied into an exact-size heap block so
 * that AddressSanitizer sees any read past the end. */
static int
parse(const char *s, size_t max, sl_form_t **out)
{
    size_t len = strlen(s);
    char *copy = malloc(len > 0 ? len : 1);
    int rc;

    memcpy(copy, s, len);
    rc = sl_form_parse(copy, len, max, out);
    free(copy);         /* the form must not point into the input */
    return rc;
}

static sl_form_t *
must_parse(const char *s)
{
    sl_form_t *f = NULL;

    assert_int_equal(parse(s, SL_FORM_MAX_FIELDS, &f), SL_OK);
    assert_non_null(f);
    return f;
}

static void
assert_field(const sl_form_t *f, size_t i, const char *key, const char *val, size_t vlen)
{
    size_t len = 12345;
    const char *v;

    assert_string_equal(sl_form_key(f, i), key);
    v = sl_form_value(f, i, &len);
    assert_int_equal(len, vlen);
    assert_memory_equal(v, val, vlen);
    assert_int_equal(v[vlen], '\0');
}

static void
test_simple_pairs(void **state)
{
    sl_form_t *f = must_parse("Action=SendMessage&QueueUrl=q&MessageBody=hi");

    (void)state;
    assert_int_equal(sl_form_count(f), 3);
    assert_field(f, 0, "Action", "SendMessage", 11);
    assert_field(f, 1, "QueueUrl", "q", 1);
    assert_field(f, 2, "MessageBody", "hi", 2);
    assert_int_equal(sl_form_value(f, 0, NULL)[11], '\0');
    sl_form_destroy(f);
}

static void
test_plus_and_percent_decode(void **state)
{
    sl_form_t *f = must_parse("a=x+y&b=x%20y&c=%7E%7e~&d=%2B+%2b&e+f=1&g%3Dh=%3d");

    (void)state;
    assert_int_equal(sl_form_count(f), 6);
    assert_field(f, 0, "a", "x y", 3);
    assert_field(f, 1, "b", "x y", 3);
    assert_field(f, 2, "c", "~~~", 3);
    assert_field(f, 3, "d", "+ +", 3);
    assert_field(f, 4, "e f", "1", 1);
    assert_field(f, 5, "g=h", "=", 1);
    sl_form_destroy(f);
}

static void
test_utf8_multibyte(void **state)
{
    sl_form_t *f = must_parse(special_body);
    static const char want[] = "h\xc3\xa9llo w\xc3\xb6rld & = + ~*'()! \xf0\x9f\x98\x80 a/b?c#d%";

    (void)state;
    assert_int_equal(sl_form_count(f), 4);
    assert_string_equal(sl_form_get(f, "QueueUrl"), "http://127.0.0.1:4599/000000000000/q1");
    assert_field(f, 3, "MessageBody", want, sizeof(want) - 1);
    sl_form_destroy(f);

    f = must_parse("k%C3%A9y=%E2%82%AC");
    assert_field(f, 0, "k\xc3\xa9y", "\xe2\x82\xac", 3);
    sl_form_destroy(f);
}

static void
test_empty_values_and_missing_equals(void **state)
{
    sl_form_t *f = must_parse("a=&b&c=1&=v&d==");

    (void)state;
    assert_int_equal(sl_form_count(f), 5);
    assert_field(f, 0, "a", "", 0);
    assert_field(f, 1, "b", "", 0);
    assert_field(f, 2, "c", "1", 1);
    assert_field(f, 3, "", "v", 1);
    assert_field(f, 4, "d", "=", 1);
    sl_form_destroy(f);
}

static void
test_empty_input_and_empty_pairs(void **state)
{
    sl_form_t *f = NULL;

    (void)state;
    assert_int_equal(sl_form_parse(NULL, 0, SL_FORM_MAX_FIELDS, &f), SL_OK);
    assert_non_null(f);
    assert_int_equal(sl_form_count(f), 0);
    assert_null(sl_form_get(f, "Action"));
    sl_form_destroy(f);

    f = must_parse("&&&");
    assert_int_equal(sl_form_count(f), 0);
    sl_form_destroy(f);

    f = must_parse("&a=1&&b=2&");
    assert_int_equal(sl_form_count(f), 2);
    assert_field(f, 0, "a", "1", 1);
    assert_field(f, 1, "b", "2", 1);
    sl_form_destroy(f);
    sl_form_destroy(NULL);
}

static void
test_nul_bytes(void **state)
{
    sl_form_t *f = must_parse("MessageBody=a%00b&x=%00");

    (void)state;
    assert_field(f, 0, "MessageBody", "a\0b", 3);
    assert_field(f, 1, "x", "\0", 1);
    sl_form_destroy(f);

    f = (sl_form_t *)1;
    assert_int_equal(parse("a%00b=1", SL_FORM_MAX_FIELDS, &f), SL_EPROTO);
    assert_null(f);

    /* a raw NUL byte in a key is refused like a decoded one; in a value it is kept */
    assert_int_equal(sl_form_parse("a\0b=1", 5, SL_FORM_MAX_FIELDS, &f), SL_EPROTO);
    assert_null(f);
    assert_int_equal(sl_form_parse("ab=1\0", 5, SL_FORM_MAX_FIELDS, &f), SL_OK);
    assert_field(f, 0, "ab", "1\0", 2);
    sl_form_destroy(f);
}

static void
test_bad_escapes(void **state)
{
    static const char *const bad[] = {
        "%", "a=%", "a=%4", "a=%G1", "a=%1G", "a=%zz", "a=%%41", "a=b%", "a%=1",
        "a=%-1", "a=% 1", "ok=1&a=%0", "%4=1", "a=1&b=%x",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_form_t *f = (sl_form_t *)1;

        if (parse(bad[i], SL_FORM_MAX_FIELDS, &f) != SL_EPROTO)
            fail_msg("accepted bad escape in \"%s\"", bad[i]);
        assert_null(f);
    }
}

static void
test_get_first_match(void **state)
{
    sl_form_t *f = must_parse("a=1&b=2&a=3");

    (void)state;
    assert_string_equal(sl_form_get(f, "a"), "1");
    assert_string_equal(sl_form_get(f, "b"), "2");
    assert_null(sl_form_get(f, "c"));
    assert_null(sl_form_get(f, "A"));
    sl_form_destroy(f);
}

static void
test_max_fields(void **state)
{
    sl_form_t *f = NULL;
    size_t n = SL_FORM_MAX_FIELDS + 1, i, len = 0;
    char *big = malloc(n * 16);

    (void)state;
    assert_int_equal(parse("a=1&b=2&c=3", 2, &f), SL_EPROTO);
    assert_null(f);
    assert_int_equal(parse("a=1&b=2&c=3", 3, &f), SL_OK);
    assert_int_equal(sl_form_count(f), 3);
    sl_form_destroy(f);
    /* empty pairs do not count */
    assert_int_equal(parse("a=1&&&b=2&", 2, &f), SL_OK);
    sl_form_destroy(f);
    assert_int_equal(parse("", 0, &f), SL_OK);
    sl_form_destroy(f);

    for (i = 0; i < n; i++)
        len += (size_t)sprintf(big + len, "%sk%zu=%zu", i > 0 ? "&" : "", i, i);
    assert_int_equal(sl_form_parse(big, len, SL_FORM_MAX_FIELDS, &f), SL_EPROTO);
    assert_null(f);
    assert_int_equal(sl_form_parse(big, len, n, &f), SL_OK);
    assert_int_equal(sl_form_count(f), n);
    assert_string_equal(sl_form_key(f, n - 1), "k4096");
    assert_string_equal(sl_form_get(f, "k4096"), "4096");
    sl_form_destroy(f);
    free(big);
}

/* A cut inside a %XX escape must fail; any other cut must parse. */
static void
check_every_cut(const char *body)
{
    size_t len = strlen(body), cut;

    for (cut = 0; cut <= len; cut++) {
        char *copy = malloc(cut > 0 ? cut : 1);
        const char *pct = NULL;
        sl_form_t *f = NULL;
        size_t i;
        int rc;

        memcpy(copy, body, cut);
        for (i = 0; i < cut; i++)
            if (copy[i] == '%')
                pct = copy + i;
        rc = sl_form_parse(copy, cut, SL_FORM_MAX_FIELDS, &f);
        if (pct != NULL && copy + cut - pct < 3) {
            assert_int_equal(rc, SL_EPROTO);
            assert_null(f);
        } else {
            assert_int_equal(rc, SL_OK);
            for (i = 0; i < sl_form_count(f); i++) {
                size_t vlen;

                (void)sl_form_key(f, i);
                assert_true(sl_form_value(f, i, &vlen)[vlen] == '\0');
            }
        }
        sl_form_destroy(f);
        free(copy);
    }
}

static void
test_truncated_bodies(void **state)
{
    (void)state;
    check_every_cut(batch_body);
    check_every_cut(special_body);
    check_every_cut("a=%41%42&%43=%44+%45");
}

/* ---- Differential test against a byte-at-a-time model ---- */

struct model_field {
    char key[64];
    char val[64];
    size_t vlen;
};

static int
model_hex(int c)
{
    const char *d = "0123456789abcdef", *p;

    if (c >= 'A' && c <= 'F')
        c += 'a' - 'A';
    p = c != 0 ? strchr(d, c) : NULL;
    return p != NULL ? (int)(p - d) : -1;
}

/* Decodes [s, s+n) into out; returns the length or -1. */
static long
model_decode(const char *s, size_t n, char *out)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            if (i + 2 >= n)
                return -1;
            if (model_hex(s[i + 1]) < 0 || model_hex(s[i + 2]) < 0)
                return -1;
            out[o++] = (char)(model_hex(s[i + 1]) * 16 + model_hex(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    return (long)o;
}

static int
model_parse(const char *s, size_t len, size_t max, struct model_field *fl, size_t *count)
{
    size_t start = 0, n = 0, i;

    for (i = 0; i <= len; i++) {
        size_t eq;
        long kl, vl;

        if (i < len && s[i] != '&')
            continue;
        if (i > start) {
            if (++n > max)
                return SL_EPROTO;
            for (eq = start; eq < i && s[eq] != '='; eq++)
                ;
            kl = model_decode(s + start, eq - start, fl[n - 1].key);
            if (kl < 0 || memchr(fl[n - 1].key, '\0', (size_t)kl) != NULL)
                return SL_EPROTO;
            fl[n - 1].key[kl] = '\0';
            vl = eq < i ? model_decode(s + eq + 1, i - eq - 1, fl[n - 1].val) : 0;
            if (vl < 0)
                return SL_EPROTO;
            fl[n - 1].vlen = (size_t)vl;
        }
        start = i + 1;
    }
    *count = n;
    return SL_OK;
}

static void
test_differential_random(void **state)
{
    static const char alphabet[] = "ab=&%+0F9gz\0~.";
    unsigned seed = (unsigned)time(NULL);
    int round;

    (void)state;
    printf("# test_differential_random seed=%u\n", seed);
    srand(seed);
    for (round = 0; round < 20000; round++) {
        struct model_field want[48];
        char buf[48];
        size_t len = (size_t)rand() % sizeof(buf), i, n = 0;
        size_t max = (size_t)rand() % 8 + 1;
        sl_form_t *f = NULL;
        int rc, mrc;

        for (i = 0; i < len; i++)
            buf[i] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
        mrc = model_parse(buf, len, max, want, &n);
        rc = sl_form_parse(buf, len, max, &f);
        if (rc != mrc)
            fail_msg("seed=%u round=%d: rc %d, model %d for \"%.*s\"", seed, round, rc, mrc,
                     (int)len, buf);
        if (rc != SL_OK)
            continue;
        assert_int_equal(sl_form_count(f), n);
        for (i = 0; i < n; i++)
            assert_field(f, i, want[i].key, want[i].val, want[i].vlen);
        sl_form_destroy(f);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_pairs),
        cmocka_unit_test(test_plus_and_percent_decode),
        cmocka_unit_test(test_utf8_multibyte),
        cmocka_unit_test(test_empty_values_and_missing_equals),
        cmocka_unit_test(test_empty_input_and_empty_pairs),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_bad_escapes),
        cmocka_unit_test(test_get_first_match),
        cmocka_unit_test(test_max_fields),
        cmocka_unit_test(test_truncated_bodies),
        cmocka_unit_test(test_differential_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
