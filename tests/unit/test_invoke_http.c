/* test_invoke_http.c - the http invoker against a local evhttp server on the
 * same loop (127.0.0.1, a free port): 2xx with and without a partial batch
 * response, non-2xx as function errors, refused connections as crashes,
 * timeouts (and the connection's recovery), URL checks, shutdown, and
 * keep-alive: calls reuse one connection per concurrent slot, counted by the
 * distinct client ports the server sees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "invoke.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#define MAX_PORTS 64

static struct event_base *base;

/* ---- The server ---- */

static struct evhttp *srv;
static int srv_port;
static int srv_requests;
static unsigned short peer_ports[MAX_PORTS];
static int npeers;
static char last_ctype[64], last_reqid[64], last_arn[160], last_host[64];

typedef struct slow {
    struct evhttp_request *req;
    struct event *ev;
} slow_t;

static void
note_peer(struct evhttp_request *req)
{
    char *addr;
    ev_uint16_t port;

    evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
    for (int i = 0; i < npeers; i++)
        if (peer_ports[i] == port)
            return;
    if (npeers < MAX_PORTS)
        peer_ports[npeers++] = port;
}

static void
reply(struct evhttp_request *req, int code, const char *body)
{
    struct evbuffer *b = evbuffer_new();

    evbuffer_add(b, body, strlen(body));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Internal Server Error", b);
    evbuffer_free(b);
}

static void
on_slow_reply(evutil_socket_t fd, short what, void *arg)
{
    slow_t *s = arg;

    (void)fd;
    (void)what;
    reply(s->req, 200, "{\"late\":true}");
    event_free(s->ev);
    free(s);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *v;
    char body[4096];
    size_t n;

    (void)arg;
    srv_requests++;
    note_peer(req);
    snprintf(last_ctype, sizeof(last_ctype), "%s",
             (v = evhttp_find_header(h, "Content-Type")) ? v : "");
    snprintf(last_reqid, sizeof(last_reqid), "%s",
             (v = evhttp_find_header(h, "Lambda-Runtime-Aws-Request-Id")) ? v : "");
    snprintf(last_arn, sizeof(last_arn), "%s",
             (v = evhttp_find_header(h, "Lambda-Runtime-Invoked-Function-Arn")) ? v : "");
    snprintf(last_host, sizeof(last_host), "%s", (v = evhttp_find_header(h, "Host")) ? v : "");
    n = evbuffer_get_length(in);
    if (n >= sizeof(body))
        n = sizeof(body) - 1;
    evbuffer_remove(in, body, n);
    body[n] = '\0';
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        reply(req, 405, "{}");
    } else if (strcmp(path, "/ok") == 0) {
        reply(req, 200, body);
    } else if (strcmp(path, "/partial") == 0) {
        reply(req, 200, "{\"batchItemFailures\":[{\"itemIdentifier\":\"m-2\"}]}");
    } else if (strcmp(path, "/fail") == 0) {
        reply(req, 500, "{\"errorMessage\":\"it broke\"}");
    } else if (strcmp(path, "/close") == 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        reply(req, 200, body);
    } else if (strcmp(path, "/slow") == 0 && strstr(body, "slow")) {
        slow_t *s = calloc(1, sizeof(*s));
        struct timeval tv = { 0, 400000 };

        s->req = req;
        s->ev = evtimer_new(base, on_slow_reply, s);
        evtimer_add(s->ev, &tv);
    } else if (strcmp(path, "/slow") == 0) {
        reply(req, 200, body);
    } else {
        reply(req, 404, "{}");
    }
}

static void
server_start(void)
{
    struct evhttp_bound_socket *sock;
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    srv = evhttp_new(base);
    evhttp_set_gencb(srv, on_request, NULL);
    sock = evhttp_bind_socket_with_handle(srv, "127.0.0.1", 0);
    assert_non_null(sock);
    getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sin, &len);
    srv_port = ntohs(sin.sin_port);
    srv_requests = 0;
    npeers = 0;
}

/* ---- Results and the loop ---- */

