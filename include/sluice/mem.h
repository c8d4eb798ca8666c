/* mem.h - the allocator every sluice module uses.
 * sl_malloc and friends abort with the size on failure, so callers do not check.
 * Sizes read off the wire go through sl_trymalloc, which returns NULL instead.
 * All go through replaceable hooks so tests can inject failures.
 * Guarded by SLUICE_MEM_H. */
#ifndef SLUICE_MEM_H
#define SLUICE_MEM_H

#include <stddef.h>

void *sl_malloc(size_t n);
void *sl_calloc(size_t count, size_t n);
void *sl_realloc(void *p, size_t n);
char *sl_strdup(const char *s);
char *sl_strndup(const char *s, size_t n);
void *sl_memdup(const void *p, size_t n);
void sl_free(void *p);                          /* NULL is a no-op */
void *sl_trymalloc(size_t n);                   /* NULL on failure */

typedef struct sl_mem_hooks {
    void *(*malloc_fn)(size_t n);
    void *(*realloc_fn)(void *p, size_t n);
    void (*free_fn)(void *p);
} sl_mem_hooks_t;

/* Replaces the hooks; NULL restores libc's. Call before any allocation. */
void sl_mem_set_hooks(const sl_mem_hooks_t *hooks);

#define sl_assert(x) \
    do { if (!(x)) sl__assert_fail(#x, __FILE__, __LINE__); } while (0)
void sl__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

#endif
