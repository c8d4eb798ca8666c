/* form.h - application/x-www-form-urlencoded bodies (SQS and SNS query protocol).
 * A parsed form is one immutable allocation holding the decoded keys and values in
 * arrival order. Guarded by SLUICE_FORM_H. */
#ifndef SLUICE_FORM_H
#define SLUICE_FORM_H

#include <stddef.h>

typedef struct sl_form sl_form_t;

#define SL_FORM_MAX_FIELDS 4096

/* Parses len bytes of s (s may be NULL when len is 0). '+' and %20 decode to space,
 * %XX takes hex digits of either case; a bad or truncated % escape is SL_EPROTO. Pairs
 * are split at '&' and empty pairs ("a=1&&b=2", a trailing '&') are skipped; a pair
 * without '=' has the value "". Keys may not contain NUL once decoded (SL_EPROTO);
 * values keep their exact bytes, NUL included, with their length. More than
 * max_fields pairs is SL_EPROTO. Empty input is SL_OK with 0 fields.
 * Returns SL_OK and a new form in *out (caller destroys), else SL_EPROTO and
 * *out = NULL. */
int sl_form_parse(const char *s, size_t len, size_t max_fields, sl_form_t **out);
void sl_form_destroy(sl_form_t *f);                                   /* NULL is a no-op */
size_t sl_form_count(const sl_form_t *f);

/* Accessors for i < sl_form_count(f). Strings are borrowed, valid until
 * sl_form_destroy(f), and NUL-terminated; *len (if len is not NULL) gets the value's
 * length, which counts any NUL bytes inside it. */
const char *sl_form_key(const sl_form_t *f, size_t i);
const char *sl_form_value(const sl_form_t *f, size_t i, size_t *len);

/* Value of the first pair whose key is key, or NULL. Borrowed like the above. */
const char *sl_form_get(const sl_form_t *f, const char *key);

#endif
