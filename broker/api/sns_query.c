/* sns_query.c - SNS query protocol codec (sns_query.h).
 *
 * One generic rule serves every SNS shape: keys are paths, "member.N" and
 * "entry.N" mark lists and maps. The request is first built as a tree of
 * objects in which list nodes hold their elements under "#N" keys (and a
 * marker member), then each list node is turned into an array (member) or a
 * map (entry), elements in index order. */
#include "sns_query.h"

#include "sluice/error.h"
#include "sluice/mem.h"
#include "sqs_msg.h"
#include "sqs_query.h"
#include "xmlw.h"

#include <event2/buffer.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARK_MEMBER "\x01member"
#define MARK_ENTRY "\x01" "entry"

static int
parse_index(const char *s, long *out)
{
    char *end;
    long v;

    if (*s < '1' || *s > '9')
        return SL_EPROTO;
    v = strtol(s, &end, 10);
    if (*end != '\0' || v < 1 || v > SL_SNS_QUERY_INDEX_MAX)
        return SL_EPROTO;
    *out = v;
    return SL_OK;
}

/* Sets the value at the dotted path key under root. */
static int
place(json_t *root, const char *key, const char *val, size_t vlen, char *err, size_t errlen)
{
    char buf[1024], *segs[SL_SNS_QUERY_DEPTH_MAX + 1], *save = NULL, *t;
    size_t n = 0;
    json_t *node = root;

    if (strlen(key) >= sizeof(buf)) {
        snprintf(err, errlen, "Parameter name too long.");
        return SL_EPROTO;
    }
    strcpy(buf, key);
    for (t = strtok_r(buf, ".", &save); t; t = strtok_r(NULL, ".", &save)) {
        if (n == SL_SNS_QUERY_DEPTH_MAX) {
            snprintf(err, errlen, "Parameter %.200s has too many parts.", key);
            return SL_EPROTO;
        }
        segs[n++] = t;
    }
    if (n == 0) {
        snprintf(err, errlen, "Empty parameter name.");
        return SL_EPROTO;
    }
    for (size_t i = 0; i < n; i++) {
        bool last = i + 1 == n;
        json_t *child;
        char ikey[24];
        const char *name = segs[i];
        long idx;

        if ((strcmp(segs[i], "member") == 0 || strcmp(segs[i], "entry") == 0) && i > 0 &&
            i + 1 < n) {
            const char *mark = segs[i][0] == 'm' ? MARK_MEMBER : MARK_ENTRY;
            const char *other = segs[i][0] == 'm' ? MARK_ENTRY : MARK_MEMBER;

            if (parse_index(segs[i + 1], &idx) != SL_OK || json_object_get(node, other)) {
                snprintf(err, errlen, "Parameter %.200s has a bad list index.", key);
                return SL_EPROTO;
            }
            json_object_set_new(node, mark, json_true());
            snprintf(ikey, sizeof(ikey), "#%ld", idx);
            name = ikey;
            i++;
            last = i + 1 == n;
        }
        child = json_object_get(node, name);
        if (last) {
            if (child != NULL) {
                snprintf(err, errlen, "Parameter %.200s is given twice or conflicts with "
                         "another.", key);
                return SL_EPROTO;
            }
            /* Every reader takes C strings: a NUL would cut the value short, so
             * "TOPICARN%00junk" would name TOPICARN. */
            if (memchr(val, '\0', vlen) != NULL) {
                snprintf(err, errlen, "Parameter %.200s contains a NUL character.", key);
                return SL_EPROTO;
            }
            child = json_stringn(val, vlen);
            if (child == NULL) {
                snprintf(err, errlen, "Parameter %.200s is not valid UTF-8.", key);
                return SL_EPROTO;
            }
            if (json_object_set_new(node, name, child) != 0)
                goto bad_name;
            return SL_OK;
        }
        if (child == NULL) {
            /* jansson refuses a key that is not UTF-8 and frees child then: using
             * it as the next node wrote into freed memory. */
            child = json_object();
            if (json_object_set_new(node, name, child) != 0)
                goto bad_name;
        } else if (!json_is_object(child)) {
            snprintf(err, errlen, "Parameter %.200s conflicts with another.", key);
            return SL_EPROTO;
        }
        node = child;
    }
    return SL_OK;
bad_name:
    snprintf(err, errlen, "Parameter name %.200s is not valid UTF-8.", key);
    return SL_EPROTO;
}

