/* cli_http.c - blocking HTTP requests for the sluice command-line client.
 * The client uses libevent's evhttp, like the broker, but synchronously: each request
 * gets its own event base and connection, one deadline timer bounds the whole exchange,
 * and the loop runs until the reply callback or the timer breaks it.
 * We resolve the host ourselves instead of letting evhttp do it, for two reasons: evhttp
 * connects to the first address only (so "localhost" fails when ::1 comes first and the
 * broker listens on 127.0.0.1), and it loses the reason a connect failed. Each attempt
 * goes to one numeric address; a failed one moves on to the next address only when the
 * connection was never set up, so a request is never sent twice. When all fail, one
 * plain non-blocking connect to the last address recovers the errno for the message. */
#include "cli_http.h"

#include "sluice/error.h"
#include "sluice/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SL_CLI_HTTP_REPLY_MAX   (64u << 20)     /* bytes; larger replies are refused */
#define SL_CLI_HTTP_PROBE_MS    2000            /* cap of the diagnostic connect */

struct sl_cli_http {
    char *url;          /* normalised endpoint, no trailing slash: "http://h:p/base" */
    char *host;         /* host to resolve; IPv6 literals without brackets */
    char *host_hdr;     /* Host header value: "h:p" or "[v6]:p" */
    char *base;         /* path prefix, "" or "/base" without trailing slash */
    int port;
    char errstr[256];   /* why the last request failed; "" after success */
};

/* State of one attempt at one address, shared with the libevent callbacks. */
typedef struct attempt {
    struct event_base *base;
    sl_cli_reply_t *out;
    bool done;          /* the reply callback ran */
    bool ok;            /* ... with a whole reply, copied to out */
    bool too_large;     /* ... but the body exceeded SL_CLI_HTTP_REPLY_MAX */
    bool connected;     /* the TCP connection was set up (its close callback ran) */
    bool timed_out;     /* our deadline timer fired first */
    bool has_err;
    enum evhttp_request_error err;  /* evhttp's reason, when has_err */
} attempt_t;

static char *
fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *
fmt(const char *f, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, f);
    n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    sl_assert(n >= 0);
    s = sl_malloc((size_t)n + 1);
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

/* ---- Endpoint ---- */

int
sl__cli_http_create(const char *url, sl_cli_http_t **out, char *err, size_t errlen)
{
    struct evhttp_uri *u;
    char *full = NULL;
    const char *scheme, *host, *path;
    sl_cli_http_t *h;
    size_t hlen, plen;
    int port;
    bool v6;

    *out = NULL;
    if (strstr(url, "://") == NULL)
        url = full = fmt("http://%s", url);
    u = evhttp_uri_parse_with_flags(url, 0);
    sl_free(full);
    if (u == NULL) {
        snprintf(err, errlen, "not a valid URL");
        return SL_EINVAL;
    }
    scheme = evhttp_uri_get_scheme(u);
    host = evhttp_uri_get_host(u);
    path = evhttp_uri_get_path(u);
    port = evhttp_uri_get_port(u);
    if (scheme == NULL || strcasecmp(scheme, "http") != 0) {
        snprintf(err, errlen, "only http:// endpoints are supported");
        goto out_einval;
    }
    if (host == NULL || host[0] == '\0') {
        snprintf(err, errlen, "no host in URL");
        goto out_einval;
    }
    if (evhttp_uri_get_userinfo(u) != NULL || evhttp_uri_get_query(u) != NULL ||
        evhttp_uri_get_fragment(u) != NULL) {
        snprintf(err, errlen, "URL must not have user info, a query or a fragment");
        goto out_einval;
    }
    if (port == 0) {
        snprintf(err, errlen, "port 0 is not valid");
        goto out_einval;
    }

    h = sl_calloc(1, sizeof(*h));
    h->port = port < 0 ? 80 : port;
    hlen = strlen(host);
    v6 = host[0] == '[' && hlen > 2 && host[hlen - 1] == ']';
    h->host = v6 ? sl_strndup(host + 1, hlen - 2) : sl_strdup(host);
    h->host_hdr = v6 ? fmt("[%s]:%d", h->host, h->port) : fmt("%s:%d", h->host, h->port);
    plen = path != NULL ? strlen(path) : 0;
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    h->base = sl_strndup(plen > 0 ? path : "", plen);
    h->url = fmt("http://%s%s", h->host_hdr, h->base);
    evhttp_uri_free(u);
    *out = h;
    return SL_OK;
out_einval:
    evhttp_uri_free(u);
    return SL_EINVAL;
}

