/* http.c - the front end: one evhttp server on one port, routing each request
 * by what real clients send (X-Amz-Target for JSON protocols, the Action and
 * Version form fields for query protocols, /v1 paths for the native API).
 *
 * Every request that waits on the store (or on a long poll) gets a small
 * context. If the client goes away first, evhttp's close callback cancels the
 * SQS call so nothing replies to a freed request. Responses are built in one
 * evbuffer and always carry Content-Length (evhttp adds it) and a request id. */
#include "http.h"

#include "api/native.h"
#include "api/sns.h"
#include "api/sns_query.h"
#include "../triggers/sns_deliver.h"
#include "api/sqs_query.h"
#include "../consumers/registry.h"
#include "form.h"
#include "jsonr.h"
#include "jsonw.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <event2/util.h>
#include <errno.h>
#include <jansson.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_BODY (4 * 1024 * 1024)      /* above any valid request (batches <= 1 MiB) */

typedef enum {
    PROTO_JSON, PROTO_QUERY, PROTO_NATIVE, PROTO_METRICS, PROTO_REGISTRY, PROTO_SNS,
    PROTO_SNS_NATIVE
} proto_t;

struct sl_http {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    sl_sqs_t *sqs;
    sl_store_t *store;
    sl_metrics_t *metrics;
    sl_registry_t *registry;    /* NULL: no functions/triggers API */
    sl_sns_t *sns;              /* NULL: SNS answers InvalidAction */
    int port;
};

typedef struct ctx {
    sl_http_t *h;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    sl_sqs_call_t *call;
    sl_sns_call_t *scall;
    struct event *watch;        /* peer-close watch while a call is pending */
    proto_t proto;
    bool gone;                  /* client went away; reply dropped */
    bool in_call;               /* inside sl_sqs_call (reply may run synchronously) */
    bool replied;
    char op[64];
    char request_id[SL_MSG_ID_LEN + 1];
    sl_native_req_t native;
} ctx_t;

static const char *
proto_name(proto_t p)
{
    return p == PROTO_JSON ? "json" : p == PROTO_QUERY ? "query" : p == PROTO_SNS ? "sns"
         : p == PROTO_SNS_NATIVE ? "native"
         : p == PROTO_NATIVE || p == PROTO_REGISTRY ? "native" : "ops";
}

static void
ctx_free(ctx_t *c)
{
    if (c->watch)
        event_free(c->watch);
    if (c->proto == PROTO_NATIVE)
        sl__native_req_deinit(&c->native);
    sl_free(c);
}

static void
on_conn_close(struct evhttp_connection *conn, void *arg)
{
    ctx_t *c = arg;

    (void)conn;
    c->gone = true;
    if (c->call) {
        sl_sqs_call_cancel(c->call);
        c->call = NULL;
    }
    if (c->scall) {
        sl_sns_call_cancel(c->scall);
        c->scall = NULL;
    }
    if (c->proto != PROTO_METRICS && c->proto != PROTO_REGISTRY)
        ctx_free(c);                /* these hold c until their callback runs */
}

static void
send_reply(ctx_t *c, int status, const char *ctype, struct evbuffer *body)
{
    struct evkeyvalq *oh = evhttp_request_get_output_headers(c->req);

    evhttp_add_header(oh, "Content-Type", ctype);
    evhttp_add_header(oh, "x-amzn-RequestId", c->request_id);
    evhttp_send_reply(c->req, status, status == 200 ? "OK" : "Error", body);
}

/* Detaches c from its connection before replying; frees it unless the caller
 * is still inside sl_sqs_call (then it frees it). */
static void
reply_done(ctx_t *c)
{
    c->replied = true;
    c->call = NULL;
    c->scall = NULL;
    if (c->watch) {
        event_free(c->watch);
        c->watch = NULL;
    }
    if (c->conn)
        evhttp_connection_set_closecb(c->conn, NULL, NULL);
    if (!c->in_call)
        ctx_free(c);
}

static void
json_body(struct evbuffer *b, const json_t *j)
{
    sl_json_write(b, j);
}

