/* test_jsonr.c - the JSON reader: captured client bodies, escapes and surrogate pairs,
 * UTF-8 validation, numbers, structure errors, the depth cap, the scratch buffer behind
 * escaped keys, every truncation of real bodies, and a differential run against jansson's
 * json_loadb over hand-written inputs, random trees serialised with json_dumps in several
 * flag variants, and random mutations of those. The seed comes from SLUICE_SEED (or the
 * time) and is printed. With SLUICE_BENCH=1 it also times both readers on a
 * SendMessageBatch body.
 *
 * Intended differences from json_loadb(JSON_ALLOW_NUL | JSON_DECODE_ANY), and the only
 * ones the differential allows:
 *  - an integer that does not fit json_int_t is a json_real here; jansson rejects it
 *    ("too big integer");
 *  - nesting deeper than SL_JSONR_MAX_DEPTH (64) is rejected here; jansson allows 2048;
 *  - a raw NUL byte right after a number or literal ("[1\0]", "true\0") is rejected here;
 *    jansson's lexer skips it (a jansson bug: the NUL is not JSON whitespace). */
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
#include <jansson.h>

#include "jsonr.h"
#include "sluice/error.h"

#define LOAD_FLAGS (JSON_ALLOW_NUL | JSON_DECODE_ANY)

/* ---- Helpers ---- */

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

/* Parses n bytes copied into an exact-size heap block, so that AddressSanitizer sees any
 * read past the end; checks the error contract either way. */
static int
parse_n(const char *s, size_t n, json_t **out)
{
    char *copy = malloc(n > 0 ? n : 1);
    char err[128];
    int rc;

    memcpy(copy, s, n);
    memset(err, 'x', sizeof(err));
    *out = (json_t *)(uintptr_t)1;
    rc = sl_json_parse(copy, n, out, err, sizeof(err));
    free(copy);             /* the tree must not point into the input */
    assert_non_null(memchr(err, '\0', sizeof(err)));
    if (rc == SL_OK) {
        assert_non_null(*out);
        assert_int_equal(err[0], '\0');
    } else {
        assert_int_equal(rc, SL_EPROTO);
        assert_null(*out);
        assert_true(err[0] != '\0');
    }
    return rc;
}

/* s[0..n) with non-printable bytes as \xNN, for failure messages; static storage. */
static const char *
shown(const char *s, size_t n)
{
    static char out[4 * 2048 + 16];
    size_t i, o = 0;

    for (i = 0; i < n && o + 8 < sizeof(out) - 8; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
    }
    if (i < n)
        o += (size_t)snprintf(out + o, sizeof(out) - o, "...");
    out[o] = '\0';
    return out;
}

static json_t *
must_parse_n(const char *s, size_t n)
{
    json_t *j;

    if (parse_n(s, n, &j) != SL_OK)
        fail_msg("rejected: %s", shown(s, n));
    return j;
}

static json_t *
must_parse(const char *s)
{
    return must_parse_n(s, strlen(s));
}

static void
must_fail_n(const char *s, size_t n)
{
    json_t *j;

    if (parse_n(s, n, &j) == SL_OK)
        fail_msg("accepted: %s", shown(s, n));
}

static void
must_fail(const char *s)
{
    must_fail_n(s, strlen(s));
}

static int
depth_of(const json_t *j)
{
    int d = 0, c;
    size_t i;
    const char *k;
    json_t *v;

    if (json_is_array(j)) {
        json_array_foreach(j, i, v)
            if ((c = depth_of(v)) > d)
                d = c;
        return d + 1;
    }
    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, k, v)
            if ((c = depth_of(v)) > d)
                d = c;
        return d + 1;
    }
    return 0;
}

/* jansson's lexer drops one NUL byte that directly follows a number or literal ("[1\0]",
 * "true\0"): does s without such bytes parse here to b? */
static bool
is_jansson_nul_quirk(const char *s, size_t n, const json_t *b)
{
    char *t = malloc(n > 0 ? n : 1);
    size_t i, m = 0;
    json_t *a = NULL;
    bool same;

    for (i = 0; i < n; i++) {
        if (s[i] == '\0' && i > 0
            && ((s[i - 1] >= '0' && s[i - 1] <= '9') || (s[i - 1] >= 'a' && s[i - 1] <= 'z')))
            continue;
        t[m++] = s[i];
    }
    same = m < n && sl_json_parse(t, m, &a, NULL, 0) == SL_OK && json_equal(a, b);
    json_decref(a);
    free(t);
    return same;
}

/* Both readers on s[0..n): both accept equal trees, or both reject, or one of the
 * intended differences (see the top of the file). Returns true when ours accepted. */
