/* test_redisstore.c - the redis store through the store interface, against a
 * real redis-server that this test starts on a free loopback port (temp dir, no
 * persistence) and stops by pid: send/receive/delete, visibility, stale and
 * malformed receipts, delays and counts, FIFO order, group locks and dedup,
 * redrive to a DLQ, queue metadata, purge, the outbox, notifications (also
 * across two stores on one Redis), messages surviving a new store, Redis
 * stopped, frozen and restarted mid-test, SCRIPT FLUSH, and destroying a store
 * with operations in flight or from inside a callback. Every callback checks
 * it does not run inside the call that submitted it.
 *
 * Skipped (cmocka skip) when redis-server is not installed (SLUICE_REDIS_SERVER
 * names another binary; a path that does not exist shows the skip). Each test uses its
 * own key prefix, so tests share one server without seeing each other. Times
 * are real (visibility timeouts of 1 s), so the file takes a few seconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "sluice/store.h"
#include "store/redis.h"
#include "store/redis_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXN 32

/* ---- redis-server ---- */

static struct {
    char bin[256];
    char dir[128];
    int port;
    pid_t pid;
    bool have;
} srv;

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
find_redis(void)
{
    const char *path = getenv("PATH"), *env = getenv("SLUICE_REDIS_SERVER");
    char *copy, *dir, *save = NULL;
    bool found = false;

    if (env != NULL) {                  /* another build, or "none" to see the skip */
        snprintf(srv.bin, sizeof(srv.bin), "%s", env);
        return access(srv.bin, X_OK) == 0;
    }
    if (access("/usr/bin/redis-server", X_OK) == 0) {
        strcpy(srv.bin, "/usr/bin/redis-server");
        return true;
    }
    if (path == NULL)
        return false;
    copy = strdup(path);
    for (dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        snprintf(srv.bin, sizeof(srv.bin), "%s/redis-server", dir);
        found = access(srv.bin, X_OK) == 0;
    }
    free(copy);
    return found;
}

