/* redrive.c - dead-letter redrive: SQS "message move tasks".
 *
 * Each running task is a small state machine driven by store callbacks. One step:
 * receive up to 10 messages from the source (hidden for SL_REDRIVE_VISIBILITY_S),
 * send each to its destination, delete the sent ones from the source. Between steps
 * a token bucket (capacity one step, refilled at the task's rate) arms the task's
 * timer, so no callback handles more than ten messages and nothing waits on the loop.
 *
 * Choices SQS leaves open:
 *  - a moved message is a new message (new id, receive count 0, sent now, the
 *    destination's DelaySeconds); body, message attributes, AWSTraceHeader and the
 *    FIFO group and deduplication ids travel with it;
 *  - a message that cannot be moved stays in the source, hidden until the task's
 *    visibility timeout ends, and counts in `skipped`: no destination was given and
 *    it has no dlq_source (it was sent to the DLQ directly); the destination refused
 *    it (too long); or the destination took it as a FIFO duplicate, its deduplication
 *    id being still in that queue's 5-minute window, which would silently drop it;
 *  - a message whose send failed in the store (SL_EBACKEND) stays too; five failing
 *    steps in a row fail the task;
 *  - a destination or source that no longer exists fails the task, after the step's
 *    other messages are moved and deleted;
 *  - the task completes when a receive finds nothing visible, so messages arriving in
 *    the DLQ meanwhile are moved as well (moved may exceed to_move);
 *  - FIFO order: a step's sends go out in receive order and a message left behind
 *    locks its group in the DLQ until it is visible again, so later steps cannot pass
 *    it. Within one step, duplicates keep order by themselves (a group's earlier
 *    messages left the window no later than its later ones), but a message refused
 *    as too long can be overtaken by the rest of its group from the same step.
 * Sends go one message per store call: a destination's MaximumMessageSize bounds a
 * whole batch, and the destinations (each message's own source) are not known ahead.
 *
 * Store callbacks carry an operation id, not a pointer. sl_redrive_destroy frees
 * everything at once, yet a store callback may still arrive afterwards (redis) or
 * never (a destroyed memory store drops its callbacks): keeping the task alive for it
 * would leak in the second case, freeing it is a use after free in the first. So a
 * process-wide table maps the ids of operations in flight to their owner; destroy
 * forgets its entries and a late callback finds none. It holds one entry per store
 * operation in flight, so a linear scan is enough. */
#include "redrive.h"

#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#include <event2/event.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define SL_REDRIVE_BATCH 10             /* messages per step (SQS's receive maximum) */
#define SL_REDRIVE_VISIBILITY_S 30      /* how long a step's messages stay hidden */
#define SL_REDRIVE_MAX_ERRORS 5         /* failing steps in a row before FAILED */
#define SL_REDRIVE_RETRY_MS 1000        /* wait after a failing step */

/* ---- Operations in flight ---- */

typedef struct pend {
    uintptr_t id;
    void *owner;                /* task_t or start_t */
    uint32_t tag;               /* sends: the message's index in the step */
} pend_t;

static pthread_mutex_t pend_lock = PTHREAD_MUTEX_INITIALIZER;
static pend_t *pend_tab;
static size_t pend_n, pend_cap;
static uintptr_t pend_next = 1;

/* Records an operation of owner; returns the callback argument naming it. */
static void *
pend_add(void *owner, uint32_t tag)
{
    uintptr_t id;

    pthread_mutex_lock(&pend_lock);
    if (pend_n == pend_cap) {
        pend_cap = pend_cap ? pend_cap * 2 : 16;
        pend_tab = sl_realloc(pend_tab, pend_cap * sizeof(*pend_tab));
    }
    id = pend_next++;
    if (pend_next == 0)
        pend_next = 1;
    pend_tab[pend_n].id = id;
    pend_tab[pend_n].owner = owner;
    pend_tab[pend_n].tag = tag;
    pend_n++;
    pthread_mutex_unlock(&pend_lock);
    return (void *)id;
}

static void
pend_remove_at(size_t i)
{
    pend_tab[i] = pend_tab[--pend_n];
    if (pend_n == 0) {
        sl_free(pend_tab);
        pend_tab = NULL;
        pend_cap = 0;
    }
}

