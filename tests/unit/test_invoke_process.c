/* test_invoke_process.c - the process invoker with real processes and real
 * runtimes: the shell custom runtime (tests/integration/functions/shell,
 * POSIX sh + curl as AWS's tutorial writes one), AWS's own Node.js runtime
 * interface client (functions/node; skipped only when its node_modules is not
 * installed), a minimal C runtime (functions/c_runtime, built by CMake), and
 * the Runtime API itself driven request by request with the requests
 * aws-lambda-ric 3.3.0 sent (tests/unit/data/lambda-runtime).
 *
 * Covered: success, function errors, timeouts (the process group is killed and
 * the instance replaced), crashes, init errors with backoff, the Lambda
 * environment, concurrency up to max with the rest queued, idle reaping to
 * min, cold starts, output lines logged with their request id, graceful
 * shutdown, destroy with processes running, and the Runtime API's status
 * codes. Every wait is bounded; everything started is stopped; loopback only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fnlog.h"
#include "invoke.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#ifndef SLUICE_TEST_C_RUNTIME
#error "SLUICE_TEST_C_RUNTIME must name the C runtime test program"
#endif

static struct event_base *base;
static char functions_dir[PATH_MAX];    /* tests/integration/functions */
static char data_dir[PATH_MAX];         /* tests/unit/data/lambda-runtime */
static char tmp_dir[PATH_MAX];          /* TMPDIR of the runtimes; removed at the end */

/* ---- Results ---- */

typedef struct res {
    bool returned;
    bool early;
    int runs;
    sl_invoke_outcome_t outcome;
    char payload[8192];
    size_t len;
    char error_type[96];
    char error_message[256];
    char request_id[64];
    bool cold;
    int64_t cold_ms;
} res_t;

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_result(void *arg, const sl_invoke_result_t *r)
{
    res_t *x = arg;

    if (!x->returned)
        x->early = true;
    x->runs++;
    x->outcome = r->outcome;
    x->len = r->len;
    snprintf(x->payload, sizeof(x->payload), "%.*s", (int)r->len, r->payload ? r->payload : "");
    snprintf(x->error_type, sizeof(x->error_type), "%s", r->error_type ? r->error_type : "");
    snprintf(x->error_message, sizeof(x->error_message), "%s",
             r->error_message ? r->error_message : "");
    snprintf(x->request_id, sizeof(x->request_id), "%s", r->request_id ? r->request_id : "");
    x->cold = r->cold_start;
    x->cold_ms = r->cold_start_ms;
}