static int
cmp_index(const void *a, const void *b)
{
    long x = atol(*(const char *const *)a + 1), y = atol(*(const char *const *)b + 1);

    return (x > y) - (x < y);
}

/* Rewrites the list nodes of the tree under node; returns the new node (a new
 * reference) or NULL with err. */
static json_t *
finish_tree(json_t *node, char *err, size_t errlen)
{
    const char *k;
    json_t *v, *out;
    bool member, entry;

    if (!json_is_object(node))
        return json_incref(node);
    member = json_object_get(node, MARK_MEMBER) != NULL;
    entry = json_object_get(node, MARK_ENTRY) != NULL;
    if (member || entry) {
        const char **keys = sl_calloc(json_object_size(node) + 1, sizeof(*keys));
        size_t n = 0;

        json_object_foreach(node, k, v) {
            if (k[0] == '#')
                keys[n++] = k;
            else if (k[0] != '\x01') {
                snprintf(err, errlen, "Parameter %.100s mixes a list with other fields.", k);
                sl_free(keys);
                return NULL;
            }
        }
        qsort(keys, n, sizeof(*keys), cmp_index);
        out = member ? json_array() : json_object();
        for (size_t i = 0; i < n; i++) {
            json_t *el;

            /* Indexes run 1..n: a gap would silently drop or reorder elements. */
            if (atol(keys[i] + 1) != (long)i + 1) {
                snprintf(err, errlen, "List or map indexes must run from 1 without gaps; "
                         "%zu is missing.", i + 1);
                json_decref(out);
                sl_free(keys);
                return NULL;
            }
            el = finish_tree(json_object_get(node, keys[i]), err, errlen);
            if (el == NULL) {
                json_decref(out);
                sl_free(keys);
                return NULL;
            }
            if (member) {
                json_array_append_new(out, el);
            } else {
                json_t *ek = json_object_get(el, "key"), *ev = json_object_get(el, "value");

                if (ek == NULL) {
                    ek = json_object_get(el, "Name");
                    ev = json_object_get(el, "Value");
                }
                if (!json_is_string(ek) || json_object_get(out, json_string_value(ek))) {
                    if (json_is_string(ek))
                        snprintf(err, errlen, "A map has the key %.100s twice.",
                                 json_string_value(ek));
                    else
                        snprintf(err, errlen, "A map entry lacks its key.");
                    json_decref(el);
                    json_decref(out);
                    sl_free(keys);
                    return NULL;
                }
                json_object_set(out, json_string_value(ek), ev ? ev : json_null());
                json_decref(el);
            }
        }
        sl_free(keys);
        return out;
    }
    out = json_object();
    json_object_foreach(node, k, v) {
        json_t *c = finish_tree(v, err, errlen);

        if (c == NULL) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, k, c);
    }
    return out;
}

int
sl_sns_query_to_json(const sl_form_t *form, json_t **out, char *err, size_t errlen)
{
    json_t *tree = json_object();
    char dummy[8];

    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    *out = NULL;
    for (size_t i = 0; i < sl_form_count(form); i++) {
        const char *k = sl_form_key(form, i);
        size_t vlen;
        const char *v = sl_form_value(form, i, &vlen);

        if (strcmp(k, "Action") == 0 || strcmp(k, "Version") == 0)
            continue;
        if (place(tree, k, v, vlen, err, errlen) != SL_OK) {
            json_decref(tree);
            return SL_EPROTO;
        }
    }
    *out = finish_tree(tree, err, errlen);
    json_decref(tree);
    return *out ? SL_OK : SL_EPROTO;
}

/* ---- XML ---- */

static void
open_tag(struct evbuffer *b, const char *name)
{
    evbuffer_add_printf(b, "<%s>", name);
}

