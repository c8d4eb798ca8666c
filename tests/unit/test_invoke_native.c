/* test_invoke_native.c - the native invoker against a real shared object
 * (tests/integration/functions/native/echo.c, built by CMake as
 * sluice_test_native): dlopen errors, sluice_init once before the first call
 * (and its failure), echo and function errors, timeouts that orphan a slot
 * until the handler returns, concurrency bounds, many calls, shutdown, and
 * destroy from a callback and with a handler still running. Loops are bounded
 * by wall-clock deadlines. */
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
#include <event2/event.h>

#include "invoke.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#ifndef SLUICE_TEST_NATIVE_SO
#error "SLUICE_TEST_NATIVE_SO must name the test handler module"
#endif

typedef struct res {
    bool returned;              /* sl_invoker_invoke returned */
    bool early;                 /* the callback ran before that */
    int runs;
    sl_invoke_outcome_t outcome;
    char payload[512];
    size_t len;
    char error_type[64];
    char error_message[128];
    char request_id[64];
    bool cold;
    int64_t cold_ms;
} res_t;

static struct event_base *base;

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

/* Runs the loop until pred(ctx) or timeout_ms; returns pred's last value. */
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

static void
spec_native(sl_function_spec_t *s, const char *name)
{
    sl_function_spec_init(s);
    s->kind = SL_FUNCTION_NATIVE;
    s->name = sl_strdup(name);
    s->library = sl_strdup(SLUICE_TEST_NATIVE_SO);
}

static sl_invoker_t *
make(sl_function_spec_t *s)
{
    char err[256];
    sl_invoker_t *inv = sl_invoker_create(base, s, NULL, err, sizeof(err));

    if (inv == NULL)
        fail_msg("create: %s", err);
    sl_function_spec_deinit(s);
    return inv;
}

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
    event_base_free(base);
    base = NULL;
    return 0;
}

/* ---- Tests ---- */

static void
test_bad_library(void **state)
{
    sl_function_spec_t s;
    char err[256];

    (void)state;
    spec_native(&s, "nolib");
    sl_free(s.library);
    s.library = sl_strdup("/nonexistent/libnothing.so");
    assert_null(sl_invoker_create(base, &s, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "dlopen"));
    sl_free(s.library);
    s.library = sl_strdup("libm.so.6");    /* loads, but has no sluice_handler */
    assert_null(sl_invoker_create(base, &s, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "sluice_handler"));
    sl_free(s.library);
    s.library = NULL;
    assert_null(sl_invoker_create(base, &s, NULL, err, sizeof(err)));
    sl_function_spec_deinit(&s);
}

static void
test_echo_init_once_and_cold_start(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    res_t a, b;

    (void)state;
    spec_native(&s, "echo");
    inv = make(&s);
    assert_int_equal(sl_invoker_running(inv), 0);
    invoke(inv, "{\"hello\":\"world\"}", &a);
    wait_result(&a, 5000);
    assert_int_equal(a.outcome, SL_INVOKE_OK);
    assert_string_equal(a.payload, "{\"hello\":\"world\"}");
    assert_int_equal(strlen(a.request_id), 36);
    assert_true(a.cold);                /* waited for sluice_init */
    invoke(inv, "{\"again\":1}", &b);
    wait_result(&b, 5000);
    assert_int_equal(b.outcome, SL_INVOKE_OK);
    assert_string_equal(b.payload, "{\"again\":1}");
    assert_false(b.cold);
    assert_string_not_equal(a.request_id, b.request_id);
    assert_int_equal(sl_invoker_cold_starts(inv), 1);
    assert_int_equal(sl_invoker_running(inv), 1);
    assert_int_equal(sl_invoker_busy(inv), 0);
    sl_invoker_destroy(inv);
}

