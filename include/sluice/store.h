/* store.h - the asynchronous store interface every backend implements.
 *
 * A store holds queues (and, in later issues, topics, tables, streams and the
 * metadata of functions and triggers) plus an outbox of pending deliveries.
 * Every operation takes a completion callback. Two rules every backend keeps:
 *   - a callback never runs inside the call that submitted it: if the call
 *     returns an error the callback never runs; if it returns SL_OK the callback
 *     runs exactly once, later, on the store's event loop;
 *   - anything that must survive a restart lives in the store, not in the broker.
 * Results passed to callbacks are borrowed: valid until the callback returns.
 * Callers never include a concrete backend; they hold an sl_store_t and call
 * the sl_store_* functions below. Guarded by SLUICE_STORE_H. */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include "sluice/kv.h"
#include "sluice/message.h"
#include "sluice/queue.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct sl_store sl_store_t;

/* ---- Results ---- */

/* Why one entry of a send was refused (the store judges these: it owns the
 * queue's settings). */
typedef enum sl_send_err {
    SL_SEND_OK = 0,
    SL_SEND_TOO_LONG,           /* over the queue's MaximumMessageSize */
    SL_SEND_NEED_GROUP_ID,      /* FIFO queue, no MessageGroupId */
    SL_SEND_NEED_DEDUP_ID,      /* FIFO queue without content-based dedup, no id */
    SL_SEND_DELAY_ON_FIFO,      /* per-message DelaySeconds on a FIFO queue */
    SL_SEND_NOT_FIFO_FIELD,     /* MessageDeduplicationId on a standard queue */
} sl_send_err_t;

typedef struct sl_send_result {
    sl_send_err_t err;
    char id[SL_MSG_ID_LEN + 1];     /* the stored id (a duplicate reports the first's) */
    uint64_t seq;                   /* FIFO SequenceNumber; 0 on standard queues */
} sl_send_result_t;

typedef struct sl_received {
    const sl_msg_t *msg;
    const char *receipt;            /* opaque receipt handle */
} sl_received_t;

/* One change-visibility request inside a batch. */
typedef struct sl_vis_change {
    const char *receipt;
    uint32_t visibility_ms;         /* from now; 0: visible at once. Milliseconds, so a
                                     * trigger's retry backoff is not rounded to seconds
                                     * (the SQS API passes seconds * 1000). */
} sl_vis_change_t;

typedef struct sl_recv_opts {
    uint32_t max;                   /* messages wanted, >= 1 */
    int32_t visibility_s;           /* -1 = the queue's VisibilityTimeout */
} sl_recv_opts_t;

/* An outbox entry: a pending delivery that must survive a restart. */
typedef struct sl_outbox_item {
    const char *id;
    const char *kind;               /* which consumer handles it, e.g. "fanout" */
    const void *payload;
    size_t len;
    uint32_t attempts;              /* claims so far, including this one */
} sl_outbox_item_t;

/* ---- Callbacks (status is SL_OK or an SL_E* code) ---- */

typedef void (*sl_store_done_cb)(void *arg, int status);
typedef void (*sl_store_info_cb)(void *arg, int status, const sl_queue_info_t *info);
typedef void (*sl_store_names_cb)(void *arg, int status, char *const *names, size_t n);
typedef void (*sl_store_send_cb)(void *arg, int status, const sl_send_result_t *res, size_t n);
typedef void (*sl_store_recv_cb)(void *arg, int status, const sl_received_t *msgs, size_t n);
/* rcs[i]: SL_OK, SL_EPROTO (malformed receipt), SL_ENOTFOUND (no such message
 * or not in flight any more under that receipt). */
typedef void (*sl_store_batch_cb)(void *arg, int status, const int *rcs, size_t n);
typedef void (*sl_store_outbox_cb)(void *arg, int status, const sl_outbox_item_t *items, size_t n);
/* One metadata document (JSON text), or all of a kind (names[i] with docs[i]). */
typedef void (*sl_store_doc_cb)(void *arg, int status, const char *doc, size_t len);
typedef void (*sl_store_docs_cb)(void *arg, int status, char *const *names, char *const *docs,
                                 size_t n);
/* Called on the loop when queue may have messages to receive (after a send,
 * after delays and visibility timeouts end). Long polls wait on it. */
typedef void (*sl_store_notify_fn)(void *arg, const char *queue);

/* ---- The vtable a backend fills in ---- */

