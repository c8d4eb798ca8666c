/* mqueue.h - one queue of the memory store, as a synchronous data structure.
 * Time is an input (now_ms) so unit tests drive it. Every queue of a store
 * shares the store's deadline heap; sl__mq_expire handles a due node of it.
 * Messages are reference counted: the queue holds one reference, and a receive
 * result may hold more so that a message stays readable until its callback ran. */
#ifndef SLUICE_MQUEUE_H
#define SLUICE_MQUEUE_H

#include "sluice/message.h"
#include "sluice/queue.h"
#include "sluice/store.h"
#include "vheap.h"

#include <stdbool.h>
#include <stdint.h>

#define SL_MQ_RECEIPT_LEN 40

typedef struct sl_mq sl_mq_t;
typedef struct sl_mmsg sl_mmsg_t;

/* New queue (caller destroys). cfg is copied. */
sl_mq_t *sl__mq_create(const char *name, const sl_queue_cfg_t *cfg, sl_vheap_t *heap,
                       int64_t now_ms);
/* Frees every message (those still referenced by results live on until unref). */
void sl__mq_destroy(sl_mq_t *q);
const char *sl__mq_name(const sl_mq_t *q);
const sl_queue_cfg_t *sl__mq_cfg(const sl_mq_t *q);
void sl__mq_set_cfg(sl_mq_t *q, const sl_queue_cfg_t *cfg, int64_t now_ms);   /* copied */
sl_kvlist_t *sl__mq_tags(sl_mq_t *q);
/* Fills info (borrowing from q). */
void sl__mq_info(sl_mq_t *q, sl_queue_info_t *info);
bool sl__mq_has_visible(const sl_mq_t *q);

/* Size check for a whole batch: SL_OK or SL_EFULL. */
int sl__mq_check_batch(const sl_mq_t *q, const sl_msg_in_t *msgs, size_t n);
/* Stores one message (or recognises a FIFO duplicate). Fills *res. Returns true
 * when a message became visible (long polls should wake). */
bool sl__mq_send(sl_mq_t *q, const sl_msg_in_t *m, int64_t now_ms, sl_send_result_t *res);
/* Takes up to max visible messages, makes them in flight for vis_s seconds
 * (-1 = queue default). Messages past the redrive limit move to dlq (when not
 * NULL) instead. out[i] gets a new reference each (sl__mmsg_unref when done),
 * receipts[i] the receipt handle. Returns the count. */
size_t sl__mq_receive(sl_mq_t *q, uint32_t max, int32_t vis_s, sl_mq_t *dlq, int64_t now_ms,
                      sl_mmsg_t **out, char (*receipts)[SL_MQ_RECEIPT_LEN + 1]);
/* SL_OK, SL_EPROTO (malformed or foreign receipt), SL_ENOTFOUND (gone or stale). */
int sl__mq_delete(sl_mq_t *q, const char *receipt, int64_t now_ms);
/* As delete; SL_ENOTFOUND also when not in flight. *visible set when it became visible. */
int sl__mq_change_visibility(sl_mq_t *q, const char *receipt, uint32_t vis_ms, int64_t now_ms,
                             bool *visible);
void sl__mq_purge(sl_mq_t *q);
/* Moves the message receipt names into dlq now, adding extra attributes.
 * SL_OK, SL_EPROTO (malformed or foreign receipt), SL_ENOTFOUND (gone, stale,
 * no usable dlq). */
int sl__mq_dead_letter(sl_mq_t *q, const char *receipt, sl_mq_t *dlq, const sl_msg_attr_t *extra,
                       size_t nextra, int64_t now_ms);

/* Handles a node popped from the shared heap. Returns its queue when a message
 * became visible there, else NULL. */
sl_mq_t *sl__mq_expire(sl_vheap_node_t *n, int64_t now_ms);

const sl_msg_t *sl__mmsg_view(const sl_mmsg_t *m);
void sl__mmsg_unref(sl_mmsg_t *m);

#endif
