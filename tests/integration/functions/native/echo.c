/* echo.c - a native function for sluice's tests (function.h's ABI).
 * The event picks the behaviour by its first bytes, so the no-op path the
 * benchmark uses does not scan the payload:
 *   {"noop"...    respond with nothing (the throughput case)
 *   {"fail"...    function error with an error JSON
 *   {"sleep"...   sleep 1.5 s, then echo (for timeouts)
 *   anything else echo the event
 * sluice_init fails when SLUICE_TEST_NATIVE_INIT=fail. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/function.h"

static int initialised;

int sluice_init(void);
int sluice_handler(const sl_native_invoke_t *in, sl_native_result_t *out);

int
sluice_init(void)
{
    const char *mode = getenv("SLUICE_TEST_NATIVE_INIT");

    if (mode && strcmp(mode, "fail") == 0)
        return 7;
    initialised = 1;
    return 0;
}

static int
starts_with(const sl_native_invoke_t *in, const char *p)
{
    size_t n = strlen(p);

    return in->len >= n && memcmp(in->payload, p, n) == 0;
}

int
sluice_handler(const sl_native_invoke_t *in, sl_native_result_t *out)
{
    static const char err[] = "{\"errorType\":\"EchoError\",\"errorMessage\":\"failed on purpose\"}";

    if (!initialised)
        return 99;                      /* sluice must run sluice_init first */
    if (starts_with(in, "{\"noop\""))
        return 0;
    if (starts_with(in, "{\"fail\"")) {
        out->payload = malloc(sizeof(err));
        memcpy(out->payload, err, sizeof(err));
        out->len = sizeof(err) - 1;
        return 1;
    }
    if (starts_with(in, "{\"sleep\"")) {
        struct timespec ts = { 1, 500000000 };

        nanosleep(&ts, NULL);
    }
    out->payload = malloc(in->len + 1);
    memcpy(out->payload, in->payload, in->len + 1);
    out->len = in->len;
    return 0;
}