static bool
same_as_jansson(const char *s, size_t n)
{
    json_error_t je;
    json_t *a, *b;
    bool ok;

    ok = parse_n(s, n, &a) == SL_OK;
    b = json_loadb(s, n, LOAD_FLAGS, &je);
    if (ok && b != NULL) {
        if (!json_equal(a, b))
            fail_msg("trees differ for: %s", shown(s, n));
    } else if (ok) {
        if (strstr(je.text, "too big") == NULL)
            fail_msg("only sl_json_parse accepts (jansson: %s): %s", je.text, shown(s, n));
    } else if (b != NULL) {
        if (depth_of(b) <= SL_JSONR_MAX_DEPTH && !is_jansson_nul_quirk(s, n, b))
            fail_msg("only jansson accepts: %s", shown(s, n));
    }
    json_decref(a);
    json_decref(b);
    return ok;
}

static void
assert_string_bytes(const json_t *j, const char *want, size_t n)
{
    assert_true(json_is_string(j));
    assert_int_equal(json_string_length(j), n);
    assert_memory_equal(json_string_value(j), want, n);
}

/* ---- Captured bodies ---- */

/* botocore's body for a SendMessage of awscli2-sqs-SendMessage-specialchars: non-ASCII
 * escaped, the emoji as a surrogate pair. */
static const char boto_body[] =
    "{\"QueueUrl\": \"http://127.0.0.1:4599/000000000000/q1\", \"MessageBody\": "
    "\"h\\u00e9llo w\\u00f6rld & = + ~*'()! \\ud83d\\ude00 a/b?c#d%\"}";

/* The same request as SDK v3 sends it: raw UTF-8. */
static const char raw_body[] =
    "{\"QueueUrl\":\"http://127.0.0.1:4599/000000000000/q1\","
    "\"MessageBody\":\"h\xc3\xa9llo w\xc3\xb6rld & = + ~*'()! \xf0\x9f\x98\x80 a/b?c#d%\"}";

static const char want_body[] = "h\xc3\xa9llo w\xc3\xb6rld & = + ~*'()! \xf0\x9f\x98\x80 a/b?c#d%";

static const char batch_body[] =
    "{\"QueueUrl\": \"http://127.0.0.1:4599/000000000000/q1\", \"Entries\": ["
    "{\"Id\": \"m1\", \"MessageBody\": \"one\"}, "
    "{\"Id\": \"m2\", \"MessageBody\": \"two\", \"DelaySeconds\": 3, \"MessageAttributes\": "
    "{\"k\": {\"DataType\": \"String\", \"StringValue\": \"v\"}}}]}";

static const char receive_body[] =
    "{\"QueueUrl\":\"http://127.0.0.1:4599/000000000000/q1\",\"MaxNumberOfMessages\":10,"
    "\"WaitTimeSeconds\":0,\"VisibilityTimeout\":30,\"AttributeNames\":[\"All\"],"
    "\"MessageAttributeNames\":[\"All\"],\"MessageSystemAttributeNames\":[\"All\"]}";

static void
test_captured_escaped_body(void **state)
{
    json_t *j = must_parse(boto_body);

    (void)state;
    assert_true(json_is_object(j));
    assert_int_equal(json_object_size(j), 2);
    assert_string_equal(json_string_value(json_object_get(j, "QueueUrl")),
                        "http://127.0.0.1:4599/000000000000/q1");
    assert_string_bytes(json_object_get(j, "MessageBody"), want_body, strlen(want_body));
    assert_true(same_as_jansson(boto_body, strlen(boto_body)));
    json_decref(j);
}

static void
test_captured_raw_utf8_body(void **state)
{
    json_t *a = must_parse(raw_body), *b = must_parse(boto_body);

    (void)state;
    assert_string_bytes(json_object_get(a, "MessageBody"), want_body, strlen(want_body));
    assert_true(json_equal(a, b));
    assert_true(same_as_jansson(raw_body, strlen(raw_body)));
    json_decref(a);
    json_decref(b);
}

static void
test_captured_batch_and_receive(void **state)
{
    json_t *j = must_parse(batch_body), *e, *r;

    (void)state;
    e = json_object_get(j, "Entries");
    assert_int_equal(json_array_size(e), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(e, 1), "Id")), "m2");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(e, 1), "DelaySeconds")),
                     3);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(json_array_get(e, 1), "MessageAttributes"), "k"),
            "StringValue")),
        "v");
    r = must_parse(receive_body);
    assert_true(json_is_integer(json_object_get(r, "MaxNumberOfMessages")));
    assert_int_equal(json_integer_value(json_object_get(r, "MaxNumberOfMessages")), 10);
    assert_true(same_as_jansson(batch_body, strlen(batch_body)));
    assert_true(same_as_jansson(receive_body, strlen(receive_body)));
    json_decref(j);
    json_decref(r);
}