static int
free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static bool
port_accepts(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* Starts redis-server on srv.port; true once it accepts connections. */
static bool
redis_start(void)
{
    char port[16], log[200];
    int64_t deadline;

    snprintf(port, sizeof(port), "%d", srv.port);
    snprintf(log, sizeof(log), "%s/redis.log", srv.dir);
    srv.pid = fork();
    if (srv.pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(srv.bin, srv.bin, "--port", port, "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--dir", srv.dir, (char *)NULL);
        _exit(127);
    }
    deadline = now_ms() + 10000;
    while (now_ms() < deadline) {
        if (port_accepts(srv.port))
            return true;
        if (waitpid(srv.pid, NULL, WNOHANG) == srv.pid) {
            srv.pid = 0;
            return false;
        }
        usleep(20000);
    }
    return false;
}

static void
redis_stop(void)
{
    if (srv.pid > 0) {
        kill(srv.pid, SIGCONT);
        kill(srv.pid, SIGTERM);
        waitpid(srv.pid, NULL, 0);
        srv.pid = 0;
    }
}

static int
group_setup(void **state)
{
    (void)state;
    sl_log_level = getenv("SLUICE_TEST_LOG") ? SL_LOG_DEBUG : SL_LOG_OFF;
    signal(SIGPIPE, SIG_IGN);
    if (!find_redis())
        return 0;
    strcpy(srv.dir, "/tmp/sluice-redisstore.XXXXXX");
    if (mkdtemp(srv.dir) == NULL)
        return 0;
    for (int attempt = 0; attempt < 3 && !srv.have; attempt++) {
        srv.port = free_port();
        srv.have = redis_start();
    }
    return 0;
}

static int
group_teardown(void **state)
{
    char path[200];

    (void)state;
    redis_stop();
    if (srv.dir[0]) {
        snprintf(path, sizeof(path), "%s/redis.log", srv.dir);
        unlink(path);
        rmdir(srv.dir);
    }
    return 0;
}

/* ---- Driving the loop ---- */

static struct event_base *base;
static bool in_submit;          /* set around every submitting call */
static int prefix_seq;

/* Runs the loop until *flag or timeout_ms. */
static bool
run_until(const bool *flag, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;

    while (!*flag && now_ms() < deadline) {
        struct timeval tv = { 0, 5000 };

        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    return *flag;
}

static void
run_for(int ms)
{
    bool never = false;

    run_until(&never, ms);
}

/* Every test that needs the server opens a store first: skip there (cmocka
 * reports a skip in a setup function as a failure). */
static sl_store_t *
open_store_url(const char *extra_query, const char *prefix)
{
    char url[256], err[256];
    sl_store_t *s = NULL;
    bool ready = false;
    int64_t deadline = now_ms() + 5000;

    if (!srv.have)
        skip();
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0?prefix=%s%s%s", srv.port, prefix,
             extra_query ? "&" : "", extra_query ? extra_query : "");
    assert_int_equal(sl_store_open(base, url, &s, err, sizeof(err)), SL_OK);
    while (!ready && now_ms() < deadline) {
        run_for(5);
        ready = sl_redisstore_is_ready(s);
    }
    assert_true(ready);
    return s;
}

static char cur_prefix[64];

/* A store on a fresh prefix (each test sees an empty Redis). */
static sl_store_t *
open_store(void)
{
    snprintf(cur_prefix, sizeof(cur_prefix), "t%d_%d:", (int)getpid(), ++prefix_seq);
    return open_store_url(NULL, cur_prefix);
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
    if (base)
        event_base_free(base);
    base = NULL;
    return 0;
}

/* ---- Synchronous wrappers ---- */

typedef struct got_msg {
    char id[SL_MSG_ID_LEN + 1];
    char *body;
    char receipt[128];
    uint32_t rc;
    uint64_t seq;
    char *group;
    char *src;
    char md5_body[SL_MD5_HEX_LEN + 1];
    uint32_t nattrs;
    char *attr0;
    char *attrs;                /* "name=value;" for every attribute, in order */
    char md5_attrs[SL_MD5_HEX_LEN + 1];
    int64_t sent_ms, first_ms;
} got_msg_t;

typedef struct waiter {
    bool done;
    int calls;
    int status;
    size_t n;
    sl_send_result_t send[MAXN];
    got_msg_t msgs[MAXN];
    int rcs[MAXN];
    char *names[MAXN];
    /* info */
    sl_queue_cfg_t cfg;
    bool has_cfg;
    uint64_t visible, inflight, delayed;
    char *tags;                 /* "k=v;" in order given */
    /* outbox */
    char *ob_id[MAXN], *ob_kind[MAXN], *ob_payload[MAXN];
    uint32_t ob_att[MAXN];
    /* metadata documents */
    char *doc;
    char *docs[MAXN];
} waiter_t;

static void
waiter_reset(waiter_t *w)
{
    for (size_t i = 0; i < MAXN; i++) {
        sl_free(w->msgs[i].body);
        sl_free(w->msgs[i].group);
        sl_free(w->msgs[i].src);
        sl_free(w->msgs[i].attr0);
        sl_free(w->msgs[i].attrs);
        sl_free(w->names[i]);
        sl_free(w->docs[i]);
        sl_free(w->ob_id[i]);
        sl_free(w->ob_kind[i]);
        sl_free(w->ob_payload[i]);
    }
    if (w->has_cfg)
        sl_queue_cfg_deinit(&w->cfg);
    sl_free(w->tags);
    sl_free(w->doc);
    memset(w, 0, sizeof(*w));
}

static void
arrived(waiter_t *w, int status)
{
    assert_false(in_submit);
    w->calls++;
    assert_int_equal(w->calls, 1);
    w->status = status;
    w->done = true;
}

static void
wait_done(waiter_t *w)
{
    assert_true(run_until(&w->done, 15000));
}

static void
cb_done(void *arg, int status)
{
    arrived(arg, status);
}

static void
cb_info(void *arg, int status, const sl_queue_info_t *info)
{
    waiter_t *w = arg;

    arrived(w, status);
    if (status != SL_OK) {
        assert_null(info);
        return;
    }
    sl_queue_cfg_copy(&w->cfg, info->cfg);
    w->has_cfg = true;
    w->visible = info->visible;
    w->inflight = info->inflight;
    w->delayed = info->delayed;
    w->tags = sl_calloc(1, 512);
    for (size_t i = 0; i < info->tags->n; i++)
        snprintf(w->tags + strlen(w->tags), 512 - strlen(w->tags), "%s=%s;",
                 info->tags->v[i].key, info->tags->v[i].val);
    assert_true(info->created_s > 1500000000);
}

static void
cb_names(void *arg, int status, char *const *names, size_t n)
{
    waiter_t *w = arg;

    arrived(w, status);
    w->n = n;
    for (size_t i = 0; i < n && i < MAXN; i++)
        w->names[i] = sl_strdup(names[i]);
}

static void
cb_send(void *arg, int status, const sl_send_result_t *res, size_t n)
{
    waiter_t *w = arg;

    arrived(w, status);
    w->n = n;
    if (n)
        memcpy(w->send, res, n * sizeof(*res));
}

static void
cb_recv(void *arg, int status, const sl_received_t *msgs, size_t n)
{
    waiter_t *w = arg;

    arrived(w, status);
    w->n = n;
    for (size_t i = 0; i < n; i++) {
        const sl_msg_t *m = msgs[i].msg;
        got_msg_t *g = &w->msgs[i];

        memcpy(g->id, m->id, sizeof(g->id));
        g->body = sl_strndup(m->body, m->body_len);
        snprintf(g->receipt, sizeof(g->receipt), "%s", msgs[i].receipt);
        g->rc = m->receive_count;
        g->seq = m->seq;
        g->group = m->group_id ? sl_strdup(m->group_id) : NULL;
        g->src = m->dlq_source ? sl_strdup(m->dlq_source) : NULL;
        memcpy(g->md5_body, m->md5_body, sizeof(g->md5_body));
        g->nattrs = m->nattrs;
        g->attr0 = m->nattrs ? sl_strndup(m->attrs[0].value, m->attrs[0].len) : NULL;
        g->attrs = sl_calloc(1, 1024);
        for (uint32_t a = 0; a < m->nattrs; a++)
            snprintf(g->attrs + strlen(g->attrs), 1024 - strlen(g->attrs), "%s=%.*s;",
                     m->attrs[a].name, (int)m->attrs[a].len, m->attrs[a].value);
        memcpy(g->md5_attrs, m->md5_attrs, sizeof(g->md5_attrs));
        g->sent_ms = m->sent_ms;
        g->first_ms = m->first_receive_ms;
    }
}

static void
cb_batch(void *arg, int status, const int *rcs, size_t n)
{
    waiter_t *w = arg;

    arrived(w, status);
    w->n = n;
    if (n)
        memcpy(w->rcs, rcs, n * sizeof(int));
}

static void
cb_outbox(void *arg, int status, const sl_outbox_item_t *items, size_t n)
{
    waiter_t *w = arg;

    arrived(w, status);
    w->n = n;
    for (size_t i = 0; i < n; i++) {
        w->ob_id[i] = sl_strdup(items[i].id);
        w->ob_kind[i] = sl_strdup(items[i].kind);
        w->ob_payload[i] = sl_strndup(items[i].payload, items[i].len);
        w->ob_att[i] = items[i].attempts;
    }
}

static void
cb_doc(void *arg, int status, const char *doc, size_t len)
{
    waiter_t *w = arg;

    arrived(w, status);
    if (doc)
        w->doc = sl_strndup(doc, len);
}

static void
cb_docs(void *arg, int status, char *const *names, char *const *docs, size_t n)
{
    waiter_t *w = arg;

    arrived(w, status);
    w->n = n;
    for (size_t i = 0; i < n && i < MAXN; i++) {
        w->names[i] = sl_strdup(names[i]);
        w->docs[i] = sl_strdup(docs[i]);
    }
}

#define SUBMIT(call)                                    \
    do {                                                \
        int rc_;                                        \
        in_submit = true;                               \
        rc_ = (call);                                   \
        in_submit = false;                              \
        assert_int_equal(rc_, SL_OK);                   \
    } while (0)

static sl_queue_cfg_t
std_cfg(void)
{
    sl_queue_cfg_t c;

    sl_queue_cfg_init(&c);
    return c;
}

static int
create(sl_store_t *s, const char *name, const sl_queue_cfg_t *cfg)
{
    waiter_t w = { 0 };
    int st;

    SUBMIT(sl_store_queue_create(s, name, cfg, NULL, cb_info, &w));
    wait_done(&w);
    st = w.status;
    waiter_reset(&w);
    return st;
}

static void
create_std(sl_store_t *s, const char *name, uint32_t vis_s)
{
    sl_queue_cfg_t c = std_cfg();

    c.visibility_s = vis_s;
    assert_int_equal(create(s, name, &c), SL_OK);
    sl_queue_cfg_deinit(&c);
}

static void
get_info(sl_store_t *s, const char *name, waiter_t *w)
{
    memset(w, 0, sizeof(*w));
    SUBMIT(sl_store_queue_get(s, name, cb_info, w));
    wait_done(w);
}

/* counts as "visible/inflight/delayed" */
static void
assert_counts(sl_store_t *s, const char *name, uint64_t vis, uint64_t inf, uint64_t dly)
{
    waiter_t w;

    get_info(s, name, &w);
    assert_int_equal(w.status, SL_OK);
    assert_int_equal(w.visible, vis);
    assert_int_equal(w.inflight, inf);
    assert_int_equal(w.delayed, dly);
    waiter_reset(&w);
}

typedef struct msg_spec {
    const char *body;
    const char *group;
    const char *dedup;
    bool dedup_content;
    int32_t delay_s;
    const char *attr;           /* one String attribute "a" with this value */
} msg_spec_t;

static void
fill_in(sl_msg_in_t *in, sl_msg_attr_t *attr, const msg_spec_t *sp)
{
    memset(in, 0, sizeof(*in));
    sl_uuid4(in->id);
    in->body = sp->body;
    in->body_len = strlen(sp->body);
    sl_md5_hex(in->body, in->body_len, in->md5_body);
    if (sp->attr) {
        attr->name = "a";
        attr->type = "String";
        attr->value = (char *)sp->attr;
        attr->len = strlen(sp->attr);
        in->attrs = attr;
        in->nattrs = 1;
    }
    sl_md5_attrs(in->attrs, in->nattrs, in->md5_attrs);
    in->group_id = sp->group;
    in->dedup_id = sp->dedup;
    in->dedup_from_content = sp->dedup_content;
    in->delay_s = sp->delay_s;
}

/* Submits a send of n specs in one batch; w is filled when it is done. */
static void
submit_specs(sl_store_t *s, const char *q, const msg_spec_t *sp, size_t n, waiter_t *w)
{
    sl_msg_in_t in[MAXN];
    sl_msg_attr_t attrs[MAXN];

    memset(w, 0, sizeof(*w));
    for (size_t i = 0; i < n; i++)
        fill_in(&in[i], &attrs[i], &sp[i]);
    SUBMIT(sl_store_send(s, q, in, n, cb_send, w));
}

/* Sends n specs in one batch; fills w. */
static void
send_specs(sl_store_t *s, const char *q, const msg_spec_t *sp, size_t n, waiter_t *w)
{
    submit_specs(s, q, sp, n, w);
    wait_done(w);
}

static void
send_body(sl_store_t *s, const char *q, const char *body)
{
    msg_spec_t sp = { body, NULL, NULL, false, -1, NULL };
    waiter_t w;

    send_specs(s, q, &sp, 1, &w);
    assert_int_equal(w.status, SL_OK);
    assert_int_equal(w.send[0].err, SL_SEND_OK);
    waiter_reset(&w);
}

static void
send_fifo(sl_store_t *s, const char *q, const char *body, const char *group, const char *dedup)
{
    msg_spec_t sp = { body, group, dedup, false, -1, NULL };
    waiter_t w;

    send_specs(s, q, &sp, 1, &w);
    assert_int_equal(w.status, SL_OK);
    assert_int_equal(w.send[0].err, SL_SEND_OK);
    waiter_reset(&w);
}

static void
receive(sl_store_t *s, const char *q, uint32_t max, int32_t vis, waiter_t *w)
{
    sl_recv_opts_t o = { max, vis };

    memset(w, 0, sizeof(*w));
    SUBMIT(sl_store_receive(s, q, &o, cb_recv, w));
    wait_done(w);
}

static int
delete_one(sl_store_t *s, const char *q, const char *receipt)
{
    waiter_t w = { 0 };
    int rc;

    SUBMIT(sl_store_delete_batch(s, q, &receipt, 1, cb_batch, &w));
    wait_done(&w);
    assert_int_equal(w.status, SL_OK);
    assert_int_equal(w.n, 1);
    rc = w.rcs[0];
    waiter_reset(&w);
    return rc;
}

static int
change_vis(sl_store_t *s, const char *q, const char *receipt, uint32_t vis_ms)
{
    sl_vis_change_t v = { receipt, vis_ms };
    waiter_t w = { 0 };
    int rc;

    SUBMIT(sl_store_change_visibility(s, q, &v, 1, cb_batch, &w));
    wait_done(&w);
    assert_int_equal(w.status, SL_OK);
    rc = w.rcs[0];
    waiter_reset(&w);
    return rc;
}

static int
simple(sl_store_t *s, int (*fn)(sl_store_t *, const char *, sl_store_done_cb, void *),
       const char *q)
{
    waiter_t w = { 0 };
    int st;

    SUBMIT(fn(s, q, cb_done, &w));
    wait_done(&w);
    st = w.status;
    waiter_reset(&w);
    return st;
}

/* ---- Notifications ---- */

typedef struct notes {
    char *q[256];
    size_t n;
    int64_t at[256];
} notes_t;

static void
on_note(void *arg, const char *queue)
{
    notes_t *ns = arg;

    assert_false(in_submit);
    if (ns->n < 256) {
        ns->at[ns->n] = now_ms();
        ns->q[ns->n++] = sl_strdup(queue);
    }
}

static size_t
notes_for(const notes_t *ns, const char *q)
{
    size_t c = 0;

    for (size_t i = 0; i < ns->n; i++)
        c += strcmp(ns->q[i], q) == 0;
    return c;
}

static void
notes_clear(notes_t *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        sl_free(ns->q[i]);
    ns->n = 0;
}

/* Runs the loop until a notification for q arrives. */
static bool
wait_note(notes_t *ns, const char *q, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;

    while (notes_for(ns, q) == 0 && now_ms() < deadline)
        run_for(5);
    return notes_for(ns, q) > 0;
}

/* ---- Tests ---- */

static void
test_url(void **state)
{
    sl_rconn_cfg_t c;
    char err[256];

    (void)state;
    assert_int_equal(sl__rconn_parse_url("redis://127.0.0.1:6380", &c, err, sizeof(err)), SL_OK);
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 6380);
    assert_int_equal(c.db, 0);
    assert_null(c.password);
    assert_string_equal(c.prefix, "sluice:");
    assert_int_equal(c.timeout_ms, 5000);
    sl__rconn_cfg_deinit(&c);
    assert_int_equal(sl__rconn_parse_url("redis://:s%40cret@db.example:7000/3?prefix=a%3Ab:"
                                         "&timeout=250", &c, err, sizeof(err)), SL_OK);
    assert_string_equal(c.host, "db.example");
    assert_int_equal(c.port, 7000);
    assert_null(c.user);
    assert_string_equal(c.password, "s@cret");
    assert_int_equal(c.db, 3);
    assert_string_equal(c.prefix, "a:b:");
    assert_int_equal(c.timeout_ms, 250);
    sl__rconn_cfg_deinit(&c);
    assert_int_equal(sl__rconn_parse_url("redis://alice:pw@[::1]:6379/", &c, err, sizeof(err)),
                     SL_OK);
    assert_string_equal(c.host, "::1");
    assert_string_equal(c.user, "alice");
    assert_string_equal(c.password, "pw");
    sl__rconn_cfg_deinit(&c);
    assert_int_equal(sl__rconn_parse_url("redis://localhost", &c, err, sizeof(err)), SL_OK);
    assert_int_equal(c.port, 6379);
    sl__rconn_cfg_deinit(&c);

    assert_int_equal(sl__rconn_parse_url("rediss://h:1", &c, err, sizeof(err)), SL_EINVAL);
    assert_non_null(strstr(err, "TLS"));
    assert_int_equal(sl__rconn_parse_url("redis://h:0", &c, err, sizeof(err)), SL_EINVAL);
    assert_int_equal(sl__rconn_parse_url("redis://h:70000", &c, err, sizeof(err)), SL_EINVAL);
    assert_int_equal(sl__rconn_parse_url("redis://h:1x", &c, err, sizeof(err)), SL_EINVAL);
    assert_int_equal(sl__rconn_parse_url("redis://:1", &c, err, sizeof(err)), SL_EINVAL);
    assert_int_equal(sl__rconn_parse_url("redis://h/x", &c, err, sizeof(err)), SL_EINVAL);
    assert_int_equal(sl__rconn_parse_url("redis://h?colour=red", &c, err, sizeof(err)),
                     SL_EINVAL);
    assert_int_equal(sl__rconn_parse_url("redis://h?prefix", &c, err, sizeof(err)), SL_EINVAL);
    assert_int_equal(sl__rconn_parse_url("redis://h?prefix=%zz", &c, err, sizeof(err)),
                     SL_EINVAL);
    assert_int_equal(sl__rconn_parse_url("redis://h?timeout=0", &c, err, sizeof(err)),
                     SL_EINVAL);
    assert_int_equal(sl__rconn_parse_url("redis://pw@h", &c, err, sizeof(err)), SL_EINVAL);
    assert_int_equal(sl__rconn_parse_url("redis://[::1", &c, err, sizeof(err)), SL_EINVAL);
    assert_int_equal(sl__rconn_parse_url("http://h", &c, err, sizeof(err)), SL_EINVAL);
}

