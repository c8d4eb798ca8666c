/* test_fnlog.c - the ring of function output lines: bounds by lines and bytes,
 * sequence numbers, tail/after selection and the count of missed lines, plus a
 * differential test against a dumb model (every line ever appended, in an array) over
 * random operations. SLUICE_SEED replays a run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../consumers/fnlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
append_text(sl_fnlog_t *l, const char *s)
{
    sl__fnlog_append(l, 1700000000000, 1, SL_FNLOG_STDOUT, "req", s, strlen(s));
}

static void
test_empty(void **state)
{
    sl_fnlog_t *l = sl__fnlog_create(0, 0);
    size_t first = 99;
    uint64_t missed = 99;

    (void)state;
    assert_int_equal(sl__fnlog_count(l), 0);
    assert_int_equal(sl__fnlog_last_seq(l), 0);
    assert_int_equal(sl__fnlog_select(l, 0, SIZE_MAX, &first, &missed), 0);
    assert_int_equal(missed, 0);
    assert_null(sl__fnlog_at(l, 0));
    sl__fnlog_destroy(l);
    sl__fnlog_destroy(NULL);
}

static void
test_fields_are_copied(void **state)
{
    sl_fnlog_t *l = sl__fnlog_create(4, 100);
    char text[] = "hello\0world";
    const sl_fnlog_line_t *o;
    char req[64];

    (void)state;
    memset(req, 'r', sizeof(req) - 1);
    req[sizeof(req) - 1] = '\0';
    sl__fnlog_append(l, 42, 7, SL_FNLOG_STDERR, req, text, 11);
    text[0] = 'X';
    sl__fnlog_append(l, 43, 8, SL_FNLOG_STDOUT, NULL, "", 0);
    o = sl__fnlog_at(l, 0);
    assert_int_equal(o->seq, 1);
    assert_int_equal(o->time_ms, 42);
    assert_int_equal(o->instance, 7);
    assert_int_equal(o->stream, SL_FNLOG_STDERR);
    assert_int_equal(strlen(o->request), SL_FNLOG_REQUEST_LEN);    /* cut, not overrun */
    assert_int_equal(o->len, 11);
    assert_memory_equal(o->text, "hello\0world", 11);
    assert_int_equal(o->text[11], '\0');
    o = sl__fnlog_at(l, 1);
    assert_int_equal(o->seq, 2);
    assert_string_equal(o->request, "");
    assert_int_equal(o->len, 0);
    assert_string_equal(o->text, "");
    sl__fnlog_destroy(l);
}

static void
test_line_bound_drops_oldest(void **state)
{
    sl_fnlog_t *l = sl__fnlog_create(3, 1000);
    size_t first, n;
    uint64_t missed;
    char buf[16];

    (void)state;
    for (int i = 1; i <= 5; i++) {
        snprintf(buf, sizeof(buf), "line %d", i);
        append_text(l, buf);
    }
    assert_int_equal(sl__fnlog_count(l), 3);
    assert_int_equal(sl__fnlog_last_seq(l), 5);
    assert_string_equal(sl__fnlog_at(l, 0)->text, "line 3");
    assert_int_equal(sl__fnlog_at(l, 0)->seq, 3);
    assert_string_equal(sl__fnlog_at(l, 2)->text, "line 5");
    /* after 1: lines 2 was dropped, 3..5 are there */
    n = sl__fnlog_select(l, 1, SIZE_MAX, &first, &missed);
    assert_int_equal(n, 3);
    assert_int_equal(first, 0);
    assert_int_equal(missed, 1);
    /* after 4: only 5 */
    n = sl__fnlog_select(l, 4, SIZE_MAX, &first, &missed);
    assert_int_equal(n, 1);
    assert_int_equal(sl__fnlog_at(l, first)->seq, 5);
    assert_int_equal(missed, 0);
    /* after the newest, and beyond it: nothing */
    assert_int_equal(sl__fnlog_select(l, 5, SIZE_MAX, &first, &missed), 0);
    assert_int_equal(sl__fnlog_select(l, 500, SIZE_MAX, &first, &missed), 0);
    assert_int_equal(missed, 0);
    /* tail */
    n = sl__fnlog_select(l, 0, 2, &first, &missed);
    assert_int_equal(n, 2);
    assert_int_equal(sl__fnlog_at(l, first)->seq, 4);
    assert_int_equal(sl__fnlog_select(l, 0, 0, &first, &missed), 0);
    sl__fnlog_destroy(l);
}