static void
invoke(sl_invoker_t *inv, const char *payload, res_t *x)
{
    memset(x, 0, sizeof(*x));
    assert_int_equal(sl_invoker_invoke(inv, payload, strlen(payload), on_result, x), SL_OK);
    x->returned = true;
    assert_int_equal(x->runs, 0);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static bool
run_until(bool (*pred)(void *), void *ctx, int timeout_ms)
{
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = { 0, 5000 };
    int64_t deadline = now_ms() + timeout_ms;
    bool ok;

    event_add(tick, &tv);
    while (!(ok = pred(ctx)) && now_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    return ok;
}

static bool
has_run(void *ctx)
{
    return ((res_t *)ctx)->runs > 0;
}

static void
wait_result(res_t *x, int timeout_ms)
{
    assert_true(run_until(has_run, x, timeout_ms));
    assert_int_equal(x->runs, 1);
    assert_false(x->early);
}

static bool
never(void *ctx)
{
    (void)ctx;
    return false;
}

static void
run_for(int ms)
{
    run_until(never, NULL, ms);
}

typedef struct many {
    int n;
    res_t *r;
} many_t;

static bool
all_run(void *ctx)
{
    many_t *m = ctx;

    for (int i = 0; i < m->n; i++)
        if (m->r[i].runs == 0)
            return false;
    return true;
}

static bool
none_running(void *ctx)
{
    return sl_invoker_running(ctx) == 0;
}

/* ---- Functions ---- */

static void
spec_shell(sl_function_spec_t *s, const char *name)
{
    char dir[PATH_MAX + 16];

    snprintf(dir, sizeof(dir), "%s/shell", functions_dir);
    sl_function_spec_init(s);
    s->kind = SL_FUNCTION_PROCESS;
    s->name = sl_strdup(name);
    s->command = sl_strdup("./bootstrap");
    s->cwd = sl_strdup(dir);
    s->handler = sl_strdup("function.handler");
    s->timeout_ms = 5000;
    sl_kvlist_set(&s->env, "TMPDIR", tmp_dir);
}

static sl_invoker_t *
make(sl_function_spec_t *s, const sl_invoker_opts_t *opts)
{
    char err[256];
    sl_invoker_t *inv = sl_invoker_create(base, s, opts, err, sizeof(err));

    if (inv == NULL)
        fail_msg("create: %s", err);
    sl_function_spec_deinit(s);
    return inv;
}

/* Destroys inv once every process is gone (the usual end of a test). */
static void
stop_and_destroy(sl_invoker_t *inv)
{
    sl_invoker_shutdown(inv, NULL, NULL);
    assert_true(run_until(none_running, inv, 10000));
    sl_invoker_destroy(inv);
}

static char *
json_str(const char *doc, const char *key, char *out, size_t n)
{
    json_t *j = json_loads(doc, 0, NULL);
    const char *v = json_string_value(json_object_get(j, key));

    snprintf(out, n, "%s", v ? v : "<missing>");
    json_decref(j);
    return out;
}

/* ---- The shell custom runtime ---- */

static void
test_shell_echo_cold_start_and_env(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    sl_invoker_stats_t st;
    res_t a, b, c;
    char v[PATH_MAX + 16], root[PATH_MAX + 16];
    sl_invoker_opts_t opts = { .region = "eu-west-1", .account = "123456789012" };

    (void)state;
    spec_shell(&s, "shell-echo");
    s.memory_mb = 256;
    sl_kvlist_set(&s.env, "SLUICE_TEST_EXTRA", "from spec env");
    inv = make(&s, &opts);
    assert_int_equal(sl_invoker_running(inv), 0);   /* scale to zero: nothing yet */
    invoke(inv, "{\"hello\":\"shell\"}", &a);
    assert_int_equal(sl_invoker_running(inv), 1);   /* starting */
    wait_result(&a, 10000);
    assert_int_equal(a.outcome, SL_INVOKE_OK);
    assert_string_equal(a.payload, "{\"hello\":\"shell\"}");
    assert_true(a.cold);
    assert_int_equal(sl_invoker_cold_starts(inv), 1);

    invoke(inv, "{\"action\":\"env\"}", &b);
    wait_result(&b, 10000);
    assert_int_equal(b.outcome, SL_INVOKE_OK);
    assert_false(b.cold);
    snprintf(root, sizeof(root), "%s/shell", functions_dir);
    assert_string_equal(json_str(b.payload, "name", v, sizeof(v)), "shell-echo");
    assert_string_equal(json_str(b.payload, "version", v, sizeof(v)), "$LATEST");
    assert_string_equal(json_str(b.payload, "memory", v, sizeof(v)), "256");
    assert_string_equal(json_str(b.payload, "group", v, sizeof(v)), "/aws/lambda/shell-echo");
    assert_non_null(strstr(json_str(b.payload, "stream", v, sizeof(v)), "/[$LATEST]"));
    assert_string_equal(json_str(b.payload, "region", v, sizeof(v)), "eu-west-1");
    assert_string_equal(json_str(b.payload, "root", v, sizeof(v)), root);
    assert_string_equal(json_str(b.payload, "cwd", v, sizeof(v)), root);
    assert_string_equal(json_str(b.payload, "handler", v, sizeof(v)), "function.handler");
    assert_string_equal(json_str(b.payload, "tz", v, sizeof(v)), ":UTC");
    assert_string_equal(json_str(b.payload, "init", v, sizeof(v)), "on-demand");
    assert_string_equal(json_str(b.payload, "key", v, sizeof(v)), "test");
    assert_string_equal(json_str(b.payload, "extra", v, sizeof(v)), "from spec env");

    invoke(inv, "{\"third\":3}", &c);
    wait_result(&c, 10000);
    assert_false(c.cold);
    sl_invoker_stats(inv, &st);
    assert_int_equal(st.instances_started, 1);
    assert_int_equal(st.instances_ready, 1);
    assert_true(st.start_us_last > 0);
    assert_int_equal(st.invocations, 3);
    assert_int_equal(sl_invoker_running(inv), 1);
    assert_int_equal(sl_invoker_busy(inv), 0);
    stop_and_destroy(inv);
}

static void
test_shell_function_error(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    res_t a, b;

    (void)state;
    spec_shell(&s, "shell-fail");
    inv = make(&s, NULL);
    invoke(inv, "{\"action\":\"fail\"}", &a);
    wait_result(&a, 10000);
    assert_int_equal(a.outcome, SL_INVOKE_FUNCTION_ERROR);
    assert_string_equal(a.error_type, "HandlerError");
    assert_string_equal(a.error_message, "failed on purpose");
    assert_non_null(strstr(a.payload, "\"errorType\":\"HandlerError\""));
    /* The same instance goes on serving. */
    invoke(inv, "{\"ok\":1}", &b);
    wait_result(&b, 10000);
    assert_int_equal(b.outcome, SL_INVOKE_OK);
    assert_false(b.cold);
    stop_and_destroy(inv);
}

static void
test_shell_timeout_kills_and_replaces(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    sl_invoker_stats_t st;
    res_t a, b;
    int64_t t0;

    (void)state;
    spec_shell(&s, "shell-timeout");
    s.timeout_ms = 1000;
    inv = make(&s, NULL);
    invoke(inv, "{\"warm\":1}", &a);
    wait_result(&a, 10000);
    t0 = now_ms();
    invoke(inv, "{\"action\":\"sleep\"}", &a);
    wait_result(&a, 10000);
    assert_int_equal(a.outcome, SL_INVOKE_TIMEOUT);
    assert_string_equal(a.error_type, "Sandbox.Timedout");
    assert_string_equal(a.error_message, "Task timed out after 1.00 seconds");
    assert_true(now_ms() - t0 < 5000);  /* not the handler's 30 s */
    assert_true(run_until(none_running, inv, 5000));   /* the group was killed */
    invoke(inv, "{\"after\":1}", &b);
    wait_result(&b, 10000);
    assert_int_equal(b.outcome, SL_INVOKE_OK);
    assert_true(b.cold);                /* a fresh instance */
    sl_invoker_stats(inv, &st);
    assert_int_equal(st.instances_started, 2);
    assert_int_equal(st.timeouts, 1);
    stop_and_destroy(inv);
}

static void
test_shell_crash(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    sl_invoker_stats_t st;
    res_t a, b;

    (void)state;
    spec_shell(&s, "shell-crash");
    s.min_concurrency = 1;              /* replaced at once to keep the minimum */
    inv = make(&s, NULL);
    invoke(inv, "{\"action\":\"crash\"}", &a);
    wait_result(&a, 10000);
    assert_int_equal(a.outcome, SL_INVOKE_CRASH);
    assert_string_equal(a.error_type, "Runtime.ExitError");
    assert_non_null(strstr(a.error_message, "Runtime exited with error: "));
    assert_non_null(strstr(a.error_message, a.request_id));
    run_for(300);
    assert_int_equal(sl_invoker_running(inv), 1);
    invoke(inv, "{\"after\":1}", &b);
    wait_result(&b, 10000);
    assert_int_equal(b.outcome, SL_INVOKE_OK);
    sl_invoker_stats(inv, &st);
    assert_int_equal(st.instances_started, 2);
    assert_int_equal(st.crashes, 1);
    stop_and_destroy(inv);
}

static void
test_shell_init_error_backs_off(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    sl_invoker_stats_t st;
    res_t a, b;

    (void)state;
    spec_shell(&s, "shell-initfail");
    sl_kvlist_set(&s.env, "SLUICE_TEST_INIT_FAIL", "1");
    inv = make(&s, NULL);
    invoke(inv, "{\"x\":1}", &a);
    wait_result(&a, 10000);
    assert_int_equal(a.outcome, SL_INVOKE_INIT_ERROR);
    assert_string_equal(a.error_type, "Runtime.HandlerNotFound");
    assert_string_equal(a.error_message, "function.handler is undefined or not exported");
    /* Backing off: no process is started for the next call; it fails at once. */
    invoke(inv, "{\"x\":2}", &b);
    wait_result(&b, 500);
    assert_int_equal(b.outcome, SL_INVOKE_INIT_ERROR);
    assert_true(run_until(none_running, inv, 5000));
    sl_invoker_stats(inv, &st);
    assert_int_equal(st.instances_started, 1);
    assert_int_equal(st.init_failures, 1);
    /* After the backoff a new process is tried (and fails again: 2 s next). */
    run_for(1100);
    invoke(inv, "{\"x\":3}", &b);
    wait_result(&b, 10000);
    assert_int_equal(b.outcome, SL_INVOKE_INIT_ERROR);
    sl_invoker_stats(inv, &st);
    assert_int_equal(st.instances_started, 2);
    stop_and_destroy(inv);
}

static void
test_shell_command_not_found_is_init_error(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    res_t a;

    (void)state;
    spec_shell(&s, "shell-missing");
    sl_free(s.command);
    s.command = sl_strdup("./no-such-bootstrap");
    inv = make(&s, NULL);
    invoke(inv, "{}", &a);
    wait_result(&a, 10000);
    assert_int_equal(a.outcome, SL_INVOKE_INIT_ERROR);
    assert_string_equal(a.error_type, "Runtime.ExitError");
    assert_non_null(strstr(a.error_message, "exit status 127"));
    stop_and_destroy(inv);
}

static bool
three_busy(void *ctx)
{
    return sl_invoker_busy(ctx) == 3;
}

static bool
one_ready(void *ctx)
{
    sl_invoker_stats_t st;

    sl_invoker_stats(ctx, &st);
    return st.instances_ready >= 1;
}

static bool
two_busy(void *ctx)
{
    return sl_invoker_busy(ctx) == 2;
}

static void
test_shell_concurrency_and_idle_reaping(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    sl_invoker_stats_t st;
    res_t r[5];
    many_t m = { 5, r };
    int cold = 0;

    (void)state;
    spec_shell(&s, "shell-conc");
    s.max_concurrency = 3;
    s.min_concurrency = 1;
    s.idle_timeout_ms = 300;
    inv = make(&s, NULL);
    assert_true(run_until(one_ready, inv, 10000));     /* the warm minimum, started */
    assert_int_equal(sl_invoker_running(inv), 1);
    for (int i = 0; i < 5; i++)
        invoke(inv, "{\"action\":\"nap\"}", &r[i]);
    assert_int_equal(sl_invoker_running(inv), 3);      /* up to max, no more */
    assert_true(run_until(three_busy, inv, 5000));
    assert_int_equal(sl_invoker_queued(inv), 2);       /* the rest wait in order */
    assert_true(run_until(all_run, &m, 15000));
    for (int i = 0; i < 5; i++) {
        assert_int_equal(r[i].outcome, SL_INVOKE_OK);
        cold += r[i].cold;
    }
    assert_int_equal(cold, 2);          /* two waited for a start; one found it warm */
    sl_invoker_stats(inv, &st);
    assert_int_equal(st.instances_started, 3);
    run_for(1000);                      /* idle 300 ms: reaped, but never below min */
    assert_int_equal(sl_invoker_running(inv), 1);
    stop_and_destroy(inv);
}

static void
test_shell_output_logged_with_request_id(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    res_t a;
    char path[PATH_MAX + 16], want[256], *text;
    int saved, fd;
    FILE *f;
    long n;

    (void)state;
    snprintf(path, sizeof(path), "%s/stderr.log", tmp_dir);
    fflush(stderr);
    saved = dup(2);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0 && saved >= 0);
    dup2(fd, 2);
    close(fd);
    sl_log_level = SL_LOG_INFO;

    spec_shell(&s, "shell-log");
    inv = make(&s, NULL);
    invoke(inv, "{\"action\":\"log\"}", &a);
    run_until(has_run, &a, 10000);
    run_for(200);                       /* the pipes are read on the loop */
    stop_and_destroy(inv);

    sl_log_level = SL_LOG_WARN;
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    wait_result(&a, 0);
    assert_int_equal(a.outcome, SL_INVOKE_OK);
    f = fopen(path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    snprintf(want, sizeof(want),
             "function output function=shell-log request=%s line=log line one from the handler",
             a.request_id);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want),
             "function output function=shell-log request=%s line=log line two from the handler",
             a.request_id);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "function output function=shell-log request=- "
                                 "line=bootstrap starting function=shell-log"));
    free(text);
}

