/* sqs_query.c - the SQS query protocol as a translation layer over the JSON protocol.
 * Operations are written once, against JSON 1.0 input and output objects; query
 * clients (aws-cli v2, boto3 before 1.34) are served by converting their form
 * parameters into that input and the output back into flattened-list XML.
 *
 * Indexed parameters arrive in any order, so conversion runs in two passes. The first
 * files each parameter under its prefix and index in scratch JSON objects (hash lookups,
 * and a parameter given twice is caught when its slot is already taken); the second
 * sorts each group's indexes and builds the final members. The scratch keys are the
 * index strings themselves, which is why indexes with leading zeros are refused: "01"
 * and "1" would otherwise be two slots for one entry. */
#include "api/sqs_query.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "sluice/error.h"
#include "sluice/mem.h"
#include "xmlw.h"

/* ---- Query request to JSON input ---- */

enum shape {
    SHAPE_LIST,         /* Prefix.N=v                         -> [v, ...] */
    SHAPE_MAP,          /* Prefix.N.<key_field>=k, .N.Value=v -> {k: v} */
    SHAPE_MATTRS,       /* Prefix.N.Name=n, .N.Value.<F>=v    -> {n: {F: v}} */
    SHAPE_ENTRIES,      /* Prefix.N.<Field>=v                 -> [{Field: v}, ...] */
};

struct rule {
    const char *prefix;         /* query name before the first index */
    size_t prefix_len;
    const char *member;         /* JSON member it becomes */
    enum shape shape;
    const char *key_field;      /* SHAPE_MAP: the field holding the key */
    bool nested;                /* SHAPE_ENTRIES: entries may carry message attributes */
};

#define RULE(p, m, s, k, n) { p, sizeof(p) - 1, m, s, k, n }

static const struct rule top_rules[] = {
    RULE("Attribute", "Attributes", SHAPE_MAP, "Name", false),
    RULE("Tag", "tags", SHAPE_MAP, "Key", false),
    RULE("TagKey", "TagKeys", SHAPE_LIST, NULL, false),
    RULE("AttributeName", "AttributeNames", SHAPE_LIST, NULL, false),
    RULE("MessageAttributeName", "MessageAttributeNames", SHAPE_LIST, NULL, false),
    RULE("MessageSystemAttributeName", "MessageSystemAttributeNames", SHAPE_LIST, NULL, false),
    RULE("MessageAttribute", "MessageAttributes", SHAPE_MATTRS, NULL, false),
    RULE("MessageSystemAttribute", "MessageSystemAttributes", SHAPE_MATTRS, NULL, false),
    RULE("SendMessageBatchRequestEntry", "Entries", SHAPE_ENTRIES, NULL, true),
    RULE("DeleteMessageBatchRequestEntry", "Entries", SHAPE_ENTRIES, NULL, false),
    RULE("ChangeMessageVisibilityBatchRequestEntry", "Entries", SHAPE_ENTRIES, NULL, false),
};

/* Fields of a SendMessageBatchRequestEntry that are indexed themselves. */
static const struct rule entry_rules[] = {
    RULE("MessageAttribute", "MessageAttributes", SHAPE_MATTRS, NULL, false),
    RULE("MessageSystemAttribute", "MessageSystemAttributes", SHAPE_MATTRS, NULL, false),
};

#define NRULES(a) (sizeof(a) / sizeof((a)[0]))
#define SHOW_MAX 80     /* bytes of a client-supplied name quoted in an error message */

struct conv {
    char *err;
    size_t errlen;
};

struct slot {
    unsigned idx;
    json_t *v;                  /* borrowed from the scratch group */
};

