/* invoke.h - running a function: one invoker per function owns its instance
 * pool (processes, HTTP connections, or pool threads) and its concurrency
 * bounds. Triggers hand it payloads; it runs each on a free instance, starting
 * one (a cold start) when none is free and the maximum allows, and queueing the
 * rest in order. Idle instances above min_concurrency stop after idle_timeout.
 *
 * Everything runs on the broker's event loop; callbacks come back on it, never
 * inside the submitting call.
 *
 * error_type by outcome (retry decisions switch on the outcome, not on these):
 *   FUNCTION_ERROR  the handler's errorType (Runtime API error body, else the
 *                   Lambda-Runtime-Function-Error-Type header, else "Unhandled"),
 *                   "Function.HttpError" (http non-2xx),
 *                   "Function.ResponseSizeTooLarge" (response above 6 MB),
 *                   "Runtime.NoResponse" (the runtime asked for more instead)
 *   TIMEOUT         "Sandbox.Timedout", "Task timed out after 3.00 seconds"
 *   CRASH           "Runtime.ExitError" (process exited mid-call),
 *                   "Sluice.ConnectionError" (http: no response)
 *   INIT_ERROR      the runtime's init/error errorType (e.g. Runtime.HandlerNotFound),
 *                   "Runtime.ExitError" (exited before its first `next`),
 *                   "Sandbox.Timedout" (no `next` within 10 s), "Runtime.InitError"
 *                   (sluice_init failed), "Runtime.StartError" (could not spawn).
 *                   After an init failure restarts back off (1 s doubling to 30 s);
 *                   meanwhile calls that no live instance can take fail at once
 *                   with the last init error.
 *   CANCELLED       "Sluice.Shutdown"
 * idle_timeout_ms 0 keeps idle instances forever. */
#ifndef SLUICE_CONSUMERS_INVOKE_H
#define SLUICE_CONSUMERS_INVOKE_H

#include "sluice/function.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct sl_fnlog;
typedef struct sl_invoker sl_invoker_t;

/* How an invocation ended. */
typedef enum sl_invoke_outcome {
    SL_INVOKE_OK = 0,           /* the handler returned; payload is its response */
    SL_INVOKE_FUNCTION_ERROR,   /* the handler reported an error (Runtime API /error,
                                 * HTTP non-2xx, native non-zero); payload: error JSON */
    SL_INVOKE_TIMEOUT,          /* ran past timeout_ms; the instance was killed/replaced */
    SL_INVOKE_CRASH,            /* the instance died or the connection failed mid-call */
    SL_INVOKE_INIT_ERROR,       /* the instance failed to initialise (init/error, dlopen) */
    SL_INVOKE_CANCELLED,        /* the invoker shut down before it ran */
} sl_invoke_outcome_t;

typedef struct sl_invoke_result {
    sl_invoke_outcome_t outcome;
    const char *payload;        /* borrowed for the callback; may be NULL */
    size_t len;
    const char *error_type;     /* e.g. "Runtime.ExitError", "Sandbox.Timedout"; may be NULL */
    const char *error_message;  /* human text; may be NULL */
    const char *request_id;
    int64_t duration_ms;        /* handler time as measured by the broker */
    bool cold_start;            /* this invocation waited for an instance to start */
    int64_t cold_start_ms;      /* spawn to ready (first `next`), when cold_start */
} sl_invoke_result_t;

typedef void (*sl_invoke_cb)(void *arg, const sl_invoke_result_t *r);

typedef struct sl_invoker_opts {
    const char *region;         /* for ARNs and AWS_REGION; default us-east-1 */
    const char *account;        /* default 000000000000 */
    /* stdout/stderr lines of process instances are logged as
     * "function output function=NAME request=ID line=..." at info level, and
     * appended to output when it is not NULL. */
    struct sl_fnlog *output;    /* borrowed: valid until sl_invoker_destroy returns; may
                                 * be NULL */
    uint32_t term_grace_ms;     /* process: SIGTERM to SIGKILL at stop; 0 = 2000 */
} sl_invoker_opts_t;

/* New invoker for spec (copied). Returns NULL with errbuf filled when the spec
 * cannot work (native: dlopen/dlsym failed; bad url). Starts min_concurrency
 * instances. opts may be NULL. Caller destroys.
 * Process instances write to pipes and sockets: the host program must ignore
 * SIGPIPE (sluiced does), as any libevent program must. */
sl_invoker_t *sl_invoker_create(struct event_base *base, const sl_function_spec_t *spec,
                                const sl_invoker_opts_t *opts, char *errbuf, size_t errlen);
/* Queues one invocation of payload (copied). cb runs exactly once, later.
 * Returns SL_OK, or SL_ESTATE when the invoker is shutting down (cb never runs). */
int sl_invoker_invoke(sl_invoker_t *inv, const char *payload, size_t len, sl_invoke_cb cb,
                      void *arg);
/* Instances: running (started, incl. starting; not those being stopped), busy
 * (running an invocation, incl. native slots whose timed-out handler has not
 * returned yet), and invocations waiting for an instance. cold_starts counts
 * invocations that waited for an instance to start (result.cold_start). */
size_t sl_invoker_running(const sl_invoker_t *inv);
size_t sl_invoker_busy(const sl_invoker_t *inv);
size_t sl_invoker_queued(const sl_invoker_t *inv);
uint64_t sl_invoker_cold_starts(const sl_invoker_t *inv);
const sl_function_spec_t *sl_invoker_spec(const sl_invoker_t *inv);

/* Counters since create, for metrics and the autoscaler. */
typedef struct sl_invoker_stats {
    uint64_t invocations;       /* accepted by sl_invoker_invoke */
    uint64_t cold_starts;       /* invocations that waited for an instance start */
    uint64_t timeouts;
    uint64_t crashes;
    uint64_t function_errors;
    uint64_t instances_started;
    uint64_t instances_ready;   /* started instances that got ready after a real start
                                 * (process: spawn to first `next`; native: sluice_init) */
    uint64_t init_failures;
    int64_t start_us_total;     /* spawn to ready, summed over instances_ready */
    int64_t start_us_last;      /* the same for the latest one; 0 = none yet */
} sl_invoker_stats_t;

void sl_invoker_stats(const sl_invoker_t *inv, sl_invoker_stats_t *out);

/* Graceful stop: no new invocations; queued ones end SL_INVOKE_CANCELLED;
 * running ones finish up to their deadline; then instances (process groups)
 * get SIGTERM, and SIGKILL after term_grace_ms. done runs once, later, after
 * every result callback and once every process has been reaped (a native
 * handler stuck past its deadline does not hold it up). done may destroy. */
void sl_invoker_shutdown(sl_invoker_t *inv, void (*done)(void *arg), void *arg);
/* Immediate: kills instances and frees everything; callbacks of queued and
 * running invocations never run. May be called from a result callback or
 * from done. NULL is a no-op. A native handler still running keeps its
 * thread (and the loaded library) until it returns; its result is dropped. */
void sl_invoker_destroy(sl_invoker_t *inv);

#endif
