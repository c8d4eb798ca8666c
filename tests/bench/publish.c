/* publish.c - `sluice-bench sns`: topic fanout speed, publish -> N queues.
 *
 * Sets up a topic and N standard queues subscribed to it (sqs protocol,
 * RawMessageDelivery unless --envelope), then publishes M messages with
 * PublishBatch over --connections kept-alive connections in the SNS query
 * protocol (form-encoded POST, Version=2010-03-31, as the aws CLI sends it), and
 * times until all N x M deliveries are in the queues. The queues are counted
 * through /metrics (one request answers every queue's visible, in-flight and
 * delayed counts), polled only once every publish is acknowledged so the polls
 * do not compete with the publishes; a count is exact or the run fails: every
 * queue must hold M, and still M after a settle time (late duplicates).
 *
 * --reference sends the same N x M messages into N fresh queues with SQS
 * SendMessageBatch instead (the broker's own enqueue path, without fanout), so
 * a run can state fanout as a ratio of it on the same machine at the same time.
 * --verify then receives every message of every queue and checks each queue got
 * each published sequence number exactly once (for tests; slow).
 *
 * Setup calls run one at a time through a blocking helper (sync_call) that
 * spins the loop until the answer; the timed phases are callback driven. */
#include "bench.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#define TAG "pubmsg"                    /* bodies start "pubmsg-<seq>-" */
#define REQ_TIMEOUT_S 60

typedef struct pconn pconn_t;

typedef struct psns {
    const bench_sns_opts_t *o;
    struct event_base *base;
    bench_endpoint_t ep;
    bench_conn_t ctl;                   /* setup, polls, verify */
    char topic_arn[512];
    char **urls;                        /* queue URLs, o->subs of them */
    char **names;
    char **arns;
    char prefix[96];
    uint64_t per_queue;                 /* deliveries each queue must get */
    /* the timed phase */
    pconn_t *conns;
    uint64_t next_seq;                  /* next message (publish) or request (reference) */
    uint64_t total;                     /* messages (publish) or requests (reference) */
    uint64_t acked;                     /* messages acknowledged */
    int busy;                           /* connections with a request out */
    uint64_t t0, t_acked, t_landed;     /* ns */
    uint64_t requests, errors, polls;
    char errstr[256];
    bool aborted;
    /* sync_call */
    bool sc_done;
    int sc_status;
    char *sc_body;
    size_t sc_len;
} psns_t;

struct pconn {
    psns_t *p;
    bench_conn_t c;
    bench_buf_t buf;
    uint64_t entries;                   /* in the request out */
};

/* ---- Small helpers ---- */

static void note_error(psns_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Counts an error; the first one's text is kept for the report. */
static void
note_error(psns_t *p, const char *fmt, ...)
{
    va_list ap;

    p->errors++;
    if (p->errstr[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(p->errstr, sizeof(p->errstr), fmt, ap);
    va_end(ap);
}

/* Form-encodes s (RFC 3986 unreserved characters pass) onto b. */
static void
add_form_escaped(bench_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            bench_buf_add(b, s, 1);
        } else {
            char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };

            bench_buf_add(b, e, 3);
        }
    }
}

/* The text between <tag> and </tag> in xml, into out; false when absent. */
static bool
xml_value(const char *xml, size_t len, const char *tag, char *out, size_t outlen)
{
    char open[64], close[64];
    const char *a, *z;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    if ((a = memmem(xml, len, open, strlen(open))) == NULL)
        return false;
    a += strlen(open);
    if ((z = memmem(a, len - (size_t)(a - xml), close, strlen(close))) == NULL ||
        (size_t)(z - a) >= outlen)
        return false;
    memcpy(out, a, (size_t)(z - a));
    out[z - a] = '\0';
    return true;
}

static size_t
count_of(const char *s, size_t len, const char *needle)
{
    size_t n = 0, nl = strlen(needle);
    const char *p = s, *end = s + len;

    while ((p = memmem(p, (size_t)(end - p), needle, nl)) != NULL) {
        n++;
        p += nl;
    }
    return n;
}

/* ---- Setup: one call at a time ---- */

static void
on_sync(bench_conn_t *c, int status, const char *body, size_t len, void *arg)
{
    psns_t *p = arg;

    (void)c;
    p->sc_done = true;
    p->sc_status = status;
    free(p->sc_body);
    p->sc_body = bench_malloc(len + 1);
    memcpy(p->sc_body, body ? body : "", len);
    p->sc_body[len] = '\0';
    p->sc_len = len;
}