static int fail(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct conv *c, const char *fmt, ...)
{
    va_list ap;

    if (c->errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return SL_EPROTO;
}

/* Copies s for quoting in an error message: printable ASCII only (anything else
 * becomes '?'), cut at SHOW_MAX bytes. Returns buf, which has SHOW_MAX + 4 bytes. */
static const char *
show(const char *s, char *buf)
{
    size_t i;

    for (i = 0; s[i] != '\0' && i < SHOW_MAX; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i] != '\0') {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static json_t *
new_object(void)
{
    json_t *o = json_object();

    sl_assert(o != NULL);       /* jansson out of memory; sl_malloc would abort too */
    return o;
}

static const struct rule *
find_rule(const struct rule *rules, size_t n, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (rules[i].prefix_len == len && memcmp(rules[i].prefix, name, len) == 0)
            return &rules[i];
    return NULL;
}

/* Reads an index at *pp into ib (5 bytes) and moves *pp past it. The index must be
 * 1..SL_SQS_QUERY_INDEX_MAX without leading zeros and end at '.' or the end of the
 * name. Returns false otherwise. */
static bool
take_index(const char **pp, char *ib)
{
    const char *p = *pp;
    unsigned v = 0;
    size_t n = 0;

    while (*p >= '0' && *p <= '9') {
        if (n == 4)
            return false;
        v = v * 10 + (unsigned)(*p - '0');
        ib[n++] = *p++;
    }
    ib[n] = '\0';
    if (n == 0 || ib[0] == '0' || v > SL_SQS_QUERY_INDEX_MAX || (*p != '.' && *p != '\0'))
        return false;
    *pp = p;
    return true;
}

/* Object member k of o, created empty when absent; NULL when k holds a string. */
static json_t *
child(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    if (v == NULL) {
        v = new_object();
        if (json_object_set_new(o, k, v) < 0)
            return NULL;        /* k is not UTF-8 */
    }
    return json_is_object(v) ? v : NULL;
}

static int
set_leaf(struct conv *c, json_t *o, const char *k, const char *key, const char *v,
         size_t vlen)
{
    char b[SHOW_MAX + 4];
    json_t *s;

    if (json_object_get(o, k) != NULL)
        return fail(c, "The parameter %s is given more than once.", show(key, b));
    if ((s = json_stringn(v, vlen)) == NULL)
        return fail(c, "The value of parameter %s is not valid UTF-8.", show(key, b));
    if (json_object_set_new(o, k, s) < 0)
        return fail(c, "The parameter name %s is not valid UTF-8.", show(key, b));
    return SL_OK;
}

/* Refuses key, whose first plen bytes are a known prefix ("Attribute" or
 * "SendMessageBatchRequestEntry.2.MessageAttribute"), naming the expected forms
 * prefix.N<sfx1> [or .N<sfx2>]. At most 250 bytes of message. */
static int
bad_name(struct conv *c, const char *key, size_t plen, const char *sfx1, const char *sfx2)
{
    char b[SHOW_MAX + 4];

    return fail(c, "The parameter %s is malformed: expected %.*s.N%s%s%s (N from 1 to %d).",
                show(key, b), (int)plen, key, sfx1, sfx2 != NULL ? " or .N" : "",
                sfx2 != NULL ? sfx2 : "", SL_SQS_QUERY_INDEX_MAX);
}

/* Files a message attribute parameter; rest points into key just after "<prefix>.",
 * at "N.Name" or "N.Value.<Field>". */
static int
add_mattr(struct conv *c, json_t *group, const char *rest, const char *key, const char *v,
          size_t vlen)
{
    size_t plen = (size_t)(rest - key - 1);
    const char *field;
    json_t *el;
    char ib[5];

    if (!take_index(&rest, ib) || *rest != '.')
        goto out_bad;
    field = rest + 1;
    if (strcmp(field, "Name") != 0) {
        if (strncmp(field, "Value.", 6) != 0)
            goto out_bad;
        field += 6;
        if (strcmp(field, "DataType") != 0 && strcmp(field, "StringValue") != 0
            && strcmp(field, "BinaryValue") != 0)
            goto out_bad;
    }
    el = child(group, ib);
    sl_assert(el != NULL);      /* attribute slots only ever hold objects */
    return set_leaf(c, el, field, key, v, vlen);
out_bad:
    return bad_name(c, key, plen, ".Name", ".Value.DataType|StringValue|BinaryValue");
}

static int
add_param(struct conv *c, json_t *out, json_t *acc, const char *key, const char *v,
          size_t vlen)
{
    const char *dot = strchr(key, '.'), *rest, *field, *fdot;
    const struct rule *r, *nr;
    json_t *group, *el;
    char ib[5];

    if (dot == NULL || (r = find_rule(top_rules, NRULES(top_rules), key,
                                      (size_t)(dot - key))) == NULL)
        return set_leaf(c, out, key, key, v, vlen);
    group = child(acc, r->prefix);
    sl_assert(group != NULL);
    rest = dot + 1;
    switch (r->shape) {
    case SHAPE_LIST:
        if (!take_index(&rest, ib) || *rest != '\0')
            return bad_name(c, key, r->prefix_len, "", NULL);
        return set_leaf(c, group, ib, key, v, vlen);
    case SHAPE_MAP:
        if (!take_index(&rest, ib) || *rest != '.'
            || (strcmp(rest + 1, r->key_field) != 0 && strcmp(rest + 1, "Value") != 0))
            return bad_name(c, key, r->prefix_len,
                            strcmp(r->key_field, "Key") == 0 ? ".Key" : ".Name", ".Value");
        el = child(group, ib);
        sl_assert(el != NULL);      /* map slots only ever hold objects */
        return set_leaf(c, el, rest + 1, key, v, vlen);
    case SHAPE_MATTRS:
        return add_mattr(c, group, rest, key, v, vlen);
    case SHAPE_ENTRIES:
        if (!take_index(&rest, ib) || *rest != '.' || rest[1] == '\0')
            return bad_name(c, key, r->prefix_len, ".<Field>", NULL);
        field = rest + 1;
        el = child(group, ib);
        sl_assert(el != NULL);      /* entry slots only ever hold objects */
        if ((fdot = strchr(field, '.')) == NULL)
            return set_leaf(c, el, field, key, v, vlen);
        if (!r->nested || (nr = find_rule(entry_rules, NRULES(entry_rules), field,
                                          (size_t)(fdot - field))) == NULL)
            return bad_name(c, key, r->prefix_len, ".<Field>", NULL);
        if ((group = child(el, nr->prefix)) == NULL) {
            char b[SHOW_MAX + 4];

            return fail(c, "The parameter %s conflicts with another parameter.",
                        show(key, b));
        }
        return add_mattr(c, group, fdot + 1, key, v, vlen);
    }
    return SL_OK;
}

static int
cmp_slot(const void *a, const void *b)
{
    const struct slot *x = a, *y = b;

    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* The elements of a scratch group in index order; new array, caller frees. */
static struct slot *
sorted(json_t *group, size_t *n)
{
    struct slot *s = sl_malloc((json_object_size(group) + 1) * sizeof(*s));
    const char *k;
    json_t *v;
    size_t i = 0;

    json_object_foreach(group, k, v) {
        s[i].idx = (unsigned)strtoul(k, NULL, 10);
        s[i].v = v;
        i++;
    }
    qsort(s, i, sizeof(*s), cmp_slot);
    *n = i;
    return s;
}

/* Sets map[name] = v (taking a reference) for a name that came from a parameter value. */
static int
set_named(struct conv *c, json_t *map, json_t *name, json_t *v, const char *ctx,
          unsigned idx, const char *field)
{
    const char *s = json_string_value(name);

    if (memchr(s, '\0', json_string_length(name)) != NULL)
        return fail(c, "The parameter %s.%u.%s contains a NUL character.", ctx, idx, field);
    if (json_object_get(map, s) != NULL)
        return fail(c, "The parameter %s.%u.%s repeats the name of an earlier entry.",
                    ctx, idx, field);
    json_object_set(map, s, v);
    return SL_OK;
}

static json_t *
build_list(json_t *group)
{
    json_t *a = json_array();
    struct slot *s;
    size_t i, n;

    sl_assert(a != NULL);
    s = sorted(group, &n);
    for (i = 0; i < n; i++)
        json_array_append(a, s[i].v);
    sl_free(s);
    return a;
}

static json_t *
build_map(struct conv *c, const struct rule *r, json_t *group)
{
    json_t *map = new_object();
    struct slot *s;
    size_t i, n;

    s = sorted(group, &n);
    for (i = 0; i < n; i++) {
        json_t *k = json_object_get(s[i].v, r->key_field);
        json_t *v = json_object_get(s[i].v, "Value");

        if (k == NULL || v == NULL) {
            fail(c, "The parameter %s.%u.%s is missing.", r->prefix, s[i].idx,
                 k == NULL ? r->key_field : "Value");
            goto out_free;
        }
        if (set_named(c, map, k, v, r->prefix, s[i].idx, r->key_field) < 0)
            goto out_free;
    }
    sl_free(s);
    return map;
out_free:
    sl_free(s);
    json_decref(map);
    return NULL;
}

/* ctx names the group in messages: "MessageAttribute" or
 * "SendMessageBatchRequestEntry.2.MessageAttribute". */
static json_t *
build_mattrs(struct conv *c, json_t *group, const char *ctx)
{
    json_t *map = new_object();
    struct slot *s;
    size_t i, n;

    s = sorted(group, &n);
    for (i = 0; i < n; i++) {
        json_t *name = json_object_get(s[i].v, "Name"), *val, *fv;
        const char *f;

        if (name == NULL) {
            fail(c, "The parameter %s.%u.Name is missing.", ctx, s[i].idx);
            goto out_free;
        }
        val = new_object();
        json_object_foreach(s[i].v, f, fv) {
            if (fv != name)
                json_object_set(val, f, fv);
        }
        if (set_named(c, map, name, val, ctx, s[i].idx, "Name") < 0) {
            json_decref(val);
            goto out_free;
        }
        json_decref(val);
    }
    sl_free(s);
    return map;
out_free:
    sl_free(s);
    json_decref(map);
    return NULL;
}

static json_t *
build_entries(struct conv *c, const struct rule *r, json_t *group)
{
    json_t *a = json_array();
    struct slot *s;
    size_t i, n;

    sl_assert(a != NULL);
    s = sorted(group, &n);
    for (i = 0; i < n; i++) {
        json_t *ent = new_object(), *fv;
        const char *f;

        json_array_append_new(a, ent);
        json_object_foreach(s[i].v, f, fv) {
            const char *member = f;
            char b[SHOW_MAX + 4];

            if (json_is_object(fv)) {
                const struct rule *nr = find_rule(entry_rules, NRULES(entry_rules), f,
                                                  strlen(f));
                char ctx[128];

                sl_assert(nr != NULL);
                snprintf(ctx, sizeof(ctx), "%s.%u.%s", r->prefix, s[i].idx, nr->prefix);
                if ((fv = build_mattrs(c, fv, ctx)) == NULL)
                    goto out_free;
                member = nr->member;
            } else {
                json_incref(fv);
            }
            if (json_object_get(ent, member) != NULL) {
                json_decref(fv);
                fail(c, "The parameter %s.%u.%s is given more than once.", r->prefix,
                     s[i].idx, show(member, b));
                goto out_free;
            }
            json_object_set_new(ent, member, fv);
        }
    }
    sl_free(s);
    return a;
out_free:
    sl_free(s);
    json_decref(a);
    return NULL;
}

int
sl_sqs_query_to_json(const sl_form_t *form, json_t **out, char *err, size_t errlen)
{
    struct conv c = { err, errlen };
    json_t *res = new_object(), *acc = new_object();
    size_t i, n = sl_form_count(form);
    int rc = SL_OK;

    *out = NULL;
    if (errlen > 0)
        err[0] = '\0';
    for (i = 0; i < n; i++) {
        const char *key = sl_form_key(form, i), *v;
        size_t vlen;

        if (strcmp(key, "Action") == 0 || strcmp(key, "Version") == 0)
            continue;
        if (key[0] == '\0') {
            rc = fail(&c, "A parameter has an empty name.");
            goto out_free;
        }
        v = sl_form_value(form, i, &vlen);
        if ((rc = add_param(&c, res, acc, key, v, vlen)) < 0)
            goto out_free;
    }
    for (i = 0; i < NRULES(top_rules); i++) {
        const struct rule *r = &top_rules[i];
        json_t *group = json_object_get(acc, r->prefix), *built = NULL;

        if (group == NULL)
            continue;
        switch (r->shape) {
        case SHAPE_LIST:
            built = build_list(group);
            break;
        case SHAPE_MAP:
            built = build_map(&c, r, group);
            break;
        case SHAPE_MATTRS:
            built = build_mattrs(&c, group, r->prefix);
            break;
        case SHAPE_ENTRIES:
            built = build_entries(&c, r, group);
            break;
        }
        if (built == NULL) {
            rc = SL_EPROTO;
            goto out_free;
        }
        if (json_object_get(res, r->member) != NULL) {
            json_decref(built);
            rc = fail(&c, "The %s.N parameters conflict with another parameter that sets %s.",
                      r->prefix, r->member);
            goto out_free;
        }
        json_object_set_new(res, r->member, built);
    }
    json_decref(acc);
    *out = res;
    return SL_OK;
out_free:
    json_decref(acc);
    json_decref(res);
    return rc;
}

/* ---- JSON output to XML ---- */

static const char *const output_less_ops[] = {
    "DeleteMessage", "ChangeMessageVisibility", "SetQueueAttributes", "PurgeQueue",
    "DeleteQueue", "TagQueue", "UntagQueue",
};

#define OP_MAX 64       /* longest op name accepted; real ones are under 40 */

static void write_members(struct evbuffer *out, const char *op, json_t *obj);

static void
open_tag(struct evbuffer *out, const char *name)
{
    evbuffer_add(out, "<", 1);
    evbuffer_add(out, name, strlen(name));
    evbuffer_add(out, ">", 1);
}

static void
close_tag(struct evbuffer *out, const char *name)
{
    evbuffer_add(out, "</", 2);
    evbuffer_add(out, name, strlen(name));
    evbuffer_add(out, ">", 1);
}

static void
write_text(struct evbuffer *out, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        sl_xml_escape(out, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        evbuffer_add_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        evbuffer_add_printf(out, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        evbuffer_add(out, "true", 4);
        break;
    case JSON_FALSE:
        evbuffer_add(out, "false", 5);
        break;
    default:
        break;
    }
}

/* <name>v</name>: arrays repeat the element per item, objects nest, null is omitted. */
static void
write_value(struct evbuffer *out, const char *op, const char *name, json_t *v)
{
    size_t i;
    json_t *item;

    switch (json_typeof(v)) {
    case JSON_NULL:
        return;
    case JSON_ARRAY:
        json_array_foreach(v, i, item)
            write_value(out, op, name, item);
        return;
    case JSON_OBJECT:
        open_tag(out, name);
        write_members(out, op, v);
        close_tag(out, name);
        return;
    default:
        open_tag(out, name);
        write_text(out, v);
        close_tag(out, name);
        return;
    }
}

/* {k: v} as <elem><kname>k</kname><Value>v</Value></elem> repeated. */
static void
write_pairs(struct evbuffer *out, const char *op, const char *elem, const char *kname,
            json_t *map)
{
    const char *k;
    json_t *v;

    json_object_foreach(map, k, v) {
        open_tag(out, elem);
        sl_xml_element(out, kname, k, strlen(k));
        write_value(out, op, "Value", v);
        close_tag(out, elem);
    }
}

static void
write_mattrs(struct evbuffer *out, const char *op, json_t *map)
{
    static const char *const first[] = { "StringValue", "BinaryValue", "DataType" };
    const char *name, *f;
    json_t *val, *fv;
    size_t i;

    json_object_foreach(map, name, val) {
        evbuffer_add(out, "<MessageAttribute>", 18);
        sl_xml_element(out, "Name", name, strlen(name));
        evbuffer_add(out, "<Value>", 7);
        if (!json_is_object(val)) {
            write_text(out, val);
        } else {
            for (i = 0; i < NRULES(first); i++)
                if ((fv = json_object_get(val, first[i])) != NULL)
                    write_value(out, op, first[i], fv);
            json_object_foreach(val, f, fv) {
                if (strcmp(f, "StringValue") != 0 && strcmp(f, "BinaryValue") != 0
                    && strcmp(f, "DataType") != 0)
                    write_value(out, op, f, fv);
            }
        }
        evbuffer_add(out, "</Value></MessageAttribute>", 27);
    }
}

static void
write_members(struct evbuffer *out, const char *op, json_t *obj)
{
    const char *k;
    json_t *v;

    json_object_foreach(obj, k, v) {
        if (json_is_array(v)) {
            if (strcmp(k, "QueueUrls") == 0 || strcmp(k, "queueUrls") == 0) {
                write_value(out, op, "QueueUrl", v);
                continue;
            }
            if (strcmp(k, "Messages") == 0) {
                write_value(out, op, "Message", v);
                continue;
            }
            if (strcmp(k, "Successful") == 0) {
                char name[OP_MAX + sizeof("ResultEntry")];

                snprintf(name, sizeof(name), "%sResultEntry", op);
                write_value(out, op, name, v);
                continue;
            }
            if (strcmp(k, "Failed") == 0) {
                write_value(out, op, "BatchResultErrorEntry", v);
                continue;
            }
        } else if (json_is_object(v)) {
            if (strcmp(k, "Attributes") == 0) {
                write_pairs(out, op, "Attribute", "Name", v);
                continue;
            }
            if (strcmp(k, "Tags") == 0) {
                write_pairs(out, op, "Tag", "Key", v);
                continue;
            }
            if (strcmp(k, "MessageAttributes") == 0) {
                write_mattrs(out, op, v);
                continue;
            }
        }
        write_value(out, op, k, v);
    }
}

static bool
is_plain_name(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return i > 0 && i <= OP_MAX;
}

void
sl_sqs_xml_result(struct evbuffer *out, const char *op, const json_t *result,
                  const char *request_id)
{
    json_t *res = (json_t *)result;     /* jansson's iterators take non-const objects */
    bool empty = res == NULL || json_object_size(res) == 0;
    size_t i;

    sl_assert(is_plain_name(op));
    sl_assert(res == NULL || json_is_object(res));
    evbuffer_add_printf(out, "<?xml version=\"1.0\"?>\n<%sResponse xmlns=\"%s\">", op,
                        SL_SQS_XMLNS);
    for (i = 0; empty && i < NRULES(output_less_ops); i++)
        if (strcmp(op, output_less_ops[i]) == 0)
            break;
    if (!empty) {
        evbuffer_add_printf(out, "<%sResult>", op);
        write_members(out, op, res);
        evbuffer_add_printf(out, "</%sResult>", op);
    } else if (i == NRULES(output_less_ops)) {
        evbuffer_add_printf(out, "<%sResult/>", op);
    }
    evbuffer_add(out, "<ResponseMetadata><RequestId>", 29);
    if (request_id != NULL)
        sl_xml_escape(out, request_id, strlen(request_id));
    evbuffer_add_printf(out, "</RequestId></ResponseMetadata></%sResponse>", op);
}

void
sl_sqs_xml_error(struct evbuffer *out, const char *xmlns, bool sender, const char *code,
                 const char *message, const char *request_id)
{
    static const char head[] = "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"";

    evbuffer_add(out, head, sizeof(head) - 1);
    sl_xml_escape(out, xmlns, strlen(xmlns));
    evbuffer_add_printf(out, "\"><Error><Type>%s</Type><Code>", sender ? "Sender" : "Receiver");
    sl_xml_escape(out, code, strlen(code));
    evbuffer_add(out, "</Code><Message>", 16);
    if (message != NULL)
        sl_xml_escape(out, message, strlen(message));
    evbuffer_add(out, "</Message><Detail/></Error><RequestId>", 38);
    if (request_id != NULL)
        sl_xml_escape(out, request_id, strlen(request_id));
    evbuffer_add(out, "</RequestId></ErrorResponse>", 28);
}