/* Ends the operation arg names. Returns its owner (and tag), or NULL when nobody
 * waits for it any more. */
static void *
pend_take(void *arg, uint32_t *tag)
{
    uintptr_t id = (uintptr_t)arg;
    void *owner = NULL;

    pthread_mutex_lock(&pend_lock);
    for (size_t i = 0; i < pend_n; i++) {
        if (pend_tab[i].id == id) {
            owner = pend_tab[i].owner;
            if (tag != NULL)
                *tag = pend_tab[i].tag;
            pend_remove_at(i);
            break;
        }
    }
    pthread_mutex_unlock(&pend_lock);
    return owner;
}

/* Forgets every operation of owner: their callbacks will find nobody. */
static void
pend_forget(void *owner)
{
    pthread_mutex_lock(&pend_lock);
    for (size_t i = 0; i < pend_n;) {
        if (pend_tab[i].owner == owner)
            pend_remove_at(i);
        else
            i++;
    }
    pthread_mutex_unlock(&pend_lock);
}

/* ---- Types ---- */

typedef enum {
    TASK_RUNNING,               /* moving: a step in flight or waiting for tokens */
    TASK_CANCELLING,            /* cancelled during a step; ends with the step */
    TASK_COMPLETED,             /* a receive found the source empty */
    TASK_CANCELLED,             /* stopped by sl_redrive_cancel */
    TASK_FAILED,                /* a queue vanished or the store kept failing; failure says */
} task_state_t;

static const char *const state_names[] = {
    [TASK_RUNNING] = SL_REDRIVE_RUNNING,
    [TASK_CANCELLING] = SL_REDRIVE_CANCELLING,
    [TASK_COMPLETED] = SL_REDRIVE_COMPLETED,
    [TASK_CANCELLED] = SL_REDRIVE_CANCELLED,
    [TASK_FAILED] = SL_REDRIVE_FAILED,
};

typedef enum {
    ITEM_SKIPPED,               /* left in the source */
    ITEM_SENDING,               /* send in flight */
    ITEM_MOVED,                 /* stored at the destination; delete from the source */
} item_state_t;

/* One message of the current step. */
typedef struct item {
    item_state_t state;
    char *receipt;                      /* in the source */
    char id[SL_MSG_ID_LEN + 1];         /* the id it was sent under */
    char dest[SL_REDRIVE_NAME_MAX];     /* for logs and the failure reason */
} item_t;

typedef struct task {
    struct task *next;                  /* r->tasks, newest first */
    sl_redrive_t *r;
    task_state_t state;
    char handle[SL_REDRIVE_NAME_MAX];
    char source[SL_REDRIVE_NAME_MAX];
    char dest[SL_REDRIVE_NAME_MAX];     /* "" = each message's dlq_source */
    bool fifo;                          /* source (and so every destination) is FIFO */
    uint32_t rate;                      /* as given; 0 = not given */
    uint32_t per_s;                     /* the rate in force */
    uint32_t batch;                     /* messages per step and bucket capacity */
    uint64_t moved, to_move, skipped;
    int64_t started_ms;                 /* epoch ms */
    char failure[160];
    struct event *tick;                 /* starts the next step */
    double tokens;                      /* messages the bucket allows now */
    int64_t refill_us;                  /* monotonic us of the last refill */
    unsigned npending;                  /* store operations in flight */
    unsigned errors;                    /* failing steps in a row */
    bool step_error;                    /* this step met a store error */
    bool warned;                        /* a skip was logged at WARN (later ones at DEBUG) */
    item_t items[SL_REDRIVE_BATCH];
    size_t nitems;
} task_t;

typedef enum {
    START_SOURCE,               /* reading the source's settings and visible count */
    START_SOURCES,              /* asking which queues name it in their RedrivePolicy */
    START_DEST,                 /* reading the destination's settings */
} start_phase_t;

/* A start waiting for its checks. */
typedef struct start {
    struct start *next;
    sl_redrive_t *r;
    start_phase_t phase;
    char source[SL_REDRIVE_NAME_MAX];
    char dest[SL_REDRIVE_NAME_MAX];
    uint32_t rate;
    bool fifo;
    uint64_t to_move;
    sl_redrive_start_cb cb;
    void *arg;
} start_t;