static bool
ring_has_two(void *ctx)
{
    sl_fnlog_t *ring = ctx;

    for (size_t i = 0; i < sl__fnlog_count(ring); i++)
        if (strstr(sl__fnlog_at(ring, i)->text, "log line two") != NULL)
            return true;
    return false;
}

/* The same lines reach the ring given in opts.output, with stream, instance and
 * request id (what `sluice function logs` prints). */
static void
test_shell_output_into_ring(void **state)
{
    sl_fnlog_t *ring = sl__fnlog_create(100, 0);
    sl_invoker_opts_t opts = { .output = ring };
    const sl_fnlog_line_t *l;
    sl_function_spec_t s;
    sl_invoker_t *inv;
    int seen = 0;
    res_t a;

    (void)state;
    spec_shell(&s, "shell-ring");
    inv = make(&s, &opts);
    invoke(inv, "{\"action\":\"log\"}", &a);
    run_until(has_run, &a, 10000);
    assert_true(run_until(ring_has_two, ring, 10000));
    stop_and_destroy(inv);
    wait_result(&a, 0);
    assert_int_equal(a.outcome, SL_INVOKE_OK);
    l = sl__fnlog_at(ring, 0);
    assert_string_equal(l->text, "bootstrap starting function=shell-ring handler=function.handler");
    assert_int_equal(l->stream, SL_FNLOG_STDOUT);
    assert_string_equal(l->request, "");
    for (size_t i = 0; i < sl__fnlog_count(ring); i++) {
        l = sl__fnlog_at(ring, i);
        if (strncmp(l->text, "log line ", 9) != 0)
            continue;
        assert_int_equal(l->stream, SL_FNLOG_STDERR);
        assert_int_equal(l->instance, 1);
        assert_string_equal(l->request, a.request_id);
        assert_int_equal(l->seq, i + 1);
        seen++;
    }
    assert_int_equal(seen, 2);
    sl__fnlog_destroy(ring);
}

