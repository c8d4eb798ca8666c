/* work.c - the thread pool behind sl_work_submit (see work.h).
 * Jobs wait in one mutex-guarded FIFO; a fixed set of threads take them. A
 * finished job goes on a "done" list, and only the push that finds that list
 * empty writes a byte to a non-blocking pipe the loop watches: one wake-up and
 * one read() per batch of completions, however many jobs finished meanwhile.
 * A pipe rather than event_active() from the pool threads, because the latter
 * needs evthread_use_pthreads(), which puts a lock around every operation of
 * every event_base in the broker for the sake of this one hand-off.
 *
 * The loop runs at most DONE_BUDGET done callbacks per wake-up and re-arms
 * itself for the rest (STYLE §7: bounded work per callback).
 *
 * Destroy never waits for a job (a native handler may never return): the
 * state the threads share lives in a separately reference-counted block, one
 * reference per thread plus one for the loop, and the last holder frees it. */
#include "work.h"

#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/util.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#define DONE_BUDGET 256
#define MAX_THREADS 256u

typedef struct job {
    struct job *next;
    void (*fn)(void *arg);
    void (*done)(void *arg);
    void *arg;
} job_t;

/* What the threads and the loop share; guarded by mu. */
typedef struct shared {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *todo_head, *todo_tail;       /* submitted, not started */
    job_t *done_head, *done_tail;       /* fn returned, done not run yet */
    unsigned running;                   /* jobs inside fn */
    unsigned refs;                      /* threads alive + 1 while the pool exists */
    bool stopping;
    bool wake_sent;                     /* a byte is in the pipe, not yet read */
    int wake_rd, wake_wr;
} shared_t;

struct sl_work_pool {
    struct event_base *base;
    struct event *wake_ev;
    shared_t *s;
    pthread_t *threads;
    unsigned nthreads;
    job_t *ready_head, *ready_tail;     /* loop-owned: taken off done, not yet run */
    size_t pending;                     /* submitted and not through done */
    unsigned long wakeups;              /* on_wake runs */
    bool dispatching;                   /* on_wake is running done callbacks */
    bool destroyed;                     /* destroyed from a done callback; on_wake frees */
};

static void
shared_unref_locked(shared_t *s)
{
    bool last = --s->refs == 0;
    job_t *j;

    pthread_mutex_unlock(&s->mu);
    if (!last)
        return;
    while ((j = s->done_head) != NULL) {
        s->done_head = j->next;
        sl_free(j);
    }
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    close(s->wake_rd);
    close(s->wake_wr);
    sl_free(s);
}

static void *
worker(void *arg)
{
    shared_t *s = arg;
    job_t *j;

    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->todo_head == NULL && !s->stopping)
            pthread_cond_wait(&s->cv, &s->mu);
        if ((j = s->todo_head) == NULL)
            break;                      /* stopping and nothing left to run */
        s->todo_head = j->next;
        if (s->todo_head == NULL)
            s->todo_tail = NULL;
        s->running++;
        pthread_mutex_unlock(&s->mu);

        j->fn(j->arg);

        pthread_mutex_lock(&s->mu);
        s->running--;
        if (s->stopping) {
            sl_free(j);
            continue;
        }
        j->next = NULL;
        if (s->done_tail)
            s->done_tail->next = j;
        else
            s->done_head = j;
        s->done_tail = j;
        if (!s->wake_sent) {
            char c = 1;

            s->wake_sent = true;
            /* Cannot fail short of a full pipe, and a full pipe already wakes the loop. */
            if (write(s->wake_wr, &c, 1) < 0 && errno != EAGAIN)
                s->wake_sent = false;
        }
    }
    shared_unref_locked(s);
    return NULL;
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
    sl_work_pool_t *p = arg;
    shared_t *s = p->s;
    char buf[64];
    int budget = DONE_BUDGET;
    job_t *j;

    (void)what;
    p->wakeups++;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&s->mu);
    s->wake_sent = false;
    if (s->done_head) {
        if (p->ready_tail)
            p->ready_tail->next = s->done_head;
        else
            p->ready_head = s->done_head;
        p->ready_tail = s->done_tail;
        s->done_head = s->done_tail = NULL;
    }
    pthread_mutex_unlock(&s->mu);

    /* done may destroy the pool: destroy then leaves p for us to free. */
    p->dispatching = true;
    while (budget-- > 0 && (j = p->ready_head) != NULL) {
        void (*done)(void *) = j->done;
        void *jarg = j->arg;

        p->ready_head = j->next;
        if (p->ready_head == NULL)
            p->ready_tail = NULL;
        p->pending--;
        sl_free(j);
        if (done)
            done(jarg);
        if (p->destroyed) {
            sl_free(p);
            return;
        }
    }
    p->dispatching = false;
    if (p->ready_head)
        event_active(p->wake_ev, EV_READ, 0);
}

