/* sns_http.c - one HTTP or HTTPS delivery of a topic message (sns_deliver.h):
 * POST the body to the subscription's URL with SNS's headers.
 *
 * Connections are kept alive and reused: a delivery takes an idle connection to
 * the same scheme, host and port from the client's pool, or opens one, and gives
 * it back once the answer is in (a few per endpoint, dropped after IDLE_MS). A
 * connection that closed, failed or timed out is freed instead, never reused: a
 * TLS session cannot be restarted on the bufferevent evhttp would reconnect.
 *
 * https runs over libevent's OpenSSL bufferevents, so the handshake never blocks
 * the loop. The one SSL_CTX of the client (made once per broker) verifies the
 * server's chain against the system trust store plus an optional extra CA file,
 * and each connection checks the URL's host name (or IP address) against the
 * certificate and sends it as SNI. A certificate that does not verify fails the
 * delivery like an unreachable endpoint (retried, then dead-lettered), with the
 * verifier's reason in the log line and the DLQ's ErrorMessage.
 * Names resolve through evdns, never a blocking getaddrinfo on the loop. */
#include "sns_deliver.h"

#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_S 15
#define IDLE_MS 30000           /* an idle connection older than this is closed, not reused */
#define IDLE_PER_KEY 4
#define IDLE_MAX 64
#define KEY_MAX 320

typedef struct pconn pconn_t;

struct sl_sns_http_client {
    struct event_base *base;
    SSL_CTX *tls;               /* NULL until the first https delivery or set_ca_file */
    char *ca_file;              /* extra trust anchors, or NULL */
    pconn_t *idle;              /* pooled connections, newest first */
    size_t nidle;
};

/* One client connection: pooled while idle, owned by a delivery while in use. */
struct pconn {
    sl_sns_http_client_t *c;
    pconn_t *next;
    char key[KEY_MAX];          /* "scheme://host:port" */
    char host[256];             /* the URL's host: certificate name check, logs */
    int port;
    struct evhttp_connection *conn;
    bool tls;
    bool dead;                  /* closed (evhttp would reconnect): never reuse */
    int verify_err;             /* X509_V_OK, or why the peer's certificate failed */
    int verify_depth;
    int64_t idle_since_ms;
};

struct sl_sns_http {
    sl_sns_http_client_t *c;
    struct evdns_base *dns;
    const sl_sns_delivery_t *dv;    /* borrowed until cb runs or the post is cancelled */
    char key[KEY_MAX];
    char host[256];             /* without an IPv6 literal's brackets */
    int port;
    bool tls;
    char target[2048];          /* path and query */
    char hosthdr[300];
    pconn_t *pc;                /* the connection in use, or NULL */
    bool reused;                /* pc came from the pool */
    bool resend;                /* pc went stale: send once more on a new connection */
    struct event *defer;        /* the outcome, reported from the loop */
    sl_sns_http_cb cb;
    void *arg;
    const char *code;
    char why[256];
    bool permanent;
    bool errored;
    bool answered;              /* a response came: the connection may be pooled */
};

static int64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- TLS ---- */

static int ex_pconn = -1;       /* SSL ex_data index of the pconn (set with the context) */

/* Remembers the first reason the chain or the name failed; OpenSSL then fails the
 * handshake itself (SSL_VERIFY_PEER), this only keeps the why for the log. */
static int
on_verify(int ok, X509_STORE_CTX *x)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    pconn_t *pc = ssl ? SSL_get_ex_data(ssl, ex_pconn) : NULL;

    if (!ok && pc && pc->verify_err == X509_V_OK) {
        pc->verify_err = X509_STORE_CTX_get_error(x);
        pc->verify_depth = X509_STORE_CTX_get_error_depth(x);
    }
    return ok;
}

