/* vheap.c - the deadline heap behind visibility timeouts, delays and retention.
 * Millions of in-flight messages each need "wake me at T". A libevent timer each
 * would cost one event per message, so all deadlines of a store share one binary
 * min-heap and the loop arms one timer for the earliest. Nodes store their heap
 * index, so delete and change-visibility are O(log n) rather than a scan. */
#include "vheap.h"

#include "sluice/mem.h"

void
sl__vheap_init(sl_vheap_t *h)
{
    h->v = NULL;
    h->n = h->cap = 0;
}

void
sl__vheap_deinit(sl_vheap_t *h)
{
    sl_free(h->v);
    sl__vheap_init(h);
}

static inline void
place(sl_vheap_t *h, size_t i, sl_vheap_node_t *n)
{
    h->v[i] = n;
    n->idx = i;
}

static void
sift_up(sl_vheap_t *h, size_t i)
{
    sl_vheap_node_t *n = h->v[i];

    while (i > 0) {
        size_t p = (i - 1) / 2;

        if (h->v[p]->key <= n->key)
            break;
        place(h, i, h->v[p]);
        i = p;
    }
    place(h, i, n);
}

static void
sift_down(sl_vheap_t *h, size_t i)
{
    sl_vheap_node_t *n = h->v[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1]->key < h->v[c]->key)
            c++;
        if (n->key <= h->v[c]->key)
            break;
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, n);
}

void
sl__vheap_set(sl_vheap_t *h, sl_vheap_node_t *n, int64_t key)
{
    if (n->idx != SL_VHEAP_NONE) {
        int64_t old = n->key;

        n->key = key;
        if (key < old)
            sift_up(h, n->idx);
        else if (key > old)
            sift_down(h, n->idx);
        return;
    }
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = sl_realloc(h->v, h->cap * sizeof(*h->v));
    }
    n->key = key;
    place(h, h->n++, n);
    sift_up(h, h->n - 1);
}

void
sl__vheap_remove(sl_vheap_t *h, sl_vheap_node_t *n)
{
    size_t i = n->idx;
    sl_vheap_node_t *last;

    if (i == SL_VHEAP_NONE)
        return;
    sl_assert(i < h->n && h->v[i] == n);
    n->idx = SL_VHEAP_NONE;
    last = h->v[--h->n];
    if (i == h->n)
        return;
    place(h, i, last);
    if (i > 0 && h->v[(i - 1) / 2]->key > last->key)
        sift_up(h, i);
    else
        sift_down(h, i);
}

sl_vheap_node_t *
sl__vheap_pop_due(sl_vheap_t *h, int64_t now)
{
    sl_vheap_node_t *n;

    if (h->n == 0 || h->v[0]->key > now)
        return NULL;
    n = h->v[0];
    sl__vheap_remove(h, n);
    return n;
}
