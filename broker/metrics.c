/* metrics.c - counters kept by the front end and rendered, with per-queue
 * message gauges fetched from the store, in Prometheus text format. Counters
 * live in a map keyed by "protocol\0op\0outcome" so a new operation needs no
 * registration. Rendering fans out one queue_get per queue and answers when
 * the last one returns. */
#include "metrics.h"

#include "sluice/error.h"
#include "sluice/mem.h"
#include "strmap.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sl_metrics {
    sl_strmap_t counters;       /* "protocol|op|outcome" -> uint64_t* */
};

typedef struct render {
    sl_metrics_t *m;
    sl_store_t *store;
    sl_metrics_done_fn done;
    void *arg;
    struct evbuffer *body;
    size_t pending;
} render_t;

sl_metrics_t *
sl_metrics_create(void)
{
    sl_metrics_t *m = sl_calloc(1, sizeof(*m));

    sl__strmap_init(&m->counters);
    return m;
}

void
sl_metrics_destroy(sl_metrics_t *m)
{
    size_t pos = 0;
    const char *k;
    void *v;

    if (m == NULL)
        return;
    while (sl__strmap_next(&m->counters, &pos, &k, &v))
        sl_free(v);
    sl__strmap_deinit(&m->counters);
    sl_free(m);
}

void
sl_metrics_count(sl_metrics_t *m, const char *protocol, const char *op, const char *outcome)
{
    char key[256];
    uint64_t *c;

    snprintf(key, sizeof(key), "%s|%s|%s", protocol, op, outcome);
    if ((c = sl__strmap_get(&m->counters, key)) == NULL) {
        c = sl_calloc(1, sizeof(*c));
        sl__strmap_put(&m->counters, key, c);
    }
    (*c)++;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
render_counters(sl_metrics_t *m, struct evbuffer *b)
{
    const char **keys = sl_calloc(m->counters.n + 1, sizeof(*keys));
    size_t pos = 0, n = 0;
    const char *k;

    while (sl__strmap_next(&m->counters, &pos, &k, NULL))
        keys[n++] = k;
    qsort(keys, n, sizeof(*keys), cmp_str);
    evbuffer_add_printf(b, "# HELP sluice_requests_total API requests by protocol, operation "
                           "and outcome.\n# TYPE sluice_requests_total counter\n");
    for (size_t i = 0; i < n; i++) {
        char proto[64], op[96], outcome[96];
        uint64_t *c = sl__strmap_get(&m->counters, keys[i]);

        if (sscanf(keys[i], "%63[^|]|%95[^|]|%95s", proto, op, outcome) != 3)
            continue;
        evbuffer_add_printf(b, "sluice_requests_total{protocol=\"%s\",op=\"%s\",outcome=\"%s\"} "
                               "%" PRIu64 "\n", proto, op, outcome, *c);
    }
    sl_free(keys);
}

static void
render_finish(render_t *r)
{
    r->done(r->arg, r->body);
    evbuffer_free(r->body);
    sl_free(r);
}

static void
on_queue(void *arg, int status, const sl_queue_info_t *info)
{
    render_t *r = arg;

    if (status == SL_OK) {
        evbuffer_add_printf(r->body, "sluice_queue_messages{queue=\"%s\",state=\"visible\"} %"
                            PRIu64 "\n", info->name, info->visible);
        evbuffer_add_printf(r->body, "sluice_queue_messages{queue=\"%s\",state=\"inflight\"} %"
                            PRIu64 "\n", info->name, info->inflight);
        evbuffer_add_printf(r->body, "sluice_queue_messages{queue=\"%s\",state=\"delayed\"} %"
                            PRIu64 "\n", info->name, info->delayed);
    }
    if (--r->pending == 0)
        render_finish(r);
}

static void
on_names(void *arg, int status, char *const *names, size_t n)
{
    render_t *r = arg;

    evbuffer_add_printf(r->body, "# HELP sluice_queue_messages Messages per queue and state.\n"
                                 "# TYPE sluice_queue_messages gauge\n");
    evbuffer_add_printf(r->body, "sluice_queues %zu\n", status == SL_OK ? n : 0);
    r->pending = 1;
    for (size_t i = 0; status == SL_OK && i < n; i++)
        if (sl_store_queue_get(r->store, names[i], on_queue, r) == SL_OK)
            r->pending++;
    if (--r->pending == 0)
        render_finish(r);
}

int
sl_metrics_render(sl_metrics_t *m, sl_store_t *store, sl_metrics_done_fn done, void *arg)
{
    render_t *r = sl_calloc(1, sizeof(*r));
    int rc;

    r->m = m;
    r->store = store;
    r->done = done;
    r->arg = arg;
    r->body = evbuffer_new();
    render_counters(m, r->body);
    if ((rc = sl_store_queue_list(store, NULL, on_names, r)) != SL_OK) {
        evbuffer_free(r->body);
        sl_free(r);
    }
    return rc;
}
