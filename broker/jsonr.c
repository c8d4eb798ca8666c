/* jsonr.c - reads JSON text into jansson values (see jsonr.h).
 * Every SQS JSON-protocol request body goes through here, and jansson's json_loadb spent
 * about 125 instructions per input byte reading it one character at a time through a
 * stream. This reader is a recursive descent over the byte range with an explicit depth
 * cap. Most bytes of a request are inside strings, so strings are scanned eight bytes at a
 * time for the only bytes that need attention (quote, backslash, controls, non-ASCII);
 * a string without escapes is handed to jansson straight from the input slice, and one
 * with escapes is decoded into a scratch buffer owned by the parse. The tree is still
 * jansson's json_t, so the rest of the broker does not change.
 *
 * The scratch buffer is used as a stack: an escaped object key stays in it while its
 * value is parsed (values may need the buffer too), so it is addressed by offset, never
 * by pointer, across a possible realloc. */
#include "jsonr.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/mem.h"

#define SBUF_SIZE 512                   /* scratch bytes before going to the heap */
#define NUM_INLINE 64                   /* longer numbers are copied into the scratch */

typedef struct reader {
    const unsigned char *p;             /* next unread byte */
    const unsigned char *end;
    const unsigned char *start;         /* for error offsets */
    int depth;                          /* open arrays and objects */
    int rc;                             /* first error; SL_OK while none */
    char *err;
    size_t errlen;
    char *buf;                          /* scratch: sbuf or heap */
    size_t top;                         /* bytes of buf held by pending keys */
    size_t cap;
    char sbuf[SBUF_SIZE];
} reader_t;

/* A scanned string, decoded: where its bytes are and whether one is NUL. */
typedef struct str {
    const char *s;                      /* the input slice, or NULL: in buf at off */
    size_t off;
    size_t n;
    bool nul;
} str_t;

static json_t *parse_value(reader_t *r);

/* ---- Errors and scratch ---- */

static json_t *
fail_at(reader_t *r, const unsigned char *at, int rc, const char *msg)
{
    if (r->rc == SL_OK) {
        r->rc = rc;
        if (r->errlen > 0)
            snprintf(r->err, r->errlen, "offset %zu: %s", (size_t)(at - r->start), msg);
    }
    return NULL;
}

static json_t *
fail(reader_t *r, const char *msg)
{
    return fail_at(r, r->p, SL_EPROTO, msg);
}

static json_t *
oom(reader_t *r)
{
    return fail_at(r, r->p, SL_ENOMEM, "out of memory");
}

/* Makes room for total bytes of scratch. total never exceeds the input length plus a
 * few bytes, since decoding never lengthens text, so the input bounds the buffer. */
static void
reserve(reader_t *r, size_t total)
{
    size_t cap = r->cap;

    if (total <= cap)
        return;
    while (cap < total)
        cap *= 2;
    if (r->buf == r->sbuf) {
        r->buf = sl_malloc(cap);
        memcpy(r->buf, r->sbuf, sizeof(r->sbuf));   /* pending keys and a partial string */
    } else {
        r->buf = sl_realloc(r->buf, cap);
    }
    r->cap = cap;
}

/* ---- Strings ---- */

