/* kv.c - ordered string pairs (tags, pass-through attributes). */
#include "sluice/kv.h"
#include "sluice/mem.h"

#include <string.h>

void
sl_kvlist_init(sl_kvlist_t *l)
{
    l->v = NULL;
    l->n = l->cap = 0;
}

void
sl_kvlist_deinit(sl_kvlist_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        sl_free(l->v[i].key);
        sl_free(l->v[i].val);
    }
    sl_free(l->v);
    sl_kvlist_init(l);
}

static sl_kv_t *
find(const sl_kvlist_t *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].key, key) == 0)
            return &l->v[i];
    return NULL;
}

void
sl_kvlist_set(sl_kvlist_t *l, const char *key, const char *val)
{
    sl_kv_t *kv = find(l, key);

    if (kv != NULL) {
        sl_free(kv->val);
        kv->val = sl_strdup(val);
        return;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->v = sl_realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n].key = sl_strdup(key);
    l->v[l->n].val = sl_strdup(val);
    l->n++;
}

const char *
sl_kvlist_get(const sl_kvlist_t *l, const char *key)
{
    sl_kv_t *kv = find(l, key);

    return kv ? kv->val : NULL;
}

bool
sl_kvlist_del(sl_kvlist_t *l, const char *key)
{
    sl_kv_t *kv = find(l, key);
    size_t i;

    if (kv == NULL)
        return false;
    i = (size_t)(kv - l->v);
    sl_free(kv->key);
    sl_free(kv->val);
    memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
    l->n--;
    return true;
}

void
sl_kvlist_copy(sl_kvlist_t *dst, const sl_kvlist_t *src)
{
    for (size_t i = 0; i < src->n; i++)
        sl_kvlist_set(dst, src->v[i].key, src->v[i].val);
}

bool
sl_kvlist_equal(const sl_kvlist_t *a, const sl_kvlist_t *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const char *v = sl_kvlist_get(b, a->v[i].key);

        if (v == NULL || strcmp(v, a->v[i].val) != 0)
            return false;
    }
    return true;
}
