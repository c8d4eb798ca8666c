/* redis_conn.c - hiredis async connections with states, deadlines and reconnects.
 *
 * Debian's hiredis 0.14 gives an async context and nothing around it: no
 * command timeouts, no reconnects, a context that frees itself when the
 * connection drops. This module adds those, the way h2o's redis client does:
 *
 *   - Each link (commands, subscriber) is CLOSED, CONNECTING or READY, changed
 *     in one function that logs transitions. A dropped link is reconnected
 *     after a backoff of 100 ms doubling to 2 s, reset once it is READY again.
 *   - A new command link first sends AUTH, SELECT, INFO (Redis 7 or later is
 *     required) and a SCRIPT LOAD of every script; commands submitted
 *     meanwhile wait in a list (so nothing can run on the wrong database) and
 *     go out when the last of those answers. Commands
 *     submitted while CLOSED fail with SL_EBACKEND on the next loop turn: when
 *     Redis is down, callers learn it at once.
 *   - Redis answers a connection's commands in order, so the oldest command
 *     always has the earliest deadline: one timer per link, armed for the head
 *     of the sent list, is enough. A command that passes its deadline fails with
 *     SL_ETIMEDOUT; since the link is then presumed stuck it is dropped and
 *     reconnected, and the late reply is never delivered (hiredis hands us a
 *     NULL reply for it when the context goes, which we only use to free).
 *   - Commands are kept in RESP form until answered, so an EVALSHA that meets
 *     NOSCRIPT (SCRIPT FLUSH, a failover) is re-sent once as EVAL of the text.
 *
 * Lifetimes. hiredis calls every pending callback exactly once (with NULL
 * when the context is freed), so a command's memory is freed only in that
 * callback; a command that already completed (timed out, cancelled) is just
 * marked done. Contexts we free ourselves get ac->data = NULL first, so the
 * callbacks hiredis runs while freeing them know to do nothing. Destroying the
 * manager inside one of its callbacks only marks it closing; it is freed when
 * the outermost callback unwinds (hiredis's own REDIS_IN_CALLBACK idea). */
#include "redis_conn.h"

#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct rlink rlink_t;

enum { WHERE_NONE, WHERE_SENT, WHERE_WAITING, WHERE_FAILING };

typedef struct rcmd {
    struct rcmd *prev, *next;   /* on one list, see where */
    sl_rconn_t *c;              /* NULL once cancelled (hiredis may still hold it) */
    rlink_t *link;              /* link it was sent on */
    sl_resp_t r;                /* the command, kept for a NOSCRIPT retry */
    int64_t deadline;           /* monotonic ms */
    sl_rconn_reply_fn fn;       /* NULL once it ran */
    void *arg;
    unsigned gen;               /* handshake commands: the link generation they belong to */
    uint8_t where;
    bool in_hiredis;            /* hiredis will call on_reply once more */
    bool retried;               /* NOSCRIPT: re-sent as EVAL */
    bool raw;                   /* handshake: error replies are handed over */
    const char *what;           /* handshake: for logs */
} rcmd_t;

typedef struct rlist {
    rcmd_t *head, *tail;
} rlist_t;

struct rlink {
    sl_rconn_t *c;
    const char *name;           /* "cmd" or "sub" */
    bool is_sub;
    sl_rlink_state_t state;
    redisAsyncContext *ac;
    unsigned gen;               /* bumped at every drop: stale handshake replies lose */
    struct event *timer;        /* CLOSED: reconnect; otherwise: deadlines */
    int64_t timer_at;           /* armed for (monotonic ms); 0 = not armed */
    int64_t hs_deadline;        /* CONNECTING: the handshake must be done by then */
    unsigned hs_pending;        /* handshake replies still to come */
    int64_t backoff_ms;
    uint32_t failures;          /* connect attempts failed in a row */
    uint32_t hs_failures;       /* handshakes refused in a row (password, version) */
    bool ever_ready;
    struct evdns_getaddrinfo_request *dns_req;
    rlist_t sent;               /* in send order = deadline order */
};

struct sl_rconn {
    struct event_base *base;
    sl_rconn_cfg_t cfg;
    char *channel;
    sl_rconn_hooks_t hooks;
    rlink_t cmd, sub;
    rlist_t waiting;            /* submitted while the command link was connecting */
    rlist_t failing;            /* to fail with SL_EBACKEND on the next loop turn */
    struct event *defer_ev;
    struct evdns_base *dns;     /* only when the host is a name */
    int64_t err_log_at;         /* last "command failed" line (monotonic ms) */
    uint32_t err_suppressed;    /* failures not logged since */
    int depth;                  /* our callbacks on the stack */
    bool closing;
};

static void link_connect(rlink_t *l);
static void link_drop(rlink_t *l, const char *why);

