/* work.h - a small thread pool for work that must block (a native function's
 * handler, fsync): fn runs on a pool thread, done runs later on the event loop
 * that owns the pool. Pool threads never touch loop state; they hand finished
 * jobs back through a pipe the loop watches, one wake-up per batch of
 * completions rather than per job.
 *
 * All functions but the job's own fn are called on the loop thread.
 * Guarded by SLUICE_WORK_H. */
#ifndef SLUICE_WORK_H
#define SLUICE_WORK_H

#include <stddef.h>

struct event_base;
typedef struct sl_work_pool sl_work_pool_t;

/* New pool of threads (1..256) that posts completions to base. Returns NULL
 * when threads or the wake-up pipe cannot be created (logged). Caller destroys. */
sl_work_pool_t *sl_work_pool_create(struct event_base *base, unsigned threads);

/* Queues fn(arg) for a pool thread; done(arg) then runs on the loop, never
 * inside this call. Jobs start in submission order. done may be NULL.
 * Returns SL_OK, or SL_ESTATE after destroy began (neither callback runs).
 * arg stays the caller's: the pool never frees it. */
int sl_work_submit(sl_work_pool_t *p, void (*fn)(void *arg), void (*done)(void *arg),
                   void *arg);

/* Jobs submitted and not yet through done (queued, running, or finished and
 * waiting for the loop). */
size_t sl_work_pending(const sl_work_pool_t *p);
/* Times the loop was woken for completions (one per batch, not per job). */
unsigned long sl_work_wakeups(const sl_work_pool_t *p);

/* Stops the pool; done never runs again. Never waits for a job: jobs still
 * queued or running go on to run fn on their threads, which then exit, and the
 * last one out frees what the threads shared. When no job is queued or running
 * (the usual case) the threads are joined before this returns. A caller whose
 * jobs may outlive the pool must make their fn safe to finish alone (see
 * consumers/invoke_native.c). NULL is a no-op. */
void sl_work_pool_destroy(sl_work_pool_t *p);

#endif