static void
test_open_errors(void **state)
{
    sl_store_t *s = NULL;
    char err[256];

    (void)state;
    assert_int_equal(sl_store_open(base, "rediss://127.0.0.1:1", &s, err, sizeof(err)),
                     SL_EINVAL);
    assert_non_null(strstr(err, "TLS"));
    assert_null(s);
}

static void
test_send_receive_delete(void **state)
{
    sl_store_t *s = open_store();
    msg_spec_t sp[3] = {
        { "one", NULL, NULL, false, -1, "x1" },
        { "two", NULL, NULL, false, -1, NULL },
        { "three", NULL, NULL, false, -1, NULL },
    };
    waiter_t w, r;

    (void)state;
    create_std(s, "q1", 30);
    send_specs(s, "q1", sp, 3, &w);
    assert_int_equal(w.status, SL_OK);
    assert_int_equal(w.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(w.send[i].err, SL_SEND_OK);
        assert_int_equal(w.send[i].seq, 0);
        assert_int_equal(strlen(w.send[i].id), SL_MSG_ID_LEN);
    }
    assert_counts(s, "q1", 3, 0, 0);
    receive(s, "q1", 10, -1, &r);
    assert_int_equal(r.status, SL_OK);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.msgs[0].body, "one");
    assert_string_equal(r.msgs[1].body, "two");
    assert_string_equal(r.msgs[2].body, "three");
    assert_string_equal(r.msgs[0].id, w.send[0].id);
    assert_int_equal(r.msgs[0].nattrs, 1);
    assert_string_equal(r.msgs[0].attr0, "x1");
    assert_int_equal(r.msgs[0].rc, 1);
    assert_true(r.msgs[0].sent_ms > 0 && r.msgs[0].first_ms >= r.msgs[0].sent_ms);
    assert_null(r.msgs[0].src);
    assert_int_equal(strlen(r.msgs[0].receipt), 40);
    assert_counts(s, "q1", 0, 3, 0);
    {
        const char *rcpts[4] = { r.msgs[0].receipt, r.msgs[1].receipt, "garbage",
                                 r.msgs[0].receipt };
        waiter_t d = { 0 };

        SUBMIT(sl_store_delete_batch(s, "q1", rcpts, 4, cb_batch, &d));
        wait_done(&d);
        assert_int_equal(d.status, SL_OK);
        assert_int_equal(d.n, 4);
        assert_int_equal(d.rcs[0], SL_OK);
        assert_int_equal(d.rcs[1], SL_OK);
        assert_int_equal(d.rcs[2], SL_EPROTO);
        assert_int_equal(d.rcs[3], SL_ENOTFOUND);        /* already gone */
        waiter_reset(&d);
    }
    assert_counts(s, "q1", 0, 1, 0);
    assert_int_equal(delete_one(s, "q1", r.msgs[2].receipt), SL_OK);
    assert_counts(s, "q1", 0, 0, 0);
    /* A receipt of another queue (another uid) is foreign: malformed for this one. */
    create_std(s, "q2", 30);
    assert_int_equal(delete_one(s, "q2", r.msgs[2].receipt), SL_EPROTO);
    waiter_reset(&r);
    receive(s, "q1", 10, -1, &r);
    assert_int_equal(r.n, 0);
    waiter_reset(&r);
    /* No such queue. */
    receive(s, "nope", 1, -1, &r);
    assert_int_equal(r.status, SL_ENOTFOUND);
    waiter_reset(&r);
    sl_store_destroy(s);
}

static void
test_visibility_and_stale_receipts(void **state)
{
    sl_store_t *s = open_store();
    waiter_t r1, r2, r3;

    (void)state;
    create_std(s, "v", 30);
    send_body(s, "v", "m");
    receive(s, "v", 1, 1, &r1);
    assert_int_equal(r1.n, 1);
    receive(s, "v", 1, -1, &r2);
    assert_int_equal(r2.n, 0);                  /* hidden */
    waiter_reset(&r2);
    run_for(1150);
    assert_counts(s, "v", 1, 0, 0);             /* visible again */
    receive(s, "v", 1, 30, &r2);
    assert_int_equal(r2.n, 1);
    assert_int_equal(r2.msgs[0].rc, 2);
    assert_string_not_equal(r1.msgs[0].receipt, r2.msgs[0].receipt);
    /* The first receipt went stale with the second receive. */
    assert_int_equal(delete_one(s, "v", r1.msgs[0].receipt), SL_ENOTFOUND);
    assert_int_equal(change_vis(s, "v", r1.msgs[0].receipt, 10000), SL_ENOTFOUND);
    assert_int_equal(change_vis(s, "v", "not-a-receipt", 10000), SL_EPROTO);
    /* Back to visible at once. */
    assert_int_equal(change_vis(s, "v", r2.msgs[0].receipt, 0), SL_OK);
    assert_counts(s, "v", 1, 0, 0);
    /* Not in flight any more: changing its visibility is refused. */
    assert_int_equal(change_vis(s, "v", r2.msgs[0].receipt, 10000), SL_ENOTFOUND);
    receive(s, "v", 1, 30, &r3);
    assert_int_equal(r3.n, 1);
    assert_int_equal(r3.msgs[0].rc, 3);
    /* Extend, then shorten, to less than a second: milliseconds are kept. */
    assert_int_equal(change_vis(s, "v", r3.msgs[0].receipt, 60000), SL_OK);
    assert_int_equal(change_vis(s, "v", r3.msgs[0].receipt, 300), SL_OK);
    assert_counts(s, "v", 0, 1, 0);
    run_for(450);
    assert_counts(s, "v", 1, 0, 0);
    /* A receipt still deletes its message after it became visible (not received again). */
    assert_int_equal(delete_one(s, "v", r3.msgs[0].receipt), SL_OK);
    assert_counts(s, "v", 0, 0, 0);
    waiter_reset(&r1);
    waiter_reset(&r2);
    waiter_reset(&r3);
    sl_store_destroy(s);
}

/* One delete batch holding a receipt of a message in flight and one of a message
 * visible again: the script takes the first from the in-flight set and has to look
 * for the other among the visible ones. */
static void
test_delete_batch_mixed_states(void **state)
{
    sl_store_t *s = open_store();
    waiter_t r1, r2, d = { 0 };
    const char *rc[3];

    (void)state;
    create_std(s, "mix", 30);
    send_body(s, "mix", "a");
    send_body(s, "mix", "b");
    send_body(s, "mix", "c");
    receive(s, "mix", 1, 1, &r1);               /* a, back in 1 s */
    receive(s, "mix", 1, 30, &r2);              /* b, in flight */
    assert_int_equal(r1.n, 1);
    assert_int_equal(r2.n, 1);
    run_for(1150);
    assert_counts(s, "mix", 2, 1, 0);
    rc[0] = r1.msgs[0].receipt;
    rc[1] = r2.msgs[0].receipt;
    rc[2] = r2.msgs[0].receipt;                 /* the same again: not found */
    SUBMIT(sl_store_delete_batch(s, "mix", rc, 3, cb_batch, &d));
    wait_done(&d);
    assert_int_equal(d.status, SL_OK);
    assert_int_equal(d.rcs[0], SL_OK);
    assert_int_equal(d.rcs[1], SL_OK);
    assert_int_equal(d.rcs[2], SL_ENOTFOUND);
    assert_counts(s, "mix", 1, 0, 0);           /* c */
    waiter_reset(&d);
    waiter_reset(&r1);
    waiter_reset(&r2);
    sl_store_destroy(s);
}

