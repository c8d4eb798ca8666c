/* jalloc.c - size-class free lists for jansson's small allocations.
 * jansson's free callback is not told the size, so each block carries a 16-byte
 * header (keeping malloc's alignment) naming its class. Each class keeps at most
 * SL_JALLOC_KEEP free blocks per thread; beyond that blocks go back to malloc, so
 * a burst cannot pin unbounded memory. Blocks above the largest class go
 * straight to malloc. Free lists are per thread: a block freed on another thread
 * simply joins that thread's list. */
#include "jalloc.h"

#include "sluice/mem.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define SL_JALLOC_KEEP 8192
#define HDR 16

static const size_t class_size[] = { 16, 32, 48, 64, 96, 128, 192, 256, 384, 512 };
#define NCLASS (sizeof(class_size) / sizeof(class_size[0]))
#define BIG 0xff

typedef struct blk {
    struct blk *next;
} blk_t;

static _Thread_local blk_t *free_list[NCLASS];
static _Thread_local unsigned free_count[NCLASS];

static unsigned
class_of(size_t n)
{
    for (unsigned c = 0; c < NCLASS; c++)
        if (n <= class_size[c])
            return c;
    return BIG;
}

static void *
j_malloc(size_t n)
{
    unsigned c = class_of(n);
    unsigned char *p;

    if (c != BIG && free_list[c] != NULL) {
        blk_t *b = free_list[c];

        free_list[c] = b->next;
        free_count[c]--;
        return b;
    }
    p = malloc(HDR + (c == BIG ? n : class_size[c]));
    if (p == NULL)
        return NULL;            /* jansson reports the failure */
    p[0] = (unsigned char)c;
    return p + HDR;
}

static void
j_free(void *ptr)
{
    unsigned char *p;
    unsigned c;

    if (ptr == NULL)
        return;
    p = (unsigned char *)ptr - HDR;
    c = p[0];
    if (c != BIG && free_count[c] < SL_JALLOC_KEEP) {
        blk_t *b = ptr;

        b->next = free_list[c];
        free_list[c] = b;
        free_count[c]++;
        return;
    }
    free(p);
}

void
sl_jalloc_install(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return;
#endif
#endif
    json_set_alloc_funcs(j_malloc, j_free);
}
