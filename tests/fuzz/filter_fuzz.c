/* filter_fuzz.c - libFuzzer entry for the filter compiler and matcher.
 * The input is a pattern, a NUL byte, then an event (no NUL: the whole input is the
 * pattern and there is no event). The pattern, copied to an exact-size block so a read
 * past its end is caught, is compiled in every dialect; the event is parsed with
 * json_loadb and matched against every filter that compiled. Checked on the way:
 * compile results are SL_OK with a filter and an empty message or SL_EPROTO with none and
 * a message; the dialects nest (a valid SNS attribute policy is a valid SNS policy is a
 * valid Lambda pattern); and one pattern matches one event the same way in every dialect
 * that accepts it, since they share one engine. Built as a fuzzer with -DSLUICE_FUZZ=ON
 * (clang); tests/fuzz/replay.c replays corpus/filter/ through the same entry point on
 * every CI run. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sluice/error.h"
#include "sluice/filter.h"
#include "sluice/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const sl_filter_dialect_t dialects[] = {
        SL_FILTER_LAMBDA, SL_FILTER_SNS, SL_FILTER_SNS_ATTRS,
    };
    const uint8_t *nul = memchr(data, '\0', size);
    size_t plen = nul != NULL ? (size_t)(nul - data) : size;
    sl_filter_t *f[3] = {NULL, NULL, NULL};
    char *pat = sl_malloc(plen > 0 ? plen : 1), err[128];
    json_t *ev = NULL;
    int i, rc[3], got = -1;

    memcpy(pat, data, plen);
    for (i = 0; i < 3; i++) {
        rc[i] = sl_filter_compile(pat, plen, dialects[i], &f[i], err, sizeof(err));
        sl_assert(memchr(err, '\0', sizeof(err)) != NULL);
        if (rc[i] == SL_OK)
            sl_assert(f[i] != NULL && err[0] == '\0');
        else
            sl_assert(rc[i] == SL_EPROTO && f[i] == NULL && err[0] != '\0');
    }
    sl_assert(rc[2] != SL_OK || rc[1] == SL_OK);
    sl_assert(rc[1] != SL_OK || rc[0] == SL_OK);
    sl_free(pat);
    if (nul != NULL)
        ev = json_loadb((const char *)nul + 1, size - plen - 1,
                        JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    for (i = 0; i < 3; i++) {
        if (f[i] == NULL)
            continue;
        if (ev != NULL) {
            int m = sl_filter_match(f[i], ev);

            sl_assert(got < 0 || m == got);
            got = m;
        }
        sl_filter_destroy(f[i]);
    }
    json_decref(ev);
    return 0;
}
