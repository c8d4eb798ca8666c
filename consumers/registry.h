/* registry.h - the functions and triggers a broker runs: their specs live in
 * the store (metadata documents "function" and "trigger"), their running parts
 * (an invoker per function, a poller per trigger) here. Everything the native
 * API and sluice.yaml do to functions and triggers goes through this module. */
#ifndef SLUICE_CONSUMERS_REGISTRY_H
#define SLUICE_CONSUMERS_REGISTRY_H

#include "sluice/store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
typedef struct sl_registry sl_registry_t;

/* status: SL_OK, SL_EINVAL (bad input; msg says why), SL_ENOTFOUND, SL_EEXIST
 * (conflict), SL_EBACKEND (store). out: the result document (borrowed), or NULL. */
typedef void (*sl_registry_cb)(void *arg, int status, const char *msg, json_t *out);

sl_registry_t *sl_registry_create(struct event_base *base, sl_store_t *store, const char *region,
                                  const char *account);
/* Starts the functions and triggers stored; done(arg, status) runs once, later. */
void sl_registry_load(sl_registry_t *r, void (*done)(void *arg, int status), void *arg);

/* Each runs cb exactly once, later (never inside the call). */
void sl_registry_function_put(sl_registry_t *r, const json_t *doc, sl_registry_cb cb, void *arg);
void sl_registry_function_get(sl_registry_t *r, const char *name, sl_registry_cb cb, void *arg);
void sl_registry_function_list(sl_registry_t *r, sl_registry_cb cb, void *arg);
void sl_registry_function_delete(sl_registry_t *r, const char *name, sl_registry_cb cb,
                                 void *arg);
/* Synchronous-style invoke (`sluice function invoke`): out is
 * {"status":"ok"|"error"|..., "payload": <parsed JSON or string>, "duration_ms", ...}. */
void sl_registry_function_invoke(sl_registry_t *r, const char *name, const char *payload,
                                 size_t len, sl_registry_cb cb, void *arg);
/* Recent output lines of a function's instances (a ring of the last 1000 lines, 1 MiB,
 * per function; see fnlog.h): those with seq > after (0: all), only the newest tail of
 * them (SIZE_MAX: no limit). out: {"function", "lines": [{"seq", "time" (epoch ms),
 * "instance", "stream" ("stdout"|"stderr"), "request" (id or null), "line"}], "next"
 * (the seq to pass as after next time), "missed" (lines after `after` already dropped)}.
 * SL_ENOTFOUND for an unknown function. */
void sl_registry_function_logs(sl_registry_t *r, const char *name, uint64_t after, size_t tail,
                               sl_registry_cb cb, void *arg);
void sl_registry_trigger_put(sl_registry_t *r, const json_t *doc, sl_registry_cb cb, void *arg);
void sl_registry_trigger_list(sl_registry_t *r, sl_registry_cb cb, void *arg);
void sl_registry_trigger_delete(sl_registry_t *r, const char *id, sl_registry_cb cb, void *arg);
/* Per trigger: spec summary, autoscaler state, counters, instances. */
json_t *sl_registry_stats(sl_registry_t *r);
/* Prometheus text for functions and triggers. */
void sl_registry_metrics(sl_registry_t *r, struct evbuffer *out);

/* Graceful: stop polling, let running invocations finish, stop instances. */
void sl_registry_shutdown(sl_registry_t *r, void (*done)(void *arg), void *arg);
void sl_registry_destroy(sl_registry_t *r);        /* NULL is a no-op */

#endif