/* Bytes a string run can skip: 0x20..0x7f but '"' and '\\'. */
static const unsigned char plain[256] = {
    [0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,      /* 0x22 '"' */
    [0x30] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    [0x40] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    [0x50] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,      /* 0x5c '\\' */
    [0x60] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    [0x70] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* First byte at or after p that is not plain, or end. Eight bytes at a time: for bytes
 * below 0x80, x - 0x20 sets a byte's high bit only for controls, and (x ^ c) - 1 only
 * where x == c; or-ing in x itself flags non-ASCII. Borrows run only upward from a flagged
 * byte, so the lowest flag is exact. */
static inline const unsigned char *
skip_plain(const unsigned char *p, const unsigned char *end)
{
    while (end - p >= 8) {
        uint64_t x, t;

        memcpy(&x, p, 8);
        t = ((x - ONES * 0x20) | ((x ^ (ONES * '"')) - ONES) | ((x ^ (ONES * '\\')) - ONES) | x)
            & HIGHS;
        if (t != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return p + (__builtin_ctzll(t) >> 3);
#else
            break;
#endif
        }
        p += 8;
    }
    while (p < end && plain[*p])
        p++;
    return p;
}

/* Length of the well-formed UTF-8 sequence (RFC 3629) starting with the non-ASCII byte at
 * p, or 0: no overlong forms, no surrogates, nothing above U+10FFFF. */
static inline size_t
utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t avail = (size_t)(end - p);

    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        return avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c < 0xF5) {
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        return avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80
                       && (p[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

static inline int
hexval(unsigned c)
{
    if (c - '0' < 10)
        return (int)(c - '0');
    c |= 0x20;
    if (c - 'a' < 6)
        return (int)(c - 'a' + 10);
    return -1;
}

/* The four hex digits at p (end - p >= 4), or -1. */
static inline long
hex4(const unsigned char *p)
{
    int a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]), d = hexval(p[3]);

    if ((a | b | c | d) < 0)
        return -1;
    return (long)a << 12 | b << 8 | c << 4 | d;
}

static inline size_t
put_utf8(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the escape after the backslash at *pp into o (room for 4 bytes), advancing *pp
 * past it. Returns the bytes written, or 0 with *pp at the bad spot. */
static size_t
unescape(reader_t *r, const unsigned char **pp, char *o, bool *nul)
{
    const unsigned char *p = *pp + 1, *end = r->end;
    long cp, lo;

    if (p == end)
        return 0;
    switch (*p) {
    case '"': *o = '"'; break;
    case '\\': *o = '\\'; break;
    case '/': *o = '/'; break;
    case 'b': *o = '\b'; break;
    case 'f': *o = '\f'; break;
    case 'n': *o = '\n'; break;
    case 'r': *o = '\r'; break;
    case 't': *o = '\t'; break;
    case 'u':
        if (end - p < 5 || (cp = hex4(p + 1)) < 0)
            return 0;
        p += 5;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return 0;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || (lo = hex4(p + 2)) < 0
                || lo < 0xDC00 || lo > 0xDFFF)
                return 0;
            p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp == 0)
            *nul = true;
        *pp = p;
        return put_utf8(o, (unsigned long)cp);
    default:
        return 0;
    }
    *pp = p + 1;
    return 1;
}

/* Scans the string whose opening quote is at r->p. On success *out describes the decoded
 * bytes (escaped ones at buf + top, not yet claimed), r->p is past the closing quote, and
 * true is returned. */
static bool
scan_string(reader_t *r, str_t *out)
{
    const unsigned char *begin = r->p + 1, *p = begin, *run = begin, *end = r->end;
    bool escaped = false;
    size_t n = 0, k;

    out->nul = false;
    for (;;) {
        p = skip_plain(p, end);
        if (p == end) {
            fail_at(r, p, SL_EPROTO, "unterminated string");
            return false;
        }
        if (*p == '"')
            break;
        if (*p >= 0x80) {
            if ((k = utf8_seq(p, end)) == 0) {
                fail_at(r, p, SL_EPROTO, "invalid UTF-8 in string");
                return false;
            }
            p += k;
            continue;
        }
        if (*p < 0x20) {
            fail_at(r, p, SL_EPROTO, "control byte in string");
            return false;
        }
        /* A backslash: move the run behind it, then its decoded bytes, to the scratch. */
        reserve(r, r->top + n + (size_t)(p - run) + 4);
        memcpy(r->buf + r->top + n, run, (size_t)(p - run));
        n += (size_t)(p - run);
        if ((k = unescape(r, &p, r->buf + r->top + n, &out->nul)) == 0) {
            fail_at(r, p, SL_EPROTO, "invalid escape in string");
            return false;
        }
        n += k;
        run = p;
        escaped = true;
    }
    if (escaped) {
        reserve(r, r->top + n + (size_t)(p - run));
        memcpy(r->buf + r->top + n, run, (size_t)(p - run));
        n += (size_t)(p - run);
        out->s = NULL;
        out->off = r->top;
        out->n = n;
    } else {
        out->s = (const char *)begin;
        out->n = (size_t)(p - begin);
    }
    r->p = p + 1;
    return true;
}

static inline const char *
str_bytes(const reader_t *r, const str_t *s)
{
    return s->s != NULL ? s->s : r->buf + s->off;
}

/* ---- Numbers ---- */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void
c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* Whatever LC_NUMERIC the process has set, JSON's decimal point is '.'. */
static double
strtod_c(const char *s, char **endp)
{
    pthread_once(&c_locale_once, c_locale_init);
    if (c_locale != (locale_t)0)
        return strtod_l(s, endp, c_locale);
    return strtod(s, endp);
}

static inline bool
is_digit(const unsigned char *p, const unsigned char *end)
{
    return p < end && (unsigned)(*p - '0') < 10;
}

/* The number at r->p (a '-' or a digit). */
static json_t *
parse_number(reader_t *r)
{
    const unsigned char *b = r->p, *p = b, *end = r->end, *digits;
    uint64_t mag = 0;
    bool neg = false, real = false;
    char inl[NUM_INLINE], *tmp, *e;
    size_t n;
    json_t *j;
    double d;

    if (*p == '-') {
        neg = true;
        p++;
    }
    digits = p;
    if (!is_digit(p, end))
        return fail_at(r, p, SL_EPROTO, "digit expected");
    if (*p == '0') {
        p++;
    } else {
        /* Up to 19 digits fit a uint64_t (< 1.9e19); more cannot fit json_int_t. */
        while (is_digit(p, end)) {
            if (p - digits < 19)
                mag = mag * 10 + (uint64_t)(*p - '0');
            p++;
        }
    }
    if (p < end && *p == '.') {
        real = true;
        if (!is_digit(++p, end))
            return fail_at(r, p, SL_EPROTO, "digit expected after '.'");
        while (is_digit(p, end))
            p++;
    }
    if (p < end && (*p | 0x20) == 'e') {
        real = true;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!is_digit(p, end))
            return fail_at(r, p, SL_EPROTO, "digit expected in exponent");
        while (is_digit(p, end))
            p++;
    }
    r->p = p;
    if (!real && p - digits <= 19 && mag <= (uint64_t)INT64_MAX + neg) {
        json_int_t v;

        if (!neg)
            v = (json_int_t)mag;
        else if (mag == (uint64_t)INT64_MAX + 1)
            v = INT64_MIN;
        else
            v = -(json_int_t)mag;
        return (j = json_integer(v)) != NULL ? j : oom(r);
    }

    /* strtod needs a terminated copy: the input is not, and bytes after the number
     * ("0x1") could mean more to strtod than to JSON. */
    n = (size_t)(p - b);
    if (n < NUM_INLINE) {
        tmp = inl;
    } else {
        reserve(r, r->top + n + 1);
        tmp = r->buf + r->top;
    }
    memcpy(tmp, b, n);
    tmp[n] = '\0';
    errno = 0;
    d = strtod_c(tmp, &e);
    sl_assert(e == tmp + n);
    if (errno == ERANGE && isinf(d))
        return fail_at(r, b, SL_EPROTO, "number out of range");
    return (j = json_real(d)) != NULL ? j : oom(r);
}