/* kind: 'j' SQS JSON (op), 'f' query form, 'g' GET (body is the path).
 * Returns the HTTP status or a negative SL_E*; the answer is in p->sc_body. */
static int
sync_call(psns_t *p, char kind, const char *op, const char *body)
{
    int rc;

    p->sc_done = false;
    if (kind == 'j')
        rc = bench_conn_post(&p->ctl, op, body, strlen(body), REQ_TIMEOUT_S);
    else if (kind == 'f')
        rc = bench_conn_post_form(&p->ctl, body, strlen(body), REQ_TIMEOUT_S);
    else
        rc = bench_conn_get(&p->ctl, body, REQ_TIMEOUT_S);
    if (rc < 0)
        return rc;
    while (!p->sc_done)         /* ends: the request's read timeout bounds it */
        event_base_loop(p->base, EVLOOP_ONCE);
    return p->sc_status;
}

static int
sync_json(psns_t *p, const char *op, json_t *in, json_t **out)
{
    char *text = json_dumps(in, JSON_COMPACT);
    int st = sync_call(p, 'j', op, text);

    free(text);
    json_decref(in);
    if (st != 200) {
        fprintf(stderr, "sluice-bench sns: %s answered %d: %.300s\n", op, st,
                st > 0 ? p->sc_body : p->ctl.errstr);
        return SL_EBACKEND;
    }
    if (out && (*out = json_loads(p->sc_body, 0, NULL)) == NULL) {
        fprintf(stderr, "sluice-bench sns: %s answer is not JSON\n", op);
        return SL_EPROTO;
    }
    return SL_OK;
}

static int
sync_form(psns_t *p, const char *what, const bench_buf_t *b)
{
    char *text = bench_malloc(b->len + 1);
    int st;

    memcpy(text, b->p, b->len);
    text[b->len] = '\0';
    st = sync_call(p, 'f', NULL, text);
    bench_free(text);
    if (st != 200) {
        fprintf(stderr, "sluice-bench sns: %s answered %d: %.300s\n", what, st,
                st > 0 ? p->sc_body : p->ctl.errstr);
        return SL_EBACKEND;
    }
    return SL_OK;
}

static int
create_queue(psns_t *p, int i)
{
    json_t *out = NULL;
    char name[128];
    const char *v;
    int rc;

    snprintf(name, sizeof(name), "%s-q%d", p->prefix, i);
    p->names[i] = bench_strdup(name);
    if ((rc = sync_json(p, "CreateQueue", json_pack("{s:s}", "QueueName", name), &out)) < 0)
        return rc;
    v = json_string_value(json_object_get(out, "QueueUrl"));
    p->urls[i] = v ? bench_strdup(v) : NULL;
    json_decref(out);
    if (p->urls[i] == NULL)
        return SL_EPROTO;
    out = NULL;
    if ((rc = sync_json(p, "GetQueueAttributes", json_pack("{s:s, s:[s]}", "QueueUrl",
                                                           p->urls[i], "AttributeNames",
                                                           "QueueArn"), &out)) < 0)
        return rc;
    v = json_string_value(json_object_get(json_object_get(out, "Attributes"), "QueueArn"));
    if (v)
        p->arns[i] = bench_strdup(v);
    json_decref(out);
    return v ? SL_OK : SL_EPROTO;
}

static int
setup(psns_t *p)
{
    const bench_sns_opts_t *o = p->o;
    bench_buf_t b = { 0 };
    int rc = SL_OK;

    for (int i = 0; i < o->subs && rc == SL_OK; i++)
        rc = create_queue(p, i);
    if (rc < 0 || o->reference)
        return rc;
    bench_buf_printf(&b, "Action=CreateTopic&Version=2010-03-31&Name=%s-t", p->prefix);
    if ((rc = sync_form(p, "CreateTopic", &b)) < 0)
        goto out;
    if (!xml_value(p->sc_body, p->sc_len, "TopicArn", p->topic_arn, sizeof(p->topic_arn))) {
        fprintf(stderr, "sluice-bench sns: no TopicArn in %.300s\n", p->sc_body);
        rc = SL_EPROTO;
        goto out;
    }
    for (int i = 0; i < o->subs && rc == SL_OK; i++) {
        bench_buf_reset(&b);
        bench_buf_adds(&b, "Action=Subscribe&Version=2010-03-31&Protocol=sqs&TopicArn=");
        add_form_escaped(&b, p->topic_arn);
        bench_buf_adds(&b, "&Endpoint=");
        add_form_escaped(&b, p->arns[i]);
        bench_buf_adds(&b, "&ReturnSubscriptionArn=true");
        if (!o->envelope)
            bench_buf_adds(&b, "&Attributes.entry.1.key=RawMessageDelivery"
                               "&Attributes.entry.1.value=true");
        rc = sync_form(p, "Subscribe", &b);
    }
out:
    bench_buf_deinit(&b);
    return rc;
}