static void
test_delays_and_counts(void **state)
{
    sl_store_t *s = open_store();
    msg_spec_t sp[2] = {
        { "late", NULL, NULL, false, 1, NULL },
        { "now", NULL, NULL, false, 0, NULL },
    };
    sl_queue_cfg_t c = std_cfg();
    waiter_t w, r;

    (void)state;
    c.delay_s = 1;
    assert_int_equal(create(s, "d", &c), SL_OK);
    sl_queue_cfg_deinit(&c);
    send_specs(s, "d", sp, 2, &w);
    assert_int_equal(w.status, SL_OK);
    waiter_reset(&w);
    assert_counts(s, "d", 1, 0, 1);
    send_body(s, "d", "queue-delay");           /* -1: the queue's 1 s */
    assert_counts(s, "d", 1, 0, 2);
    receive(s, "d", 10, 30, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.msgs[0].body, "now");
    waiter_reset(&r);
    run_for(1150);
    assert_counts(s, "d", 2, 1, 0);
    receive(s, "d", 10, 30, &r);
    assert_int_equal(r.n, 2);
    waiter_reset(&r);
    /* Batch over MaximumMessageSize as a whole; each entry alone is fine. */
    c = std_cfg();
    c.max_size = 1024;
    assert_int_equal(create(s, "small", &c), SL_OK);
    sl_queue_cfg_deinit(&c);
    {
        char big[700];
        msg_spec_t two[2] = { { big, NULL, NULL, false, -1, NULL },
                              { big, NULL, NULL, false, -1, NULL } };

        memset(big, 'b', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        send_specs(s, "small", two, 2, &w);
        assert_int_equal(w.status, SL_EFULL);
        waiter_reset(&w);
        send_specs(s, "small", two, 1, &w);
        assert_int_equal(w.status, SL_OK);
        assert_int_equal(w.send[0].err, SL_SEND_OK);
        waiter_reset(&w);
    }
    sl_store_destroy(s);
}

static void
test_send_errors(void **state)
{
    sl_store_t *s = open_store();
    sl_queue_cfg_t c = std_cfg();
    msg_spec_t sp[6] = {
        { "no-group", NULL, "d1", false, -1, NULL },
        { "no-dedup", "g", NULL, false, -1, NULL },
        { "delay", "g", "d2", false, 5, NULL },
        { "content-no-cbd", "g", "d3", true, -1, NULL },
        { "ok", "g", "d4", false, -1, NULL },
        { "ok2", "g", "d5", false, -1, NULL },
    };
    msg_spec_t stdsp[2] = {
        { "dedup-on-std", NULL, "x", false, -1, NULL },
        { "content-on-std", NULL, "y", true, -1, NULL },
    };
    waiter_t w;

    (void)state;
    c.fifo = true;
    assert_int_equal(create(s, "e.fifo", &c), SL_OK);
    send_specs(s, "e.fifo", sp, 6, &w);
    assert_int_equal(w.status, SL_OK);
    assert_int_equal(w.send[0].err, SL_SEND_NEED_GROUP_ID);
    assert_int_equal(w.send[1].err, SL_SEND_NEED_DEDUP_ID);
    assert_int_equal(w.send[2].err, SL_SEND_DELAY_ON_FIFO);
    assert_int_equal(w.send[3].err, SL_SEND_NEED_DEDUP_ID);
    assert_int_equal(w.send[4].err, SL_SEND_OK);
    assert_int_equal(w.send[5].err, SL_SEND_OK);
    assert_true(w.send[5].seq > w.send[4].seq);
    waiter_reset(&w);
    create_std(s, "e", 30);
    send_specs(s, "e", stdsp, 2, &w);
    assert_int_equal(w.send[0].err, SL_SEND_NOT_FIFO_FIELD);
    assert_int_equal(w.send[1].err, SL_SEND_OK);
    waiter_reset(&w);
    send_specs(s, "missing", stdsp + 1, 1, &w);
    assert_int_equal(w.status, SL_ENOTFOUND);
    waiter_reset(&w);
    sl_queue_cfg_deinit(&c);
    sl_store_destroy(s);
}

static void
test_fifo_order_lock_dedup(void **state)
{
    sl_store_t *s = open_store();
    sl_queue_cfg_t c = std_cfg();
    msg_spec_t dup = { "a1-again", "A", "a1", false, -1, NULL };
    waiter_t w, r, r2;
    uint64_t first_seq;
    char first_id[SL_MSG_ID_LEN + 1];

    (void)state;
    c.fifo = true;
    c.content_dedup = true;
    assert_int_equal(create(s, "f.fifo", &c), SL_OK);
    sl_queue_cfg_deinit(&c);
    {
        msg_spec_t a1 = { "a1", "A", "a1", false, -1, NULL };

        send_specs(s, "f.fifo", &a1, 1, &w);
        first_seq = w.send[0].seq;
        memcpy(first_id, w.send[0].id, sizeof(first_id));
        waiter_reset(&w);
    }
    send_fifo(s, "f.fifo", "a2", "A", "a2");
    send_fifo(s, "f.fifo", "b1", "B", "b1");
    send_fifo(s, "f.fifo", "a3", "A", "a3");
    /* A duplicate within the window reports the first's id and sequence number. */
    send_specs(s, "f.fifo", &dup, 1, &w);
    assert_int_equal(w.send[0].err, SL_SEND_OK);
    assert_string_equal(w.send[0].id, first_id);
    assert_int_equal(w.send[0].seq, first_seq);
    waiter_reset(&w);
    {
        msg_spec_t cb1 = { "content", "B", "sha-of-content", true, -1, NULL };

        send_specs(s, "f.fifo", &cb1, 1, &w);      /* content-based allowed here */
        assert_int_equal(w.send[0].err, SL_SEND_OK);
        waiter_reset(&w);
    }
    assert_counts(s, "f.fifo", 5, 0, 0);
    /* Two of group A: A is then locked. */
    receive(s, "f.fifo", 2, 30, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.msgs[0].body, "a1");
    assert_string_equal(r.msgs[1].body, "a2");
    assert_string_equal(r.msgs[0].group, "A");
    assert_true(r.msgs[1].seq > r.msgs[0].seq);
    /* Only B can be received now, in order. */
    receive(s, "f.fifo", 10, 30, &r2);
    assert_int_equal(r2.n, 2);
    assert_string_equal(r2.msgs[0].body, "b1");
    assert_string_equal(r2.msgs[1].body, "content");
    assert_int_equal(delete_one(s, "f.fifo", r2.msgs[0].receipt), SL_OK);
    assert_int_equal(delete_one(s, "f.fifo", r2.msgs[1].receipt), SL_OK);
    waiter_reset(&r2);
    receive(s, "f.fifo", 10, 30, &r2);
    assert_int_equal(r2.n, 0);                  /* a3 waits behind a1, a2 */
    waiter_reset(&r2);
    /* a1 done; a2 still in flight: A stays locked. */
    assert_int_equal(delete_one(s, "f.fifo", r.msgs[0].receipt), SL_OK);
    receive(s, "f.fifo", 10, 30, &r2);
    assert_int_equal(r2.n, 0);
    waiter_reset(&r2);
    /* a2 returns (visibility 0): it comes again before a3. */
    assert_int_equal(change_vis(s, "f.fifo", r.msgs[1].receipt, 0), SL_OK);
    receive(s, "f.fifo", 10, 30, &r2);
    assert_int_equal(r2.n, 2);
    assert_string_equal(r2.msgs[0].body, "a2");
    assert_int_equal(r2.msgs[0].rc, 2);
    assert_string_equal(r2.msgs[1].body, "a3");
    assert_int_equal(delete_one(s, "f.fifo", r2.msgs[0].receipt), SL_OK);
    assert_int_equal(delete_one(s, "f.fifo", r2.msgs[1].receipt), SL_OK);
    assert_counts(s, "f.fifo", 0, 0, 0);
    waiter_reset(&r);
    waiter_reset(&r2);
    /* The dedup id stays taken after the message is gone (5 minutes). */
    send_specs(s, "f.fifo", &dup, 1, &w);
    assert_string_equal(w.send[0].id, first_id);
    waiter_reset(&w);
    assert_counts(s, "f.fifo", 0, 0, 0);
    sl_store_destroy(s);
}

static void
test_fifo_queue_delay(void **state)
{
    sl_store_t *s = open_store();
    sl_queue_cfg_t c = std_cfg();
    waiter_t r;

    (void)state;
    c.fifo = true;
    c.delay_s = 1;
    assert_int_equal(create(s, "fd.fifo", &c), SL_OK);
    sl_queue_cfg_deinit(&c);
    send_fifo(s, "fd.fifo", "first", "G", "1");
    send_fifo(s, "fd.fifo", "second", "G", "2");
    assert_counts(s, "fd.fifo", 0, 0, 2);
    receive(s, "fd.fifo", 10, 30, &r);
    assert_int_equal(r.n, 0);                   /* the group's head is delayed */
    waiter_reset(&r);
    run_for(1150);
    receive(s, "fd.fifo", 10, 30, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.msgs[0].body, "first");
    assert_string_equal(r.msgs[1].body, "second");
    waiter_reset(&r);
    sl_store_destroy(s);
}

/* The store does not range-check settings (the API layer does), so a 1 s
 * retention makes expiry testable. */
static void
test_retention(void **state)
{
    sl_store_t *s = open_store();
    sl_queue_cfg_t c = std_cfg();
    waiter_t r;

    (void)state;
    c.retention_s = 1;
    assert_int_equal(create(s, "ret", &c), SL_OK);
    c.fifo = true;
    assert_int_equal(create(s, "ret.fifo", &c), SL_OK);
    sl_queue_cfg_deinit(&c);
    send_body(s, "ret", "visible-expires");
    send_body(s, "ret", "inflight-expires");
    send_fifo(s, "ret.fifo", "f", "G", "f");
    receive(s, "ret", 1, 1, &r);                /* one in flight for 1 s */
    assert_int_equal(r.n, 1);
    assert_string_equal(r.msgs[0].body, "visible-expires");
    waiter_reset(&r);
    assert_counts(s, "ret", 1, 1, 0);
    run_for(1200);
    assert_counts(s, "ret", 0, 0, 0);           /* both gone, wherever they were */
    assert_counts(s, "ret.fifo", 0, 0, 0);
    receive(s, "ret", 10, 30, &r);
    assert_int_equal(r.n, 0);
    waiter_reset(&r);
    receive(s, "ret.fifo", 10, 30, &r);
    assert_int_equal(r.n, 0);
    waiter_reset(&r);
    /* The group is free again for new messages. */
    send_fifo(s, "ret.fifo", "g", "G", "g");
    receive(s, "ret.fifo", 10, 30, &r);
    assert_int_equal(r.n, 1);
    waiter_reset(&r);
    sl_store_destroy(s);
}

static void
test_redrive(void **state)
{
    sl_store_t *s = open_store();
    sl_queue_cfg_t c = std_cfg();
    waiter_t r, n;

    (void)state;
    create_std(s, "dlq", 30);
    c.redrive_policy = sl_strdup("{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:0:dlq\","
                                 "\"maxReceiveCount\":2}");
    c.dlq_name = sl_strdup("dlq");
    c.max_receives = 2;
    assert_int_equal(create(s, "src", &c), SL_OK);
    sl_queue_cfg_deinit(&c);
    send_body(s, "src", "poison");
    for (uint32_t i = 1; i <= 2; i++) {
        receive(s, "src", 1, 0, &r);            /* visibility 0: back at once */
        assert_int_equal(r.n, 1);
        assert_int_equal(r.msgs[0].rc, i);
        waiter_reset(&r);
    }
    run_for(20);
    receive(s, "src", 1, 0, &r);
    assert_int_equal(r.n, 0);                   /* moved instead */
    waiter_reset(&r);
    assert_counts(s, "src", 0, 0, 0);
    assert_counts(s, "dlq", 1, 0, 0);
    receive(s, "dlq", 1, 30, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.msgs[0].body, "poison");
    assert_string_equal(r.msgs[0].src, "src");
    assert_int_equal(r.msgs[0].rc, 3);          /* kept, plus this receive */
    waiter_reset(&r);
    memset(&n, 0, sizeof(n));
    SUBMIT(sl_store_queue_dlq_sources(s, "dlq", cb_names, &n));
    wait_done(&n);
    assert_int_equal(n.status, SL_OK);
    assert_int_equal(n.n, 1);
    assert_string_equal(n.names[0], "src");
    waiter_reset(&n);
    sl_store_destroy(s);
}

static void
test_redrive_fifo(void **state)
{
    sl_store_t *s = open_store();
    sl_queue_cfg_t c = std_cfg();
    waiter_t r;

    (void)state;
    c.fifo = true;
    assert_int_equal(create(s, "dl.fifo", &c), SL_OK);
    c.dlq_name = sl_strdup("dl.fifo");
    c.max_receives = 1;
    assert_int_equal(create(s, "s.fifo", &c), SL_OK);
    sl_queue_cfg_deinit(&c);
    send_fifo(s, "s.fifo", "x1", "G", "x1");
    send_fifo(s, "s.fifo", "x2", "G", "x2");
    receive(s, "s.fifo", 1, 0, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.msgs[0].body, "x1");
    waiter_reset(&r);
    run_for(20);
    /* x1 passed maxReceiveCount: it moves, and x2 is handed out in the same step. */
    receive(s, "s.fifo", 10, 30, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.msgs[0].body, "x2");
    waiter_reset(&r);
    receive(s, "dl.fifo", 10, 30, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.msgs[0].body, "x1");
    assert_string_equal(r.msgs[0].group, "G");
    assert_string_equal(r.msgs[0].src, "s.fifo");
    assert_true(r.msgs[0].seq > 0);
    waiter_reset(&r);
    sl_store_destroy(s);
}

static int
dead_letter(sl_store_t *s, const char *q, const char *receipt)
{
    sl_msg_attr_t why[2] = {
        { "sluice.error", "String", "boom", 4 },
        { "a", "String", "replaced", 8 },
    };
    waiter_t w = { 0 };
    int st;

    SUBMIT(sl_store_dead_letter(s, q, receipt, why, 2, cb_done, &w));
    wait_done(&w);
    st = w.status;
    waiter_reset(&w);
    return st;
}

static void
test_dead_letter_with_reasons(void **state)
{
    sl_store_t *s = open_store();
    msg_spec_t sp = { "bad apple", NULL, NULL, false, -1, "original" };
    sl_queue_cfg_t c = std_cfg();
    notes_t ns = { 0 };
    sl_msg_attr_t expect[2] = {
        { "sluice.error", "String", "boom", 4 },
        { "a", "String", "replaced", 8 },
    };
    char md5[SL_MD5_HEX_LEN + 1];
    waiter_t w, r, r2;

    (void)state;
    sl_store_set_notify(s, on_note, &ns);
    create_std(s, "graveyard", 30);
    c.dlq_name = sl_strdup("graveyard");
    c.max_receives = 5;
    assert_int_equal(create(s, "work", &c), SL_OK);
    sl_queue_cfg_deinit(&c);
    run_for(50);
    send_specs(s, "work", &sp, 1, &w);
    waiter_reset(&w);
    receive(s, "work", 1, 30, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(dead_letter(s, "work", "not-a-receipt"), SL_EPROTO);
    notes_clear(&ns);
    assert_int_equal(dead_letter(s, "work", r.msgs[0].receipt), SL_OK);
    assert_true(wait_note(&ns, "graveyard", 2000));
    /* Gone from the source at once, waiting in the dead-letter queue. */
    assert_int_equal(dead_letter(s, "work", r.msgs[0].receipt), SL_ENOTFOUND);
    assert_counts(s, "work", 0, 0, 0);
    receive(s, "graveyard", 1, 30, &r2);
    assert_int_equal(r2.n, 1);
    assert_string_equal(r2.msgs[0].body, "bad apple");
    assert_string_equal(r2.msgs[0].id, r.msgs[0].id);
    assert_string_equal(r2.msgs[0].src, "work");
    assert_int_equal(r2.msgs[0].rc, 2);
    /* The sender's "a" is replaced; the digest covers what is there now. */
    assert_string_equal(r2.msgs[0].attrs, "sluice.error=boom;a=replaced;");
    sl_md5_attrs(expect, 2, md5);
    assert_string_equal(r2.msgs[0].md5_attrs, md5);
    /* A queue without a redrive policy has nowhere to send it. */
    assert_int_equal(dead_letter(s, "graveyard", r2.msgs[0].receipt), SL_ENOTFOUND);
    waiter_reset(&r);
    waiter_reset(&r2);
    /* A stale receipt (received again since) moves nothing; a visible message
     * with its current receipt moves. */
    send_body(s, "work", "twice");
    receive(s, "work", 1, 0, &r);
    run_for(20);
    receive(s, "work", 1, 0, &r2);
    assert_int_equal(r2.n, 1);
    assert_int_equal(dead_letter(s, "work", r.msgs[0].receipt), SL_ENOTFOUND);
    run_for(20);
    assert_int_equal(dead_letter(s, "work", r2.msgs[0].receipt), SL_OK);
    assert_counts(s, "work", 0, 0, 0);
    assert_counts(s, "graveyard", 1, 1, 0);
    waiter_reset(&r);
    waiter_reset(&r2);
    notes_clear(&ns);
    sl_store_destroy(s);
}

static void
test_meta_documents(void **state)
{
    sl_store_t *s = open_store();
    waiter_t w = { 0 };

    (void)state;
    SUBMIT(sl_store_meta_put(s, "function", "b", "{\"v\":2}", 7, cb_done, &w));
    wait_done(&w);
    assert_int_equal(w.status, SL_OK);
    waiter_reset(&w);
    SUBMIT(sl_store_meta_put(s, "function", "a", "{\"v\":1}", 7, cb_done, &w));
    wait_done(&w);
    waiter_reset(&w);
    SUBMIT(sl_store_meta_put(s, "trigger", "a", "{\"t\":1}", 7, cb_done, &w));
    wait_done(&w);
    waiter_reset(&w);
    SUBMIT(sl_store_meta_put(s, "function", "b", "{\"v\":3}", 7, cb_done, &w));
    wait_done(&w);
    waiter_reset(&w);
    SUBMIT(sl_store_meta_get(s, "function", "b", cb_doc, &w));
    wait_done(&w);
    assert_int_equal(w.status, SL_OK);
    assert_string_equal(w.doc, "{\"v\":3}");
    waiter_reset(&w);
    /* Durable: a new store on the same Redis and prefix lists them, in name order. */
    sl_store_destroy(s);
    s = open_store_url(NULL, cur_prefix);
    SUBMIT(sl_store_meta_list(s, "function", cb_docs, &w));
    wait_done(&w);
    assert_int_equal(w.status, SL_OK);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.names[0], "a");
    assert_string_equal(w.docs[0], "{\"v\":1}");
    assert_string_equal(w.names[1], "b");
    assert_string_equal(w.docs[1], "{\"v\":3}");
    waiter_reset(&w);
    SUBMIT(sl_store_meta_delete(s, "function", "a", cb_done, &w));
    wait_done(&w);
    assert_int_equal(w.status, SL_OK);
    waiter_reset(&w);
    SUBMIT(sl_store_meta_delete(s, "function", "a", cb_done, &w));
    wait_done(&w);
    assert_int_equal(w.status, SL_ENOTFOUND);
    waiter_reset(&w);
    SUBMIT(sl_store_meta_get(s, "function", "a", cb_doc, &w));
    wait_done(&w);
    assert_int_equal(w.status, SL_ENOTFOUND);
    assert_null(w.doc);
    waiter_reset(&w);
    SUBMIT(sl_store_meta_list(s, "nothing", cb_docs, &w));
    wait_done(&w);
    assert_int_equal(w.status, SL_OK);
    assert_int_equal(w.n, 0);
    waiter_reset(&w);
    sl_store_destroy(s);
}

static void
test_queue_metadata(void **state)
{
    sl_store_t *s = open_store();
    sl_queue_cfg_t c = std_cfg(), c2;
    sl_kvlist_t tags;
    waiter_t w;

    (void)state;
    sl_kvlist_init(&tags);
    sl_kvlist_set(&tags, "team", "core");
    sl_kvlist_set(&c.extra, "Policy", "{\"x\":1}");
    memset(&w, 0, sizeof(w));
    SUBMIT(sl_store_queue_create(s, "meta", &c, &tags, cb_info, &w));
    wait_done(&w);
    assert_int_equal(w.status, SL_OK);
    assert_string_equal(w.tags, "team=core;");
    assert_string_equal(sl_kvlist_get(&w.cfg.extra, "Policy"), "{\"x\":1}");
    waiter_reset(&w);
    /* Same settings again: fine (tags untouched); other settings: EEXIST. */
    assert_int_equal(create(s, "meta", &c), SL_OK);
    sl_queue_cfg_copy(&c2, &c);
    c2.visibility_s = 99;
    assert_int_equal(create(s, "meta", &c2), SL_EEXIST);
    /* Set replaces the settings; FifoQueue stays what it was. */
    c2.fifo = true;
    memset(&w, 0, sizeof(w));
    SUBMIT(sl_store_queue_set(s, "meta", &c2, cb_done, &w));
    wait_done(&w);
    assert_int_equal(w.status, SL_OK);
    waiter_reset(&w);
    get_info(s, "meta", &w);
    assert_int_equal(w.cfg.visibility_s, 99);
    assert_false(w.cfg.fifo);
    waiter_reset(&w);
    sl_queue_cfg_deinit(&c2);
    /* Tags: set one, remove one. */
    {
        sl_kvlist_t set;
        const char *rm[1] = { "team" };

        sl_kvlist_init(&set);
        sl_kvlist_set(&set, "env", "dev");
        memset(&w, 0, sizeof(w));
        SUBMIT(sl_store_queue_tag(s, "meta", &set, rm, 1, cb_done, &w));
        wait_done(&w);
        assert_int_equal(w.status, SL_OK);
        waiter_reset(&w);
        sl_kvlist_deinit(&set);
        get_info(s, "meta", &w);
        assert_string_equal(w.tags, "env=dev;");
        waiter_reset(&w);
    }
    /* List, in lexical order, with a prefix. */
    create_std(s, "alpha", 30);
    create_std(s, "metb", 30);
    memset(&w, 0, sizeof(w));
    SUBMIT(sl_store_queue_list(s, NULL, cb_names, &w));
    wait_done(&w);
    assert_int_equal(w.n, 3);
    assert_string_equal(w.names[0], "alpha");
    assert_string_equal(w.names[1], "meta");
    assert_string_equal(w.names[2], "metb");
    waiter_reset(&w);
    SUBMIT(sl_store_queue_list(s, "met", cb_names, &w));
    wait_done(&w);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.names[0], "meta");
    waiter_reset(&w);
    /* Purge empties; delete removes. */
    send_body(s, "meta", "x");
    send_body(s, "meta", "y");
    assert_int_equal(simple(s, sl_store_queue_purge, "meta"), SL_OK);
    assert_counts(s, "meta", 0, 0, 0);
    assert_int_equal(simple(s, sl_store_queue_delete, "meta"), SL_OK);
    get_info(s, "meta", &w);
    assert_int_equal(w.status, SL_ENOTFOUND);
    waiter_reset(&w);
    assert_int_equal(simple(s, sl_store_queue_delete, "meta"), SL_ENOTFOUND);
    assert_int_equal(simple(s, sl_store_queue_purge, "meta"), SL_ENOTFOUND);
    memset(&w, 0, sizeof(w));
    SUBMIT(sl_store_queue_set(s, "meta", &c, cb_done, &w));
    wait_done(&w);
    assert_int_equal(w.status, SL_ENOTFOUND);
    waiter_reset(&w);
    /* Invalid names never reach Redis. */
    assert_int_equal(sl_store_queue_create(s, "a:b", &c, NULL, cb_info, &w), SL_EINVAL);
    sl_kvlist_deinit(&tags);
    sl_queue_cfg_deinit(&c);
    sl_store_destroy(s);
}