/* ---- Strings ---- */

static void
test_simple_escapes(void **state)
{
    json_t *j = must_parse("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"");

    (void)state;
    assert_string_bytes(j, "a\"b\\c/d\be\ff\ng\rh\ti", 17);
    json_decref(j);
    j = must_parse("\"\\u0041\\u00E9\\u20ac\\uFFFF\\u0080\\u07ff\\u0800\"");
    assert_string_bytes(j, "A\xc3\xa9\xe2\x82\xac\xef\xbf\xbf\xc2\x80\xdf\xbf\xe0\xa0\x80", 16);
    json_decref(j);
    j = must_parse("\"\\uDBFF\\uDFFF\\uD800\\uDC00\"");
    assert_string_bytes(j, "\xf4\x8f\xbf\xbf\xf0\x90\x80\x80", 8);
    json_decref(j);
    j = must_parse("\"\"");
    assert_string_bytes(j, "", 0);
    json_decref(j);

    must_fail("\"\\x\"");
    must_fail("\"\\'\"");
    must_fail("\"\\U0041\"");
    must_fail("\"\\u004\"");
    must_fail("\"\\u00G1\"");
    must_fail("\"\\u");
    must_fail("\"\\");
    must_fail("\"\\ud800\"");                  /* lone high */
    must_fail("\"\\udfff\"");                  /* lone low */
    must_fail("\"\\ude00\\ud83d\"");           /* reversed pair */
    must_fail("\"\\ud83d\\u0041\"");           /* high, then not a low */
    must_fail("\"\\ud83d\\ud83d\"");
    must_fail("\"\\ud83dx\"");
    must_fail("\"\\ud83d\\\"");
    must_fail("\"\\ud83d\\ude0\"");
    must_fail("\"\\ud83d");
}

static void
test_nul_in_strings_and_keys(void **state)
{
    json_t *j = must_parse("[\"a\\u0000b\", \"\\u0000\"]");

    (void)state;
    assert_string_bytes(json_array_get(j, 0), "a\0b", 3);
    assert_string_bytes(json_array_get(j, 1), "\0", 1);
    json_decref(j);
    must_fail("{\"a\\u0000b\": 1}");
    must_fail("{\"\\u0000\": 1}");
    j = must_parse("{\"k\": \"\\u0000\"}");
    assert_string_bytes(json_object_get(j, "k"), "\0", 1);
    json_decref(j);
    must_fail_n("\"a\0b\"", 5);                /* a raw NUL is a control byte */
}

static void
test_utf8_validation(void **state)
{
    static const char *good[] = {
        "\"\xc2\x80\"", "\"\xdf\xbf\"", "\"\xe0\xa0\x80\"", "\"\xed\x9f\xbf\"",
        "\"\xee\x80\x80\"", "\"\xef\xbf\xbf\"", "\"\xf0\x90\x80\x80\"", "\"\xf4\x8f\xbf\xbf\"",
        "\"\xf3\xbf\xbf\xbf\"", "\"\x7f\"", "\"\x20~\"",
    };
    static const char *bad[] = {
        "\"\x80\"", "\"\xbf\"", "\"\xc0\x80\"", "\"\xc1\xbf\"", "\"\xc2\"", "\"\xc2\x7f\"",
        "\"\xc2\xc0\"", "\"\xe0\x80\x80\"", "\"\xe0\x9f\xbf\"", "\"\xed\xa0\x80\"",
        "\"\xed\xbf\xbf\"", "\"\xe1\x80\"", "\"\xe1\x80\x7f\"", "\"\xf0\x80\x80\x80\"",
        "\"\xf0\x8f\xbf\xbf\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"",
        "\"\xf0\x90\x80\"", "\"\xf8\x88\x80\x80\x80\"", "\"\xfe\"", "\"\xff\"",
        "\"\xf0\x90\x80", "\"\xe2\x82", "\xc3\xa9", "[\xc3\xa9]",
    };
    char s[4];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        json_decref(must_parse(good[i]));
        assert_true(same_as_jansson(good[i], strlen(good[i])));
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        must_fail(bad[i]);
        assert_false(same_as_jansson(bad[i], strlen(bad[i])));
    }
    for (i = 0; i < 0x20; i++) {
        s[0] = '"';
        s[1] = (char)i;
        s[2] = '"';
        must_fail_n(s, 3);
        assert_false(same_as_jansson(s, 3));
    }
}

