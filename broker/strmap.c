/* strmap.c - string-keyed hash map with linear probing and backward-shift
 * deletion (no tombstones, so lookups stay short under churn: dedup ids and
 * FIFO groups come and go all the time). FNV-1a hashing. */
#include "strmap.h"

#include "sluice/mem.h"

#include <string.h>

void
sl__strmap_init(sl_strmap_t *m)
{
    m->slots = NULL;
    m->cap = m->n = 0;
}

void
sl__strmap_deinit(sl_strmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        sl_free(m->slots[i].key);
    sl_free(m->slots);
    sl__strmap_init(m);
}

static size_t
hash_str(const char *s)
{
    size_t h = 14695981039346656037ULL;

    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ULL;
    }
    return h;
}

static sl_strmap_slot_t *
find(const sl_strmap_t *m, const char *key, size_t h)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        sl_strmap_slot_t *s = &m->slots[i];

        if (s->key == NULL)
            return NULL;
        if (s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

static void
insert_slot(sl_strmap_slot_t *slots, size_t cap, sl_strmap_slot_t s)
{
    size_t i = s.hash & (cap - 1);

    while (slots[i].key != NULL)
        i = (i + 1) & (cap - 1);
    slots[i] = s;
}

static void
grow(sl_strmap_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    sl_strmap_slot_t *ns = sl_calloc(ncap, sizeof(*ns));

    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key != NULL)
            insert_slot(ns, ncap, m->slots[i]);
    sl_free(m->slots);
    m->slots = ns;
    m->cap = ncap;
}

void *
sl__strmap_get(const sl_strmap_t *m, const char *key)
{
    sl_strmap_slot_t *s = find(m, key, hash_str(key));

    return s ? s->val : NULL;
}

void *
sl__strmap_put(sl_strmap_t *m, const char *key, void *val)
{
    size_t h = hash_str(key);
    sl_strmap_slot_t *s = find(m, key, h);
    sl_strmap_slot_t ns;

    if (s != NULL) {
        void *old = s->val;

        s->val = val;
        return old;
    }
    if ((m->n + 1) * 4 > m->cap * 3)
        grow(m);
    ns.key = sl_strdup(key);
    ns.hash = h;
    ns.val = val;
    insert_slot(m->slots, m->cap, ns);
    m->n++;
    return NULL;
}

void *
sl__strmap_del(sl_strmap_t *m, const char *key)
{
    sl_strmap_slot_t *s = find(m, key, hash_str(key));
    size_t i, j, mask = m->cap - 1;
    void *val;

    if (s == NULL)
        return NULL;
    val = s->val;
    sl_free(s->key);
    s->key = NULL;
    m->n--;
    /* Backward shift: move later members of the probe run into the hole. */
    i = (size_t)(s - m->slots);
    for (j = (i + 1) & mask; m->slots[j].key != NULL; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;

        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->slots[i] = m->slots[j];
            m->slots[j].key = NULL;
            i = j;
        }
    }
    return val;
}

bool
sl__strmap_next(const sl_strmap_t *m, size_t *pos, const char **key, void **val)
{
    while (*pos < m->cap) {
        sl_strmap_slot_t *s = &m->slots[(*pos)++];

        if (s->key != NULL) {
            *key = s->key;
            if (val)
                *val = s->val;
            return true;
        }
    }
    return false;
}
