/* mem.c - the allocator behind sl_malloc and friends.
 * Allocation failure of a fixed-size object is not recoverable in a broker that
 * owns all state in one process, so these abort with the size (as Redis's zmalloc
 * does). Sizes that come off the wire use sl_trymalloc and fail with an error.
 * Hooks let tests inject failures. */
#include "sluice/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sl_mem_hooks_t hooks = { malloc, realloc, free };

void
sl_mem_set_hooks(const sl_mem_hooks_t *h)
{
    if (h == NULL) {
        hooks.malloc_fn = malloc;
        hooks.realloc_fn = realloc;
        hooks.free_fn = free;
    } else {
        hooks = *h;
    }
}

static void
oom(size_t n)
{
    fprintf(stderr, "sluice: out of memory allocating %zu bytes\n", n);
    abort();
}

void *
sl_malloc(size_t n)
{
    void *p = hooks.malloc_fn(n ? n : 1);

    if (p == NULL)
        oom(n);
    return p;
}

void *
sl_trymalloc(size_t n)
{
    return hooks.malloc_fn(n ? n : 1);
}

void *
sl_calloc(size_t count, size_t n)
{
    void *p;

    if (n && count > (size_t)-1 / n)
        oom((size_t)-1);
    p = sl_malloc(count * n);
    memset(p, 0, count * n);
    return p;
}

void *
sl_realloc(void *p, size_t n)
{
    void *q = hooks.realloc_fn(p, n ? n : 1);

    if (q == NULL)
        oom(n);
    return q;
}

char *
sl_strndup(const char *s, size_t n)
{
    char *p = sl_malloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
sl_strdup(const char *s)
{
    return sl_strndup(s, strlen(s));
}

void *
sl_memdup(const void *src, size_t n)
{
    void *p = sl_malloc(n);

    if (n)
        memcpy(p, src, n);
    return p;
}

void
sl_free(void *p)
{
    if (p != NULL)
        hooks.free_fn(p);
}

void
sl__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "sluice: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
