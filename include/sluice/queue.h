/* queue.h - an SQS-style queue's settings and what the store reports of it.
 * The store is the authority on queue semantics (FIFO order, dedup, redrive);
 * this header holds the typed settings it works from. Attributes that sluice
 * stores but does not enforce (Policy, KmsMasterKeyId, ...) travel in `extra`
 * as the strings the client gave. Guarded by SLUICE_QUEUE_H. */
#ifndef SLUICE_QUEUE_H
#define SLUICE_QUEUE_H

#include "sluice/kv.h"

#include <stdbool.h>
#include <stdint.h>

#define SL_QUEUE_NAME_MAX 80                 /* without nothing: ".fifo" counts */
#define SL_QUEUE_DEFAULT_VISIBILITY_S 30
#define SL_QUEUE_DEFAULT_RETENTION_S 345600
#define SL_QUEUE_DEFAULT_MAX_SIZE 262144
#define SL_QUEUE_MAX_MAX_SIZE 1048576
#define SL_QUEUE_DEDUP_WINDOW_MS 300000

typedef struct sl_queue_cfg {
    bool fifo;
    bool content_dedup;               /* ContentBasedDeduplication */
    uint32_t visibility_s;            /* 0..43200 */
    uint32_t delay_s;                 /* 0..900 */
    uint32_t retention_s;             /* 60..1209600 */
    uint32_t max_size;                /* 1024..1048576 bytes */
    uint32_t wait_s;                  /* ReceiveMessageWaitTimeSeconds 0..20 */
    char *redrive_policy;             /* RedrivePolicy JSON text as stored, or NULL */
    char *dlq_name;                   /* parsed from RedrivePolicy, or NULL */
    uint32_t max_receives;            /* parsed from RedrivePolicy; 0 = none */
    sl_kvlist_t extra;                /* other attributes, stored and returned verbatim */
} sl_queue_cfg_t;

/* Defaults of a new queue (fifo false). */
void sl_queue_cfg_init(sl_queue_cfg_t *c);
void sl_queue_cfg_deinit(sl_queue_cfg_t *c);
void sl_queue_cfg_copy(sl_queue_cfg_t *dst, const sl_queue_cfg_t *src);  /* dst uninitialised */
bool sl_queue_cfg_equal(const sl_queue_cfg_t *a, const sl_queue_cfg_t *b);

/* What the store reports about one queue (borrowed for the callback). */
typedef struct sl_queue_info {
    const char *name;
    const sl_queue_cfg_t *cfg;
    const sl_kvlist_t *tags;
    int64_t created_s;                /* epoch seconds */
    int64_t modified_s;
    uint64_t visible;                 /* ApproximateNumberOfMessages */
    uint64_t inflight;                /* ...NotVisible */
    uint64_t delayed;                 /* ...Delayed */
} sl_queue_info_t;

/* True when name is a valid queue name: [A-Za-z0-9_-]{1,80}, where a FIFO
 * queue's ".fifo" suffix counts in the 80. */
bool sl_queue_name_is_valid(const char *name);

#endif