static void
teardown(psns_t *p)
{
    bench_buf_t b = { 0 };

    if (p->topic_arn[0]) {
        bench_buf_adds(&b, "Action=DeleteTopic&Version=2010-03-31&TopicArn=");
        add_form_escaped(&b, p->topic_arn);
        (void)sync_form(p, "DeleteTopic", &b);
    }
    for (int i = 0; i < p->o->subs; i++)
        if (p->urls[i])
            (void)sync_json(p, "DeleteQueue", json_pack("{s:s}", "QueueUrl", p->urls[i]), NULL);
    bench_buf_deinit(&b);
}

/* ---- Counting what landed (/metrics) ---- */

/* Reads every queue's counts of this run; sums visible into *visible and the
 * rest (in flight, delayed) into *other; *full: queues holding per_queue or more. */
static int
count_landed(psns_t *p, uint64_t *visible, uint64_t *other, int *full, uint64_t *over)
{
    static const char key[] = "sluice_queue_messages{queue=\"";
    uint64_t *vis = bench_calloc((size_t)p->o->subs, sizeof(*vis));
    const char *s, *end;
    size_t plen = strlen(p->prefix);
    int st;

    *visible = *other = *over = 0;
    *full = 0;
    p->polls++;
    if ((st = sync_call(p, 'g', NULL, "/metrics")) != 200) {
        bench_free(vis);
        return SL_EBACKEND;
    }
    s = p->sc_body;
    end = s + p->sc_len;
    while ((s = memmem(s, (size_t)(end - s), key, sizeof(key) - 1)) != NULL) {
        const char *name = s + sizeof(key) - 1, *q, *state;
        char *num_end;
        unsigned long long v;
        long i;

        s = name;
        if ((size_t)(end - name) < plen + 3 || memcmp(name, p->prefix, plen) != 0 ||
            memcmp(name + plen, "-q", 2) != 0)
            continue;
        i = strtol(name + plen + 2, (char **)&q, 10);
        if (*q != '"' || i < 0 || i >= p->o->subs)
            continue;
        if ((state = memmem(q, (size_t)(end - q), "state=\"", 7)) == NULL)
            break;
        state += 7;
        if ((q = memchr(state, '}', (size_t)(end - state))) == NULL)
            break;
        v = strtoull(q + 1, &num_end, 10);
        if (strncmp(state, "visible\"", 8) == 0)
            vis[i] += v;
        else
            *other += v;
    }
    for (int i = 0; i < p->o->subs; i++) {
        *visible += vis[i];
        if (vis[i] >= p->per_queue)
            (*full)++;
        if (vis[i] > p->per_queue)
            *over += vis[i] - p->per_queue;
    }
    bench_free(vis);
    return SL_OK;
}

/* ---- The timed phase ---- */

static void on_answer(bench_conn_t *c, int status, const char *body, size_t len, void *arg);

