/* invoke_native.c - the `native` backend: a shared object loaded with
 * dlopen(RTLD_NOW | RTLD_LOCAL) whose sluice_handler runs on the invoker's own
 * thread pool (broker/work.c), never on the loop (function.h has the ABI).
 *
 * An instance is a slot: max_concurrency slots, max_concurrency threads, so a
 * call handed to a slot starts at once. The optional sluice_init runs once, on
 * a pool thread, before the first call; while it runs, slots wait in STARTING
 * (their first calls count as cold starts); if it fails, the waiting calls end
 * SL_INVOKE_INIT_ERROR and the next start, after the pool's backoff, tries it
 * again.
 *
 * Timeouts: a thread cannot be killed. When a call passes its deadline it ends
 * SL_INVOKE_TIMEOUT at once, but its slot stays ORPHANED (busy, counted against
 * max_concurrency) until the handler returns; that late result is dropped.
 *
 * Lifetimes: a job (one call, or the init) is shared by the loop and a pool
 * thread and freed by whichever lets go last, and the loaded library is
 * reference counted by the invoker and every job. So destroying the invoker
 * while a handler is stuck neither waits for it nor unloads the code it runs:
 * the thread finishes alone, frees its job, and the last job out dlcloses. */
#include "pool.h"
#include "work.h"

#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#include <dlfcn.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct native_lib {
    atomic_uint refs;
    void *dl;
    sl_native_handler_fn handler;
    sl_native_init_fn init;     /* NULL when the library has none */
    char *function_name;        /* for sl_native_invoke_t, outliving the invoker */
} native_lib_t;

typedef struct native_job {
    atomic_uint refs;           /* the loop's and the thread's */
    atomic_bool abandoned;      /* the loop no longer wants the result */
    struct native_job *prev, *next;     /* outstanding jobs of the invoker (loop side) */
    native_lib_t *lib;
    sl_inv_inst_t *in;          /* loop side; NULL for the init job */
    sl_invoker_t *inv;
    bool is_init;
    char *payload;              /* NUL-terminated */
    size_t len;
    char request_id[SL_INV_REQUEST_ID_LEN + 1];
    int64_t deadline_ms;        /* epoch */
    int rc;
    sl_native_result_t out;     /* malloc'd by the handler */
} native_job_t;

typedef enum { INIT_NONE = 0, INIT_RUNNING, INIT_OK } init_state_t;

typedef struct native_fn {
    native_lib_t *lib;
    sl_work_pool_t *pool;
    init_state_t init;
    native_job_t *jobs;         /* outstanding */
} native_fn_t;

typedef struct native_inst {
    native_job_t *job;          /* running or orphaned */
} native_inst_t;

/* ---- Reference counting (any thread) ---- */

static void
lib_unref(native_lib_t *lib)
{
    if (atomic_fetch_sub(&lib->refs, 1) != 1)
        return;
    dlclose(lib->dl);
    sl_free(lib->function_name);
    sl_free(lib);
}

static void
job_unref(native_job_t *j)
{
    if (atomic_fetch_sub(&j->refs, 1) != 1)
        return;
    free(j->out.payload);       /* the handler's malloc */
    sl_free(j->payload);
    lib_unref(j->lib);
    sl_free(j);
}

/* ---- On a pool thread ---- */

static void
job_run(void *arg)
{
    native_job_t *j = arg;

    if (!atomic_load(&j->abandoned)) {
        if (j->is_init) {
            j->rc = j->lib->init ? j->lib->init() : 0;
        } else {
            sl_native_invoke_t in = {
                .payload = j->payload,
                .len = j->len,
                .request_id = j->request_id,
                .function_name = j->lib->function_name,
                .deadline_ms = j->deadline_ms,
            };

            j->rc = j->lib->handler(&in, &j->out);
        }
    }
    job_unref(j);
}

/* ---- On the loop ---- */

static native_job_t *
job_new(sl_invoker_t *inv)
{
    native_fn_t *fn = inv->be_state;
    native_job_t *j = sl_calloc(1, sizeof(*j));

    atomic_init(&j->refs, 2);
    atomic_init(&j->abandoned, false);
    j->inv = inv;
    j->lib = fn->lib;
    atomic_fetch_add(&fn->lib->refs, 1);
    j->next = fn->jobs;
    if (fn->jobs)
        fn->jobs->prev = j;
    fn->jobs = j;
    return j;
}

