/* test_strmap.c - the string-keyed hash map: put/get/del/replace, iteration, growth,
 * backward-shift deletion inside and across the wrap-around of a probe run (keys are
 * picked by the home slot the map itself gives them), and a differential run against a
 * linearly scanned array over random operations. The seed comes from SLUICE_SEED (or
 * the time) and is printed, so a failing run can be replayed. */
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

#include "strmap.h"

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

/* Linear probing without tombstones: between an entry's home slot and the slot it sits
 * in, every slot is occupied (else a lookup would stop early). Also counts entries. */
static void
check_probe_invariant(const sl_strmap_t *m)
{
    size_t used = 0;

    for (size_t j = 0; j < m->cap; j++) {
        const sl_strmap_slot_t *s = &m->slots[j];

        if (s->key == NULL)
            continue;
        used++;
        for (size_t i = s->hash & (m->cap - 1); i != j; i = (i + 1) & (m->cap - 1))
            assert_non_null(m->slots[i].key);
    }
    assert_int_equal(used, m->n);
    if (m->cap)
        assert_true(m->n < m->cap);             /* an empty slot ends every probe */
}

static void
test_empty_map(void **state)
{
    sl_strmap_t m;
    size_t pos = 0;
    const char *k;
    void *v;

    (void)state;
    sl__strmap_init(&m);
    assert_null(sl__strmap_get(&m, "x"));
    assert_null(sl__strmap_del(&m, "x"));
    assert_false(sl__strmap_next(&m, &pos, &k, &v));
    sl__strmap_deinit(&m);
    sl__strmap_deinit(&m);                      /* deinit leaves an empty map */
}

static void
test_put_get_del_replace(void **state)
{
    sl_strmap_t m;
    int a = 1, b = 2, c = 3;
    char key[8];

    (void)state;
    sl__strmap_init(&m);
    assert_null(sl__strmap_put(&m, "alpha", &a));
    assert_null(sl__strmap_put(&m, "beta", &b));
    assert_null(sl__strmap_put(&m, "", &c));             /* the empty key is a key */
    assert_int_equal(m.n, 3);
    assert_ptr_equal(sl__strmap_get(&m, "alpha"), &a);
    assert_ptr_equal(sl__strmap_get(&m, "beta"), &b);
    assert_ptr_equal(sl__strmap_get(&m, ""), &c);
    assert_null(sl__strmap_get(&m, "alph"));
    assert_null(sl__strmap_get(&m, "alphaa"));
    /* Replace returns the previous value and does not add an entry. */
    assert_ptr_equal(sl__strmap_put(&m, "alpha", &c), &a);
    assert_int_equal(m.n, 3);
    assert_ptr_equal(sl__strmap_get(&m, "alpha"), &c);
    /* Keys are copied: the caller's buffer may change. */
    strcpy(key, "gamma");
    sl__strmap_put(&m, key, &a);
    strcpy(key, "XXXXX");
    assert_ptr_equal(sl__strmap_get(&m, "gamma"), &a);
    assert_null(sl__strmap_get(&m, "XXXXX"));
    /* Delete returns the value; a second delete finds nothing. */
    assert_ptr_equal(sl__strmap_del(&m, "beta"), &b);
    assert_null(sl__strmap_del(&m, "beta"));
    assert_null(sl__strmap_get(&m, "beta"));
    assert_int_equal(m.n, 3);
    /* A NULL value is stored like any other. */
    assert_null(sl__strmap_put(&m, "nil", NULL));
    assert_int_equal(m.n, 4);
    assert_null(sl__strmap_del(&m, "nil"));
    assert_int_equal(m.n, 3);
    check_probe_invariant(&m);
    sl__strmap_deinit(&m);
}

