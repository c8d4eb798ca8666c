/* redrive.h - dead-letter redrive: SQS "message move tasks", the engine behind
 * StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask and
 * `sluice redrive DLQ [--to QUEUE] [--rate N]`.
 *
 * A task moves the messages of a dead-letter queue (the source) to one destination
 * queue, or, without one, back to the queue each message was dead-lettered from. It
 * runs on the event loop at up to `rate` messages a second until a receive finds the
 * source empty, and is cancelled, or fails (a queue it needs was deleted). One active
 * task per source; the last SL_REDRIVE_HISTORY finished tasks of each source are kept
 * for listing. What happens to messages that cannot be moved: redrive.c's header.
 * Queue names, not ARNs: the SQS layer converts.
 * Not thread-safe: the loop that owns the store owns its redrive engine.
 * Guarded by SLUICE_CONSUMERS_REDRIVE_H. */
#ifndef SLUICE_CONSUMERS_REDRIVE_H
#define SLUICE_CONSUMERS_REDRIVE_H

#include "sluice/store.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;

#define SL_REDRIVE_RATE_MAX 500         /* MaxNumberOfMessagesPerSecond, 1..500 */
#define SL_REDRIVE_RATE_DEFAULT 500     /* when not given */
#define SL_REDRIVE_HISTORY 10           /* finished tasks kept per source */
#define SL_REDRIVE_NAME_MAX 96          /* queue names and handles, with the NUL */

/* Task statuses, as SQS spells them (static strings; compare with strcmp). */
#define SL_REDRIVE_RUNNING "RUNNING"
#define SL_REDRIVE_COMPLETED "COMPLETED"
#define SL_REDRIVE_CANCELLING "CANCELLING"
#define SL_REDRIVE_CANCELLED "CANCELLED"
#define SL_REDRIVE_FAILED "FAILED"

typedef struct sl_redrive sl_redrive_t;

/* One task as ListMessageMoveTasks reports it (a copy: the caller owns it). */
typedef struct sl_redrive_task_info {
    char handle[SL_REDRIVE_NAME_MAX];   /* TaskHandle; "" unless status is RUNNING */
    const char *status;                 /* one of SL_REDRIVE_RUNNING... (static) */
    char source[SL_REDRIVE_NAME_MAX];
    char dest[SL_REDRIVE_NAME_MAX];     /* "" = each message's original source queue */
    uint32_t rate;                      /* messages/s as given; 0 = not given */
    uint64_t moved;                     /* ApproximateNumberOfMessagesMoved */
    uint64_t to_move;                   /* the source's visible count when the task started */
    int64_t started_ms;                 /* epoch ms */
    char failure[160];                  /* FailureReason; "" unless status is FAILED */
    uint64_t skipped;                   /* received but left in the source: nowhere to
                                         * go, refused, or a FIFO duplicate (not in SQS) */
} sl_redrive_task_info_t;

/* New engine on base working on store (both borrowed: they must outlive it).
 * The caller destroys it. */
sl_redrive_t *sl_redrive_create(struct event_base *base, sl_store_t *store);
/* Stops every task and frees the engine; no callback runs after it. Store callbacks
 * still in flight are ignored when they arrive. May be called from inside a start
 * callback. NULL is a no-op. */
void sl_redrive_destroy(sl_redrive_t *r);

typedef void (*sl_redrive_start_cb)(void *arg, int status, const sl_redrive_task_info_t *info);

/* Starts a task moving source's messages to dest (NULL or "": back to their
 * original queues) at up to rate messages/s (0: SL_REDRIVE_RATE_DEFAULT). Checks
 * first, asynchronously, that source is a dead-letter queue (some queue's
 * RedrivePolicy names it), that dest exists and is of the same kind (FIFO or
 * standard), and reads source's visible count. cb(arg, status, info) then runs once,
 * later, on the loop: SL_OK with the new RUNNING task in info (borrowed for the
 * callback), or, with info NULL, SL_ENOTFOUND (source or dest does not exist),
 * SL_EINVAL (source is not a dead-letter queue; rate above SL_REDRIVE_RATE_MAX; dest
 * is source or of the other kind), SL_EEXIST (a task is already active for source),
 * or the store's error. Returns SL_OK, or without ever calling cb: SL_EINVAL (r,
 * source or cb NULL, a name that does not fit SL_REDRIVE_NAME_MAX), SL_ESTATE
 * (destroyed), or the store's refusal. */
int sl_redrive_start(sl_redrive_t *r, const char *source, const char *dest, uint32_t rate,
                     sl_redrive_start_cb cb, void *arg);

/* Fills out[0..max) with source's tasks, newest first: the active one (if any) and
 * the last SL_REDRIVE_HISTORY finished. Returns the count. */
size_t sl_redrive_list(sl_redrive_t *r, const char *source, sl_redrive_task_info_t *out,
                       size_t max);

/* Cancels the task handle names. An idle task is CANCELLED at once; one with a step
 * in flight turns CANCELLING and is CANCELLED when that step (at most 10 messages)
 * ends. Returns SL_OK with the messages moved so far in *moved (may be NULL), or
 * SL_ENOTFOUND when no active task has that handle (unknown, or already finished). */
int sl_redrive_cancel(sl_redrive_t *r, const char *handle, uint64_t *moved);

#endif
