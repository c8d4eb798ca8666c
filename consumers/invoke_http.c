/* invoke_http.c - the `http` backend: POST the event JSON to spec->url.
 *
 * An instance is one evhttp client connection, kept alive between calls, so a
 * function with max_concurrency N holds at most N connections and a warm one
 * costs no handshake. Names resolve through evdns (created only when the host
 * is not numeric; "localhost" is taken as 127.0.0.1), never through a blocking
 * getaddrinfo on the loop.
 *
 * 2xx -> SL_INVOKE_OK with the response body (which may hold
 * {"batchItemFailures":[...]}); any other status -> SL_INVOKE_FUNCTION_ERROR
 * with the body as the error payload; no response (refused, reset, EOF) ->
 * SL_INVOKE_CRASH. A call past its deadline is cancelled (evhttp resets the
 * connection, which reconnects on the next call) and ends SL_INVOKE_TIMEOUT.
 * Requests carry Lambda-Runtime-Aws-Request-Id, -Deadline-Ms and
 * -Invoked-Function-Arn headers so a handler can log and budget like on
 * Lambda. https is not supported (no TLS in the core). */
#include "pool.h"

#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_RESPONSE (SL_INV_MAX_RESPONSE + 64 * 1024)

typedef struct http_fn {
    struct evdns_base *dns;     /* NULL for a numeric host */
    char *host;                 /* to connect to */
    char *host_header;          /* as in the URL, with the port when not 80 */
    char *path;                 /* path and query */
    int port;
} http_fn_t;

typedef struct http_inst {
    sl_inv_inst_t *in;
    struct evhttp_connection *conn;
    struct evhttp_request *req; /* in flight; owned by evhttp */
    enum evhttp_request_error err;
    bool failed;                /* the error callback ran */
} http_inst_t;

static const char *
req_error_name(enum evhttp_request_error e)
{
    switch (e) {
    case EVREQ_HTTP_TIMEOUT:
        return "timeout";
    case EVREQ_HTTP_EOF:
        return "eof";
    case EVREQ_HTTP_INVALID_HEADER:
        return "invalid_header";
    case EVREQ_HTTP_BUFFER_ERROR:
        return "connection_error";
    case EVREQ_HTTP_REQUEST_CANCEL:
        return "cancelled";
    case EVREQ_HTTP_DATA_TOO_LONG:
        return "response_too_large";
    }
    return "unknown";
}

static void
on_req_error(enum evhttp_request_error e, void *arg)
{
    http_inst_t *h = arg;

    h->failed = true;
    h->err = e;
}

static void
on_response(struct evhttp_request *req, void *arg)
{
    http_inst_t *h = arg;
    sl_inv_inst_t *in = h->in;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    char msg[160];

    h->req = NULL;
    if (in->state != SL_INST_BUSY)
        return;
    if (code == 0) {
        snprintf(msg, sizeof(msg), "no response from %s:%d: %s",
                 ((http_fn_t *)in->inv->be_state)->host, ((http_fn_t *)in->inv->be_state)->port,
                 h->failed ? req_error_name(h->err) : "connection failed");
        sl__pool_complete(in, SL_INVOKE_CRASH, NULL, 0, "Sluice.ConnectionError", msg);
    } else {
        struct evbuffer *b = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(b);
        const char *body = len ? (const char *)evbuffer_pullup(b, -1) : NULL;

        if (code >= 200 && code < 300) {
            sl__pool_complete(in, SL_INVOKE_OK, body, len, NULL, NULL);
        } else {
            snprintf(msg, sizeof(msg), "HTTP %d %s", code,
                     evhttp_request_get_response_code_line(req)
                         ? evhttp_request_get_response_code_line(req) : "");
            sl__pool_complete(in, SL_INVOKE_FUNCTION_ERROR, body, len, "Function.HttpError", msg);
        }
    }
    sl__pool_ready(in);
}

static int
http_start(sl_inv_inst_t *in, char *errbuf, size_t errlen)
{
    http_fn_t *fn = in->inv->be_state;
    http_inst_t *h = sl_calloc(1, sizeof(*h));

    h->in = in;
    in->be = h;
    h->conn = evhttp_connection_base_new(in->inv->base, fn->dns, fn->host,
                                         (unsigned short)fn->port);
    if (h->conn == NULL) {
        snprintf(errbuf, errlen, "cannot create a connection to %s:%d", fn->host, fn->port);
        return SL_EBACKEND;
    }
    evhttp_connection_set_max_body_size(h->conn, MAX_RESPONSE);
    /* Our own deadline ends calls; libevent's must not come first. */
    evhttp_connection_set_timeout(h->conn, (int)(in->inv->spec.timeout_ms / 1000 + 30));
    sl__pool_ready(in);
    return SL_OK;
}