static void
test_iteration_visits_each_once(void **state)
{
    enum { N = 100 };
    sl_strmap_t m;
    int vals[N], seen[N] = { 0 };
    size_t pos = 0, count = 0;
    const char *k;
    void *v;
    char key[16];

    (void)state;
    sl__strmap_init(&m);
    for (int i = 0; i < N; i++) {
        vals[i] = i;
        snprintf(key, sizeof(key), "k%d", i);
        sl__strmap_put(&m, key, &vals[i]);
    }
    for (int i = 0; i < N; i += 2) {            /* and some gone again */
        snprintf(key, sizeof(key), "k%d", i);
        sl__strmap_del(&m, key);
    }
    while (sl__strmap_next(&m, &pos, &k, &v)) {
        int i = *(int *)v;

        snprintf(key, sizeof(key), "k%d", i);
        assert_string_equal(k, key);
        assert_int_equal(i % 2, 1);
        seen[i]++;
        count++;
    }
    assert_int_equal(count, N / 2);
    for (int i = 1; i < N; i += 2)
        assert_int_equal(seen[i], 1);
    /* The value pointer is optional; the end stays the end. */
    pos = 0;
    count = 0;
    while (sl__strmap_next(&m, &pos, &k, NULL))
        count++;
    assert_int_equal(count, N / 2);
    assert_false(sl__strmap_next(&m, &pos, &k, NULL));
    sl__strmap_deinit(&m);
}

static void
test_growth_keeps_everything(void **state)
{
    enum { N = 20000 };
    sl_strmap_t m;
    char key[24];
    static int vals[N];

    (void)state;
    sl__strmap_init(&m);
    for (int i = 0; i < N; i++) {
        vals[i] = i;
        snprintf(key, sizeof(key), "message-%d", i);
        assert_null(sl__strmap_put(&m, key, &vals[i]));
    }
    assert_int_equal(m.n, N);
    assert_true((m.cap & (m.cap - 1)) == 0);   /* power of two */
    assert_true(m.n * 4 <= m.cap * 3);          /* load factor kept */
    check_probe_invariant(&m);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "message-%d", i);
        assert_ptr_equal(sl__strmap_get(&m, key), &vals[i]);
    }
    /* Delete all but every 7th, then check lookups and the invariant. */
    for (int i = 0; i < N; i++) {
        if (i % 7 == 0)
            continue;
        snprintf(key, sizeof(key), "message-%d", i);
        assert_ptr_equal(sl__strmap_del(&m, key), &vals[i]);
    }
    check_probe_invariant(&m);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "message-%d", i);
        if (i % 7 == 0)
            assert_ptr_equal(sl__strmap_get(&m, key), &vals[i]);
        else
            assert_null(sl__strmap_get(&m, key));
    }
    sl__strmap_deinit(&m);
}

/* The home slot key would have in a map of 16 slots, as the map itself computes it. */
static size_t
home16(const char *key)
{
    sl_strmap_t m;
    size_t home = 0;
    bool found = false;

    sl__strmap_init(&m);
    sl__strmap_put(&m, key, NULL);
    assert_int_equal(m.cap, 16);
    for (size_t i = 0; i < m.cap; i++) {
        if (m.slots[i].key != NULL) {
            home = i;                           /* alone in the map: at its home */
            found = true;
        }
    }
    assert_true(found);
    sl__strmap_deinit(&m);
    return home;
}

/* Fills out[0..n) with distinct keys "c<number>" whose home (in 16 slots) is want. */
static void
keys_with_home(size_t want, char (*out)[16], int n, int *next)
{
    for (int got = 0; got < n; (*next)++) {
        char key[16];

        snprintf(key, sizeof(key), "c%d", *next);
        if (home16(key) == want)
            snprintf(out[got++], 16, "%s", key);
    }
}

static size_t
slot_of(const sl_strmap_t *m, const char *key)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && strcmp(m->slots[i].key, key) == 0)
            return i;
    fail_msg("key %s not in any slot", key);
    return 0;
}

/* A probe run with mixed homes: deleting its first member must pull later members back
 * only as far as their homes allow. */