/* Posts the next request on pc, or leaves it idle when all are out. */
static void
next_request(psns_t *p, pconn_t *pc)
{
    const bench_sns_opts_t *o = p->o;
    bench_buf_t *b = &pc->buf;
    int rc;

    if (p->aborted || p->next_seq >= p->total)
        return;
    bench_buf_reset(b);
    if (!o->reference) {
        uint64_t n = p->total - p->next_seq < (uint64_t)o->batch ? p->total - p->next_seq
                                                                   : (uint64_t)o->batch;

        bench_buf_adds(b, "Action=PublishBatch&Version=2010-03-31&TopicArn=");
        add_form_escaped(b, p->topic_arn);
        for (uint64_t k = 0; k < n; k++) {
            char *body;

            bench_buf_printf(b, "&PublishBatchRequestEntries.member.%" PRIu64 ".Id=%" PRIu64
                             "&PublishBatchRequestEntries.member.%" PRIu64 ".Message=",
                             k + 1, k, k + 1);
            body = bench_buf_extend(b, (size_t)o->size);     /* unreserved: no escaping */
            bench_body_fill(body, (size_t)o->size, TAG, p->next_seq + k);
        }
        pc->entries = n;
        p->next_seq += n;
        rc = bench_conn_post_form(&pc->c, b->p, b->len, REQ_TIMEOUT_S);
    } else {
        /* request r: queue r % N, messages (r / N) * batch.. of that queue */
        uint64_t r = p->next_seq++, q = r % (uint64_t)o->subs, first = (r / o->subs) * o->batch;
        uint64_t n = p->per_queue - first < (uint64_t)o->batch ? p->per_queue - first
                                                                 : (uint64_t)o->batch;

        bench_buf_adds(b, "{\"QueueUrl\":\"");
        bench_buf_adds(b, p->urls[q]);
        bench_buf_adds(b, "\",\"Entries\":[");
        for (uint64_t k = 0; k < n; k++) {
            char *body;

            bench_buf_printf(b, "%s{\"Id\":\"%" PRIu64 "\",\"MessageBody\":\"", k ? "," : "", k);
            body = bench_buf_extend(b, (size_t)o->size);
            bench_body_fill(body, (size_t)o->size, TAG, first + k);
            bench_buf_adds(b, "\"}");
        }
        bench_buf_adds(b, "]}");
        pc->entries = n;
        rc = bench_conn_post(&pc->c, "SendMessageBatch", b->p, b->len, REQ_TIMEOUT_S);
    }
    if (rc < 0) {
        note_error(p, "post failed: %s (%d)", pc->c.errstr, rc);
        p->aborted = true;
        return;
    }
    p->busy++;
    p->requests++;
}

static void
on_answer(bench_conn_t *c, int status, const char *body, size_t len, void *arg)
{
    pconn_t *pc = arg;
    psns_t *p = pc->p;
    size_t ok;

    (void)c;
    p->busy--;
    if (status != 200) {
        note_error(p, "answer status %d: %.200s", status, status > 0 && body ? body : c->errstr);
        p->aborted = true;          /* counts could never be exact */
    } else {
        ok = p->o->reference ? count_of(body, len, "\"MD5OfMessageBody\"")
                             : count_of(body, len, "<MessageId>");
        if (ok != pc->entries || (p->o->reference ? count_of(body, len, "\"Code\"")
                                                  : count_of(body, len, "<Code>")) != 0) {
            note_error(p, "batch answer with %zu of %" PRIu64 " entries: %.200s", ok, pc->entries,
                       body);
            p->aborted = true;
        }
        p->acked += pc->entries;
    }
    next_request(p, pc);
    if (p->busy == 0) {
        p->t_acked = bench_now_ns();
        event_base_loopbreak(p->base);
    }
}

static void
sleep_ms(int ms)
{
    struct timespec ts = { 0, (long)ms * 1000000L };

    nanosleep(&ts, NULL);
}

/* Polls /metrics until every queue holds per_queue messages, or timeout. */
static int
wait_landed(psns_t *p, uint64_t deadline_ns)
{
    uint64_t vis, other, over;
    int full;

    for (;;) {
        if (count_landed(p, &vis, &other, &full, &over) < 0) {
            note_error(p, "GET /metrics failed");
            return SL_EBACKEND;
        }
        if (full == p->o->subs) {
            p->t_landed = bench_now_ns();
            return SL_OK;
        }
        if (bench_now_ns() > deadline_ns) {
            char why[160];

            snprintf(why, sizeof(why), "timed out with %" PRIu64 " of %" PRIu64
                     " delivered, %d of %d queues full", vis,
                     p->per_queue * (uint64_t)p->o->subs, full, p->o->subs);
            note_error(p, "%s", why);
            return SL_ETIMEDOUT;
        }
        sleep_ms(p->o->subs >= 50 ? 5 : 2);
    }
}