static void
test_function_error(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    res_t a;

    (void)state;
    spec_native(&s, "failing");
    inv = make(&s);
    invoke(inv, "{\"fail\":true}", &a);
    wait_result(&a, 5000);
    assert_int_equal(a.outcome, SL_INVOKE_FUNCTION_ERROR);
    assert_string_equal(a.error_type, "EchoError");
    assert_string_equal(a.error_message, "failed on purpose");
    assert_non_null(strstr(a.payload, "\"errorType\":\"EchoError\""));
    sl_invoker_destroy(inv);
}

static void
test_init_error(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    res_t a, b;
    sl_invoker_stats_t st;

    (void)state;
    setenv("SLUICE_TEST_NATIVE_INIT", "fail", 1);
    spec_native(&s, "initfail");
    inv = make(&s);
    invoke(inv, "{\"x\":1}", &a);
    wait_result(&a, 5000);
    unsetenv("SLUICE_TEST_NATIVE_INIT");
    assert_int_equal(a.outcome, SL_INVOKE_INIT_ERROR);
    assert_string_equal(a.error_type, "Runtime.InitError");
    assert_non_null(strstr(a.error_message, "sluice_init returned 7"));
    /* Backing off: nothing could serve it, so it fails at once. */
    invoke(inv, "{\"x\":2}", &b);
    wait_result(&b, 500);
    assert_int_equal(b.outcome, SL_INVOKE_INIT_ERROR);
    sl_invoker_stats(inv, &st);
    assert_int_equal(st.init_failures, 1);
    assert_int_equal(sl_invoker_running(inv), 0);
    /* After the backoff (1 s) sluice_init runs again, and now succeeds. */
    run_for(1100);
    invoke(inv, "{\"x\":3}", &b);
    wait_result(&b, 5000);
    assert_int_equal(b.outcome, SL_INVOKE_OK);
    sl_invoker_destroy(inv);
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

static void
test_timeout_orphans_slot(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    res_t a, b;
    int64_t t0;

    (void)state;
    spec_native(&s, "slow");
    s.timeout_ms = 200;
    s.max_concurrency = 1;
    inv = make(&s);
    t0 = now_ms();
    invoke(inv, "{\"sleep\":1}", &a);
    invoke(inv, "{\"second\":1}", &b);  /* waits for the only slot */
    wait_result(&a, 5000);
    assert_int_equal(a.outcome, SL_INVOKE_TIMEOUT);
    assert_string_equal(a.error_type, "Sandbox.Timedout");
    assert_non_null(strstr(a.error_message, "Task timed out after 0.20 seconds"));
    assert_true(now_ms() - t0 < 1400);  /* before the handler (1.5 s) returned */
    assert_int_equal(b.runs, 0);
    assert_int_equal(sl_invoker_busy(inv), 1);  /* the orphaned slot */
    assert_int_equal(sl_invoker_queued(inv), 1);
    wait_result(&b, 5000);              /* runs once the handler returns */
    assert_int_equal(b.outcome, SL_INVOKE_OK);
    assert_string_equal(b.payload, "{\"second\":1}");
    assert_int_equal(a.runs, 1);        /* the late result was dropped */
    sl_invoker_destroy(inv);
}

static void
test_concurrency_bound(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    res_t r[6];
    many_t m = { 6, r };

    (void)state;
    spec_native(&s, "bounded");
    s.max_concurrency = 3;
    inv = make(&s);
    for (int i = 0; i < 6; i++)
        invoke(inv, "{\"sleep\":1}", &r[i]);
    run_for(300);
    assert_int_equal(sl_invoker_running(inv), 3);
    assert_int_equal(sl_invoker_busy(inv), 3);
    assert_int_equal(sl_invoker_queued(inv), 3);
    assert_true(run_until(all_run, &m, 8000));
    for (int i = 0; i < 6; i++) {
        assert_int_equal(r[i].runs, 1);
        assert_int_equal(r[i].outcome, SL_INVOKE_OK);
    }
    assert_int_equal(sl_invoker_running(inv), 3);
    sl_invoker_destroy(inv);
}

static void
test_many_calls(void **state)
{
    enum { N = 5000 };
    sl_function_spec_t s;
    sl_invoker_t *inv;
    res_t *r = calloc(N, sizeof(*r));
    many_t m = { N, r };
    char body[64];

    (void)state;
    spec_native(&s, "many");
    s.max_concurrency = 4;
    inv = make(&s);
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "{\"i\":%d}", i);
        invoke(inv, body, &r[i]);
    }
    assert_true(run_until(all_run, &m, 30000));
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "{\"i\":%d}", i);
        assert_int_equal(r[i].runs, 1);
        assert_false(r[i].early);
        assert_int_equal(r[i].outcome, SL_INVOKE_OK);
        assert_string_equal(r[i].payload, body);
    }
    assert_true(sl_invoker_running(inv) <= 4);
    sl_invoker_destroy(inv);
    free(r);
}

