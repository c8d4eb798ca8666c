/* test_vheap.c - the intrusive deadline heap: ordering, re-keying both ways, removal
 * from the middle, pop_due against a clock, and a differential run against a linearly
 * scanned array over random operations. The seed comes from SLUICE_SEED (or the time)
 * and is printed, so a failing run can be replayed. */
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

#include "vheap.h"

typedef struct item {
    int tag;
    sl_vheap_node_t hn;
} item_t;

static item_t *
item_of(sl_vheap_node_t *n)
{
    return n ? sl_container_of(n, item_t, hn) : NULL;
}

static void
items_init(item_t *it, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        it[i].tag = (int)i;
        sl__vheap_node_init(&it[i].hn);
    }
}

/* Every node knows its index and no child is earlier than its parent. */
static void
check_invariant(const sl_vheap_t *h)
{
    for (size_t i = 0; i < h->n; i++) {
        assert_int_equal(h->v[i]->idx, i);
        if (i > 0)
            assert_true(h->v[(i - 1) / 2]->key <= h->v[i]->key);
    }
}

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
    /* xorshift64*: the same sequence on every platform for a given seed */
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 2685821657736338717ULL;
}

static void
test_empty_heap(void **state)
{
    sl_vheap_t h;
    item_t it[1];

    (void)state;
    sl__vheap_init(&h);
    items_init(it, 1);
    assert_null(sl__vheap_peek(&h));
    assert_null(sl__vheap_pop_due(&h, INT64_MAX));
    assert_false(sl__vheap_node_is_queued(&it[0].hn));
    sl__vheap_remove(&h, &it[0].hn);             /* not queued: no-op */
    assert_int_equal(h.n, 0);
    sl__vheap_deinit(&h);
    sl__vheap_deinit(&h);                        /* deinit leaves an empty heap */
}

static void
test_pops_in_key_order(void **state)
{
    static const int64_t keys[] = { 50, 10, 90, 30, 70, 20, 80, 40, 60, 0, 100, 55 };
    const size_t n = sizeof(keys) / sizeof(keys[0]);
    sl_vheap_t h;
    item_t it[sizeof(keys) / sizeof(keys[0])];
    int64_t last = INT64_MIN;

    (void)state;
    sl__vheap_init(&h);
    items_init(it, n);
    for (size_t i = 0; i < n; i++) {
        sl__vheap_set(&h, &it[i].hn, keys[i]);
        assert_true(sl__vheap_node_is_queued(&it[i].hn));
        check_invariant(&h);
    }
    assert_int_equal(h.n, n);
    assert_int_equal(sl__vheap_peek(&h)->key, 0);
    for (size_t i = 0; i < n; i++) {
        sl_vheap_node_t *p = sl__vheap_pop_due(&h, INT64_MAX);

        assert_non_null(p);
        assert_true(p->key >= last);
        assert_false(sl__vheap_node_is_queued(p));
        assert_int_equal(p->key, keys[item_of(p)->tag]);
        last = p->key;
        check_invariant(&h);
    }
    assert_null(sl__vheap_pop_due(&h, INT64_MAX));
    sl__vheap_deinit(&h);
}

static void
test_pop_due_respects_now(void **state)
{
    sl_vheap_t h;
    item_t it[3];

    (void)state;
    sl__vheap_init(&h);
    items_init(it, 3);
    sl__vheap_set(&h, &it[0].hn, 1000);
    sl__vheap_set(&h, &it[1].hn, 2000);
    sl__vheap_set(&h, &it[2].hn, 3000);
    assert_null(sl__vheap_pop_due(&h, 999));     /* nothing due yet */
    assert_ptr_equal(sl__vheap_pop_due(&h, 1000), &it[0].hn);   /* key == now is due */
    assert_null(sl__vheap_pop_due(&h, 1999));
    assert_ptr_equal(sl__vheap_pop_due(&h, 5000), &it[1].hn);
    assert_ptr_equal(sl__vheap_pop_due(&h, 5000), &it[2].hn);
    assert_null(sl__vheap_pop_due(&h, 5000));
    assert_int_equal(h.n, 0);
    sl__vheap_deinit(&h);
}

