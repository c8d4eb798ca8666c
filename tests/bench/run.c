/* run.c - `sluice-bench run`: drive the SQS JSON API and measure it.
 * Three phases share one event loop on one thread (the load generator is pinned to
 * one core, the broker to the other): (1) N connections send SendMessageBatch back
 * to back, (2) M connections loop ReceiveMessage + DeleteMessageBatch until the
 * queue is drained, (3) optionally, one connection sends SendMessage at a fixed
 * rate while another long-polls, for end-to-end latency (the send time travels in
 * the body). Every answer's HTTP status is checked and its body read as JSON; one
 * in --verify-every answers is parsed by jansson and has its MD5s recomputed, so a
 * fast wrong answer does not pass for a fast answer. The client must cost less than
 * the server it measures, so the other answers go through scan.c's non-building
 * scanner, and request bodies are written by hand into reused buffers.
 * Everything is bounded: --duration, --max-errors, a per-request timeout and a
 * global --timeout, after which the loop is broken and partial figures printed. */
#include "bench.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/resource.h>

#include <event2/event.h>
#include <jansson.h>

#define LOG_FIRST 5                 /* log this many errors of each kind, count the rest */
#define RECV_EMPTY_STOP 3           /* phase 2: empty answers in a row that end a receiver */
#define LAT_EMPTY_STOP 2            /* phase 3: empty long polls after sending ended */
#define LAT_WAIT_S 1                /* phase 3: WaitTimeSeconds of the long poll */
#define LAT_GRACE_S 5               /* phase 3: longest wait for stragglers after sending */
#define LAT_MIN_BODY 32             /* phase 3 bodies hold "t-<ns>-" */

typedef struct run run_t;
typedef struct worker worker_t;

typedef void (*step_fn)(worker_t *w, int status, const char *body, size_t len);

/* One answer as read: by the scanner, or by jansson when sampled or refused. */
typedef struct answer {
    bench_scan_t sc;                /* counts and spans, filled on both paths */
    json_t *json;                   /* jansson's tree, or NULL on the fast path */
    bool verify;                    /* a sample: the caller checks MD5s and Ids */
} answer_t;

struct worker {
    run_t *r;
    bench_conn_t conn;
    step_fn step;                   /* handles the answer to the pending request */
    const char *op;                 /* operation of the pending request */
    bench_buf_t req;                /* request body, reused */
    bench_buf_t esc;                /* jansson path: receipt handles re-escaped */
    answer_t ans;                   /* the answer being handled */
    uint64_t first_seq;             /* phase 1: sequence number of entry "0" */
    size_t n;                       /* entries in the pending batch request */
    int empties;                    /* empty receives in a row */
    bool sender;                    /* --together: a phase 1 worker */
    bool done;
};

typedef struct errors {
    uint64_t http;                  /* answers with a status other than 200 */
    uint64_t transport;             /* refused, reset, timed out, unparsable HTTP */
    uint64_t json;                  /* a 200 whose body is not the JSON expected */
    uint64_t failed;                /* batch entries the broker listed as Failed */
    uint64_t wrong;                 /* wrong answers: bad MD5, missing or unknown entries */
} errors_t;

typedef struct timing {
    uint64_t t0;                    /* ns, phase start */
    uint64_t t_last;                /* ns, last answer of the phase */
    double cpu0;                    /* s, our CPU time at phase start */
    double cpu;                     /* s, our CPU time spent in the phase */
} timing_t;

struct run {
    const bench_opts_t *o;
    struct event_base *base;
    bench_endpoint_t ep;
    char *queue_url;
    bench_buf_t url_json;           /* queue URL escaped for a JSON string */
    bench_buf_t recv_body;          /* phase 2 ReceiveMessage body, built once */
    bench_buf_t poll_body;          /* phase 3 ReceiveMessage body */
    bench_buf_t scratch;            /* body rebuilt for MD5 checks */

    /* the phase in progress */
    int active;                     /* workers not yet done */
    int senders;                    /* --together: phase 1 workers not yet done */
    bool stopping;                  /* issue no new requests, let pending ones finish */
    bool aborted;                   /* loop broken: timeout, too many errors, SIGINT */
    char abort_reason[128];
    uint64_t issued;                /* phase 1: messages issued; 2: receives issued */
    uint64_t target;                /* phase 2: messages to receive */
    uint64_t verify_tick;

    struct event *timeout_ev;       /* whole-run --timeout */
    struct event *sigint_ev;
    struct event *sigterm_ev;

    errors_t err;
    uint64_t err_logged[5];         /* per kind, to log only the first few */
    uint64_t verified;              /* responses whose MD5s were recomputed */

    struct {
        bool ran;
        timing_t t;
        uint64_t sent, requests;
        bench_hist_t lat;
    } send;
    struct {
        bool ran;
        timing_t t;
        uint64_t received, deleted, rreq, dreq, empty;
        bench_hist_t rlat, dlat;
    } recv;
    struct {
        bool ran;
        bool send_done;             /* the sending time is over */
        timing_t t;
        uint64_t sent, received, deleted, foreign, requests;
        uint64_t send_end;          /* ns, when sending stopped */
        struct event *tick;         /* paces the sender */
        struct event *end;          /* ends sending, later ends the grace time */
        worker_t *sender;
        bench_hist_t e2e, slat;
    } lat;
};

enum { KIND_HTTP, KIND_TRANSPORT, KIND_JSON, KIND_FAILED, KIND_WRONG };

/* ---- Errors and bookkeeping ---- */

static uint64_t
errors_total(const errors_t *e)
{
    return e->http + e->transport + e->json + e->failed + e->wrong;
}

static void
run_abort(run_t *r, const char *why)
{
    if (!r->aborted) {
        r->aborted = true;
        snprintf(r->abort_reason, sizeof(r->abort_reason), "%s", why);
        fprintf(stderr, "sluice-bench: aborting: %s\n", why);
    }
    event_base_loopbreak(r->base);
}