static void
test_idle_reaping(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    res_t r[3];
    many_t m = { 3, r };

    (void)state;
    spec_native(&s, "reaped");
    s.min_concurrency = 1;
    s.idle_timeout_ms = 100;
    inv = make(&s);
    run_for(50);
    assert_int_equal(sl_invoker_running(inv), 1);       /* min, warm */
    for (int i = 0; i < 3; i++)
        invoke(inv, "{\"sleep\":1}", &r[i]);
    run_for(100);
    assert_int_equal(sl_invoker_running(inv), 3);
    assert_true(run_until(all_run, &m, 5000));
    run_for(400);
    assert_int_equal(sl_invoker_running(inv), 1);       /* back to min */
    sl_invoker_destroy(inv);
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

static void
test_shutdown(void **state)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    res_t a, b, c;

    (void)state;
    spec_native(&s, "shut");
    s.max_concurrency = 1;
    inv = make(&s);
    invoke(inv, "{\"sleep\":1}", &a);
    invoke(inv, "{\"queued\":1}", &b);
    run_for(100);
    shut_done = false;
    sl_invoker_shutdown(inv, on_shutdown, NULL);
    assert_int_equal(sl_invoker_invoke(inv, "{}", 2, on_result, &c), SL_ESTATE);
    assert_true(run_until(is_shut, NULL, 5000));
    assert_int_equal(a.runs, 1);
    assert_int_equal(a.outcome, SL_INVOKE_OK);  /* finished within its deadline */
    assert_int_equal(b.runs, 1);
    assert_int_equal(b.outcome, SL_INVOKE_CANCELLED);
    assert_int_equal(sl_invoker_running(inv), 0);
    sl_invoker_destroy(inv);
}

static sl_invoker_t *to_destroy;
static int destroy_cb_runs;

static void
destroying_cb(void *arg, const sl_invoke_result_t *r)
{
    (void)arg;
    (void)r;
    destroy_cb_runs++;
    sl_invoker_destroy(to_destroy);
}

static void
test_destroy_from_callback_and_with_handler_running(void **state)
{
    sl_function_spec_t s;
    res_t slow;

    (void)state;
    spec_native(&s, "selfdestroy");
    to_destroy = make(&s);
    destroy_cb_runs = 0;
    for (int i = 0; i < 5; i++)
        assert_int_equal(sl_invoker_invoke(to_destroy, "{}", 2, destroying_cb, NULL), SL_OK);
    run_for(500);
    assert_int_equal(destroy_cb_runs, 1);       /* later callbacks never ran */

    /* Destroy with a handler inside sluice_handler: no wait, no callback. */
    spec_native(&s, "stuck");
    to_destroy = make(&s);
    invoke(to_destroy, "{\"sleep\":1}", &slow);
    run_for(100);
    sl_invoker_destroy(to_destroy);
    run_for(1700);                              /* the thread finishes alone */
    assert_int_equal(slow.runs, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_library, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo_init_once_and_cold_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_function_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_orphans_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrency_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_reaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_from_callback_and_with_handler_running,
                                        setup, teardown),
    };

    sl_log_level = SL_LOG_WARN;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