static void
test_byte_bound(void **state)
{
    sl_fnlog_t *l = sl__fnlog_create(100, 10);
    char big[32];

    (void)state;
    append_text(l, "aaaa");
    append_text(l, "bbbb");
    assert_int_equal(sl__fnlog_bytes(l), 8);
    append_text(l, "cccc");             /* 12 > 10: "aaaa" goes */
    assert_int_equal(sl__fnlog_count(l), 2);
    assert_int_equal(sl__fnlog_bytes(l), 8);
    assert_string_equal(sl__fnlog_at(l, 0)->text, "bbbb");
    memset(big, 'z', sizeof(big));      /* longer than the whole bound: cut to it */
    sl__fnlog_append(l, 0, 1, SL_FNLOG_STDOUT, NULL, big, sizeof(big));
    assert_int_equal(sl__fnlog_count(l), 1);
    assert_int_equal(sl__fnlog_at(l, 0)->len, 10);
    assert_int_equal(sl__fnlog_bytes(l), 10);
    assert_int_equal(sl__fnlog_at(l, 0)->seq, 4);
    sl__fnlog_destroy(l);
}

/* ---- Differential test against every line ever appended ---- */

typedef struct model_line {
    uint64_t seq;
    size_t len;
    unsigned tag;
} model_line_t;

static void
check_against_model(const sl_fnlog_t *l, const model_line_t *all, size_t nall, size_t max_lines,
                    size_t max_bytes, uint64_t after, size_t tail)
{
    size_t held = 0, bytes = 0, first, n, want_first, want_n;
    uint64_t missed, want_missed, oldest;

    /* What the ring must hold: the longest suffix within both bounds. */
    while (held < nall && held < max_lines && bytes + all[nall - 1 - held].len <= max_bytes) {
        bytes += all[nall - 1 - held].len;
        held++;
    }
    if (held == 0 && nall > 0) {        /* the newest alone always stays */
        held = 1;
        bytes = all[nall - 1].len;
    }
    assert_int_equal(sl__fnlog_count(l), held);
    assert_int_equal(sl__fnlog_bytes(l), bytes);
    assert_int_equal(sl__fnlog_last_seq(l), nall);
    for (size_t i = 0; i < held; i++) {
        const sl_fnlog_line_t *o = sl__fnlog_at(l, i);
        const model_line_t *m = &all[nall - held + i];

        assert_int_equal(o->seq, m->seq);
        assert_int_equal(o->len, m->len);
        assert_int_equal(o->instance, m->tag);
    }
    oldest = held ? all[nall - held].seq : nall + 1;
    want_missed = after > 0 && after + 1 < oldest ? oldest - after - 1 : 0;
    want_first = 0;
    want_n = 0;
    for (size_t i = 0; i < held; i++) {
        if (all[nall - held + i].seq > after) {
            if (want_n == 0)
                want_first = i;
            want_n++;
        }
    }
    if (tail < want_n) {
        want_first += want_n - tail;
        want_n = tail;
    }
    n = sl__fnlog_select(l, after, tail, &first, &missed);
    assert_int_equal(n, want_n);
    if (n)
        assert_int_equal(first, want_first);
    assert_int_equal(missed, want_missed);
}

static void
test_random_against_model(void **state)
{
    const char *env = getenv("SLUICE_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
    static char text[300];

    (void)state;
    printf("test_fnlog seed=%u (SLUICE_SEED replays)\n", seed);
    srand(seed);
    memset(text, 't', sizeof(text));
    for (int round = 0; round < 40; round++) {
        size_t max_lines = 1 + (size_t)rand() % 20, max_bytes = 1 + (size_t)rand() % 400;
        sl_fnlog_t *l = sl__fnlog_create(max_lines, max_bytes);
        model_line_t *all = calloc(2000, sizeof(*all));
        size_t nall = 0;

        for (int op = 0; op < 2000; op++) {
            if (rand() % 3 != 0) {
                size_t len = (size_t)rand() % (rand() % 8 == 0 ? sizeof(text) : 40);
                unsigned tag = (unsigned)rand();

                sl__fnlog_append(l, op, tag, SL_FNLOG_STDOUT, NULL, text, len);
                all[nall].seq = nall + 1;
                all[nall].len = len > max_bytes ? max_bytes : len;
                all[nall].tag = tag;
                nall++;
            } else {
                uint64_t after = nall ? (uint64_t)rand() % (nall + 3) : (uint64_t)rand() % 3;
                size_t tail = rand() % 2 ? SIZE_MAX : (size_t)rand() % 25;

                check_against_model(l, all, nall, max_lines, max_bytes, after, tail);
            }
        }
        check_against_model(l, all, nall, max_lines, max_bytes, 0, SIZE_MAX);
        free(all);
        sl__fnlog_destroy(l);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_fields_are_copied),
        cmocka_unit_test(test_line_bound_drops_oldest),
        cmocka_unit_test(test_byte_bound),
        cmocka_unit_test(test_random_against_model),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