/* ---- Small things ---- */

static int64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
sl__rlink_state_name(sl_rlink_state_t s)
{
    switch (s) {
    case SL_RLINK_CLOSED:
        return "CLOSED";
    case SL_RLINK_CONNECTING:
        return "CONNECTING";
    case SL_RLINK_READY:
        return "READY";
    }
    return "?";
}

static void
list_append(rlist_t *l, rcmd_t *o, uint8_t where)
{
    o->next = NULL;
    o->prev = l->tail;
    if (l->tail)
        l->tail->next = o;
    else
        l->head = o;
    l->tail = o;
    o->where = where;
}

static void
list_remove(rlist_t *l, rcmd_t *o)
{
    if (o->prev)
        o->prev->next = o->next;
    else
        l->head = o->next;
    if (o->next)
        o->next->prev = o->prev;
    else
        l->tail = o->prev;
    o->prev = o->next = NULL;
    o->where = WHERE_NONE;
}

static void
rcmd_free(rcmd_t *o)
{
    sl__resp_deinit(&o->r);
    sl_free(o);
}

static void really_free(sl_rconn_t *c);

static void
enter(sl_rconn_t *c)
{
    c->depth++;
}

static void
leave(sl_rconn_t *c)
{
    if (--c->depth == 0 && c->closing)
        really_free(c);
}

/* ---- RESP ----
 * Commands carry a dozen numbers per message (lengths, sizes, receipts), so they are
 * written by sl__dec_u64 rather than snprintf, which cost a fifth of sluiced's
 * instructions on the Redis store. */

size_t
sl__dec_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static void
resp_header(sl_resp_t *r, char kind, size_t n)
{
    char tmp[24];
    size_t len = 1;

    tmp[0] = kind;
    len += sl__dec_u64(tmp + 1, n);
    tmp[len++] = '\r';
    tmp[len++] = '\n';
    sl_buf_append(&r->b, tmp, len);
}

void
sl__resp_init(sl_resp_t *r, size_t argc)
{
    sl_buf_init(&r->b);
    r->argc = argc;
    r->added = 0;
    r->script = -1;
    r->sha_end = 0;
    resp_header(r, '*', argc);
    r->hdr_end = r->b.len;
}

void
sl__resp_arg(sl_resp_t *r, const void *p, size_t n)
{
    sl_assert(r->added < r->argc);
    resp_header(r, '$', n);
    sl_buf_reserve(&r->b, n + 2);
    if (n)
        memcpy(r->b.p + r->b.len, p, n);
    memcpy(r->b.p + r->b.len + n, "\r\n", 2);
    r->b.len += n + 2;
    r->added++;
}

void
sl__resp_str(sl_resp_t *r, const char *s)
{
    sl__resp_arg(r, s, strlen(s));
}