struct sl_redrive {
    struct event_base *base;
    sl_store_t *store;
    task_t *tasks;              /* newest first; active and the last finished per source */
    start_t *starts;
    int depth;                  /* user callbacks on the stack */
    bool closing;               /* destroyed; freed when depth drops to 0 */
};

/* ---- Helpers ---- */

static int64_t
mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static bool
is_active(const task_t *t)
{
    return t->state == TASK_RUNNING || t->state == TASK_CANCELLING;
}

static void
task_info(const task_t *t, sl_redrive_task_info_t *out)
{
    memset(out, 0, sizeof(*out));
    if (t->state == TASK_RUNNING)
        memcpy(out->handle, t->handle, sizeof(out->handle));
    out->status = state_names[t->state];
    memcpy(out->source, t->source, sizeof(out->source));
    memcpy(out->dest, t->dest, sizeof(out->dest));
    out->rate = t->rate;
    out->moved = t->moved;
    out->to_move = t->to_move;
    out->started_ms = t->started_ms;
    if (t->state == TASK_FAILED)
        memcpy(out->failure, t->failure, sizeof(out->failure));
    out->skipped = t->skipped;
}

static void
step_clear(task_t *t)
{
    for (size_t i = 0; i < t->nitems; i++) {
        sl_free(t->items[i].receipt);
        t->items[i].receipt = NULL;
    }
    t->nitems = 0;
    t->step_error = false;
}

static void
task_free(task_t *t)
{
    pend_forget(t);
    step_clear(t);
    event_free(t->tick);
    sl_free(t);
}

static void
set_state(task_t *t, task_state_t st)
{
    sl_log(SL_LOG_DEBUG, "redrive task state handle=%s from=%s to=%s", t->handle,
           state_names[t->state], state_names[st]);
    t->state = st;
}

/* Drops the oldest finished tasks of source beyond SL_REDRIVE_HISTORY. */
static void
trim_history(sl_redrive_t *r, const char *source)
{
    task_t **pp = &r->tasks;
    size_t kept = 0;

    while (*pp != NULL) {
        task_t *t = *pp;

        if (strcmp(t->source, source) != 0 || is_active(t) || ++kept <= SL_REDRIVE_HISTORY) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        task_free(t);
    }
}

/* Ends t in a final state. Nothing of t may be in flight. */
static void
finish(task_t *t, task_state_t st, const char *reason)
{
    sl_assert(t->npending == 0);
    event_del(t->tick);
    step_clear(t);
    if (reason != NULL)
        snprintf(t->failure, sizeof(t->failure), "%s", reason);
    set_state(t, st);
    sl_log(st == TASK_FAILED ? SL_LOG_WARN : SL_LOG_INFO,
           "redrive task ended handle=%s source=%s dest=%s status=%s moved=%" PRIu64
           " to_move=%" PRIu64 " skipped=%" PRIu64 " reason=\"%s\"",
           t->handle, t->source, t->dest[0] ? t->dest : "-", state_names[st], t->moved,
           t->to_move, t->skipped, st == TASK_FAILED ? t->failure : "");
    trim_history(t->r, t->source);    /* never t: it is its source's newest */
}

/* The task fails when the step ends (the first reason wins). */
static void
dest_gone(task_t *t, const char *dest)
{
    if (t->failure[0] == '\0')
        snprintf(t->failure, sizeof(t->failure), "destination queue does not exist: %s", dest);
}

static void
skip(task_t *t, item_t *it, const char *why)
{
    it->state = ITEM_SKIPPED;
    t->skipped++;
    if (!t->warned) {
        t->warned = true;
        sl_log(SL_LOG_WARN, "redrive message left in source handle=%s source=%s dest=%s why=%s",
               t->handle, t->source, it->dest[0] ? it->dest : "-", why);
    } else {
        sl_log(SL_LOG_DEBUG, "redrive message left in source handle=%s source=%s dest=%s why=%s",
               t->handle, t->source, it->dest[0] ? it->dest : "-", why);
    }
}

/* ---- Steps ---- */

static void step_end(task_t *t);

