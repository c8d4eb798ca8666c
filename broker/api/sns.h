/* sns.h - the SNS service: every SNS operation, implemented once against JSON
 * input and output objects (api/sns_query.h converts the query protocol; the
 * native API maps onto the same calls). Topics and subscriptions are written
 * to the store as metadata documents and then handed to the fanout, which
 * keeps them for publishing. */
#ifndef SLUICE_API_SNS_H
#define SLUICE_API_SNS_H

#include "../../triggers/fanout.h"
#include "api.h"
#include "sluice/store.h"

#include <jansson.h>

typedef struct sl_sns sl_sns_t;
typedef struct sl_sns_call sl_sns_call_t;

/* New service over store and fanout (both borrowed). Calls made before the
 * fanout's first load wait for sl_sns_ready; after it, calls made while the
 * fanout has not yet loaded (the store was down at start) answer 503
 * ServiceUnavailable. Caller destroys. */
sl_sns_t *sl_sns_create(sl_store_t *store, sl_fanout_t *fanout);
/* The fanout has loaded: run the calls that waited. */
void sl_sns_ready(sl_sns_t *svc);
/* Pending calls are dropped without replies. NULL is a no-op. */
void sl_sns_destroy(sl_sns_t *svc);

struct evbuffer;
/* Appends the fanout's counters as Prometheus text (sluice_topic_*). */
void sl_sns_metrics(const sl_sns_t *svc, struct evbuffer *out);

/* The signing certificate (PEM, borrowed), or NULL while it is being made. */
const char *sl_sns_cert_pem(sl_sns_t *svc);

typedef void (*sl_sns_reply_fn)(void *arg, const sl_api_err_t *err, json_t *out);

/* Runs op with input in (borrowed). reply runs exactly once, possibly before
 * this returns (then NULL is returned), unless the returned pending call is
 * cancelled first. out NULL with err NULL: an operation without output. */
sl_sns_call_t *sl_sns_call(sl_sns_t *svc, const char *op, json_t *in, sl_sns_reply_fn reply,
                           void *arg);
void sl_sns_call_cancel(sl_sns_call_t *c);

#endif