void
sl__resp_i64(sl_resp_t *r, int64_t v)
{
    char tmp[24];
    size_t n = 0;

    if (v < 0)
        tmp[n++] = '-';
    n += sl__dec_u64(tmp + n, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    sl__resp_arg(r, tmp, n);
}

void
sl__resp_args_of(sl_resp_t *r, const sl_resp_t *p)
{
    sl_assert(p->added == p->argc && r->added + p->argc <= r->argc);
    sl_buf_append(&r->b, p->b.p + p->hdr_end, p->b.len - p->hdr_end);
    r->added += p->argc;
}

void
sl__resp_script(sl_resp_t *r, sl_rscript_t s, size_t nargs)
{
    sl__resp_init(r, 3 + nargs);
    r->script = (int)s;
    sl__resp_str(r, "EVALSHA");
    sl__resp_arg(r, sl__rscript_sha(s), 40);
    r->sha_end = r->b.len;
    sl__resp_str(r, "0");
}

void
sl__resp_deinit(sl_resp_t *r)
{
    sl_buf_deinit(&r->b);
}

/* Rewrites an EVALSHA command as EVAL of the script's text (NOSCRIPT). */
static void
resp_to_eval(sl_resp_t *r)
{
    sl_resp_t e;
    size_t tlen;
    const char *text = sl__rscript_text((sl_rscript_t)r->script, &tlen);

    sl_buf_init(&e.b);
    sl_buf_reserve(&e.b, r->b.len + tlen + 32);
    sl_buf_append(&e.b, r->b.p, r->hdr_end);
    e.argc = r->argc;
    e.added = 0;
    sl__resp_str(&e, "EVAL");
    sl__resp_arg(&e, text, tlen);
    sl_buf_append(&e.b, r->b.p + r->sha_end, r->b.len - r->sha_end);
    sl_buf_deinit(&r->b);
    r->b = e.b;
    r->script = -1;             /* no second retry */
}

/* ---- URL ---- */

static int
hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* A percent-decoded copy of s[0..n), or NULL when an escape is bad. */
static char *
pct_decode(const char *s, size_t n)
{
    char *out = sl_malloc(n + 1), *o = out;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi, lo;

            if (i + 2 >= n || (hi = hexval((unsigned char)s[i + 1])) < 0 ||
                (lo = hexval((unsigned char)s[i + 2])) < 0) {
                sl_free(out);
                return NULL;
            }
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

static bool
parse_long(const char *s, size_t n, long lo, long hi, long *out)
{
    long v = 0;

    if (n == 0 || n > 9)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

void
sl__rconn_cfg_deinit(sl_rconn_cfg_t *cfg)
{
    sl_free(cfg->host);
    sl_free(cfg->user);
    sl_free(cfg->password);
    sl_free(cfg->prefix);
    memset(cfg, 0, sizeof(*cfg));
}

static int
url_fail(sl_rconn_cfg_t *cfg, char *errbuf, size_t errlen, const char *url, const char *why)
{
    snprintf(errbuf, errlen, "bad redis URL \"%s\": %s (expected "
             "redis://[:PASSWORD@]HOST:PORT[/DB][?prefix=P&timeout=MS])", url, why);
    sl__rconn_cfg_deinit(cfg);
    return SL_EINVAL;
}

static int
parse_query(sl_rconn_cfg_t *cfg, const char *q, char *errbuf, size_t errlen, const char *url)
{
    while (*q) {
        size_t n = strcspn(q, "&"), kn = strcspn(q, "=");
        const char *v = q + kn + 1;
        long ms;

        if (kn >= n)
            return url_fail(cfg, errbuf, errlen, url, "query parameter without a value");
        if (kn == 6 && strncmp(q, "prefix", 6) == 0) {
            sl_free(cfg->prefix);
            if ((cfg->prefix = pct_decode(v, n - kn - 1)) == NULL)
                return url_fail(cfg, errbuf, errlen, url, "bad %-escape in prefix");
        } else if (kn == 7 && strncmp(q, "timeout", 7) == 0) {
            if (!parse_long(v, n - kn - 1, 1, 600000, &ms))
                return url_fail(cfg, errbuf, errlen, url, "timeout must be 1..600000 ms");
            cfg->timeout_ms = ms;
        } else {
            return url_fail(cfg, errbuf, errlen, url, "unknown query parameter");
        }
        q += n;
        if (*q == '&')
            q++;
    }
    return SL_OK;
}

int
sl__rconn_parse_url(const char *url, sl_rconn_cfg_t *cfg, char *errbuf, size_t errlen)
{
    const char *p, *auth_end, *at, *host, *host_end, *path;
    size_t alen;
    long v;

    memset(cfg, 0, sizeof(*cfg));
    if (strncmp(url, "rediss://", 9) == 0) {
        snprintf(errbuf, errlen, "rediss:// (Redis over TLS) is not supported: this build's "
                 "hiredis 0.14 has no TLS; use redis:// on a trusted network or a TLS "
                 "tunnel such as stunnel");
        return SL_EINVAL;
    }
    if (strncmp(url, "redis://", 8) != 0)
        return url_fail(cfg, errbuf, errlen, url, "not a redis:// URL");
    cfg->port = 6379;
    cfg->timeout_ms = SL_RCONN_DEFAULT_TIMEOUT_MS;
    p = url + 8;
    alen = strcspn(p, "/?");
    auth_end = p + alen;
    /* userinfo: the last '@' before the path */
    at = NULL;
    for (const char *s = p; s < auth_end; s++)
        if (*s == '@')
            at = s;
    host = p;
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));

        if (colon == NULL)
            return url_fail(cfg, errbuf, errlen, url, "userinfo needs ':PASSWORD'");
        if (colon > p && (cfg->user = pct_decode(p, (size_t)(colon - p))) == NULL)
            return url_fail(cfg, errbuf, errlen, url, "bad %-escape in user");
        if ((cfg->password = pct_decode(colon + 1, (size_t)(at - colon - 1))) == NULL)
            return url_fail(cfg, errbuf, errlen, url, "bad %-escape in password");
        host = at + 1;
    }
    if (*host == '[') {
        const char *rb = memchr(host, ']', (size_t)(auth_end - host));

        if (rb == NULL || rb == host + 1)
            return url_fail(cfg, errbuf, errlen, url, "unterminated [IPv6] host");
        cfg->host = sl_strndup(host + 1, (size_t)(rb - host - 1));
        host_end = rb + 1;
        if (host_end < auth_end && *host_end != ':')
            return url_fail(cfg, errbuf, errlen, url, "junk after [IPv6] host");
    } else {
        const char *colon = memchr(host, ':', (size_t)(auth_end - host));

        host_end = colon ? colon : auth_end;
        if (host_end == host)
            return url_fail(cfg, errbuf, errlen, url, "no host");
        cfg->host = sl_strndup(host, (size_t)(host_end - host));
    }
    if (host_end < auth_end) {                  /* ":PORT" */
        if (!parse_long(host_end + 1, (size_t)(auth_end - host_end - 1), 1, 65535, &v))
            return url_fail(cfg, errbuf, errlen, url, "port must be 1..65535");
        cfg->port = (int)v;
    }
    path = auth_end;
    if (*path == '/') {
        size_t n = strcspn(path + 1, "?");

        if (n > 0) {
            if (!parse_long(path + 1, n, 0, 1000000, &v))
                return url_fail(cfg, errbuf, errlen, url, "database must be a number");
            cfg->db = (int)v;
        }
        path += 1 + n;
    }
    if (*path == '?' && parse_query(cfg, path + 1, errbuf, errlen, url) != SL_OK)
        return SL_EINVAL;
    if (cfg->prefix == NULL)
        cfg->prefix = sl_strdup(SL_RCONN_DEFAULT_PREFIX);
    return SL_OK;
}