typedef struct res {
    bool returned;
    bool early;
    int runs;
    sl_invoke_outcome_t outcome;
    char payload[512];
    char error_type[64];
    char error_message[160];
    char request_id[64];
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
    snprintf(x->payload, sizeof(x->payload), "%.*s", (int)r->len, r->payload ? r->payload : "");
    snprintf(x->error_type, sizeof(x->error_type), "%s", r->error_type ? r->error_type : "");
    snprintf(x->error_message, sizeof(x->error_message), "%s",
             r->error_message ? r->error_message : "");
    snprintf(x->request_id, sizeof(x->request_id), "%s", r->request_id);
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
wait_result(res_t *x)
{
    assert_true(run_until(has_run, x, 5000));
    assert_int_equal(x->runs, 1);
    assert_false(x->early);
}

static bool
never(void *ctx)
{
    (void)ctx;
    return false;
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

static sl_invoker_t *
make_url(const char *url, uint32_t max, uint32_t timeout_ms)
{
    sl_function_spec_t s;
    char err[256];
    sl_invoker_t *inv;

    sl_function_spec_init(&s);
    s.kind = SL_FUNCTION_HTTP;
    s.name = sl_strdup("web");
    s.url = sl_strdup(url);
    s.max_concurrency = max;
    s.timeout_ms = timeout_ms;
    inv = sl_invoker_create(base, &s, NULL, err, sizeof(err));
    sl_function_spec_deinit(&s);
    if (inv == NULL)
        fail_msg("create: %s", err);
    return inv;
}

static sl_invoker_t *
make(const char *path, uint32_t max, uint32_t timeout_ms)
{
    char url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", srv_port, path);
    return make_url(url, max, timeout_ms);
}

static int
setup(void **state)
{
    (void)state;
    base = event_base_new();
    server_start();
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    run_until(never, NULL, 20);
    evhttp_free(srv);
    srv = NULL;
    event_base_free(base);
    base = NULL;
    return 0;
}

/* ---- Tests ---- */

static void
test_ok_and_headers(void **state)
{
    sl_invoker_t *inv;
    char host[64];
    res_t a;

    (void)state;
    inv = make("/ok", 2, 3000);
    assert_int_equal(sl_invoker_running(inv), 0);
    invoke(inv, "{\"Records\":[1,2,3]}", &a);
    wait_result(&a);
    assert_int_equal(a.outcome, SL_INVOKE_OK);
    assert_string_equal(a.payload, "{\"Records\":[1,2,3]}");
    assert_string_equal(last_ctype, "application/json");
    assert_string_equal(last_reqid, a.request_id);
    assert_string_equal(last_arn, "arn:aws:lambda:us-east-1:000000000000:function:web");
    snprintf(host, sizeof(host), "127.0.0.1:%d", srv_port);
    assert_string_equal(last_host, host);
    assert_string_equal(a.error_type, "");
    sl_invoker_destroy(inv);
}

static void
test_partial_batch_response(void **state)
{
    sl_invoker_t *inv;
    res_t a;

    (void)state;
    inv = make("/partial", 1, 3000);
    invoke(inv, "{}", &a);
    wait_result(&a);
    assert_int_equal(a.outcome, SL_INVOKE_OK);
    assert_string_equal(a.payload, "{\"batchItemFailures\":[{\"itemIdentifier\":\"m-2\"}]}");
    sl_invoker_destroy(inv);
}

static void
test_non_2xx_is_function_error(void **state)
{
    sl_invoker_t *inv;
    res_t a;

    (void)state;
    inv = make("/fail", 1, 3000);
    invoke(inv, "{}", &a);
    wait_result(&a);
    assert_int_equal(a.outcome, SL_INVOKE_FUNCTION_ERROR);
    assert_string_equal(a.error_type, "Function.HttpError");
    assert_non_null(strstr(a.error_message, "HTTP 500"));
    assert_string_equal(a.payload, "{\"errorMessage\":\"it broke\"}");
    sl_invoker_destroy(inv);
}

static void
test_keepalive_one_connection_per_slot(void **state)
{
    enum { N = 400 };
    sl_invoker_t *inv;
    res_t *r = calloc(N, sizeof(*r));
    many_t m = { 50, r };
    char body[32];

    (void)state;
    /* One at a time: every call on the same connection. */
    inv = make("/ok", 4, 3000);
    for (int i = 0; i < 50; i++) {
        invoke(inv, "{\"seq\":1}", &r[i]);
        wait_result(&r[i]);
        assert_int_equal(r[i].outcome, SL_INVOKE_OK);
    }
    assert_int_equal(srv_requests, 50);
    assert_int_equal(npeers, 1);
    assert_int_equal(sl_invoker_running(inv), 1);

    /* A burst: at most max_concurrency connections, each reused. */
    m.n = N;
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "{\"i\":%d}", i);
        invoke(inv, body, &r[i]);
    }
    assert_true(run_until(all_run, &m, 20000));
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "{\"i\":%d}", i);
        assert_int_equal(r[i].runs, 1);
        assert_int_equal(r[i].outcome, SL_INVOKE_OK);
        assert_string_equal(r[i].payload, body);
    }
    assert_int_equal(srv_requests, 50 + N);
    assert_true(npeers <= 4);
    assert_int_equal(npeers, (int)sl_invoker_running(inv));
    sl_invoker_destroy(inv);
    free(r);
}