typedef struct sl_store_ops {
    const char *name;
    void (*destroy)(sl_store_t *s);
    int (*queue_create)(sl_store_t *s, const char *name, const sl_queue_cfg_t *cfg,
                        const sl_kvlist_t *tags, sl_store_info_cb cb, void *arg);
    int (*queue_get)(sl_store_t *s, const char *name, sl_store_info_cb cb, void *arg);
    int (*queue_set)(sl_store_t *s, const char *name, const sl_queue_cfg_t *cfg,
                     sl_store_done_cb cb, void *arg);
    int (*queue_tag)(sl_store_t *s, const char *name, const sl_kvlist_t *set,
                     const char *const *remove, size_t nremove, sl_store_done_cb cb, void *arg);
    int (*queue_delete)(sl_store_t *s, const char *name, sl_store_done_cb cb, void *arg);
    int (*queue_list)(sl_store_t *s, const char *prefix, sl_store_names_cb cb, void *arg);
    int (*queue_dlq_sources)(sl_store_t *s, const char *dlq, sl_store_names_cb cb, void *arg);
    int (*queue_purge)(sl_store_t *s, const char *name, sl_store_done_cb cb, void *arg);
    int (*send)(sl_store_t *s, const char *queue, const sl_msg_in_t *msgs, size_t n,
                sl_store_send_cb cb, void *arg);
    int (*receive)(sl_store_t *s, const char *queue, const sl_recv_opts_t *opts,
                   sl_store_recv_cb cb, void *arg);
    int (*delete_batch)(sl_store_t *s, const char *queue, const char *const *receipts,
                        size_t n, sl_store_batch_cb cb, void *arg);
    int (*change_visibility)(sl_store_t *s, const char *queue, const sl_vis_change_t *v,
                             size_t n, sl_store_batch_cb cb, void *arg);
    int (*outbox_append)(sl_store_t *s, const char *kind, const void *payload, size_t len,
                         int64_t delay_ms, sl_store_done_cb cb, void *arg);
    int (*outbox_claim)(sl_store_t *s, size_t max, int64_t lease_ms, sl_store_outbox_cb cb,
                        void *arg);
    int (*outbox_ack)(sl_store_t *s, const char *id, sl_store_done_cb cb, void *arg);
    int (*outbox_retry)(sl_store_t *s, const char *id, int64_t delay_ms, sl_store_done_cb cb,
                        void *arg);
    int (*dead_letter)(sl_store_t *s, const char *queue, const char *receipt,
                       const sl_msg_attr_t *extra, size_t nextra, sl_store_done_cb cb, void *arg);
    int (*meta_put)(sl_store_t *s, const char *kind, const char *name, const char *doc,
                    size_t len, sl_store_done_cb cb, void *arg);
    int (*meta_get)(sl_store_t *s, const char *kind, const char *name, sl_store_doc_cb cb,
                    void *arg);
    int (*meta_list)(sl_store_t *s, const char *kind, sl_store_docs_cb cb, void *arg);
    int (*meta_delete)(sl_store_t *s, const char *kind, const char *name, sl_store_done_cb cb,
                       void *arg);
} sl_store_ops_t;

#define SL_STORE_MAX_LISTENERS 8

/* Every backend's handle starts with this. Backends call notify(notify_arg, q);
 * store.c points it at a fan-out over the listeners. */
struct sl_store {
    const sl_store_ops_t *ops;
    struct event_base *base;
    sl_store_notify_fn notify;
    void *notify_arg;
    struct {
        sl_store_notify_fn fn;
        void *arg;
    } listeners[SL_STORE_MAX_LISTENERS];
    size_t nlisteners;
};

/* Opens the backend a URL names: "memory" (or "memory://"). Later issues add
 * redis:// and kafka://. Returns SL_OK and a new store in *out (caller
 * destroys), SL_EINVAL for an unknown or malformed URL (errbuf says why). */
int sl_store_open(struct event_base *base, const char *url, sl_store_t **out,
                  char *errbuf, size_t errlen);
void sl_store_destroy(sl_store_t *s);       /* NULL is a no-op; pending callbacks never run */
/* Adds a listener for "queue may have messages" notifications (long polls,
 * trigger pollers). Returns SL_OK or SL_EFULL past SL_STORE_MAX_LISTENERS. */
int sl_store_listen(sl_store_t *s, sl_store_notify_fn fn, void *arg);
void sl_store_unlisten(sl_store_t *s, sl_store_notify_fn fn, void *arg);
/* Replaces every listener with fn (NULL: none). */
void sl_store_set_notify(sl_store_t *s, sl_store_notify_fn fn, void *arg);

/* ---- Queue operations ----
 * Each returns SL_OK (callback will run once) or an error (it will not).
 * Status codes the callbacks see: SL_ENOTFOUND (no such queue), SL_EEXIST
 * (create: exists with other settings), SL_EFULL (send: the batch's total size
 * exceeds the queue's MaximumMessageSize), SL_EBACKEND. */