/* Counts n errors of one kind and logs the first few; aborts past --max-errors. */
static void count_error(run_t *r, int kind, uint64_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
count_error(run_t *r, int kind, uint64_t n, const char *fmt, ...)
{
    uint64_t *ctr[] = { &r->err.http, &r->err.transport, &r->err.json, &r->err.failed,
                        &r->err.wrong };
    va_list ap;

    *ctr[kind] += n;
    if (r->err_logged[kind]++ < LOG_FIRST) {
        fprintf(stderr, "sluice-bench: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\n");
        if (r->err_logged[kind] == LOG_FIRST)
            fprintf(stderr, "sluice-bench: (further errors of this kind are only counted)\n");
    }
    if (errors_total(&r->err) > r->o->max_errors) {
        char why[96];

        snprintf(why, sizeof(why), "more than %llu errors",
                 (unsigned long long)r->o->max_errors);
        run_abort(r, why);
    }
}

static const char *
or_str(const char *s, const char *dflt)
{
    return s != NULL ? s : dflt;
}

static bool
should_verify(run_t *r)
{
    return r->o->verify_every > 0 && r->verify_tick++ % (uint64_t)r->o->verify_every == 0;
}

static double
cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
timing_start(timing_t *t)
{
    t->t0 = t->t_last = bench_now_ns();
    t->cpu0 = cpu_seconds();
}

static void
timing_stop(timing_t *t)
{
    t->cpu = cpu_seconds() - t->cpu0;
}

static double
timing_secs(const timing_t *t)
{
    return (double)(t->t_last - t->t0) / 1e9;
}

/* Checks the transport result and status of an answer. Returns true for a 200. */
static bool
answer_ok(run_t *r, worker_t *w, int status, const char *body, size_t len)
{
    if (status < 0) {
        count_error(r, KIND_TRANSPORT, 1, "%s: transport error: %s", w->op, w->conn.errstr);
        return false;
    }
    if (status != 200) {
        count_error(r, KIND_HTTP, 1, "%s: HTTP %d: %.*s", w->op, status,
                    (int)(len < 300 ? len : 300), body);
        return false;
    }
    return true;
}

/* Parses a 200 answer as a JSON object. Returns a new reference or NULL. */
static json_t *
answer_json(run_t *r, worker_t *w, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *j = json_loadb(body, len, 0, &jerr);

    if (j == NULL || !json_is_object(j)) {
        count_error(r, KIND_JSON, 1, "%s: answer is not a JSON object (%s): %.*s", w->op,
                    j ? "not an object" : jerr.text, (int)(len < 200 ? len : 200), body);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Counts the Failed entries of a batch answer and logs the first. */
static void
count_failed(run_t *r, worker_t *w, json_t *j)
{
    json_t *failed = json_object_get(j, "Failed");
    size_t nf = json_is_array(failed) ? json_array_size(failed) : 0;

    if (nf > 0) {
        json_t *e = json_array_get(failed, 0);

        count_error(r, KIND_FAILED, nf, "%s: %zu entries failed, first: %s: %s", w->op, nf,
                    or_str(json_string_value(json_object_get(e, "Code")), "?"),
                    or_str(json_string_value(json_object_get(e, "Message")), "?"));
    }
}

/* Fills the scan view of an answer from jansson's tree, so callers need one code
 * path: handles are re-escaped into w->esc, bodies point into the tree. */
static void
scan_from_json(run_t *r, worker_t *w, answer_t *a)
{
    json_t *j = a->json, *msgs = json_object_get(j, "Messages"), *m;
    json_t *succ = json_object_get(j, "Successful"), *failed = json_object_get(j, "Failed");
    size_t i, offs[BENCH_SCAN_MAX];

    memset(&a->sc, 0, sizeof(a->sc));
    a->sc.successful = json_is_array(succ) ? json_array_size(succ) : 0;
    a->sc.failed = json_is_array(failed) ? json_array_size(failed) : 0;
    if (json_is_string(json_object_get(j, "MessageId"))) {
        a->sc.message_id.p = json_string_value(json_object_get(j, "MessageId"));
        a->sc.message_id.len = json_string_length(json_object_get(j, "MessageId"));
    }
    if (msgs != NULL && !json_is_array(msgs)) {
        count_error(r, KIND_JSON, 1, "%s: Messages is not an array", w->op);
        msgs = NULL;
    }
    a->sc.has_messages = msgs != NULL;
    a->sc.messages = msgs ? json_array_size(msgs) : 0;
    bench_buf_reset(&w->esc);
    json_array_foreach(msgs, i, m) {
        json_t *h = json_object_get(m, "ReceiptHandle"), *b = json_object_get(m, "Body");

        if (i >= BENCH_SCAN_MAX)
            break;
        offs[i] = w->esc.len;
        if (json_is_string(h))
            bench_buf_add_json_escaped(&w->esc, json_string_value(h), json_string_length(h));
        a->sc.msgs[i].handle.len = json_is_string(h) ? w->esc.len - offs[i] : 0;
        a->sc.msgs[i].handle.p = json_is_string(h) ? "" : NULL;  /* set below */
        a->sc.msgs[i].body.p = json_string_value(b);
        a->sc.msgs[i].body.len = json_is_string(b) ? json_string_length(b) : 0;
    }
    for (i = 0; i < a->sc.messages && i < BENCH_SCAN_MAX; i++)
        if (a->sc.msgs[i].handle.p != NULL)
            a->sc.msgs[i].handle.p = w->esc.p + offs[i];
}

/* Reads a 200 answer into w->ans. Most answers go through the scanner (scan.c);
 * one in --verify-every (a->verify, to be checked by the caller), any answer the
 * scanner refuses and any with Failed entries are parsed by jansson (a->json).
 * Returns false when the answer is an error, already counted. On true the caller
 * ends with answer_done(). Spans are valid until the callback returns. */
static bool
answer_read(run_t *r, worker_t *w, int status, const char *body, size_t len)
{
    answer_t *a = &w->ans;

    a->json = NULL;
    a->verify = false;
    if (!answer_ok(r, w, status, body, len))
        return false;
    a->verify = should_verify(r);
    if (!a->verify && bench_scan_answer(body, len, &a->sc) == SL_OK && a->sc.failed == 0)
        return true;
    if ((a->json = answer_json(r, w, body, len)) == NULL)
        return false;
    if (a->verify)
        r->verified++;
    scan_from_json(r, w, a);
    count_failed(r, w, a->json);
    return true;
}

static void
answer_done(answer_t *a)
{
    json_decref(a->json);
    a->json = NULL;
}

static void
on_conn(bench_conn_t *c, int status, const char *body, size_t len, void *arg)
{
    worker_t *w = arg;

    (void)c;
    w->step(w, status, body, len);
}

static void
worker_init(worker_t *w, run_t *r)
{
    memset(w, 0, sizeof(*w));
    w->r = r;
    bench_conn_init(&w->conn, r->base, &r->ep, on_conn, w);
}

static void
worker_deinit(worker_t *w)
{
    bench_conn_deinit(&w->conn);
    bench_buf_deinit(&w->req);
    bench_buf_deinit(&w->esc);
}

static void
worker_finish(worker_t *w)
{
    if (w->done)
        return;
    w->done = true;
    if (w->sender)
        w->r->senders--;
    if (--w->r->active == 0)
        event_base_loopbreak(w->r->base);
}

/* Posts w->req. On a failure to even send, counts it and ends the worker. */
static void
post(worker_t *w, const char *op, step_fn step, int timeout_s)
{
    run_t *r = w->r;

    w->op = op;
    w->step = step;
    if (bench_conn_post(&w->conn, op, w->req.p, w->req.len, timeout_s) < 0) {
        count_error(r, KIND_TRANSPORT, 1, "%s: cannot send: %s", op, w->conn.errstr);
        worker_finish(w);
    }
}

static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
    run_t *r = arg;

    (void)fd;
    (void)what;
    r->stopping = true;
}

/* Runs one phase: starts each worker and loops until all are done or the run is
 * aborted. duration > 0 stops new requests after that many seconds. */
static void
phase_run(run_t *r, worker_t *ws, int n, void (*start)(worker_t *w), double duration)
{
    struct event *stop_ev = NULL;
    int i;

    r->active = n;
    r->stopping = false;
    r->issued = 0;
    if (duration > 0) {
        struct timeval tv;

        tv.tv_sec = (time_t)duration;
        tv.tv_usec = (suseconds_t)((duration - (double)tv.tv_sec) * 1e6);
        stop_ev = evtimer_new(r->base, on_stop, r);
        evtimer_add(stop_ev, &tv);
    }
    for (i = 0; i < n; i++)
        start(&ws[i]);
    if (r->active > 0 && !r->aborted)
        event_base_dispatch(r->base);
    if (stop_ev != NULL)
        event_free(stop_ev);
}

/* ---- Phase 1: SendMessageBatch ---- */

static void send_next(worker_t *w);

static void
verify_send_batch(run_t *r, worker_t *w, json_t *succ, size_t nf)
{
    const bench_opts_t *o = r->o;
    bool seen[10] = { false };
    size_t i, ns = json_is_array(succ) ? json_array_size(succ) : 0;
    json_t *e;

    if (ns + nf != w->n) {
        count_error(r, KIND_WRONG, 1, "SendMessageBatch: %zu entries sent, %zu answered",
                    w->n, ns + nf);
        return;
    }
    json_array_foreach(succ, i, e) {
        const char *id = json_string_value(json_object_get(e, "Id"));
        const char *mid = json_string_value(json_object_get(e, "MessageId"));
        const char *md5 = json_string_value(json_object_get(e, "MD5OfMessageBody"));
        char want[33], *end;
        unsigned long k;

        k = id ? strtoul(id, &end, 10) : 0;
        if (id == NULL || *id == '\0' || *end != '\0' || k >= w->n || seen[k]) {
            count_error(r, KIND_WRONG, 1, "SendMessageBatch: bad or repeated entry Id %s",
                        or_str(id, "(none)"));
            return;
        }
        seen[k] = true;
        if (mid == NULL || *mid == '\0') {
            count_error(r, KIND_WRONG, 1, "SendMessageBatch: entry %s has no MessageId", id);
            return;
        }
        bench_buf_reset(&r->scratch);
        bench_body_fill(bench_buf_extend(&r->scratch, (size_t)o->size), (size_t)o->size, "m",
                        w->first_seq + k);
        bench_md5_hex(r->scratch.p, r->scratch.len, want);
        if (md5 == NULL || strcmp(md5, want) != 0) {
            count_error(r, KIND_WRONG, 1,
                        "SendMessageBatch: entry %s MD5OfMessageBody %s, expected %s", id,
                        or_str(md5, "(none)"), want);
            return;
        }
    }
}

static void
on_send_batch(worker_t *w, int status, const char *body, size_t len)
{
    run_t *r = w->r;
    uint64_t now = bench_now_ns();
    answer_t *a = &w->ans;

    if (status > 0)
        bench_hist_add(&r->send.lat, now - w->conn.posted_ns);
    r->send.requests++;
    r->send.t.t_last = now;
    if (answer_read(r, w, status, body, len)) {
        r->send.sent += a->sc.successful < w->n ? a->sc.successful : w->n;
        if (a->verify)
            verify_send_batch(r, w, json_object_get(a->json, "Successful"), a->sc.failed);
        answer_done(a);
    }
    send_next(w);
}

static void
send_next(worker_t *w)
{
    run_t *r = w->r;
    const bench_opts_t *o = r->o;
    bench_buf_t *b = &w->req;
    size_t i, n = (size_t)o->batch;

    if (r->stopping || r->aborted || (o->messages && r->issued >= o->messages)) {
        worker_finish(w);
        return;
    }
    if (o->messages && o->messages - r->issued < n)
        n = (size_t)(o->messages - r->issued);
    w->first_seq = r->issued;
    w->n = n;
    r->issued += n;

    bench_buf_reset(b);
    bench_buf_adds(b, "{\"QueueUrl\":\"");
    bench_buf_add(b, r->url_json.p, r->url_json.len);
    bench_buf_adds(b, "\",\"Entries\":[");
    for (i = 0; i < n; i++) {
        bench_buf_printf(b, "%s{\"Id\":\"%zu\",\"MessageBody\":\"", i ? "," : "", i);
        bench_body_fill(bench_buf_extend(b, (size_t)o->size), (size_t)o->size, "m",
                        w->first_seq + i);
        bench_buf_adds(b, "\"}");
    }
    bench_buf_adds(b, "]}");
    post(w, "SendMessageBatch", on_send_batch, o->request_timeout);
}

/* ---- Phase 2: ReceiveMessage + DeleteMessageBatch ---- */

static void recv_next(worker_t *w);

/* Checks MD5OfBody against Body. Returns false (and counts) on a mismatch. */
static bool
verify_message(run_t *r, const char *op, json_t *m)
{
    const char *body = json_string_value(json_object_get(m, "Body"));
    const char *md5 = json_string_value(json_object_get(m, "MD5OfBody"));
    const char *mid = json_string_value(json_object_get(m, "MessageId"));
    char want[33];

    if (body == NULL || mid == NULL) {
        count_error(r, KIND_WRONG, 1, "%s: message without Body or MessageId", op);
        return false;
    }
    bench_md5_hex(body, json_string_length(json_object_get(m, "Body")), want);
    if (md5 == NULL || strcmp(md5, want) != 0) {
        count_error(r, KIND_WRONG, 1, "%s: message %s MD5OfBody %s, expected %s", op, mid,
                    or_str(md5, "(none)"), want);
        return false;
    }
    return true;
}

/* Checks the messages of a sampled ReceiveMessage answer. */
static void
verify_messages(run_t *r, worker_t *w, answer_t *a)
{
    json_t *m;
    size_t i;

    json_array_foreach(json_object_get(a->json, "Messages"), i, m)
        if (!verify_message(r, w->op, m))
            return;
}

/* Builds a DeleteMessageBatch body for the messages of the answer in w->ans and
 * returns the number of entries. */
static size_t
build_delete_batch(run_t *r, worker_t *w)
{
    const bench_scan_t *sc = &w->ans.sc;
    bench_buf_t *b = &w->req;
    size_t i, n = 0;

    bench_buf_reset(b);
    bench_buf_adds(b, "{\"QueueUrl\":\"");
    bench_buf_add(b, r->url_json.p, r->url_json.len);
    bench_buf_adds(b, "\",\"Entries\":[");
    for (i = 0; i < sc->messages && i < BENCH_SCAN_MAX; i++) {
        const bench_span_t *h = &sc->msgs[i].handle;

        if (h->p == NULL) {
            count_error(r, KIND_WRONG, 1, "%s: message without ReceiptHandle", w->op);
            continue;
        }
        /* the span is still JSON-escaped, so it is copied back as it came */
        bench_buf_printf(b, "%s{\"Id\":\"%zu\",\"ReceiptHandle\":\"", n ? "," : "", n);
        bench_buf_add(b, h->p, h->len);
        bench_buf_adds(b, "\"}");
        n++;
    }
    bench_buf_adds(b, "]}");
    return n;
}

static void
on_delete_batch(worker_t *w, int status, const char *body, size_t len)
{
    run_t *r = w->r;
    uint64_t now = bench_now_ns();
    answer_t *a = &w->ans;

    if (status > 0)
        bench_hist_add(&r->recv.dlat, now - w->conn.posted_ns);
    r->recv.dreq++;
    r->recv.t.t_last = now;
    if (answer_read(r, w, status, body, len)) {
        if (a->verify && a->sc.successful + a->sc.failed != w->n)
            count_error(r, KIND_WRONG, 1, "DeleteMessageBatch: %zu entries sent, %zu answered",
                        w->n, a->sc.successful + a->sc.failed);
        r->recv.deleted += a->sc.successful < w->n ? a->sc.successful : w->n;
        answer_done(a);
    }
    recv_next(w);
}

static void
on_receive(worker_t *w, int status, const char *body, size_t len)
{
    run_t *r = w->r;
    const bench_opts_t *o = r->o;
    uint64_t now = bench_now_ns();
    answer_t *a = &w->ans;
    size_t k;

    if (status > 0)
        bench_hist_add(&r->recv.rlat, now - w->conn.posted_ns);
    r->recv.rreq++;
    if (!o->together)
        r->recv.t.t_last = now;     /* together: the last delete ends the pipeline */
    if (!answer_read(r, w, status, body, len)) {
        recv_next(w);
        return;
    }
    k = a->sc.messages;
    if (k == 0) {
        answer_done(a);
        r->recv.empty++;
        if (o->together && r->senders > 0)
            recv_next(w);           /* the queue ran dry while sending goes on */
        else if (++w->empties >= RECV_EMPTY_STOP && !o->requests)
            worker_finish(w);
        else
            recv_next(w);
        return;
    }
    w->empties = 0;
    if (k > (size_t)o->batch)
        count_error(r, KIND_WRONG, 1, "ReceiveMessage: %zu messages, asked for at most %d", k,
                    o->batch);
    r->recv.received += k;
    if (a->verify)
        verify_messages(r, w, a);
    w->n = build_delete_batch(r, w);
    answer_done(a);
    if (w->n == 0) {
        recv_next(w);
        return;
    }
    post(w, "DeleteMessageBatch", on_delete_batch, o->request_timeout);
}

static void
recv_next(worker_t *w)
{
    run_t *r = w->r;
    const bench_opts_t *o = r->o;

    if (r->stopping || r->aborted) {
        worker_finish(w);
        return;
    }
    if (o->requests) {
        if (r->issued >= o->requests) {
            worker_finish(w);
            return;
        }
        r->issued++;
    } else if (r->recv.received >= r->target) {
        worker_finish(w);
        return;
    }
    bench_buf_reset(&w->req);
    bench_buf_add(&w->req, r->recv_body.p, r->recv_body.len);
    post(w, "ReceiveMessage", on_receive, o->request_timeout);
}

/* ---- Phase 3: paced SendMessage, long-poll ReceiveMessage, end-to-end latency ---- */

static void lat_send(worker_t *w);
static void lat_poll(worker_t *w);

static double
lat_duration(const bench_opts_t *o)
{
    if (o->latency_duration > 0)
        return o->latency_duration;
    return o->duration > 0 ? o->duration : 5.0;
}

/* Messages the pacer owes by now: one at t0, then one every 1/rate seconds. */
static uint64_t
lat_due(run_t *r, uint64_t now)
{
    return 1 + (uint64_t)((double)(now - r->lat.t.t0) / 1e9 * r->o->latency_rate);
}

/* The send time of a phase 3 body ("t-<ns>-..."), or 0 when it is not one. */
static uint64_t
lat_stamp(const bench_span_t *body)
{
    uint64_t t = 0;
    size_t i;

    if (body->p == NULL || body->len < 4 || body->p[0] != 't' || body->p[1] != '-')
        return 0;
    for (i = 2; i < body->len && i < 24 && body->p[i] >= '0' && body->p[i] <= '9'; i++)
        t = t * 10 + (uint64_t)(body->p[i] - '0');
    return i > 2 && i < body->len && body->p[i] == '-' ? t : 0;
}

static void
on_lat_sent(worker_t *w, int status, const char *body, size_t len)
{
    run_t *r = w->r;
    uint64_t now = bench_now_ns();
    answer_t *a = &w->ans;

    if (status > 0)
        bench_hist_add(&r->lat.slat, now - w->conn.posted_ns);
    r->lat.requests++;
    if (answer_read(r, w, status, body, len)) {
        r->lat.sent++;
        if (a->sc.message_id.p == NULL)
            count_error(r, KIND_WRONG, 1, "SendMessage: answer without MessageId");
        if (a->verify) {
            const char *md5 = json_string_value(json_object_get(a->json, "MD5OfMessageBody"));
            char want[33];

            bench_md5_hex(r->scratch.p, r->scratch.len, want);
            if (md5 == NULL || strcmp(md5, want) != 0)
                count_error(r, KIND_WRONG, 1, "SendMessage: MD5OfMessageBody %s, expected %s",
                            or_str(md5, "(none)"), want);
        }
        answer_done(a);
    }
    lat_send(w);
}

/* Sends the next paced message if one is owed; ends the sender after its time. */
static void
lat_send(worker_t *w)
{
    run_t *r = w->r;
    const bench_opts_t *o = r->o;
    size_t size = (size_t)(o->size < LAT_MIN_BODY ? LAT_MIN_BODY : o->size);
    bench_buf_t *b = &w->req;
    uint64_t now = bench_now_ns();

    if (r->lat.send_done || r->stopping || r->aborted) {
        worker_finish(w);
        return;
    }
    if (bench_conn_is_busy(&w->conn) || r->lat.requests >= lat_due(r, now))
        return;                                 /* the pacer's tick calls again */
    bench_buf_reset(&r->scratch);
    bench_body_fill(bench_buf_extend(&r->scratch, size), size, "t", now);
    bench_buf_reset(b);
    bench_buf_adds(b, "{\"QueueUrl\":\"");
    bench_buf_add(b, r->url_json.p, r->url_json.len);
    bench_buf_adds(b, "\",\"MessageBody\":\"");
    bench_buf_add(b, r->scratch.p, r->scratch.len);
    bench_buf_adds(b, "\"}");
    post(w, "SendMessage", on_lat_sent, o->request_timeout);
}

static void
on_lat_tick(evutil_socket_t fd, short what, void *arg)
{
    run_t *r = arg;

    (void)fd;
    (void)what;
    if (!r->lat.sender->done)
        lat_send(r->lat.sender);
}

static void
on_lat_end(evutil_socket_t fd, short what, void *arg)
{
    run_t *r = arg;
    struct timeval grace = { LAT_GRACE_S, 0 };

    (void)fd;
    (void)what;
    if (!r->lat.send_done) {
        /* sending time is over: stop the pacer, give the receiver a grace time */
        r->lat.send_done = true;
        r->lat.send_end = bench_now_ns();
        event_del(r->lat.tick);
        if (!bench_conn_is_busy(&r->lat.sender->conn))
            worker_finish(r->lat.sender);
        evtimer_add(r->lat.end, &grace);
    } else {
        r->stopping = true;
    }
}

static void
on_lat_deleted(worker_t *w, int status, const char *body, size_t len)
{
    run_t *r = w->r;
    answer_t *a = &w->ans;

    if (answer_read(r, w, status, body, len)) {
        r->lat.deleted += w->n == 1 ? 1 : a->sc.successful;
        answer_done(a);
    }
    lat_poll(w);
}

static void
on_lat_polled(worker_t *w, int status, const char *body, size_t len)
{
    run_t *r = w->r;
    uint64_t now = bench_now_ns();
    answer_t *a = &w->ans;
    size_t i, k;

    if (!answer_read(r, w, status, body, len)) {
        lat_poll(w);
        return;
    }
    k = a->sc.messages;
    if (k == 0) {
        answer_done(a);
        if (r->lat.send_done)
            w->empties++;
        lat_poll(w);
        return;
    }
    w->empties = 0;
    for (i = 0; i < k && i < BENCH_SCAN_MAX; i++) {
        uint64_t t = lat_stamp(&a->sc.msgs[i].body);

        if (t >= r->lat.t.t0 && t <= now) {
            bench_hist_add(&r->lat.e2e, now - t);
            r->lat.received++;
        } else {
            r->lat.foreign++;                   /* left over from an earlier phase or run */
        }
    }
    if (a->verify)
        verify_messages(r, w, a);
    if (k == 1 && a->sc.msgs[0].handle.p != NULL) {
        bench_buf_reset(&w->req);
        bench_buf_adds(&w->req, "{\"QueueUrl\":\"");
        bench_buf_add(&w->req, r->url_json.p, r->url_json.len);
        bench_buf_adds(&w->req, "\",\"ReceiptHandle\":\"");
        bench_buf_add(&w->req, a->sc.msgs[0].handle.p, a->sc.msgs[0].handle.len);
        bench_buf_adds(&w->req, "\"}");
        w->n = 1;
    } else {
        w->n = build_delete_batch(r, w);
    }
    answer_done(a);
    if (w->n == 0)
        lat_poll(w);
    else if (w->n == 1 && k == 1)
        post(w, "DeleteMessage", on_lat_deleted, r->o->request_timeout);
    else
        post(w, "DeleteMessageBatch", on_lat_deleted, r->o->request_timeout);
}

static void
lat_poll(worker_t *w)
{
    run_t *r = w->r;

    r->lat.t.t_last = bench_now_ns();
    if (r->stopping || r->aborted ||
        (r->lat.send_done && r->lat.sender->done &&
         (r->lat.received + r->lat.foreign >= r->lat.sent || w->empties >= LAT_EMPTY_STOP))) {
        worker_finish(w);
        return;
    }
    bench_buf_reset(&w->req);
    bench_buf_add(&w->req, r->poll_body.p, r->poll_body.len);
    post(w, "ReceiveMessage", on_lat_polled, r->o->request_timeout + LAT_WAIT_S);
}

static void
start_lat_worker(worker_t *w)
{
    if (w == w->r->lat.sender)
        lat_send(w);
    else
        lat_poll(w);
}

/* ---- Set-up: queue URL, create, purge ---- */

typedef struct sync_call {
    run_t *r;
    int status;
    json_t *json;
    bool done;
} sync_call_t;

static void
on_sync(bench_conn_t *c, int status, const char *body, size_t len, void *arg)
{
    sync_call_t *sc = arg;

    (void)c;
    sc->status = status;
    sc->json = status > 0 ? json_loadb(body, len, 0, NULL) : NULL;
    sc->done = true;
    event_base_loopbreak(sc->r->base);
}

/* Runs one request to completion on a fresh connection. Returns the HTTP status or
 * a negative SL_E*; *out gets the parsed answer (caller decrefs) or NULL. */
static int
call_sync(run_t *r, const char *op, const char *body, json_t **out, char *errstr, size_t errlen)
{
    sync_call_t sc = { r, 0, NULL, false };
    bench_conn_t c;
    int rc;

    *out = NULL;
    bench_conn_init(&c, r->base, &r->ep, on_sync, &sc);
    rc = bench_conn_post(&c, op, body, strlen(body), r->o->request_timeout);
    if (rc == SL_OK) {
        while (!sc.done && !r->aborted)
            event_base_dispatch(r->base);
        rc = sc.done ? sc.status : SL_ETIMEDOUT;
    }
    snprintf(errstr, errlen, "%s", c.errstr);
    bench_conn_deinit(&c);
    *out = sc.json;
    return rc;
}

static void
set_queue_url(run_t *r, const char *url)
{
    bench_free(r->queue_url);
    r->queue_url = bench_strdup(url);
    bench_buf_reset(&r->url_json);
    bench_buf_add_json_escaped(&r->url_json, url, strlen(url));
}

/* Finds (or with --create makes and purges) the queue. Returns SL_OK or an error
 * after printing why. */
static int
setup_queue(run_t *r)
{
    const bench_opts_t *o = r->o;
    bench_buf_t body = { 0 };
    char errstr[128], url[1024];
    json_t *j = NULL;
    int status, rc = SL_OK;
    const char *u;

    bench_buf_adds(&body, "{\"QueueName\":\"");
    bench_buf_add_json_escaped(&body, o->queue, strlen(o->queue));
    bench_buf_adds(&body, "\"}");

    status = call_sync(r, "GetQueueUrl", body.p, &j, errstr, sizeof(errstr));
    if (status < 0) {
        fprintf(stderr, "sluice-bench: cannot reach %s: %s\n", o->endpoint,
                status == SL_ETIMEDOUT && r->aborted ? "timed out" : errstr);
        rc = SL_EBACKEND;
        goto out;
    }
    if (status == 200) {
        u = json_string_value(json_object_get(j, "QueueUrl"));
        if (u == NULL) {
            /* the ceiling server answers {}: build the URL the broker would */
            snprintf(url, sizeof(url), "%s/000000000000/%s", r->ep.base_url, o->queue);
            u = url;
        }
        set_queue_url(r, u);
        if (o->create) {
            json_t *pj = NULL;

            bench_buf_reset(&body);
            bench_buf_adds(&body, "{\"QueueUrl\":\"");
            bench_buf_add(&body, r->url_json.p, r->url_json.len);
            bench_buf_adds(&body, "\"}");
            status = call_sync(r, "PurgeQueue", body.p, &pj, errstr, sizeof(errstr));
            if (status != 200)
                fprintf(stderr, "sluice-bench: warning: PurgeQueue %s answered %d; "
                        "left-over messages may skew phase 2\n", o->queue, status);
            json_decref(pj);
        }
        goto out;
    }
    if (!o->create) {
        fprintf(stderr, "sluice-bench: GetQueueUrl %s answered HTTP %d (use --create)\n",
                o->queue, status);
        rc = SL_ENOTFOUND;
        goto out;
    }
    json_decref(j);
    status = call_sync(r, "CreateQueue", body.p, &j, errstr, sizeof(errstr));
    u = status == 200 ? json_string_value(json_object_get(j, "QueueUrl")) : NULL;
    if (u == NULL) {
        fprintf(stderr, "sluice-bench: CreateQueue %s answered %d%s\n", o->queue, status,
                status == 200 ? " without a QueueUrl" : "");
        rc = SL_EPROTO;
        goto out;
    }
    set_queue_url(r, u);
out:
    json_decref(j);
    bench_buf_deinit(&body);
    return rc;
}

/* ---- Reporting ---- */

static double
rate(uint64_t n, double secs)
{
    return secs > 0 ? (double)n / secs : 0.0;
}

static double
round_to(double v, double unit)
{
    return round(v / unit) * unit;
}

static double
ms(uint64_t ns)
{
    return round_to((double)ns / 1e6, 0.001);
}

static json_t *
hist_json(const bench_hist_t *h)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:I}",
                     "p50", ms(bench_hist_quantile(h, 0.50)),
                     "p90", ms(bench_hist_quantile(h, 0.90)),
                     "p99", ms(bench_hist_quantile(h, 0.99)),
                     "max", ms(h->max_ns),
                     "mean", h->n ? ms((uint64_t)(h->sum_ns / (double)h->n)) : 0.0,
                     "count", (json_int_t)h->n);
}

