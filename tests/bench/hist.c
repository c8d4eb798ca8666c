/* hist.c - latency histogram of sluice-bench.
 * A run can record millions of request latencies, so samples are not kept: each
 * goes into a fixed log-linear bucket (the HdrHistogram idea, 64 sub-buckets per
 * power of two, about 23 KiB per histogram). Percentiles come out within 1.6% of
 * the true sample, far below run-to-run noise, and recording is a few shifts. */
#include "bench.h"

#include <string.h>

#define HIST_MAX_NS ((uint64_t)1 << 50)         /* 13 days: clamp anything above */

static unsigned
msb(uint64_t v)
{
    return 63u - (unsigned)__builtin_clzll(v);
}

static size_t
bucket_of(uint64_t v)
{
    unsigned s;

    if (v < 2 * BENCH_HIST_SUB)
        return (size_t)v;
    s = msb(v) - 6;                             /* v >> s is in [64, 127] */
    return 2 * BENCH_HIST_SUB + (size_t)(s - 1) * BENCH_HIST_SUB +
           (size_t)((v >> s) - BENCH_HIST_SUB);
}

/* Middle of the range of values that fall into bucket i. */
static uint64_t
bucket_mid(size_t i)
{
    unsigned s;
    uint64_t m;

    if (i < 2 * BENCH_HIST_SUB)
        return i;
    s = (unsigned)((i - 2 * BENCH_HIST_SUB) / BENCH_HIST_SUB) + 1;
    m = (i - 2 * BENCH_HIST_SUB) % BENCH_HIST_SUB + BENCH_HIST_SUB;
    return (m << s) + (((uint64_t)1 << s) >> 1);
}

void
bench_hist_init(bench_hist_t *h)
{
    memset(h, 0, sizeof(*h));
    h->min_ns = UINT64_MAX;
}

void
bench_hist_add(bench_hist_t *h, uint64_t ns)
{
    if (ns >= HIST_MAX_NS)
        ns = HIST_MAX_NS - 1;
    h->counts[bucket_of(ns)]++;
    h->n++;
    h->sum_ns += (double)ns;
    if (ns < h->min_ns)
        h->min_ns = ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

uint64_t
bench_hist_quantile(const bench_hist_t *h, double q)
{
    uint64_t rank, seen = 0, v;
    size_t i;

    if (h->n == 0)
        return 0;
    if (q <= 0)
        return h->min_ns;
    if (q >= 1)
        return h->max_ns;
    /* nearest-rank: the smallest value with at least q*n samples at or below it */
    rank = (uint64_t)(q * (double)h->n);
    if ((double)rank < q * (double)h->n)
        rank++;
    if (rank == 0)
        rank = 1;
    for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            break;
    }
    v = bucket_mid(i);
    if (v < h->min_ns)
        v = h->min_ns;
    if (v > h->max_ns)
        v = h->max_ns;
    return v;
}
