/* test_invokers.c - the three invokers under load, and the figures of
 * DESIGN §10 for functions.
 *
 *   test_invokers            smoke run for ctest: a few thousand invocations
 *                            of each kind, checked for count and outcome;
 *                            prints its figures, asserts nothing on speed
 *   test_invokers bench      the measurement: more invocations, 3 runs each,
 *                            medians; cold starts against a bare baseline
 *   test_invokers cold       only the cold-start measurement of bench (21 starts)
 *   test_invokers server FD  (internal) the trivial HTTP function server on the
 *                            listening socket FD (tests/bench/functions.py uses it too)
 *
 * Loads: native - the no-op path of functions/native/echo.c with a ~3 KB
 * batch payload, over the invoker's thread pool; process - functions/c_runtime
 * (answers `null`) over 4 instances through the Runtime API; http - a trivial
 * evhttp server in a child process answering {} over kept-alive connections.
 * A window of calls is kept in flight; each completion submits the next.
 *
 * Cold start: sluice's spawn-to-first-`next` for c_runtime (sl_invoker_stats)
 * minus the same program started with a bare posix_spawn from this small
 * process against a blocking listener, timed from the spawn to the first
 * request line read. The sluice side is measured twice: from this process
 * as is, and with 1 GiB of touched memory, to show posix_spawn's cost does
 * not grow with the parent. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "invoke.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#ifndef SLUICE_TEST_C_RUNTIME
#error "SLUICE_TEST_C_RUNTIME must name the C runtime test program"
#endif
#ifndef SLUICE_TEST_NATIVE_SO
#error "SLUICE_TEST_NATIVE_SO must name the test handler module"
#endif

extern char **environ;

static struct event_base *base;
static pid_t server = -1;
static char payload[3200];
static size_t payload_len;

static int64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- A window of calls in flight ---- */

typedef struct drive {
    sl_invoker_t *inv;
    long target, submitted, done, ok;
    int failures_logged;
} drive_t;

static void
on_done(void *arg, const sl_invoke_result_t *r)
{
    drive_t *d = arg;

    d->done++;
    if (r->outcome == SL_INVOKE_OK)
        d->ok++;
    else if (d->failures_logged++ < 5)
        fprintf(stderr, "invocation failed outcome=%d type=%s message=%s\n", (int)r->outcome,
                r->error_type ? r->error_type : "-", r->error_message ? r->error_message : "-");
    if (d->submitted < d->target) {
        d->submitted++;
        if (sl_invoker_invoke(d->inv, payload, payload_len, on_done, d) != SL_OK)
            d->done++;
    }
    if (d->done == d->target)
        event_base_loopbreak(base);
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    fprintf(stderr, "watchdog: run took too long\n");
    event_base_loopbreak(base);
}

/* Runs n invocations with window in flight; returns invocations/s, or -1. */
static double
drive(sl_invoker_t *inv, long n, int window)
{
    drive_t d = { .inv = inv, .target = n };
    struct event *dog = evtimer_new(base, on_watchdog, NULL);
    struct timeval limit = { 120, 0 };
    int64_t t0;

    evtimer_add(dog, &limit);
    t0 = now_us();
    for (int i = 0; i < window && d.submitted < n; i++) {
        d.submitted++;
        if (sl_invoker_invoke(inv, payload, payload_len, on_done, &d) != SL_OK)
            return -1;
    }
    event_base_dispatch(base);
    event_free(dog);
    if (d.done != n || d.ok != n) {
        /* Calls still pending point at d: stop here rather than unwind. */
        fprintf(stderr, "drive: %ld of %ld done, %ld ok\n", d.done, n, d.ok);
        if (server > 0)
            kill(server, SIGKILL);
        exit(1);
    }
    return (double)n * 1e6 / (double)(now_us() - t0);
}

static sl_invoker_t *
create(sl_function_spec_t *s)
{
    char err[256];
    sl_invoker_t *inv = sl_invoker_create(base, s, NULL, err, sizeof(err));

    sl_function_spec_deinit(s);
    if (inv == NULL) {
        fprintf(stderr, "create: %s\n", err);
        exit(1);
    }
    return inv;
}

static void
on_shut(void *arg)
{
    (void)arg;
    event_base_loopbreak(base);
}

static void
finish(sl_invoker_t *inv)
{
    struct event *dog = evtimer_new(base, on_watchdog, NULL);
    struct timeval limit = { 10, 0 };

    evtimer_add(dog, &limit);
    sl_invoker_shutdown(inv, on_shut, NULL);
    event_base_dispatch(base);
    event_free(dog);
    sl_invoker_destroy(inv);
}