static double
cpu_pct(const timing_t *t)
{
    double wall = timing_secs(t);

    return wall > 0 ? round_to(100.0 * t->cpu / wall, 0.1) : 0.0;
}

static void
report_json(const run_t *r)
{
    const bench_opts_t *o = r->o;
    json_t *root = json_object(), *errs;

    json_object_set_new(root, "endpoint", json_string(o->endpoint));
    json_object_set_new(root, "queue", json_string(o->queue));
    json_object_set_new(root, "size", json_integer(o->size));
    json_object_set_new(root, "batch", json_integer(o->batch));
    json_object_set_new(root, "connections", json_integer(o->connections));
    json_object_set_new(root, "receivers", json_integer(o->receivers));
    json_object_set_new(root, "together", json_boolean(o->together));
    if (r->send.ran) {
        double s = timing_secs(&r->send.t);

        json_object_set_new(root, "send", json_pack(
            "{s:I, s:I, s:f, s:f, s:f, s:f, s:o}",
            "messages", (json_int_t)r->send.sent,
            "requests", (json_int_t)r->send.requests,
            "seconds", round_to(s, 0.0001),
            "msg_per_s", round_to(rate(r->send.sent, s), 0.1),
            "req_per_s", round_to(rate(r->send.requests, s), 0.1),
            "client_cpu_pct", cpu_pct(&r->send.t),
            "latency_ms", hist_json(&r->send.lat)));
    } else {
        json_object_set_new(root, "send", json_null());
    }
    if (r->recv.ran) {
        double s = timing_secs(&r->recv.t);

        json_object_set_new(root, "receive", json_pack(
            "{s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:o, s:o}",
            "received", (json_int_t)r->recv.received,
            "deleted", (json_int_t)r->recv.deleted,
            "receive_requests", (json_int_t)r->recv.rreq,
            "delete_requests", (json_int_t)r->recv.dreq,
            "empty_receives", (json_int_t)r->recv.empty,
            "seconds", round_to(s, 0.0001),
            "msg_per_s", round_to(rate(r->recv.deleted, s), 0.1),
            "received_per_s", round_to(rate(r->recv.received, s), 0.1),
            "client_cpu_pct", cpu_pct(&r->recv.t),
            "receive_latency_ms", hist_json(&r->recv.rlat),
            "delete_latency_ms", hist_json(&r->recv.dlat)));
    } else {
        json_object_set_new(root, "receive", json_null());
    }
    if (r->lat.ran) {
        json_object_set_new(root, "latency", json_pack(
            "{s:f, s:I, s:I, s:I, s:I, s:f, s:o, s:o}",
            "rate", o->latency_rate,
            "sent", (json_int_t)r->lat.sent,
            "received", (json_int_t)r->lat.received,
            "deleted", (json_int_t)r->lat.deleted,
            "foreign", (json_int_t)r->lat.foreign,
            "seconds", round_to((double)(r->lat.send_end - r->lat.t.t0) / 1e9, 0.0001),
            "e2e_ms", hist_json(&r->lat.e2e),
            "send_ms", hist_json(&r->lat.slat)));
    } else {
        json_object_set_new(root, "latency", json_null());
    }
    errs = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
                     "total", (json_int_t)errors_total(&r->err),
                     "http", (json_int_t)r->err.http,
                     "transport", (json_int_t)r->err.transport,
                     "json", (json_int_t)r->err.json,
                     "failed_entries", (json_int_t)r->err.failed,
                     "wrong", (json_int_t)r->err.wrong);
    json_object_set_new(root, "errors", errs);
    json_object_set_new(root, "verified", json_integer((json_int_t)r->verified));
    json_object_set_new(root, "aborted", json_boolean(r->aborted));
    json_object_set_new(root, "abort_reason",
                        r->aborted ? json_string(r->abort_reason) : json_null());
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
    fputc('\n', stdout);
    json_decref(root);
}

