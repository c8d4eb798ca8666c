/* kv.h - a small ordered list of string pairs: queue tags, pass-through queue
 * attributes, form fields. Linear lookups: these lists hold tens of entries.
 * Guarded by SLUICE_KV_H. */
#ifndef SLUICE_KV_H
#define SLUICE_KV_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sl_kv {
    char *key;
    char *val;
} sl_kv_t;

typedef struct sl_kvlist {
    sl_kv_t *v;
    size_t n;
    size_t cap;
} sl_kvlist_t;

void sl_kvlist_init(sl_kvlist_t *l);
void sl_kvlist_deinit(sl_kvlist_t *l);
/* Copies key and val; replaces the value of an existing key. */
void sl_kvlist_set(sl_kvlist_t *l, const char *key, const char *val);
const char *sl_kvlist_get(const sl_kvlist_t *l, const char *key);   /* borrowed or NULL */
bool sl_kvlist_del(sl_kvlist_t *l, const char *key);
void sl_kvlist_copy(sl_kvlist_t *dst, const sl_kvlist_t *src);     /* dst must be empty */
bool sl_kvlist_equal(const sl_kvlist_t *a, const sl_kvlist_t *b);  /* same pairs, any order */

#endif