void
sl__cli_http_destroy(sl_cli_http_t *h)
{
    if (h == NULL)
        return;
    sl_free(h->url);
    sl_free(h->host);
    sl_free(h->host_hdr);
    sl_free(h->base);
    sl_free(h);
}

const char *
sl__cli_http_url(const sl_cli_http_t *h)
{
    return h->url;
}

const char *
sl__cli_http_errstr(const sl_cli_http_t *h)
{
    return h->errstr;
}

void
sl__cli_reply_deinit(sl_cli_reply_t *r)
{
    if (r == NULL)
        return;
    sl_free(r->body);
    r->body = NULL;
    r->len = 0;
    r->status = 0;
}

char *
sl__cli_http_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *e = sl_malloc(3 * n + 1);
    char *p = e;

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return e;
}

/* ---- One request ---- */

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_reply(struct evhttp_request *req, void *arg)
{
    attempt_t *a = arg;
    struct evbuffer *in;
    size_t len;

    a->done = true;
    if (req != NULL && evhttp_request_get_response_code(req) != 0) {
        in = evhttp_request_get_input_buffer(req);
        len = evbuffer_get_length(in);
        if (len > SL_CLI_HTTP_REPLY_MAX || (a->out->body = sl_trymalloc(len + 1)) == NULL) {
            a->too_large = true;
        } else {
            evbuffer_remove(in, a->out->body, len);
            a->out->body[len] = '\0';
            a->out->len = len;
            a->out->status = evhttp_request_get_response_code(req);
            a->ok = true;
        }
    }
    event_base_loopbreak(a->base);
}

static void
on_request_error(enum evhttp_request_error err, void *arg)
{
    attempt_t *a = arg;

    a->err = err;
    a->has_err = true;
}

static void
on_close(struct evhttp_connection *conn, void *arg)
{
    attempt_t *a = arg;

    (void)conn;
    a->connected = true;
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
    attempt_t *a = arg;

    (void)fd;
    (void)what;
    a->timed_out = true;
    event_base_loopbreak(a->base);
}

/* Connects to ai without evhttp, to learn why evhttp could not: returns 0 when the
 * connection succeeds, else the errno (ETIMEDOUT after timeout_ms). Blocks. */
static int
probe_connect(const struct addrinfo *ai, int timeout_ms)
{
    struct pollfd pfd;
    socklen_t elen = sizeof(int);
    int fd, e = 0, rc;

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd < 0)
        return errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        goto out_close;
    if (errno != EINPROGRESS) {
        e = errno;
        goto out_close;
    }
    pfd.fd = fd;
    pfd.events = POLLOUT;
    do {
        rc = poll(&pfd, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0)
        e = ETIMEDOUT;
    else if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
        e = errno;
out_close:
    close(fd);
    return e;
}

static const char *
request_error_name(enum evhttp_request_error err)
{
    switch (err) {
    case EVREQ_HTTP_TIMEOUT:        return "timed out waiting for the reply";
    case EVREQ_HTTP_EOF:            return "connection closed before a whole reply";
    case EVREQ_HTTP_INVALID_HEADER: return "malformed HTTP reply";
    case EVREQ_HTTP_BUFFER_ERROR:   return "read error";
    case EVREQ_HTTP_REQUEST_CANCEL: return "request cancelled";
    case EVREQ_HTTP_DATA_TOO_LONG:  return "reply too large";
    default:                        return "connection failed";
    }
}

static enum evhttp_cmd_type
method_cmd(sl_cli_method_t m)
{
    switch (m) {
    case SL_CLI_POST:   return EVHTTP_REQ_POST;
    case SL_CLI_DELETE: return EVHTTP_REQ_DELETE;
    case SL_CLI_GET:
    default:            return EVHTTP_REQ_GET;
    }
}

/* Runs the request against one numeric address until reply, failure or deadline_ms.
 * Fills *a; the caller judges it. */