/* ---- Link state ---- */

static void
set_state(rlink_t *l, sl_rlink_state_t s)
{
    if (l->state == s)
        return;
    sl_log(SL_LOG_DEBUG, "redis link state link=%s from=%s to=%s", l->name,
           sl__rlink_state_name(l->state), sl__rlink_state_name(s));
    l->state = s;
}

static void
arm_at(rlink_t *l, int64_t at)
{
    int64_t delta = at - mono_ms();
    struct timeval tv;

    if (delta < 0)
        delta = 0;
    tv.tv_sec = (time_t)(delta / 1000);
    tv.tv_usec = (suseconds_t)((delta % 1000) * 1000);
    event_add(l->timer, &tv);
    l->timer_at = at;
}

/* Arms the deadline timer for the earliest of the handshake deadline and the
 * oldest sent command, unless it is armed for something as early. */
static void
arm_deadline(rlink_t *l)
{
    int64_t at = 0;

    if (l->state == SL_RLINK_CONNECTING)
        at = l->hs_deadline;
    if (l->sent.head && (at == 0 || l->sent.head->deadline < at))
        at = l->sent.head->deadline;
    if (at == 0 || (l->timer_at != 0 && l->timer_at <= at))
        return;
    arm_at(l, at);
}

static void
schedule_reconnect(rlink_t *l)
{
    set_state(l, SL_RLINK_CLOSED);
    arm_at(l, mono_ms() + l->backoff_ms);
    l->backoff_ms *= 2;
    if (l->backoff_ms > SL_RCONN_BACKOFF_MAX_MS)
        l->backoff_ms = SL_RCONN_BACKOFF_MAX_MS;
}

static void
fail_later(sl_rconn_t *c, rcmd_t *o)
{
    list_append(&c->failing, o, WHERE_FAILING);
    event_active(c->defer_ev, EV_READ, 0);
}

/* The link is gone (or going): no READY until a reconnect. Waiting commands
 * fail with it. */
static void
link_lost(rlink_t *l)
{
    sl_rconn_t *c = l->c;

    l->gen++;
    l->ac = NULL;
    l->hs_pending = 0;
    if (l->dns_req) {
        struct evdns_getaddrinfo_request *req = l->dns_req;

        l->dns_req = NULL;
        evdns_getaddrinfo_cancel(req);
    }
    schedule_reconnect(l);
    if (!l->is_sub)
        while (c->waiting.head) {
            rcmd_t *o = c->waiting.head;

            list_remove(&c->waiting, o);
            fail_later(c, o);
        }
}

/* Drops the link now (a timeout, a failed handshake). Sent commands get their
 * NULL replies from hiredis, at once or when the current callback returns. */
static void
link_drop(rlink_t *l, const char *why)
{
    redisAsyncContext *ac = l->ac;

    if (l->state == SL_RLINK_READY)
        sl_log(SL_LOG_WARN, "redis connection dropped link=%s host=%s port=%d reason=%s",
               l->name, l->c->cfg.host, l->c->cfg.port, why);
    else
        sl_log(SL_LOG_DEBUG, "redis connect attempt dropped link=%s reason=%s", l->name, why);
    link_lost(l);
    if (ac != NULL) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
}

