/* trigger.c - trigger specs: defaults, copies and their JSON documents. */
#include "sluice/trigger.h"

#include "jsonget.h"
#include "sluice/mem.h"

#include <stdio.h>
#include <string.h>

void
sl_trigger_spec_init(sl_trigger_spec_t *t)
{
    memset(t, 0, sizeof(*t));
    t->batch_size = 10;
    t->retry_base_ms = 1000;
    t->retry_cap_ms = 60000;
    t->enabled = true;
}

void
sl_trigger_spec_deinit(sl_trigger_spec_t *t)
{
    sl_free(t->id);
    sl_free(t->source);
    sl_free(t->function);
    sl_free(t->filter);
    memset(t, 0, sizeof(*t));
}

static char *
dup_or_null(const char *s)
{
    return s ? sl_strdup(s) : NULL;
}

void
sl_trigger_spec_copy(sl_trigger_spec_t *dst, const sl_trigger_spec_t *src)
{
    *dst = *src;
    dst->id = dup_or_null(src->id);
    dst->source = dup_or_null(src->source);
    dst->function = dup_or_null(src->function);
    dst->filter = dup_or_null(src->filter);
}

bool
sl_trigger_spec_from_json(sl_trigger_spec_t *t, const json_t *doc, char *err, size_t errlen)
{
    const json_t *filter = json_object_get(doc, "filter");

    if (!json_is_object(doc)) {
        snprintf(err, errlen, "a trigger is a JSON object");
        return false;
    }
    if (!sl__json_take_str(doc, "id", &t->id, err, errlen) ||
        !sl__json_take_str(doc, "source", &t->source, err, errlen) ||
        !sl__json_take_str(doc, "function", &t->function, err, errlen) ||
        !sl__json_take_u32(doc, "batch_size", 1, SL_TRIGGER_BATCH_MAX, &t->batch_size, err,
                           errlen) ||
        !sl__json_take_u32(doc, "batch_window_ms", 0, SL_TRIGGER_WINDOW_MAX_MS,
                           &t->batch_window_ms, err, errlen) ||
        !sl__json_take_bool(doc, "report_batch_item_failures", &t->report_batch_item_failures, err,
                   errlen) ||
        !sl__json_take_u32(doc, "max_concurrency", 0, 1000, &t->max_concurrency, err, errlen) ||
        !sl__json_take_u32(doc, "retry_base_ms", 1, 3600000, &t->retry_base_ms, err, errlen) ||
        !sl__json_take_u32(doc, "retry_cap_ms", 1, 43200000, &t->retry_cap_ms, err, errlen) ||
        !sl__json_take_bool(doc, "enabled", &t->enabled, err, errlen))
        return false;
    if (filter != NULL && !json_is_null(filter)) {
        char *text;

        if (json_is_string(filter)) {
            sl_free(t->filter);
            t->filter = sl_strdup(json_string_value(filter));
        } else if (json_is_object(filter) || json_is_array(filter)) {
            size_t len = json_dumpb(filter, NULL, 0, JSON_COMPACT);

            text = sl_malloc(len + 1);
            json_dumpb(filter, text, len, JSON_COMPACT);
            text[len] = '\0';
            sl_free(t->filter);
            t->filter = text;
        } else {
            snprintf(err, errlen, "filter must be a pattern object, a list of them, or JSON text");
            return false;
        }
    }
    if (t->source == NULL || strncmp(t->source, "queue:", 6) != 0 || t->source[6] == '\0') {
        snprintf(err, errlen, "source must be queue:NAME");
        return false;
    }
    if (t->function == NULL || *t->function == '\0') {
        snprintf(err, errlen, "function is required");
        return false;
    }
    if (t->retry_cap_ms < t->retry_base_ms)
        t->retry_cap_ms = t->retry_base_ms;
    return true;
}

json_t *
sl_trigger_spec_to_json(const sl_trigger_spec_t *t)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_string(t->id ? t->id : ""));
    json_object_set_new(o, "source", json_string(t->source ? t->source : ""));
    json_object_set_new(o, "function", json_string(t->function ? t->function : ""));
    json_object_set_new(o, "batch_size", json_integer(t->batch_size));
    json_object_set_new(o, "batch_window_ms", json_integer(t->batch_window_ms));
    json_object_set_new(o, "report_batch_item_failures",
                        json_boolean(t->report_batch_item_failures));
    if (t->filter)
        json_object_set_new(o, "filter", json_string(t->filter));
    json_object_set_new(o, "max_concurrency", json_integer(t->max_concurrency));
    json_object_set_new(o, "retry_base_ms", json_integer(t->retry_base_ms));
    json_object_set_new(o, "retry_cap_ms", json_integer(t->retry_cap_ms));
    json_object_set_new(o, "enabled", json_boolean(t->enabled));
    return o;
}