/* ---- Values ---- */

static inline void
skip_ws(reader_t *r)
{
    const unsigned char *p = r->p, *end = r->end;

    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    r->p = p;
}

static json_t *
parse_literal(reader_t *r, const char *word, size_t n, json_t *v)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return fail(r, "invalid literal");
    r->p += n;
    return v;
}

static json_t *
parse_array(reader_t *r)
{
    json_t *a, *v;

    if (++r->depth > SL_JSONR_MAX_DEPTH)
        return fail(r, "nesting too deep");
    r->p++;
    if ((a = json_array()) == NULL)
        return oom(r);
    skip_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        r->depth--;
        return a;
    }
    for (;;) {
        if ((v = parse_value(r)) == NULL)
            goto out_free;
        if (json_array_append_new(a, v) != 0) {
            oom(r);
            goto out_free;
        }
        skip_ws(r);
        if (r->p == r->end) {
            fail(r, "unterminated array");
            goto out_free;
        }
        if (*r->p == ']')
            break;
        if (*r->p != ',') {
            fail(r, "',' or ']' expected");
            goto out_free;
        }
        r->p++;
    }
    r->p++;
    r->depth--;
    return a;
out_free:
    json_decref(a);
    return NULL;
}

static json_t *
parse_object(reader_t *r)
{
    json_t *o, *v;
    str_t key;
    size_t top;

    if (++r->depth > SL_JSONR_MAX_DEPTH)
        return fail(r, "nesting too deep");
    r->p++;
    if ((o = json_object()) == NULL)
        return oom(r);
    skip_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        r->depth--;
        return o;
    }
    for (;;) {
        skip_ws(r);
        if (r->p == r->end || *r->p != '"') {
            fail(r, "string key expected");
            goto out_free;
        }
        if (!scan_string(r, &key))
            goto out_free;
        if (key.nul) {
            fail(r, "NUL byte in object key");
            goto out_free;
        }
        skip_ws(r);
        if (r->p == r->end || *r->p != ':') {
            fail(r, "':' expected");
            goto out_free;
        }
        r->p++;
        top = r->top;
        if (key.s == NULL)
            r->top += key.n;            /* keep the key while the value uses the scratch */
        v = parse_value(r);
        r->top = top;
        if (v == NULL)
            goto out_free;
        if (json_object_setn_new_nocheck(o, str_bytes(r, &key), key.n, v) != 0) {
            oom(r);
            goto out_free;
        }
        skip_ws(r);
        if (r->p == r->end) {
            fail(r, "unterminated object");
            goto out_free;
        }
        if (*r->p == '}')
            break;
        if (*r->p != ',') {
            fail(r, "',' or '}' expected");
            goto out_free;
        }
        r->p++;
    }
    r->p++;
    r->depth--;
    return o;
