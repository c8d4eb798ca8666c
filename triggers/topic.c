/* topic.c - topic and subscription specs and their stored JSON documents
 * (sluice/topic.h). The documents keep attributes as the strings the client set
 * them to, so GetTopicAttributes and GetSubscriptionAttributes give back exactly
 * what was set, and the fanout compiles filter policies from the same text. */
#include "sluice/topic.h"

#include "sluice/error.h"
#include "sluice/mem.h"

#include <string.h>

void
sl_topic_spec_init(sl_topic_spec_t *t)
{
    memset(t, 0, sizeof(*t));
    sl_kvlist_init(&t->attrs);
    sl_kvlist_init(&t->tags);
}

void
sl_topic_spec_deinit(sl_topic_spec_t *t)
{
    sl_free(t->name);
    sl_kvlist_deinit(&t->attrs);
    sl_kvlist_deinit(&t->tags);
    memset(t, 0, sizeof(*t));
}

void
sl_topic_spec_copy(sl_topic_spec_t *dst, const sl_topic_spec_t *src)
{
    sl_topic_spec_init(dst);
    dst->name = src->name ? sl_strdup(src->name) : NULL;
    dst->fifo = src->fifo;
    dst->created_ms = src->created_ms;
    sl_kvlist_copy(&dst->attrs, &src->attrs);
    sl_kvlist_copy(&dst->tags, &src->tags);
}

void
sl_sub_spec_init(sl_sub_spec_t *s)
{
    memset(s, 0, sizeof(*s));
    sl_kvlist_init(&s->attrs);
}

void
sl_sub_spec_deinit(sl_sub_spec_t *s)
{
    sl_free(s->id);
    sl_free(s->topic);
    sl_free(s->endpoint);
    sl_free(s->token);
    sl_kvlist_deinit(&s->attrs);
    memset(s, 0, sizeof(*s));
}

void
sl_sub_spec_copy(sl_sub_spec_t *dst, const sl_sub_spec_t *src)
{
    sl_sub_spec_init(dst);
    dst->id = src->id ? sl_strdup(src->id) : NULL;
    dst->topic = src->topic ? sl_strdup(src->topic) : NULL;
    dst->endpoint = src->endpoint ? sl_strdup(src->endpoint) : NULL;
    dst->token = src->token ? sl_strdup(src->token) : NULL;
    dst->proto = src->proto;
    dst->confirmed = src->confirmed;
    dst->created_ms = src->created_ms;
    sl_kvlist_copy(&dst->attrs, &src->attrs);
}

/* ---- JSON documents ---- */

static json_t *
kv_to_json(const sl_kvlist_t *l)
{
    json_t *o = json_object();

    for (size_t i = 0; i < l->n; i++)
        json_object_set_new(o, l->v[i].key, json_string(l->v[i].val));
    return o;
}

static int
kv_from_json(sl_kvlist_t *l, const json_t *o)
{
    const char *k;
    json_t *v;

    if (o == NULL)
        return SL_OK;
    if (!json_is_object(o))
        return SL_EPROTO;
    json_object_foreach((json_t *)o, k, v) {
        if (!json_is_string(v))
            return SL_EPROTO;
        sl_kvlist_set(l, k, json_string_value(v));
    }
    return SL_OK;
}

static int
take_str(const json_t *doc, const char *key, bool required, char **dst)
{
    const json_t *v = json_object_get(doc, key);

    if (v == NULL || json_is_null(v))
        return required ? SL_EPROTO : SL_OK;
    if (!json_is_string(v))
        return SL_EPROTO;
    *dst = sl_strdup(json_string_value(v));
    return SL_OK;
}

json_t *
sl_topic_spec_to_json(const sl_topic_spec_t *t)
{
    json_t *o = json_object();

    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "fifo", json_boolean(t->fifo));
    json_object_set_new(o, "attributes", kv_to_json(&t->attrs));
    json_object_set_new(o, "tags", kv_to_json(&t->tags));
    json_object_set_new(o, "created_ms", json_integer(t->created_ms));
    return o;
}

int
sl_topic_spec_from_json(sl_topic_spec_t *t, const json_t *doc)
{
    sl_topic_spec_init(t);
    if (!json_is_object(doc) || take_str(doc, "name", true, &t->name) != SL_OK ||
        kv_from_json(&t->attrs, json_object_get(doc, "attributes")) != SL_OK ||
        kv_from_json(&t->tags, json_object_get(doc, "tags")) != SL_OK)
        return SL_EPROTO;
    t->fifo = json_is_true(json_object_get(doc, "fifo"));
    t->created_ms = json_integer_value(json_object_get(doc, "created_ms"));
    return SL_OK;
}

