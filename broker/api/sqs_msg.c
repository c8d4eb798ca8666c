/* sqs_msg.c - what a sender may put in a message and what a receiver gets back.
 * Validation follows SQS: bodies and string values limited to XML-legal
 * characters, at most 10 message attributes with AWS's naming rules, FIFO ids of
 * printable ASCII. Binary values arrive and leave as base64 but are stored (and
 * hashed, as SQS does) as raw bytes. */
#include "sqs_msg.h"

#include "b64.h"

#include "sluice/mem.h"
#include "sqs_attrs.h"

#include <ctype.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- Text and base64 ---- */

bool
sl__sqs_text_is_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *e = s + len;

    while (s < e) {
        unsigned c;
        uint32_t cp;
        int n;

        /* Printable ASCII eight bytes at a time: no byte >= 0x80 and none < 0x20. */
        while (e - s >= 8) {
            uint64_t w;

            memcpy(&w, s, 8);
            if (((w | ((w - 0x2020202020202020ULL) & ~w)) & 0x8080808080808080ULL) != 0)
                break;
            s += 8;
        }
        if (s == e)
            break;
        c = *s;
        if (c >= 0x20 && c < 0x80) {
            s++;
            continue;
        }
        if (c < 0x80) {
            if (c != 0x9 && c != 0xA && c != 0xD)
                return false;
            s++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (e - s <= n)
            return false;
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF || cp > 0x10FFFF)
            return false;
        s += n + 1;
    }
    return true;
}

/* ---- Sender side ---- */

static bool
attr_name_is_valid(const char *n)
{
    size_t len = strlen(n);

    if (len == 0 || len > 256 || n[0] == '.' || n[len - 1] == '.' ||
        strncasecmp(n, "AWS.", 4) == 0 || strncasecmp(n, "Amazon.", 7) == 0 ||
        strstr(n, "..") != NULL)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(isalnum((unsigned char)n[i]) || n[i] == '_' || n[i] == '-' || n[i] == '.'))
            return false;
    return true;
}

static bool
number_is_valid(const char *s)
{
    int digits = 0;

    if (*s == '+' || *s == '-')
        s++;
    while (isdigit((unsigned char)*s)) {
        s++;
        digits++;
    }
    if (*s == '.') {
        s++;
        while (isdigit((unsigned char)*s)) {
            s++;
            digits++;
        }
    }
    if (digits == 0)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

/* Parses {name: {DataType, StringValue|BinaryValue}} into attrs[]. */
static bool
parse_attrs(const json_t *map, bool system, sl_msg_attr_t *attrs, char **decoded, uint32_t *n,
            sl_api_err_t *err)
{
    const char *name;
    json_t *v;

    *n = 0;
    if (map == NULL || json_is_null(map))
        return true;
    if (!json_is_object(map)) {
        sl_api_err_set(err, &SL_ERR_INVALID_PARAM, "MessageAttributes must be a map.");
        return false;
    }
    if (json_object_size(map) > SL_MSG_MAX_ATTRS) {
        sl_api_err_set(err, &SL_ERR_INVALID_PARAM,
                       "Number of message attributes [%zu] exceeds the allowed maximum [10].",
                       json_object_size(map));
        return false;
    }
    json_object_foreach((json_t *)map, name, v) {
        const char *type = json_string_value(json_object_get(v, "DataType"));
        const json_t *sv = json_object_get(v, "StringValue");
        const json_t *bv = json_object_get(v, "BinaryValue");
        sl_msg_attr_t *a = &attrs[*n];

        if (system ? strcmp(name, "AWSTraceHeader") != 0 : !attr_name_is_valid(name)) {
            sl_api_err_set(err, &SL_ERR_INVALID_PARAM,
                           system ? "Message system attribute name '%.128s' is invalid."
                                  : "Message attribute name '%.128s' is invalid.",
                           name);
            return false;
        }
        if (!json_is_object(v) || type == NULL || *type == '\0') {
            sl_api_err_set(err, &SL_ERR_INVALID_PARAM,
                           "The message attribute '%.128s' must contain a non-empty attribute "
                           "type.", name);
            return false;
        }
        if (strlen(type) > 256 ||
            !(strncmp(type, "String", 6) == 0 || strncmp(type, "Number", 6) == 0 ||
              strncmp(type, "Binary", 6) == 0) ||
            (type[6] != '\0' && type[6] != '.') || (system && strcmp(type, "String") != 0)) {
            sl_api_err_set(err, &SL_ERR_INVALID_PARAM,
                           "The type of message attribute '%.128s' is invalid.", name);
            return false;
        }
        a->name = (char *)name;
        a->type = (char *)type;
        if (strncmp(type, "Binary", 6) == 0) {
            size_t len;

            if (!json_is_string(bv) || json_string_length(bv) == 0 ||
                !sl__b64_decode(json_string_value(bv), json_string_length(bv), &decoded[*n],
                                &len) || len == 0) {
                sl_api_err_set(err, &SL_ERR_INVALID_PARAM,
                               "The message attribute '%.128s' with type 'Binary' must use "
                               "field 'Binary' holding base64.", name);
                return false;
            }
            a->value = decoded[*n];
            a->len = len;
        } else {
            if (!json_is_string(sv) || json_string_length(sv) == 0) {
                sl_api_err_set(err, &SL_ERR_INVALID_PARAM,
                               "The message attribute '%.128s' must contain a non-empty "
                               "message attribute value for message attribute type '%.64s'.",
                               name, type);
                return false;
            }
            a->value = (char *)json_string_value(sv);
            a->len = json_string_length(sv);
            if (!sl__sqs_text_is_valid(a->value, a->len)) {
                sl_api_err_set(err, &SL_ERR_INVALID_CONTENTS,
                               "The message attribute '%.128s' contains invalid characters.",
                               name);
                return false;
            }
            if (strncmp(type, "Number", 6) == 0 && !number_is_valid(a->value)) {
                sl_api_err_set(err, &SL_ERR_INVALID_PARAM,
                               "Can't cast the value of message (user) attribute '%.128s' to "
                               "a number.", name);
                return false;
            }
        }
        (*n)++;
    }
    return true;
}

static bool
fifo_id_is_valid(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '!' || s[i] > '~')
            return false;
    return true;
}