static bool shut_done;

static void
on_shutdown(void *arg)
{
    (void)arg;
    shut_done = true;
}

static bool
is_shut(void *ctx)
{
    (void)ctx;
    return shut_done;
}

static bool
is_busy(void *ctx)
{
    return sl_invoker_busy(ctx) > 0;
}

static void
test_shell_graceful_shutdown(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    res_t a, b, c;

    (void)state;
    spec_shell(&s, "shell-shut");
    s.max_concurrency = 1;
    inv = make(&s, NULL);
    invoke(inv, "{\"action\":\"nap\"}", &a);
    invoke(inv, "{\"queued\":1}", &b);
    /* The nap must be running, not waiting for the instance to start (which takes
     * longer than any fixed wait on a loaded machine). */
    assert_true(run_until(is_busy, inv, 10000));
    shut_done = false;
    sl_invoker_shutdown(inv, on_shutdown, NULL);
    assert_int_equal(sl_invoker_invoke(inv, "{}", 2, on_result, &c), SL_ESTATE);
    assert_true(run_until(is_shut, NULL, 10000));
    assert_int_equal(a.runs, 1);
    assert_int_equal(a.outcome, SL_INVOKE_OK);          /* ran to its end */
    assert_int_equal(b.runs, 1);
    assert_int_equal(b.outcome, SL_INVOKE_CANCELLED);
    assert_int_equal(sl_invoker_running(inv), 0);
    sl_invoker_destroy(inv);
}

static void
test_shutdown_kills_runtime_ignoring_sigterm(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    sl_invoker_opts_t opts = { .term_grace_ms = 300 };
    char cmd[256];

    (void)state;
    /* A "runtime" that ignores SIGTERM and never asks for work. */
    sl_function_spec_init(&s);
    s.name = sl_strdup("stubborn");
    snprintf(cmd, sizeof(cmd), "trap '' TERM; while :; do sleep 0.05; done");
    s.command = sl_strdup(cmd);
    s.min_concurrency = 1;
    inv = make(&s, &opts);
    run_for(100);
    assert_int_equal(sl_invoker_running(inv), 1);
    shut_done = false;
    sl_invoker_shutdown(inv, on_shutdown, NULL);
    assert_true(run_until(is_shut, NULL, 5000));        /* SIGKILL after 300 ms */
    sl_invoker_destroy(inv);
}