static void
test_outbox(void **state)
{
    sl_store_t *s = open_store();
    waiter_t w;

    (void)state;
    memset(&w, 0, sizeof(w));
    SUBMIT(sl_store_outbox_append(s, "fanout", "p1", 2, 0, cb_done, &w));
    wait_done(&w);
    assert_int_equal(w.status, SL_OK);
    waiter_reset(&w);
    SUBMIT(sl_store_outbox_append(s, "push", "p2", 2, 60000, cb_done, &w));
    wait_done(&w);
    waiter_reset(&w);
    SUBMIT(sl_store_outbox_claim(s, 10, 500, cb_outbox, &w));
    wait_done(&w);
    assert_int_equal(w.status, SL_OK);
    assert_int_equal(w.n, 1);                   /* p2 is not due */
    assert_string_equal(w.ob_kind[0], "fanout");
    assert_string_equal(w.ob_payload[0], "p1");
    assert_int_equal(w.ob_att[0], 1);
    {
        char *id = sl_strdup(w.ob_id[0]);

        waiter_reset(&w);
        SUBMIT(sl_store_outbox_claim(s, 10, 500, cb_outbox, &w));
        wait_done(&w);
        assert_int_equal(w.n, 0);               /* leased */
        waiter_reset(&w);
        run_for(600);
        SUBMIT(sl_store_outbox_claim(s, 10, 500, cb_outbox, &w));
        wait_done(&w);
        assert_int_equal(w.n, 1);               /* lease over */
        assert_int_equal(w.ob_att[0], 2);
        waiter_reset(&w);
        SUBMIT(sl_store_outbox_retry(s, id, 0, cb_done, &w));
        wait_done(&w);
        assert_int_equal(w.status, SL_OK);
        waiter_reset(&w);
        SUBMIT(sl_store_outbox_claim(s, 10, 500, cb_outbox, &w));
        wait_done(&w);
        assert_int_equal(w.n, 1);
        assert_int_equal(w.ob_att[0], 3);
        waiter_reset(&w);
        SUBMIT(sl_store_outbox_ack(s, id, cb_done, &w));
        wait_done(&w);
        assert_int_equal(w.status, SL_OK);
        waiter_reset(&w);
        SUBMIT(sl_store_outbox_ack(s, id, cb_done, &w));
        wait_done(&w);
        assert_int_equal(w.status, SL_ENOTFOUND);
        waiter_reset(&w);
        SUBMIT(sl_store_outbox_retry(s, id, 0, cb_done, &w));
        wait_done(&w);
        assert_int_equal(w.status, SL_ENOTFOUND);
        waiter_reset(&w);
        sl_free(id);
    }
    sl_store_destroy(s);
}

