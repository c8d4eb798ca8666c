/* test_jsonw.c - the JSON reply writer must produce exactly what jansson's
 * json_dumps(JSON_COMPACT) does, on hand-picked strings and on random trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <jansson.h>

#include "jsonw.h"

static void
assert_same_as_jansson(const json_t *j)
{
    struct evbuffer *b = evbuffer_new();
    char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t n;
    const char *got;

    assert_non_null(want);
    sl_json_write(b, j);
    n = evbuffer_get_length(b);
    got = (const char *)evbuffer_pullup(b, -1);
    if (n != strlen(want) || memcmp(got, want, n) != 0)
        fail_msg("got  %.*s\nwant %s", (int)n, got ? got : "", want);
    free(want);
    evbuffer_free(b);
}

static void
test_strings(void **state)
{
    static const char *const cases[] = {
        "", "plain", "quote\" backslash\\ slash/", "a\r\nb\tc\bd\fe", "\x01\x1f\x7f",
        "h\xc3\xa9llo w\xc3\xb6rld & = + ~*'()! \xf0\x9f\x98\x80 a/b?c#d%",
        "exactly8", "seven77", "0123456789abcdef\"0123456789abcdef\\", "\xe2\x80\xa8",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *s = json_string(cases[i]);

        assert_non_null(s);
        assert_same_as_jansson(s);
        json_decref(s);
    }
}

static uint64_t rng;

static uint32_t
next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static json_t *
random_string(void)
{
    char buf[64];
    size_t n = next() % 40, o = 0;

    while (o < n) {
        uint32_t k = next() % 10;

        if (k < 6)
            buf[o++] = (char)(0x20 + next() % 95);            /* printable ASCII */
        else if (k < 8)
            buf[o++] = (char)(next() % 0x20);                  /* control bytes */
        else if (o + 2 <= sizeof(buf)) {
            buf[o++] = (char)0xc3;                             /* é */
            buf[o++] = (char)0xa9;
        }
    }
    return json_stringn_nocheck(buf, o);
}

static json_t *
random_tree(int depth)
{
    uint32_t k = next() % (depth > 3 ? 5 : 7);

    switch (k) {
    case 0: return random_string();
    case 1: return json_integer((json_int_t)next() - (json_int_t)(next() % 2) * 3000000000LL);
    case 2: return json_true();
    case 3: return json_null();
    case 4: return json_false();
    case 5: {
        json_t *a = json_array();

        for (uint32_t i = next() % 5; i > 0; i--)
            json_array_append_new(a, random_tree(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();

        for (uint32_t i = next() % 5; i > 0; i--) {
            char key[16];

            snprintf(key, sizeof(key), "k%u\"\n", next() % 100);
            json_object_set_new(o, key, random_tree(depth + 1));
        }
        return o;
    }
    }
}

static void
test_random_trees(void **state)
{
    const char *env = getenv("SLUICE_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);

    (void)state;
    printf("test_jsonw: seed %llu (set SLUICE_SEED to repeat)\n", (unsigned long long)seed);
    rng = seed * 2654435761ULL + 1;
    for (int i = 0; i < 20000; i++) {
        json_t *t = random_tree(0);

        assert_same_as_jansson(t);
        json_decref(t);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_random_trees),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
