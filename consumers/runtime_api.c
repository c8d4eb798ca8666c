/* runtime_api.c - the Lambda Runtime API that a process instance's runtime
 * talks to (spec/lambda-events.md §6): a custom `bootstrap`, aws-lambda-ric, or
 * any client of `http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/...`.
 *
 * Each instance gets its own evhttp listener on 127.0.0.1 with a kernel-chosen
 * port, so a request needs no routing to find its instance and a runtime can
 * only ever see its own invocation. The instance is ready at its first
 * `GET next`, which is held unanswered until the pool hands the instance a
 * call; one call runs at a time, so the request id in a POST path must be the
 * id of the instance's current call, or it is a stale or foreign one (400).
 *
 * Answers follow what real runtimes need: 200 + the four Lambda-Runtime-*
 * headers for `next`, 202 {"status":"OK"} for posts, 400 InvalidRequestID,
 * 413 above Lambda's 6 MB limit (the invocation then fails as the handler's
 * error), 404/405 for anything else. */
#include "runtime_api.h"

#include "jsonw.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "sluice/message.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#define PREFIX "/2018-06-01/runtime/"
#define PREFIX_LEN (sizeof(PREFIX) - 1)
#define MAX_BODY (16u * 1024 * 1024)    /* evhttp drops (413s) bodies above this itself */

struct sl_rtapi {
    sl_inv_inst_t *in;
    struct evhttp *http;
    int port;
    struct evhttp_request *held;        /* a `GET next` waiting for work */
    bool call_sent;                     /* in->call went out in a `next` answer */
};

static void
reply(struct evhttp_request *req, int code, const char *reason, const char *json)
{
    struct evbuffer *b = evbuffer_new();

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    if (json)
        evbuffer_add(b, json, strlen(json));
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static void
reply_error(struct evhttp_request *req, int code, const char *reason, const char *type,
            const char *msg)
{
    json_t *j = json_pack("{s:s, s:s}", "errorMessage", msg, "errorType", type);
    struct evbuffer *b = evbuffer_new();

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    if (j)
        sl_json_write(b, j);
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
    json_decref(j);
}

/* ---- next ---- */

static void
hex_from_uuid(char *dst, size_t n)
{
    char u[SL_MSG_ID_LEN + 1];
    size_t o = 0;

    sl_uuid4(u);
    for (size_t i = 0; u[i] && o < n; i++)
        if (u[i] != '-')
            dst[o++] = u[i];
    dst[o] = '\0';
}

static void
send_call(sl_rtapi_t *a)
{
    sl_inv_inst_t *in = a->in;
    sl_inv_call_t *c = in->call;
    struct evhttp_request *req = a->held;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *b = evhttp_request_get_output_buffer(req);
    char deadline[32], trace[96], root[25], parent[17];

    a->held = NULL;
    a->call_sent = true;
    snprintf(deadline, sizeof(deadline), "%" PRId64, c->deadline_epoch_ms);
    hex_from_uuid(root, 24);
    hex_from_uuid(parent, 16);
    snprintf(trace, sizeof(trace), "Root=1-%08x-%s;Parent=%s;Sampled=0",
             (unsigned)(sl__inv_epoch_ms() / 1000), root, parent);
    evhttp_add_header(h, "Lambda-Runtime-Aws-Request-Id", c->request_id);
    evhttp_add_header(h, "Lambda-Runtime-Deadline-Ms", deadline);
    evhttp_add_header(h, "Lambda-Runtime-Invoked-Function-Arn", in->inv->arn);
    evhttp_add_header(h, "Lambda-Runtime-Trace-Id", trace);
    evhttp_add_header(h, "Content-Type", "application/json");
    evbuffer_add(b, c->payload, c->len);
    evhttp_send_reply(req, 200, "OK", NULL);
}

void
sl__rtapi_deliver(sl_rtapi_t *a)
{
    a->call_sent = false;
    if (a->held)
        send_call(a);
}

static void
on_held_closed(struct evhttp_connection *conn, void *arg)
{
    sl_rtapi_t *a = arg;

    if (a->held && evhttp_request_get_connection(a->held) == conn)
        a->held = NULL;
}

static void
on_next(sl_rtapi_t *a, struct evhttp_request *req)
{
    sl_inv_inst_t *in = a->in;

    if (a->held) {
        /* One runtime asks one `next` at a time, so the older one was given up
         * (its client timed out or reconnected); the newer one gets the work. */
        struct evhttp_request *old = a->held;

        a->held = NULL;
        reply_error(old, 400, "Bad Request", "InvalidStateTransition",
                    "superseded by a newer next request");
    }
    a->held = req;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_held_closed, a);
    switch (in->state) {
    case SL_INST_STARTING:
    case SL_INST_FINISHING:
        sl__pool_ready(in);             /* may hand over a call at once */
        break;
    case SL_INST_BUSY:
        if (!a->call_sent) {
            send_call(a);               /* assigned while no `next` was waiting */
            break;
        }
        sl__pool_complete(in, SL_INVOKE_FUNCTION_ERROR, NULL, 0, "Runtime.NoResponse",
                          "the runtime asked for the next invocation without answering "
                          "this one");
        sl__pool_ready(in);
        break;
    default:
        break;                          /* idle already, or stopping: just hold it */
    }
}

