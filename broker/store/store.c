/* store.c - opening a backend by URL and the thin dispatch to its vtable.
 * Callers use these functions only; they never include a concrete backend. */
#include "sluice/store.h"

#include "memory.h"
#include "redis.h"
#include "sluice/error.h"

#include <stdio.h>
#include <string.h>

int
sl_store_open(struct event_base *base, const char *url, sl_store_t **out, char *errbuf,
              size_t errlen)
{
    if (strcmp(url, "memory") == 0 || strcmp(url, "memory://") == 0)
        return sl_memstore_create(base, NULL, out);
    if (strncmp(url, "redis://", 8) == 0 || strncmp(url, "rediss://", 9) == 0)
        return sl_redisstore_create(base, url, out, errbuf, errlen);
    if (strncmp(url, "kafka://", 8) == 0) {
        snprintf(errbuf, errlen, "store kafka is not available in this build yet");
        return SL_EINVAL;
    }
    snprintf(errbuf, errlen, "unknown store \"%s\" (expected memory or redis://HOST:PORT)",
             url);
    return SL_EINVAL;
}

void
sl_store_destroy(sl_store_t *s)
{
    if (s != NULL)
        s->ops->destroy(s);
}

static void
fan_out(void *arg, const char *queue)
{
    sl_store_t *s = arg;

    /* By index, re-reading the count: a listener may unlisten itself. */
    for (size_t i = 0; i < s->nlisteners; i++)
        s->listeners[i].fn(s->listeners[i].arg, queue);
}

void
sl_store_set_notify(sl_store_t *s, sl_store_notify_fn fn, void *arg)
{
    s->nlisteners = 0;
    s->notify = NULL;
    if (fn != NULL)
        sl_store_listen(s, fn, arg);
}

int
sl_store_listen(sl_store_t *s, sl_store_notify_fn fn, void *arg)
{
    if (s->nlisteners == SL_STORE_MAX_LISTENERS)
        return SL_EFULL;
    s->listeners[s->nlisteners].fn = fn;
    s->listeners[s->nlisteners].arg = arg;
    s->nlisteners++;
    s->notify = fan_out;
    s->notify_arg = s;
    return SL_OK;
}

void
sl_store_unlisten(sl_store_t *s, sl_store_notify_fn fn, void *arg)
{
    for (size_t i = 0; i < s->nlisteners; i++) {
        if (s->listeners[i].fn == fn && s->listeners[i].arg == arg) {
            s->listeners[i] = s->listeners[--s->nlisteners];
            break;
        }
    }
    if (s->nlisteners == 0)
        s->notify = NULL;
}

int
sl_store_queue_create(sl_store_t *s, const char *name, const sl_queue_cfg_t *cfg,
                      const sl_kvlist_t *tags, sl_store_info_cb cb, void *arg)
{
    return s->ops->queue_create(s, name, cfg, tags, cb, arg);
}

int
sl_store_queue_get(sl_store_t *s, const char *name, sl_store_info_cb cb, void *arg)
{
    return s->ops->queue_get(s, name, cb, arg);
}

int
sl_store_queue_set(sl_store_t *s, const char *name, const sl_queue_cfg_t *cfg,
                   sl_store_done_cb cb, void *arg)
{
    return s->ops->queue_set(s, name, cfg, cb, arg);
}

int
sl_store_queue_tag(sl_store_t *s, const char *name, const sl_kvlist_t *set,
                   const char *const *remove, size_t nremove, sl_store_done_cb cb, void *arg)
{
    return s->ops->queue_tag(s, name, set, remove, nremove, cb, arg);
}

int
sl_store_queue_delete(sl_store_t *s, const char *name, sl_store_done_cb cb, void *arg)
{
    return s->ops->queue_delete(s, name, cb, arg);
}

int
sl_store_queue_list(sl_store_t *s, const char *prefix, sl_store_names_cb cb, void *arg)
{
    return s->ops->queue_list(s, prefix, cb, arg);
}

int
sl_store_queue_dlq_sources(sl_store_t *s, const char *dlq, sl_store_names_cb cb, void *arg)
{
    return s->ops->queue_dlq_sources(s, dlq, cb, arg);
}

int
sl_store_queue_purge(sl_store_t *s, const char *name, sl_store_done_cb cb, void *arg)
{
    return s->ops->queue_purge(s, name, cb, arg);
}

int
sl_store_send(sl_store_t *s, const char *queue, const sl_msg_in_t *msgs, size_t n,
              sl_store_send_cb cb, void *arg)
{
    return s->ops->send(s, queue, msgs, n, cb, arg);
}

int
sl_store_receive(sl_store_t *s, const char *queue, const sl_recv_opts_t *opts,
                 sl_store_recv_cb cb, void *arg)
{
    return s->ops->receive(s, queue, opts, cb, arg);
}

int
sl_store_delete_batch(sl_store_t *s, const char *queue, const char *const *receipts, size_t n,
                      sl_store_batch_cb cb, void *arg)
{
    return s->ops->delete_batch(s, queue, receipts, n, cb, arg);
}

int
sl_store_change_visibility(sl_store_t *s, const char *queue, const sl_vis_change_t *v,
                           size_t n, sl_store_batch_cb cb, void *arg)
{
    return s->ops->change_visibility(s, queue, v, n, cb, arg);
}

int
sl_store_outbox_append(sl_store_t *s, const char *kind, const void *payload, size_t len,
                       int64_t delay_ms, sl_store_done_cb cb, void *arg)
{
    return s->ops->outbox_append(s, kind, payload, len, delay_ms, cb, arg);
}

int
sl_store_outbox_claim(sl_store_t *s, size_t max, int64_t lease_ms, sl_store_outbox_cb cb,
                      void *arg)
{
    return s->ops->outbox_claim(s, max, lease_ms, cb, arg);
}

int
sl_store_outbox_ack(sl_store_t *s, const char *id, sl_store_done_cb cb, void *arg)
{
    return s->ops->outbox_ack(s, id, cb, arg);
}

int
sl_store_outbox_retry(sl_store_t *s, const char *id, int64_t delay_ms, sl_store_done_cb cb,
                      void *arg)
{
    return s->ops->outbox_retry(s, id, delay_ms, cb, arg);
}

/* Backends written before an operation existed leave its slot NULL; callers
 * then get SL_EINVAL at once (and no callback), never a crash. */
#define CALL_OPT(op, ...) (s->ops->op ? s->ops->op(s, __VA_ARGS__) : SL_EINVAL)

int
sl_store_dead_letter(sl_store_t *s, const char *queue, const char *receipt,
                     const sl_msg_attr_t *extra, size_t nextra, sl_store_done_cb cb, void *arg)
{
    return CALL_OPT(dead_letter, queue, receipt, extra, nextra, cb, arg);
}

int
sl_store_meta_put(sl_store_t *s, const char *kind, const char *name, const char *doc, size_t len,
                  sl_store_done_cb cb, void *arg)
{
    return CALL_OPT(meta_put, kind, name, doc, len, cb, arg);
}

int
sl_store_meta_get(sl_store_t *s, const char *kind, const char *name, sl_store_doc_cb cb,
                  void *arg)
{
    return CALL_OPT(meta_get, kind, name, cb, arg);
}

int
sl_store_meta_list(sl_store_t *s, const char *kind, sl_store_docs_cb cb, void *arg)
{
    return CALL_OPT(meta_list, kind, cb, arg);
}

int
sl_store_meta_delete(sl_store_t *s, const char *kind, const char *name, sl_store_done_cb cb,
                     void *arg)
{
    return CALL_OPT(meta_delete, kind, name, cb, arg);
}
