/* pool.h - the insides of an invoker (invoke.h), shared by the generic parts
 * (invoke.c: calls and their delivery; pool.c: the instance state machine) and
 * the three backends (invoke_process.c, invoke_http.c, invoke_native.c).
 * Private to consumers/; everything here runs on the invoker's loop thread.
 *
 * An invoker owns instances. The pool decides when to start, use, reap and
 * replace them; a backend knows how (spawn a process, open a connection, take
 * a pool thread) and tells the pool what happened through the sl__pool_*
 * events below. The pool never frees an instance inside a backend callback:
 * dead instances wait on a list that the delivery event frees. */
#ifndef SLUICE_CONSUMERS_POOL_H
#define SLUICE_CONSUMERS_POOL_H

#include "invoke.h"
#include "vheap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event;

#define SL_INV_REQUEST_ID_LEN 36            /* UUIDv4 text */
#define SL_INV_MAX_RESPONSE (6u * 1024 * 1024)  /* Lambda's synchronous payload limit */
#define SL_INV_INIT_TIMEOUT_MS 10000        /* Lambda's on-demand init limit */
#define SL_INV_TERM_GRACE_MS 2000           /* SIGTERM to SIGKILL, by default */
#define SL_INV_BACKOFF_MIN_MS 1000          /* restart delay after an init failure... */
#define SL_INV_BACKOFF_MAX_MS 30000         /* ...doubling up to this */

typedef struct sl_inv_call sl_inv_call_t;
typedef struct sl_inv_inst sl_inv_inst_t;

/* One invocation, from sl_invoker_invoke to its callback. */
struct sl_inv_call {
    sl_inv_call_t *next;                /* in the queue or the done list */
    char request_id[SL_INV_REQUEST_ID_LEN + 1];
    char *payload;                      /* copy, NUL-terminated */
    size_t len;
    sl_invoke_cb cb;
    void *arg;
    int64_t queued_us;                  /* monotonic */
    int64_t started_us;                 /* monotonic; handed to an instance */
    int64_t deadline_ms;                /* monotonic ms */
    int64_t deadline_epoch_ms;          /* the same deadline, wall clock (for runtimes) */
    /* the result, filled by sl__pool_complete */
    sl_invoke_outcome_t outcome;
    char *out;                          /* response or error JSON; NULL = none */
    size_t out_len;
    char *error_type;
    char *error_message;
    bool cold_start;
    int64_t cold_start_ms;
    int64_t duration_ms;
};

/* Instance states; changed only through sl__pool_set_state (pool.c). */
typedef enum sl_inst_state {
    SL_INST_STARTING = 0,   /* started, not ready yet (process: before its first `next`) */
    SL_INST_IDLE,           /* ready, waiting for work */
    SL_INST_BUSY,           /* running inst->call */
    SL_INST_FINISHING,      /* call answered; ready again soon (process: until `next`) */
    SL_INST_ORPHANED,       /* native: its call timed out, the thread still runs it */
    SL_INST_STOPPING,       /* told to stop; gone when the backend says so */
    SL_INST_DEAD,           /* gone; freed by the delivery event */
    SL_INST_NSTATES
} sl_inst_state_t;

struct sl_inv_inst {
    sl_inv_inst_t *prev, *next;         /* all instances of the invoker */
    sl_inv_inst_t *idle_prev, *idle_next;   /* idle stack (most recently used on top) */
    sl_invoker_t *inv;
    unsigned id;                        /* per invoker, from 1, for logs */
    sl_inst_state_t state;
    sl_vheap_node_t tnode;              /* the deadline of the current state */
    int64_t spawned_us, ready_us;       /* monotonic; ready_us 0 = never ready */
    bool async_start;                   /* went through STARTING (a real cold start) */
    bool in_start;                      /* inside backend->start */
    uint64_t ncalls;                    /* invocations handed to it */
    sl_inv_call_t *call;                /* BUSY: the running call */
    void *be;                           /* the backend's per-instance state */
};

/* What a backend implements. Hooks run on the loop; none may free the instance. */
typedef struct sl_inv_backend {
    const char *kind;
    /* Per invoker. create fills inv->be_state or returns an error with errbuf. */
    int (*create)(sl_invoker_t *inv, char *errbuf, size_t errlen);
    /* Immediate teardown, after every instance went through free_inst. */
    void (*destroy)(sl_invoker_t *inv);
    /* Starts in (state STARTING). Returns SL_OK; the backend then reports
     * sl__pool_ready, sl__pool_init_failed or sl__pool_exited, possibly from
     * inside this call. An error return means nothing was started (the pool
     * treats it as an init failure). */
    int (*start)(sl_inv_inst_t *in, char *errbuf, size_t errlen);
    /* Runs in->call (state BUSY). The backend answers with sl__pool_complete,
     * never from inside this call's stack when that would free anything. */
    void (*run)(sl_inv_inst_t *in);
    /* in->call passed its deadline. The backend stops the work (process: kill
     * the group) and returns the state the instance goes to: STOPPING (it will
     * report sl__pool_exited), IDLE (usable again) or ORPHANED (it will report
     * sl__pool_ready when the work ends). The pool then completes the call. */
    sl_inst_state_t (*timed_out)(sl_inv_inst_t *in);
    /* Stops in. graceful: let it end (SIGTERM), else kill. Returns true when
     * in is gone already, false when sl__pool_exited follows; the pool calls
     * kill when the grace period ends first. */
    bool (*stop)(sl_inv_inst_t *in, bool graceful);
    void (*kill)(sl_inv_inst_t *in);    /* the grace period ended; may be NULL */
    /* Releases in->be. The instance is DEAD, or the invoker is being destroyed
     * (then stop what runs, without waiting). */
    void (*free_inst)(sl_inv_inst_t *in);
} sl_inv_backend_t;