/* ---- SQS replies ---- */

static void
on_sqs_reply(void *arg, const sl_api_err_t *err, json_t *out)
{
    ctx_t *c = arg;
    struct evbuffer *b = evbuffer_new();
    struct evkeyvalq *oh = evhttp_request_get_output_headers(c->req);

    /* An unknown action is the client's text: one label for all (see on_sns_reply). */
    sl_metrics_count(c->h->metrics, proto_name(c->proto),
                     sl_sqs_is_action(c->op) ? c->op : "Unknown", err ? err->shape : "ok");
    if (err && err->http >= 500)
        sl_log(SL_LOG_WARN, "request failed op=%s code=%s msg=\"%s\"", c->op, err->shape,
               err->message);
    else if (err)
        sl_log(SL_LOG_DEBUG, "request refused op=%s code=%s msg=\"%s\"", c->op, err->shape,
               err->message);
    if (c->proto == PROTO_QUERY) {
        if (err)
            sl_sqs_xml_error(b, SL_SQS_XMLNS, err->sender, err->code, err->message,
                             c->request_id);
        else
            sl_sqs_xml_result(b, c->op, out, c->request_id);
        send_reply(c, err ? err->http : 200, "text/xml", b);
    } else if (c->proto == PROTO_JSON) {
        if (err) {
            char qe[160];
            const char *shape = strcmp(err->shape, "InvalidAction") == 0
                                    ? "UnknownOperationException" : err->shape;
            json_t *j = json_pack("{s:s, s:s}", "__type", "", "message", err->message);
            char type[128];

            snprintf(type, sizeof(type), "com.amazonaws.sqs#%s", shape);
            json_object_set_new(j, "__type", json_string(type));
            snprintf(qe, sizeof(qe), "%s;%s", err->code, err->sender ? "Sender" : "Receiver");
            evhttp_add_header(oh, "x-amzn-query-error", qe);
            json_body(b, j);
            json_decref(j);
        } else {
            json_body(b, out);
        }
        send_reply(c, err ? err->http : 200, "application/x-amz-json-1.0", b);
    } else {
        json_t *j = err ? sl__native_error(err)
                        : sl__native_output(&c->native, out, c->h->sqs,
                                            evhttp_find_header(evhttp_request_get_input_headers(
                                                                   c->req), "Host"));

        int status = 200;

        if (err) {
            status = err->http;
            if (strcmp(err->shape, "QueueDoesNotExist") == 0)
                status = 404;
            else if (strcmp(err->shape, "QueueNameExists") == 0)
                status = 409;
        }
        json_body(b, j);
        json_decref(j);
        send_reply(c, status, "application/json", b);
    }
    evbuffer_free(b);
    reply_done(c);
}

/* evhttp stops reading a connection while its request is being served, so it
 * does not notice a client that hangs up during a long poll; the call would
 * then take messages for nobody. A pending call therefore watches its socket:
 * end of stream frees the connection, whose close callback cancels the call. */
static void
on_peer_readable(evutil_socket_t fd, short what, void *arg)
{
    ctx_t *c = arg;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

    (void)what;
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
        event_del(c->watch);    /* a pipelined request: evhttp reads it after this one */
        return;
    }
    sl_log(SL_LOG_DEBUG, "client gone op=%s request=%s", c->op, c->request_id);
    evhttp_connection_free(c->conn);     /* runs on_conn_close, which frees c */
}

static void
watch_peer(ctx_t *c)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;

    if (fd < 0)
        return;
    c->watch = event_new(c->h->base, fd, EV_READ | EV_PERSIST, on_peer_readable, c);
    event_add(c->watch, NULL);
}

/* Runs an SQS call for c; c->op set. Takes care of synchronous replies. */
static void
run_call(ctx_t *c, json_t *in)
{
    const char *host = evhttp_find_header(evhttp_request_get_input_headers(c->req), "Host");
    sl_sqs_call_t *call;

    c->conn = evhttp_request_get_connection(c->req);
    c->in_call = true;
    call = sl_sqs_call(c->h->sqs, c->op, in, host, on_sqs_reply, c);
    c->in_call = false;
    if (c->replied) {
        ctx_free(c);
        return;
    }
    c->call = call;
    if (c->conn) {
        evhttp_connection_set_closecb(c->conn, on_conn_close, c);
        watch_peer(c);
    }
}