/* ---- The three loads ---- */

static double
run_native(long n)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    double r;

    sl_function_spec_init(&s);
    s.kind = SL_FUNCTION_NATIVE;
    s.name = sl_strdup("bench-native");
    s.library = sl_strdup(SLUICE_TEST_NATIVE_SO);
    s.max_concurrency = 2;
    inv = create(&s);
    r = drive(inv, n, 256);
    finish(inv);
    return r;
}

static double
run_process(long n)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    char cmd[1024];
    double r;

    snprintf(cmd, sizeof(cmd), "exec %s null", SLUICE_TEST_C_RUNTIME);
    sl_function_spec_init(&s);
    s.name = sl_strdup("bench-process");
    s.command = sl_strdup(cmd);
    s.min_concurrency = 4;
    s.max_concurrency = 4;
    inv = create(&s);
    drive(inv, 200, 16);                /* warm: all four started */
    r = drive(inv, n, 64);
    finish(inv);
    return r;
}

static double
run_http(long n, int port)
{
    sl_function_spec_t s;
    sl_invoker_t *inv;
    char url[64];
    double r;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/fn", port);
    sl_function_spec_init(&s);
    s.kind = SL_FUNCTION_HTTP;
    s.name = sl_strdup("bench-http");
    s.url = sl_strdup(url);
    s.max_concurrency = 8;
    inv = create(&s);
    drive(inv, 200, 16);
    r = drive(inv, n, 64);
    finish(inv);
    return r;
}

/* ---- The trivial HTTP function server (a child process) ---- */

static void
on_fn_request(struct evhttp_request *req, void *arg)
{
    struct evbuffer *b = arg;

    evbuffer_add(b, "{}", 2);
    evhttp_send_reply(req, 200, "OK", b);
}

static int
serve(int fd)
{
    struct event_base *b = event_base_new();
    struct evhttp *h = evhttp_new(b);
    struct evbuffer *buf = evbuffer_new();

    evhttp_set_gencb(h, on_fn_request, buf);
    evutil_make_socket_nonblocking(fd);     /* libevent accepts until EAGAIN */
    if (evhttp_accept_socket(h, fd) != 0)
        return 1;
    event_base_dispatch(b);
    return 0;
}

static pid_t
start_server(int *port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);
    char self[4096], fdarg[16];
    char *argv[] = { self, "server", fdarg, NULL };
    ssize_t n;
    pid_t pid;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 128) < 0)
        return -1;
    getsockname(fd, (struct sockaddr *)&sin, &len);
    *port = ntohs(sin.sin_port);
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    snprintf(fdarg, sizeof(fdarg), "%d", fd);
    if (posix_spawn(&pid, self, NULL, NULL, argv, environ) != 0)
        return -1;
    close(fd);
    return pid;
}

/* ---- Cold start ---- */

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static int64_t
median(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_i64);
    return v[n / 2];
}

/* sluice: spawn to the first `next`, as the invoker measures it. */
static int64_t
cold_sluice(int runs)
{
    int64_t v[64];

    for (int i = 0; i < runs; i++) {
        sl_function_spec_t s;
        sl_invoker_t *inv;
        sl_invoker_stats_t st;
        char cmd[1024];

        snprintf(cmd, sizeof(cmd), "exec %s null", SLUICE_TEST_C_RUNTIME);
        sl_function_spec_init(&s);
        s.name = sl_strdup("bench-cold");
        s.command = sl_strdup(cmd);
        inv = create(&s);
        drive(inv, 1, 1);
        sl_invoker_stats(inv, &st);
        v[i] = st.start_us_last;
        finish(inv);
    }
    return median(v, runs);
}

/* The same program from a bare posix_spawn against a blocking listener;
 * via_sh: through /bin/sh -c "exec PROGRAM" as the invoker starts it. */