bool
sl__sqs_msgin_parse(const json_t *o, bool fifo_name, sl_sqs_msgin_t *m, sl_api_err_t *err)
{
    const json_t *body = json_object_get(o, "MessageBody");
    const json_t *gid = json_object_get(o, "MessageGroupId");
    const json_t *did = json_object_get(o, "MessageDeduplicationId");
    sl_msg_attr_t sys[SL_MSG_MAX_ATTRS];
    char *sysdec[SL_MSG_MAX_ATTRS] = { NULL };
    uint32_t nsys = 0;
    long long delay = -1;
    bool ok;

    /* Everything but attrs[], which is filled up to in.nattrs. */
    memset(&m->in, 0, sizeof(m->in));
    memset(m->decoded, 0, sizeof(m->decoded));
    m->dedup_hash[0] = '\0';
    m->md5_sys[0] = '\0';
    m->in.delay_s = -1;
    if (!json_is_string(body) || json_string_length(body) == 0) {
        sl_api_err_set(err, &SL_ERR_MISSING_PARAM,
                       "The request must contain the parameter MessageBody.");
        return false;
    }
    m->in.body = json_string_value(body);
    m->in.body_len = json_string_length(body);
    if (!sl__sqs_text_is_valid(m->in.body, m->in.body_len)) {
        sl_api_err_set(err, &SL_ERR_INVALID_CONTENTS,
                       "Invalid characters found. Valid unicode characters are #x9 | #xA | "
                       "#xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF");
        return false;
    }
    switch (sl__json_int(o, "DelaySeconds", 0, 900, &delay)) {
    case -1:
        sl_api_err_set(err, &SL_ERR_INVALID_PARAM,
                       "Value for parameter DelaySeconds is invalid. Reason: must be an "
                       "integer from 0 to 900.");
        return false;
    case 1:
        m->in.delay_s = (int32_t)delay;
        break;
    }
    if (!parse_attrs(json_object_get(o, "MessageAttributes"), false, m->attrs, m->decoded,
                     &m->in.nattrs, err))
        return false;
    m->in.attrs = m->attrs;
    ok = parse_attrs(json_object_get(o, "MessageSystemAttributes"), true, sys, sysdec, &nsys,
                     err);
    if (ok && nsys == 1) {
        m->in.trace_header = sys[0].value;
        sl_md5_attrs(sys, 1, m->md5_sys);
    }
    if (!ok)
        return false;
    if (gid != NULL && !json_is_null(gid)) {
        if (!json_is_string(gid) || !fifo_id_is_valid(json_string_value(gid))) {
            sl_api_err_set(err, &SL_ERR_INVALID_PARAM,
                           "Value for parameter MessageGroupId is invalid. Reason: it must be "
                           "1 to 128 printable ASCII characters.");
            return false;
        }
        m->in.group_id = json_string_value(gid);
    }
    if (did != NULL && !json_is_null(did)) {
        if (!json_is_string(did) || !fifo_id_is_valid(json_string_value(did))) {
            sl_api_err_set(err, &SL_ERR_INVALID_PARAM,
                           "Value for parameter MessageDeduplicationId is invalid. Reason: it "
                           "must be 1 to 128 printable ASCII characters.");
            return false;
        }
        m->in.dedup_id = json_string_value(did);
    } else if (fifo_name) {
        sl_sha256_hex(m->in.body, m->in.body_len, m->dedup_hash);
        m->in.dedup_id = m->dedup_hash;
        m->in.dedup_from_content = true;
    }
    sl_uuid4(m->in.id);
    sl_md5_hex(m->in.body, m->in.body_len, m->in.md5_body);
    sl_md5_attrs(m->attrs, m->in.nattrs, m->in.md5_attrs);
    return true;
}

