/* http.h - the broker's one HTTP port: routes SQS (query and JSON 1.0), the
 * native /v1 API, /healthz and /metrics. */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include "api/sqs.h"
#include "metrics.h"
#include "sluice/store.h"

#include <stddef.h>

struct event_base;
typedef struct sl_http sl_http_t;

/* Binds listen ("HOST:PORT"; port 0 picks a free one). Returns a new front end
 * (caller destroys) or NULL with errbuf filled. sqs, store and metrics are
 * borrowed. */
sl_http_t *sl_http_create(struct event_base *base, const char *listen, sl_sqs_t *sqs,
                          sl_store_t *store, sl_metrics_t *metrics, char *errbuf, size_t errlen);
/* Pending requests are dropped without replies. NULL is a no-op. */
void sl_http_destroy(sl_http_t *h);
struct sl_registry;
/* Serves /v1/functions, /v1/triggers and /v1/stats from r (borrowed), and adds
 * its figures to /metrics. */
void sl_http_set_registry(sl_http_t *h, struct sl_registry *r);
struct sl_sns;
/* Serves the SNS query protocol from sns (borrowed). */
void sl_http_set_sns(sl_http_t *h, struct sl_sns *sns);
/* The port actually bound. */
int sl_http_port(const sl_http_t *h);

#endif