static void
row(const char *name, uint64_t msgs, double secs, double msg_rate, uint64_t reqs,
    const bench_hist_t *h, double cpu)
{
    char m[24] = "", s[24] = "", mr[24] = "", rr[24] = "", c[16] = "";

    if (msgs != UINT64_MAX)
        snprintf(m, sizeof(m), "%llu", (unsigned long long)msgs);
    if (secs >= 0)
        snprintf(s, sizeof(s), "%.3f", secs);
    if (msg_rate >= 0)
        snprintf(mr, sizeof(mr), "%.0f", msg_rate);
    if (reqs != UINT64_MAX && secs > 0)
        snprintf(rr, sizeof(rr), "%.0f", rate(reqs, secs));
    if (cpu >= 0)
        snprintf(c, sizeof(c), "%.0f", cpu);
    printf("%-24s %9s %8s %10s %9s", name, m, s, mr, rr);
    if (h != NULL && h->n > 0)
        printf(" %8.3f %8.3f %8.3f %8.3f", ms(bench_hist_quantile(h, 0.5)),
               ms(bench_hist_quantile(h, 0.9)), ms(bench_hist_quantile(h, 0.99)),
               ms(h->max_ns));
    else
        printf(" %8s %8s %8s %8s", "", "", "", "");
    printf(" %5s\n", c);
}