static void
test_server_closing_connection(void **state)
{
    sl_invoker_t *inv;
    res_t a;

    (void)state;
    inv = make("/close", 1, 3000);
    for (int i = 0; i < 3; i++) {
        invoke(inv, "{\"c\":1}", &a);
        wait_result(&a);
        assert_int_equal(a.outcome, SL_INVOKE_OK);
        assert_string_equal(a.payload, "{\"c\":1}");
    }
    assert_int_equal(npeers, 3);        /* a new connection each time, as asked */
    sl_invoker_destroy(inv);
}

static void
test_timeout_then_recovers(void **state)
{
    sl_invoker_t *inv;
    res_t a, b;

    (void)state;
    inv = make("/slow", 1, 200);
    invoke(inv, "{\"slow\":1}", &a);
    wait_result(&a);
    assert_int_equal(a.outcome, SL_INVOKE_TIMEOUT);
    assert_string_equal(a.error_type, "Sandbox.Timedout");
    assert_int_equal(sl_invoker_busy(inv), 0);
    run_until(never, NULL, 500);        /* the server's late reply goes nowhere */
    assert_int_equal(a.runs, 1);
    /* The same slot works again: its connection was reset and reconnects. */
    invoke(inv, "{\"fast\":1}", &b);
    wait_result(&b);
    assert_int_equal(b.outcome, SL_INVOKE_OK);
    assert_string_equal(b.payload, "{\"fast\":1}");
    assert_int_equal(sl_invoker_running(inv), 1);
    assert_int_equal(npeers, 2);
    sl_invoker_destroy(inv);
}

static void
test_refused_is_crash(void **state)
{
    sl_invoker_t *inv;
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    char url[96];
    int fd;
    res_t a;

    (void)state;
    /* A port that was free a moment ago and has no listener now. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    close(fd);
    snprintf(url, sizeof(url), "http://localhost:%d/", ntohs(sin.sin_port));
    inv = make_url(url, 1, 3000);
    invoke(inv, "{}", &a);
    wait_result(&a);
    assert_int_equal(a.outcome, SL_INVOKE_CRASH);
    assert_string_equal(a.error_type, "Sluice.ConnectionError");
    sl_invoker_destroy(inv);
}

static void
test_bad_urls(void **state)
{
    static const char *const bad[] = { "https://127.0.0.1/x", "ftp://127.0.0.1/", "not a url",
                                       "http:///nohost", NULL };
    sl_function_spec_t s;
    char err[256];

    (void)state;
    for (int i = 0; bad[i]; i++) {
        sl_function_spec_init(&s);
        s.kind = SL_FUNCTION_HTTP;
        s.name = sl_strdup("bad");
        s.url = sl_strdup(bad[i]);
        err[0] = '\0';
        assert_null(sl_invoker_create(base, &s, NULL, err, sizeof(err)));
        assert_true(err[0] != '\0');
        sl_function_spec_deinit(&s);
    }
    sl_function_spec_init(&s);
    s.kind = SL_FUNCTION_HTTP;
    s.name = sl_strdup("nourl");
    assert_null(sl_invoker_create(base, &s, NULL, err, sizeof(err)));
    sl_function_spec_deinit(&s);
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
test_shutdown_lets_calls_finish(void **state)
{
    sl_invoker_t *inv;
    res_t a, b;

    (void)state;
    inv = make("/slow", 1, 3000);
    invoke(inv, "{\"slow\":1}", &a);
    invoke(inv, "{}", &b);
    run_until(never, NULL, 50);
    shut_done = false;
    sl_invoker_shutdown(inv, on_shutdown, NULL);
    assert_true(run_until(is_shut, NULL, 5000));
    assert_int_equal(a.outcome, SL_INVOKE_OK);
    assert_string_equal(a.payload, "{\"late\":true}");
    assert_int_equal(b.outcome, SL_INVOKE_CANCELLED);
    assert_int_equal(sl_invoker_running(inv), 0);
    sl_invoker_destroy(inv);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ok_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_batch_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_2xx_is_function_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_one_connection_per_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_closing_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_then_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_is_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_lets_calls_finish, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    sl_log_level = SL_LOG_ERROR;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
