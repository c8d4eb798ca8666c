/* form.c - decoder for application/x-www-form-urlencoded request bodies.
 * Every SQS-query and SNS request goes through here, SendMessageBatch bodies of a few KB
 * included, so the parser makes one counting pass and one decoding pass and puts the
 * form header, the field table and all decoded text in a single allocation: a form
 * costs one malloc and one free however many fields it has. Decoded text can only be
 * shorter than its encoding, so the buffer size (input length plus two NULs per pair)
 * is known before decoding starts. */
#include "form.h"

#include <stdint.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/mem.h"

struct sl_form_field {
    const char *key;            /* NUL-terminated, no NUL inside */
    const char *val;            /* NUL-terminated; may hold NULs, see vlen */
    size_t vlen;                /* bytes, not counting the terminator */
};

struct sl_form {
    size_t count;
    struct sl_form_field *fields;   /* count entries, inside this allocation */
};

static int
hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes n bytes of s into dst (room for n + 1), NUL-terminates it and returns the
 * decoded length, or -1 on a bad % escape. A plain byte loop: encoded bodies are dense
 * with '+' and %XX, so runs between them are too short for memcpy to pay off. */
static ptrdiff_t
decode(const char *s, size_t n, char *dst)
{
    const char *end = s + n;
    char *d = dst;

    while (s < end) {
        char ch = *s;
        int hi, lo;

        if (ch == '+') {
            *d++ = ' ';
            s++;
        } else if (ch != '%') {
            *d++ = ch;
            s++;
        } else {
            if (end - s < 3 || (hi = hexval((unsigned char)s[1])) < 0
                || (lo = hexval((unsigned char)s[2])) < 0)
                return -1;
            *d++ = (char)(hi << 4 | lo);
            s += 3;
        }
    }
    *d = '\0';
    return d - dst;
}

int
sl_form_parse(const char *s, size_t len, size_t max_fields, sl_form_t **out)
{
    const char *p, *end;
    size_t count = 0, i = 0;
    sl_form_t *f;
    char *text;

    *out = NULL;
    if (len == 0) {
        f = sl_calloc(1, sizeof(*f));
        *out = f;
        return SL_OK;
    }
    if (len > SIZE_MAX / (2 * sizeof(f->fields[0])))
        return SL_EPROTO;
    end = s + len;
    for (p = s; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));

        if (amp == NULL)
            amp = end;
        if (amp > p && ++count > max_fields)
            return SL_EPROTO;
        p = amp + 1;
    }
    f = sl_malloc(sizeof(*f) + count * sizeof(f->fields[0]) + len + 2 * count);
    f->count = count;
    f->fields = (struct sl_form_field *)(f + 1);
    text = (char *)(f->fields + count);
    for (p = s; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *eq;
        ptrdiff_t klen, vlen;

        if (amp == NULL)
            amp = end;
        if (amp == p) {
            p = amp + 1;
            continue;
        }
        eq = memchr(p, '=', (size_t)(amp - p));
        if (eq == NULL)
            eq = amp;
        if ((klen = decode(p, (size_t)(eq - p), text)) < 0
            || memchr(text, '\0', (size_t)klen) != NULL)
            goto out_free;
        f->fields[i].key = text;
        text += klen + 1;
        if (eq == amp) {
            vlen = 0;
            *text = '\0';
        } else if ((vlen = decode(eq + 1, (size_t)(amp - eq - 1), text)) < 0) {
            goto out_free;
        }
        f->fields[i].val = text;
        f->fields[i].vlen = (size_t)vlen;
        text += vlen + 1;
        i++;
        p = amp + 1;
    }
    sl_assert(i == count);
    *out = f;
    return SL_OK;
out_free:
    sl_free(f);
    return SL_EPROTO;
}

void
sl_form_destroy(sl_form_t *f)
{
    sl_free(f);
}

size_t
sl_form_count(const sl_form_t *f)
{
    return f->count;
}

const char *
sl_form_key(const sl_form_t *f, size_t i)
{
    sl_assert(i < f->count);
    return f->fields[i].key;
}

const char *
sl_form_value(const sl_form_t *f, size_t i, size_t *len)
{
    sl_assert(i < f->count);
    if (len != NULL)
        *len = f->fields[i].vlen;
    return f->fields[i].val;
}

const char *
sl_form_get(const sl_form_t *f, const char *key)
{
    size_t i;

    for (i = 0; i < f->count; i++)
        if (strcmp(f->fields[i].key, key) == 0)
            return f->fields[i].val;
    return NULL;
}
