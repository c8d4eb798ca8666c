/* jsonget.c - typed field readers for JSON documents (see jsonget.h). */
#include "jsonget.h"

#include "sluice/mem.h"

#include <stdio.h>
#include <string.h>

bool
sl__json_take_str(const json_t *doc, const char *key, char **dst, char *err, size_t errlen)
{
    const json_t *v = json_object_get(doc, key);

    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(err, errlen, "%s must be a string", key);
        return false;
    }
    sl_free(*dst);
    *dst = sl_strdup(json_string_value(v));
    return true;
}

bool
sl__json_take_u32(const json_t *doc, const char *key, uint32_t min, uint32_t max, uint32_t *dst,
                  char *err, size_t errlen)
{
    const json_t *v = json_object_get(doc, key);

    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        snprintf(err, errlen, "%s must be an integer from %u to %u", key, min, max);
        return false;
    }
    *dst = (uint32_t)json_integer_value(v);
    return true;
}

bool
sl__json_take_bool(const json_t *doc, const char *key, bool *dst, char *err, size_t errlen)
{
    const json_t *v = json_object_get(doc, key);

    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_boolean(v)) {
        snprintf(err, errlen, "%s must be true or false", key);
        return false;
    }
    *dst = json_is_true(v);
    return true;
}
