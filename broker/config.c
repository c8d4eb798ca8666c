/* config.c - sluice.yaml. libyaml parses; we turn its event stream into a
 * jansson tree (every scalar a string, since SQS attributes are strings
 * anyway) and pick the settings out of that. Anchors and aliases are refused:
 * a config file has no need of them. */
#include "config.h"

#include "sluice/error.h"
#include "sluice/mem.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 32

void
sl_config_init(sl_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->listen = sl_strdup("127.0.0.1:9324");
    c->store = sl_strdup("memory");
    c->region = sl_strdup("us-east-1");
    c->account = sl_strdup("000000000000");
    c->log_level = sl_strdup("info");
}

void
sl_config_deinit(sl_config_t *c)
{
    sl_free(c->listen);
    sl_free(c->store);
    sl_free(c->region);
    sl_free(c->account);
    sl_free(c->advertise_url);
    sl_free(c->log_level);
    sl_free(c->sns_ca_file);
    json_decref(c->queues);
    json_decref(c->topics);
    json_decref(c->functions);
    json_decref(c->triggers);
    memset(c, 0, sizeof(*c));
}

/* Adds v to the container on top of the stack (under key for a mapping). */
static int
attach(json_t **stack, char **keys, int depth, json_t *v)
{
    json_t *top = stack[depth - 1];

    if (json_is_array(top))
        return json_array_append_new(top, v);
    if (keys[depth - 1] == NULL) {          /* v is a key */
        if (!json_is_string(v)) {
            json_decref(v);
            return -1;
        }
        keys[depth - 1] = sl_strdup(json_string_value(v));
        json_decref(v);
        return 0;
    }
    json_object_set_new(top, keys[depth - 1], v);
    sl_free(keys[depth - 1]);
    keys[depth - 1] = NULL;
    return 0;
}

/* Plain (unquoted) scalars are typed as YAML's core schema would: true/false,
 * null/~, decimal integers without leading zeros (so "000000000000" stays a
 * string), and decimal reals; everything else, and every quoted scalar, is a
 * string. */
static json_t *
scalar_value(const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;

    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strlen(s) == n) {
        const char *p = s[0] == '-' ? s + 1 : s, *q = p;
        size_t digits;

        if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0)
            return json_true();
        if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0)
            return json_false();
        if (strcmp(s, "null") == 0 || strcmp(s, "~") == 0)
            return json_null();
        while (*q >= '0' && *q <= '9')
            q++;
        digits = (size_t)(q - p);
        if (digits > 0 && digits <= 18 && (p[0] != '0' || digits == 1)) {
            if (*q == '\0')
                return json_integer(strtoll(s, NULL, 10));
            if (*q == '.' && q[1] >= '0' && q[1] <= '9' &&
                strspn(q + 1, "0123456789") == strlen(q + 1))
                return json_real(strtod(s, NULL));
        }
    }
    return json_stringn(s, n);
}