static const char *
tls_error_text(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();

    if (e == 0)
        return "no details";
    ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

/* The one context: TLS 1.2 or later, the peer verified against the system bundle
 * (the file OpenSSL is built to use, /etc/ssl/certs/ca-certificates.crt on Debian,
 * or SSL_CERT_FILE) and c->ca_file. Loaded into memory once: no certificate
 * directory is read during handshakes. */
static int
tls_init(sl_sns_http_client_t *c, char *err, size_t errlen)
{
    const char *env = getenv(X509_get_default_cert_file_env());
    const char *bundle = env && *env ? env : X509_get_default_cert_file();
    char ebuf[200];
    SSL_CTX *ctx;

    if (c->tls)
        return SL_OK;
    if (ex_pconn < 0)
        ex_pconn = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot make a TLS context: %s", tls_error_text(ebuf,
                                                                           sizeof(ebuf)));
        return SL_ENOMEM;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, on_verify);
    /* No session tickets: sessions are never resumed (connections are kept alive
     * instead), and a TLS 1.3 ticket arriving after the first answer is a read on an
     * idle connection, which evhttp takes for the peer closing it. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (SSL_CTX_load_verify_locations(ctx, bundle, NULL) != 1) {
        sl_log(SL_LOG_WARN, "system CA bundle not loaded file=%s error=\"%s\"", bundle,
               tls_error_text(ebuf, sizeof(ebuf)));
    }
    if (c->ca_file && access(c->ca_file, R_OK) != 0) {
        snprintf(err, errlen, "cannot read the CA file %s: %s", c->ca_file, strerror(errno));
        SSL_CTX_free(ctx);
        return SL_EINVAL;
    }
    if (c->ca_file && SSL_CTX_load_verify_locations(ctx, c->ca_file, NULL) != 1) {
        snprintf(err, errlen, "cannot load the CA file %s (no PEM certificate?): %s", c->ca_file,
                 tls_error_text(ebuf, sizeof(ebuf)));
        SSL_CTX_free(ctx);
        return SL_EINVAL;
    }
    ERR_clear_error();
    c->tls = ctx;
    return SL_OK;
}

static bool
is_ip_literal(const char *host)
{
    unsigned char buf[16];

    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* A bufferevent that speaks TLS to host: SNI (names only, never an address) and
 * the certificate checked for host. NULL on failure, with err. */
