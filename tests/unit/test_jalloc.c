/* test_jalloc.c - jansson through the small-object cache: trees of every
 * block size are built, copied, compared and freed many times over, so blocks
 * are recycled through every size class (and past the cache's bound). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jalloc.h"

static json_t *
tree(unsigned seed, int depth)
{
    json_t *o = json_object();
    char key[32], val[700];

    for (unsigned i = 0; i < 6; i++) {
        size_t len = (seed * 131u + i * 977u) % sizeof(val);

        memset(val, 'a' + (int)(i % 26), len);
        snprintf(key, sizeof(key), "k%u-%u", seed, i);
        json_object_set_new(o, key, json_stringn(val, len));
    }
    if (depth < 3)
        json_object_set_new(o, "child", tree(seed + 1, depth + 1));
    json_object_set_new(o, "list", json_pack("[i, s, b, n]", (int)seed, "x", 1));
    return o;
}

static void
test_recycles_blocks_of_every_size(void **state)
{
    (void)state;
    for (unsigned round = 0; round < 3000; round++) {
        json_t *a = tree(round, 0), *b = json_deep_copy(a);

        assert_true(json_equal(a, b));
        json_object_set_new(b, "extra", json_string("y"));
        assert_false(json_equal(a, b));
        json_decref(a);
        json_decref(b);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recycles_blocks_of_every_size),
    };

    sl_jalloc_install();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