static void
refill(task_t *t)
{
    int64_t now = mono_us();

    t->tokens += (double)(now - t->refill_us) * t->per_s / 1e6;
    if (t->tokens > t->batch)
        t->tokens = t->batch;
    t->refill_us = now;
}

/* Arms the timer for the next step: after delay_ms, or once the bucket holds a
 * whole step when delay_ms < 0. */
static void
schedule(task_t *t, int64_t delay_ms)
{
    struct timeval tv;
    int64_t us;

    if (delay_ms >= 0) {
        us = delay_ms * 1000;
    } else {
        refill(t);
        us = t->tokens >= t->batch ? 0
                                   : (int64_t)((t->batch - t->tokens) * 1e6 / t->per_s) + 1;
    }
    tv.tv_sec = (time_t)(us / 1000000);
    tv.tv_usec = (suseconds_t)(us % 1000000);
    evtimer_add(t->tick, &tv);
}

static void
on_deleted(void *arg, int status, const int *rcs, size_t n)
{
    task_t *t = pend_take(arg, NULL);
    size_t bad = 0;

    if (t == NULL)
        return;
    t->npending--;
    for (size_t i = 0; i < t->nitems; i++)
        bad += status != SL_OK && t->items[i].state == ITEM_MOVED;
    for (size_t i = 0; status == SL_OK && i < n; i++)
        bad += rcs[i] != SL_OK;
    if (bad > 0) {
        /* They are at the destination already and come back to the source when
         * hidden no longer: a later task would move them twice. */
        sl_log(SL_LOG_WARN, "redrive delete failed handle=%s source=%s status=%s failed=%zu",
               t->handle, t->source, sl_strerror(status), bad);
    }
    step_end(t);
}

/* Every send of the step has answered: delete what moved. */
static void
sends_done(task_t *t)
{
    const char *receipts[SL_REDRIVE_BATCH];
    size_t n = 0;
    void *arg;
    int rc;

    for (size_t i = 0; i < t->nitems; i++) {
        if (t->items[i].state == ITEM_MOVED)
            receipts[n++] = t->items[i].receipt;
    }
    if (n == 0) {
        step_end(t);
        return;
    }
    arg = pend_add(t, 0);
    rc = sl_store_delete_batch(t->r->store, t->source, receipts, n, on_deleted, arg);
    if (rc != SL_OK) {
        pend_take(arg, NULL);
        sl_log(SL_LOG_WARN, "redrive delete refused handle=%s source=%s status=%s moved=%zu",
               t->handle, t->source, sl_strerror(rc), n);
        t->step_error = true;
        step_end(t);
        return;
    }
    t->npending++;
}

static void
on_sent(void *arg, int status, const sl_send_result_t *res, size_t n)
{
    uint32_t i;
    task_t *t = pend_take(arg, &i);
    item_t *it;

    if (t == NULL)
        return;
    t->npending--;
    it = &t->items[i];
    if (status == SL_OK && n == 1 && res[0].err == SL_SEND_OK &&
        strcmp(res[0].id, it->id) == 0) {
        it->state = ITEM_MOVED;
        t->moved++;
    } else if (status == SL_OK && n == 1 && res[0].err == SL_SEND_OK) {
        skip(t, it, "fifo-duplicate");
    } else if (status == SL_OK) {
        skip(t, it, "refused");
    } else if (status == SL_EFULL) {
        skip(t, it, "too-long");
    } else if (status == SL_ENOTFOUND) {
        it->state = ITEM_SKIPPED;
        dest_gone(t, it->dest);
    } else {
        it->state = ITEM_SKIPPED;
        t->step_error = true;
        sl_log(SL_LOG_WARN, "redrive send failed handle=%s dest=%s status=%s", t->handle,
               it->dest, sl_strerror(status));
    }
    if (t->npending == 0)
        sends_done(t);
}

