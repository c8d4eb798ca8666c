/* sqs_event.c - Lambda's SQS event records. Field names are lower-camel here
 * (unlike the SQS API), every attribute value is a string, messageAttributes
 * is always present ({} when none) and md5OfMessageAttributes is null without
 * attributes: strict consumers such as Powertools' schemas insist on all of it. */
#include "sqs_event.h"

#include "b64.h"
#include "jsonr.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void
set_u64(json_t *o, const char *k, uint64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    json_object_set_new(o, k, json_string(buf));
}

json_t *
sl_sqs_event_record(const sl_msg_t *m, const char *receipt, const char *queue_arn,
                    const char *region, const char *account, const char *arn_prefix)
{
    json_t *r = json_object(), *a = json_object(), *ma = json_object();

    json_object_set_new(r, "messageId", json_string(m->id));
    json_object_set_new(r, "receiptHandle", json_string(receipt));
    json_object_set_new(r, "body", json_stringn_nocheck(m->body, m->body_len));
    set_u64(a, "ApproximateReceiveCount", m->receive_count);
    set_u64(a, "SentTimestamp", (uint64_t)m->sent_ms);
    json_object_set_new(a, "SenderId", json_string(account));
    set_u64(a, "ApproximateFirstReceiveTimestamp", (uint64_t)m->first_receive_ms);
    if (m->seq) {
        char buf[24];

        snprintf(buf, sizeof(buf), "%020" PRIu64, m->seq);
        json_object_set_new(a, "SequenceNumber", json_string(buf));
        if (m->group_id)
            json_object_set_new(a, "MessageGroupId", json_string(m->group_id));
        if (m->dedup_id)
            json_object_set_new(a, "MessageDeduplicationId", json_string(m->dedup_id));
    }
    if (m->trace_header)
        json_object_set_new(a, "AWSTraceHeader", json_string(m->trace_header));
    if (m->dlq_source) {
        char *arn = sl_malloc(strlen(arn_prefix) + strlen(m->dlq_source) + 1);

        strcpy(arn, arn_prefix);
        strcat(arn, m->dlq_source);
        json_object_set_new(a, "DeadLetterQueueSourceArn", json_string(arn));
        sl_free(arn);
    }
    json_object_set_new(r, "attributes", a);
    for (uint32_t i = 0; i < m->nattrs; i++) {
        const sl_msg_attr_t *at = &m->attrs[i];
        json_t *v = json_object();

        if (strncmp(at->type, "Binary", 6) == 0) {
            char *b64 = sl__b64_encode(at->value, at->len);

            json_object_set_new(v, "binaryValue", json_string(b64));
            sl_free(b64);
        } else {
            json_object_set_new(v, "stringValue", json_stringn_nocheck(at->value, at->len));
        }
        json_object_set_new(v, "stringListValues", json_array());
        json_object_set_new(v, "binaryListValues", json_array());
        json_object_set_new(v, "dataType", json_string(at->type));
        json_object_set_new(ma, at->name, v);
    }
    json_object_set_new(r, "messageAttributes", ma);
    json_object_set_new(r, "md5OfMessageAttributes",
                        m->nattrs ? json_string(m->md5_attrs) : json_null());
    json_object_set_new(r, "md5OfBody", json_string(m->md5_body));
    json_object_set_new(r, "eventSource", json_string("aws:sqs"));
    json_object_set_new(r, "eventSourceARN", json_string(queue_arn));
    json_object_set_new(r, "awsRegion", json_string(region));
    return r;
}

/* ---- The same record, written directly ---- */

static void
w_key(sl_jbuf_t *b, const char *comma_key)
{
    sl_jbuf_lit(b, comma_key);
}

static void
w_str(sl_jbuf_t *b, const char *comma_key, const char *v)
{
    sl_jbuf_lit(b, comma_key);
    sl_jbuf_str(b, v, strlen(v));
}

static void
w_u64(sl_jbuf_t *b, const char *comma_key, uint64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);

    sl_jbuf_lit(b, comma_key);
    sl_jbuf_raw(b, "\"", 1);
    sl_jbuf_raw(b, buf, (size_t)n);
    sl_jbuf_raw(b, "\"", 1);
}