static void
link_ready(rlink_t *l)
{
    sl_rconn_t *c = l->c;
    bool first = !l->ever_ready;

    set_state(l, SL_RLINK_READY);
    l->backoff_ms = SL_RCONN_BACKOFF_MIN_MS;
    if (l->ever_ready)
        sl_log(SL_LOG_INFO, "redis reconnected link=%s host=%s port=%d failed_attempts=%" PRIu32,
               l->name, c->cfg.host, c->cfg.port, l->failures);
    else if (l->failures > 0)
        sl_log(SL_LOG_INFO, "redis connected link=%s host=%s port=%d failed_attempts=%" PRIu32,
               l->name, c->cfg.host, c->cfg.port, l->failures);
    else
        sl_log(SL_LOG_DEBUG, "redis connected link=%s host=%s port=%d", l->name, c->cfg.host,
               c->cfg.port);
    l->failures = 0;
    l->hs_failures = 0;
    l->ever_ready = true;
    if (l->is_sub) {
        if (c->hooks.sub_ready)
            c->hooks.sub_ready(c->hooks.arg, first);
        return;
    }
}

/* ---- Sending ---- */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);

static void
send_now(rlink_t *l, rcmd_t *o)
{
    o->link = l;
    if (l->ac == NULL ||
        redisAsyncFormattedCommand(l->ac, on_reply, o, o->r.b.p, o->r.b.len) != REDIS_OK) {
        fail_later(l->c, o);
        return;
    }
    o->in_hiredis = true;
    list_append(&l->sent, o, WHERE_SENT);
    arm_deadline(l);
}

static void
flush_waiting(sl_rconn_t *c)
{
    while (c->waiting.head && c->cmd.state == SL_RLINK_READY) {
        rcmd_t *o = c->waiting.head;

        list_remove(&c->waiting, o);
        o->deadline = mono_ms() + c->cfg.timeout_ms;
        send_now(&c->cmd, o);
    }
}

static rcmd_t *
rcmd_new(sl_rconn_t *c, sl_resp_t *r, sl_rconn_reply_fn fn, void *arg)
{
    rcmd_t *o = sl_calloc(1, sizeof(*o));

    sl_assert(r->added == r->argc);
    o->c = c;
    o->r = *r;
    sl_buf_init(&r->b);
    r->added = r->argc = 0;
    o->fn = fn;
    o->arg = arg;
    o->deadline = mono_ms() + c->cfg.timeout_ms;
    return o;
}

void
sl__rconn_submit(sl_rconn_t *c, sl_resp_t *r, sl_rconn_reply_fn fn, void *arg)
{
    rcmd_t *o = rcmd_new(c, r, fn, arg);

    switch (c->cmd.state) {
    case SL_RLINK_READY:
        send_now(&c->cmd, o);
        break;
    case SL_RLINK_CONNECTING:
        list_append(&c->waiting, o, WHERE_WAITING);
        break;
    case SL_RLINK_CLOSED:
        fail_later(c, o);
        break;
    }
}

/* Runs o's callback once. */
static void
finish(rcmd_t *o, int status, redisReply *r)
{
    sl_rconn_reply_fn fn = o->fn;

    o->fn = NULL;
    if (fn)
        fn(o->arg, status, r);
}

/* Redis refused a command (OOM, a script error): one line a second at most,
 * with the count of those not logged. */
static void
log_failure(sl_rconn_t *c, const rcmd_t *o, const redisReply *r)
{
    int64_t now = mono_ms();

    if (c->err_log_at != 0 && now - c->err_log_at < 1000) {
        c->err_suppressed++;
        return;
    }
    sl_log(SL_LOG_ERROR, "redis command failed script=%s err=%.*s not_logged=%" PRIu32,
           o->r.script >= 0 ? sl__rscript_name((sl_rscript_t)o->r.script) : "-",
           (int)(r->len > 300 ? 300 : r->len), r->str, c->err_suppressed);
    c->err_log_at = now;
    c->err_suppressed = 0;
}

static void
on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    rcmd_t *o = privdata;
    redisReply *r = reply;
    sl_rconn_t *c = o->c;
    rlink_t *l = o->link;

    (void)ac;
    o->in_hiredis = false;
    if (o->where == WHERE_SENT)
        list_remove(&l->sent, o);
    if (c == NULL || o->fn == NULL) {           /* cancelled, or timed out earlier */
        rcmd_free(o);
        return;
    }
    enter(c);
    if (r == NULL) {
        finish(o, SL_EBACKEND, NULL);
    } else if (r->type == REDIS_REPLY_ERROR && !o->raw) {
        if (o->r.script >= 0 && !o->retried && l->ac != NULL &&
            strncmp(r->str, "NOSCRIPT", 8) == 0) {
            sl_log(SL_LOG_DEBUG, "redis script not loaded, sending it script=%s",
                   sl__rscript_name((sl_rscript_t)o->r.script));
            resp_to_eval(&o->r);
            o->retried = true;
            o->deadline = mono_ms() + c->cfg.timeout_ms;
            send_now(l, o);
            leave(c);
            return;
        }
        log_failure(c, o, r);
        finish(o, SL_EBACKEND, NULL);
    } else {
        finish(o, SL_OK, r);
    }
    rcmd_free(o);
    leave(c);
}

