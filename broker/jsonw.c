/* jsonw.c - compact JSON output for jansson values (see jsonw.h). Builds the
 * text in one growable buffer and hands it to the evbuffer once. */
#include "jsonw.h"

#include "sluice/mem.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef sl_jbuf_t wbuf_t;

static void
reserve(wbuf_t *b, size_t more)
{
    if (b->n + more <= b->cap)
        return;
    while (b->n + more > b->cap)
        b->cap = b->cap ? b->cap * 2 : 4096;
    b->p = sl_realloc(b->p, b->cap);
}

static inline void
put(wbuf_t *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static inline void
putc1(wbuf_t *b, char c)
{
    reserve(b, 1);
    b->p[b->n++] = c;
}

/* Bytes that must be escaped: controls, quote, backslash. */
static const unsigned char needs_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};

static void
put_string(wbuf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";     /* as jansson writes \u00XX */
    size_t i = 0;

    reserve(b, n + 2);
    b->p[b->n++] = '"';
    while (i < n) {
        size_t start = i;
        unsigned char c;

        /* Eight bytes at a time while none is a control byte, '"' or '\\'. */
        while (i + 8 <= n) {
            uint64_t w, lo, q, bs;

            memcpy(&w, s + i, 8);
            lo = (w - 0x2020202020202020ULL) & ~w;              /* bytes < 0x20 */
            q = w ^ 0x2222222222222222ULL;                      /* '"' becomes 0 */
            bs = w ^ 0x5c5c5c5c5c5c5c5cULL;                     /* '\\' becomes 0 */
            q = (q - 0x0101010101010101ULL) & ~q;
            bs = (bs - 0x0101010101010101ULL) & ~bs;
            if ((lo | q | bs) & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        while (i < n && !needs_escape[(unsigned char)s[i]])
            i++;
        if (i > start)
            put(b, s + start, i - start);
        if (i == n)
            break;
        c = (unsigned char)s[i++];
        switch (c) {
        case '"': put(b, "\\\"", 2); break;
        case '\\': put(b, "\\\\", 2); break;
        case '\n': put(b, "\\n", 2); break;
        case '\r': put(b, "\\r", 2); break;
        case '\t': put(b, "\\t", 2); break;
        case '\b': put(b, "\\b", 2); break;
        case '\f': put(b, "\\f", 2); break;
        default: {
            char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

            put(b, u, 6);
        }
        }
    }
    putc1(b, '"');
}

static void
put_value(wbuf_t *b, const json_t *j, int depth)
{
    char num[64];
    int n;

    if (depth > 64) {           /* our outputs are shallow; never recurse without bound */
        put(b, "null", 4);
        return;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        void *it = json_object_iter((json_t *)j);
        bool first = true;

        putc1(b, '{');
        for (; it != NULL; it = json_object_iter_next((json_t *)j, it)) {
            const char *k = json_object_iter_key(it);

            if (!first)
                putc1(b, ',');
            first = false;
            put_string(b, k, strlen(k));
            putc1(b, ':');
            put_value(b, json_object_iter_value(it), depth + 1);
        }
        putc1(b, '}');
        break;
    }
    case JSON_ARRAY:
        putc1(b, '[');
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i)
                putc1(b, ',');
            put_value(b, json_array_get(j, i), depth + 1);
        }
        putc1(b, ']');
        break;
    case JSON_STRING:
        put_string(b, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        put(b, num, (size_t)n);
        break;
    case JSON_REAL:
        n = snprintf(num, sizeof(num), "%.17g", json_real_value(j));
        put(b, num, (size_t)n);
        break;
    case JSON_TRUE:
        put(b, "true", 4);
        break;
    case JSON_FALSE:
        put(b, "false", 5);
        break;
    case JSON_NULL:
        put(b, "null", 4);
        break;
    }
}

void
sl_json_write(struct evbuffer *out, const json_t *j)
{
    wbuf_t b = { NULL, 0, 0 };

    put_value(&b, j, 0);
    evbuffer_add(out, b.p, b.n);
    sl_free(b.p);
}

void
sl_jbuf_raw(sl_jbuf_t *b, const char *s, size_t n)
{
    put(b, s, n);
}

void
sl_jbuf_lit(sl_jbuf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

void
sl_jbuf_str(sl_jbuf_t *b, const char *s, size_t n)
{
    put_string(b, s, n);
}

char *
sl_json_dumps(const json_t *j, size_t *len)
{
    wbuf_t b = { NULL, 0, 0 };

    put_value(&b, j, 0);
    put(&b, "", 1);                     /* the NUL */
    if (len)
        *len = b.n - 1;
    return b.p;
}