static void
test_notify_send_and_expiry(void **state)
{
    sl_store_t *s = open_store();
    notes_t ns = { 0 };
    waiter_t r;
    int64_t t0;

    (void)state;
    sl_store_set_notify(s, on_note, &ns);
    create_std(s, "n", 30);
    run_for(50);                                /* the subscriber is connected */
    send_body(s, "n", "hello");
    assert_true(wait_note(&ns, "n", 2000));
    notes_clear(&ns);
    /* A second send while it is still visible does not wake anyone again. */
    send_body(s, "n", "again");
    run_for(100);
    assert_int_equal(notes_for(&ns, "n"), 0);
    /* Take both with a 1 s timeout; an empty receive then arms a wake-up for it. */
    receive(s, "n", 10, 1, &r);
    assert_int_equal(r.n, 2);
    waiter_reset(&r);
    receive(s, "n", 10, 1, &r);
    assert_int_equal(r.n, 0);
    waiter_reset(&r);
    t0 = now_ms();
    assert_true(wait_note(&ns, "n", 3000));
    assert_true(ns.at[0] - t0 >= 700);          /* not before the timeout ends */
    receive(s, "n", 10, 30, &r);
    assert_int_equal(r.n, 2);
    waiter_reset(&r);
    notes_clear(&ns);
    /* Delayed send: woken when the delay ends, after an empty receive. */
    {
        msg_spec_t late = { "late", NULL, NULL, false, 1, NULL };
        waiter_t w;

        send_specs(s, "n", &late, 1, &w);
        waiter_reset(&w);
        receive(s, "n", 10, 30, &r);
        assert_int_equal(r.n, 0);
        waiter_reset(&r);
        assert_true(wait_note(&ns, "n", 3000));
        receive(s, "n", 10, 30, &r);
        assert_int_equal(r.n, 1);
        waiter_reset(&r);
    }
    notes_clear(&ns);
    sl_store_destroy(s);
}

static void
test_notify_across_stores(void **state)
{
    sl_store_t *a = open_store(), *b = open_store_url(NULL, cur_prefix);
    sl_store_t *other = open_store();       /* another prefix: must not hear it */
    notes_t na = { 0 }, nb = { 0 }, no = { 0 };
    waiter_t r;

    (void)state;
    sl_store_set_notify(a, on_note, &na);
    sl_store_set_notify(b, on_note, &nb);
    sl_store_set_notify(other, on_note, &no);
    create_std(a, "shared", 30);
    run_for(50);
    send_body(a, "shared", "from-a");
    assert_true(wait_note(&nb, "shared", 2000));
    assert_true(wait_note(&na, "shared", 2000));
    assert_int_equal(no.n, 0);
    receive(b, "shared", 1, 30, &r);            /* b sees what a sent */
    assert_int_equal(r.n, 1);
    assert_string_equal(r.msgs[0].body, "from-a");
    assert_int_equal(delete_one(a, "shared", r.msgs[0].receipt), SL_OK);
    waiter_reset(&r);
    notes_clear(&na);
    notes_clear(&nb);
    sl_store_destroy(a);
    sl_store_destroy(b);
    sl_store_destroy(other);
}

/* A long poll without WaitTimeSeconds looks up the queue between its empty
 * receive and parking: a notification that came in between is replayed once
 * after that lookup, and only once. */