static void
report_text(const run_t *r)
{
    const bench_opts_t *o = r->o;

    printf("sluice-bench run: %s queue %s, %d-byte bodies, batch %d, %d send + %d receive "
           "connections\n\n", o->endpoint, o->queue, o->size, o->batch, o->connections,
           o->receivers);
    printf("%-24s %9s %8s %10s %9s %8s %8s %8s %8s %5s\n", "phase", "messages", "seconds",
           "msg/s", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "cpu%");
    if (r->send.ran) {
        double s = timing_secs(&r->send.t);

        row("send (SendMessageBatch)", r->send.sent, s, rate(r->send.sent, s),
            r->send.requests, &r->send.lat, cpu_pct(&r->send.t));
    }
    if (r->recv.ran) {
        double s = timing_secs(&r->recv.t);

        row("receive + delete", r->recv.deleted, s, rate(r->recv.deleted, s), UINT64_MAX,
            NULL, cpu_pct(&r->recv.t));
        row("  ReceiveMessage", r->recv.received, s, rate(r->recv.received, s),
            r->recv.rreq, &r->recv.rlat, -1);
        row("  DeleteMessageBatch", r->recv.deleted, s, -1, r->recv.dreq, &r->recv.dlat, -1);
    }
    if (r->lat.ran) {
        double s = (double)(r->lat.send_end - r->lat.t.t0) / 1e9;
        char name[40];

        snprintf(name, sizeof(name), "latency @%.0f msg/s", o->latency_rate);
        row(name, r->lat.sent, s, rate(r->lat.sent, s), UINT64_MAX, NULL, -1);
        row("  end to end", r->lat.received, -1, -1, UINT64_MAX, &r->lat.e2e, -1);
        row("  SendMessage", r->lat.requests, -1, -1, UINT64_MAX, &r->lat.slat, -1);
        if (r->lat.foreign)
            printf("  (%llu messages without a bench timestamp were received and deleted)\n",
                   (unsigned long long)r->lat.foreign);
    }
    printf("\nverified %llu responses (MD5s recomputed)%s\n", (unsigned long long)r->verified,
           o->verify_every ? "" : "; verification off");
    printf("errors: %llu (http %llu, transport %llu, json %llu, failed entries %llu, "
           "wrong answers %llu)\n", (unsigned long long)errors_total(&r->err),
           (unsigned long long)r->err.http, (unsigned long long)r->err.transport,
           (unsigned long long)r->err.json, (unsigned long long)r->err.failed,
           (unsigned long long)r->err.wrong);
    if (r->aborted)
        printf("aborted: %s\n", r->abort_reason);
}

