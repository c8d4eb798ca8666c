/* vheap.h - an intrusive min-heap of deadlines (epoch ms).
 * Embed an sl_vheap_node_t in whatever needs "wake me at T" and recover the
 * container with sl_container_of. Nodes remember their index, so removal and
 * re-keying are O(log n). Not thread-safe: one event loop owns a heap. */
#ifndef SLUICE_VHEAP_H
#define SLUICE_VHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_VHEAP_NONE ((size_t)-1)

typedef struct sl_vheap_node {
    int64_t key;        /* deadline, epoch ms */
    size_t idx;         /* position in the heap; SL_VHEAP_NONE when not in it */
} sl_vheap_node_t;

typedef struct sl_vheap {
    sl_vheap_node_t **v;
    size_t n;
    size_t cap;
} sl_vheap_t;

#define sl_container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

void sl__vheap_init(sl_vheap_t *h);
void sl__vheap_deinit(sl_vheap_t *h);              /* does not touch the nodes */
static inline void sl__vheap_node_init(sl_vheap_node_t *n) { n->idx = SL_VHEAP_NONE; }
static inline bool sl__vheap_node_is_queued(const sl_vheap_node_t *n)
{
    return n->idx != SL_VHEAP_NONE;
}
/* Inserts n with key, or re-keys it when it is already in the heap. */
void sl__vheap_set(sl_vheap_t *h, sl_vheap_node_t *n, int64_t key);
void sl__vheap_remove(sl_vheap_t *h, sl_vheap_node_t *n);   /* no-op when not queued */
static inline sl_vheap_node_t *sl__vheap_peek(const sl_vheap_t *h)
{
    return h->n ? h->v[0] : NULL;
}
/* Removes and returns the earliest node whose key <= now, or NULL. */
sl_vheap_node_t *sl__vheap_pop_due(sl_vheap_t *h, int64_t now);

#endif