static void
test_rekey_up_and_down(void **state)
{
    sl_vheap_t h;
    item_t it[8];

    (void)state;
    sl__vheap_init(&h);
    items_init(it, 8);
    for (int i = 0; i < 8; i++)
        sl__vheap_set(&h, &it[i].hn, 100 * (i + 1));     /* 100..800 */
    /* Last becomes first. */
    sl__vheap_set(&h, &it[7].hn, 50);
    check_invariant(&h);
    assert_ptr_equal(sl__vheap_peek(&h), &it[7].hn);
    assert_int_equal(h.n, 8);                    /* re-key, not a second insert */
    /* First becomes last. */
    sl__vheap_set(&h, &it[7].hn, 900);
    check_invariant(&h);
    assert_ptr_equal(sl__vheap_peek(&h), &it[0].hn);
    sl__vheap_set(&h, &it[0].hn, 1000);
    check_invariant(&h);
    assert_ptr_equal(sl__vheap_peek(&h), &it[1].hn);
    /* Same key again changes nothing. */
    sl__vheap_set(&h, &it[1].hn, 200);
    check_invariant(&h);
    assert_ptr_equal(sl__vheap_peek(&h), &it[1].hn);
    /* Order now: 1..6 (200..700), 7 (900), 0 (1000). */
    for (int i = 1; i <= 6; i++)
        assert_ptr_equal(sl__vheap_pop_due(&h, INT64_MAX), &it[i].hn);
    assert_ptr_equal(sl__vheap_pop_due(&h, INT64_MAX), &it[7].hn);
    assert_ptr_equal(sl__vheap_pop_due(&h, INT64_MAX), &it[0].hn);
    assert_null(sl__vheap_pop_due(&h, INT64_MAX));
    sl__vheap_deinit(&h);
}

static void
test_remove_from_middle(void **state)
{
    sl_vheap_t h;
    item_t it[32];
    bool removed[32] = { false };

    (void)state;
    sl__vheap_init(&h);
    items_init(it, 32);
    for (int i = 0; i < 32; i++)
        sl__vheap_set(&h, &it[i].hn, (int64_t)((i * 7) % 32));
    /* Remove nodes wherever they sit, including ones that need sifting up. */
    for (int i = 0; i < 32; i += 3) {
        size_t at = it[i].hn.idx;

        assert_true(at < h.n);
        sl__vheap_remove(&h, &it[i].hn);
        removed[i] = true;
        assert_false(sl__vheap_node_is_queued(&it[i].hn));
        check_invariant(&h);
    }
    sl__vheap_remove(&h, &it[0].hn);             /* twice: no-op */
    assert_int_equal(h.n, 32 - 11);
    for (int64_t last = -1; h.n > 0;) {
        sl_vheap_node_t *p = sl__vheap_pop_due(&h, INT64_MAX);

        assert_false(removed[item_of(p)->tag]);
        assert_true(p->key > last);              /* keys are distinct here */
        last = p->key;
    }
    sl__vheap_deinit(&h);
}

/* Removal that must sift the moved-in last node up: it comes from another subtree
 * and is earlier than the removed node's parent. Also the root and the last slot. */
static void
test_remove_needs_sift_up(void **state)
{
    /* Inserted in this order, each stays where it lands:
     * idx 0:0 | 1:1 2:50 | 3:2 4:3 5:60 6:70 | 7:4 */
    static const int64_t keys[] = { 0, 1, 50, 2, 3, 60, 70, 4 };
    sl_vheap_t h;
    item_t it[8];

    (void)state;
    sl__vheap_init(&h);
    items_init(it, 8);
    for (int i = 0; i < 8; i++) {
        sl__vheap_set(&h, &it[i].hn, keys[i]);
        assert_int_equal(it[i].hn.idx, i);
    }
    sl__vheap_remove(&h, &it[5].hn);             /* 4 moves into slot 5, under 50 */
    check_invariant(&h);
    assert_int_equal(it[7].hn.idx, 2);
    assert_int_equal(it[2].hn.idx, 5);
    sl__vheap_remove(&h, sl__vheap_peek(&h));    /* the root */
    check_invariant(&h);
    assert_int_equal(sl__vheap_peek(&h)->key, 1);
    sl__vheap_remove(&h, h.v[h.n - 1]);          /* the last slot */
    check_invariant(&h);
    assert_int_equal(h.n, 5);
    for (int64_t last = INT64_MIN; h.n > 0;) {
        sl_vheap_node_t *p = sl__vheap_pop_due(&h, INT64_MAX);

        assert_true(p->key >= last);
        last = p->key;
    }
    sl__vheap_deinit(&h);
}

static void
test_duplicate_keys(void **state)
{
    sl_vheap_t h;
    item_t it[100];
    int seen[100] = { 0 };

    (void)state;
    sl__vheap_init(&h);
    items_init(it, 100);
    for (int i = 0; i < 100; i++)
        sl__vheap_set(&h, &it[i].hn, i % 3);
    for (int i = 0; i < 100; i++) {
        sl_vheap_node_t *p = sl__vheap_pop_due(&h, INT64_MAX);

        assert_non_null(p);
        seen[item_of(p)->tag]++;
        check_invariant(&h);
    }
    for (int i = 0; i < 100; i++)
        assert_int_equal(seen[i], 1);
    sl__vheap_deinit(&h);
}