sl_work_pool_t *
sl_work_pool_create(struct event_base *base, unsigned threads)
{
    sl_work_pool_t *p;
    shared_t *s;
    int fds[2];
    int rc;

    if (threads == 0)
        threads = 1;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        sl_log(SL_LOG_ERROR, "work pool pipe failed errno=%d", errno);
        return NULL;
    }
    s = sl_calloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->wake_rd = fds[0];
    s->wake_wr = fds[1];
    s->refs = 1;

    p = sl_calloc(1, sizeof(*p));
    p->base = base;
    p->s = s;
    p->wake_ev = event_new(base, s->wake_rd, EV_READ | EV_PERSIST, on_wake, p);
    event_add(p->wake_ev, NULL);
    p->threads = sl_calloc(threads, sizeof(*p->threads));
    for (unsigned i = 0; i < threads; i++) {
        pthread_mutex_lock(&s->mu);
        s->refs++;
        pthread_mutex_unlock(&s->mu);
        if ((rc = pthread_create(&p->threads[i], NULL, worker, s)) != 0) {
            sl_log(SL_LOG_ERROR, "work pool thread failed errno=%d threads=%u", rc, i);
            pthread_mutex_lock(&s->mu);
            s->refs--;
            pthread_mutex_unlock(&s->mu);
            p->nthreads = i;
            sl_work_pool_destroy(p);
            return NULL;
        }
        p->nthreads = i + 1;
    }
    return p;
}

int
sl_work_submit(sl_work_pool_t *p, void (*fn)(void *arg), void (*done)(void *arg), void *arg)
{
    shared_t *s = p->s;
    job_t *j = sl_malloc(sizeof(*j));

    j->next = NULL;
    j->fn = fn;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        sl_free(j);
        return SL_ESTATE;
    }
    if (s->todo_tail)
        s->todo_tail->next = j;
    else
        s->todo_head = j;
    s->todo_tail = j;
    p->pending++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return SL_OK;
}

size_t
sl_work_pending(const sl_work_pool_t *p)
{
    return p->pending;
}

unsigned long
sl_work_wakeups(const sl_work_pool_t *p)
{
    return p->wakeups;
}

void
sl_work_pool_destroy(sl_work_pool_t *p)
{
    shared_t *s;
    bool idle;
    job_t *j;

    if (p == NULL)
        return;
    s = p->s;
    event_free(p->wake_ev);
    while ((j = p->ready_head) != NULL) {
        p->ready_head = j->next;
        sl_free(j);
    }
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    idle = s->todo_head == NULL && s->running == 0;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (unsigned i = 0; i < p->nthreads; i++) {
        if (idle)
            pthread_join(p->threads[i], NULL);  /* each is about to return */
        else
            pthread_detach(p->threads[i]);
    }
    if (!idle)
        sl_log(SL_LOG_WARN, "work pool destroyed with jobs running threads=%u", p->nthreads);
    pthread_mutex_lock(&s->mu);
    shared_unref_locked(s);
    sl_free(p->threads);
    if (p->dispatching)
        p->destroyed = true;
    else
        sl_free(p);
}