/* ---- Driver ---- */

void
bench_opts_defaults(bench_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->endpoint = "http://127.0.0.1:9324";
    o->queue = "sluice-bench";
    o->connections = 4;
    o->receivers = 4;
    o->batch = 10;
    o->size = 256;
    o->messages = 200000;
    o->verify_every = 16;
    o->max_errors = 1000;
    o->timeout = 600;
    o->request_timeout = 30;
    o->send_phase = true;
    o->receive_phase = true;
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_abort(arg, "global --timeout reached");
}

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    run_abort(arg, fd == SIGINT ? "interrupted" : "terminated");
}

static void
run_workers(run_t *r, int n, void (*start)(worker_t *w), double duration)
{
    worker_t *ws = bench_calloc((size_t)n, sizeof(*ws));
    int i;

    for (i = 0; i < n; i++)
        worker_init(&ws[i], r);
    phase_run(r, ws, n, start, duration);
    for (i = 0; i < n; i++)
        worker_deinit(&ws[i]);
    bench_free(ws);
}

static void
start_together(worker_t *w)
{
    if (w->sender)
        send_next(w);
    else
        recv_next(w);
}

/* --together: senders and receivers on one loop from one start; receivers stop
 * once they have received every message sent (when sending ended short, after
 * empty answers once the senders are done). */
