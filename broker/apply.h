/* apply.h - bring the store in line with sluice.yaml at start: create (or update) the
 * queues it declares, dead-letter queues first, then its topics and their subscriptions
 * (which name queues; a subscription already there with the same topic, protocol and
 * endpoint is kept, its declared attributes set), then load the functions and triggers
 * kept in the store, then put the ones the file declares, triggers last (they name
 * functions and queues).
 *
 * A step that fails because the store is unavailable (Redis not up yet, or restarting:
 * HTTP 503 from the SQS or SNS layer, SL_EBACKEND or SL_ETIMEDOUT from the registry) is retried
 * after a backoff that doubles from 100 ms to 5 s (consumers/retry.h), logged at warn on each try, so a
 * broker started before its Redis comes up anyway. Any other failure (a queue attribute
 * the SQS layer refuses, a trigger naming no function) ends the application with an
 * error. Everything runs on the loop; the broker serves requests meanwhile.
 * Guarded by SLUICE_APPLY_H. */
#ifndef SLUICE_APPLY_H
#define SLUICE_APPLY_H

#include <jansson.h>

struct event_base;
struct sl_sqs;
struct sl_sns;
struct sl_registry;
typedef struct sl_apply sl_apply_t;

/* Called once, on the loop: status SL_OK when everything is applied, or the error that
 * stopped it (logged already). */
typedef void (*sl_apply_done_cb)(void *arg, int status);

/* Starts applying queues, topics, functions and triggers (JSON arrays as sl_config_t
 * holds them; each may be NULL). The arrays are borrowed until done runs or
 * sl_apply_destroy. done never runs inside this call. */
sl_apply_t *sl_apply_start(struct event_base *base, struct sl_sqs *sqs, struct sl_sns *sns,
                           struct sl_registry *reg, json_t *queues, json_t *topics,
                           json_t *functions, json_t *triggers, sl_apply_done_cb done,
                           void *arg);

/* Cancels what is still pending (no callback runs after this) and frees. NULL: no-op.
 * Safe from inside done. */
void sl_apply_destroy(sl_apply_t *a);

#endif