/* ---- response, error, init/error ---- */

/* Reads errorType and errorMessage from an error body, falling back to the
 * Lambda-Runtime-Function-Error-Type header. Strings are copied into type/msg. */
static void
read_error(struct evhttp_request *req, const char *body, size_t len, char *type, size_t tlen,
           char *msg, size_t mlen)
{
    const char *hdr = evhttp_find_header(evhttp_request_get_input_headers(req),
                                         "Lambda-Runtime-Function-Error-Type");
    json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *t = NULL, *m = NULL;

    if (json_is_object(j)) {
        t = json_string_value(json_object_get(j, "errorType"));
        m = json_string_value(json_object_get(j, "errorMessage"));
    }
    snprintf(type, tlen, "%s", t && *t ? t : hdr && *hdr ? hdr : "Unhandled");
    snprintf(msg, mlen, "%s", m ? m : "");
    json_decref(j);
}

static bool
is_current(sl_rtapi_t *a, const char *id, size_t idlen)
{
    sl_inv_call_t *c = a->in->call;

    return a->in->state == SL_INST_BUSY && c && a->call_sent &&
           strlen(c->request_id) == idlen && memcmp(c->request_id, id, idlen) == 0;
}

static void
on_result(sl_rtapi_t *a, struct evhttp_request *req, const char *id, size_t idlen, bool error)
{
    sl_inv_inst_t *in = a->in;
    struct evbuffer *in_buf = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in_buf);
    const char *body;
    char type[128], msg[512];

    if (!is_current(a, id, idlen)) {
        sl_log(SL_LOG_INFO, "runtime api rejected function=%s instance=%u reason=unknown_request "
               "request=%.*s", sl__inv_name(in->inv), in->id, (int)(idlen > 64 ? 64 : idlen), id);
        reply_error(req, 400, "Bad Request", "InvalidRequestID", "Invalid request ID");
        return;
    }
    if (len > SL_INV_MAX_RESPONSE) {
        snprintf(msg, sizeof(msg), "Response payload size (%zu bytes) exceeded maximum allowed "
                 "payload size (%u bytes).", len, SL_INV_MAX_RESPONSE);
        sl__pool_complete(in, SL_INVOKE_FUNCTION_ERROR, NULL, 0,
                          "Function.ResponseSizeTooLarge", msg);
        reply_error(req, 413, "Payload Too Large", "RequestEntityTooLarge", msg);
        return;
    }
    body = len ? (const char *)evbuffer_pullup(in_buf, -1) : "";
    if (error) {
        read_error(req, body, len, type, sizeof(type), msg, sizeof(msg));
        sl__pool_complete(in, SL_INVOKE_FUNCTION_ERROR, body, len, type, msg);
    } else {
        sl__pool_complete(in, SL_INVOKE_OK, body, len, NULL, NULL);
    }
    reply(req, 202, "Accepted", "{\"status\":\"OK\"}");
}

