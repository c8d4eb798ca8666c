/* jsonw.h - a fast writer of jansson values into an evbuffer.
 * jansson's own dumper escapes byte by byte through callbacks, which made it
 * the largest cost of a ReceiveMessage reply; this writer copies runs of bytes
 * that need no escaping in one go. Output is compact JSON, keys in insertion
 * order, UTF-8 kept as is (like json_dumps with JSON_COMPACT). */
#ifndef SLUICE_JSONW_H
#define SLUICE_JSONW_H

#include <jansson.h>

struct evbuffer;

/* Appends j as compact JSON. */
void sl_json_write(struct evbuffer *out, const json_t *j);
/* The same as a new NUL-terminated string (caller sl_free()s); *len (may be
 * NULL) gets its length. */
char *sl_json_dumps(const json_t *j, size_t *len);

/* A growable text buffer for writing JSON by hand (hot paths that would otherwise build
 * a jansson tree only to write it out). Start from { NULL, 0, 0 }; p is sl_malloc'd,
 * caller frees it with sl_free. */
typedef struct sl_jbuf {
    char *p;
    size_t n, cap;
} sl_jbuf_t;

void sl_jbuf_raw(sl_jbuf_t *b, const char *s, size_t n);    /* appends s as is */
void sl_jbuf_lit(sl_jbuf_t *b, const char *s);              /* strlen(s) bytes as is */
/* Appends s (n bytes) as a quoted JSON string, escaped exactly as sl_json_write
 * escapes strings. */
void sl_jbuf_str(sl_jbuf_t *b, const char *s, size_t n);

#endif