out_free:
    json_decref(o);
    return NULL;
}

static json_t *
parse_value(reader_t *r)
{
    str_t s;
    json_t *j;

    skip_ws(r);
    if (r->p == r->end)
        return fail(r, "unexpected end of input");
    switch (*r->p) {
    case '"':
        if (!scan_string(r, &s))
            return NULL;
        return (j = json_stringn_nocheck(str_bytes(r, &s), s.n)) != NULL ? j : oom(r);
    case '{':
        return parse_object(r);
    case '[':
        return parse_array(r);
    case 't':
        return parse_literal(r, "true", 4, json_true());
    case 'f':
        return parse_literal(r, "false", 5, json_false());
    case 'n':
        return parse_literal(r, "null", 4, json_null());
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return parse_number(r);
    default:
        return fail(r, "unexpected byte");
    }
}

int
sl_json_parse(const char *s, size_t len, json_t **out, char *err, size_t errlen)
{
    reader_t r;
    json_t *v;

    r.start = r.p = (const unsigned char *)(len > 0 ? s : "");
    r.end = r.p + len;
    r.depth = 0;
    r.rc = SL_OK;
    r.err = err;
    r.errlen = errlen;
    r.buf = r.sbuf;
    r.top = 0;
    r.cap = sizeof(r.sbuf);
    if (errlen > 0)
        err[0] = '\0';

    if ((v = parse_value(&r)) != NULL) {
        skip_ws(&r);
        if (r.p != r.end) {
            fail(&r, "unexpected bytes after the value");
            json_decref(v);
            v = NULL;
        }
    }
    if (r.buf != r.sbuf)
        sl_free(r.buf);
    *out = v;
    return v != NULL ? SL_OK : r.rc;
}
