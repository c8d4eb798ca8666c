/* memory.h - the embedded (in-process) store backend. */
#ifndef SLUICE_STORE_MEMORY_H
#define SLUICE_STORE_MEMORY_H

#include "sluice/store.h"

#include <stdint.h>

/* Epoch milliseconds; tests pass their own to drive time. */
typedef int64_t (*sl_memstore_clock_fn)(void);

/* New memory store on base (caller destroys with sl_store_destroy). clock may
 * be NULL for the wall clock. */
int sl_memstore_create(struct event_base *base, sl_memstore_clock_fn clock, sl_store_t **out);
/* Processes due deadlines now (tests that drive the clock call this). */
void sl_memstore_tick(sl_store_t *s);

#endif