static void
test_notify_replayed_after_get(void **state)
{
    sl_store_t *a = open_store(), *b = open_store_url(NULL, cur_prefix);
    notes_t na = { 0 };
    waiter_t r, g;

    (void)state;
    sl_store_set_notify(a, on_note, &na);
    create_std(a, "rg", 30);
    run_for(50);
    receive(a, "rg", 1, 30, &r);
    assert_int_equal(r.n, 0);
    waiter_reset(&r);
    send_body(b, "rg", "in-between");
    assert_true(wait_note(&na, "rg", 2000));
    assert_int_equal(notes_for(&na, "rg"), 1);
    get_info(a, "rg", &g);
    assert_int_equal(g.status, SL_OK);
    waiter_reset(&g);
    assert_int_equal(notes_for(&na, "rg"), 2);      /* replayed after the get */
    get_info(a, "rg", &g);
    waiter_reset(&g);
    run_for(50);
    assert_int_equal(notes_for(&na, "rg"), 2);      /* not again */
    notes_clear(&na);
    sl_store_destroy(a);
    sl_store_destroy(b);
}

static void
test_survives_new_store(void **state)
{
    sl_store_t *s = open_store();
    waiter_t r;

    (void)state;
    create_std(s, "durable", 30);
    send_body(s, "durable", "kept");
    sl_store_destroy(s);
    s = open_store_url(NULL, cur_prefix);
    receive(s, "durable", 1, 30, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.msgs[0].body, "kept");
    waiter_reset(&r);
    sl_store_destroy(s);
}

static void
test_redis_down_and_back(void **state)
{
    sl_store_t *s = open_store();
    notes_t ns = { 0 };
    waiter_t r;
    int64_t t0;
    bool ready = false;

    (void)state;
    sl_store_set_notify(s, on_note, &ns);
    create_std(s, "down", 30);
    redis_stop();
    run_for(100);                               /* the store notices the close */
    t0 = now_ms();
    receive(s, "down", 1, 30, &r);
    assert_int_equal(r.status, SL_EBACKEND);
    assert_true(now_ms() - t0 < 1000);          /* fails fast */
    waiter_reset(&r);
    {
        waiter_t w;
        msg_spec_t sp = { "lost", NULL, NULL, false, -1, NULL };

        send_specs(s, "down", &sp, 1, &w);
        assert_int_equal(w.status, SL_EBACKEND);
        waiter_reset(&w);
    }
    assert_true(redis_start());
    t0 = now_ms();
    while (!ready && now_ms() - t0 < 5000) {
        run_for(20);
        ready = sl_redisstore_is_ready(s);
    }
    assert_true(ready);
    /* An empty server (no persistence): the store serves again. */
    create_std(s, "down", 30);
    send_body(s, "down", "after");
    receive(s, "down", 1, 30, &r);
    assert_int_equal(r.status, SL_OK);
    assert_int_equal(r.n, 1);
    waiter_reset(&r);
    notes_clear(&ns);
    sl_store_destroy(s);
}

static void
test_redis_frozen_times_out(void **state)
{
    sl_store_t *s = open_store_url("timeout=300", "frozen:");
    waiter_t r, r2;
    int64_t t0;
    bool ready = false;

    (void)state;
    create_std(s, "frz", 30);
    kill(srv.pid, SIGSTOP);
    t0 = now_ms();
    receive(s, "frz", 1, 30, &r);
    assert_int_equal(r.status, SL_ETIMEDOUT);
    assert_true(now_ms() - t0 >= 250 && now_ms() - t0 < 3000);
    waiter_reset(&r);
    /* The link was dropped: what comes next fails or times out, never hangs. */
    receive(s, "frz", 1, 30, &r2);
    assert_true(r2.status == SL_EBACKEND || r2.status == SL_ETIMEDOUT);
    waiter_reset(&r2);
    kill(srv.pid, SIGCONT);
    t0 = now_ms();
    while (!ready && now_ms() - t0 < 5000) {
        run_for(20);
        ready = sl_redisstore_is_ready(s);
    }
    assert_true(ready);
    receive(s, "frz", 1, 30, &r);
    assert_int_equal(r.status, SL_OK);
    waiter_reset(&r);
    sl_store_destroy(s);
}

static void
test_script_flush(void **state)
{
    sl_store_t *s = open_store();
    char cmd[256];
    waiter_t r;

    (void)state;
    create_std(s, "fl", 30);
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d SCRIPT FLUSH >/dev/null 2>&1", srv.port);
    if (system(cmd) != 0) {
        sl_store_destroy(s);
        skip();
    }
    send_body(s, "fl", "after-flush");          /* NOSCRIPT, then EVAL */
    receive(s, "fl", 1, 30, &r);
    assert_int_equal(r.n, 1);
    waiter_reset(&r);
    sl_store_destroy(s);
}

static void
test_destroy_with_pending(void **state)
{
    sl_store_t *s = open_store();
    waiter_t w[3];
    sl_recv_opts_t o = { 1, 30 };

    (void)state;
    create_std(s, "pend", 30);
    memset(w, 0, sizeof(w));
    SUBMIT(sl_store_receive(s, "pend", &o, cb_recv, &w[0]));
    SUBMIT(sl_store_queue_get(s, "pend", cb_info, &w[1]));
    SUBMIT(sl_store_outbox_claim(s, 5, 1000, cb_outbox, &w[2]));
    sl_store_destroy(s);
    run_for(100);
    for (int i = 0; i < 3; i++)
        assert_int_equal(w[i].calls, 0);        /* pending callbacks never run */
    /* While Redis is down the failures are deferred: destroy drops them too. */
    s = open_store();
    redis_stop();
    run_for(100);
    SUBMIT(sl_store_receive(s, "pend", &o, cb_recv, &w[0]));
    sl_store_destroy(s);
    run_for(50);
    assert_int_equal(w[0].calls, 0);
    assert_true(redis_start());
}

/* EVALSHA + EVAL calls Redis has run so far (INFO commandstats), or -1. */
static long
script_calls(void)
{
    char cmd[128], line[256];
    long total = 0, v;
    bool answered = false;
    FILE *f;

    snprintf(cmd, sizeof(cmd), "redis-cli -p %d INFO commandstats 2>/dev/null", srv.port);
    if ((f = popen(cmd, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        answered = answered || strncmp(line, "# Commandstats", 14) == 0;
        if (sscanf(line, "cmdstat_evalsha:calls=%ld", &v) == 1 ||
            sscanf(line, "cmdstat_eval:calls=%ld", &v) == 1)
            total += v;
    }
    pclose(f);
    return answered ? total : -1;
}

static void
wait_all(waiter_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        wait_done(&w[i]);
}

/* Receives and deletes asked for in one pass of the loop go to Redis as one script
 * call, and each caller gets what separate calls one after another would give. */
static void
test_merged_receive_delete(void **state)
{
    sl_store_t *s = open_store();
    msg_spec_t sp[25];
    char bodies[25][8];
    sl_recv_opts_t o10 = { 10, 30 }, o3 = { 3, 30 }, o60 = { 10, 60 };
    waiter_t w, r[4], d[3];
    long calls;
    int next = 0;

    (void)state;
    if (script_calls() < 0)
        skip();
    create_std(s, "mr", 30);
    for (int i = 0; i < 25; i++) {
        snprintf(bodies[i], sizeof(bodies[i]), "m%d", i);
        sp[i] = (msg_spec_t){ bodies[i], NULL, NULL, false, -1, NULL };
    }
    send_specs(s, "mr", sp, 25, &w);
    waiter_reset(&w);
    memset(r, 0, sizeof(r));
    calls = script_calls();
    SUBMIT(sl_store_receive(s, "mr", &o10, cb_recv, &r[0]));
    SUBMIT(sl_store_receive(s, "mr", &o3, cb_recv, &r[1]));
    SUBMIT(sl_store_receive(s, "mr", &o10, cb_recv, &r[2]));
    SUBMIT(sl_store_receive(s, "mr", &o60, cb_recv, &r[3]));   /* other visibility */
    wait_all(r, 4);
    assert_int_equal(script_calls() - calls, 2);
    assert_int_equal(r[0].n, 10);
    assert_int_equal(r[1].n, 3);
    assert_int_equal(r[2].n, 10);
    assert_int_equal(r[3].n, 2);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].status, SL_OK);
        for (size_t j = 0; j < r[i].n; j++)
            assert_string_equal(r[i].msgs[j].body, bodies[next++]);
    }
    assert_counts(s, "mr", 0, 25, 0);
    {
        const char *d0[10], *d1[5], *d2[11];

        for (int j = 0; j < 10; j++)
            d0[j] = r[0].msgs[j].receipt;
        for (int j = 0; j < 3; j++)
            d1[j] = r[1].msgs[j].receipt;
        d1[3] = "garbage";
        d1[4] = r[0].msgs[0].receipt;           /* deleted by the batch before */
        for (int j = 0; j < 10; j++)
            d2[j] = r[2].msgs[j].receipt;
        d2[10] = r[2].msgs[0].receipt;          /* twice in one batch */
        memset(d, 0, sizeof(d));
        calls = script_calls();
        SUBMIT(sl_store_delete_batch(s, "mr", d0, 10, cb_batch, &d[0]));
        SUBMIT(sl_store_delete_batch(s, "mr", d1, 5, cb_batch, &d[1]));
        SUBMIT(sl_store_delete_batch(s, "mr", d2, 11, cb_batch, &d[2]));
        wait_all(d, 3);
        assert_int_equal(script_calls() - calls, 1);
    }
    assert_int_equal(d[0].n, 10);
    for (int j = 0; j < 10; j++)
        assert_int_equal(d[0].rcs[j], SL_OK);
    assert_int_equal(d[1].n, 5);
    assert_int_equal(d[1].rcs[0], SL_OK);
    assert_int_equal(d[1].rcs[2], SL_OK);
    assert_int_equal(d[1].rcs[3], SL_EPROTO);
    assert_int_equal(d[1].rcs[4], SL_ENOTFOUND);
    assert_int_equal(d[2].n, 11);
    assert_int_equal(d[2].rcs[9], SL_OK);
    assert_int_equal(d[2].rcs[10], SL_ENOTFOUND);
    assert_counts(s, "mr", 0, 2, 0);
    for (int i = 0; i < 3; i++)
        waiter_reset(&d[i]);
    /* No such queue: every merged caller hears it. */
    SUBMIT(sl_store_receive(s, "nope", &o10, cb_recv, &d[0]));
    SUBMIT(sl_store_receive(s, "nope", &o10, cb_recv, &d[1]));
    wait_all(d, 2);
    assert_int_equal(d[0].status, SL_ENOTFOUND);
    assert_int_equal(d[1].status, SL_ENOTFOUND);
    for (int i = 0; i < 4; i++)
        waiter_reset(&r[i]);
    for (int i = 0; i < 2; i++)
        waiter_reset(&d[i]);
    sl_store_destroy(s);
}