json_t *
sl_sub_spec_to_json(const sl_sub_spec_t *s)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_string(s->id));
    json_object_set_new(o, "topic", json_string(s->topic));
    json_object_set_new(o, "protocol", json_string(sl_sub_proto_name(s->proto)));
    json_object_set_new(o, "endpoint", json_string(s->endpoint));
    json_object_set_new(o, "confirmed", json_boolean(s->confirmed));
    if (s->token)
        json_object_set_new(o, "token", json_string(s->token));
    json_object_set_new(o, "attributes", kv_to_json(&s->attrs));
    json_object_set_new(o, "created_ms", json_integer(s->created_ms));
    return o;
}

int
sl_sub_spec_from_json(sl_sub_spec_t *s, const json_t *doc)
{
    const char *p;

    sl_sub_spec_init(s);
    if (!json_is_object(doc) || take_str(doc, "id", true, &s->id) != SL_OK ||
        take_str(doc, "topic", true, &s->topic) != SL_OK ||
        take_str(doc, "endpoint", true, &s->endpoint) != SL_OK ||
        take_str(doc, "token", false, &s->token) != SL_OK ||
        kv_from_json(&s->attrs, json_object_get(doc, "attributes")) != SL_OK)
        return SL_EPROTO;
    p = json_string_value(json_object_get(doc, "protocol"));
    if (p == NULL || sl_sub_proto_parse(p, &s->proto) != SL_OK)
        return SL_EPROTO;
    s->confirmed = json_is_true(json_object_get(doc, "confirmed"));
    s->created_ms = json_integer_value(json_object_get(doc, "created_ms"));
    return SL_OK;
}

/* ---- Names ---- */

bool
sl_topic_name_is_fifo(const char *name)
{
    size_t n = strlen(name);

    return n > 5 && strcmp(name + n - 5, ".fifo") == 0;
}

bool
sl_topic_name_is_valid(const char *name)
{
    size_t n = strlen(name);
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";

    if (n == 0 || n > SL_TOPIC_NAME_MAX)
        return false;
    if (sl_topic_name_is_fifo(name))
        n -= 5;
    return strspn(name, ok) == n;
}

static const char *const proto_names[] = { "sqs", "lambda", "http", "https" };

int
sl_sub_proto_parse(const char *s, sl_sub_proto_t *out)
{
    static const char *const undelivered[] = {
        "email", "email-json", "sms", "application", "firehose",
    };

    for (size_t i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]); i++) {
        if (strcmp(s, proto_names[i]) == 0) {
            *out = (sl_sub_proto_t)i;
            return SL_OK;
        }
    }
    for (size_t i = 0; i < sizeof(undelivered) / sizeof(undelivered[0]); i++)
        if (strcmp(s, undelivered[i]) == 0)
            return SL_ENOTFOUND;
    return SL_EINVAL;
}

const char *
sl_sub_proto_name(sl_sub_proto_t p)
{
    return (unsigned)p < sizeof(proto_names) / sizeof(proto_names[0]) ? proto_names[p] : "?";
}

const char *
sl_arn_resource(const char *arn, const char *service, char *buf, size_t buflen)
{
    size_t sl = strlen(service);
    const char *p;
    int colons = 0;

    if (strncmp(arn, "arn:", 4) != 0)
        return NULL;
    p = strchr(arn + 4, ':');               /* after the partition */
    if (p == NULL || strncmp(p + 1, service, sl) != 0 || p[1 + sl] != ':')
        return NULL;
    p += 1 + sl + 1;                        /* region:account:rest */
    for (; *p && colons < 2; p++)
        if (*p == ':')
            colons++;
    if (colons < 2 || *p == '\0')
        return NULL;
    if (strcmp(service, "lambda") == 0) {
        const char *end;
        size_t n;

        if (strncmp(p, "function:", 9) != 0 || p[9] == '\0')
            return NULL;
        p += 9;
        end = strchr(p, ':');
        n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 || n >= buflen)
            return NULL;
        memcpy(buf, p, n);
        buf[n] = '\0';
        return buf;
    }
    return strchr(p, ':') ? NULL : p;
}
