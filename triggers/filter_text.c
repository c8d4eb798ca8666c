/* filter_text.c - the string tests behind filter.c: ignore-case comparison, wildcard
 * patterns and IP/CIDR parsing.
 * These run per message, so none of them allocates. Case folding covers ASCII and the
 * two-byte UTF-8 letters with simple case pairs, which keeps a folded string exactly as
 * long as the original: an ignore-case prefix or suffix test is then a byte comparison
 * at fixed offsets, with the event's side folded on the fly. Wildcards are matched
 * greedily run by run (each run after a '*' at its leftmost place), which is exact for
 * '*'-only globs and never backtracks. IP addresses are parsed by hand rather than with
 * inet_pton, because event strings are length-delimited and may hold NULs. */
#include "filter_text.h"

#include <stdio.h>
#include <string.h>

/* ---- Case folding ---- */

static uint32_t
fold_cp(uint32_t c)
{
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 0x20;
    if (c >= 0x100 && c <= 0x17E) {
        if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149)
            return c;       /* no case pair of the same length */
        if (c == 0x178)
            return 0xFF;
        if (c < 0x138 || (c >= 0x14A && c <= 0x177))
            return c | 1;   /* even code points are the capitals here */
        return (c & 1) ? c + 1 : c;
    }
    if (c >= 0x386 && c <= 0x3AB) {
        if (c == 0x386)
            return 0x3AC;
        if (c >= 0x388 && c <= 0x38A)
            return c + 0x25;
        if (c == 0x38C)
            return 0x3CC;
        if (c == 0x38E || c == 0x38F)
            return c + 0x3F;
        if (c >= 0x391 && c != 0x3A2)
            return c + 0x20;
        return c;
    }
    if (c >= 0x400 && c <= 0x40F)
        return c + 0x50;
    if (c >= 0x410 && c <= 0x42F)
        return c + 0x20;
    return c;
}

/* Folds the character at s[i] (i < n) into out[0..2); returns its length in bytes (1 or
 * 2). Bytes that do not start a complete two-byte sequence are copied unchanged. */
static size_t
fold_at(const unsigned char *s, size_t i, size_t n, unsigned char out[2])
{
    unsigned char c = s[i];

    if (c < 0x80) {
        out[0] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
        uint32_t cp = fold_cp(((uint32_t)(c & 0x1F) << 6) | (s[i + 1] & 0x3F));

        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = c;
    return 1;
}

void
sl__filter_fold(const char *s, size_t n, char *dst)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char buf[2];
    size_t i = 0, k;

    while (i < n) {
        k = fold_at(u, i, n, buf);
        memcpy(dst + i, buf, k);
        i += k;
    }
}

bool
sl__filter_fold_eq(const char *s, const char *pat, size_t n)
{
    const unsigned char *u = (const unsigned char *)s, *p = (const unsigned char *)pat;
    unsigned char buf[2];
    size_t i = 0;

    while (i < n) {
        if (u[i] < 0x80) {
            unsigned char c = u[i];

            if (c >= 'A' && c <= 'Z')
                c += 32;
            if (c != p[i])
                return false;
            i++;
        } else if (fold_at(u, i, n, buf) == 2) {
            if (buf[0] != p[i] || buf[1] != p[i + 1])
                return false;
            i += 2;
        } else {
            if (u[i] != p[i])
                return false;
            i++;
        }
    }
    return true;
}

/* ---- Wildcards ---- */

int
sl__filter_wild_compile(const char *s, size_t n, unsigned max_stars, char *lit,
                        uint32_t *len, char *err, size_t errlen)
{
    size_t i = 0, nlit = 0;
    uint32_t nchunks = 0, run = 0;
    unsigned stars = 0;
    bool after_star = false;

    while (i < n) {
        char c = s[i];

        if (c == '*') {
            if (after_star) {
                snprintf(err, errlen, "Consecutive wildcard characters at pos %zu", i);
                return -1;
            }
            stars++;
            len[nchunks++] = run;
            run = 0;
            after_star = true;
            i++;
            continue;
        }
        if (c == '\\') {
            if (i + 1 >= n || (s[i + 1] != '*' && s[i + 1] != '\\')) {
                snprintf(err, errlen, "Invalid escape character at pos %zu", i);
                return -1;
            }
            c = s[i + 1];
            i += 2;
        } else {
            i++;
        }
        lit[nlit++] = c;
        run++;
        after_star = false;
    }
    if (stars > max_stars) {
        snprintf(err, errlen, "Rule is too complex - try using fewer wildcard characters or "
                 "fewer repeating character sequences after a wildcard character");
        return -1;
    }
    len[nchunks++] = run;
    return (int)nchunks;
}