void
sl__sqs_msgin_deinit(sl_sqs_msgin_t *m)
{
    for (int i = 0; i < SL_MSG_MAX_ATTRS; i++)
        sl_free(m->decoded[i]);
}

/* ---- Receiver side ---- */

enum {
    SYS_SENDER_ID = 1 << 0,
    SYS_SENT = 1 << 1,
    SYS_RECEIVE_COUNT = 1 << 2,
    SYS_FIRST_RECEIVE = 1 << 3,
    SYS_SEQUENCE = 1 << 4,
    SYS_GROUP = 1 << 5,
    SYS_DEDUP = 1 << 6,
    SYS_TRACE = 1 << 7,
    SYS_DLQ_SOURCE = 1 << 8,
};

static const struct {
    const char *name;
    uint32_t bit;
} sys_names[] = {
    { "SenderId", SYS_SENDER_ID },
    { "SentTimestamp", SYS_SENT },
    { "ApproximateReceiveCount", SYS_RECEIVE_COUNT },
    { "ApproximateFirstReceiveTimestamp", SYS_FIRST_RECEIVE },
    { "SequenceNumber", SYS_SEQUENCE },
    { "MessageGroupId", SYS_GROUP },
    { "MessageDeduplicationId", SYS_DEDUP },
    { "AWSTraceHeader", SYS_TRACE },
    { "DeadLetterQueueSourceArn", SYS_DLQ_SOURCE },
};

static void
sel_sys(const json_t *names, sl_sqs_sel_t *sel)
{
    size_t i;
    json_t *v;

    if (!json_is_array(names))
        return;
    json_array_foreach(names, i, v) {
        const char *n = json_string_value(v);

        if (n == NULL)
            continue;
        if (strcmp(n, "All") == 0)
            sel->sys_all = true;
        for (size_t k = 0; k < sizeof(sys_names) / sizeof(sys_names[0]); k++)
            if (strcmp(n, sys_names[k].name) == 0)
                sel->sys_mask |= sys_names[k].bit;
    }
}

void
sl__sqs_sel_parse(const json_t *in, sl_sqs_sel_t *sel)
{
    const json_t *mn = json_object_get(in, "MessageAttributeNames");
    size_t i;
    json_t *v;

    memset(sel, 0, sizeof(*sel));
    sel_sys(json_object_get(in, "AttributeNames"), sel);
    sel_sys(json_object_get(in, "MessageSystemAttributeNames"), sel);
    if (sel->sys_all)
        sel->sys_mask = ~0u;
    if (!json_is_array(mn))
        return;
    json_array_foreach(mn, i, v) {
        const char *n = json_string_value(v);

        if (n != NULL && (strcmp(n, "All") == 0 || strcmp(n, ".*") == 0))
            sel->msg_all = true;
    }
    sel->msg_names = mn;
}

static bool
sel_wants_attr(const sl_sqs_sel_t *sel, const char *name)
{
    size_t i;
    json_t *v;

    if (sel->msg_all)
        return true;
    if (sel->msg_names == NULL)
        return false;
    json_array_foreach(sel->msg_names, i, v) {
        const char *n = json_string_value(v);
        size_t len;

        if (n == NULL)
            continue;
        len = strlen(n);
        if (len >= 2 && strcmp(n + len - 2, ".*") == 0) {
            if (strncmp(name, n, len - 1) == 0)     /* "prefix.*" matches "prefix.x" */
                return true;
        } else if (strcmp(n, name) == 0) {
            return true;
        }
    }
    return false;
}

