/* redis.h - the Redis store backend: durable, and shared by every sluiced that
 * names the same Redis and prefix. */
#ifndef SLUICE_STORE_REDIS_H
#define SLUICE_STORE_REDIS_H

#include "sluice/store.h"

#include <stdbool.h>
#include <stddef.h>

/* New store on base for a URL
 *   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?prefix=P&timeout=MS]
 * (default port 6379, database 0, prefix "sluice:", command timeout 5000 ms).
 * Connects in the background and returns at once: SL_OK with the store in *out
 * (caller destroys with sl_store_destroy), or SL_EINVAL with the reason in
 * errbuf (rediss:// is refused: Debian's hiredis 0.14 has no TLS). Until Redis
 * answers, operations wait (connecting) or fail with SL_EBACKEND (down). */
int sl_redisstore_create(struct event_base *base, const char *url, sl_store_t **out,
                         char *errbuf, size_t errlen);

/* True when the command connection is ready (scripts loaded). For tests and
 * health checks. */
bool sl_redisstore_is_ready(const sl_store_t *s);

#endif