/* Sends msg (borrowed) as item i of the step. */
static void
send_one(task_t *t, size_t i, const sl_msg_t *m, const char *dest)
{
    item_t *it = &t->items[i];
    char sha[65];
    sl_msg_in_t in;
    void *arg;
    int rc;

    memset(&in, 0, sizeof(in));
    sl_uuid4(in.id);
    memcpy(it->id, in.id, sizeof(it->id));
    memcpy(in.md5_body, m->md5_body, sizeof(in.md5_body));
    memcpy(in.md5_attrs, m->md5_attrs, sizeof(in.md5_attrs));
    in.body = m->body;
    in.body_len = m->body_len;
    in.attrs = m->attrs;
    in.nattrs = m->nattrs;
    in.trace_header = m->trace_header;
    in.delay_s = -1;
    if (t->fifo) {
        if (m->group_id == NULL) {
            skip(t, it, "no-group-id");
            return;
        }
        in.group_id = m->group_id;
        if (m->dedup_id == NULL)
            sl_sha256_hex(m->body, m->body_len, sha);
        in.dedup_id = m->dedup_id ? m->dedup_id : sha;
    }
    arg = pend_add(t, (uint32_t)i);
    rc = sl_store_send(t->r->store, dest, &in, 1, on_sent, arg);
    if (rc != SL_OK) {
        pend_take(arg, NULL);
        it->state = ITEM_SKIPPED;
        t->step_error = true;
        sl_log(SL_LOG_WARN, "redrive send refused handle=%s dest=%s status=%s", t->handle, dest,
               sl_strerror(rc));
        return;
    }
    it->state = ITEM_SENDING;
    t->npending++;
}

static void
on_received(void *arg, int status, const sl_received_t *msgs, size_t n)
{
    task_t *t = pend_take(arg, NULL);

    if (t == NULL)
        return;
    t->npending--;
    if (status == SL_ENOTFOUND) {
        char why[160];

        snprintf(why, sizeof(why), "source queue does not exist: %s", t->source);
        finish(t, TASK_FAILED, why);
        return;
    }
    if (status != SL_OK) {
        sl_log(SL_LOG_WARN, "redrive receive failed handle=%s source=%s status=%s", t->handle,
               t->source, sl_strerror(status));
        t->step_error = true;
        step_end(t);
        return;
    }
    if (n == 0) {
        finish(t, t->state == TASK_CANCELLING ? TASK_CANCELLED : TASK_COMPLETED, NULL);
        return;
    }
    sl_assert(n <= SL_REDRIVE_BATCH);
    t->tokens -= (double)n;
    t->nitems = n;
    for (size_t i = 0; i < n; i++) {
        const sl_msg_t *m = msgs[i].msg;
        const char *dest = t->dest[0] ? t->dest : m->dlq_source;
        item_t *it = &t->items[i];

        it->receipt = sl_strdup(msgs[i].receipt);
        it->state = ITEM_SKIPPED;
        snprintf(it->dest, sizeof(it->dest), "%s", dest ? dest : "");
        if (dest == NULL)
            skip(t, it, "no-dlq-source");
        else
            send_one(t, i, m, dest);
    }
    /* All sends may have been refused or skipped at once. */
    if (t->npending == 0)
        sends_done(t);
}

static void
step_begin(task_t *t)
{
    sl_recv_opts_t opts = { .visibility_s = SL_REDRIVE_VISIBILITY_S };
    void *arg;
    int rc;

    refill(t);
    if (t->tokens < t->batch) {
        schedule(t, -1);            /* the timer fired a hair early */
        return;
    }
    opts.max = t->batch;
    arg = pend_add(t, 0);
    rc = sl_store_receive(t->r->store, t->source, &opts, on_received, arg);
    if (rc != SL_OK) {
        pend_take(arg, NULL);
        sl_log(SL_LOG_WARN, "redrive receive refused handle=%s source=%s status=%s", t->handle,
               t->source, sl_strerror(rc));
        t->step_error = true;
        step_end(t);
        return;
    }
    t->npending++;
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    step_begin(arg);
}

/* The step's last operation has answered (or none was possible): next step or end. */
static void
step_end(task_t *t)
{
    bool error = t->step_error;

    sl_assert(t->npending == 0);
    step_clear(t);
    if (t->failure[0] != '\0') {
        finish(t, TASK_FAILED, NULL);
    } else if (t->state == TASK_CANCELLING) {
        finish(t, TASK_CANCELLED, NULL);
    } else if (error && ++t->errors >= SL_REDRIVE_MAX_ERRORS) {
        char why[160];

        snprintf(why, sizeof(why), "store errors in %d steps in a row", SL_REDRIVE_MAX_ERRORS);
        finish(t, TASK_FAILED, why);
    } else if (error) {
        schedule(t, SL_REDRIVE_RETRY_MS);
    } else {
        t->errors = 0;
        schedule(t, -1);
    }
}