static void
run_together(run_t *r)
{
    const bench_opts_t *o = r->o;
    int n = o->connections + o->receivers, i;
    worker_t *ws = bench_calloc((size_t)n, sizeof(*ws));

    for (i = 0; i < n; i++) {
        worker_init(&ws[i], r);
        ws[i].sender = i < o->connections;
    }
    r->send.ran = r->recv.ran = true;
    r->senders = o->connections;
    r->target = o->messages ? o->messages : UINT64_MAX;
    timing_start(&r->send.t);
    r->recv.t = r->send.t;
    phase_run(r, ws, n, start_together, o->duration);
    timing_stop(&r->send.t);
    timing_stop(&r->recv.t);
    for (i = 0; i < n; i++)
        worker_deinit(&ws[i]);
    bench_free(ws);
}

static void
build_receive_bodies(run_t *r)
{
    const bench_opts_t *o = r->o;

    bench_buf_adds(&r->recv_body, "{\"QueueUrl\":\"");
    bench_buf_add(&r->recv_body, r->url_json.p, r->url_json.len);
    bench_buf_printf(&r->recv_body, "\",\"MaxNumberOfMessages\":%d,\"WaitTimeSeconds\":%d,"
                     "\"VisibilityTimeout\":60}", o->batch, o->together ? LAT_WAIT_S : 0);
    bench_buf_adds(&r->poll_body, "{\"QueueUrl\":\"");
    bench_buf_add(&r->poll_body, r->url_json.p, r->url_json.len);
    bench_buf_printf(&r->poll_body, "\",\"MaxNumberOfMessages\":%d,\"WaitTimeSeconds\":%d,"
                     "\"VisibilityTimeout\":60}", o->batch, LAT_WAIT_S);
}