/* Receives every queue's messages and checks each sequence number arrived once. */
static int
verify_all(psns_t *p)
{
    uint8_t *seen = bench_calloc(p->per_queue ? p->per_queue : 1, 1);
    int bad = 0;

    for (int i = 0; i < p->o->subs && bad == 0; i++) {
        uint64_t got = 0;

        memset(seen, 0, p->per_queue);
        for (int tries = 0; got < p->per_queue && tries < 1000000; tries++) {
            json_t *out = NULL, *msgs, *m;
            size_t k;

            if (sync_json(p, "ReceiveMessage", json_pack("{s:s, s:i, s:i, s:i}", "QueueUrl",
                                                         p->urls[i], "MaxNumberOfMessages", 10,
                                                         "VisibilityTimeout", 600,
                                                         "WaitTimeSeconds", 0), &out) < 0) {
                bad++;
                break;
            }
            msgs = json_object_get(out, "Messages");
            if (json_array_size(msgs) == 0) {
                json_decref(out);
                break;
            }
            json_array_foreach(msgs, k, m) {
                const char *b = json_string_value(json_object_get(m, "Body"));
                const char *t = b ? strstr(b, TAG "-") : NULL;
                unsigned long long seq = t ? strtoull(t + sizeof(TAG), NULL, 10) : ~0ull;

                if (seq >= p->per_queue || seen[seq]) {
                    fprintf(stderr, "sluice-bench sns: queue %s: %s sequence %llu\n",
                            p->names[i], seq >= p->per_queue ? "unknown" : "duplicate", seq);
                    bad++;
                } else if (p->o->envelope && strstr(b, "\"Type\":\"Notification\"") == NULL) {
                    fprintf(stderr, "sluice-bench sns: queue %s: not an envelope\n", p->names[i]);
                    bad++;
                } else {
                    seen[seq] = 1;
                    got++;
                }
            }
            json_decref(out);
        }
        if (got != p->per_queue) {
            fprintf(stderr, "sluice-bench sns: queue %s: received %" PRIu64 " of %" PRIu64 "\n",
                    p->names[i], got, p->per_queue);
            bad++;
        }
    }
    bench_free(seen);
    return bad ? SL_EPROTO : SL_OK;
}

/* ---- Entry ---- */

void
bench_sns_opts_defaults(bench_sns_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->endpoint = "http://127.0.0.1:9324";
    o->subs = 10;
    o->deliveries = 200000;
    o->connections = 4;
    o->batch = 10;
    o->size = 256;
    o->timeout = 300;
    o->settle_ms = 300;
}

static double
secs(uint64_t a, uint64_t b)
{
    return b > a ? (double)(b - a) / 1e9 : 0.0;
}