/* ---- Starting ---- */

static void
enter(sl_redrive_t *r)
{
    r->depth++;
}

static void really_free(sl_redrive_t *r);

static void
leave(sl_redrive_t *r)
{
    if (--r->depth == 0 && r->closing)
        really_free(r);
}

static task_t *
active_task(sl_redrive_t *r, const char *source)
{
    for (task_t *t = r->tasks; t != NULL; t = t->next) {
        if (is_active(t) && strcmp(t->source, source) == 0)
            return t;
    }
    return NULL;
}

static task_t *
task_new(sl_redrive_t *r, const start_t *s)
{
    task_t *t = sl_calloc(1, sizeof(*t));

    t->r = r;
    t->state = TASK_RUNNING;
    sl_uuid4(t->handle);
    memcpy(t->source, s->source, sizeof(t->source));
    memcpy(t->dest, s->dest, sizeof(t->dest));
    t->fifo = s->fifo;
    t->rate = s->rate;
    t->per_s = s->rate ? s->rate : SL_REDRIVE_RATE_DEFAULT;
    t->batch = t->per_s < SL_REDRIVE_BATCH ? t->per_s : SL_REDRIVE_BATCH;
    t->to_move = s->to_move;
    t->started_ms = wall_ms();
    t->tokens = t->batch;
    t->refill_us = mono_us();
    t->tick = evtimer_new(r->base, on_tick, t);
    t->next = r->tasks;
    r->tasks = t;
    return t;
}

/* Ends s: starts its task on SL_OK, calls back, frees s. */
static void
start_end(start_t *s, int status)
{
    sl_redrive_t *r = s->r;
    sl_redrive_start_cb cb = s->cb;
    void *arg = s->arg;
    sl_redrive_task_info_t info;
    start_t **pp = &r->starts;

    while (*pp != s)
        pp = &(*pp)->next;
    *pp = s->next;
    if (status == SL_OK && active_task(r, s->source) != NULL)
        status = SL_EEXIST;
    if (status == SL_OK) {
        task_t *t = task_new(r, s);

        sl_log(SL_LOG_INFO, "redrive task started handle=%s source=%s dest=%s rate=%" PRIu32
               " to_move=%" PRIu64, t->handle, t->source, t->dest[0] ? t->dest : "-", t->rate,
               t->to_move);
        task_info(t, &info);
        schedule(t, 0);
    }
    sl_free(s);
    enter(r);
    cb(arg, status, status == SL_OK ? &info : NULL);
    leave(r);
}

static void on_start_info(void *arg, int status, const sl_queue_info_t *info);

static void
on_start_names(void *arg, int status, char *const *names, size_t n)
{
    start_t *s = pend_take(arg, NULL);
    void *next;
    int rc;

    (void)names;
    if (s == NULL)
        return;
    if (status != SL_OK) {
        start_end(s, status);
        return;
    }
    if (n == 0) {
        sl_log(SL_LOG_DEBUG, "redrive refused: not a dead-letter queue source=%s", s->source);
        start_end(s, SL_EINVAL);
        return;
    }
    if (s->dest[0] == '\0') {
        start_end(s, SL_OK);
        return;
    }
    s->phase = START_DEST;
    next = pend_add(s, 0);
    if ((rc = sl_store_queue_get(s->r->store, s->dest, on_start_info, next)) != SL_OK) {
        pend_take(next, NULL);
        start_end(s, rc);
    }
}

