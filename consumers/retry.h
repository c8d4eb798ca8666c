/* retry.h - backoff between attempts: exponential with equal jitter. */
#ifndef SLUICE_CONSUMERS_RETRY_H
#define SLUICE_CONSUMERS_RETRY_H

#include <stdint.h>

/* Delay before attempt+1 after attempt (1-based) failed: d = min(cap, base * 2^(attempt-1)),
 * then d/2 plus a random part of up to d/2 (rnd is any 64-bit random value). */
uint32_t sl_retry_backoff_ms(uint32_t attempt, uint32_t base_ms, uint32_t cap_ms, uint64_t rnd);

#endif
