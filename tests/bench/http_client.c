/* http_client.c - the minimal HTTP/1.1 client that sluice-bench drives load with.
 * A load generator must cost less per request than the server it measures, and
 * evhttp's client side (request objects, header queues, callbacks per chunk) costs
 * about as much as its server side. So this client does only what the SQS JSON
 * protocol needs: one keep-alive connection per bench_conn_t, one request at a
 * time (no pipelining), POST / with a fixed header block, and a response parser
 * for the status line, headers, and a Content-Length, chunked or close-delimited
 * body. A Content-Length body (what evhttp sends) is handed to the caller straight
 * from the bufferevent's input buffer, without a copy. The caller measures latency
 * from posted_ns. */
#include "bench.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#define HEAD_MAX (64 * 1024)                    /* longest status line + headers */
#define BODY_MAX ((uint64_t)64 * 1024 * 1024)   /* longest body we accept */

/* The signature is not valid: a local broker skips SigV4 checks (spec §1.1), but
 * the header keeps requests the size and shape real SDKs send. */
#define AUTH_HEADERS                                                                  \
    "X-Amz-Date: 20250101T000000Z\r\n"                                                \
    "Authorization: AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/sqs/"         \
    "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "         \
    "Signature=0000000000000000000000000000000000000000000000000000000000000000\r\n"

static void on_read(struct bufferevent *bev, void *arg);
static void on_written(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

void
bench_conn_init(bench_conn_t *c, struct event_base *base, const bench_endpoint_t *ep,
                bench_conn_cb cb, void *arg)
{
    memset(c, 0, sizeof(*c));
    c->base = base;
    c->ep = ep;
    c->cb = cb;
    c->arg = arg;
    c->state = BENCH_CONN_CLOSED;
    c->body = evbuffer_new();
}

static void
close_socket(bench_conn_t *c)
{
    if (c->bev != NULL) {
        /* safe inside the bufferevent's own callback: libevent holds a reference */
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    c->state = BENCH_CONN_CLOSED;
}

void
bench_conn_deinit(bench_conn_t *c)
{
    close_socket(c);
    if (c->body != NULL) {
        evbuffer_free(c->body);
        c->body = NULL;
    }
}

bool
bench_conn_is_busy(const bench_conn_t *c)
{
    return c->state != BENCH_CONN_CLOSED && c->state != BENCH_CONN_IDLE;
}

static int
open_socket(bench_conn_t *c)
{
    struct timeval tv = { c->timeout_s, 0 };
    evutil_socket_t fd;
    int one = 1;

    c->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        snprintf(c->errstr, sizeof(c->errstr), "bufferevent_socket_new failed");
        return SL_EBACKEND;
    }
    bufferevent_setcb(c->bev, on_read, on_written, on_event, c);
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    /* a refused connect is reported later through on_event, never from here */
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&c->ep->addr,
                                   (int)c->ep->addrlen) < 0) {
        snprintf(c->errstr, sizeof(c->errstr), "connect: %s", strerror(errno));
        bufferevent_free(c->bev);
        c->bev = NULL;
        return SL_EBACKEND;
    }
    fd = bufferevent_getfd(c->bev);
    if (fd >= 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->connects++;
    c->state = BENCH_CONN_CONNECTING;
    return SL_OK;
}

/* Sends "line" (e.g. "POST /") with body after the header lines in kind
 * (Content-Type and what else the protocol wants, each ending in CRLF). */