static void
test_destroy_with_processes_running(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    res_t a, b;

    (void)state;
    spec_shell(&s, "shell-destroy");
    inv = make(&s, NULL);
    invoke(inv, "{\"action\":\"sleep\"}", &a);
    invoke(inv, "{\"action\":\"sleep\"}", &b);
    assert_true(run_until(two_busy, inv, 10000));
    sl_invoker_destroy(inv);            /* SIGKILLs both groups, no callbacks */
    run_for(100);
    assert_int_equal(a.runs, 0);
    assert_int_equal(b.runs, 0);
}

/* ---- The C runtime: many invocations over a few instances ---- */

static void
test_c_runtime_many(void **state)
{
    enum { N = 2000 };
    sl_function_spec_t s;
    sl_invoker_t *inv;
    res_t *r = calloc(N, sizeof(*r));
    many_t m = { N, r };
    char body[64];

    (void)state;
    sl_function_spec_init(&s);
    s.name = sl_strdup("c-runtime");
    s.command = sl_strdup(SLUICE_TEST_C_RUNTIME);
    s.max_concurrency = 4;
    inv = make(&s, NULL);
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "{\"i\":%d}", i);
        invoke(inv, body, &r[i]);
    }
    assert_true(run_until(all_run, &m, 60000));
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "{\"i\":%d}", i);
        assert_int_equal(r[i].runs, 1);
        assert_int_equal(r[i].outcome, SL_INVOKE_OK);
        assert_string_equal(r[i].payload, body);
    }
    assert_int_equal(sl_invoker_running(inv), 4);
    stop_and_destroy(inv);
    free(r);
}

/* ---- The Runtime API, request by request ---- */

typedef struct hreq {
    bool done;
    int code;
    char body[16384];
    size_t len;
    char id[64], deadline[32], arn[160], trace[160], ctype[64];
} hreq_t;

static struct evhttp_connection *conns[32];
static int nconns;

static void
on_http_done(struct evhttp_request *req, void *arg)
{
    hreq_t *h = arg;
    struct evkeyvalq *hd;
    const char *v;

    h->done = true;
    if (req == NULL)
        return;
    h->code = evhttp_request_get_response_code(req);
    h->len = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    if (h->len >= sizeof(h->body))
        h->len = sizeof(h->body) - 1;
    evbuffer_remove(evhttp_request_get_input_buffer(req), h->body, h->len);
    h->body[h->len] = '\0';
    hd = evhttp_request_get_input_headers(req);
#define HDR(name, dst) \
    snprintf(dst, sizeof(dst), "%s", (v = evhttp_find_header(hd, name)) ? v : "")
    HDR("Lambda-Runtime-Aws-Request-Id", h->id);
    HDR("Lambda-Runtime-Deadline-Ms", h->deadline);
    HDR("Lambda-Runtime-Invoked-Function-Arn", h->arn);
    HDR("Lambda-Runtime-Trace-Id", h->trace);
    HDR("Content-Type", h->ctype);
#undef HDR
}

static bool
req_done(void *ctx)
{
    return ((hreq_t *)ctx)->done;
}

/* Sends a request to the listener on port (a new connection, like curl), with
 * the headers "Name: value" of hdrs (NULL-terminated). */
static void
send_req(int port, enum evhttp_cmd_type cmd, const char *path, const char *const *hdrs,
         const char *body, size_t len, hreq_t *h)
{
    struct evhttp_connection *c = evhttp_connection_base_new(base, NULL, "127.0.0.1",
                                                             (unsigned short)port);
    struct evhttp_request *req = evhttp_request_new(on_http_done, h);
    struct evkeyvalq *hd = evhttp_request_get_output_headers(req);

    assert_true(nconns < 32);
    conns[nconns++] = c;
    memset(h, 0, sizeof(*h));
    evhttp_add_header(hd, "Host", "127.0.0.1");
    for (int i = 0; hdrs && hdrs[i]; i += 2)
        evhttp_add_header(hd, hdrs[i], hdrs[i + 1]);
    if (body)
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    assert_int_equal(evhttp_make_request(c, req, cmd, path), 0);
}

static void
do_req(int port, enum evhttp_cmd_type cmd, const char *path, const char *const *hdrs,
       const char *body, size_t len, hreq_t *h)
{
    send_req(port, cmd, path, hdrs, body, len, h);
    assert_true(run_until(req_done, h, 5000));
}

static void
free_conns(void)
{
    while (nconns > 0)
        evhttp_connection_free(conns[--nconns]);
}

/* A replayed vector: its method, path (request id replaced), headers, body. */
typedef struct vec {
    enum evhttp_cmd_type cmd;
    char path[256];
    char *hdrs[32];
    char *body;
    size_t len;
} vec_t;