static void
set_num(json_t *o, const char *k, uint64_t v)
{
    char buf[24], *p = buf + sizeof(buf);

    /* by hand: snprintf was a visible share of a ReceiveMessage reply */
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    json_object_set_new(o, k, json_stringn_nocheck(p, (size_t)(buf + sizeof(buf) - p)));
}

json_t *
sl__sqs_msg_render(const sl_msg_t *m, const char *receipt, const sl_sqs_sel_t *sel,
                   const char *account, const char *arn_prefix)
{
    json_t *o = json_object();
    uint32_t want = sel->sys_mask;

    json_object_set_new(o, "MessageId", json_string(m->id));
    json_object_set_new(o, "ReceiptHandle", json_string(receipt));
    json_object_set_new(o, "MD5OfBody", json_string(m->md5_body));
    json_object_set_new(o, "Body", json_stringn_nocheck(m->body, m->body_len));
    if (want) {
        json_t *a = json_object();

        if (want & SYS_SENDER_ID)
            json_object_set_new(a, "SenderId", json_string(account));
        if (want & SYS_SENT)
            set_num(a, "SentTimestamp", (uint64_t)m->sent_ms);
        if (want & SYS_RECEIVE_COUNT)
            set_num(a, "ApproximateReceiveCount", m->receive_count);
        if (want & SYS_FIRST_RECEIVE)
            set_num(a, "ApproximateFirstReceiveTimestamp", (uint64_t)m->first_receive_ms);
        if ((want & SYS_SEQUENCE) && m->seq) {
            char buf[24];

            snprintf(buf, sizeof(buf), "%020" PRIu64, m->seq);
            json_object_set_new(a, "SequenceNumber", json_string(buf));
        }
        if ((want & SYS_GROUP) && m->group_id)
            json_object_set_new(a, "MessageGroupId", json_string(m->group_id));
        if ((want & SYS_DEDUP) && m->dedup_id && m->seq)
            json_object_set_new(a, "MessageDeduplicationId", json_string(m->dedup_id));
        if ((want & SYS_TRACE) && m->trace_header)
            json_object_set_new(a, "AWSTraceHeader", json_string(m->trace_header));
        if ((want & SYS_DLQ_SOURCE) && m->dlq_source) {
            char *arn = sl_malloc(strlen(arn_prefix) + strlen(m->dlq_source) + 1);

            strcpy(arn, arn_prefix);
            strcat(arn, m->dlq_source);
            json_object_set_new(a, "DeadLetterQueueSourceArn", json_string(arn));
            sl_free(arn);
        }
        json_object_set_new(o, "Attributes", a);
    }
    if (m->nattrs && (sel->msg_all || sel->msg_names)) {
        json_t *ma = json_object();
        sl_msg_attr_t picked[SL_MSG_MAX_ATTRS + 8];
        uint32_t np = 0;

        for (uint32_t i = 0; i < m->nattrs && np < SL_MSG_MAX_ATTRS + 8; i++) {
            const sl_msg_attr_t *a = &m->attrs[i];
            json_t *v;

            if (!sel_wants_attr(sel, a->name))
                continue;
            picked[np++] = *a;
            v = json_object();
            if (strncmp(a->type, "Binary", 6) == 0) {
                char *b64 = sl__b64_encode(a->value, a->len);

                json_object_set_new(v, "BinaryValue", json_string(b64));
                sl_free(b64);
            } else {
                json_object_set_new(v, "StringValue", json_stringn_nocheck(a->value, a->len));
            }
            json_object_set_new(v, "DataType", json_string(a->type));
            json_object_set_new(ma, a->name, v);
        }
        if (np) {
            char md5[SL_MD5_HEX_LEN + 1];

            if (np == m->nattrs)
                memcpy(md5, m->md5_attrs, sizeof(md5));
            else
                sl_md5_attrs(picked, np, md5);
            json_object_set_new(o, "MD5OfMessageAttributes", json_string(md5));
            json_object_set_new(o, "MessageAttributes", ma);
        } else {
            json_decref(ma);
        }
    }
    return o;
}