void
sl_sqs_event_write(sl_jbuf_t *b, const sl_msg_t *m, const char *receipt, const char *queue_arn,
                   const char *region, const char *account, const char *arn_prefix)
{
    w_str(b, "{\"messageId\":", m->id);
    w_str(b, ",\"receiptHandle\":", receipt);
    w_key(b, ",\"body\":");
    sl_jbuf_str(b, m->body, m->body_len);
    w_u64(b, ",\"attributes\":{\"ApproximateReceiveCount\":", m->receive_count);
    w_u64(b, ",\"SentTimestamp\":", (uint64_t)m->sent_ms);
    w_str(b, ",\"SenderId\":", account);
    w_u64(b, ",\"ApproximateFirstReceiveTimestamp\":", (uint64_t)m->first_receive_ms);
    if (m->seq) {
        char buf[24];

        snprintf(buf, sizeof(buf), "%020" PRIu64, m->seq);
        w_str(b, ",\"SequenceNumber\":", buf);
        if (m->group_id)
            w_str(b, ",\"MessageGroupId\":", m->group_id);
        if (m->dedup_id)
            w_str(b, ",\"MessageDeduplicationId\":", m->dedup_id);
    }
    if (m->trace_header)
        w_str(b, ",\"AWSTraceHeader\":", m->trace_header);
    if (m->dlq_source) {
        w_key(b, ",\"DeadLetterQueueSourceArn\":");
        {
            size_t pl = strlen(arn_prefix), sl = strlen(m->dlq_source);
            char *arn = sl_malloc(pl + sl + 1);

            memcpy(arn, arn_prefix, pl);
            memcpy(arn + pl, m->dlq_source, sl + 1);
            sl_jbuf_str(b, arn, pl + sl);
            sl_free(arn);
        }
    }
    w_key(b, "},\"messageAttributes\":{");
    for (uint32_t i = 0; i < m->nattrs; i++) {
        const sl_msg_attr_t *at = &m->attrs[i];
        bool seen = false;

        /* A repeated name keeps the first one's place and the last one's value, as
         * json_object_set does. */
        for (uint32_t k = 0; k < i && !seen; k++)
            seen = strcmp(m->attrs[k].name, at->name) == 0;
        if (seen)
            continue;
        for (uint32_t k = i + 1; k < m->nattrs; k++)
            if (strcmp(m->attrs[k].name, at->name) == 0)
                at = &m->attrs[k];
        if (b->n && b->p[b->n - 1] != '{')
            sl_jbuf_raw(b, ",", 1);
        sl_jbuf_str(b, at->name, strlen(at->name));
        if (strncmp(at->type, "Binary", 6) == 0) {
            char *b64 = sl__b64_encode(at->value, at->len);

            w_str(b, ":{\"binaryValue\":", b64);
            sl_free(b64);
        } else {
            w_key(b, ":{\"stringValue\":");
            sl_jbuf_str(b, at->value, at->len);
        }
        w_str(b, ",\"stringListValues\":[],\"binaryListValues\":[],\"dataType\":", at->type);
        sl_jbuf_raw(b, "}", 1);
    }
    if (m->nattrs)
        w_str(b, "},\"md5OfMessageAttributes\":", m->md5_attrs);
    else
        w_key(b, "},\"md5OfMessageAttributes\":null");
    w_str(b, ",\"md5OfBody\":", m->md5_body);
    w_str(b, ",\"eventSource\":", "aws:sqs");
    w_str(b, ",\"eventSourceARN\":", queue_arn);
    w_str(b, ",\"awsRegion\":", region);
    sl_jbuf_raw(b, "}", 1);
}

json_t *
sl_sqs_event_filter_view(const json_t *record)
{
    json_t *view = json_copy((json_t *)record), *parsed = NULL;
    const json_t *body = json_object_get(record, "body");

    if (json_is_string(body) &&
        sl_json_parse(json_string_value(body), json_string_length(body), &parsed, NULL, 0) ==
            SL_OK) {
        if (json_is_object(parsed))
            json_object_set(view, "body", parsed);
        json_decref(parsed);
    }
    return view;
}