static void
vec_load(vec_t *v, const char *name, const char *request_id)
{
    char path[PATH_MAX + 64], *text, *p, *eol, *colon;
    FILE *f;
    long n;
    int nh = 0;

    memset(v, 0, sizeof(*v));
    snprintf(path, sizeof(path), "%s/%s", data_dir, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    eol = strstr(text, "\r\n");
    assert_non_null(eol);
    *eol = '\0';
    v->cmd = strncmp(text, "GET ", 4) == 0 ? EVHTTP_REQ_GET : EVHTTP_REQ_POST;
    p = strchr(text, ' ') + 1;
    *strchr(p, ' ') = '\0';
    if (request_id && strstr(p, "/invocation/req-")) {
        char *id = strstr(p, "/invocation/") + 12, *rest = strchr(id, '/');

        snprintf(v->path, sizeof(v->path), "%.*s%s%s", (int)(id - p), p, request_id, rest);
    } else {
        snprintf(v->path, sizeof(v->path), "%s", p);
    }
    for (p = eol + 2; strncmp(p, "\r\n", 2) != 0; p = eol + 2) {
        eol = strstr(p, "\r\n");
        *eol = '\0';
        colon = strchr(p, ':');
        *colon = '\0';
        if (strcasecmp(p, "Host") == 0 || strcasecmp(p, "Content-Length") == 0 ||
            strcasecmp(p, "Connection") == 0)
            continue;
        v->hdrs[nh++] = strdup(p);
        v->hdrs[nh++] = strdup(colon + 2);
    }
    p += 2;
    v->len = (size_t)(text + n - p);
    v->body = malloc(v->len + 1);
    memcpy(v->body, p, v->len);
    v->body[v->len] = '\0';
    free(text);
}

static void
vec_free(vec_t *v)
{
    for (int i = 0; v->hdrs[i]; i++)
        free(v->hdrs[i]);
    free(v->body);
}

static void
vec_send(int port, const char *name, const char *request_id, hreq_t *h)
{
    vec_t v;

    vec_load(&v, name, request_id);
    do_req(port, v.cmd, v.path, (const char *const *)v.hdrs, v.body, v.len, h);
    vec_free(&v);
}

/* A stand-in runtime that writes its AWS_LAMBDA_RUNTIME_API to a file and
 * waits; the test then plays the runtime itself. */
static sl_invoker_t *
make_stub(const char *name, const char *port_file)
{
    sl_function_spec_t s;
    char cmd[3 * PATH_MAX + 128];       /* the path appears three times */

    unlink(port_file);
    sl_function_spec_init(&s);
    s.name = sl_strdup(name);
    snprintf(cmd, sizeof(cmd), "echo \"$AWS_LAMBDA_RUNTIME_API\" > %s.tmp && mv %s.tmp %s && "
             "exec sleep 60", port_file, port_file, port_file);
    s.command = sl_strdup(cmd);
    s.timeout_ms = 5000;
    return make(&s, NULL);
}

static bool
file_exists(void *ctx)
{
    struct stat sb;

    return stat(ctx, &sb) == 0;
}

static int
read_port(const char *port_file)
{
    char buf[64] = "";
    FILE *f;
    char *colon;

    assert_true(run_until(file_exists, (void *)port_file, 5000));
    f = fopen(port_file, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_int_equal(strncmp(buf, "127.0.0.1:", 10), 0);
    colon = strchr(buf, ':');
    return atoi(colon + 1);
}

static void
test_runtime_api_protocol(void **state)
{
    sl_invoker_t *inv;
    char port_file[PATH_MAX + 16];
    hreq_t next, h;
    res_t a, b, c, d;
    int port;
    int64_t epoch;
    struct timespec ts;
    char *big;

    (void)state;
    snprintf(port_file, sizeof(port_file), "%s/api-port", tmp_dir);
    inv = make_stub("rapi", port_file);
    invoke(inv, "{\"hello\": \"min\"}", &a);
    port = read_port(port_file);

    /* Unknown resources and methods. */
    do_req(port, EVHTTP_REQ_GET, "/2018-06-01/runtime/nothing", NULL, NULL, 0, &h);
    assert_int_equal(h.code, 404);
    do_req(port, EVHTTP_REQ_POST, "/2018-06-01/runtime/invocation/next", NULL, "", 0, &h);
    assert_int_equal(h.code, 405);
    do_req(port, EVHTTP_REQ_PUT, "/2018-06-01/runtime/invocation/next", NULL, "", 0, &h);
    assert_int_equal(h.code, 405);

    /* next: the queued invocation with the four headers (the RIC's own request). */
    vec_send(port, "ric-next.http", NULL, &next);
    assert_int_equal(next.code, 200);
    assert_string_equal(next.body, "{\"hello\": \"min\"}");
    assert_int_equal(strlen(next.id), 36);
    assert_string_equal(next.arn, "arn:aws:lambda:us-east-1:000000000000:function:rapi");
    assert_int_equal(strncmp(next.trace, "Root=1-", 7), 0);
    assert_non_null(strstr(next.trace, ";Parent="));
    assert_non_null(strstr(next.trace, ";Sampled=0"));
    assert_string_equal(next.ctype, "application/json");
    clock_gettime(CLOCK_REALTIME, &ts);
    epoch = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    assert_true(atoll(next.deadline) > epoch + 4000 && atoll(next.deadline) <= epoch + 5000);
    assert_int_equal(sl_invoker_busy(inv), 1);

    /* A wrong id is refused; the right one is accepted once. */
    vec_send(port, "ric-response-object.http", "not-the-id", &h);
    assert_int_equal(h.code, 400);
    assert_non_null(strstr(h.body, "\"errorType\":\"InvalidRequestID\""));
    assert_non_null(strstr(h.body, "\"errorMessage\""));
    assert_int_equal(a.runs, 0);
    vec_send(port, "ric-response-object.http", next.id, &h);
    assert_int_equal(h.code, 202);
    assert_string_equal(h.body, "{\"status\":\"OK\"}");
    wait_result(&a, 1000);
    assert_int_equal(a.outcome, SL_INVOKE_OK);
    assert_string_equal(a.request_id, next.id);
    assert_string_equal(a.payload, "{\"ok\":true,\"echo\":{\"hello\":\"world\"}}");
    assert_true(a.cold);
    vec_send(port, "ric-response-object.http", next.id, &h);   /* finished id */
    assert_int_equal(h.code, 400);

    /* next is held until there is work; a newer next supersedes a held one. */
    send_req(port, EVHTTP_REQ_GET, "/2018-06-01/runtime/invocation/next", NULL, NULL, 0, &h);
    run_for(200);
    assert_false(h.done);
    assert_int_equal(sl_invoker_busy(inv), 0);
    send_req(port, EVHTTP_REQ_GET, "/2018-06-01/runtime/invocation/next", NULL, NULL, 0, &next);
    assert_true(run_until(req_done, &h, 5000));
    assert_int_equal(h.code, 400);
    assert_false(next.done);
    invoke(inv, "{\"second\":2}", &b);
    assert_true(run_until(req_done, &next, 5000));
    assert_int_equal(next.code, 200);
    assert_string_equal(next.body, "{\"second\":2}");

    /* A thrown error as the Node RIC posts it ("trace", no error-type header). */
    vec_send(port, "ric-error-thrown.http", next.id, &h);
    assert_int_equal(h.code, 202);
    wait_result(&b, 1000);
    assert_int_equal(b.outcome, SL_INVOKE_FUNCTION_ERROR);
    assert_string_equal(b.error_type, "TypeError");
    assert_string_equal(b.error_message, "boom from handler");
    assert_non_null(strstr(b.payload, "\"trace\":[\"TypeError: boom from handler\""));
    assert_false(b.cold);

    /* A partial batch response is a success whose payload says which failed. */
    invoke(inv, "{\"Records\":[]}", &c);
    vec_send(port, "ric-next.http", NULL, &next);
    assert_int_equal(next.code, 200);
    vec_send(port, "ric-response-batchItemFailures.http", next.id, &h);
    assert_int_equal(h.code, 202);
    wait_result(&c, 1000);
    assert_int_equal(c.outcome, SL_INVOKE_OK);
    assert_string_equal(c.payload, "{\"batchItemFailures\":[{\"itemIdentifier\":\"m-bad\"}]}");

    /* A rejected plain string; then a handler returning undefined. */
    invoke(inv, "{}", &d);
    vec_send(port, "ric-next.http", NULL, &next);
    vec_send(port, "ric-error-rejected-string.http", next.id, &h);
    assert_int_equal(h.code, 202);
    wait_result(&d, 1000);
    assert_int_equal(d.outcome, SL_INVOKE_FUNCTION_ERROR);
    assert_string_equal(d.error_type, "string");
    assert_string_equal(d.error_message, "plain string rejection");
    invoke(inv, "{}", &d);
    vec_send(port, "ric-next.http", NULL, &next);
    vec_send(port, "ric-response-undefined.http", next.id, &h);
    wait_result(&d, 1000);
    assert_int_equal(d.outcome, SL_INVOKE_OK);
    assert_string_equal(d.payload, "null");

    /* The error type may come only from the header. */
    {
        static const char *const hdr[] = { "Lambda-Runtime-Function-Error-Type",
                                           "Custom.FromHeader", NULL };
        char path[128];

        invoke(inv, "{}", &d);
        vec_send(port, "ric-next.http", NULL, &next);
        snprintf(path, sizeof(path), "/2018-06-01/runtime/invocation/%s/error", next.id);
        do_req(port, EVHTTP_REQ_POST, path, hdr, "not json", 8, &h);
        assert_int_equal(h.code, 202);
        wait_result(&d, 1000);
        assert_int_equal(d.outcome, SL_INVOKE_FUNCTION_ERROR);
        assert_string_equal(d.error_type, "Custom.FromHeader");
        assert_string_equal(d.payload, "not json");
    }

    /* Over Lambda's 6 MB: 413, and the invocation fails as the function's error. */
    {
        size_t n = 7u * 1024 * 1024;
        char path[128];

        big = malloc(n);
        memset(big, 'x', n);
        invoke(inv, "{}", &d);
        vec_send(port, "ric-next.http", NULL, &next);
        snprintf(path, sizeof(path), "/2018-06-01/runtime/invocation/%s/response", next.id);
        do_req(port, EVHTTP_REQ_POST, path, NULL, big, n, &h);
        free(big);
        assert_int_equal(h.code, 413);
        wait_result(&d, 1000);
        assert_int_equal(d.outcome, SL_INVOKE_FUNCTION_ERROR);
        assert_string_equal(d.error_type, "Function.ResponseSizeTooLarge");
    }

    /* Asking for more without answering fails the call it holds. */
    invoke(inv, "{}", &d);
    vec_send(port, "ric-next.http", NULL, &next);
    send_req(port, EVHTTP_REQ_GET, "/2018-06-01/runtime/invocation/next", NULL, NULL, 0, &next);
    wait_result(&d, 2000);
    assert_int_equal(d.outcome, SL_INVOKE_FUNCTION_ERROR);
    assert_string_equal(d.error_type, "Runtime.NoResponse");

    /* init/error once ready is refused. */
    vec_send(port, "ric-init-error-handler-not-found.http", NULL, &h);
    assert_int_equal(h.code, 403);

    free_conns();
    stop_and_destroy(inv);
}

static void
test_runtime_api_init_error(void **state)
{
    sl_invoker_t *inv;
    char port_file[PATH_MAX + 16];
    hreq_t h;
    res_t a;
    int port;

    (void)state;
    snprintf(port_file, sizeof(port_file), "%s/api-port-init", tmp_dir);
    inv = make_stub("rapi-init", port_file);
    invoke(inv, "{}", &a);
    port = read_port(port_file);
    vec_send(port, "ric-init-error-handler-not-found.http", NULL, &h);
    assert_int_equal(h.code, 202);
    assert_string_equal(h.body, "{\"status\":\"OK\"}");
    wait_result(&a, 1000);
    assert_int_equal(a.outcome, SL_INVOKE_INIT_ERROR);
    assert_string_equal(a.error_type, "Runtime.HandlerNotFound");
    assert_string_equal(a.error_message, "index.nosuch is undefined or not exported");
    assert_true(run_until(none_running, inv, 5000));   /* the stub was stopped */
    free_conns();
    sl_invoker_destroy(inv);
}

/* ---- AWS's Node.js runtime interface client ---- */

static void
test_node_ric(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    res_t a, b, c;
    char dir[PATH_MAX + 16], mods[PATH_MAX + 64], v[256];
    struct stat sb;
    json_t *j;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/node", functions_dir);
    snprintf(mods, sizeof(mods), "%s/node_modules/aws-lambda-ric/bin/index.mjs", dir);
    if (stat(mods, &sb) != 0) {
        fprintf(stderr, "skipped: %s is not installed (npm ci in %s)\n", mods, dir);
        skip();
    }
    sl_function_spec_init(&s);
    s.name = sl_strdup("node-ric");
    s.command = sl_strdup("node node_modules/aws-lambda-ric/bin/index.mjs index.handler");
    s.cwd = sl_strdup(dir);
    s.handler = sl_strdup("index.handler");
    s.timeout_ms = 10000;
    s.memory_mb = 512;
    inv = make(&s, NULL);

    invoke(inv, "{\"hello\":\"node\"}", &a);
    wait_result(&a, 30000);
    assert_int_equal(a.outcome, SL_INVOKE_OK);
    assert_true(a.cold);
    j = json_loads(a.payload, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "ok")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "echo"), "hello")),
                        "node");
    assert_string_equal(json_string_value(json_object_get(j, "requestId")), a.request_id);
    assert_string_equal(json_string_value(json_object_get(j, "functionName")), "node-ric");
    assert_string_equal(json_string_value(json_object_get(j, "arn")),
                        "arn:aws:lambda:us-east-1:000000000000:function:node-ric");
    snprintf(v, sizeof(v), "%s", json_string_value(json_object_get(j, "memory")));
    assert_string_equal(v, "512");
    assert_true(json_is_true(json_object_get(j, "remainingPositive")));
    json_decref(j);

    invoke(inv, "{\"action\":\"throw\"}", &b);
    wait_result(&b, 10000);
    assert_int_equal(b.outcome, SL_INVOKE_FUNCTION_ERROR);
    assert_string_equal(b.error_type, "TypeError");
    assert_string_equal(b.error_message, "boom from handler");
    assert_false(b.cold);

    invoke(inv, "{\"action\":\"partial\"}", &c);
    wait_result(&c, 10000);
    assert_int_equal(c.outcome, SL_INVOKE_OK);
    j = json_loads(c.payload, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "batchItemFailures"), 0),
                            "itemIdentifier")), "m-bad");
    json_decref(j);
    assert_int_equal(sl_invoker_cold_starts(inv), 1);
    stop_and_destroy(inv);
}