static int
post(bench_conn_t *c, const char *line, const char *kind, const char *body, size_t len,
     int timeout_s)
{
    struct evbuffer *out;
    char head[1024];
    int n, rc;

    if (bench_conn_is_busy(c))
        return SL_ESTATE;
    if (timeout_s <= 0)
        timeout_s = 30;
    if (c->state == BENCH_CONN_CLOSED) {
        c->timeout_s = timeout_s;
        if ((rc = open_socket(c)) < 0)
            return rc;
    } else {
        if (timeout_s != c->timeout_s) {
            struct timeval tv = { timeout_s, 0 };

            c->timeout_s = timeout_s;
            bufferevent_set_timeouts(c->bev, &tv, &tv);
        }
        c->state = BENCH_CONN_HEAD;
    }
    n = snprintf(head, sizeof(head),
                 "%s HTTP/1.1\r\n"
                 "Host: %s\r\n"
                 "%s"
                 AUTH_HEADERS
                 "Content-Length: %zu\r\n"
                 "\r\n",
                 line, c->ep->hostport, kind, len);
    out = bufferevent_get_output(c->bev);
    evbuffer_add(out, head, (size_t)n);
    evbuffer_add(out, body, len);
    if (c->state == BENCH_CONN_HEAD) {
        /* Write now rather than arm a write event: saves the two epoll_ctl calls a
         * bufferevent makes per request. libevent takes over only for a short write.
         * A socket bufferevent keeps its output frozen at the front so that only it
         * drains it; thaw it for this write, as bufferevent_writecb itself does. */
        evbuffer_unfreeze(out, 1);
        (void)evbuffer_write(out, bufferevent_getfd(c->bev));
        evbuffer_freeze(out, 1);
        if (evbuffer_get_length(out) > 0)
            bufferevent_enable(c->bev, EV_WRITE);
    }
    c->status = 0;
    c->clen = 0;
    c->close_after = false;
    c->posted_ns = bench_now_ns();
    return SL_OK;
}

int
bench_conn_post(bench_conn_t *c, const char *op, const char *body, size_t len, int timeout_s)
{
    char kind[160];

    snprintf(kind, sizeof(kind), "Content-Type: application/x-amz-json-1.0\r\n"
             "X-Amz-Target: AmazonSQS.%s\r\n", op);
    return post(c, "POST /", kind, body, len, timeout_s);
}

int
bench_conn_post_form(bench_conn_t *c, const char *body, size_t len, int timeout_s)
{
    return post(c, "POST /",
                "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n", body,
                len, timeout_s);
}

int
bench_conn_get(bench_conn_t *c, const char *path, int timeout_s)
{
    char line[600];

    if (strlen(path) > 512)
        return SL_EINVAL;
    snprintf(line, sizeof(line), "GET %s", path);
    return post(c, line, "", "", 0, timeout_s);
}

/* Ends the pending request with a transport error and drops the connection. */
static void
conn_fail(bench_conn_t *c, int rc, const char *why)
{
    bool pending = bench_conn_is_busy(c);

    snprintf(c->errstr, sizeof(c->errstr), "%s", why);
    close_socket(c);
    evbuffer_drain(c->body, evbuffer_get_length(c->body));
    if (pending)
        c->cb(c, rc, NULL, 0, c->arg);
}

/* Hands the body gathered in c->body to the caller. */
static void
deliver_gathered(bench_conn_t *c)
{
    size_t len = evbuffer_get_length(c->body);
    const char *p = len ? (const char *)evbuffer_pullup(c->body, -1) : "";

    if (c->close_after)
        close_socket(c);
    else
        c->state = BENCH_CONN_IDLE;
    c->cb(c, c->status, p, len, c->arg);
    evbuffer_drain(c->body, len);
}

static bool
header_is(const char *name, size_t nlen, const char *want)
{
    return nlen == strlen(want) && strncasecmp(name, want, nlen) == 0;
}

static bool
value_has(const char *v, size_t vlen, const char *token)
{
    size_t tl = strlen(token), i;

    for (i = 0; i + tl <= vlen; i++)
        if (strncasecmp(v + i, token, tl) == 0)
            return true;
    return false;
}

/* Parses the status line and headers once all of them are in. Returns SL_OK with
 * c->state set for the body, SL_EAGAIN for more input, or SL_EPROTO. */
