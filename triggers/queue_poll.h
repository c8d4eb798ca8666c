/* queue_poll.h - a queue trigger's poller: receives batches from one queue,
 * drops what the filter criteria reject (Lambda deletes them), invokes the
 * function with Lambda's SQS event, deletes what succeeded, and retries or
 * dead-letters what failed. Concurrency (batches in flight) follows the
 * trigger's autoscaler. */
#ifndef SLUICE_TRIGGERS_QUEUE_POLL_H
#define SLUICE_TRIGGERS_QUEUE_POLL_H

#include "../consumers/invoke.h"
#include "sluice/store.h"
#include "sluice/trigger.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct sl_scaler;
typedef struct sl_qpoll sl_qpoll_t;

typedef struct sl_qpoll_env {
    struct event_base *base;
    sl_store_t *store;
    const char *region;
    const char *account;
} sl_qpoll_env_t;

typedef struct sl_qpoll_stats {
    uint64_t invocations;       /* batches handed to the function */
    uint64_t errors;            /* batches that failed as a whole */
    uint64_t messages_ok;       /* messages deleted after success */
    uint64_t retries;           /* messages made visible again after a backoff */
    uint64_t dead_lettered;     /* messages moved to the DLQ with reasons */
    uint64_t filtered;          /* messages deleted unseen by the filter criteria */
    uint32_t in_flight;         /* batches being invoked now */
    uint32_t desired;           /* the autoscaler's concurrency */
    uint64_t backlog;           /* visible messages at the last tick */
    double arrival_rate, mean_duration_ms;
} sl_qpoll_stats_t;

/* New poller for spec (copied) feeding inv (borrowed; must outlive the
 * poller). Compiles the filter criteria; returns NULL with err filled when they
 * are invalid. Polling starts at once. */
sl_qpoll_t *sl_qpoll_create(const sl_qpoll_env_t *env, const sl_trigger_spec_t *spec,
                            sl_invoker_t *inv, char *err, size_t errlen);
/* Stops receiving; done runs (later) once no batch is in flight. */
void sl_qpoll_stop(sl_qpoll_t *p, void (*done)(void *arg), void *arg);
/* Immediate. Batches in flight are abandoned (their messages reappear after the
 * visibility timeout). NULL is a no-op. */
void sl_qpoll_destroy(sl_qpoll_t *p);
void sl_qpoll_stats(const sl_qpoll_t *p, sl_qpoll_stats_t *out);
const sl_trigger_spec_t *sl_qpoll_spec(const sl_qpoll_t *p);
/* The trigger's autoscaler, for /metrics; borrowed, valid while p is. */
const struct sl_scaler *sl_qpoll_scaler(const sl_qpoll_t *p);

#endif