static void
attempt_run(sl_cli_http_t *h, const struct addrinfo *ai, sl_cli_method_t method,
            const char *uri, const char *const *headers, const char *body, size_t len,
            long long deadline_ms, attempt_t *a)
{
    bool has_ctype = false;
    char addr[INET6_ADDRSTRLEN];
    const void *sin;
    struct evhttp_connection *conn;
    struct evhttp_request *req;
    struct evkeyvalq *hdr;
    struct event *timer;
    struct timeval tv;
    long long left = deadline_ms - now_ms();

    if (left <= 0) {
        a->timed_out = true;
        return;
    }
    sin = ai->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                                    : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
    if (inet_ntop(ai->ai_family, sin, addr, sizeof(addr)) == NULL)
        return;

    conn = evhttp_connection_base_new(a->base, NULL, addr, (unsigned short)h->port);
    if (conn == NULL)
        return;
    evhttp_connection_set_family(conn, ai->ai_family);
    evhttp_connection_set_max_body_size(conn, SL_CLI_HTTP_REPLY_MAX);
    /* evhttp's own idle timeout only backs up our deadline, which bounds the total */
    tv.tv_sec = (time_t)(left / 1000 + 1);
    tv.tv_usec = 0;
    evhttp_connection_set_timeout_tv(conn, &tv);
    evhttp_connection_set_closecb(conn, on_close, a);

    req = evhttp_request_new(on_reply, a);
    evhttp_request_set_error_cb(req, on_request_error);
    hdr = evhttp_request_get_output_headers(req);
    evhttp_add_header(hdr, "Host", h->host_hdr);
    evhttp_add_header(hdr, "User-Agent", "sluice-cli");
    evhttp_add_header(hdr, "Accept", "application/json");
    evhttp_add_header(hdr, "Connection", "close");
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i += 2) {
        evhttp_add_header(hdr, headers[i], headers[i + 1]);
        has_ctype |= strcasecmp(headers[i], "Content-Type") == 0;
    }
    if (body != NULL) {
        if (!has_ctype)
            evhttp_add_header(hdr, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    }

    timer = evtimer_new(a->base, on_deadline, a);
    tv.tv_sec = (time_t)(left / 1000);
    tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
    evtimer_add(timer, &tv);
    /* On failure evhttp has already dropped req from the connection but may have run
     * on_reply; freeing the connection below cleans up either way. */
    if (evhttp_make_request(conn, req, method_cmd(method), uri) == 0)
        event_base_dispatch(a->base);
    event_free(timer);
    /* frees a request still in flight (deadline) without running its callback */
    evhttp_connection_free(conn);
}

int
sl__cli_http_request(sl_cli_http_t *h, sl_cli_method_t method, const char *path,
                     const char *body, size_t len, int timeout_ms, sl_cli_reply_t *out)
{
    return sl__cli_http_request_hdrs(h, method, path, NULL, body, len, timeout_ms, out);
}

int
sl__cli_http_request_hdrs(sl_cli_http_t *h, sl_cli_method_t method, const char *path,
                          const char *const *headers, const char *body, size_t len,
                          int timeout_ms, sl_cli_reply_t *out)
{
    struct addrinfo hints, *res = NULL, *ai, *last = NULL;
    long long deadline_ms = now_ms() + timeout_ms;
    char port[16];
    char *uri;
    attempt_t a;
    int rc, e;

    memset(out, 0, sizeof(*out));
    h->errstr[0] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", h->port);
    if ((rc = getaddrinfo(h->host, port, &hints, &res)) != 0) {
        snprintf(h->errstr, sizeof(h->errstr), "%s",
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return SL_EBACKEND;
    }

    uri = fmt("%s%s", h->base, path);
    memset(&a, 0, sizeof(a));
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        memset(&a, 0, sizeof(a));
        a.out = out;
        a.base = event_base_new();
        sl_assert(a.base != NULL);
        attempt_run(h, ai, method, uri, headers, body, len, deadline_ms, &a);
        event_base_free(a.base);
        a.base = NULL;
        last = ai;
        if (a.ok || a.timed_out || a.connected)
            break;
    }

    if (a.ok) {
        rc = SL_OK;
    } else if (a.timed_out) {
        if (timeout_ms % 1000 == 0)
            snprintf(h->errstr, sizeof(h->errstr), "timed out after %d s", timeout_ms / 1000);
        else
            snprintf(h->errstr, sizeof(h->errstr), "timed out after %d ms", timeout_ms);
        rc = SL_ETIMEDOUT;
    } else if (a.too_large) {
        snprintf(h->errstr, sizeof(h->errstr), "reply larger than %u bytes",
                 SL_CLI_HTTP_REPLY_MAX);
        rc = SL_EBACKEND;
    } else if (a.connected || last == NULL) {
        snprintf(h->errstr, sizeof(h->errstr), "%s",
                 a.has_err ? request_error_name(a.err) : "connection failed");
        rc = SL_EBACKEND;
    } else {
        long long left = deadline_ms - now_ms();

        e = probe_connect(last, left < SL_CLI_HTTP_PROBE_MS ? (int)(left > 0 ? left : 0)
                                                             : SL_CLI_HTTP_PROBE_MS);
        snprintf(h->errstr, sizeof(h->errstr), "%s",
                 e != 0 ? strerror(e) : "connection closed before a whole reply");
        rc = SL_EBACKEND;
    }
    if (rc != SL_OK)
        sl__cli_reply_deinit(out);
    sl_free(uri);
    freeaddrinfo(res);
    return rc;
}