int sl_store_queue_create(sl_store_t *s, const char *name, const sl_queue_cfg_t *cfg,
                          const sl_kvlist_t *tags, sl_store_info_cb cb, void *arg);
int sl_store_queue_get(sl_store_t *s, const char *name, sl_store_info_cb cb, void *arg);
/* Replaces the whole configuration (callers merge first). */
int sl_store_queue_set(sl_store_t *s, const char *name, const sl_queue_cfg_t *cfg,
                       sl_store_done_cb cb, void *arg);
int sl_store_queue_tag(sl_store_t *s, const char *name, const sl_kvlist_t *set,
                       const char *const *remove, size_t nremove, sl_store_done_cb cb, void *arg);
int sl_store_queue_delete(sl_store_t *s, const char *name, sl_store_done_cb cb, void *arg);
/* Names in lexical order; prefix may be NULL. */
int sl_store_queue_list(sl_store_t *s, const char *prefix, sl_store_names_cb cb, void *arg);
/* Queues whose RedrivePolicy names dlq. */
int sl_store_queue_dlq_sources(sl_store_t *s, const char *dlq, sl_store_names_cb cb, void *arg);
int sl_store_queue_purge(sl_store_t *s, const char *name, sl_store_done_cb cb, void *arg);

/* Stores n messages atomically per entry. res[i].err says why an entry was refused. */
int sl_store_send(sl_store_t *s, const char *queue, const sl_msg_in_t *msgs, size_t n,
                  sl_store_send_cb cb, void *arg);
/* Hands out up to opts->max visible messages, each hidden for the visibility
 * timeout and counted as received. A message received more than its queue's
 * maxReceiveCount moves to the dead-letter queue in the same step instead. */
int sl_store_receive(sl_store_t *s, const char *queue, const sl_recv_opts_t *opts,
                     sl_store_recv_cb cb, void *arg);
int sl_store_delete_batch(sl_store_t *s, const char *queue, const char *const *receipts,
                          size_t n, sl_store_batch_cb cb, void *arg);
int sl_store_change_visibility(sl_store_t *s, const char *queue, const sl_vis_change_t *v,
                               size_t n, sl_store_batch_cb cb, void *arg);

/* Moves the in-flight message that receipt names into its queue's dead-letter
 * queue (from the RedrivePolicy) now, adding the extra message attributes (a
 * same-named attribute is replaced; these do not count against the sender's
 * limit of 10). Used by triggers when a failed message has used up its
 * receives. Status: SL_OK, SL_ENOTFOUND (no such queue or message, stale
 * receipt, or no dead-letter queue), SL_EPROTO (malformed receipt). */
int sl_store_dead_letter(sl_store_t *s, const char *queue, const char *receipt,
                         const sl_msg_attr_t *extra, size_t nextra, sl_store_done_cb cb,
                         void *arg);

/* ---- Metadata: small JSON documents by kind ("function", "trigger", ...) and
 * name. put replaces; get answers SL_ENOTFOUND when absent; list gives every
 * document of a kind in name order; delete answers SL_ENOTFOUND when absent. */
int sl_store_meta_put(sl_store_t *s, const char *kind, const char *name, const char *doc,
                      size_t len, sl_store_done_cb cb, void *arg);
int sl_store_meta_get(sl_store_t *s, const char *kind, const char *name, sl_store_doc_cb cb,
                      void *arg);
int sl_store_meta_list(sl_store_t *s, const char *kind, sl_store_docs_cb cb, void *arg);
int sl_store_meta_delete(sl_store_t *s, const char *kind, const char *name,
                         sl_store_done_cb cb, void *arg);

/* ---- Outbox: pending deliveries that survive a restart ----
 * append: due after delay_ms. claim: up to max due items, each leased for
 * lease_ms (an unacked item becomes claimable again when its lease ends).
 * ack: done, remove. retry: release the lease, due again after delay_ms. */
int sl_store_outbox_append(sl_store_t *s, const char *kind, const void *payload, size_t len,
                           int64_t delay_ms, sl_store_done_cb cb, void *arg);
int sl_store_outbox_claim(sl_store_t *s, size_t max, int64_t lease_ms, sl_store_outbox_cb cb,
                          void *arg);
int sl_store_outbox_ack(sl_store_t *s, const char *id, sl_store_done_cb cb, void *arg);
int sl_store_outbox_retry(sl_store_t *s, const char *id, int64_t delay_ms, sl_store_done_cb cb,
                          void *arg);

#endif