static void
on_start_info(void *arg, int status, const sl_queue_info_t *info)
{
    start_t *s = pend_take(arg, NULL);
    void *next;
    int rc;

    if (s == NULL)
        return;
    if (s->phase == START_SOURCE &&
        (s->rate > SL_REDRIVE_RATE_MAX || strcmp(s->source, s->dest) == 0)) {
        start_end(s, SL_EINVAL);
        return;
    }
    if (status != SL_OK) {
        start_end(s, status);
        return;
    }
    if (s->phase == START_DEST) {
        start_end(s, info->cfg->fifo == s->fifo ? SL_OK : SL_EINVAL);
        return;
    }
    s->fifo = info->cfg->fifo;
    s->to_move = info->visible;
    s->phase = START_SOURCES;
    next = pend_add(s, 0);
    if ((rc = sl_store_queue_dlq_sources(s->r->store, s->source, on_start_names, next)) !=
        SL_OK) {
        pend_take(next, NULL);
        start_end(s, rc);
    }
}

/* ---- Public ---- */

sl_redrive_t *
sl_redrive_create(struct event_base *base, sl_store_t *store)
{
    sl_redrive_t *r = sl_calloc(1, sizeof(*r));

    r->base = base;
    r->store = store;
    return r;
}

static void
really_free(sl_redrive_t *r)
{
    while (r->tasks != NULL) {
        task_t *t = r->tasks;

        r->tasks = t->next;
        task_free(t);
    }
    while (r->starts != NULL) {
        start_t *s = r->starts;

        r->starts = s->next;
        sl_free(s);
    }
    sl_free(r);
}

void
sl_redrive_destroy(sl_redrive_t *r)
{
    if (r == NULL || r->closing)
        return;
    r->closing = true;
    for (task_t *t = r->tasks; t != NULL; t = t->next) {
        pend_forget(t);
        event_del(t->tick);
        if (is_active(t))
            sl_log(SL_LOG_INFO, "redrive task stopped by shutdown handle=%s source=%s moved=%"
                   PRIu64, t->handle, t->source, t->moved);
    }
    for (start_t *s = r->starts; s != NULL; s = s->next)
        pend_forget(s);
    if (r->depth == 0)
        really_free(r);
}

int
sl_redrive_start(sl_redrive_t *r, const char *source, const char *dest, uint32_t rate,
                 sl_redrive_start_cb cb, void *arg)
{
    start_t *s;
    void *op;
    int rc;

    if (r == NULL || source == NULL || source[0] == '\0' || cb == NULL ||
        strlen(source) >= SL_REDRIVE_NAME_MAX || (dest && strlen(dest) >= SL_REDRIVE_NAME_MAX))
        return SL_EINVAL;
    if (r->closing)
        return SL_ESTATE;
    s = sl_calloc(1, sizeof(*s));
    s->r = r;
    s->phase = START_SOURCE;
    snprintf(s->source, sizeof(s->source), "%s", source);
    snprintf(s->dest, sizeof(s->dest), "%s", dest ? dest : "");
    s->rate = rate;
    s->cb = cb;
    s->arg = arg;
    op = pend_add(s, 0);
    if ((rc = sl_store_queue_get(r->store, s->source, on_start_info, op)) != SL_OK) {
        pend_take(op, NULL);
        sl_free(s);
        return rc;
    }
    s->next = r->starts;
    r->starts = s;
    return SL_OK;
}

size_t
sl_redrive_list(sl_redrive_t *r, const char *source, sl_redrive_task_info_t *out, size_t max)
{
    size_t n = 0;

    if (r == NULL || source == NULL)
        return 0;
    for (task_t *t = r->tasks; t != NULL && n < max; t = t->next) {
        if (strcmp(t->source, source) == 0)
            task_info(t, &out[n++]);
    }
    return n;
}

int
sl_redrive_cancel(sl_redrive_t *r, const char *handle, uint64_t *moved)
{
    task_t *t;

    if (r == NULL || handle == NULL || r->closing)
        return SL_ENOTFOUND;
    for (t = r->tasks; t != NULL; t = t->next) {
        if (is_active(t) && strcmp(t->handle, handle) == 0)
            break;
    }
    if (t == NULL)
        return SL_ENOTFOUND;
    if (moved != NULL)
        *moved = t->moved;
    if (t->state == TASK_CANCELLING)
        return SL_OK;
    sl_log(SL_LOG_INFO, "redrive task cancel handle=%s source=%s moved=%" PRIu64, t->handle,
           t->source, t->moved);
    if (t->npending > 0)
        set_state(t, TASK_CANCELLING);
    else
        finish(t, TASK_CANCELLED, NULL);
    return SL_OK;
}