static void
job_forget(native_fn_t *fn, native_job_t *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        fn->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    j->prev = j->next = NULL;
}

static void
init_done(sl_invoker_t *inv, native_job_t *j)
{
    native_fn_t *fn = inv->be_state;
    sl_inv_inst_t *in, *next;
    char msg[96];

    if (j->rc == 0) {
        fn->init = INIT_OK;
        sl_log(SL_LOG_INFO, "native init done function=%s", sl__inv_name(inv));
        for (in = inv->insts; in; in = next) {
            next = in->next;
            if (in->state == SL_INST_STARTING)
                sl__pool_ready(in);
        }
        return;
    }
    fn->init = INIT_NONE;
    snprintf(msg, sizeof(msg), "%s returned %d", SL_NATIVE_INIT_SYMBOL, j->rc);
    for (in = inv->insts; in; in = next) {
        next = in->next;
        if (in->state == SL_INST_STARTING)
            sl__pool_init_failed(in, "Runtime.InitError", msg, true);
    }
}

static void
call_done(native_job_t *j)
{
    sl_inv_inst_t *in = j->in;
    native_inst_t *ni = in->be;
    json_t *err = NULL;
    const char *type = "Unhandled", *m = NULL;
    char msg[96];

    ni->job = NULL;
    if (in->state == SL_INST_ORPHANED) {
        sl_log(SL_LOG_INFO, "native late result dropped function=%s instance=%u request=%s",
               sl__inv_name(in->inv), in->id, j->request_id);
        sl__pool_ready(in);
        return;
    }
    if (in->state != SL_INST_BUSY)
        return;
    if (j->rc == 0) {
        sl__pool_complete(in, SL_INVOKE_OK, j->out.payload, j->out.payload ? j->out.len : 0,
                          NULL, NULL);
    } else {
        if (j->out.payload && j->out.len)
            err = json_loadb(j->out.payload, j->out.len, 0, NULL);
        if (json_is_object(err)) {
            const char *t = json_string_value(json_object_get(err, "errorType"));

            if (t && *t)
                type = t;
            m = json_string_value(json_object_get(err, "errorMessage"));
        }
        if (m == NULL) {
            snprintf(msg, sizeof(msg), "%s returned %d", SL_NATIVE_HANDLER_SYMBOL, j->rc);
            m = msg;
        }
        sl__pool_complete(in, SL_INVOKE_FUNCTION_ERROR, j->out.payload,
                          j->out.payload ? j->out.len : 0, type, m);
        json_decref(err);
    }
    sl__pool_ready(in);
}

static void
job_done(void *arg)
{
    native_job_t *j = arg;
    sl_invoker_t *inv = j->inv;

    job_forget(inv->be_state, j);
    if (j->is_init)
        init_done(inv, j);
    else if (j->in)
        call_done(j);
    job_unref(j);
}

static bool
submit(sl_invoker_t *inv, native_job_t *j)
{
    native_fn_t *fn = inv->be_state;

    if (sl_work_submit(fn->pool, job_run, job_done, j) == SL_OK)
        return true;
    job_forget(fn, j);
    atomic_store(&j->refs, 1);
    job_unref(j);
    return false;
}

/* ---- Backend hooks ---- */

static int
native_start(sl_inv_inst_t *in, char *errbuf, size_t errlen)
{
    sl_invoker_t *inv = in->inv;
    native_fn_t *fn = inv->be_state;
    native_job_t *j;

    in->be = sl_calloc(1, sizeof(native_inst_t));
    switch (fn->init) {
    case INIT_OK:
        sl__pool_ready(in);
        break;
    case INIT_RUNNING:
        break;                  /* init_done readies every STARTING slot */
    case INIT_NONE:
        j = job_new(inv);
        j->is_init = true;
        if (!submit(inv, j)) {
            snprintf(errbuf, errlen, "cannot queue %s", SL_NATIVE_INIT_SYMBOL);
            return SL_EBACKEND;
        }
        fn->init = INIT_RUNNING;
        sl_log(SL_LOG_INFO, "native init started function=%s", sl__inv_name(inv));
        break;
    }
    return SL_OK;
}