/* ---- SNS ---- */

static void
on_sns_reply(void *arg, const sl_api_err_t *err, json_t *out)
{
    ctx_t *c = arg;
    struct evbuffer *b = evbuffer_new();

    /* An unknown action is the client's text: one label for all of them, so it can
     * neither break the exposition format nor grow a series per request. */
    sl_metrics_count(c->h->metrics, "sns",
                     c->proto == PROTO_SNS && !sl_sns_is_action(c->op) ? "Unknown" : c->op,
                     err ? err->code : "ok");
    if (err && err->http >= 500)
        sl_log(SL_LOG_WARN, "request failed op=%s code=%s msg=\"%s\"", c->op, err->code,
               err->message);
    else if (err)
        sl_log(SL_LOG_DEBUG, "request refused op=%s code=%s msg=\"%s\"", c->op, err->code,
               err->message);
    if (c->proto == PROTO_SNS_NATIVE) {
        json_t *j = err ? json_pack("{s:{s:s, s:s}}", "error", "code", err->code, "message",
                                    err->message)
                        : out ? json_incref(out) : json_object();

        json_body(b, j);
        json_decref(j);
        send_reply(c, err ? err->http : 200, "application/json", b);
    } else {
        if (err)
            sl_sns_xml_error(b, err->sender, err->code, err->message, c->request_id);
        else
            sl_sns_xml_result(b, c->op, out, c->request_id);
        send_reply(c, err ? err->http : 200, "text/xml", b);
    }
    evbuffer_free(b);
    reply_done(c);
}

static void
run_sns_call(ctx_t *c, json_t *in)
{
    sl_sns_call_t *call;

    c->conn = evhttp_request_get_connection(c->req);
    c->in_call = true;
    call = sl_sns_call(c->h->sns, c->op, in, on_sns_reply, c);
    c->in_call = false;
    if (c->replied) {
        ctx_free(c);
        return;
    }
    c->scall = call;
    if (c->conn)
        evhttp_connection_set_closecb(c->conn, on_conn_close, c);
}

/* Replies with an error before any call was made. */
static void
early_error(ctx_t *c, const sl_api_errkind_t *kind, const char *msg)
{
    sl_api_err_t e;

    sl_api_err_set(&e, kind, "%s", msg);
    c->in_call = true;          /* reply_done must not free: we do it below */
    if (c->proto == PROTO_SNS || c->proto == PROTO_SNS_NATIVE)
        on_sns_reply(c, &e, NULL);
    else
        on_sqs_reply(c, &e, NULL);
    ctx_free(c);
}

/* ---- Routing ---- */

static ctx_t *
ctx_new(sl_http_t *h, struct evhttp_request *req, proto_t proto)
{
    ctx_t *c = sl_calloc(1, sizeof(*c));

    c->h = h;
    c->req = req;
    c->proto = proto;
    sl_uuid4(c->request_id);
    strcpy(c->op, "Unknown");
    return c;
}

static void
handle_json(sl_http_t *h, struct evhttp_request *req, const char *target, const char *body,
            size_t len)
{
    ctx_t *c = ctx_new(h, req, PROTO_JSON);
    const char *dot = strchr(target, '.');
    char perr[128];
    json_t *in = NULL;

    snprintf(c->op, sizeof(c->op), "%s", dot ? dot + 1 : target);
    if (dot == NULL || (size_t)(dot - target) != 9 || strncmp(target, "AmazonSQS", 9) != 0) {
        early_error(c, &SL_ERR_UNKNOWN_OPERATION, "This service is not supported by sluice yet.");
        return;
    }
    if (len == 0)
        in = json_object();
    else if (sl_json_parse(body, len, &in, perr, sizeof(perr)) != SL_OK)
        in = NULL;
    if (in == NULL || !json_is_object(in)) {
        char msg[300];

        snprintf(msg, sizeof(msg), "The request body is not a JSON object: %s", in ? "not an "
                 "object" : perr);
        json_decref(in);
        early_error(c, &SL_ERR_SERIALIZATION, msg);
        return;
    }
    run_call(c, in);
    json_decref(in);
}