extern const sl_inv_backend_t sl__inv_process_backend;
extern const sl_inv_backend_t sl__inv_http_backend;
extern const sl_inv_backend_t sl__inv_native_backend;

typedef enum { SL_INV_RUNNING = 0, SL_INV_SHUTTING_DOWN } sl_inv_state_t;

struct sl_invoker {
    struct event_base *base;
    sl_function_spec_t spec;            /* our copy; cwd made absolute for process */
    char *region;
    char *account;
    char *arn;                          /* arn:aws:lambda:REGION:ACCOUNT:function:NAME */
    uint32_t term_grace_ms;
    struct sl_fnlog *output;            /* borrowed ring of output lines; may be NULL */
    const sl_inv_backend_t *be;
    void *be_state;
    sl_inv_state_t state;

    /* instances */
    sl_inv_inst_t *insts;               /* every instance, any state */
    sl_inv_inst_t *idle_top;
    size_t count[SL_INST_NSTATES];
    unsigned next_inst_id;

    /* calls */
    sl_inv_call_t *queue_head, *queue_tail;
    size_t nqueued;
    sl_inv_call_t *done_head, *done_tail;
    struct event *deliver_ev;
    bool delivering;                    /* on_deliver is running user callbacks */
    bool destroyed;                     /* destroyed from a callback; on_deliver frees */

    /* deadlines: one heap, one timer */
    sl_vheap_t heap;
    struct event *timer_ev;
    int64_t timer_at;                   /* monotonic ms the timer is armed for; 0 = not */
    sl_vheap_node_t backoff_node;       /* restart allowed again at key */

    /* init failures */
    unsigned init_streak;
    int64_t backoff_until;              /* monotonic ms; 0 = not backing off */
    char *init_error_type;
    char *init_error_message;

    sl_invoker_stats_t stats;

    /* dispatch */
    bool kicking, kick_again;

    /* shutdown */
    void (*shutdown_done)(void *arg);
    void *shutdown_arg;
    bool shutdown_fired;
};

/* ---- Time ---- */
int64_t sl__inv_now_us(void);           /* monotonic */
int64_t sl__inv_now_ms(void);           /* monotonic */
int64_t sl__inv_epoch_ms(void);         /* wall clock */

/* ---- invoke.c: calls ---- */
/* Moves call to the done list with its result set, and schedules delivery. */
void sl__inv_call_finish(sl_invoker_t *inv, sl_inv_call_t *c);
void sl__inv_call_free(sl_inv_call_t *c);
/* Sets a result on c (copies strings; out may be NULL). */
void sl__inv_call_set_result(sl_inv_call_t *c, sl_invoke_outcome_t outcome, const char *out,
                             size_t out_len, const char *error_type, const char *error_message);
/* Schedules the delivery event (which also frees dead instances). */
void sl__inv_schedule_delivery(sl_invoker_t *inv);

/* ---- pool.c: the instance state machine ---- */
void sl__pool_init(sl_invoker_t *inv);
/* Frees every instance through free_inst, without callbacks. */
void sl__pool_deinit(sl_invoker_t *inv);
/* Assigns queued calls to idle instances and starts instances as needed. */
void sl__pool_kick(sl_invoker_t *inv);
/* Queues c (FIFO) and kicks. */
void sl__pool_enqueue(sl_invoker_t *inv, sl_inv_call_t *c);
/* Stops taking work: cancels queued calls and stops idle instances. */
void sl__pool_shutdown(sl_invoker_t *inv);
/* True when shut down and no instance is left that could still answer a call. */
bool sl__pool_is_drained(const sl_invoker_t *inv);
/* Frees DEAD instances. */
void sl__pool_collect(sl_invoker_t *inv);
const char *sl__inst_state_name(sl_inst_state_t s);

/* Backend events. */
/* in can take work: first time (STARTING: ends a cold start), after FINISHING,
 * or after ORPHANED. */
void sl__pool_ready(sl_inv_inst_t *in);
/* in->call ended (BUSY). Takes copies of the strings. in goes FINISHING; the
 * backend reports sl__pool_ready when it can take the next call. */
void sl__pool_complete(sl_inv_inst_t *in, sl_invoke_outcome_t outcome, const char *out,
                       size_t out_len, const char *error_type, const char *error_message);
/* in reported or suffered an init failure (STARTING). The pool fails a queued
 * call with SL_INVOKE_INIT_ERROR, backs restarts off and stops in (the
 * backend's stop hook runs unless already_stopped). */
void sl__pool_init_failed(sl_inv_inst_t *in, const char *error_type, const char *error_message,
                          bool already_stopped);
/* in is gone (process exited). why: e.g. "exit status 1", "signal 9". A
 * running call ends with SL_INVOKE_CRASH; a STARTING instance counts as an
 * init failure. */
void sl__pool_exited(sl_inv_inst_t *in, const char *why);
/* The function's name for logs. */
static inline const char *
sl__inv_name(const sl_invoker_t *inv)
{
    return inv->spec.name;
}

#endif