static void
native_run(sl_inv_inst_t *in)
{
    sl_invoker_t *inv = in->inv;
    native_inst_t *ni = in->be;
    sl_inv_call_t *c = in->call;
    native_job_t *j = job_new(inv);

    j->in = in;
    j->payload = c->payload;            /* the call needs it no more */
    j->len = c->len;
    c->payload = NULL;
    memcpy(j->request_id, c->request_id, sizeof(j->request_id));
    j->deadline_ms = c->deadline_epoch_ms;
    ni->job = j;
    if (!submit(inv, j)) {
        ni->job = NULL;
        sl__pool_complete(in, SL_INVOKE_CRASH, NULL, 0, "Sluice.WorkPoolError",
                          "the thread pool refused the call");
        sl__pool_ready(in);
    }
}

static sl_inst_state_t
native_timed_out(sl_inv_inst_t *in)
{
    native_inst_t *ni = in->be;

    if (ni->job == NULL)
        return SL_INST_IDLE;
    atomic_store(&ni->job->abandoned, true);    /* skips the handler if not yet started */
    return SL_INST_ORPHANED;
}

static bool
native_stop(sl_inv_inst_t *in, bool graceful)
{
    (void)in;
    (void)graceful;
    return true;
}

static void
native_free_inst(sl_inv_inst_t *in)
{
    native_inst_t *ni = in->be;

    if (ni == NULL)
        return;
    if (ni->job) {
        atomic_store(&ni->job->abandoned, true);
        ni->job->in = NULL;             /* native_destroy lets go of it */
    }
    sl_free(ni);
    in->be = NULL;
}

static int
native_create(sl_invoker_t *inv, char *errbuf, size_t errlen)
{
    native_fn_t *fn;
    native_lib_t *lib;
    void *dl, *h, *init;
    const char *e;

    if (inv->spec.library == NULL || inv->spec.library[0] == '\0') {
        snprintf(errbuf, errlen, "native function needs a library");
        return SL_EINVAL;
    }
    if ((dl = dlopen(inv->spec.library, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        e = dlerror();
        snprintf(errbuf, errlen, "dlopen: %s", e ? e : inv->spec.library);
        return SL_EINVAL;
    }
    dlerror();
    h = dlsym(dl, SL_NATIVE_HANDLER_SYMBOL);
    if (h == NULL) {
        e = dlerror();
        snprintf(errbuf, errlen, "dlsym %s: %s", SL_NATIVE_HANDLER_SYMBOL,
                 e ? e : "symbol is NULL");
        dlclose(dl);
        return SL_EINVAL;
    }
    init = dlsym(dl, SL_NATIVE_INIT_SYMBOL);
    lib = sl_calloc(1, sizeof(*lib));
    atomic_init(&lib->refs, 1);
    lib->dl = dl;
    /* POSIX lets dlsym's object pointer convert to a function pointer. */
    memcpy(&lib->handler, &h, sizeof(h));
    if (init)
        memcpy(&lib->init, &init, sizeof(init));
    lib->function_name = sl_strdup(inv->spec.name);
    fn = sl_calloc(1, sizeof(*fn));
    fn->lib = lib;
    fn->init = lib->init ? INIT_NONE : INIT_OK;
    fn->pool = sl_work_pool_create(inv->base, inv->spec.max_concurrency);
    if (fn->pool == NULL) {
        snprintf(errbuf, errlen, "cannot start %u threads", inv->spec.max_concurrency);
        lib_unref(lib);
        sl_free(fn);
        return SL_EBACKEND;
    }
    inv->be_state = fn;
    return SL_OK;
}

static void
native_destroy(sl_invoker_t *inv)
{
    native_fn_t *fn = inv->be_state;
    native_job_t *j;

    sl_work_pool_destroy(fn->pool);     /* no job_done from here on */
    while ((j = fn->jobs) != NULL) {
        job_forget(fn, j);
        atomic_store(&j->abandoned, true);
        job_unref(j);                   /* the loop's reference */
    }
    lib_unref(fn->lib);
    sl_free(fn);
    inv->be_state = NULL;
}

const sl_inv_backend_t sl__inv_native_backend = {
    .kind = "native",
    .create = native_create,
    .destroy = native_destroy,
    .start = native_start,
    .run = native_run,
    .timed_out = native_timed_out,
    .stop = native_stop,
    .kill = NULL,
    .free_inst = native_free_inst,
};