int
bench_sns(const bench_sns_opts_t *o)
{
    psns_t p;
    char err[256];
    uint64_t vis = 0, other = 0, over = 0, deadline;
    int full = 0, rc, status = 0;
    double pub_s, land_s;

    memset(&p, 0, sizeof(p));
    p.o = o;
    if (bench_endpoint_parse(o->endpoint, &p.ep, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluice-bench sns: %s\n", err);
        return 2;
    }
    p.per_queue = o->messages ? o->messages
                              : (o->deliveries + (uint64_t)o->subs - 1) / (uint64_t)o->subs;
    if (o->prefix)
        snprintf(p.prefix, sizeof(p.prefix), "%s", o->prefix);
    else
        snprintf(p.prefix, sizeof(p.prefix), "snsbench-%d-%llx", (int)getpid(),
                 (unsigned long long)(bench_now_ns() / 1000));
    p.base = event_base_new();
    p.urls = bench_calloc((size_t)o->subs, sizeof(*p.urls));
    p.names = bench_calloc((size_t)o->subs, sizeof(*p.names));
    p.arns = bench_calloc((size_t)o->subs, sizeof(*p.arns));
    bench_conn_init(&p.ctl, p.base, &p.ep, on_sync, &p);
    if ((rc = setup(&p)) < 0) {
        fprintf(stderr, "sluice-bench sns: setup failed (%s)\n", sl_strerror(rc));
        status = 2;
        goto out;
    }

    /* the timed phase */
    p.total = o->reference ? (uint64_t)o->subs * ((p.per_queue + o->batch - 1) / o->batch)
                           : p.per_queue;
    p.conns = bench_calloc((size_t)o->connections, sizeof(*p.conns));
    deadline = bench_now_ns() + (uint64_t)(o->timeout * 1e9);
    p.t0 = bench_now_ns();
    for (int i = 0; i < o->connections; i++) {
        p.conns[i].p = &p;
        bench_conn_init(&p.conns[i].c, p.base, &p.ep, on_answer, &p.conns[i]);
        next_request(&p, &p.conns[i]);
    }
    if (p.busy > 0)
        event_base_dispatch(p.base);    /* ends at the last answer; timeouts bound it */
    if (p.t_acked == 0)
        p.t_acked = bench_now_ns();
    if (!p.aborted)
        (void)wait_landed(&p, deadline);
    if (p.t_landed == 0)
        p.t_landed = bench_now_ns();
    /* late arrivals would be duplicates */
    sleep_ms(o->settle_ms);
    if (count_landed(&p, &vis, &other, &full, &over) < 0)
        note_error(&p, "GET /metrics failed");
    if (vis != p.per_queue * (uint64_t)o->subs || other != 0 || over != 0)
        note_error(&p, "inexact count: %" PRIu64 " visible of %" PRIu64 ", %" PRIu64
                   " over, %" PRIu64 " in flight or delayed", vis,
                   p.per_queue * (uint64_t)o->subs, over, other);
    if (o->verify && p.errors == 0 && verify_all(&p) < 0)
        note_error(&p, "verify: bodies missing or duplicated");

    pub_s = secs(p.t0, p.t_acked);
    land_s = secs(p.t0, p.t_landed);
    if (o->json) {
        printf("{\"mode\":\"%s\",\"subs\":%d,\"raw\":%s,\"connections\":%d,\"batch\":%d,"
               "\"size\":%d,\"messages\":%" PRIu64 ",\"expected\":%" PRIu64 ","
               "\"delivered\":%" PRIu64 ",\"other\":%" PRIu64 ",\"over\":%" PRIu64 ","
               "\"exact\":%s,\"send\":{\"s\":%.6f,\"msg_per_s\":%.1f,\"requests\":%" PRIu64 "},"
               "\"deliver\":{\"s\":%.6f,\"per_s\":%.1f},\"polls\":%" PRIu64 ","
               "\"errors\":%" PRIu64 ",\"error\":\"",
               o->reference ? "reference" : "publish", o->subs, o->envelope ? "false" : "true",
               o->connections, o->batch, o->size, p.per_queue,
               p.per_queue * (uint64_t)o->subs, vis, other, over, p.errors ? "false" : "true",
               pub_s, pub_s > 0 ? (double)p.acked / pub_s : 0.0, p.requests, land_s,
               land_s > 0 ? (double)vis / land_s : 0.0, p.polls, p.errors);
        for (const char *c = p.errstr; *c; c++)
            if (*c != '"' && *c != '\\' && (unsigned char)*c >= 0x20)
                putchar(*c);
        printf("\"}\n");
    } else {
        printf("%s, N = %d %s, %" PRIu64 " messages of %d bytes, %d connections, batches of %d\n",
               o->reference ? "reference (SendMessageBatch)" : "publish (PublishBatch)", o->subs,
               o->reference ? "queues" : o->envelope ? "enveloped subscriptions"
                                                     : "raw subscriptions",
               p.per_queue, o->size, o->connections, o->batch);
        printf("  %s acknowledged  %10.0f msg/s  (%.3f s, %" PRIu64 " requests)\n",
               o->reference ? "sends    " : "publishes", pub_s > 0 ? p.acked / pub_s : 0.0,
               pub_s, p.requests);
        printf("  deliveries in queues   %10.0f /s     (%.3f s, %" PRIu64 " of %" PRIu64
               ", %" PRIu64 " polls)\n", land_s > 0 ? vis / land_s : 0.0, land_s, vis,
               p.per_queue * (uint64_t)o->subs, p.polls);
        printf("  %s\n", p.errors ? p.errstr : "exact: every queue holds every message once");
    }
    if (p.errors)
        status = 1;
out:
    if (o->cleanup)
        teardown(&p);
    for (int i = 0; p.conns && i < o->connections; i++) {
        bench_conn_deinit(&p.conns[i].c);
        bench_buf_deinit(&p.conns[i].buf);
    }
    bench_free(p.conns);
    bench_conn_deinit(&p.ctl);
    for (int i = 0; i < o->subs; i++) {
        bench_free(p.urls[i]);
        bench_free(p.names[i]);
        bench_free(p.arns[i]);
    }
    bench_free(p.urls);
    bench_free(p.names);
    bench_free(p.arns);
    free(p.sc_body);
    event_base_free(p.base);
    return status;
}