/* The eight-byte scanner must stop at a special byte wherever it sits in the word. */
static void
test_special_byte_at_every_position(void **state)
{
    static const char special[] = {'"', '\\', '\x01', '\x1f', '\x80', '\xc3', '\xff', 0};
    char doc[64];
    size_t pos, k;

    (void)state;
    for (k = 0; k < sizeof(special); k++) {
        for (pos = 1; pos < 40; pos++) {
            memset(doc, 'a', sizeof(doc));
            doc[0] = '"';
            doc[pos] = special[k];
            doc[50] = '"';
            same_as_jansson(doc, 51);
            same_as_jansson(doc, pos + 1);
            if (special[k] == '"')
                assert_false(same_as_jansson(doc, 51));  /* trailing a... after the string */
        }
    }
    for (pos = 1; pos < 40; pos++) {
        json_t *j;

        memset(doc, 'b', sizeof(doc));
        doc[0] = '"';
        memcpy(doc + pos, "\xc3\xa9", 2);
        doc[pos + 20] = '"';
        j = must_parse_n(doc, pos + 21);
        assert_int_equal(json_string_length(j), pos + 19);
        assert_memory_equal(json_string_value(j) + pos - 1, "\xc3\xa9", 2);
        json_decref(j);
    }
}

/* Escaped keys wait in the scratch buffer while their values are parsed; values long
 * enough to move the buffer to the heap and grow it must not disturb the keys. */
static void
test_escaped_keys_survive_scratch_growth(void **state)
{
    size_t cap = 64 * 1024, n = 0, i, r;
    char *doc = malloc(cap), key[32], want[32];
    json_t *j, *inner, *v;

    (void)state;
    n += (size_t)sprintf(doc + n, "{");
    for (i = 0; i < 6; i++) {
        n += (size_t)sprintf(doc + n, "%s\"k\\u00e9y%zu\\n\": {\"in\\tner\": \"", i ? "," : "",
                             i);
        for (r = 0; r < (i + 1) * 700; r++)
            n += (size_t)sprintf(doc + n, "%s", r % 3 ? "x" : "\\u00fc");
        n += (size_t)sprintf(doc + n, "\", \"n\\\"um\": 1.%0*d5}", (int)(i * 40), 0);
    }
    n += (size_t)sprintf(doc + n, "}");
    assert_true(n < cap);

    j = must_parse_n(doc, n);
    assert_int_equal(json_object_size(j), 6);
    for (i = 0; i < 6; i++) {
        snprintf(key, sizeof(key), "k\xc3\xa9y%zu\n", i);
        inner = json_object_get(j, key);
        assert_non_null(inner);
        v = json_object_get(inner, "in\tner");
        assert_non_null(v);
        assert_int_equal(json_string_length(v), (i + 1) * 700 + ((i + 1) * 700 + 2) / 3);
        snprintf(want, sizeof(want), "\xc3\xbcxx\xc3\xbc");
        assert_memory_equal(json_string_value(v), want, 6);
        assert_true(json_is_real(json_object_get(inner, "n\"um")));
    }
    assert_true(same_as_jansson(doc, n));
    json_decref(j);
    free(doc);
}

/* ---- Numbers ---- */

static void
assert_int_doc(const char *s, json_int_t want)
{
    json_t *j = must_parse(s);

    assert_true(json_is_integer(j));
    assert_true(json_integer_value(j) == want);
    assert_true(same_as_jansson(s, strlen(s)));
    json_decref(j);
}

static void
assert_real_doc(const char *s, double want)
{
    json_t *j = must_parse(s);

    assert_true(json_is_real(j));
    assert_true(json_real_value(j) == want);
    json_decref(j);
}

