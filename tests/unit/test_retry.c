/* test_retry.c - backoff grows, caps, and jitters within [d/2, d]. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../consumers/retry.h"

static void
test_backoff_bounds(void **state)
{
    (void)state;
    for (uint32_t attempt = 1; attempt < 40; attempt++) {
        uint64_t d = 1000;

        for (uint32_t i = 1; i < attempt && d < 60000; i++)
            d *= 2;
        if (d > 60000)
            d = 60000;
        for (uint64_t rnd = 0; rnd < 5000; rnd += 37) {
            uint32_t b = sl_retry_backoff_ms(attempt, 1000, 60000, rnd * 0x9e3779b97f4a7c15ULL);

            assert_true(b >= d / 2);
            assert_true(b <= d);
        }
    }
    assert_int_equal(sl_retry_backoff_ms(1, 1000, 60000, 0), 500);
    assert_int_equal(sl_retry_backoff_ms(3, 1000, 60000, 0), 2000);
    assert_int_equal(sl_retry_backoff_ms(30, 1000, 60000, 0), 30000);   /* capped */
    assert_true(sl_retry_backoff_ms(1, 0, 0, 12345) <= 1);               /* degenerate */
    assert_int_equal(sl_retry_backoff_ms(UINT32_MAX, 1000, 5000, 0), 2500);
}

int
main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_backoff_bounds) };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