/* ---- Handshake ---- */

/* The major version in an INFO server reply, or -1. */
static int
redis_major(const redisReply *r)
{
    const char *v;

    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)
        return -1;
    v = strstr(r->str, "redis_version:");
    return v ? atoi(v + 14) : -1;
}

static void
on_handshake(void *arg, int status, redisReply *r)
{
    rcmd_t *o = arg;
    rlink_t *l = o->link;

    if (status != SL_OK || o->c == NULL || o->gen != l->gen)
        return;                 /* the link is already gone */
    if (strcmp(o->what, "INFO") == 0 && r->type != REDIS_REPLY_ERROR &&
        redis_major(r) < SL_RCONN_MIN_REDIS) {
        /* The scripts use SET NX GET, LPOP count and ZMSCORE. */
        l->hs_failures++;
        sl_log(l->hs_failures == 1 ? SL_LOG_ERROR : SL_LOG_DEBUG,
               "redis server too old link=%s host=%s port=%d need=%d.0 found_major=%d "
               "attempts=%" PRIu32, l->name, l->c->cfg.host, l->c->cfg.port, SL_RCONN_MIN_REDIS,
               redis_major(r), l->hs_failures);
        link_drop(l, "redis too old");
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        /* A wrong password fails every attempt: say so once, then quietly retry. */
        l->hs_failures++;
        sl_log(l->hs_failures == 1 ? SL_LOG_ERROR : SL_LOG_DEBUG,
               "redis handshake failed link=%s step=%s err=%.*s attempts=%" PRIu32, l->name,
               o->what, (int)(r->len > 300 ? 300 : r->len), r->str, l->hs_failures);
        link_drop(l, "handshake failed");
        return;
    }
    if (--l->hs_pending == 0 && !l->is_sub) {
        link_ready(l);
        flush_waiting(l->c);
    }
}

static void
handshake_cmd(rlink_t *l, sl_resp_t *r, const char *what)
{
    rcmd_t *o = rcmd_new(l->c, r, on_handshake, NULL);

    o->arg = o;
    o->raw = true;
    o->gen = l->gen;
    o->what = what;
    l->hs_pending++;
    send_now(l, o);
}

static void
on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    rlink_t *l = ac->data;
    redisReply *r = reply;
    sl_rconn_t *c;

    (void)privdata;
    if (l == NULL || r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    c = l->c;
    enter(c);
    if (strcmp(r->element[0]->str, "message") == 0 &&
        r->element[2]->type == REDIS_REPLY_STRING) {
        if (c->hooks.message)
            c->hooks.message(c->hooks.arg, r->element[2]->str, r->element[2]->len);
    } else if (strcmp(r->element[0]->str, "subscribe") == 0 && l->state == SL_RLINK_CONNECTING) {
        link_ready(l);
    }
    leave(c);
}

static void
start_handshake(rlink_t *l)
{
    sl_rconn_t *c = l->c;
    sl_resp_t r;

    if (c->cfg.password) {
        sl__resp_init(&r, c->cfg.user ? 3 : 2);
        sl__resp_str(&r, "AUTH");
        if (c->cfg.user)
            sl__resp_str(&r, c->cfg.user);
        sl__resp_str(&r, c->cfg.password);
        handshake_cmd(l, &r, "AUTH");
    }
    if (l->is_sub) {
        const char *argv[2] = { "SUBSCRIBE", c->channel };
        size_t lens[2] = { 9, strlen(c->channel) };

        redisAsyncCommandArgv(l->ac, on_sub_reply, NULL, 2, argv, lens);
        return;
    }
    if (c->cfg.db != 0) {
        sl__resp_init(&r, 2);
        sl__resp_str(&r, "SELECT");
        sl__resp_i64(&r, c->cfg.db);
        handshake_cmd(l, &r, "SELECT");
    }
    sl__resp_init(&r, 2);
    sl__resp_str(&r, "INFO");
    sl__resp_str(&r, "server");
    handshake_cmd(l, &r, "INFO");
    for (int i = 0; i < SL_RS_COUNT; i++) {
        size_t len;
        const char *text = sl__rscript_text((sl_rscript_t)i, &len);

        sl__resp_init(&r, 3);
        sl__resp_str(&r, "SCRIPT");
        sl__resp_str(&r, "LOAD");
        sl__resp_arg(&r, text, len);
        handshake_cmd(l, &r, "SCRIPT LOAD");
    }
}

/* ---- Connecting ---- */