static void
handle_query(sl_http_t *h, struct evhttp_request *req, const char *path, const char *body,
             size_t len)
{
    ctx_t *c = ctx_new(h, req, PROTO_QUERY);
    sl_form_t *form = NULL;
    const char *action, *version;
    char err[256];
    json_t *in = NULL;

    if (sl_form_parse(body, len, SL_FORM_MAX_FIELDS, &form) != SL_OK) {
        early_error(c, &SL_ERR_MALFORMED_QUERY, "The request body is not a well-formed "
                    "application/x-www-form-urlencoded query string.");
        return;
    }
    action = sl_form_get(form, "Action");
    version = sl_form_get(form, "Version");
    if (action == NULL || *action == '\0') {
        /* SNS's Version tells whose error this is; SNS answers MissingAction. */
        static const sl_api_errkind_t missing_action = { 400, true, "MissingAction",
                                                         "MissingAction" };
        bool sns = version != NULL && strcmp(version, "2010-03-31") == 0;

        if (sns)
            c->proto = PROTO_SNS;
        early_error(c, sns ? &missing_action : &SL_ERR_MISSING_PARAM,
                    "The request must contain the parameter Action.");
        goto out;
    }
    snprintf(c->op, sizeof(c->op), "%s", action);
    /* SNS: its Version, or one of its actions without one (a subscriber fetching
     * SubscribeURL or UnsubscribeURL). */
    if ((version != NULL && strcmp(version, "2010-03-31") == 0) ||
        (version == NULL && sl_sns_is_action(action))) {
        c->proto = PROTO_SNS;
        if (c->h->sns == NULL) {
            early_error(c, &SL_ERR_INVALID_ACTION, "SNS is not enabled.");
            goto out;
        }
        if (sl_sns_query_to_json(form, &in, err, sizeof(err)) != SL_OK) {
            sl_api_errkind_t k = { 400, true, "InvalidParameter", "InvalidParameter" };

            early_error(c, &k, err);
            goto out;
        }
        run_sns_call(c, in);
        goto out;
    }
    if (sl_sqs_query_to_json(form, &in, err, sizeof(err)) != SL_OK) {
        early_error(c, &SL_ERR_INVALID_PARAM, err);
        goto out;
    }
    /* Older SDKs post to the queue URL's path and may omit QueueUrl. */
    if (json_object_get(in, "QueueUrl") == NULL && path != NULL && strcmp(path, "/") != 0 &&
        strrchr(path, '/') != NULL && strrchr(path, '/')[1] != '\0')
        json_object_set_new(in, "QueueUrl", json_string(path));
    run_call(c, in);
out:
    json_decref(in);
    sl_form_destroy(form);
}

/* The native topic API: /v1/topics[/NAME[/subscriptions|/messages]] and
 * /v1/subscriptions/ID, onto the SNS operations (bodies use SNS's member names).
 * Returns false when path is neither. */