static struct bufferevent *
tls_bufferevent(pconn_t *pc, char *err, size_t errlen)
{
    X509_VERIFY_PARAM *vp;
    struct bufferevent *bev;
    char ebuf[200];
    SSL *ssl;
    int ok;

    if (tls_init(pc->c, err, errlen) != SL_OK)
        return NULL;
    if ((ssl = SSL_new(pc->c->tls)) == NULL) {
        snprintf(err, errlen, "cannot start TLS: %s", tls_error_text(ebuf, sizeof(ebuf)));
        return NULL;
    }
    SSL_set_ex_data(ssl, ex_pconn, pc);
    vp = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (is_ip_literal(pc->host)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(vp, pc->host) == 1;
    } else {
        ok = X509_VERIFY_PARAM_set1_host(vp, pc->host, 0) == 1 &&
             SSL_set_tlsext_host_name(ssl, pc->host) == 1;
    }
    if (!ok) {
        snprintf(err, errlen, "cannot set the TLS host name %.200s", pc->host);
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    /* BEV_OPT_CLOSE_ON_FREE: freeing the bufferevent frees ssl and closes the socket. */
    bev = bufferevent_openssl_socket_new(pc->c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                         BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (bev == NULL) {
        SSL_free(ssl);
        snprintf(err, errlen, "cannot make a TLS bufferevent");
        return NULL;
    }
    /* Many servers close without a TLS close_notify once the answer is out. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* ---- The pool ---- */

static void
pconn_free(pconn_t *pc)
{
    if (pc == NULL)
        return;
    if (pc->conn)
        evhttp_connection_free(pc->conn);   /* frees the bufferevent, SSL and socket */
    sl_free(pc);
}

/* evhttp closed the connection (the peer hung up, a failure, Connection: close). */
static void
on_conn_closed(struct evhttp_connection *conn, void *arg)
{
    pconn_t *pc = arg;

    (void)conn;
    pc->dead = true;
}

/* An idle connection for key, or NULL. Drops the stale and the closed on the way. */
static pconn_t *
pool_take(sl_sns_http_client_t *c, const char *key)
{
    int64_t now = mono_ms();
    pconn_t **pp = &c->idle, *found = NULL;

    while (*pp) {
        pconn_t *pc = *pp;

        if (pc->dead || now - pc->idle_since_ms >= IDLE_MS) {
            *pp = pc->next;
            c->nidle--;
            pconn_free(pc);
            continue;
        }
        if (found == NULL && strcmp(pc->key, key) == 0) {
            *pp = pc->next;
            c->nidle--;
            found = pc;
            continue;
        }
        pp = &pc->next;
    }
    if (found)
        found->next = NULL;
    return found;
}

static void
pool_give(sl_sns_http_client_t *c, pconn_t *pc)
{
    size_t same = 0;

    for (pconn_t *p = c->idle; p; p = p->next)
        same += strcmp(p->key, pc->key) == 0;
    if (pc->dead || same >= IDLE_PER_KEY || c->nidle >= IDLE_MAX) {
        sl_log(SL_LOG_DEBUG, "delivery connection closed key=%s dead=%d idle=%zu", pc->key,
               pc->dead, c->nidle);
        pconn_free(pc);
        return;
    }
    pc->idle_since_ms = mono_ms();
    pc->next = c->idle;
    c->idle = pc;
    c->nidle++;
}

/* A new connection for the URL's scheme, host and port; NULL with err. */
static pconn_t *
pconn_open(sl_sns_http_client_t *c, struct evdns_base *dns, const char *key, bool tls,
           const char *host, int port, char *err, size_t errlen)
{
    pconn_t *pc = sl_calloc(1, sizeof(*pc));
    const char *addr = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    struct bufferevent *bev = NULL;

    pc->c = c;
    pc->tls = tls;
    pc->port = port;
    pc->verify_err = X509_V_OK;
    snprintf(pc->key, sizeof(pc->key), "%s", key);
    snprintf(pc->host, sizeof(pc->host), "%s", host);
    if (tls && (bev = tls_bufferevent(pc, err, errlen)) == NULL) {
        sl_free(pc);
        return NULL;
    }
    pc->conn = evhttp_connection_base_bufferevent_new(c->base, dns, bev, addr,
                                                      (unsigned short)port);
    if (pc->conn == NULL) {
        if (bev)
            bufferevent_free(bev);
        snprintf(err, errlen, "cannot make a connection to %.200s:%d", host, port);
        sl_free(pc);
        return NULL;
    }
    evhttp_connection_set_timeout(pc->conn, TIMEOUT_S);
    evhttp_connection_set_retries(pc->conn, 0);
    evhttp_connection_set_closecb(pc->conn, on_conn_closed, pc);
    return pc;
}

sl_sns_http_client_t *
sl__sns_http_client_create(struct event_base *base)
{
    sl_sns_http_client_t *c = sl_calloc(1, sizeof(*c));

    c->base = base;
    return c;
}

int
sl__sns_http_client_set_ca_file(sl_sns_http_client_t *c, const char *path, char *err,
                                size_t errlen)
{
    if (c->tls) {
        SSL_CTX_free(c->tls);
        c->tls = NULL;
    }
    sl_free(c->ca_file);
    c->ca_file = path && *path ? sl_strdup(path) : NULL;
    return c->ca_file ? tls_init(c, err, errlen) : SL_OK;
}

void
sl__sns_http_client_destroy(sl_sns_http_client_t *c)
{
    if (c == NULL)
        return;
    while (c->idle) {
        pconn_t *pc = c->idle;

        c->idle = pc->next;
        pconn_free(pc);
    }
    SSL_CTX_free(c->tls);
    sl_free(c->ca_file);
    sl_free(c);
}

/* ---- One delivery ---- */

static void
finish(sl_sns_http_t *h)
{
    sl_sns_http_cb cb = h->cb;
    void *arg = h->arg;
    const char *code = h->code;
    char why[sizeof(h->why)];
    bool permanent = h->permanent;

    snprintf(why, sizeof(why), "%s", h->why);
    if (h->pc && h->answered && !h->errored) {
        pool_give(h->c, h->pc);         /* kept alive for the next delivery there */
        h->pc = NULL;
    }
    sl__sns_http_cancel(h);
    cb(arg, code, code ? why : NULL, permanent);
}

static void send_on(sl_sns_http_t *h, bool may_reuse);

static void
on_deferred(evutil_socket_t fd, short what, void *arg)
{
    sl_sns_http_t *h = arg;

    (void)fd;
    (void)what;
    if (h->resend) {
        sl_log(SL_LOG_DEBUG, "kept-alive connection went stale; sending again host=%s port=%d",
               h->host, h->port);
        pconn_free(h->pc);
        h->pc = NULL;
        h->resend = h->errored = h->answered = false;
        h->code = NULL;
        send_on(h, false);
        return;
    }
    finish(h);
}

static void
on_error(enum evhttp_request_error e, void *arg)
{
    sl_sns_http_t *h = arg;

    (void)e;
    h->errored = true;
}

/* Why a request got no answer: a certificate that failed verification, another
 * TLS failure, or the connection. */
static void
no_answer(sl_sns_http_t *h)
{
    pconn_t *pc = h->pc;
    unsigned long e;
    char ebuf[200];

    if (pc && pc->tls && pc->verify_err != X509_V_OK) {
        h->code = "TLSError";
        snprintf(h->why, sizeof(h->why), "the endpoint's certificate did not verify: %s "
                 "(depth %d)", X509_verify_cert_error_string(pc->verify_err), pc->verify_depth);
        sl_log(SL_LOG_WARN, "https certificate rejected host=%s port=%d error=\"%s\" depth=%d",
               pc->host, pc->port, X509_verify_cert_error_string(pc->verify_err),
               pc->verify_depth);
    } else if (pc && pc->tls && pc->conn &&
               (e = bufferevent_get_openssl_error(evhttp_connection_get_bufferevent(
                    pc->conn))) != 0) {
        ERR_error_string_n(e, ebuf, sizeof(ebuf));
        h->code = "TLSError";
        snprintf(h->why, sizeof(h->why), "TLS with the endpoint failed: %s", ebuf);
        sl_log(SL_LOG_WARN, "https handshake failed host=%s port=%d error=\"%s\"", pc->host,
               pc->port, h->why);
    } else {
        h->code = "ConnectionError";
        snprintf(h->why, sizeof(h->why), "no response from the endpoint");
    }
}

static void
on_response(struct evhttp_request *req, void *arg)
{
    sl_sns_http_t *h = arg;
    int st = req ? evhttp_request_get_response_code(req) : 0;

    if (req == NULL || st == 0 || h->errored) {
        h->errored = true;
        no_answer(h);
        /* A server may close an idle kept-alive connection just as a request goes
         * out on it (over TLS often without close_notify, an "unexpected eof"):
         * try once more, on a connection of its own. */
        h->resend = h->reused && h->pc->verify_err == X509_V_OK;
    } else if (st >= 500 || st == 429 || st < 200) {
        h->answered = true;
        h->code = "HttpError";
        snprintf(h->why, sizeof(h->why), "the endpoint answered %d", st);
    } else {
        h->answered = true;
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
    h->errored = true;
    snprintf(h->why, sizeof(h->why), "%s", why);
    event_active(h->defer, EV_TIMEOUT, 0);
}

/* Sends the request on a pooled connection (may_reuse) or a new one. */
static void
send_on(sl_sns_http_t *h, bool may_reuse)
{
    const sl_sns_delivery_t *dv = h->dv;
    struct evhttp_request *req;
    struct evkeyvalq *oh;
    char err[256];

    h->reused = may_reuse && (h->pc = pool_take(h->c, h->key)) != NULL;
    if (h->pc == NULL && (h->pc = pconn_open(h->c, h->dns, h->key, h->tls, h->host, h->port,
                                             err, sizeof(err))) == NULL) {
        sl_log(SL_LOG_WARN, "delivery connection not made host=%s port=%d error=\"%s\"",
               h->host, h->port, err);
        fail_later(h, h->tls ? "TLSError" : "ConnectionError", err, false);
        return;
    }
    req = evhttp_request_new(on_response, h);
    evhttp_request_set_error_cb(req, on_error);
    oh = evhttp_request_get_output_headers(req);
    evhttp_add_header(oh, "Host", h->hosthdr);
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
    /* On failure evhttp has freed req and will not call back. */
    if (evhttp_make_request(h->pc->conn, req, EVHTTP_REQ_POST, h->target) != 0)
        fail_later(h, "ConnectionError", "the request could not be sent", false);
}

sl_sns_http_t *
sl__sns_http_post(sl_sns_http_client_t *c, struct evdns_base *dns, const sl_sub_spec_t *s,
                  const sl_sns_delivery_t *dv, sl_sns_http_cb cb, void *arg)
{
    sl_sns_http_t *h = sl_calloc(1, sizeof(*h));
    struct evhttp_uri *uri = evhttp_uri_parse(s->endpoint);
    const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
    const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    int port = uri ? evhttp_uri_get_port(uri) : -1;

    h->c = c;
    h->dns = dns;
    h->dv = dv;
    h->cb = cb;
    h->arg = arg;
    h->defer = event_new(c->base, -1, 0, on_deferred, h);
    if (scheme == NULL || host == NULL || *host == '\0' || strlen(host) >= 256) {
        fail_later(h, "InvalidParameter", "the endpoint is not a URL", true);
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        fail_later(h, "InvalidParameter", "the endpoint is neither http nor https", true);
        goto out;
    }
    h->tls = strcmp(scheme, "https") == 0;
    if (host[0] == '[' && host[strlen(host) - 1] == ']')   /* an IPv6 literal */
        snprintf(h->host, sizeof(h->host), "%.*s", (int)strlen(host) - 2, host + 1);
    else
        snprintf(h->host, sizeof(h->host), "%s", host);
    h->port = port >= 0 ? port : h->tls ? 443 : 80;
    snprintf(h->key, sizeof(h->key), "%s://%s:%d", scheme, h->host, h->port);
    snprintf(h->target, sizeof(h->target), "%s%s%s", path && *path ? path : "/",
             query ? "?" : "", query ? query : "");
    if (port < 0)
        snprintf(h->hosthdr, sizeof(h->hosthdr), "%s", host);
    else
        snprintf(h->hosthdr, sizeof(h->hosthdr), "%s:%d", host, port);
    send_on(h, true);
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
    pconn_free(h->pc);              /* also frees a request in flight, unanswered */
    event_free(h->defer);
    sl_free(h);
}