static void
test_backward_shift_mixed_homes(void **state)
{
    char h3[3][16], h4[1][16];
    int next = 0, vals[4] = { 0, 1, 2, 3 };
    sl_strmap_t m;

    (void)state;
    keys_with_home(3, h3, 3, &next);
    keys_with_home(4, h4, 1, &next);
    sl__strmap_init(&m);
    /* slots: 3:A(h3) 4:B(h3) 5:C(h4) 6:D(h3) */
    sl__strmap_put(&m, h3[0], &vals[0]);
    sl__strmap_put(&m, h3[1], &vals[1]);
    sl__strmap_put(&m, h4[0], &vals[2]);
    sl__strmap_put(&m, h3[2], &vals[3]);
    assert_int_equal(m.cap, 16);
    assert_int_equal(slot_of(&m, h3[0]), 3);
    assert_int_equal(slot_of(&m, h3[1]), 4);
    assert_int_equal(slot_of(&m, h4[0]), 5);
    assert_int_equal(slot_of(&m, h3[2]), 6);
    assert_ptr_equal(sl__strmap_del(&m, h3[0]), &vals[0]);
    check_probe_invariant(&m);
    /* B to 3, C (home 4) to 4, D to 5, slot 6 empty. */
    assert_int_equal(slot_of(&m, h3[1]), 3);
    assert_int_equal(slot_of(&m, h4[0]), 4);
    assert_int_equal(slot_of(&m, h3[2]), 5);
    assert_null(m.slots[6].key);
    assert_ptr_equal(sl__strmap_get(&m, h3[1]), &vals[1]);
    assert_ptr_equal(sl__strmap_get(&m, h4[0]), &vals[2]);
    assert_ptr_equal(sl__strmap_get(&m, h3[2]), &vals[3]);
    /* Deleting from the middle of what is left. */
    assert_ptr_equal(sl__strmap_del(&m, h4[0]), &vals[2]);
    check_probe_invariant(&m);
    assert_ptr_equal(sl__strmap_get(&m, h3[1]), &vals[1]);
    assert_ptr_equal(sl__strmap_get(&m, h3[2]), &vals[3]);
    assert_int_equal(m.n, 2);
    sl__strmap_deinit(&m);
}

/* A probe run that wraps from the last slot to the first. */
static void
test_backward_shift_wraps_around(void **state)
{
    char h14[2][16], h15[2][16], h0[1][16], h3[1][16];
    int next = 0, vals[6] = { 0, 1, 2, 3, 4, 5 };
    sl_strmap_t m;

    (void)state;
    keys_with_home(14, h14, 2, &next);
    keys_with_home(15, h15, 2, &next);
    keys_with_home(0, h0, 1, &next);
    keys_with_home(3, h3, 1, &next);
    sl__strmap_init(&m);
    /* slots: 14:a(h14) 15:b(h14) 0:c(h15) 1:d(h15) 2:e(h0) 3:f(h3) */
    sl__strmap_put(&m, h14[0], &vals[0]);
    sl__strmap_put(&m, h14[1], &vals[1]);
    sl__strmap_put(&m, h15[0], &vals[2]);
    sl__strmap_put(&m, h15[1], &vals[3]);
    sl__strmap_put(&m, h0[0], &vals[4]);
    sl__strmap_put(&m, h3[0], &vals[5]);
    assert_int_equal(m.cap, 16);
    assert_int_equal(slot_of(&m, h14[1]), 15);
    assert_int_equal(slot_of(&m, h15[0]), 0);
    assert_int_equal(slot_of(&m, h15[1]), 1);
    assert_int_equal(slot_of(&m, h0[0]), 2);
    assert_int_equal(slot_of(&m, h3[0]), 3);
    /* Hole at 14: b (h14) to 14, c (h15) to 15, d (h15) to 0, e (h0) to 1; f (home 3)
     * would move before its home and must stay at 3, leaving 2 empty. */
    assert_ptr_equal(sl__strmap_del(&m, h14[0]), &vals[0]);
    check_probe_invariant(&m);
    assert_int_equal(slot_of(&m, h14[1]), 14);
    assert_int_equal(slot_of(&m, h15[0]), 15);
    assert_int_equal(slot_of(&m, h15[1]), 0);
    assert_int_equal(slot_of(&m, h0[0]), 1);
    assert_int_equal(slot_of(&m, h3[0]), 3);
    assert_null(m.slots[2].key);
    for (int i = 1; i < 6; i++) {
        const char *k = i == 1 ? h14[1] : i == 2 ? h15[0] : i == 3 ? h15[1]
                      : i == 4 ? h0[0] : h3[0];

        assert_ptr_equal(sl__strmap_get(&m, k), &vals[i]);
    }
    /* Hole after the wrap (slot 0). */
    assert_ptr_equal(sl__strmap_del(&m, h15[1]), &vals[3]);
    check_probe_invariant(&m);
    assert_ptr_equal(sl__strmap_get(&m, h0[0]), &vals[4]);
    assert_ptr_equal(sl__strmap_get(&m, h3[0]), &vals[5]);
    assert_ptr_equal(sl__strmap_get(&m, h15[0]), &vals[2]);
    sl__strmap_deinit(&m);
}