static bool
handle_topics(sl_http_t *h, struct evhttp_request *req, const char *method, const char *path,
              const char *query, const char *body, size_t len)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    bool del = strcmp(method, "DELETE") == 0;
    const char *rest, *slash, *op = NULL;
    char name[300] = "";
    json_t *in = NULL;
    ctx_t *c;

    if (strncmp(path, "/v1/topics", 10) == 0 && (path[10] == '\0' || path[10] == '/'))
        rest = path + 10;
    else if (strncmp(path, "/v1/subscriptions/", 18) == 0)
        rest = path + 17;
    else
        return false;
    c = ctx_new(h, req, PROTO_SNS_NATIVE);
    if (*rest == '/') {
        rest++;
        slash = strchr(rest, '/');
        snprintf(name, sizeof(name), "%.*s", slash ? (int)(slash - rest) : (int)strlen(rest),
                 rest);
        {
            char *dec = evhttp_uridecode(name, 0, NULL);

            if (dec) {
                snprintf(name, sizeof(name), "%s", dec);
                free(dec);
            }
        }
        rest = slash ? slash : "";
    }
    if (post && len && (sl_json_parse(body, len, &in, NULL, 0) != SL_OK || !json_is_object(in))) {
        sl_api_errkind_t k = { 400, true, "InvalidParameter", "InvalidParameter" };

        json_decref(in);
        snprintf(c->op, sizeof(c->op), "Topics");
        early_error(c, &k, "the request body must be a JSON object");
        return true;
    }
    if (in == NULL)
        in = json_object();
    if (path[4] == 's') {                                   /* /v1/subscriptions/ID */
        op = get && *name && !*rest ? "GetSubscriptionAttributes"
           : del && *name && !*rest ? "Unsubscribe" : NULL;
        json_object_set_new(in, "SubscriptionArn", json_string(name));
    } else if (!*name) {
        op = get ? "ListTopics" : post ? "CreateTopic" : NULL;
        if (get && query && strncmp(query, "NextToken=", 10) == 0)
            json_object_set_new(in, "NextToken", json_string(query + 10));
    } else {
        json_object_set_new(in, "TopicName", json_string(name));
        if (!*rest)
            op = get ? "GetTopicAttributes" : del ? "DeleteTopic" : NULL;
        else if (strcmp(rest, "/subscriptions") == 0)
            op = get ? "ListSubscriptionsByTopic" : post ? "Subscribe" : NULL;
        else if (strcmp(rest, "/messages") == 0 && post)
            op = "Publish";
        if (op && strcmp(op, "Subscribe") == 0)
            json_object_set_new(in, "ReturnSubscriptionArn", json_true());
    }
    if (op == NULL || h->sns == NULL) {
        sl_api_errkind_t k = { 404, true, "NotFound", "NotFound" };

        json_decref(in);
        snprintf(c->op, sizeof(c->op), "Topics");
        early_error(c, &k, h->sns ? "no such endpoint or method" : "topics are not enabled");
        return true;
    }
    snprintf(c->op, sizeof(c->op), "%s", op);
    run_sns_call(c, in);
    json_decref(in);
    return true;
}

static void
handle_native(sl_http_t *h, struct evhttp_request *req, const char *method, const char *path,
              const char *query, const char *body, size_t len)
{
    ctx_t *c = ctx_new(h, req, PROTO_NATIVE);
    sl_api_err_t e;

    if (!sl__native_parse(method, path, query, body, len, &c->native, &e)) {
        c->in_call = true;
        on_sqs_reply(c, &e, NULL);
        ctx_free(c);
        return;
    }
    snprintf(c->op, sizeof(c->op), "%s", c->native.op);
    run_call(c, c->native.in);
}

static void simple_reply(struct evhttp_request *req, int status, const char *ctype,
                         const char *text);

/* ---- Functions and triggers (native API, through the registry) ---- */

static void
on_registry_reply(void *arg, int status, const char *msg, json_t *out)
{
    ctx_t *c = arg;
    struct evbuffer *b;
    json_t *j;
    int http = 200;
    const char *code = "ok";

    if (c->gone) {
        sl_free(c);
        return;
    }
    switch (status) {
    case SL_OK: break;
    case SL_EINVAL: http = 400; code = "InvalidParameterValue"; break;
    case SL_ENOTFOUND: http = 404; code = "ResourceNotFoundException"; break;
    case SL_EEXIST:
    case SL_ESTATE: http = 409; code = "ResourceConflictException"; break;
    case SL_EBACKEND:
    case SL_ETIMEDOUT: http = 503; code = "ServiceUnavailable"; break;
    default: http = 500; code = "InternalError"; break;
    }
    sl_metrics_count(c->h->metrics, "native", c->op, status == SL_OK ? "ok" : code);
    b = evbuffer_new();
    j = status == SL_OK ? json_incref(out ? out : json_object())
                        : json_pack("{s:{s:s, s:s}}", "error", "code", code, "message",
                                    msg ? msg : "");
    json_body(b, j);
    json_decref(j);
    send_reply(c, http, "application/json", b);
    evbuffer_free(b);
    if (c->conn)
        evhttp_connection_set_closecb(c->conn, NULL, NULL);
    sl_free(c);
}