static void
test_numbers(void **state)
{
    static const char *bad[] = {
        "01", "-01", "00", "1.", "1.e3", ".5", "+1", "-", "--1", "-a", "1e", "1e+", "1E-",
        "0x10", "1.5.5", "Infinity", "-Infinity", "NaN", "1e400", "-1e400", "1e309",
        "[1e400]", "1_000", "1,", "- 1", "0.e1", "1ee5",
    };
    char big[1200];
    size_t i;

    (void)state;
    assert_int_doc("0", 0);
    assert_int_doc("-0", 0);
    assert_int_doc("7", 7);
    assert_int_doc("-42", -42);
    assert_int_doc("999999999999999999", 999999999999999999LL);
    assert_int_doc("9223372036854775807", INT64_MAX);
    assert_int_doc("-9223372036854775807", -INT64_MAX);
    assert_int_doc("-9223372036854775808", INT64_MIN);

    /* Integers past json_int_t become reals (jansson rejects them). */
    assert_real_doc("9223372036854775808", 9223372036854775808.0);
    assert_real_doc("-9223372036854775809", -9223372036854775809.0);
    assert_real_doc("18446744073709551616", 18446744073709551616.0);
    assert_real_doc("12345678901234567890123", 12345678901234567890123.0);
    assert_true(same_as_jansson("9223372036854775808", 19));

    assert_real_doc("1.5", 1.5);
    assert_real_doc("-0.0", 0.0);
    assert_real_doc("1E2", 100.0);
    assert_real_doc("1e+2", 100.0);
    assert_real_doc("25e-2", 0.25);
    assert_real_doc("0.1", 0.1);
    assert_real_doc("1e-400", 0.0);            /* underflow is fine, as in jansson */
    assert_real_doc("4.9406564584124654e-324", 4.9406564584124654e-324);
    assert_real_doc("1.7976931348623157e308", 1.7976931348623157e308);
    assert_real_doc("123456789012345678901234567890.5", 123456789012345678901234567890.5);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        must_fail(bad[i]);
        assert_false(same_as_jansson(bad[i], strlen(bad[i])));
    }

    /* Long numbers go through the scratch buffer: 0.000...0001 and 1000-digit integers. */
    big[0] = '0';
    big[1] = '.';
    memset(big + 2, '0', 1000);
    big[1002] = '1';
    big[1003] = '\0';
    assert_real_doc(big, strtod(big, NULL));
    assert_true(same_as_jansson(big, 1003));
    memset(big, '9', 300);
    big[300] = '\0';
    assert_real_doc(big, 1e300);
    memset(big, '9', 400);                     /* 1e400 as an integer: out of range */
    big[400] = '\0';
    must_fail(big);
}

/* ---- Structure ---- */

static void
test_literals_and_structure(void **state)
{
    static const char *bad[] = {
        "", " ", "\t\r\n", "tru", "nul", "fals", "True", "NULL", "truex", "true false",
        "[", "]", "{", "}", "[1,]", "[,1]", "[1 2]", "{,}", "{\"a\"}", "{\"a\":}", "{\"a\" 1}",
        "{\"a\":1,}", "{1:2}", "{a:1}", "{'a':1}", "['a']", "1 x", "[1]]", "{}}", "\"a\" \"b\"",
        "\xef\xbb\xbf{}", "\f1", "\v1", "1\f", "[1,\f2]", "/* c */ 1", "\"abc", "[\"a\",",
        "{\"a\":1", "{\"a\"", "{\"a\":", "[1", "[[]", "\"\\\"",
    };
    json_t *j;
    size_t i;

    (void)state;
    j = must_parse(" \t\r\n true \n");
    assert_true(json_is_true(j));
    j = must_parse("false");
    assert_true(json_is_false(j));
    j = must_parse("null");
    assert_true(json_is_null(j));
    j = must_parse("[]");
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
    j = must_parse(" { } ");
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);
    j = must_parse("[true,false,null,[],{},\"\",0,[[{\"\":[]}]]]");
    assert_int_equal(json_array_size(j), 8);
    json_decref(j);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        must_fail(bad[i]);
        assert_false(same_as_jansson(bad[i], strlen(bad[i])));
    }
    must_fail_n("[1]\0", 4);
    must_fail_n("\0", 1);
    /* jansson accepts these (see the top of the file); a NUL is not whitespace. */
    must_fail_n("1\0", 2);
    must_fail_n("[1\0]", 4);
    must_fail_n("{\"a\":true\0}", 10);
    assert_false(same_as_jansson("[1\0, 2.5\0]", 11));
}

static void
test_duplicate_keys_last_wins(void **state)
{
    const char *s = "{\"a\": 1, \"b\": 2, \"a\": {\"x\": 3}, \"\\u0061\": [4]}";
    json_t *j = must_parse(s);

    (void)state;
    assert_int_equal(json_object_size(j), 2);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "a"), 0)), 4);
    assert_true(same_as_jansson(s, strlen(s)));
    json_decref(j);
}

static void
test_depth_cap(void **state)
{
    static char doc[300000];
    size_t n, d, i;
    json_t *j, *v;

    (void)state;
    for (d = 1; d <= SL_JSONR_MAX_DEPTH + 1; d++) {
        n = 0;
        for (i = 0; i < d; i++)
            n += (size_t)sprintf(doc + n, i % 2 ? "{\"k\":" : "[");
        n += (size_t)sprintf(doc + n, "7");
        for (i = d; i-- > 0;)
            doc[n++] = i % 2 ? '}' : ']';
        if (d <= SL_JSONR_MAX_DEPTH) {
            j = must_parse_n(doc, n);
            for (v = j, i = 0; i < d; i++)
                v = i % 2 ? json_object_get(v, "k") : json_array_get(v, 0);
            assert_int_equal(json_integer_value(v), 7);
            json_decref(j);
        } else {
            char err[128];

            assert_int_equal(sl_json_parse(doc, n, &j, err, sizeof(err)), SL_EPROTO);
            assert_null(j);
            assert_non_null(strstr(err, "deep"));
        }
        same_as_jansson(doc, n);
    }
    /* Far past the cap: rejected at the 65th bracket, no deep recursion. */
    memset(doc, '[', sizeof(doc));
    must_fail_n(doc, sizeof(doc));
    memset(doc, '{', sizeof(doc));
    must_fail_n(doc, sizeof(doc));
}

