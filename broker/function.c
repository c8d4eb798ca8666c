/* function.c - function specs: defaults, copies, and their JSON documents (the
 * form they take in the store and in the native API). */
#include "function_json.h"

#include "jsonget.h"

#include "sluice/mem.h"

#include <stdio.h>
#include <string.h>

void
sl_function_spec_init(sl_function_spec_t *f)
{
    memset(f, 0, sizeof(*f));
    f->kind = SL_FUNCTION_PROCESS;
    f->timeout_ms = 3000;
    f->memory_mb = 128;
    f->max_concurrency = 10;
    f->idle_timeout_ms = 60000;
    sl_kvlist_init(&f->env);
}

void
sl_function_spec_deinit(sl_function_spec_t *f)
{
    sl_free(f->name);
    sl_free(f->command);
    sl_free(f->cwd);
    sl_free(f->handler);
    sl_free(f->url);
    sl_free(f->library);
    sl_kvlist_deinit(&f->env);
    memset(f, 0, sizeof(*f));
}

static char *
dup_or_null(const char *s)
{
    return s ? sl_strdup(s) : NULL;
}

void
sl_function_spec_copy(sl_function_spec_t *dst, const sl_function_spec_t *src)
{
    *dst = *src;
    dst->name = dup_or_null(src->name);
    dst->command = dup_or_null(src->command);
    dst->cwd = dup_or_null(src->cwd);
    dst->handler = dup_or_null(src->handler);
    dst->url = dup_or_null(src->url);
    dst->library = dup_or_null(src->library);
    sl_kvlist_init(&dst->env);
    sl_kvlist_copy(&dst->env, &src->env);
}

static const char *const kind_names[] = { "process", "http", "native" };

const char *
sl_function_kind_name(sl_function_kind_t k)
{
    return (unsigned)k < 3 ? kind_names[k] : "?";
}

bool
sl_function_name_is_valid(const char *name)
{
    size_t n = strlen(name);

    return n >= 1 && n <= SL_FUNCTION_NAME_MAX &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

bool
sl_function_spec_from_json(sl_function_spec_t *f, const json_t *doc, char *err, size_t errlen)
{
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    const json_t *env = json_object_get(doc, "env");

    if (!json_is_object(doc)) {
        snprintf(err, errlen, "a function is a JSON object");
        return false;
    }
    if (!sl__json_take_str(doc, "name", &f->name, err, errlen) ||
        !sl__json_take_str(doc, "command", &f->command, err, errlen) ||
        !sl__json_take_str(doc, "cwd", &f->cwd, err, errlen) ||
        !sl__json_take_str(doc, "handler", &f->handler, err, errlen) ||
        !sl__json_take_str(doc, "url", &f->url, err, errlen) ||
        !sl__json_take_str(doc, "library", &f->library, err, errlen) ||
        !sl__json_take_u32(doc, "timeout_ms", 1, 900000, &f->timeout_ms, err, errlen) ||
        !sl__json_take_u32(doc, "memory_mb", 128, 10240, &f->memory_mb, err, errlen) ||
        !sl__json_take_u32(doc, "min_concurrency", 0, 1000, &f->min_concurrency, err, errlen) ||
        !sl__json_take_u32(doc, "max_concurrency", 1, 1000, &f->max_concurrency, err, errlen) ||
        !sl__json_take_u32(doc, "idle_timeout_ms", 0, 86400000, &f->idle_timeout_ms, err, errlen))
        return false;
    if (kind != NULL) {
        int k;

        for (k = 0; k < 3 && strcmp(kind, kind_names[k]) != 0; k++)
            ;
        if (k == 3) {
            snprintf(err, errlen, "kind must be process, http or native");
            return false;
        }
        f->kind = (sl_function_kind_t)k;
    }
    if (json_is_object(env)) {
        const char *k;
        json_t *v;

        json_object_foreach((json_t *)env, k, v) {
            if (!json_is_string(v) || *k == '\0' || strchr(k, '=') != NULL) {
                snprintf(err, errlen, "env entries are NAME: \"value\" strings");
                return false;
            }
            sl_kvlist_set(&f->env, k, json_string_value(v));
        }
    } else if (env != NULL && !json_is_null(env)) {
        snprintf(err, errlen, "env must be a map of strings");
        return false;
    }
    if (f->name == NULL || !sl_function_name_is_valid(f->name)) {
        snprintf(err, errlen, "name must be 1 to 64 of [A-Za-z0-9_-]");
        return false;
    }
    if (f->min_concurrency > f->max_concurrency) {
        snprintf(err, errlen, "min_concurrency is above max_concurrency");
        return false;
    }
    if ((f->kind == SL_FUNCTION_PROCESS && (f->command == NULL || *f->command == '\0')) ||
        (f->kind == SL_FUNCTION_HTTP &&
         (f->url == NULL || (strncmp(f->url, "http://", 7) != 0 &&
                             strncmp(f->url, "https://", 8) != 0))) ||
        (f->kind == SL_FUNCTION_NATIVE && (f->library == NULL || *f->library == '\0'))) {
        snprintf(err, errlen, "a %s function needs %s", kind_names[f->kind],
                 f->kind == SL_FUNCTION_PROCESS ? "a command"
                 : f->kind == SL_FUNCTION_HTTP  ? "an http:// url" : "a library");
        return false;
    }
    return true;
}

json_t *
sl_function_spec_to_json(const sl_function_spec_t *f)
{
    json_t *o = json_object(), *env = json_object();

    json_object_set_new(o, "name", json_string(f->name));
    json_object_set_new(o, "kind", json_string(sl_function_kind_name(f->kind)));
    if (f->command)
        json_object_set_new(o, "command", json_string(f->command));
    if (f->cwd)
        json_object_set_new(o, "cwd", json_string(f->cwd));
    if (f->handler)
        json_object_set_new(o, "handler", json_string(f->handler));
    if (f->url)
        json_object_set_new(o, "url", json_string(f->url));
    if (f->library)
        json_object_set_new(o, "library", json_string(f->library));
    for (size_t i = 0; i < f->env.n; i++)
        json_object_set_new(env, f->env.v[i].key, json_string(f->env.v[i].val));
    json_object_set_new(o, "env", env);
    json_object_set_new(o, "timeout_ms", json_integer(f->timeout_ms));
    json_object_set_new(o, "memory_mb", json_integer(f->memory_mb));
    json_object_set_new(o, "min_concurrency", json_integer(f->min_concurrency));
    json_object_set_new(o, "max_concurrency", json_integer(f->max_concurrency));
    json_object_set_new(o, "idle_timeout_ms", json_integer(f->idle_timeout_ms));
    return o;
}