/* Reads ?after=SEQ&tail=N of GET /v1/functions/NAME/logs. Returns false, with why in
 * err, for a value that is not a decimal number in range. */
static bool
parse_logs_query(const char *query, uint64_t *after, size_t *tail, char *err, size_t errlen)
{
    struct evkeyvalq qs;
    const char *v;
    bool ok = true;

    *after = 0;
    *tail = SIZE_MAX;
    if (query == NULL || *query == '\0')
        return true;
    TAILQ_INIT(&qs);
    if (evhttp_parse_query_str(query, &qs) != 0) {
        snprintf(err, errlen, "malformed query string");
        return false;
    }
    if ((v = evhttp_find_header(&qs, "after")) != NULL) {
        char *end;

        errno = 0;
        *after = strtoull(v, &end, 10);
        if (*v < '0' || *v > '9' || *end != '\0' || errno == ERANGE) {
            snprintf(err, errlen, "after must be a line sequence number (0 or more)");
            ok = false;
        }
    }
    if (ok && (v = evhttp_find_header(&qs, "tail")) != NULL) {
        char *end;
        unsigned long long t;

        errno = 0;
        t = strtoull(v, &end, 10);
        if (*v < '0' || *v > '9' || *end != '\0' || errno == ERANGE || t > 1000000) {
            snprintf(err, errlen, "tail must be a number of lines, 0 to 1000000");
            ok = false;
        }
        *tail = (size_t)t;
    }
    evhttp_clear_headers(&qs);
    return ok;
}

/* Routes /v1/functions..., /v1/triggers..., /v1/stats. Returns false when the
 * path is none of them. */
static bool
handle_registry(sl_http_t *h, struct evhttp_request *req, const char *method, const char *path,
                const char *query, const char *body, size_t len)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    bool del = strcmp(method, "DELETE") == 0;
    const char *rest, *slash;
    char name[128] = "";
    json_t *doc = NULL;
    ctx_t *c;

    if (strncmp(path, "/v1/functions", 13) != 0 && strncmp(path, "/v1/triggers", 12) != 0 &&
        strcmp(path, "/v1/stats") != 0)
        return false;
    if (h->registry == NULL) {
        simple_reply(req, 501, "application/json", "{\"error\":{\"code\":\"NotImplemented\","
                     "\"message\":\"functions are not enabled\"}}");
        return true;
    }
    c = ctx_new(h, req, PROTO_REGISTRY);
    c->conn = evhttp_request_get_connection(req);
    /* "/v1/stats" is shorter than either prefix: rest stays "" for it. */
    rest = strncmp(path, "/v1/functions", 13) == 0 ? path + 13
         : strncmp(path, "/v1/triggers", 12) == 0  ? path + 12 : "";
    if (*rest == '/') {
        rest++;
        slash = strchr(rest, '/');
        snprintf(name, sizeof(name), "%.*s", slash ? (int)(slash - rest) : (int)strlen(rest),
                 rest);
        rest = slash ? slash : "";
    }
    if (post && len && strstr(rest, "/invoke") == NULL &&
        (sl_json_parse(body, len, &doc, NULL, 0) != SL_OK || !json_is_object(doc))) {
        json_decref(doc);
        snprintf(c->op, sizeof(c->op), "Registry");
        on_registry_reply(c, SL_EINVAL, "the request body must be a JSON object", NULL);
        return true;
    }
    if (c->conn)
        evhttp_connection_set_closecb(c->conn, on_conn_close, c);