/* ---- Differential test ---- */

#define POOL 600
#define DIFF_OPS 100000

/* Runs ops random operations over the first pool keys. A small pool keeps the table
 * small and nearly full, so probe runs are long and often wrap around. */
static void
differential(const char *name, int pool, int ops)
{
    static char keys[POOL][32];
    static bool in[POOL];
    static void *val[POOL];
    static int cells[DIFF_OPS];
    uint64_t seed = seed_from_env(name), st = seed;
    size_t model_n = 0;
    sl_strmap_t m;

    memset(in, 0, sizeof(in));
    for (int i = 0; i < POOL; i++) {
        /* short, long and near-identical keys */
        if (i % 3 == 0)
            snprintf(keys[i], sizeof(keys[i]), "%d", i);
        else if (i % 3 == 1)
            snprintf(keys[i], sizeof(keys[i]), "group-%020d", i);
        else
            snprintf(keys[i], sizeof(keys[i]), "dedup/%x/%d", i * 2654435761u, i);
    }
    sl__strmap_init(&m);
    for (int op = 0; op < ops; op++) {
        /* skewed choice so the map fills up, then drains, then fills again */
        int phase = (op / 2000) % 2;
        unsigned what = (unsigned)(rnd(&st) % 100);
        size_t i = (size_t)(rnd(&st) % (unsigned)pool);
        void *got;

        cells[op] = op;
        if (what < (phase ? 30u : 60u)) {
            got = sl__strmap_put(&m, keys[i], &cells[op]);
            if (got != (in[i] ? val[i] : NULL))
                fail_msg("seed=%llu op=%d: put %s returned %p, model %p",
                         (unsigned long long)seed, op, keys[i], got, in[i] ? val[i] : NULL);
            if (!in[i])
                model_n++;
            in[i] = true;
            val[i] = &cells[op];
        } else if (what < 80) {
            got = sl__strmap_del(&m, keys[i]);
            if (got != (in[i] ? val[i] : NULL))
                fail_msg("seed=%llu op=%d: del %s returned %p, model %p",
                         (unsigned long long)seed, op, keys[i], got, in[i] ? val[i] : NULL);
            if (in[i])
                model_n--;
            in[i] = false;
        } else {
            got = sl__strmap_get(&m, keys[i]);
            if (got != (in[i] ? val[i] : NULL))
                fail_msg("seed=%llu op=%d: get %s returned %p, model %p",
                         (unsigned long long)seed, op, keys[i], got, in[i] ? val[i] : NULL);
        }
        if (m.n != model_n)
            fail_msg("seed=%llu op=%d: map holds %zu, model %zu", (unsigned long long)seed, op,
                     m.n, model_n);
        if (op % 1000 == 999 || pool <= 64) {
            size_t pos = 0, count = 0;
            const char *k;
            void *v;

            check_probe_invariant(&m);
            while (sl__strmap_next(&m, &pos, &k, &v)) {
                int j = 0;

                while (j < pool && strcmp(keys[j], k) != 0)
                    j++;
                if (j == pool || !in[j] || val[j] != v)
                    fail_msg("seed=%llu op=%d: iteration gave %s, model disagrees",
                             (unsigned long long)seed, op, k);
                count++;
            }
            assert_int_equal(count, model_n);
            for (int j = 0; j < pool; j++)
                assert_ptr_equal(sl__strmap_get(&m, keys[j]), in[j] ? val[j] : NULL);
        }
    }
    sl__strmap_deinit(&m);
}

static void
test_differential_small_table(void **state)
{
    (void)state;
    differential("test_strmap differential pool=12", 12, DIFF_OPS / 2);
}

static void
test_differential_random(void **state)
{
    (void)state;
    differential("test_strmap differential pool=600", POOL, DIFF_OPS);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_map),
        cmocka_unit_test(test_put_get_del_replace),
        cmocka_unit_test(test_iteration_visits_each_once),
        cmocka_unit_test(test_growth_keeps_everything),
        cmocka_unit_test(test_backward_shift_mixed_homes),
        cmocka_unit_test(test_backward_shift_wraps_around),
        cmocka_unit_test(test_differential_small_table),
        cmocka_unit_test(test_differential_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