static int64_t
cold_bare(int runs, bool via_sh)
{
    int64_t v[64];

    for (int i = 0; i < runs; i++) {
        struct sockaddr_in sin = { .sin_family = AF_INET };
        socklen_t len = sizeof(sin);
        char api[64], envv[128], buf[256], cmd[1024];
        char *argv[] = { SLUICE_TEST_C_RUNTIME, "null", NULL };
        char *sh_argv[] = { "/bin/sh", "-c", cmd, NULL };
        char *envp[] = { envv, NULL };
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), cfd;
        size_t got = 0;
        int64_t t0;
        pid_t pid;

        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 4) < 0)
            return -1;
        getsockname(lfd, (struct sockaddr *)&sin, &len);
        snprintf(api, sizeof(api), "127.0.0.1:%d", ntohs(sin.sin_port));
        snprintf(envv, sizeof(envv), "AWS_LAMBDA_RUNTIME_API=%s", api);
        snprintf(cmd, sizeof(cmd), "exec %s null", SLUICE_TEST_C_RUNTIME);
        t0 = now_us();
        if (posix_spawn(&pid, via_sh ? "/bin/sh" : SLUICE_TEST_C_RUNTIME, NULL, NULL,
                        via_sh ? sh_argv : argv, envp) != 0)
            return -1;
        cfd = accept(lfd, NULL, NULL);
        while (got < sizeof(buf) - 1) {
            ssize_t r = read(cfd, buf + got, sizeof(buf) - 1 - got);

            if (r <= 0)
                break;
            got += (size_t)r;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        v[i] = now_us() - t0;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(cfd);
        close(lfd);
    }
    return median(v, runs);
}

/* ---- Main ---- */

int
main(int argc, char **argv)
{
    bool cold_only = argc > 1 && strcmp(argv[1], "cold") == 0;
    bool bench = cold_only || (argc > 1 && strcmp(argv[1], "bench") == 0);
    long n_native = bench ? 500000 : 20000;
    long n_process = bench ? 100000 : 5000;
    long n_http = bench ? 100000 : 5000;
    int runs = bench ? 3 : 1, cold_runs = bench ? 21 : 5;
    double nat[3], proc[3], web[3];
    int64_t c_sluice, c_bare, c_bare_sh, c_big = 0;
    int port, status;

    if (argc > 2 && strcmp(argv[1], "server") == 0)
        return serve(atoi(argv[2]));
    signal(SIGPIPE, SIG_IGN);
    sl_log_level = SL_LOG_WARN;
    base = event_base_new();

    /* ~3 KB: an SQS-sized batch, starting with the no-op marker. */
    payload_len = (size_t)snprintf(payload, sizeof(payload), "{\"noop\":1,\"Records\":[");
    for (int i = 0; i < 10; i++)
        payload_len += (size_t)snprintf(payload + payload_len, sizeof(payload) - payload_len,
            "%s{\"messageId\":\"%08d-0000-4000-8000-000000000000\",\"body\":\"%0220d\","
            "\"eventSource\":\"aws:sqs\"}", i ? "," : "", i, i);
    payload_len += (size_t)snprintf(payload + payload_len, sizeof(payload) - payload_len, "]}");

    if (cold_only)
        runs = 0;
    else if ((server = start_server(&port)) < 0) {
        fprintf(stderr, "cannot start the http function server\n");
        return 1;
    }
    for (int i = 0; i < runs; i++) {
        nat[i] = run_native(n_native);
        proc[i] = run_process(n_process);
        web[i] = run_http(n_http, port);
        if (nat[i] < 0 || proc[i] < 0 || web[i] < 0) {
            kill(server, SIGKILL);
            waitpid(server, &status, 0);
            return 1;
        }
    }
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, &status, 0);
    }

    c_bare = cold_bare(cold_runs, false);
    c_bare_sh = cold_bare(cold_runs, true);
    c_sluice = cold_sluice(cold_runs);
    if (bench) {
        size_t big = (size_t)1 << 30;
        char *mem = malloc(big);

        memset(mem, 1, big);
        c_big = cold_sluice(cold_runs);
        free(mem);
    }
    for (int i = 0; i < runs; i++)
        printf("run %d: native %.0f/s  process %.0f/s  http %.0f/s\n", i + 1, nat[i], proc[i],
               web[i]);
    if (runs == 3) {
        int64_t a[3] = { (int64_t)nat[0], (int64_t)nat[1], (int64_t)nat[2] };
        int64_t b[3] = { (int64_t)proc[0], (int64_t)proc[1], (int64_t)proc[2] };
        int64_t c[3] = { (int64_t)web[0], (int64_t)web[1], (int64_t)web[2] };

        printf("median: native %lld/s  process %lld/s  http %lld/s (payload %zu bytes)\n",
               (long long)median(a, 3), (long long)median(b, 3), (long long)median(c, 3),
               payload_len);
    }
    printf("cold start (median of %d): sluice spawn->first next %lld us; bare spawn->first "
           "request %lld us direct, %lld us via /bin/sh -c; overhead %lld us over direct, "
           "%lld us over sh\n", cold_runs, (long long)c_sluice, (long long)c_bare,
           (long long)c_bare_sh, (long long)(c_sluice - c_bare),
           (long long)(c_sluice - c_bare_sh));
    if (bench)
        printf("cold start with 1 GiB touched in the parent: %lld us\n", (long long)c_big);
    event_base_free(base);
    return 0;
}