json_t *
sl_yaml_load(const char *path, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    yaml_parser_t p;
    yaml_event_t ev;
    json_t *stack[MAX_DEPTH + 1], *root = NULL;
    char *keys[MAX_DEPTH + 1] = { NULL };
    int depth = 0;
    bool done = false, failed = false;

    if (f == NULL) {
        snprintf(errbuf, errlen, "cannot open %s", path);
        return NULL;
    }
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    stack[0] = NULL;
    while (!done && !failed) {
        json_t *v = NULL;

        if (!yaml_parser_parse(&p, &ev)) {
            snprintf(errbuf, errlen, "%s:%zu: %s", path, p.problem_mark.line + 1,
                     p.problem ? p.problem : "parse error");
            failed = true;
            break;
        }
        if ((ev.type == YAML_SCALAR_EVENT && ev.data.scalar.anchor) ||
            (ev.type == YAML_SEQUENCE_START_EVENT && ev.data.sequence_start.anchor) ||
            (ev.type == YAML_MAPPING_START_EVENT && ev.data.mapping_start.anchor)) {
            snprintf(errbuf, errlen, "%s:%zu: anchors and aliases are not supported", path,
                     ev.start_mark.line + 1);
            yaml_event_delete(&ev);
            failed = true;
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            done = ev.type == YAML_STREAM_END_EVENT || root != NULL;
            break;
        case YAML_ALIAS_EVENT:
            snprintf(errbuf, errlen, "%s:%zu: aliases are not supported", path,
                     ev.start_mark.line + 1);
            failed = true;
            break;
        case YAML_SCALAR_EVENT:
            v = scalar_value(&ev);
            if (v == NULL) {
                snprintf(errbuf, errlen, "%s:%zu: invalid UTF-8", path, ev.start_mark.line + 1);
                failed = true;
            } else if (depth == 0) {
                root = v;
            } else if (attach(stack, keys, depth, v) != 0) {
                snprintf(errbuf, errlen, "%s:%zu: bad key", path, ev.start_mark.line + 1);
                failed = true;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth >= MAX_DEPTH) {
                snprintf(errbuf, errlen, "%s: nested too deeply", path);
                failed = true;
                break;
            }
            v = ev.type == YAML_SEQUENCE_START_EVENT ? json_array() : json_object();
            if (depth == 0) {
                root = v;
            } else if (attach(stack, keys, depth, json_incref(v)) != 0) {
                json_decref(v);
                snprintf(errbuf, errlen, "%s:%zu: bad key", path, ev.start_mark.line + 1);
                failed = true;
                break;
            }
            stack[depth] = v;
            keys[depth] = NULL;
            depth++;
            if (depth > 1)
                json_decref(v);     /* the parent holds it */
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    for (int i = 0; i <= MAX_DEPTH; i++)
        sl_free(keys[i]);
    yaml_parser_delete(&p);
    fclose(f);
    if (failed) {
        json_decref(root);
        return NULL;
    }
    return root ? root : json_object();
}

/* Every key of mapping v is one of the NULL-terminated keys; else errbuf names it. */
static bool
keys_are_known(const json_t *v, const char *const *keys, const char *path, const char *what,
               char *errbuf, size_t errlen)
{
    const char *key;
    json_t *field;

    json_object_foreach((json_t *)v, key, field) {
        int k;

        for (k = 0; keys[k] && strcmp(keys[k], key) != 0; k++)
            ;
        if (keys[k] == NULL) {
            snprintf(errbuf, errlen, "%s: %s: unknown key \"%s\"", path, what, key);
            return false;
        }
    }
    return true;
}

/* topics: [{name, attributes: {}, tags: {}, subscriptions: [{protocol, endpoint,
 * attributes: {}}]}]. Values are checked by the SNS operations when applied. */
static bool
topics_are_valid(const json_t *list, const char *path, char *errbuf, size_t errlen)
{
    static const char *const tkeys[] = { "name", "attributes", "tags", "subscriptions", NULL };
    static const char *const skeys[] = { "protocol", "endpoint", "attributes", NULL };
    char what[96];
    const json_t *t, *s, *subs;
    size_t i, j;

    if (!json_is_array(list)) {
        snprintf(errbuf, errlen, "%s: topics must be a list", path);
        return false;
    }
    json_array_foreach(list, i, t) {
        snprintf(what, sizeof(what), "topics[%zu]", i);
        if (!json_is_object(t) || !json_is_string(json_object_get(t, "name"))) {
            snprintf(errbuf, errlen, "%s: %s needs a name", path, what);
            return false;
        }
        if (!keys_are_known(t, tkeys, path, what, errbuf, errlen))
            return false;
        if ((json_object_get(t, "attributes") && !json_is_object(json_object_get(t, "attributes")))
            || (json_object_get(t, "tags") && !json_is_object(json_object_get(t, "tags")))) {
            snprintf(errbuf, errlen, "%s: %s: attributes and tags must be mappings", path, what);
            return false;
        }
        subs = json_object_get(t, "subscriptions");
        if (subs && !json_is_array(subs)) {
            snprintf(errbuf, errlen, "%s: %s: subscriptions must be a list", path, what);
            return false;
        }
        json_array_foreach(subs, j, s) {
            snprintf(what, sizeof(what), "topics[%zu].subscriptions[%zu]", i, j);
            if (!json_is_object(s) || !json_is_string(json_object_get(s, "protocol")) ||
                !json_is_string(json_object_get(s, "endpoint"))) {
                snprintf(errbuf, errlen, "%s: %s needs a protocol and an endpoint", path, what);
                return false;
            }
            if (!keys_are_known(s, skeys, path, what, errbuf, errlen))
                return false;
            if (json_object_get(s, "attributes") &&
                !json_is_object(json_object_get(s, "attributes"))) {
                snprintf(errbuf, errlen, "%s: %s: attributes must be a mapping", path, what);
                return false;
            }
        }
    }
    return true;
}

static int
take_str(json_t *doc, const char *key, char **dst, char *errbuf, size_t errlen)
{
    json_t *v = json_object_get(doc, key);

    if (v == NULL)
        return SL_OK;
    if (!json_is_string(v)) {
        snprintf(errbuf, errlen, "config: %s must be a string (quote it)", key);
        return SL_EINVAL;
    }
    sl_free(*dst);
    *dst = sl_strdup(json_string_value(v));
    return SL_OK;
}

int
sl_config_load(sl_config_t *c, const char *path, char *errbuf, size_t errlen)
{
    static const char *const known[] = {
        "listen", "store", "region", "account", "advertise_url", "log_level", "sns_ca_file",
        "queues", "topics", "functions", "triggers", NULL,
    };
    json_t *doc = sl_yaml_load(path, errbuf, errlen), *v, *q, *field;
    const char *key;
    size_t i;
    int rc = SL_EINVAL;

    if (doc == NULL)
        return SL_EINVAL;
    if (json_is_string(doc) && json_string_length(doc) == 0) {
        json_decref(doc);                   /* "---" and nothing else: an empty document */
        doc = json_object();
    }
    if (!json_is_object(doc)) {
        snprintf(errbuf, errlen, "%s: the top level must be a mapping", path);
        goto out;
    }
    json_object_foreach(doc, key, v) {
        int k;

        for (k = 0; known[k] && strcmp(known[k], key) != 0; k++)
            ;
        if (known[k] == NULL) {
            snprintf(errbuf, errlen, "%s: unknown setting \"%s\"", path, key);
            goto out;
        }
    }
    if (take_str(doc, "listen", &c->listen, errbuf, errlen) ||
        take_str(doc, "store", &c->store, errbuf, errlen) ||
        take_str(doc, "region", &c->region, errbuf, errlen) ||
        take_str(doc, "account", &c->account, errbuf, errlen) ||
        take_str(doc, "advertise_url", &c->advertise_url, errbuf, errlen) ||
        take_str(doc, "log_level", &c->log_level, errbuf, errlen) ||
        take_str(doc, "sns_ca_file", &c->sns_ca_file, errbuf, errlen))
        goto out;
    q = json_object_get(doc, "queues");
    if (q != NULL) {
        if (!json_is_array(q)) {
            snprintf(errbuf, errlen, "%s: queues must be a list", path);
            goto out;
        }
        json_array_foreach(q, i, v) {
            if (!json_is_object(v) || !json_is_string(json_object_get(v, "name"))) {
                snprintf(errbuf, errlen, "%s: queues[%zu] needs a name", path, i);
                goto out;
            }
            json_object_foreach(v, key, field) {
                if (strcmp(key, "name") && strcmp(key, "attributes") && strcmp(key, "tags")) {
                    snprintf(errbuf, errlen, "%s: queues[%zu]: unknown key \"%s\"", path, i,
                             key);
                    goto out;
                }
            }
        }
        json_decref(c->queues);
        c->queues = json_incref(json_object_get(doc, "queues"));
    }
    if ((q = json_object_get(doc, "topics")) != NULL) {
        if (!topics_are_valid(q, path, errbuf, errlen))
            goto out;
        json_decref(c->topics);
        c->topics = json_incref(q);
    }
    for (int k = 0; k < 2; k++) {
        const char *list = k == 0 ? "functions" : "triggers";
        json_t **dst = k == 0 ? &c->functions : &c->triggers;

        if ((q = json_object_get(doc, list)) == NULL)
            continue;
        if (!json_is_array(q)) {
            snprintf(errbuf, errlen, "%s: %s must be a list", path, list);
            goto out;
        }
        json_array_foreach(q, i, v) {
            if (!json_is_object(v)) {
                snprintf(errbuf, errlen, "%s: %s[%zu] must be a mapping", path, list, i);
                goto out;
            }
        }
        json_decref(*dst);
        *dst = json_incref(q);
    }
    rc = SL_OK;
out:
    json_decref(doc);
    return rc;
}
