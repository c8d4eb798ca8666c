/* xmlw.c - XML text escaping for the query-protocol response writers.
 * Bodies of up to 1 MiB pass through here on ReceiveMessage, so the escaper scans for
 * runs of bytes that need no escaping (one table lookup per byte) and hands each run
 * to the evbuffer in one call, instead of appending byte by byte. */
#include "xmlw.h"

#include <string.h>

#include <event2/buffer.h>

/* 1 for bytes copied as they are: TAB, LF, printable ASCII but & < > " ', DEL, and every
 * byte >= 0x80 (UTF-8 sequences pass through; their validity is checked upstream). */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0,     /* 0x00: TAB, LF */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* 0x10 */
    1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x20: not " & ' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1,     /* 0x30: not < > */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x70 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x80 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0xf0 */
};

void
sl_xml_escape(struct evbuffer *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;

    if (len == 0)
        return;
    while (p < end) {
        const unsigned char *run = p;

        while (p < end && plain[*p])
            p++;
        if (p > run)
            evbuffer_add(out, run, (size_t)(p - run));
        if (p == end)
            break;
        switch (*p) {
        case '&':
            evbuffer_add(out, "&amp;", 5);
            break;
        case '<':
            evbuffer_add(out, "&lt;", 4);
            break;
        case '>':
            evbuffer_add(out, "&gt;", 4);
            break;
        case '"':
            evbuffer_add(out, "&quot;", 6);
            break;
        case '\'':
            evbuffer_add(out, "&apos;", 6);
            break;
        default:
            /* CR (&#xD;) and the control bytes that validation should have kept out */
            evbuffer_add_printf(out, "&#x%X;", (unsigned)*p);
            break;
        }
        p++;
    }
}

void
sl_xml_element(struct evbuffer *out, const char *name, const char *text, size_t len)
{
    size_t nlen = strlen(name);

    evbuffer_add(out, "<", 1);
    evbuffer_add(out, name, nlen);
    evbuffer_add(out, ">", 1);
    sl_xml_escape(out, text, len);
    evbuffer_add(out, "</", 2);
    evbuffer_add(out, name, nlen);
    evbuffer_add(out, ">", 1);
}