static void
phase_latency(run_t *r)
{
    const bench_opts_t *o = r->o;
    double d = lat_duration(o), tick_s = 1.0 / o->latency_rate;
    struct timeval end_tv, tick_tv;
    worker_t *ws = bench_calloc(2, sizeof(*ws));

    if (tick_s < 0.0001)
        tick_s = 0.0001;                        /* one in flight anyway: catch up on answers */
    tick_tv.tv_sec = (time_t)tick_s;
    tick_tv.tv_usec = (suseconds_t)((tick_s - (double)tick_tv.tv_sec) * 1e6);
    end_tv.tv_sec = (time_t)d;
    end_tv.tv_usec = (suseconds_t)((d - (double)end_tv.tv_sec) * 1e6);

    worker_init(&ws[0], r);
    worker_init(&ws[1], r);
    r->lat.ran = true;
    r->lat.sender = &ws[0];
    r->lat.send_done = false;
    r->lat.tick = event_new(r->base, -1, EV_PERSIST, on_lat_tick, r);
    r->lat.end = evtimer_new(r->base, on_lat_end, r);
    timing_start(&r->lat.t);
    event_add(r->lat.tick, &tick_tv);
    evtimer_add(r->lat.end, &end_tv);
    phase_run(r, ws, 2, start_lat_worker, 0);
    if (!r->lat.send_done)
        r->lat.send_end = bench_now_ns();
    timing_stop(&r->lat.t);
    event_free(r->lat.tick);
    event_free(r->lat.end);
    r->lat.tick = r->lat.end = NULL;
    worker_deinit(&ws[0]);
    worker_deinit(&ws[1]);
    bench_free(ws);
}

int
bench_run(const bench_opts_t *o)
{
    run_t *r = bench_calloc(1, sizeof(*r));
    struct event_config *cfg;
    struct timeval tv;
    char err[256];
    int ret = 2;

    r->o = o;
    bench_hist_init(&r->send.lat);
    bench_hist_init(&r->recv.rlat);
    bench_hist_init(&r->recv.dlat);
    bench_hist_init(&r->lat.e2e);
    bench_hist_init(&r->lat.slat);
    if (bench_endpoint_parse(o->endpoint, &r->ep, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluice-bench: %s\n", err);
        goto out_free;
    }
    signal(SIGPIPE, SIG_IGN);
    cfg = event_config_new();
    /* one thread; precise timers so phase 3 paces at sub-millisecond steps */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_PRECISE_TIMER);
    r->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (r->base == NULL) {
        fprintf(stderr, "sluice-bench: cannot create an event base\n");
        goto out_free;
    }
    tv.tv_sec = (time_t)o->timeout;
    tv.tv_usec = (suseconds_t)((o->timeout - (double)tv.tv_sec) * 1e6);
    r->timeout_ev = evtimer_new(r->base, on_timeout, r);
    evtimer_add(r->timeout_ev, &tv);
    r->sigint_ev = evsignal_new(r->base, SIGINT, on_signal, r);
    r->sigterm_ev = evsignal_new(r->base, SIGTERM, on_signal, r);
    evsignal_add(r->sigint_ev, NULL);
    evsignal_add(r->sigterm_ev, NULL);

    if (setup_queue(r) < 0)
        goto out_events;
    build_receive_bodies(r);

    if (o->together && !r->aborted) {
        run_together(r);
    } else if (o->send_phase && !r->aborted) {
        r->send.ran = true;
        timing_start(&r->send.t);
        run_workers(r, o->connections, send_next, o->duration);
        timing_stop(&r->send.t);
    }
    if (o->receive_phase && !o->together && !r->aborted) {
        r->recv.ran = true;
        if (o->send_phase)
            r->target = r->send.sent;
        else
            r->target = o->messages ? o->messages : UINT64_MAX;
        timing_start(&r->recv.t);
        run_workers(r, o->receivers, recv_next, o->duration);
        timing_stop(&r->recv.t);
    }
    if (o->latency_rate > 0 && !r->aborted)
        phase_latency(r);

    if (o->json)
        report_json(r);
    else
        report_text(r);
    fflush(stdout);
    ret = errors_total(&r->err) > 0 || r->aborted ? 1 : 0;
out_events:
    event_free(r->sigint_ev);
    event_free(r->sigterm_ev);
    event_free(r->timeout_ev);
    event_base_free(r->base);
out_free:
    bench_free(r->queue_url);
    bench_buf_deinit(&r->url_json);
    bench_buf_deinit(&r->recv_body);
    bench_buf_deinit(&r->poll_body);
    bench_buf_deinit(&r->scratch);
    bench_free(r);
    return ret;
}
