/* retry.c - retry backoff. Equal jitter keeps at least half of the exponential
 * delay (so a failing handler is not hammered) while spreading retries of a
 * batch that failed together. */
#include "retry.h"

uint32_t
sl_retry_backoff_ms(uint32_t attempt, uint32_t base_ms, uint32_t cap_ms, uint64_t rnd)
{
    uint64_t d = base_ms ? base_ms : 1;

    if (cap_ms < d)
        cap_ms = (uint32_t)d;
    for (uint32_t i = 1; i < attempt && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms)
        d = cap_ms;
    return (uint32_t)(d / 2 + rnd % (d / 2 + 1));
}
