/* trigger.h - a trigger (Lambda's event source mapping): a source wired to a
 * function, with batching, filtering, concurrency and retry settings.
 * Guarded by SLUICE_TRIGGER_H. */
#ifndef SLUICE_TRIGGER_H
#define SLUICE_TRIGGER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_TRIGGER_BATCH_MAX 10000
#define SL_TRIGGER_FIFO_BATCH_MAX 10
#define SL_TRIGGER_WINDOW_MAX_MS 300000

typedef struct sl_trigger_spec {
    char *id;                   /* UUID, chosen at creation */
    char *source;               /* "queue:NAME" */
    char *function;             /* function name */
    uint32_t batch_size;        /* 1..10000 (FIFO queues: 1..10); default 10 */
    uint32_t batch_window_ms;   /* 0..300000: wait this long to fill a batch; default 0 */
    bool report_batch_item_failures;
    char *filter;               /* FilterCriteria patterns: a JSON array of pattern objects
                                 * (or one object); NULL = every message */
    uint32_t max_concurrency;   /* batches in flight; 0 = the function's maximum */
    uint32_t retry_base_ms;     /* backoff after a failure: base * 2^(attempt-1) with full
                                 * jitter, capped; defaults 1000 and 60000 */
    uint32_t retry_cap_ms;
    bool enabled;               /* default true */
} sl_trigger_spec_t;

void sl_trigger_spec_init(sl_trigger_spec_t *t);                 /* defaults */
void sl_trigger_spec_deinit(sl_trigger_spec_t *t);
void sl_trigger_spec_copy(sl_trigger_spec_t *dst, const sl_trigger_spec_t *src);

/* Reads a trigger from its JSON document (as stored, and as the native API takes
 * it: {"id","source","function","batch_size","batch_window_ms",
 * "report_batch_item_failures","filter","max_concurrency","retry_base_ms",
 * "retry_cap_ms","enabled"}). Missing fields keep defaults. Returns true, or
 * false with err filled for bad values. */
bool sl_trigger_spec_from_json(sl_trigger_spec_t *t, const json_t *doc, char *err, size_t errlen);
/* New JSON document for t. */
json_t *sl_trigger_spec_to_json(const sl_trigger_spec_t *t);

#endif
