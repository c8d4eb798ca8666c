/* util.c - small helpers of sluice-bench: memory, clock, MD5, body text, endpoints.
 * sluice-bench does not link sluice_core (it must keep working while the broker is
 * half built), so it has its own aborting allocator wrappers in the style of
 * sl_malloc. MD5 goes through OpenSSL's EVP interface, the same digest the broker
 * must produce for MD5OfMessageBody. */
#include "bench.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

/* ---- Memory ---- */

static void
oom(size_t n)
{
    fprintf(stderr, "sluice-bench: out of memory allocating %zu bytes\n", n);
    abort();
}

void *
bench_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        oom(n);
    return p;
}

void *
bench_calloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);

    if (p == NULL)
        oom(count * n);
    return p;
}

void *
bench_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        oom(n);
    return q;
}

char *
bench_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = bench_malloc(n);

    memcpy(p, s, n);
    return p;
}

void
bench_free(void *p)
{
    free(p);
}

/* ---- Clock and digests ---- */

uint64_t
bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
bench_md5_hex(const void *data, size_t len, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    unsigned int i;

    if (EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL) != 1 || mdlen != 16) {
        memset(out, '0', 32);
        out[32] = '\0';
        return;
    }
    for (i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = '\0';
}

/* ---- Buffers ---- */

static void
buf_reserve(bench_buf_t *b, size_t more)
{
    size_t need = b->len + more + 1;

    if (need <= b->cap)
        return;
    if (b->cap == 0)
        b->cap = 256;
    while (b->cap < need)
        b->cap *= 2;
    b->p = bench_realloc(b->p, b->cap);
}

void
bench_buf_reset(bench_buf_t *b)
{
    b->len = 0;
    if (b->p != NULL)
        b->p[0] = '\0';
}

void
bench_buf_add(bench_buf_t *b, const void *data, size_t len)
{
    buf_reserve(b, len);
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
}

char *
bench_buf_extend(bench_buf_t *b, size_t len)
{
    char *p;

    buf_reserve(b, len);
    p = b->p + b->len;
    b->len += len;
    b->p[b->len] = '\0';
    return p;
}

void
bench_buf_adds(bench_buf_t *b, const char *s)
{
    bench_buf_add(b, s, strlen(s));
}

void
bench_buf_printf(bench_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    buf_reserve(b, 64);
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        buf_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void
bench_buf_add_json_escaped(bench_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;

    buf_reserve(b, len);
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[6];

        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        bench_buf_add(b, s + run, i - run);
        run = i + 1;
        esc[0] = '\\';
        if (ch == '"' || ch == '\\') {
            esc[1] = (char)ch;
            bench_buf_add(b, esc, 2);
        } else {
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            bench_buf_add(b, esc, 6);
        }
    }
    bench_buf_add(b, s + run, len - run);
}

void
bench_buf_deinit(bench_buf_t *b)
{
    bench_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

#define FILL_SPREAD 64                          /* distinct filler offsets */

void
bench_body_fill(char *dst, size_t len, const char *tag, uint64_t seq)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
    static char *pattern;                       /* grown on demand, never freed */
    static size_t pattern_len;
    char head[64];
    int hn = snprintf(head, sizeof(head), "%s-%llu-", tag, (unsigned long long)seq);
    size_t n = (size_t)hn < len ? (size_t)hn : len;

    if (pattern_len < len + FILL_SPREAD) {
        uint64_t x = 0x9e3779b97f4a7c15ull;
        size_t i;

        pattern_len = len + FILL_SPREAD;
        pattern = bench_realloc(pattern, pattern_len);
        for (i = 0; i < pattern_len; i++) {
            x ^= x << 13;                       /* xorshift64 */
            x ^= x >> 7;
            x ^= x << 17;
            pattern[i] = alphabet[x % (sizeof(alphabet) - 1)];
        }
    }
    memcpy(dst, head, n);
    memcpy(dst + n, pattern + seq % FILL_SPREAD, len - n);
}

/* ---- Endpoints ---- */

int
bench_hostport_split(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    char *end;
    long p;

    if (*s == '[') {
        const char *rb = strchr(s, ']');

        if (rb == NULL || rb[1] != ':')
            return SL_EINVAL;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return SL_EINVAL;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen)
        return SL_EINVAL;
    p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || p < 0 || p > 65535)
        return SL_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return SL_OK;
}

int
bench_endpoint_parse(const char *url, bench_endpoint_t *ep, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char hostport[256], host[256], portstr[16];
    const char *p = url;
    size_t n;
    int port, rc;

    memset(ep, 0, sizeof(*ep));
    if (strncmp(p, "http://", 7) != 0) {
        snprintf(err, errlen, "endpoint must start with http:// (got %s)", url);
        return SL_EINVAL;
    }
    p += 7;
    n = strcspn(p, "/");
    if (n == 0 || n >= sizeof(hostport) || (p[n] == '/' && p[n + 1] != '\0')) {
        snprintf(err, errlen, "endpoint must be http://host:port (got %s)", url);
        return SL_EINVAL;
    }
    memcpy(hostport, p, n);
    hostport[n] = '\0';
    if (strchr(hostport, ':') == NULL || hostport[n - 1] == ']') {
        /* no port: HTTP's default */
        snprintf(hostport + n, sizeof(hostport) - n, ":80");
    }
    if (bench_hostport_split(hostport, host, sizeof(host), &port) < 0 || port == 0) {
        snprintf(err, errlen, "bad host:port in endpoint %s", url);
        return SL_EINVAL;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof(portstr), "%d", port);
    if ((rc = getaddrinfo(host, portstr, &hints, &res)) != 0 || res == NULL) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return SL_EINVAL;
    }
    memcpy(&ep->addr, res->ai_addr, res->ai_addrlen);
    ep->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(ep->hostport, sizeof(ep->hostport), "%s", hostport);
    snprintf(ep->base_url, sizeof(ep->base_url), "http://%s", hostport);
    return SL_OK;
}