static void
close_tag(struct evbuffer *b, const char *name)
{
    evbuffer_add_printf(b, "</%s>", name);
}

static void write_value(struct evbuffer *b, const char *name, const json_t *v);

static void
write_text(struct evbuffer *b, const json_t *v)
{
    char num[64];

    if (json_is_string(v)) {
        sl_xml_escape(b, json_string_value(v), json_string_length(v));
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        evbuffer_add(b, num, strlen(num));
    } else if (json_is_boolean(v)) {
        evbuffer_add_printf(b, "%s", json_is_true(v) ? "true" : "false");
    } else if (json_is_real(v)) {
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        evbuffer_add(b, num, strlen(num));
    }
}

static void
write_members(struct evbuffer *b, const json_t *o)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)o, k, v)
        write_value(b, k, v);
}

static void
write_value(struct evbuffer *b, const char *name, const json_t *v)
{
    size_t i;
    json_t *e;

    if (json_is_null(v))
        return;
    open_tag(b, name);
    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            open_tag(b, "member");
            if (json_is_object(e))
                write_members(b, e);
            else
                write_text(b, e);
            close_tag(b, "member");
        }
    } else if (json_is_object(v) && strcmp(name, "Attributes") == 0) {
        const char *k;

        json_object_foreach((json_t *)v, k, e) {
            evbuffer_add_printf(b, "<entry><key>");
            sl_xml_escape(b, k, strlen(k));
            evbuffer_add_printf(b, "</key><value>");
            write_text(b, e);
            evbuffer_add_printf(b, "</value></entry>");
        }
    } else if (json_is_object(v)) {
        write_members(b, v);
    } else {
        write_text(b, v);
    }
    close_tag(b, name);
}

void
sl_sns_xml_result(struct evbuffer *out, const char *op, const json_t *result,
                  const char *request_id)
{
    evbuffer_add_printf(out, "<?xml version=\"1.0\"?>\n<%sResponse xmlns=\"%s\">", op,
                        SL_SNS_XMLNS);
    if (result != NULL) {
        evbuffer_add_printf(out, "<%sResult>", op);
        write_members(out, result);
        evbuffer_add_printf(out, "</%sResult>", op);
    }
    evbuffer_add_printf(out, "<ResponseMetadata><RequestId>");
    if (request_id)
        sl_xml_escape(out, request_id, strlen(request_id));
    evbuffer_add_printf(out, "</RequestId></ResponseMetadata></%sResponse>", op);
}

void
sl_sns_xml_error(struct evbuffer *out, bool sender, const char *code, const char *message,
                 const char *request_id)
{
    size_t len = message ? strlen(message) : 0, i = 0, n;
    char *clean = sl_malloc(len + 1), *d = clean;

    /* Messages quote the request (an action name, a parameter key, a value cut at a
     * byte count): keep whole characters XML allows, the rest becomes '?', so the
     * reply always parses. */
    while (i < len) {
        unsigned char b = (unsigned char)message[i];

        n = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3
          : (b & 0xf8) == 0xf0 ? 4 : 0;
        if (n > 0 && n <= len - i && sl__sqs_text_is_valid(message + i, n)) {
            memcpy(d, message + i, n);
            d += n;
            i += n;
        } else {
            *d++ = '?';
            i++;
        }
    }
    *d = '\0';
    sl_sqs_xml_error(out, SL_SNS_XMLNS, sender, code, clean, request_id);
    sl_free(clean);
}

int
sl_sns_is_action(const char *action)
{
    static const char *const ops[] = {
        "CreateTopic", "DeleteTopic", "ListTopics", "GetTopicAttributes", "SetTopicAttributes",
        "Subscribe", "ConfirmSubscription", "Unsubscribe", "ListSubscriptions",
        "ListSubscriptionsByTopic", "GetSubscriptionAttributes", "SetSubscriptionAttributes",
        "Publish", "PublishBatch", "TagResource", "UntagResource", "ListTagsForResource",
        NULL,
    };

    for (size_t i = 0; ops[i]; i++)
        if (strcmp(ops[i], action) == 0)
            return 1;
    return 0;
}