bool
sl__filter_wild_match(const sl__filter_wild_t *w, const char *s, size_t n)
{
    const char *lit = w->lit, *first = w->lit;
    uint32_t i, last = w->nchunks - 1;
    size_t total = 0, pos, end;

    for (i = 0; i < w->nchunks; i++)
        total += w->len[i];
    if (last == 0)
        return n == total && memcmp(s, lit, n) == 0;
    if (n < total || memcmp(s, first, w->len[0]) != 0
        || memcmp(s + n - w->len[last], lit + total - w->len[last], w->len[last]) != 0)
        return false;
    pos = w->len[0];
    end = n - w->len[last];
    lit += w->len[0];
    for (i = 1; i < last; i++) {
        const char *hit = memmem(s + pos, end - pos, lit, w->len[i]);

        if (hit == NULL)
            return false;
        pos = (size_t)(hit - s) + w->len[i];
        lit += w->len[i];
    }
    return true;
}

/* ---- IP addresses ---- */

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four decimal octets, no leading zeros (so no octal ambiguity), nothing after. */
static bool
ip4_parse(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0;
    int k;

    for (k = 0; k < 4; k++) {
        unsigned v = 0, digits = 0;

        if (k > 0) {
            if (i >= n || s[i] != '.')
                return false;
            i++;
        }
        while (i < n && s[i] >= '0' && s[i] <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(s[i] - '0');
            i++;
            digits++;
        }
        if (digits == 0 || digits > 3 || v > 255 || (digits > 1 && s[i - digits] == '0'))
            return false;
        out[k] = (uint8_t)v;
    }
    return i == n;
}

static bool
ip6_parse(const char *s, size_t n, uint8_t out[16])
{
    uint16_t g[8];
    int ng = 0, gap = -1, k;
    size_t i = 0;

    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
    } else if (n == 0 || s[0] == ':') {
        return false;
    }
    while (i < n) {
        size_t j = i;
        unsigned v = 0;
        int h;

        while (j < n && j - i < 5 && (h = hexval(s[j])) >= 0) {
            v = v * 16 + (unsigned)h;
            j++;
        }
        if (j < n && s[j] == '.') {
            uint8_t q[4];

            if (ng > 6 || !ip4_parse(s + i, n - i, q))
                return false;
            g[ng++] = (uint16_t)(q[0] << 8 | q[1]);
            g[ng++] = (uint16_t)(q[2] << 8 | q[3]);
            break;
        }
        if (j == i || j - i > 4 || ng == 8)
            return false;
        g[ng++] = (uint16_t)v;
        i = j;
        if (i == n)
            break;
        if (s[i] != ':' || ++i == n)
            return false;
        if (s[i] == ':') {
            if (gap >= 0)
                return false;
            gap = ng;
            i++;
        }
    }
    if (gap < 0 ? ng != 8 : ng > 7)
        return false;
    memset(out, 0, 16);
    for (k = 0; k < ng; k++) {
        int at = (gap < 0 || k < gap) ? k : 8 - ng + k;

        out[2 * at] = (uint8_t)(g[k] >> 8);
        out[2 * at + 1] = (uint8_t)g[k];
    }
    return true;
}

int
sl__filter_ip_parse(const char *s, size_t n, uint8_t addr[16])
{
    if (memchr(s, ':', n) != NULL)
        return ip6_parse(s, n, addr) ? 6 : 0;
    return ip4_parse(s, n, addr) ? 4 : 0;
}

int
sl__filter_cidr_parse(const char *s, size_t n, uint8_t net[16], uint8_t mask[16])
{
    const char *slash = memrchr(s, '/', n);
    size_t alen = slash != NULL ? (size_t)(slash - s) : n;
    unsigned bits, maxbits, i;
    int fam = sl__filter_ip_parse(s, alen, net);

    if (fam == 0)
        return 0;
    maxbits = fam == 4 ? 32 : 128;
    bits = maxbits;
    if (slash != NULL) {
        const char *d = slash + 1, *end = s + n;

        if (d == end || end - d > 3 || (*d == '0' && end - d > 1))
            return 0;
        for (bits = 0; d < end; d++) {
            if (*d < '0' || *d > '9')
                return 0;
            bits = bits * 10 + (unsigned)(*d - '0');
        }
        if (bits > maxbits)
            return 0;
    }
    memset(mask, 0, 16);
    for (i = 0; i < maxbits / 8; i++) {
        unsigned b = bits > i * 8 ? bits - i * 8 : 0;

        mask[i] = b >= 8 ? 0xFF : (uint8_t)(0xFF00 >> b);
        net[i] &= mask[i];
    }
    return fam;
}
