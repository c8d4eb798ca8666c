/* sns_http.c - one HTTP delivery of a topic message (sns_deliver.h): POST the
 * body to the subscription's URL with SNS's headers, over a connection of its
 * own that is freed once the answer is in (deliveries are not a hot path; a
 * subscriber that keeps connections alive gains little from SNS either).
 * Names resolve through evdns, never a blocking getaddrinfo on the loop.
 * https is refused: the core has no TLS. */
#include "sns_deliver.h"

#include "sluice/log.h"
#include "sluice/mem.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <string.h>

#define TIMEOUT_S 15

struct sl_sns_http {
    struct evhttp_connection *conn;
    struct event *defer;        /* a failure found before sending, reported later */
    sl_sns_http_cb cb;
    void *arg;
    const char *code;
    char why[160];
    bool permanent;
    bool errored;
};

static void
finish(sl_sns_http_t *h)
{
    sl_sns_http_cb cb = h->cb;
    void *arg = h->arg;
    const char *code = h->code;
    char why[160];
    bool permanent = h->permanent;

    snprintf(why, sizeof(why), "%s", h->why);
    sl__sns_http_cancel(h);
    cb(arg, code, code ? why : NULL, permanent);
}

static void
on_deferred(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    finish(arg);
}

static void
on_error(enum evhttp_request_error e, void *arg)
{
    sl_sns_http_t *h = arg;

    (void)e;
    h->errored = true;
}

static void
on_response(struct evhttp_request *req, void *arg)
{
    sl_sns_http_t *h = arg;
    int st = req ? evhttp_request_get_response_code(req) : 0;

    if (req == NULL || st == 0 || h->errored) {
        h->code = "ConnectionError";
        snprintf(h->why, sizeof(h->why), "no response from the endpoint");
    } else if (st >= 500 || st == 429 || st < 200) {
        h->code = "HttpError";
        snprintf(h->why, sizeof(h->why), "the endpoint answered %d", st);
    } else {
        h->code = NULL;
    }
    /* evhttp frees req after this returns: finish from the loop, not here. */
    event_active(h->defer, EV_TIMEOUT, 0);
}

static void
fail_later(sl_sns_http_t *h, const char *code, const char *why, bool permanent)
{
    h->code = code;
    h->permanent = permanent;
    snprintf(h->why, sizeof(h->why), "%s", why);
    event_active(h->defer, EV_TIMEOUT, 0);
}

sl_sns_http_t *
sl__sns_http_post(struct event_base *base, struct evdns_base *dns, const sl_sub_spec_t *s,
                  const sl_sns_delivery_t *dv, sl_sns_http_cb cb, void *arg)
{
    sl_sns_http_t *h = sl_calloc(1, sizeof(*h));
    struct evhttp_uri *uri = evhttp_uri_parse(s->endpoint);
    const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
    const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    int port = uri ? evhttp_uri_get_port(uri) : -1;
    struct evhttp_request *req;
    struct evkeyvalq *oh;
    char target[2048], hosthdr[300];

    h->cb = cb;
    h->arg = arg;
    h->defer = event_new(base, -1, 0, on_deferred, h);
    if (scheme == NULL || host == NULL || *host == '\0') {
        fail_later(h, "InvalidParameter", "the endpoint is not a URL", true);
        goto out;
    }
    if (strcmp(scheme, "http") != 0) {
        fail_later(h, "InvalidParameter", "https endpoints need TLS, which sluice lacks", true);
        goto out;
    }
    if (port < 0)
        port = 80;
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    snprintf(target, sizeof(target), "%s%s%s", path && *path ? path : "/", query ? "?" : "",
             query ? query : "");
    snprintf(hosthdr, sizeof(hosthdr), "%s:%d", evhttp_uri_get_host(uri), port);
    h->conn = evhttp_connection_base_new(base, dns, host, (unsigned short)port);
    evhttp_connection_set_timeout(h->conn, TIMEOUT_S);
    evhttp_connection_set_retries(h->conn, 0);
    req = evhttp_request_new(on_response, h);
    evhttp_request_set_error_cb(req, on_error);
    oh = evhttp_request_get_output_headers(req);
    evhttp_add_header(oh, "Host", hosthdr);
    evhttp_add_header(oh, "Content-Type", "text/plain; charset=UTF-8");
    evhttp_add_header(oh, "User-Agent", "Amazon Simple Notification Service Agent");
    evhttp_add_header(oh, "x-amz-sns-message-type", dv->type);
    evhttp_add_header(oh, "x-amz-sns-message-id", dv->msg_id);
    evhttp_add_header(oh, "x-amz-sns-topic-arn", dv->topic_arn);
    if (strcmp(dv->type, "SubscriptionConfirmation") != 0)
        evhttp_add_header(oh, "x-amz-sns-subscription-arn", dv->sub_arn);
    if (dv->raw)
        evhttp_add_header(oh, "x-amz-sns-rawdelivery", "true");
    evbuffer_add(evhttp_request_get_output_buffer(req), dv->body, dv->body_len);
    if (evhttp_make_request(h->conn, req, EVHTTP_REQ_POST, target) != 0)
        fail_later(h, "ConnectionError", "the request could not be sent", false);
out:
    if (uri)
        evhttp_uri_free(uri);
    return h;
}

void
sl__sns_http_cancel(sl_sns_http_t *h)
{
    if (h == NULL)
        return;
    if (h->conn)
        evhttp_connection_free(h->conn);
    event_free(h->defer);
    sl_free(h);
}
