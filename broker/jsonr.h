/* jsonr.h - a fast reader of JSON text into jansson values.
 * jansson's json_loadb lexes through a byte-at-a-time stream and was half of the broker's
 * CPU per request; this reader scans runs of plain bytes at once and builds the same
 * json_t tree. Guarded by SLUICE_JSONR_H. */
#ifndef SLUICE_JSONR_H
#define SLUICE_JSONR_H

#include <stddef.h>

#include <jansson.h>

#define SL_JSONR_MAX_DEPTH 64           /* open arrays/objects; one more is SL_EPROTO */

/* Parses exactly one JSON value (RFC 8259) of any type from s[0..len), with optional
 * whitespace around it; s may be NULL when len is 0. Strings must be valid UTF-8
 * (no overlong forms, no encoded surrogates, nothing above U+10FFFF) without raw control
 * bytes; \uXXXX surrogate pairs are combined, a lone surrogate escape is SL_EPROTO, and
 * \u0000 gives a string holding a NUL byte (use json_string_length), except in object
 * keys, where it is SL_EPROTO. Integers that fit json_int_t become json_integer; numbers
 * with a fraction or exponent, and integers that do not fit, become json_real, except
 * that a magnitude beyond DBL_MAX is SL_EPROTO. A repeated object key keeps its last
 * value. Nesting deeper than SL_JSONR_MAX_DEPTH, trailing bytes and empty input are
 * SL_EPROTO.
 * Returns SL_OK and a new reference in *out (caller json_decref()s), or SL_EPROTO, or
 * SL_ENOMEM when jansson's allocator fails, with *out = NULL. When errlen > 0, err gets a
 * short NUL-terminated message naming the byte offset ("" on success); err may be NULL
 * when errlen is 0. */
int sl_json_parse(const char *s, size_t len, json_t **out, char *err, size_t errlen);

#endif