static void
test_negative_and_extreme_keys(void **state)
{
    sl_vheap_t h;
    item_t it[4];

    (void)state;
    sl__vheap_init(&h);
    items_init(it, 4);
    sl__vheap_set(&h, &it[0].hn, INT64_MAX);
    sl__vheap_set(&h, &it[1].hn, -5);
    sl__vheap_set(&h, &it[2].hn, INT64_MIN);
    sl__vheap_set(&h, &it[3].hn, 0);
    assert_ptr_equal(sl__vheap_pop_due(&h, INT64_MIN), &it[2].hn);
    assert_null(sl__vheap_pop_due(&h, -6));
    assert_ptr_equal(sl__vheap_pop_due(&h, 0), &it[1].hn);
    assert_ptr_equal(sl__vheap_pop_due(&h, 0), &it[3].hn);
    assert_null(sl__vheap_pop_due(&h, INT64_MAX - 1));
    assert_ptr_equal(sl__vheap_pop_due(&h, INT64_MAX), &it[0].hn);
    sl__vheap_deinit(&h);
}

/* ---- Differential test ---- */

#define DIFF_NODES 512
#define DIFF_OPS 100000

typedef struct model {
    bool in[DIFF_NODES];
    int64_t key[DIFF_NODES];
    size_t n;
} model_t;

/* The earliest key in the model, or INT64_MAX with *any = false. */
static int64_t
model_min(const model_t *m, bool *any)
{
    int64_t best = INT64_MAX;

    *any = false;
    for (size_t i = 0; i < DIFF_NODES; i++) {
        if (m->in[i] && (!*any || m->key[i] < best)) {
            best = m->key[i];
            *any = true;
        }
    }
    return best;
}

static void
test_differential_random(void **state)
{
    static item_t it[DIFF_NODES];
    static model_t m;
    uint64_t seed = seed_from_env("test_vheap differential"), st = seed;
    int64_t now = 0;
    sl_vheap_t h;

    (void)state;
    memset(&m, 0, sizeof(m));
    sl__vheap_init(&h);
    items_init(it, DIFF_NODES);
    for (int op = 0; op < DIFF_OPS; op++) {
        size_t i = (size_t)(rnd(&st) % DIFF_NODES);
        unsigned what = (unsigned)(rnd(&st) % 100);
        bool any;
        int64_t want;

        if (what < 45) {                                     /* insert or re-key */
            int64_t key = now + (int64_t)(rnd(&st) % 2000) - 200;

            sl__vheap_set(&h, &it[i].hn, key);
            if (!m.in[i])
                m.n++;
            m.in[i] = true;
            m.key[i] = key;
        } else if (what < 65) {                              /* remove */
            sl__vheap_remove(&h, &it[i].hn);
            if (m.in[i])
                m.n--;
            m.in[i] = false;
        } else if (what < 95) {                              /* pop what is due */
            sl_vheap_node_t *p = sl__vheap_pop_due(&h, now);

            want = model_min(&m, &any);
            if (!any || want > now) {
                if (p != NULL)
                    fail_msg("seed=%llu op=%d: popped key %lld at now=%lld, model has none due",
                             (unsigned long long)seed, op, (long long)p->key, (long long)now);
            } else {
                int tag;

                if (p == NULL)
                    fail_msg("seed=%llu op=%d: nothing popped at now=%lld, model min %lld",
                             (unsigned long long)seed, op, (long long)now, (long long)want);
                tag = item_of(p)->tag;
                if (!m.in[tag] || m.key[tag] != want || p->key != want)
                    fail_msg("seed=%llu op=%d: popped node %d key %lld, model min %lld",
                             (unsigned long long)seed, op, tag, (long long)p->key,
                             (long long)want);
                assert_false(sl__vheap_node_is_queued(p));
                m.in[tag] = false;
                m.n--;
            }
        } else {                                             /* time passes */
            now += (int64_t)(rnd(&st) % 300);
        }
        if (h.n != m.n)
            fail_msg("seed=%llu op=%d: heap holds %zu, model %zu", (unsigned long long)seed, op,
                     h.n, m.n);
        assert_int_equal(sl__vheap_node_is_queued(&it[i].hn), m.in[i]);
        want = model_min(&m, &any);
        if (any)
            assert_int_equal(sl__vheap_peek(&h)->key, want);
        else
            assert_null(sl__vheap_peek(&h));
        if (op % 997 == 0)
            check_invariant(&h);
    }
    /* Drain: everything comes out in order. */
    for (int64_t last = INT64_MIN; h.n > 0;) {
        sl_vheap_node_t *p = sl__vheap_pop_due(&h, INT64_MAX);

        assert_true(p->key >= last);
        last = p->key;
    }
    sl__vheap_deinit(&h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_heap),
        cmocka_unit_test(test_pops_in_key_order),
        cmocka_unit_test(test_pop_due_respects_now),
        cmocka_unit_test(test_rekey_up_and_down),
        cmocka_unit_test(test_remove_from_middle),
        cmocka_unit_test(test_remove_needs_sift_up),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_negative_and_extreme_keys),
        cmocka_unit_test(test_differential_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