static int
parse_head(bench_conn_t *c, struct evbuffer *in)
{
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    const char *h, *line, *stop, *eol;
    bool has_clen = false, chunked = false, http10 = false, keep_alive = false;
    size_t hlen;

    if (end.pos < 0)
        return evbuffer_get_length(in) > HEAD_MAX ? SL_EPROTO : SL_EAGAIN;
    hlen = (size_t)end.pos + 4;
    h = (const char *)evbuffer_pullup(in, (ev_ssize_t)hlen);
    stop = h + hlen - 2;

    /* "HTTP/1.1 200 OK" */
    if (hlen < 14 || strncmp(h, "HTTP/1.", 7) != 0 || h[8] != ' ' ||
        h[9] < '1' || h[9] > '5' || h[10] < '0' || h[10] > '9' || h[11] < '0' || h[11] > '9')
        return SL_EPROTO;
    http10 = h[7] == '0';
    c->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
    line = (const char *)memchr(h, '\n', hlen) + 1;

    while (line < stop) {
        const char *colon, *v;
        size_t nlen, vlen;

        eol = memchr(line, '\r', (size_t)(stop - line) + 1);
        if (eol == NULL)
            return SL_EPROTO;
        colon = memchr(line, ':', (size_t)(eol - line));
        if (colon == NULL)
            return SL_EPROTO;
        nlen = (size_t)(colon - line);
        v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        vlen = (size_t)(eol - v);
        if (header_is(line, nlen, "content-length")) {
            char num[24];
            char *e;
            unsigned long long cl;

            if (vlen == 0 || vlen >= sizeof(num))
                return SL_EPROTO;
            memcpy(num, v, vlen);
            num[vlen] = '\0';
            cl = strtoull(num, &e, 10);
            if (*e != '\0' || cl > BODY_MAX)
                return SL_EPROTO;
            c->clen = cl;
            has_clen = true;
        } else if (header_is(line, nlen, "transfer-encoding")) {
            chunked = value_has(v, vlen, "chunked");
        } else if (header_is(line, nlen, "connection")) {
            if (value_has(v, vlen, "close"))
                c->close_after = true;
            if (value_has(v, vlen, "keep-alive"))
                keep_alive = true;
        }
        line = eol + 2;
    }
    evbuffer_drain(in, hlen);
    if (http10 && !keep_alive)
        c->close_after = true;
    if (c->status < 200) {
        c->state = BENCH_CONN_HEAD;             /* 1xx: the real answer follows */
        return SL_OK;
    }
    evbuffer_drain(c->body, evbuffer_get_length(c->body));
    if (chunked) {
        c->state = BENCH_CONN_CHUNK_SIZE;
    } else if (has_clen) {
        c->state = BENCH_CONN_BODY;
    } else if (c->status == 204 || c->status == 304) {
        c->clen = 0;
        c->state = BENCH_CONN_BODY;
    } else {
        c->close_after = true;
        c->state = BENCH_CONN_BODY_EOF;
    }
    return SL_OK;
}

/* Reads a CRLF-terminated line of at most 1 KiB. Returns SL_OK, SL_EAGAIN or
 * SL_EPROTO; the line is NUL-terminated in buf. */
static int
read_line(struct evbuffer *in, char *buf, size_t buflen)
{
    struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_CRLF_STRICT);
    size_t n;

    if (eol.pos < 0)
        return evbuffer_get_length(in) > buflen ? SL_EPROTO : SL_EAGAIN;
    n = (size_t)eol.pos;
    if (n >= buflen)
        return SL_EPROTO;
    evbuffer_remove(in, buf, n);
    buf[n] = '\0';
    evbuffer_drain(in, 2);
    return SL_OK;
}