/* ---- Setup ---- */

static int
setup(void **state)
{
    (void)state;
    base = event_base_new();
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    free_conns();
    event_base_free(base);
    base = NULL;
    return 0;
}

static void
remove_tree(const char *dir)
{
    char cmd[PATH_MAX + 32];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shell_echo_cold_start_and_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shell_function_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shell_timeout_kills_and_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shell_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shell_init_error_backs_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shell_command_not_found_is_init_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shell_concurrency_and_idle_reaping, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shell_output_into_ring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shell_output_logged_with_request_id, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shell_graceful_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_kills_runtime_ignoring_sigterm, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_processes_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_c_runtime_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_api_protocol, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_api_init_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_ric, setup, teardown),
    };
    char here[PATH_MAX];
    int rc;

    /* The source tree is where this file is: ../integration/functions. */
    snprintf(here, sizeof(here), "%s", __FILE__);
    snprintf(functions_dir, sizeof(functions_dir), "%s/../integration/functions", dirname(here));
    if (realpath(functions_dir, here) == NULL) {
        fprintf(stderr, "no functions directory at %s\n", functions_dir);
        return 1;
    }
    snprintf(functions_dir, sizeof(functions_dir), "%s", here);
    snprintf(here, sizeof(here), "%s", __FILE__);
    snprintf(data_dir, sizeof(data_dir), "%s/data/lambda-runtime", dirname(here));
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/sluice-test-invoke-XXXXXX");
    if (mkdtemp(tmp_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);           /* as sluiced does */
    sl_log_level = SL_LOG_WARN;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    remove_tree(tmp_dir);
    return rc;
}