#define ROUTE(cond, opname, call) \
    if (cond) { snprintf(c->op, sizeof(c->op), "%s", opname); call; json_decref(doc); return true; }
    if (strcmp(path, "/v1/stats") == 0 && get) {
        json_t *st = sl_registry_stats(h->registry);

        snprintf(c->op, sizeof(c->op), "Stats");
        on_registry_reply(c, SL_OK, NULL, st);
        json_decref(st);
        json_decref(doc);
        return true;
    }
    if (strncmp(path, "/v1/functions", 13) == 0) {
        ROUTE(!*name && get, "ListFunctions", sl_registry_function_list(h->registry,
              on_registry_reply, c))
        ROUTE(!*name && post, "CreateFunction", sl_registry_function_put(h->registry,
              doc ? doc : json_object(), on_registry_reply, c))
        ROUTE(*name && !*rest && get, "GetFunction", sl_registry_function_get(h->registry, name,
              on_registry_reply, c))
        ROUTE(*name && !*rest && del, "DeleteFunction", sl_registry_function_delete(h->registry,
              name, on_registry_reply, c))
        ROUTE(*name && strcmp(rest, "/invoke") == 0 && post, "Invoke",
              sl_registry_function_invoke(h->registry, name, len ? body : "{}", len ? len : 2,
                                          on_registry_reply, c))
        if (*name && strcmp(rest, "/logs") == 0 && get) {
            uint64_t after;
            size_t tail;
            char err[128];

            snprintf(c->op, sizeof(c->op), "FunctionLogs");
            if (parse_logs_query(query, &after, &tail, err, sizeof(err)))
                sl_registry_function_logs(h->registry, name, after, tail, on_registry_reply, c);
            else
                on_registry_reply(c, SL_EINVAL, err, NULL);
            json_decref(doc);
            return true;
        }
    } else {
        ROUTE(!*name && get, "ListTriggers", sl_registry_trigger_list(h->registry,
              on_registry_reply, c))
        ROUTE(!*name && post, "CreateTrigger", sl_registry_trigger_put(h->registry,
              doc ? doc : json_object(), on_registry_reply, c))
        ROUTE(*name && !*rest && del, "DeleteTrigger", sl_registry_trigger_delete(h->registry,
              name, on_registry_reply, c))
    }
#undef ROUTE
    json_decref(doc);
    snprintf(c->op, sizeof(c->op), "Registry");
    on_registry_reply(c, SL_ENOTFOUND, "no such endpoint or method", NULL);
    return true;
}

static void
on_metrics(void *arg, struct evbuffer *body)
{
    ctx_t *c = arg;

    if (!c->gone) {
        struct evkeyvalq *oh = evhttp_request_get_output_headers(c->req);

        if (c->h->registry)
            sl_registry_metrics(c->h->registry, body);
        if (c->h->sns)
            sl_sns_metrics(c->h->sns, body);

        evhttp_add_header(oh, "Content-Type", "text/plain; version=0.0.4");
        evhttp_send_reply(c->req, 200, "OK", body);
        if (c->conn)
            evhttp_connection_set_closecb(c->conn, NULL, NULL);
    }
    sl_free(c);
}

static void
simple_reply(struct evhttp_request *req, int status, const char *ctype, const char *text)
{
    struct evbuffer *b = evbuffer_new();

    evbuffer_add(b, text, strlen(text));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", b);
    evbuffer_free(b);
}

static const char *
method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_HEAD: return "HEAD";
    default: return "OTHER";
    }
}