/* Sends asked for in one pass go as one script call; each batch is judged on its
 * own (one over MaximumMessageSize fails alone) and FIFO deduplication sees the
 * batches before it, as with separate calls. */
static void
test_merged_sends(void **state)
{
    sl_store_t *s = open_store();
    sl_queue_cfg_t c = std_cfg();
    char big[601];
    msg_spec_t a[3] = {
        { "a0", NULL, NULL, false, -1, NULL },
        { "a1", NULL, NULL, false, -1, NULL },
        { "a2", NULL, NULL, false, -1, "x" },
    };
    msg_spec_t b[2] = {
        { big, NULL, NULL, false, -1, NULL },
        { big, NULL, NULL, false, -1, NULL },
    };
    msg_spec_t cc[2] = {
        { "c0", NULL, NULL, false, -1, NULL },
        { "c1", NULL, NULL, false, 0, NULL },
    };
    msg_spec_t f[3] = {
        { "f1", "g", "d", false, -1, NULL },
        { "f1-again", "g", "d", false, -1, NULL },
        { "f2", "g", "e", false, -1, NULL },
    };
    const char *want[5] = { "a0", "a1", "a2", "c0", "c1" };
    waiter_t w[3], r;
    long calls;

    (void)state;
    if (script_calls() < 0)
        skip();
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    c.max_size = 1024;
    assert_int_equal(create(s, "ms", &c), SL_OK);
    calls = script_calls();
    submit_specs(s, "ms", a, 3, &w[0]);
    submit_specs(s, "ms", b, 2, &w[1]);
    submit_specs(s, "ms", cc, 2, &w[2]);
    wait_all(w, 3);
    assert_int_equal(script_calls() - calls, 1);
    assert_int_equal(w[0].status, SL_OK);
    assert_int_equal(w[0].n, 3);
    assert_int_equal(w[1].status, SL_EFULL);
    assert_int_equal(w[2].status, SL_OK);
    assert_int_equal(w[2].n, 2);
    for (int i = 0; i < 3; i++)
        waiter_reset(&w[i]);
    receive(s, "ms", 10, -1, &r);
    assert_int_equal(r.n, 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(r.msgs[i].body, want[i]);
    assert_string_equal(r.msgs[2].attr0, "x");
    waiter_reset(&r);

    c.fifo = true;
    assert_int_equal(create(s, "ms.fifo", &c), SL_OK);
    sl_queue_cfg_deinit(&c);
    submit_specs(s, "ms.fifo", &f[0], 1, &w[0]);
    submit_specs(s, "ms.fifo", &f[1], 1, &w[1]);
    submit_specs(s, "ms.fifo", &f[2], 1, &w[2]);
    wait_all(w, 3);
    assert_int_equal(w[1].send[0].err, SL_SEND_OK);         /* a duplicate: the first's */
    assert_string_equal(w[1].send[0].id, w[0].send[0].id);
    assert_int_equal(w[1].send[0].seq, w[0].send[0].seq);
    assert_true(w[2].send[0].seq > w[0].send[0].seq);
    for (int i = 0; i < 3; i++)
        waiter_reset(&w[i]);
    receive(s, "ms.fifo", 10, -1, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.msgs[0].body, "f1");
    assert_string_equal(r.msgs[1].body, "f2");
    waiter_reset(&r);
    sl_store_destroy(s);
}

/* Merged FIFO receives: a group is never split between two receivers, and a delete
 * asked for before a receive runs before it (it unlocks the group the receive
 * then takes from). */
static void
test_merged_fifo_in_order(void **state)
{
    sl_store_t *s = open_store();
    sl_queue_cfg_t c = std_cfg();
    sl_recv_opts_t o2 = { 2, 30 }, o10 = { 10, 30 };
    waiter_t r[3], d = { 0 };
    const char *rc[2];

    (void)state;
    c.fifo = true;
    assert_int_equal(create(s, "mf.fifo", &c), SL_OK);
    sl_queue_cfg_deinit(&c);
    send_fifo(s, "mf.fifo", "a1", "A", "a1");
    send_fifo(s, "mf.fifo", "a2", "A", "a2");
    send_fifo(s, "mf.fifo", "a3", "A", "a3");
    send_fifo(s, "mf.fifo", "b1", "B", "b1");
    send_fifo(s, "mf.fifo", "b2", "B", "b2");
    memset(r, 0, sizeof(r));
    SUBMIT(sl_store_receive(s, "mf.fifo", &o2, cb_recv, &r[0]));
    SUBMIT(sl_store_receive(s, "mf.fifo", &o2, cb_recv, &r[1]));
    wait_all(r, 2);
    assert_int_equal(r[0].n, 2);
    assert_string_equal(r[0].msgs[0].body, "a1");
    assert_string_equal(r[0].msgs[1].body, "a2");
    assert_int_equal(r[1].n, 2);                /* not a3: group A is in flight */
    assert_string_equal(r[1].msgs[0].body, "b1");
    assert_string_equal(r[1].msgs[1].body, "b2");
    rc[0] = r[0].msgs[0].receipt;
    rc[1] = r[0].msgs[1].receipt;
    SUBMIT(sl_store_delete_batch(s, "mf.fifo", rc, 2, cb_batch, &d));
    SUBMIT(sl_store_receive(s, "mf.fifo", &o10, cb_recv, &r[2]));
    wait_done(&d);
    wait_done(&r[2]);
    assert_int_equal(d.rcs[0], SL_OK);
    assert_int_equal(d.rcs[1], SL_OK);
    assert_int_equal(r[2].n, 1);
    assert_string_equal(r[2].msgs[0].body, "a3");
    for (int i = 0; i < 3; i++)
        waiter_reset(&r[i]);
    waiter_reset(&d);
    sl_store_destroy(s);
}

typedef struct destroyer {
    sl_store_t *s;
    int calls;
} destroyer_t;

static void
cb_destroy_store(void *arg, int status, const sl_received_t *msgs, size_t n)
{
    destroyer_t *d = arg;

    (void)status;
    (void)msgs;
    (void)n;
    assert_false(in_submit);
    d->calls++;
    sl_store_destroy(d->s);
}

static void
test_destroy_inside_callback(void **state)
{
    destroyer_t d = { NULL, 0 };
    waiter_t other = { 0 };
    sl_recv_opts_t o = { 1, 30 };

    (void)state;
    d.s = open_store();
    create_std(d.s, "dic", 30);
    send_body(d.s, "dic", "x");
    SUBMIT(sl_store_receive(d.s, "dic", &o, cb_destroy_store, &d));
    SUBMIT(sl_store_receive(d.s, "dic", &o, cb_recv, &other));  /* pipelined behind */
    run_for(200);
    assert_int_equal(d.calls, 1);
    assert_int_equal(other.calls, 0);
}

static void
cb_send_destroy_store(void *arg, int status, const sl_send_result_t *res, size_t n)
{
    destroyer_t *d = arg;

    (void)status;
    (void)res;
    (void)n;
    assert_false(in_submit);
    d->calls++;
    sl_store_destroy(d->s);
}

/* A send to an empty queue publishes; its callback destroying the store must not
 * leave the store looking at its connection afterwards (it used to, to decide
 * whether to deliver the notification itself). */
static void
test_destroy_inside_publishing_send(void **state)
{
    destroyer_t d = { NULL, 0 };
    sl_msg_in_t in;
    sl_msg_attr_t attr;
    msg_spec_t sp = { "x", NULL, NULL, false, -1, NULL };

    (void)state;
    d.s = open_store();
    create_std(d.s, "dps", 30);
    fill_in(&in, &attr, &sp);
    SUBMIT(sl_store_send(d.s, "dps", &in, 1, cb_send_destroy_store, &d));
    run_for(200);
    assert_int_equal(d.calls, 1);
}

/* Destroyed with a merged receive still held (never sent), then from inside the
 * first callback of a merged call: no other callback runs. */
static void
test_destroy_with_merged(void **state)
{
    destroyer_t d = { NULL, 0 };
    waiter_t other[2];
    sl_recv_opts_t o = { 1, 30 };
    sl_store_t *s = open_store();

    (void)state;
    memset(other, 0, sizeof(other));
    create_std(s, "dm", 30);
    SUBMIT(sl_store_receive(s, "dm", &o, cb_recv, &other[0]));
    SUBMIT(sl_store_receive(s, "dm", &o, cb_recv, &other[1]));
    sl_store_destroy(s);
    run_for(100);
    assert_int_equal(other[0].calls, 0);
    assert_int_equal(other[1].calls, 0);
    d.s = open_store();
    create_std(d.s, "dm", 30);
    send_body(d.s, "dm", "x");
    send_body(d.s, "dm", "y");
    SUBMIT(sl_store_receive(d.s, "dm", &o, cb_destroy_store, &d));
    SUBMIT(sl_store_receive(d.s, "dm", &o, cb_recv, &other[0]));    /* merged with it */
    run_for(200);
    assert_int_equal(d.calls, 1);
    assert_int_equal(other[0].calls, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_receive_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_visibility_and_stale_receipts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_batch_mixed_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delays_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_order_lock_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_queue_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redrive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redrive_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_with_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_documents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_send_and_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_across_stores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_replayed_after_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_new_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_inside_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merged_receive_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merged_sends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merged_fifo_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_merged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_inside_publishing_send, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_frozen_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_down_and_back, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