static void
http_run(sl_inv_inst_t *in)
{
    http_fn_t *fn = in->inv->be_state;
    http_inst_t *h = in->be;
    sl_inv_call_t *c = in->call;
    struct evhttp_request *req = evhttp_request_new(on_response, h);
    struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
    char deadline[32];

    h->failed = false;
    evhttp_request_set_error_cb(req, on_req_error);
    snprintf(deadline, sizeof(deadline), "%" PRId64, c->deadline_epoch_ms);
    evhttp_add_header(hd, "Host", fn->host_header);
    evhttp_add_header(hd, "Content-Type", "application/json");
    evhttp_add_header(hd, "Lambda-Runtime-Aws-Request-Id", c->request_id);
    evhttp_add_header(hd, "Lambda-Runtime-Deadline-Ms", deadline);
    evhttp_add_header(hd, "Lambda-Runtime-Invoked-Function-Arn", in->inv->arn);
    evbuffer_add(evhttp_request_get_output_buffer(req), c->payload, c->len);
    h->req = req;
    if (evhttp_make_request(h->conn, req, EVHTTP_REQ_POST, fn->path) != 0) {
        /* evhttp freed req. Report from the delivery path, not from here. */
        h->req = NULL;
        sl__pool_complete(in, SL_INVOKE_CRASH, NULL, 0, "Sluice.ConnectionError",
                          "cannot send the request");
        sl__pool_ready(in);
    }
}

static sl_inst_state_t
http_timed_out(sl_inv_inst_t *in)
{
    http_inst_t *h = in->be;

    if (h->req) {
        evhttp_cancel_request(h->req);  /* no callback; the connection is reset */
        h->req = NULL;
    }
    return SL_INST_IDLE;
}

static bool
http_stop(sl_inv_inst_t *in, bool graceful)
{
    (void)in;
    (void)graceful;
    return true;                        /* free_inst closes the connection */
}

static void
http_free_inst(sl_inv_inst_t *in)
{
    http_inst_t *h = in->be;

    if (h == NULL)
        return;
    if (h->conn)
        evhttp_connection_free(h->conn);    /* also frees a request in flight, unanswered */
    sl_free(h);
    in->be = NULL;
}

static int
http_create(sl_invoker_t *inv, char *errbuf, size_t errlen)
{
    struct evhttp_uri *u;
    const char *scheme, *host, *path, *query;
    http_fn_t *fn;
    struct in6_addr a6;
    char hh[300];
    size_t plen;
    int port;

    if (inv->spec.url == NULL || (u = evhttp_uri_parse(inv->spec.url)) == NULL) {
        snprintf(errbuf, errlen, "http function needs a valid url");
        return SL_EINVAL;
    }
    scheme = evhttp_uri_get_scheme(u);
    host = evhttp_uri_get_host(u);
    port = evhttp_uri_get_port(u);
    if (scheme == NULL || strcasecmp(scheme, "http") != 0 || host == NULL || host[0] == '\0') {
        snprintf(errbuf, errlen, "url must be http://HOST[:PORT]/PATH (got %s)", inv->spec.url);
        evhttp_uri_free(u);
        return SL_EINVAL;
    }
    fn = sl_calloc(1, sizeof(*fn));
    fn->port = port > 0 ? port : 80;
    fn->host = sl_strdup(strcasecmp(host, "localhost") == 0 ? "127.0.0.1" : host);
    if (port > 0 && port != 80)
        snprintf(hh, sizeof(hh), "%s:%d", host, port);
    else
        snprintf(hh, sizeof(hh), "%s", host);
    fn->host_header = sl_strdup(hh);
    path = evhttp_uri_get_path(u);
    query = evhttp_uri_get_query(u);
    if (path == NULL || path[0] == '\0')
        path = "/";
    plen = strlen(path) + (query ? strlen(query) + 1 : 0) + 1;
    fn->path = sl_malloc(plen);
    snprintf(fn->path, plen, "%s%s%s", path, query ? "?" : "", query ? query : "");
    evhttp_uri_free(u);
    if (inet_pton(AF_INET, fn->host, &a6) != 1 && inet_pton(AF_INET6, fn->host, &a6) != 1) {
        fn->dns = evdns_base_new(inv->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        if (fn->dns == NULL) {
            snprintf(errbuf, errlen, "cannot set up name resolution for %s", fn->host);
            sl_free(fn->host);
            sl_free(fn->host_header);
            sl_free(fn->path);
            sl_free(fn);
            return SL_EBACKEND;
        }
    }
    inv->be_state = fn;
    return SL_OK;
}

static void
http_destroy(sl_invoker_t *inv)
{
    http_fn_t *fn = inv->be_state;

    if (fn->dns)
        evdns_base_free(fn->dns, 0);
    sl_free(fn->host);
    sl_free(fn->host_header);
    sl_free(fn->path);
    sl_free(fn);
    inv->be_state = NULL;
}

const sl_inv_backend_t sl__inv_http_backend = {
    .kind = "http",
    .create = http_create,
    .destroy = http_destroy,
    .start = http_start,
    .run = http_run,
    .timed_out = http_timed_out,
    .stop = http_stop,
    .kill = NULL,
    .free_inst = http_free_inst,
};