static void
on_request(struct evhttp_request *req, void *arg)
{
    sl_http_t *h = arg;
    struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    const char *target = evhttp_find_header(ih, "X-Amz-Target");
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";

    if (path == NULL || *path == '\0')
        path = "/";
    if (strncmp(path, "/v1/", 4) == 0 &&
        handle_registry(h, req, method_name(method), path, query, body, len)) {
        return;
    } else if (strncmp(path, "/v1/", 4) == 0 &&
               handle_topics(h, req, method_name(method), path, query, body, len)) {
        return;
    } else if (strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0) {
        handle_native(h, req, method_name(method), path, query, body, len);
    } else if (method == EVHTTP_REQ_GET && strcmp(path, SL_SNS_CERT_PATH) == 0) {
        const char *pem = h->sns ? sl_sns_cert_pem(h->sns) : NULL;

        if (pem)
            simple_reply(req, 200, "application/x-pem-file", pem);
        else
            simple_reply(req, 503, "text/plain", "the signing key is not ready\n");
    } else if (method == EVHTTP_REQ_GET && strcmp(path, "/healthz") == 0) {
        simple_reply(req, 200, "text/plain", "ok\n");
    } else if (method == EVHTTP_REQ_GET && strcmp(path, "/metrics") == 0) {
        ctx_t *c = ctx_new(h, req, PROTO_METRICS);

        c->conn = evhttp_request_get_connection(req);
        if (sl_metrics_render(h->metrics, h->store, on_metrics, c) != SL_OK) {
            sl_free(c);
            simple_reply(req, 503, "text/plain", "store unavailable\n");
            return;
        }
        if (c->conn)
            evhttp_connection_set_closecb(c->conn, on_conn_close, c);
    } else if (method == EVHTTP_REQ_POST && target != NULL) {
        handle_json(h, req, target, body, len);
    } else if (method == EVHTTP_REQ_POST) {
        handle_query(h, req, path, body, len);
    } else if (method == EVHTTP_REQ_GET && query != NULL && strstr(query, "Action=") != NULL) {
        handle_query(h, req, path, query, strlen(query));   /* query API over GET */
    } else if (method == EVHTTP_REQ_GET && strcmp(path, "/") == 0) {
        simple_reply(req, 200, "text/plain",
                     "sluice: SQS-compatible broker. POST SQS requests here; see /v1/queues, "
                     "/healthz and /metrics.\n");
    } else {
        simple_reply(req, 404, "application/json",
                     "{\"error\":{\"code\":\"NotFound\",\"message\":\"no such endpoint\"}}");
    }
}

sl_http_t *
sl_http_create(struct event_base *base, const char *listen, sl_sqs_t *sqs, sl_store_t *store,
               sl_metrics_t *metrics, char *errbuf, size_t errlen)
{
    sl_http_t *h = sl_calloc(1, sizeof(*h));
    char host[256];
    const char *colon = strrchr(listen, ':');
    long port;
    char *end;
    evutil_socket_t fd;
    struct sockaddr_storage ss;
    ev_socklen_t sl = sizeof(ss);

    if (colon == NULL || (size_t)(colon - listen) >= sizeof(host)) {
        snprintf(errbuf, errlen, "--listen wants HOST:PORT, got \"%s\"", listen);
        goto out_free;
    }
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535 || colon[1] == '\0') {
        snprintf(errbuf, errlen, "bad port in \"%s\"", listen);
        goto out_free;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    if (host[0] == '[') {               /* [::1]:9324 */
        memmove(host, host + 1, strlen(host));
        if (strlen(host) && host[strlen(host) - 1] == ']')
            host[strlen(host) - 1] = '\0';
    }
    h->base = base;
    h->sqs = sqs;
    h->store = store;
    h->metrics = metrics;
    h->http = evhttp_new(base);
    evhttp_set_max_body_size(h->http, MAX_BODY);
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_HEAD);
    evhttp_set_timeout(h->http, 120);
    evhttp_set_gencb(h->http, on_request, h);
    h->sock = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
    if (h->sock == NULL) {
        snprintf(errbuf, errlen, "cannot listen on %s: %s", listen,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        goto out_free_http;
    }
    fd = evhttp_bound_socket_get_fd(h->sock);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        h->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return h;
out_free_http:
    evhttp_free(h->http);
out_free:
    sl_free(h);
    return NULL;
}

void
sl_http_destroy(sl_http_t *h)
{
    if (h == NULL)
        return;
    evhttp_free(h->http);
    sl_free(h);
}

void
sl_http_set_sns(sl_http_t *h, sl_sns_t *sns)
{
    h->sns = sns;
}

void
sl_http_set_registry(sl_http_t *h, sl_registry_t *r)
{
    h->registry = r;
}

int
sl_http_port(const sl_http_t *h)
{
    return h->port;
}
