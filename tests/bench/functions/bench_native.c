/* bench_native.c - the native handler of tests/bench/functions.sh (function.h's ABI).
 * By default a no-op: it returns success without reading the event, so a drain
 * measures sluice, not the handler. Two knobs, read once by sluice_init from the
 * broker's environment:
 *   SLUICE_BENCH_SLEEP_US=N          sleep N microseconds per invocation (a handler with a
 *                                    duration, for the autoscaler's step response)
 *   SLUICE_BENCH_LATENCY_OUT=PATH    for every record whose body starts with "t-<ns>-"
 *                                    (sluice-bench's stamp, CLOCK_MONOTONIC), append
 *                                    "<handler start - stamp in ns>\n" to PATH. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/function.h"

int sluice_init(void);
int sluice_handler(const sl_native_invoke_t *in, sl_native_result_t *out);

static long sleep_us;
static int lat_fd = -1;

int
sluice_init(void)
{
    const char *s = getenv("SLUICE_BENCH_SLEEP_US"), *p = getenv("SLUICE_BENCH_LATENCY_OUT");

    sleep_us = s ? strtol(s, NULL, 10) : 0;
    if (p && *p && (lat_fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
        return 1;
    return 0;
}

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
record_latencies(const char *p, size_t len, uint64_t start)
{
    static const char key[] = "\"body\":\"t-";
    const char *end = p + len;
    char line[32];

    while ((p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1)) != NULL) {
        uint64_t t = 0;

        p += sizeof(key) - 1;
        while (p < end && *p >= '0' && *p <= '9')
            t = t * 10 + (uint64_t)(*p++ - '0');
        if (t > 0 && t <= start) {
            int n = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)(start - t));

            if (write(lat_fd, line, (size_t)n) != n)
                return;
        }
    }
}

int
sluice_handler(const sl_native_invoke_t *in, sl_native_result_t *out)
{
    (void)out;
    if (lat_fd >= 0)
        record_latencies(in->payload, in->len, now_ns());
    if (sleep_us > 0) {
        struct timespec ts = { sleep_us / 1000000, (sleep_us % 1000000) * 1000 };

        nanosleep(&ts, NULL);
    }
    return 0;
}
