/* function.h - a function: a named handler plus how to reach it (DESIGN §1).
 *   process  a command implementing the AWS Lambda Runtime API; one OS process per
 *            concurrent instance, each with its own Runtime API listener;
 *   http     POST the event JSON to a URL over kept-alive connections;
 *   native   a shared object loaded with dlopen, exporting sluice_handler (below);
 *            handlers run on a thread pool, never on the event loop.
 * Guarded by SLUICE_FUNCTION_H. */
#ifndef SLUICE_FUNCTION_H
#define SLUICE_FUNCTION_H

#include "sluice/kv.h"

#include <stddef.h>
#include <stdint.h>

typedef enum sl_function_kind {
    SL_FUNCTION_PROCESS = 0,
    SL_FUNCTION_HTTP = 1,
    SL_FUNCTION_NATIVE = 2,
} sl_function_kind_t;

#define SL_FUNCTION_NAME_MAX 64

/* What a function is. Plain data; sl_function_spec_deinit frees the strings. */
typedef struct sl_function_spec {
    char *name;                 /* [A-Za-z0-9_-]{1,64} */
    sl_function_kind_t kind;
    char *command;              /* process: run with /bin/sh -c, in cwd */
    char *cwd;                  /* process: working directory (LAMBDA_TASK_ROOT); NULL = "." */
    char *handler;              /* process: _HANDLER (e.g. "index.handler"); may be NULL */
    char *url;                  /* http: where to POST */
    char *library;              /* native: path of the .so */
    sl_kvlist_t env;            /* extra environment for process instances */
    uint32_t timeout_ms;        /* per invocation; default 3000 (AWS Lambda's) */
    uint32_t memory_mb;         /* reported to the runtime; default 128 */
    uint32_t min_concurrency;   /* instances kept warm; default 0 (scale to zero) */
    uint32_t max_concurrency;   /* default 10 */
    uint32_t idle_timeout_ms;   /* idle instance stopped after this; default 60000 */
} sl_function_spec_t;

void sl_function_spec_init(sl_function_spec_t *f);          /* defaults, kind process */
void sl_function_spec_deinit(sl_function_spec_t *f);
void sl_function_spec_copy(sl_function_spec_t *dst, const sl_function_spec_t *src);

/* ---- The native entry point ----
 * A native function is a shared object exporting
 *     int sluice_handler(const sl_native_invoke_t *in, sl_native_result_t *out);
 * called on a pool thread with the event JSON. It returns 0 on success with the
 * response JSON in out (allocated with malloc; sluice frees it), or non-zero for a
 * function error with an optional error JSON in out. It must be thread-safe: up
 * to max_concurrency calls run at once. An optional
 *     int sluice_init(void);
 * runs once after dlopen (non-zero = init error). */
typedef struct sl_native_invoke {
    const char *payload;        /* event JSON, NUL-terminated */
    size_t len;
    const char *request_id;
    const char *function_name;
    int64_t deadline_ms;        /* epoch ms */
} sl_native_invoke_t;

typedef struct sl_native_result {
    char *payload;              /* malloc'd response or error JSON, or NULL */
    size_t len;
} sl_native_result_t;

typedef int (*sl_native_handler_fn)(const sl_native_invoke_t *in, sl_native_result_t *out);
typedef int (*sl_native_init_fn)(void);

#define SL_NATIVE_HANDLER_SYMBOL "sluice_handler"
#define SL_NATIVE_INIT_SYMBOL "sluice_init"

#endif