static void
on_read(struct bufferevent *bev, void *arg)
{
    bench_conn_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char line[1024];
    int rc;

    for (;;) {
        switch (c->state) {
        case BENCH_CONN_HEAD:
            rc = parse_head(c, in);
            if (rc == SL_EAGAIN)
                return;
            if (rc < 0) {
                conn_fail(c, SL_EPROTO, "malformed response head");
                return;
            }
            break;

        case BENCH_CONN_BODY: {
            size_t len = (size_t)c->clen;
            const char *p;

            if (evbuffer_get_length(in) < len)
                return;
            if (c->close_after) {
                evbuffer_remove_buffer(in, c->body, len);
                deliver_gathered(c);
                return;
            }
            /* the common case: hand over the body in place, drain after */
            p = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
            c->state = BENCH_CONN_IDLE;
            c->cb(c, c->status, p, len, c->arg);
            evbuffer_drain(in, len);
            if (c->bev != bev || c->state != BENCH_CONN_HEAD || evbuffer_get_length(in) == 0)
                return;
            break;
        }

        case BENCH_CONN_BODY_EOF:
            evbuffer_add_buffer(c->body, in);
            if (evbuffer_get_length(c->body) > BODY_MAX)
                conn_fail(c, SL_EPROTO, "response body too long");
            return;

        case BENCH_CONN_CHUNK_SIZE: {
            char *e;
            unsigned long long sz;

            rc = read_line(in, line, sizeof(line));
            if (rc == SL_EAGAIN)
                return;
            sz = strtoull(line, &e, 16);
            if (rc < 0 || e == line || (*e != '\0' && *e != ';' && *e != ' ') ||
                sz > BODY_MAX || evbuffer_get_length(c->body) + sz > BODY_MAX) {
                conn_fail(c, SL_EPROTO, "malformed chunk size");
                return;
            }
            c->clen = sz;
            c->state = sz == 0 ? BENCH_CONN_CHUNK_TRAILER : BENCH_CONN_CHUNK_DATA;
            break;
        }

        case BENCH_CONN_CHUNK_DATA: {
            char crlf[2];

            if (evbuffer_get_length(in) < c->clen + 2)
                return;
            evbuffer_remove_buffer(in, c->body, (size_t)c->clen);
            evbuffer_remove(in, crlf, 2);
            if (crlf[0] != '\r' || crlf[1] != '\n') {
                conn_fail(c, SL_EPROTO, "chunk not followed by CRLF");
                return;
            }
            c->state = BENCH_CONN_CHUNK_SIZE;
            break;
        }

        case BENCH_CONN_CHUNK_TRAILER:
            rc = read_line(in, line, sizeof(line));
            if (rc == SL_EAGAIN)
                return;
            if (rc < 0) {
                conn_fail(c, SL_EPROTO, "malformed chunk trailer");
                return;
            }
            if (line[0] == '\0') {
                deliver_gathered(c);
                if (c->bev != bev || c->state != BENCH_CONN_HEAD ||
                    evbuffer_get_length(in) == 0)
                    return;
            }
            break;

        case BENCH_CONN_IDLE:
        case BENCH_CONN_CLOSED:
        case BENCH_CONN_CONNECTING:
        default:
            if (evbuffer_get_length(in) > 0)
                conn_fail(c, SL_EPROTO, "data from the server with no request pending");
            return;
        }
    }
}

/* The output drained: stop watching for writability (see bench_conn_post). */
static void
on_written(struct bufferevent *bev, void *arg)
{
    (void)arg;
    bufferevent_disable(bev, EV_WRITE);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
    bench_conn_t *c = arg;
    char why[96];

    if (what & BEV_EVENT_CONNECTED) {
        c->state = BENCH_CONN_HEAD;             /* the request is already queued */
        return;
    }
    if (c->state == BENCH_CONN_IDLE) {
        close_socket(c);                        /* idle keep-alive closed or timed out */
        return;
    }
    if ((what & BEV_EVENT_EOF) && c->state == BENCH_CONN_BODY_EOF) {
        evbuffer_add_buffer(c->body, bufferevent_get_input(bev));
        deliver_gathered(c);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        snprintf(why, sizeof(why), "timed out after %d s", c->timeout_s);
        conn_fail(c, SL_ETIMEDOUT, why);
    } else if (what & BEV_EVENT_EOF) {
        conn_fail(c, SL_EBACKEND, "connection closed by the server");
    } else {
        int err = EVUTIL_SOCKET_ERROR();

        snprintf(why, sizeof(why), "socket error: %s", evutil_socket_error_to_string(err));
        conn_fail(c, SL_EBACKEND, why);
    }
}