static void
on_connect(const redisAsyncContext *ac, int status)
{
    rlink_t *l = ac->data;

    if (l == NULL || status == REDIS_OK)
        return;                 /* connected: the handshake replies decide */
    /* hiredis frees ac after this returns and fails what was queued on it. */
    enter(l->c);
    l->failures++;
    sl_log(l->failures == 1 ? SL_LOG_WARN : SL_LOG_DEBUG,
           "redis connect failed link=%s host=%s port=%d err=%s attempts=%" PRIu32, l->name,
           l->c->cfg.host, l->c->cfg.port, ac->errstr, l->failures);
    ((redisAsyncContext *)ac)->data = NULL;
    link_lost(l);
    leave(l->c);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    rlink_t *l = ac->data;

    (void)status;
    if (l == NULL)
        return;                 /* we freed it ourselves */
    enter(l->c);
    if (l->state == SL_RLINK_READY)
        sl_log(SL_LOG_WARN, "redis connection lost link=%s host=%s port=%d err=%s", l->name,
               l->c->cfg.host, l->c->cfg.port, ac->errstr[0] ? ac->errstr : "closed");
    else
        l->failures++;
    ((redisAsyncContext *)ac)->data = NULL;
    link_lost(l);
    leave(l->c);
}

static void
connect_addr(rlink_t *l, const char *ip)
{
    sl_rconn_t *c = l->c;
    redisAsyncContext *ac = redisAsyncConnect(ip, c->cfg.port);

    if (ac == NULL || ac->err) {
        l->failures++;
        sl_log(l->failures == 1 ? SL_LOG_WARN : SL_LOG_DEBUG,
               "redis connect failed link=%s host=%s port=%d err=%s attempts=%" PRIu32, l->name,
               c->cfg.host, c->cfg.port, ac ? ac->errstr : "out of memory", l->failures);
        if (ac)
            redisAsyncFree(ac);
        l->gen++;
        schedule_reconnect(l);
        return;
    }
    ac->data = l;
    l->ac = ac;
    redisLibeventAttach(ac, c->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    start_handshake(l);
}

/* The numeric form of an address getaddrinfo gave, or false. */
static bool
addr_text(const struct evutil_addrinfo *ai, char *out, size_t len)
{
    const void *a;

    if (ai->ai_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
    else if (ai->ai_family == AF_INET)
        a = &((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr;
    else
        return false;
    return evutil_inet_ntop(ai->ai_family, a, out, len) != NULL;
}

static void
on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
    rlink_t *l = arg;
    char ip[INET6_ADDRSTRLEN];

    if (result == EVUTIL_EAI_CANCEL)
        return;                 /* the link dropped or is being freed: l may be gone */
    l->dns_req = NULL;
    enter(l->c);
    if (result != 0 || res == NULL || !addr_text(res, ip, sizeof(ip))) {
        l->failures++;
        sl_log(l->failures == 1 ? SL_LOG_WARN : SL_LOG_DEBUG,
               "redis host not resolved link=%s host=%s err=%s", l->name, l->c->cfg.host,
               result ? evutil_gai_strerror(result) : "no address");
        l->gen++;
        schedule_reconnect(l);
    } else {
        connect_addr(l, ip);
    }
    if (res)
        evutil_freeaddrinfo(res);
    leave(l->c);
}

static bool
is_numeric_host(const char *h)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

static void
link_connect(rlink_t *l)
{
    sl_rconn_t *c = l->c;

    set_state(l, SL_RLINK_CONNECTING);
    l->hs_deadline = mono_ms() + c->cfg.timeout_ms;
    l->timer_at = 0;
    arm_deadline(l);
    if (strcmp(c->cfg.host, "localhost") == 0 || is_numeric_host(c->cfg.host)) {
        connect_addr(l, strcmp(c->cfg.host, "localhost") == 0 ? "127.0.0.1" : c->cfg.host);
        return;
    }
    {
        struct evutil_addrinfo hints;

        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_protocol = IPPROTO_TCP;
        if (c->dns == NULL)
            c->dns = evdns_base_new(c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        if (c->dns == NULL) {
            sl_log(SL_LOG_ERROR, "redis cannot resolve host=%s err=no resolver", c->cfg.host);
            schedule_reconnect(l);
            return;
        }
        l->dns_req = evdns_getaddrinfo(c->dns, c->cfg.host, NULL, &hints, on_resolved, l);
    }
}

/* ---- Timers ---- */

static void
on_link_timer(evutil_socket_t fd, short what, void *arg)
{
    rlink_t *l = arg;
    sl_rconn_t *c = l->c;
    int64_t now = mono_ms();
    int timed_out = 0;

    (void)fd;
    (void)what;
    l->timer_at = 0;
    enter(c);
    if (l->state == SL_RLINK_CLOSED) {
        link_connect(l);
        leave(c);
        return;
    }
    while (!c->closing && l->sent.head && l->sent.head->deadline <= now) {
        rcmd_t *o = l->sent.head;

        list_remove(&l->sent, o);
        if (timed_out++ == 0)
            sl_log(SL_LOG_WARN, "redis command timed out link=%s script=%s timeout_ms=%" PRId64,
                   l->name, o->r.script >= 0 ? sl__rscript_name((sl_rscript_t)o->r.script)
                                              : (o->what ? o->what : "-"),
                   c->cfg.timeout_ms);
        finish(o, SL_ETIMEDOUT, NULL);  /* hiredis still holds o: freed in on_reply */
    }
    if (c->closing) {
        leave(c);
        return;
    }
    if (timed_out > 0)
        link_drop(l, "command timed out");
    else if (l->state == SL_RLINK_CONNECTING && now >= l->hs_deadline)
        link_drop(l, "connect timed out");
    else
        arm_deadline(l);
    leave(c);
}

static void
on_defer(evutil_socket_t fd, short what, void *arg)
{
    sl_rconn_t *c = arg;

    (void)fd;
    (void)what;
    enter(c);
    while (!c->closing && c->failing.head) {
        rcmd_t *o = c->failing.head;

        list_remove(&c->failing, o);
        finish(o, SL_EBACKEND, NULL);
        rcmd_free(o);
    }
    leave(c);
}

/* ---- Lifetime ---- */

static void
link_init(sl_rconn_t *c, rlink_t *l, const char *name, bool is_sub)
{
    l->c = c;
    l->name = name;
    l->is_sub = is_sub;
    l->state = SL_RLINK_CLOSED;
    l->backoff_ms = SL_RCONN_BACKOFF_MIN_MS;
    l->timer = evtimer_new(c->base, on_link_timer, l);
}

sl_rconn_t *
sl__rconn_create(struct event_base *base, const sl_rconn_cfg_t *cfg, const char *channel,
                 const sl_rconn_hooks_t *hooks)
{
    sl_rconn_t *c = sl_calloc(1, sizeof(*c));

    c->base = base;
    c->cfg = *cfg;
    c->cfg.host = sl_strdup(cfg->host);
    c->cfg.user = cfg->user ? sl_strdup(cfg->user) : NULL;
    c->cfg.password = cfg->password ? sl_strdup(cfg->password) : NULL;
    c->cfg.prefix = sl_strdup(cfg->prefix);
    c->channel = sl_strdup(channel);
    if (hooks)
        c->hooks = *hooks;
    c->defer_ev = event_new(base, -1, 0, on_defer, c);
    link_init(c, &c->cmd, "cmd", false);
    link_init(c, &c->sub, "sub", true);
    link_connect(&c->cmd);
    link_connect(&c->sub);
    return c;
}

/* Every pending callback gets SL_RCONN_CANCELLED; commands hiredis holds stay
 * allocated (detached) until it hands them back. */
static void
cancel_all(sl_rconn_t *c)
{
    rlist_t *lists[] = { &c->waiting, &c->failing, &c->cmd.sent, &c->sub.sent };

    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        while (lists[i]->head) {
            rcmd_t *o = lists[i]->head;

            list_remove(lists[i], o);
            finish(o, SL_RCONN_CANCELLED, NULL);
            o->c = NULL;
            if (!o->in_hiredis)
                rcmd_free(o);
        }
    }
}

static void
link_free(rlink_t *l)
{
    redisAsyncContext *ac = l->ac;

    if (l->dns_req) {
        struct evdns_getaddrinfo_request *req = l->dns_req;

        l->dns_req = NULL;
        evdns_getaddrinfo_cancel(req);
    }
    l->ac = NULL;
    if (ac) {
        ac->data = NULL;
        redisAsyncFree(ac);     /* deferred by hiredis when inside one of its callbacks */
    }
    event_free(l->timer);
}

static void
really_free(sl_rconn_t *c)
{
    cancel_all(c);
    link_free(&c->cmd);
    link_free(&c->sub);
    /* Commands that hiredis handed back while freeing are freed; any still held
     * (a context freed later by hiredis) are detached and free themselves. */
    if (c->dns)
        evdns_base_free(c->dns, 0);
    event_free(c->defer_ev);
    sl__rconn_cfg_deinit(&c->cfg);
    sl_free(c->channel);
    sl_free(c);
}

void
sl__rconn_destroy(sl_rconn_t *c)
{
    if (c == NULL || c->closing)
        return;
    c->closing = true;
    cancel_all(c);
    if (c->depth == 0)
        really_free(c);
}

sl_rlink_state_t
sl__rconn_state(const sl_rconn_t *c)
{
    return c->cmd.state;
}

bool
sl__rconn_sub_is_ready(const sl_rconn_t *c)
{
    return c->sub.state == SL_RLINK_READY;
}