static void
test_err_buffer_contract(void **state)
{
    char err[16];
    json_t *j;

    (void)state;
    assert_int_equal(sl_json_parse("[1,", 3, &j, NULL, 0), SL_EPROTO);
    assert_null(j);
    assert_int_equal(sl_json_parse(NULL, 0, &j, NULL, 0), SL_EPROTO);
    assert_null(j);
    err[0] = 'x';
    assert_int_equal(sl_json_parse("[1,", 3, &j, err, 1), SL_EPROTO);
    assert_int_equal(err[0], '\0');
    memset(err, 'x', sizeof(err));
    assert_int_equal(sl_json_parse("[1, x]", 6, &j, err, sizeof(err)), SL_EPROTO);
    assert_non_null(memchr(err, '\0', sizeof(err)));
    assert_non_null(strstr(err, "offset 4"));
    assert_int_equal(sl_json_parse("[1]", 3, &j, err, sizeof(err)), SL_OK);
    assert_int_equal(err[0], '\0');
    json_decref(j);
}

/* jansson's allocator failing at every allocation in turn: SL_ENOMEM and nothing leaked
 * (LeakSanitizer checks the latter in the sanitizer build). */
static long alloc_budget;

static void *
failing_malloc(size_t n)
{
    return alloc_budget-- > 0 ? malloc(n) : NULL;
}

static void
test_jansson_allocation_failure(void **state)
{
    long k;
    int rc = SL_ENOMEM;
    json_t *j = NULL;
    char err[64];

    (void)state;
    for (k = 0; rc == SL_ENOMEM; k++) {
        alloc_budget = k;
        json_set_alloc_funcs(failing_malloc, free);
        rc = sl_json_parse(batch_body, strlen(batch_body), &j, err, sizeof(err));
        json_set_alloc_funcs(malloc, free);
        if (rc == SL_ENOMEM) {
            assert_null(j);
            assert_non_null(strstr(err, "out of memory"));
        }
    }
    assert_int_equal(rc, SL_OK);
    assert_true(k > 20);
    assert_true(same_as_jansson(batch_body, strlen(batch_body)));
    json_decref(j);
}

/* ---- Truncation and splits ---- */

/* Every proper prefix of a document whose value is an array or object fails cleanly;
 * every prefix, and the document read from inside a larger buffer, agrees with jansson. */
static void
check_prefixes(const char *doc, size_t n)
{
    json_t *j;
    size_t k;

    for (k = 0; k < n; k++) {
        must_fail_n(doc, k);
        same_as_jansson(doc, k);
    }
    j = must_parse_n(doc, n);
    json_decref(j);
    assert_true(same_as_jansson(doc, n));
}

static void
test_every_truncation_fails(void **state)
{
    (void)state;
    check_prefixes(boto_body, strlen(boto_body));
    check_prefixes(raw_body, strlen(raw_body));
    check_prefixes(batch_body, strlen(batch_body));
    check_prefixes(receive_body, strlen(receive_body));
    {
        static const char mixed[] = "[\"\\ud83d\\ude00\", -1.5e+10, true, null, {\"\\u00e9\": []}]";

        check_prefixes(mixed, strlen(mixed));
    }
    /* A value read from the front of a larger buffer stops at len. */
    {
        json_t *j;

        assert_int_equal(sl_json_parse("12345", 3, &j, NULL, 0), SL_OK);
        assert_int_equal(json_integer_value(j), 123);
        json_decref(j);
        assert_int_equal(sl_json_parse("1.5e10", 4, &j, NULL, 0), SL_EPROTO);
        assert_int_equal(sl_json_parse("truest", 4, &j, NULL, 0), SL_OK);
        assert_int_equal(sl_json_parse("\"ab\"", 3, &j, NULL, 0), SL_EPROTO);
        assert_int_equal(sl_json_parse("[1,2]", 4, &j, NULL, 0), SL_EPROTO);
    }
}

/* ---- Differential against jansson ---- */

