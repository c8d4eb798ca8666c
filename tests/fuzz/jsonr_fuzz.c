/* jsonr_fuzz.c - libFuzzer entry for the JSON reader, differential against jansson:
 * the input and its first half (copied to an exact-size block, so a read past the end
 * is caught) are parsed by sl_json_parse and by json_loadb(JSON_ALLOW_NUL |
 * JSON_DECODE_ANY); equal trees or both rejecting is required, short of the intended
 * differences listed in tests/unit/test_jsonr.c (integers past json_int_t become reals
 * here, depth past 64 is rejected here, jansson skips a NUL right after a number or
 * literal). Built as a fuzzer with -DSLUICE_FUZZ=ON (clang); tests/fuzz/replay.c replays
 * corpus/jsonr/ through the same entry point on every CI run. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonr.h"
#include "sluice/error.h"
#include "sluice/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
depth_of(const json_t *j)
{
    int d = 0, c;
    size_t i;
    const char *k;
    json_t *v;

    if (json_is_array(j)) {
        json_array_foreach(j, i, v)
            if ((c = depth_of(v)) > d)
                d = c;
        return d + 1;
    }
    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, k, v)
            if ((c = depth_of(v)) > d)
                d = c;
        return d + 1;
    }
    return 0;
}

/* Does s, without each NUL byte that follows a digit or lower-case letter, parse here to
 * b? (jansson's lexer drops such a byte after a number or literal.) */
static bool
is_jansson_nul_quirk(const char *s, size_t n, const json_t *b)
{
    char *t = sl_malloc(n > 0 ? n : 1);
    size_t i, m = 0;
    json_t *a = NULL;
    bool same;

    for (i = 0; i < n; i++) {
        if (s[i] == '\0' && i > 0
            && ((s[i - 1] >= '0' && s[i - 1] <= '9') || (s[i - 1] >= 'a' && s[i - 1] <= 'z')))
            continue;
        t[m++] = s[i];
    }
    same = m < n && sl_json_parse(t, m, &a, NULL, 0) == SL_OK && json_equal(a, b);
    json_decref(a);
    sl_free(t);
    return same;
}

static void
check(const uint8_t *data, size_t n)
{
    char *s = sl_malloc(n > 0 ? n : 1), err[128];
    json_error_t je;
    json_t *a = NULL, *b;
    int rc;

    memcpy(s, data, n);
    rc = sl_json_parse(s, n, &a, err, sizeof(err));
    sl_assert(memchr(err, '\0', sizeof(err)) != NULL);
    if (rc == SL_OK)
        sl_assert(a != NULL && err[0] == '\0');
    else
        sl_assert(rc == SL_EPROTO && a == NULL && err[0] != '\0');
    b = json_loadb(s, n, JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
    if (a != NULL && b != NULL)
        sl_assert(json_equal(a, b));
    else if (a != NULL)
        sl_assert(strstr(je.text, "too big") != NULL);
    else if (b != NULL)
        sl_assert(depth_of(b) > SL_JSONR_MAX_DEPTH || is_jansson_nul_quirk(s, n, b));
    json_decref(a);
    json_decref(b);
    sl_free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    check(data, size / 2);
    return 0;
}
