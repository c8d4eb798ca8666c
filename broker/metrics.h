/* metrics.h - request counters and the Prometheus text of /metrics. */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include "sluice/store.h"

struct evbuffer;
typedef struct sl_metrics sl_metrics_t;

sl_metrics_t *sl_metrics_create(void);
void sl_metrics_destroy(sl_metrics_t *m);               /* NULL is a no-op */
/* Counts one request. outcome is "ok" or an error shape name. */
void sl_metrics_count(sl_metrics_t *m, const char *protocol, const char *op, const char *outcome);

typedef void (*sl_metrics_done_fn)(void *arg, struct evbuffer *body);
/* Renders every counter plus per-queue message gauges read from store. done
 * runs once, later, with the body (borrowed). Returns SL_OK or a store error
 * (done then never runs). */
int sl_metrics_render(sl_metrics_t *m, sl_store_t *store, sl_metrics_done_fn done, void *arg);

#endif
