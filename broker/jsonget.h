/* jsonget.h - reading typed fields of JSON documents with one error style
 * ("KEY must be ..."), shared by the function and trigger specs. Absent or null
 * fields leave the destination alone and succeed. */
#ifndef SLUICE_JSONGET_H
#define SLUICE_JSONGET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A string without NULs; *dst (sl_malloc'd or NULL) is replaced. */
bool sl__json_take_str(const json_t *doc, const char *key, char **dst, char *err, size_t errlen);
bool sl__json_take_u32(const json_t *doc, const char *key, uint32_t min, uint32_t max,
                       uint32_t *dst, char *err, size_t errlen);
bool sl__json_take_bool(const json_t *doc, const char *key, bool *dst, char *err, size_t errlen);

#endif