/* A random code point in a mix of ranges, written as UTF-8; never a surrogate. */
static size_t
rand_char(uint64_t *st, char *o, bool allow_nul)
{
    static const char ascii_specials[] = "\"\\/\b\f\n\r\t\x01\x1f\x7f ";
    uint32_t cp;

    switch (rnd(st) % 10) {
    case 0:
        cp = (uint32_t)(unsigned char)ascii_specials[rnd(st) % (sizeof(ascii_specials) - 1)];
        break;
    case 1:
        cp = (uint32_t)(rnd(st) % 0x20);
        if (cp == 0 && !allow_nul)
            cp = 1;
        break;
    case 2:
        cp = 0x80 + (uint32_t)(rnd(st) % 0x780);
        break;
    case 3:
        cp = 0x800 + (uint32_t)(rnd(st) % (0x10000 - 0x800));
        if (cp >= 0xD800 && cp <= 0xDFFF)
            cp = 0xFFFD;
        break;
    case 4:
        cp = 0x10000 + (uint32_t)(rnd(st) % 0x100000);
        break;
    default:
        cp = 0x20 + (uint32_t)(rnd(st) % 0x5f);
        break;
    }
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static size_t
rand_text(uint64_t *st, char *o, size_t max_chars, bool allow_nul)
{
    size_t n = 0, i, len = rnd(st) % 4 == 0 ? rnd(st) % (max_chars + 1) : rnd(st) % 12;

    for (i = 0; i < len; i++)
        n += rand_char(st, o + n, allow_nul);
    return n;
}

static json_t *
rand_tree(uint64_t *st, int depth)
{
    static const json_int_t ints[] = {0, 1, -1, 9, 10, -10, 255, 65536, INT64_MAX, INT64_MIN,
                                      INT64_MAX - 1, INT64_MIN + 1, 999999999999999999LL};
    char buf[4 * 300];
    json_t *j;
    uint64_t bits;
    double d;
    size_t i, n, len;

    switch (rnd(st) % (depth >= 6 ? 5 : 7)) {
    case 0:
        return rnd(st) % 3 == 0 ? json_null() : json_boolean(rnd(st) % 2);
    case 1:
        if (rnd(st) % 2)
            return json_integer(ints[rnd(st) % (sizeof(ints) / sizeof(ints[0]))]);
        return json_integer((json_int_t)(rnd(st) >> (rnd(st) % 64)) * (rnd(st) % 2 ? 1 : -1));
    case 2:
        do {
            bits = rnd(st);
            memcpy(&d, &bits, sizeof(d));
        } while (d != d || d - d != 0);         /* finite only */
        if (rnd(st) % 2)
            d = (double)(int64_t)(rnd(st) % 2000000 - 1000000) / 1000.0;
        return json_real(d);
    case 3:
    case 4:
        len = rand_text(st, buf, 300, true);
        return json_stringn_nocheck(buf, len);
    case 5:
        j = json_array();
        n = rnd(st) % 6;
        for (i = 0; i < n; i++)
            json_array_append_new(j, rand_tree(st, depth + 1));
        return j;
    default:
        j = json_object();
        n = rnd(st) % 6;
        for (i = 0; i < n; i++) {
            len = rand_text(st, buf, 20, false);
            json_object_setn_new_nocheck(j, buf, len, rand_tree(st, depth + 1));
        }
        return j;
    }
}

static size_t
mutate(uint64_t *st, char *s, size_t n, size_t cap)
{
    static const char interesting[] = "\"\\{}[],:0-+.eEu \t\nx1\x80\xc0\xc3\xed\xf4\xff\x01";
    size_t pos = n ? rnd(st) % n : 0, k;

    switch (rnd(st) % 6) {
    case 0:                                     /* replace a byte */
        if (n)
            s[pos] = rnd(st) % 2 ? (char)rnd(st) : interesting[rnd(st) % (sizeof(interesting) - 1)];
        return n;
    case 1:                                     /* insert a byte */
        if (n + 1 > cap)
            return n;
        memmove(s + pos + 1, s + pos, n - pos);
        s[pos] = interesting[rnd(st) % (sizeof(interesting) - 1)];
        return n + 1;
    case 2:                                     /* delete a byte */
        if (!n)
            return n;
        memmove(s + pos, s + pos + 1, n - pos - 1);
        return n - 1;
    case 3:                                     /* truncate */
        return pos;
    case 4:                                     /* duplicate a chunk */
        k = rnd(st) % 16;
        if (pos + k > n || n + k > cap)
            return n;
        memmove(s + pos + k, s + pos, n - pos);
        return n + k;
    default:                                    /* flip a bit */
        if (n)
            s[pos] ^= (char)(1u << (rnd(st) % 8));
        return n;
    }
}

static void
test_differential_random(void **state)
{
    static const size_t flags[] = {
        JSON_ENCODE_ANY,
        JSON_ENCODE_ANY | JSON_COMPACT,
        JSON_ENCODE_ANY | JSON_INDENT(2),
        JSON_ENCODE_ANY | JSON_ENSURE_ASCII,
        JSON_ENCODE_ANY | JSON_ENSURE_ASCII | JSON_COMPACT | JSON_ESCAPE_SLASH,
        JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_INDENT(1) | JSON_ENSURE_ASCII,
        JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(6),
    };
    uint64_t st = seed_from_env("differential_random");
    size_t trees = 0, docs = 0, accepted = 0, i, f, m, n, cap;
    char *buf;

    (void)state;
    for (i = 0; i < 1500; i++) {
        json_t *t = rand_tree(&st, 0), *j;

        trees++;
        for (f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
            char *text = json_dumps(t, flags[f]);

            assert_non_null(text);
            n = strlen(text);
            j = must_parse_n(text, n);
            if (!(flags[f] & JSON_REAL_PRECISION(31)))
                assert_true(json_equal(j, t));  /* round trip */
            json_decref(j);
            accepted += same_as_jansson(text, n);
            docs++;
            if (i % 50 == 0 && n < 1500 && (json_is_array(t) || json_is_object(t)))
                check_prefixes(text, n);

            cap = n + 64;
            buf = malloc(cap);
            for (m = 0; m < 12; m++) {
                size_t k = 1 + rnd(&st) % 3, len = n;

                memcpy(buf, text, n);
                while (k--)
                    len = mutate(&st, buf, len, cap);
                accepted += same_as_jansson(buf, len);
                docs++;
            }
            free(buf);
            free(text);
        }
        json_decref(t);
    }
    printf("# %zu trees, %zu documents, %zu accepted\n", trees, docs, accepted);
}

/* ---- Speed ---- */

static double
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A SendMessageBatch body as botocore writes it: 10 entries of 256-byte bodies, one
 * string attribute each. */
static size_t
make_batch(char *o, size_t cap)
{
    size_t n = 0, i, k;

    n += (size_t)snprintf(o + n, cap - n,
                          "{\"QueueUrl\": \"http://127.0.0.1:4599/000000000000/bench\", "
                          "\"Entries\": [");
    for (i = 0; i < 10; i++) {
        n += (size_t)snprintf(o + n, cap - n, "%s{\"Id\": \"msg-%zu\", \"MessageBody\": \"",
                              i ? ", " : "", i);
        for (k = 0; k < 256; k++)
            o[n++] = "abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.:"[
                (k * 7 + i) % 67];
        n += (size_t)snprintf(o + n, cap - n,
                              "\", \"MessageAttributes\": {\"trace\": {\"DataType\": "
                              "\"String\", \"StringValue\": \"t-%zu-0123456789abcdef\"}}}",
                              i);
    }
    n += (size_t)snprintf(o + n, cap - n, "]}");
    assert_true(n < cap);
    return n;
}

static void
test_speed_against_jansson(void **state)
{
    static char body[8192];
    size_t n = make_batch(body, sizeof(body)), i, iters;
    double t0, ours, theirs;
    json_error_t je;
    json_t *a, *b;

    (void)state;
    a = must_parse_n(body, n);
    b = json_loadb(body, n, 0, &je);
    assert_non_null(b);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    if (getenv("SLUICE_BENCH") == NULL) {
        printf("# set SLUICE_BENCH=1 to time the readers\n");
        return;
    }
    iters = 20000;
    t0 = now_ns();
    for (i = 0; i < iters; i++) {
        sl_json_parse(body, n, &a, NULL, 0);
        json_decref(a);
    }
    ours = (now_ns() - t0) / (double)iters;
    t0 = now_ns();
    for (i = 0; i < iters; i++) {
        b = json_loadb(body, n, 0, &je);
        json_decref(b);
    }
    theirs = (now_ns() - t0) / (double)iters;
    printf("# SendMessageBatch body %zu bytes: sl_json_parse %.0f ns (%.0f ns/KB), "
           "json_loadb %.0f ns (%.0f ns/KB), %.1fx\n",
           n, ours, ours * 1024 / (double)n, theirs, theirs * 1024 / (double)n, theirs / ours);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_captured_escaped_body),
        cmocka_unit_test(test_captured_raw_utf8_body),
        cmocka_unit_test(test_captured_batch_and_receive),
        cmocka_unit_test(test_simple_escapes),
        cmocka_unit_test(test_nul_in_strings_and_keys),
        cmocka_unit_test(test_utf8_validation),
        cmocka_unit_test(test_special_byte_at_every_position),
        cmocka_unit_test(test_escaped_keys_survive_scratch_growth),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_literals_and_structure),
        cmocka_unit_test(test_duplicate_keys_last_wins),
        cmocka_unit_test(test_depth_cap),
        cmocka_unit_test(test_err_buffer_contract),
        cmocka_unit_test(test_jansson_allocation_failure),
        cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_differential_random),
        cmocka_unit_test(test_speed_against_jansson),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