static void
on_init_error(sl_rtapi_t *a, struct evhttp_request *req)
{
    sl_inv_inst_t *in = a->in;
    struct evbuffer *in_buf = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in_buf);
    const char *body = len ? (const char *)evbuffer_pullup(in_buf, -1) : "";
    char type[128], msg[512];

    if (in->state != SL_INST_STARTING) {
        reply_error(req, 403, "Forbidden", "InvalidStateTransition",
                    "init/error after the runtime was ready");
        return;
    }
    read_error(req, body, len, type, sizeof(type), msg, sizeof(msg));
    reply(req, 202, "Accepted", "{\"status\":\"OK\"}");
    sl__pool_init_failed(in, type, msg[0] ? msg : "the runtime reported an init error", false);
}

/* ---- routing ---- */

static void
on_request(struct evhttp_request *req, void *arg)
{
    sl_rtapi_t *a = arg;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    const char *rest, *slash;
    size_t n;

    if (path == NULL || strncmp(path, PREFIX, PREFIX_LEN) != 0)
        goto not_found;
    rest = path + PREFIX_LEN;
    if (strcmp(rest, "invocation/next") == 0) {
        if (cmd != EVHTTP_REQ_GET)
            goto bad_method;
        on_next(a, req);
        return;
    }
    if (strcmp(rest, "init/error") == 0) {
        if (cmd != EVHTTP_REQ_POST)
            goto bad_method;
        on_init_error(a, req);
        return;
    }
    if (strncmp(rest, "invocation/", 11) == 0) {
        rest += 11;
        slash = strchr(rest, '/');
        if (slash == NULL || slash == rest)
            goto not_found;
        n = (size_t)(slash - rest);
        if (strcmp(slash, "/response") == 0 || strcmp(slash, "/error") == 0) {
            if (cmd != EVHTTP_REQ_POST)
                goto bad_method;
            on_result(a, req, rest, n, slash[1] == 'e');
            return;
        }
    }
not_found:
    reply_error(req, 404, "Not Found", "ResourceNotFound", "unknown Runtime API resource");
    return;
bad_method:
    reply_error(req, 405, "Method Not Allowed", "MethodNotAllowed", "method not allowed");
}

/* ---- lifetime ---- */

sl_rtapi_t *
sl__rtapi_create(sl_inv_inst_t *in, char *errbuf, size_t errlen)
{
    sl_rtapi_t *a = sl_calloc(1, sizeof(*a));
    struct evhttp_bound_socket *sock;
    struct sockaddr_in sin;
    socklen_t slen = sizeof(sin);

    a->in = in;
    a->http = evhttp_new(in->inv->base);
    evhttp_set_gencb(a->http, on_request, a);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(a->http, MAX_BODY);
    sock = evhttp_bind_socket_with_handle(a->http, "127.0.0.1", 0);
    if (sock == NULL ||
        getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sin, &slen) < 0) {
        snprintf(errbuf, errlen, "cannot listen on 127.0.0.1 for the Runtime API");
        evhttp_free(a->http);
        sl_free(a);
        return NULL;
    }
    a->port = ntohs(sin.sin_port);
    return a;
}

int
sl__rtapi_port(const sl_rtapi_t *a)
{
    return a->port;
}

void
sl__rtapi_destroy(sl_rtapi_t *a)
{
    if (a == NULL)
        return;
    a->held = NULL;
    evhttp_free(a->http);       /* frees connections and any held request */
    sl_free(a);
}
