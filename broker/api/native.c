/* native.c - the /v1 JSON API that the sluice CLI, scripts and consoles use.
 * Rather than a second implementation of queue semantics, every native request
 * is translated into one SQS operation's input, and the SQS output is reshaped
 * into the native API's fields. Errors keep the SQS shape name as their code. */
#include "native.h"

#include "jsonr.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
path_name(const char *s, size_t n, char *out, size_t outlen)
{
    if (n == 0 || n >= outlen)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

static const char *
query_get(struct evkeyvalq *q, const char *key)
{
    return q ? evhttp_find_header(q, key) : NULL;
}

static void
set_int_str(json_t *in, const char *key, const char *v)
{
    if (v != NULL)
        json_object_set_new(in, key, json_string(v));
}

/* {"k": {"type": "String", "value": "v"}} -> SQS MessageAttributes. */
static bool
native_attrs(const json_t *a, json_t **out, sl_api_err_t *err)
{
    const char *k;
    json_t *v, *m = json_object();

    json_object_foreach((json_t *)a, k, v) {
        const char *type = json_string_value(json_object_get(v, "type"));
        const json_t *val = json_object_get(v, "value");
        json_t *e = json_object();

        if (type == NULL)
            type = "String";
        if (!json_is_string(val)) {
            json_decref(e);
            json_decref(m);
            sl_api_err_set(err, &SL_ERR_INVALID_PARAM, "attribute %.64s needs a string value",
                           k);
            return false;
        }
        json_object_set_new(e, "DataType", json_string(type));
        json_object_set(e, strncmp(type, "Binary", 6) == 0 ? "BinaryValue" : "StringValue",
                        (json_t *)val);
        json_object_set_new(m, k, e);
    }
    *out = m;
    return true;
}

static bool
bad(sl_api_err_t *err, const sl_api_errkind_t *k, const char *msg)
{
    sl_api_err_set(err, k, "%s", msg);
    return false;
}

static bool
parse_send(const json_t *b, sl_native_req_t *r, sl_api_err_t *err)
{
    const json_t *attrs = json_object_get(b, "attributes");
    json_t *v;

    if (!json_is_string(json_object_get(b, "body")))
        return bad(err, &SL_ERR_MISSING_PARAM, "body (a string) is required");
    json_object_set(r->in, "MessageBody", json_object_get(b, "body"));
    if ((v = json_object_get(b, "delay_seconds")) != NULL)
        json_object_set(r->in, "DelaySeconds", v);
    if ((v = json_object_get(b, "group_id")) != NULL)
        json_object_set(r->in, "MessageGroupId", v);
    if ((v = json_object_get(b, "dedup_id")) != NULL)
        json_object_set(r->in, "MessageDeduplicationId", v);
    if (json_is_object(attrs)) {
        json_t *m;

        if (!native_attrs(attrs, &m, err))
            return false;
        json_object_set_new(r->in, "MessageAttributes", m);
    }
    return true;
}

bool
sl__native_parse(const char *method, const char *path, const char *query, const char *body,
                 size_t len, sl_native_req_t *r, sl_api_err_t *err)
{
    struct evkeyvalq qs, *q = NULL;
    json_t *b = NULL;
    const char *rest, *slash;
    bool ok = true, get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;

    memset(r, 0, sizeof(*r));
    r->in = json_object();
    if (query && evhttp_parse_query_str(query, &qs) == 0)
        q = &qs;
    if (post && len > 0) {
        if (sl_json_parse(body, len, &b, NULL, 0) != SL_OK)
            b = NULL;
        if (!json_is_object(b)) {
            ok = bad(err, &SL_ERR_INVALID_PARAM, "the request body must be a JSON object");
            goto out;
        }
    }
    if (b == NULL)
        b = json_object();
    if (strcmp(path, "/v1/queues") == 0 || strcmp(path, "/v1/queues/") == 0) {
        if (get) {
            r->kind = SL_NATIVE_LIST;
            r->op = "ListQueues";
            if (query_get(q, "prefix"))
                json_object_set_new(r->in, "QueueNamePrefix", json_string(query_get(q, "prefix")));
        } else if (post) {
            r->kind = SL_NATIVE_CREATE;
            r->op = "CreateQueue";
            if (!json_is_string(json_object_get(b, "name"))) {
                ok = bad(err, &SL_ERR_MISSING_PARAM, "name (a string) is required");
                goto out;
            }
            json_object_set(r->in, "QueueName", json_object_get(b, "name"));
            if (json_object_get(b, "attributes"))
                json_object_set(r->in, "Attributes", json_object_get(b, "attributes"));
            if (json_object_get(b, "tags"))
                json_object_set(r->in, "tags", json_object_get(b, "tags"));
        } else {
            ok = bad(err, &SL_ERR_METHOD_NOT_ALLOWED, "method not allowed on this path");
        }
        goto out;
    }
    if (strncmp(path, "/v1/queues/", 11) != 0) {
        ok = bad(err, &SL_ERR_NOT_FOUND, "no such endpoint");
        goto out;
    }
    rest = path + 11;
    slash = strchr(rest, '/');
    if (!path_name(rest, slash ? (size_t)(slash - rest) : strlen(rest), r->name,
                   sizeof(r->name))) {
        ok = bad(err, &SL_ERR_NOT_FOUND, "no such endpoint");
        goto out;
    }
    json_object_set_new(r->in, "QueueUrl", json_string(r->name));
    if (slash == NULL) {
        if (get) {
            r->kind = SL_NATIVE_GET;
            r->op = "GetQueueAttributes";
            json_object_set_new(r->in, "AttributeNames", json_pack("[s]", "All"));
        } else if (strcmp(method, "DELETE") == 0) {
            r->kind = SL_NATIVE_DELETE;
            r->op = "DeleteQueue";
        } else {
            ok = bad(err, &SL_ERR_METHOD_NOT_ALLOWED, "method not allowed on this path");
        }
    } else if (strcmp(slash, "/purge") == 0 && post) {
        r->kind = SL_NATIVE_PURGE;
        r->op = "PurgeQueue";
    } else if (strcmp(slash, "/messages") == 0 && post) {
        r->kind = SL_NATIVE_SEND;
        r->op = "SendMessage";
        ok = parse_send(b, r, err);
    } else if (strcmp(slash, "/messages") == 0 && get) {
        r->kind = SL_NATIVE_RECEIVE;
        r->op = "ReceiveMessage";
        set_int_str(r->in, "MaxNumberOfMessages", query_get(q, "max"));
        set_int_str(r->in, "WaitTimeSeconds", query_get(q, "wait"));
        set_int_str(r->in, "VisibilityTimeout", query_get(q, "visibility"));
        json_object_set_new(r->in, "AttributeNames", json_pack("[s]", "All"));
        json_object_set_new(r->in, "MessageAttributeNames", json_pack("[s]", "All"));
    } else if (strcmp(slash, "/delete") == 0 && post) {
        const json_t *rs = json_object_get(b, "receipts"), *v;
        json_t *entries = json_array();
        size_t i;

        r->kind = SL_NATIVE_DELETE_MSGS;
        r->op = "DeleteMessageBatch";
        json_object_set_new(r->in, "Entries", entries);
        if (!json_is_array(rs)) {
            ok = bad(err, &SL_ERR_MISSING_PARAM, "receipts (a list of strings) is required");
            goto out;
        }
        json_array_foreach(rs, i, v) {
            char id[24];

            snprintf(id, sizeof(id), "%zu", i);
            json_array_append_new(entries, json_pack("{s:s, s:O}", "Id", id, "ReceiptHandle", v));
        }
    } else if (strcmp(slash, "/purge") == 0 || strcmp(slash, "/messages") == 0 ||
               strcmp(slash, "/delete") == 0) {
        ok = bad(err, &SL_ERR_METHOD_NOT_ALLOWED, "method not allowed on this path");
    } else {
        ok = bad(err, &SL_ERR_NOT_FOUND, "no such endpoint");
    }
out:
    if (q)
        evhttp_clear_headers(q);
    json_decref(b);
    return ok;
}

void
sl__native_req_deinit(sl_native_req_t *r)
{
    json_decref(r->in);
    r->in = NULL;
}

/* SQS message attributes -> native {"k": {"type", "value"}}. */
static json_t *
native_msg_attrs(const json_t *ma)
{
    json_t *o = json_object(), *v;
    const char *k;

    json_object_foreach((json_t *)ma, k, v) {
        const json_t *val = json_object_get(v, "StringValue");

        if (val == NULL)
            val = json_object_get(v, "BinaryValue");
        json_object_set_new(o, k, json_pack("{s:O, s:O}", "type", json_object_get(v, "DataType"),
                                            "value", val));
    }
    return o;
}

json_t *
sl__native_output(const sl_native_req_t *r, const json_t *out, const sl_sqs_t *svc,
                  const char *host)
{
    json_t *o = json_object(), *list, *v;
    size_t i;
    char *url;

    switch (r->kind) {
    case SL_NATIVE_LIST:
        list = json_array();
        json_array_foreach(json_object_get(out, "QueueUrls"), i, v) {
            const char *u = json_string_value(v), *name = strrchr(u, '/');

            json_array_append_new(list, json_pack("{s:s, s:s}", "name", name ? name + 1 : u,
                                                  "url", u));
        }
        json_object_set_new(o, "queues", list);
        break;
    case SL_NATIVE_CREATE:
    case SL_NATIVE_GET:
        url = sl_sqs_queue_url(svc, host, r->kind == SL_NATIVE_GET
                                              ? r->name
                                              : json_string_value(json_object_get(r->in,
                                                                                  "QueueName")));
        json_object_set_new(o, "name", json_string(strrchr(url, '/') + 1));
        json_object_set_new(o, "url", json_string(url));
        if (r->kind == SL_NATIVE_GET) {
            v = json_object_get(out, "Attributes");
            json_object_set_new(o, "attributes", v ? json_incref(v) : json_object());
        }
        sl_free(url);
        break;
    case SL_NATIVE_SEND:
        json_object_set(o, "id", json_object_get(out, "MessageId"));
        json_object_set(o, "md5", json_object_get(out, "MD5OfMessageBody"));
        if ((v = json_object_get(out, "SequenceNumber")) != NULL)
            json_object_set(o, "sequence_number", v);
        break;
    case SL_NATIVE_RECEIVE:
        list = json_array();
        json_array_foreach(json_object_get(out, "Messages"), i, v) {
            json_t *m = json_pack("{s:O, s:O, s:O, s:O}", "id", json_object_get(v, "MessageId"),
                                  "body", json_object_get(v, "Body"), "receipt",
                                  json_object_get(v, "ReceiptHandle"), "md5",
                                  json_object_get(v, "MD5OfBody"));
            json_t *a = json_object_get(v, "Attributes");

            json_object_set_new(m, "attributes", a ? json_incref(a) : json_object());
            a = json_object_get(v, "MessageAttributes");
            json_object_set_new(m, "message_attributes", a ? native_msg_attrs(a) : json_object());
            json_array_append_new(list, m);
        }
        json_object_set_new(o, "messages", list);
        break;
    case SL_NATIVE_DELETE_MSGS: {
        json_t *failed = json_array();
        const json_t *entries = json_object_get(r->in, "Entries");

        size_t deleted = json_array_size(json_object_get(out, "Successful"));

        json_object_set_new(o, "deleted", json_integer((json_int_t)deleted));
        json_array_foreach(json_object_get(out, "Failed"), i, v) {
            long idx = strtol(json_string_value(json_object_get(v, "Id")), NULL, 10);

            json_array_append_new(failed, json_pack("{s:O, s:O, s:O}", "receipt",
                                                    json_object_get(json_array_get(entries,
                                                                                   (size_t)idx),
                                                                    "ReceiptHandle"),
                                                    "code", json_object_get(v, "Code"),
                                                    "message", json_object_get(v, "Message")));
        }
        json_object_set_new(o, "failed", failed);
        break;
    }
    case SL_NATIVE_DELETE:
    case SL_NATIVE_PURGE:
        break;
    }
    return o;
}

json_t *
sl__native_error(const sl_api_err_t *e)
{
    return json_pack("{s:{s:s, s:s}}", "error", "code", e->shape, "message", e->message);
}
