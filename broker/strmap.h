/* strmap.h - a string-keyed hash map (open addressing, linear probing).
 * Keys are copied; values are borrowed pointers the caller manages.
 * Iteration order is unspecified. Not thread-safe. */
#ifndef SLUICE_STRMAP_H
#define SLUICE_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sl_strmap_slot {
    char *key;          /* NULL = empty */
    size_t hash;
    void *val;
} sl_strmap_slot_t;

typedef struct sl_strmap {
    sl_strmap_slot_t *slots;
    size_t cap;         /* power of two, or 0 */
    size_t n;
} sl_strmap_t;

void sl__strmap_init(sl_strmap_t *m);
void sl__strmap_deinit(sl_strmap_t *m);            /* frees keys, not values */
void *sl__strmap_get(const sl_strmap_t *m, const char *key);
/* Inserts or replaces; returns the previous value or NULL. */
void *sl__strmap_put(sl_strmap_t *m, const char *key, void *val);
/* Removes key; returns its value or NULL. */
void *sl__strmap_del(sl_strmap_t *m, const char *key);
/* Iterates: start with *pos = 0; returns false at the end. Do not modify during. */
bool sl__strmap_next(const sl_strmap_t *m, size_t *pos, const char **key, void **val);

#endif
