/* sqs.h - the SQS service: every SQS operation, implemented once against the
 * JSON 1.0 protocol's input and output objects. The HTTP front end converts the
 * query protocol to and from these (api/sqs_query.h); the native API maps its
 * own requests onto them too. */
#ifndef SLUICE_API_SQS_H
#define SLUICE_API_SQS_H

#include "api.h"
#include "sluice/store.h"

#include <jansson.h>
#include <stdbool.h>

struct event_base;
typedef struct sl_sqs sl_sqs_t;
typedef struct sl_sqs_call sl_sqs_call_t;

typedef struct sl_sqs_opts {
    const char *region;         /* default "us-east-1" */
    const char *account;        /* 12 digits; default "000000000000" */
    const char *advertise_url;  /* base of queue URLs, e.g. "http://sluice:9324"; NULL =
                                 * "http://" + the request's Host */
} sl_sqs_opts_t;

/* New service over store (borrowed; must outlive it). Caller destroys. */
sl_sqs_t *sl_sqs_create(struct event_base *base, sl_store_t *store, const sl_sqs_opts_t *o);
/* Pending calls are cancelled without replies. NULL is a no-op. */
void sl_sqs_destroy(sl_sqs_t *svc);

/* err is NULL on success, when out is the operation's output object. Both are
 * borrowed for the duration of the call. */
typedef void (*sl_sqs_reply_fn)(void *arg, const sl_api_err_t *err, json_t *out);

/* Runs operation op with input object in (borrowed; the call takes its own
 * reference). host is the request's Host header (for queue URLs; may be NULL).
 * reply runs exactly once, possibly before this returns. Returns the pending
 * call, or NULL when reply already ran. A pending call can be cancelled, after
 * which reply never runs. */
sl_sqs_call_t *sl_sqs_call(sl_sqs_t *svc, const char *op, json_t *in, const char *host,
                           sl_sqs_reply_fn reply, void *arg);
void sl_sqs_call_cancel(sl_sqs_call_t *c);

/* Whether op names an SQS operation this service runs. */
bool sl_sqs_is_action(const char *op);

/* The queue URL and ARN for name as this service hands them out (new strings). */
char *sl_sqs_queue_url(const sl_sqs_t *svc, const char *host, const char *name);
char *sl_sqs_queue_arn(const sl_sqs_t *svc, const char *name);

#endif
