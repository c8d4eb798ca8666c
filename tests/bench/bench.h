/* bench.h - the private interface between the parts of sluice-bench.
 * sluice-bench is a separate program from sluiced. Its load generator keeps its own
 * small allocator wrappers and clock (the client must not share the broker's code
 * paths); it links sluice_core only for what it measures or exports from the broker
 * (rscripts.c) and still speaks sluice's error codes (sluice/error.h). Modules:
 * util.c (clock, memory, MD5, JSON text), hist.c (latency histogram), scan.c (fast
 * reading of SQS answers, checked against jansson by `sluice-bench selftest`),
 * http_client.c (a minimal keep-alive HTTP/1.1 client on bufferevents), run.c (the
 * load phases), ceiling.c (the evhttp reference server), rscripts.c (the redis
 * store's scripts), filter.c (the filter matcher's speed), publish.c (topic fanout:
 * publish -> N queues), main.c (command line). Guarded by SLUICE_BENCH_H. */
#ifndef SLUICE_BENCH_H
#define SLUICE_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include <event2/event.h>

#include "sluice/error.h"

/* ---- util.c ---- */

/* Abort with the size on failure, so callers do not check. */
void *bench_malloc(size_t n);
void *bench_calloc(size_t count, size_t n);
void *bench_realloc(void *p, size_t n);
char *bench_strdup(const char *s);
void bench_free(void *p);                       /* NULL is a no-op */

uint64_t bench_now_ns(void);                    /* CLOCK_MONOTONIC */

/* Lower-case hex MD5 of data into out (33 bytes with the NUL). */
void bench_md5_hex(const void *data, size_t len, char out[33]);

/* Growable byte buffer for request bodies; reused between requests. */
typedef struct bench_buf {
    char *p;
    size_t len;
    size_t cap;
} bench_buf_t;

void bench_buf_reset(bench_buf_t *b);
void bench_buf_add(bench_buf_t *b, const void *data, size_t len);
/* Grows b by len bytes and returns where they start, for the caller to fill. */
char *bench_buf_extend(bench_buf_t *b, size_t len);
void bench_buf_adds(bench_buf_t *b, const char *s);
void bench_buf_printf(bench_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as JSON string contents (no quotes), escaping '"', '\\' and controls. */
void bench_buf_add_json_escaped(bench_buf_t *b, const char *s, size_t len);
void bench_buf_deinit(bench_buf_t *b);

/* Fills dst with len printable ASCII characters that need no JSON escaping:
 * "<tag>-<seq>-" (cut short when len is small), then a fixed pseudo-random filler
 * that starts at an offset chosen by seq, so bodies differ yet cost one memcpy. */
void bench_body_fill(char *dst, size_t len, const char *tag, uint64_t seq);

/* Where the broker is: "http://host:port" resolved once, before any loop runs. */
typedef struct bench_endpoint {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char hostport[300];                         /* for the Host header: "host:port" */
    char base_url[320];                         /* "http://host:port" without a slash */
} bench_endpoint_t;

/* Parses and resolves url (blocking getaddrinfo, at start-up only).
 * Returns SL_OK, or SL_EINVAL with a reason in err. */
int bench_endpoint_parse(const char *url, bench_endpoint_t *ep, char *err, size_t errlen);

/* Parses "host:port" (port may be 0) into host (NUL-terminated) and port.
 * Returns SL_OK or SL_EINVAL. */
int bench_hostport_split(const char *s, char *host, size_t hostlen, int *port);

/* ---- hist.c ---- */

/* Log-linear latency histogram in nanoseconds: 64 sub-buckets per power of two,
 * so any reported percentile is within 1.6% of a recorded value. Fixed size,
 * no allocation after init. */
#define BENCH_HIST_SUB 64
#define BENCH_HIST_BUCKETS (2 * BENCH_HIST_SUB + 44 * BENCH_HIST_SUB)

typedef struct bench_hist {
    uint64_t counts[BENCH_HIST_BUCKETS];
    uint64_t n;
    uint64_t min_ns;
    uint64_t max_ns;
    double sum_ns;
} bench_hist_t;

void bench_hist_init(bench_hist_t *h);
void bench_hist_add(bench_hist_t *h, uint64_t ns);
/* Value at quantile q (0..1) in ns, the middle of its bucket clamped to
 * [min, max]; 0 when empty. */
uint64_t bench_hist_quantile(const bench_hist_t *h, double q);

/* ---- scan.c ---- */

#define BENCH_SCAN_MAX 16       /* messages one answer may hold for the scanner */

/* Raw text of a JSON string value, still escaped; p == NULL when absent. Borrowed
 * from the scanned text. */
typedef struct bench_span {
    const char *p;
    size_t len;
} bench_span_t;

typedef struct bench_scan_msg {
    bench_span_t handle;        /* ReceiptHandle */
    bench_span_t body;          /* Body */
} bench_scan_msg_t;

typedef struct bench_scan {
    size_t successful;          /* entries of a "Successful" array; 0 if absent */
    size_t failed;              /* entries of a "Failed" array; 0 if absent */
    bool has_messages;          /* a "Messages" member was present */
    size_t messages;            /* entries of the "Messages" array */
    bench_scan_msg_t msgs[BENCH_SCAN_MAX];
    bench_span_t message_id;    /* top-level "MessageId" (SendMessage) */
} bench_scan_t;

/* Checks that text is one well-formed JSON object and reads the members above from
 * it, building nothing. Returns SL_OK, or SL_EPROTO for malformed text, nesting past
 * 32 levels, a "Messages" that is not an array of at most BENCH_SCAN_MAX objects;
 * the caller then parses with jansson. Does not validate UTF-8. */
int bench_scan_answer(const char *text, size_t len, bench_scan_t *out);

/* Compares bench_scan_answer with jansson on many inputs; prints "N passed, M failed".
 * Returns the exit status. */
int bench_selftest(void);

/* ---- http_client.c ---- */

typedef struct bench_conn bench_conn_t;

/* A request finished. status is the HTTP status (> 0), or a negative SL_E* for a
 * transport failure: SL_ETIMEDOUT, SL_EPROTO (unparsable answer) or SL_EBACKEND
 * (refused, reset, closed). body is borrowed: valid until the callback returns.
 * The callback may post the next request on c; it must not deinit c. */
typedef void (*bench_conn_cb)(bench_conn_t *c, int status, const char *body, size_t len,
                              void *arg);

typedef enum bench_conn_state {
    BENCH_CONN_CLOSED = 0,      /* no socket; the next post connects */
    BENCH_CONN_CONNECTING,      /* connect in flight, request queued behind it */
    BENCH_CONN_IDLE,            /* connected, nothing pending */
    BENCH_CONN_HEAD,            /* request sent, reading status line and headers */
    BENCH_CONN_BODY,            /* reading a Content-Length body */
    BENCH_CONN_BODY_EOF,        /* reading a body delimited by the server's close */
    BENCH_CONN_CHUNK_SIZE,      /* chunked: reading a chunk-size line */
    BENCH_CONN_CHUNK_DATA,      /* chunked: reading chunk data and its CRLF */
    BENCH_CONN_CHUNK_TRAILER,   /* chunked: reading trailer lines up to the empty one */
} bench_conn_state_t;

struct bench_conn {
    struct event_base *base;
    const bench_endpoint_t *ep;
    struct bufferevent *bev;
    bench_conn_state_t state;
    bench_conn_cb cb;
    void *arg;
    int status;                 /* of the response being read */
    uint64_t clen;              /* Content-Length, or the current chunk's size */
    bool close_after;           /* the server said Connection: close */
    struct evbuffer *body;      /* chunked or close-delimited bodies are gathered here */
    uint64_t posted_ns;         /* when the pending request was written */
    int timeout_s;              /* read timeout of the pending request */
    uint64_t connects;          /* connections opened, for reporting reconnects */
    char errstr[128];           /* sticky description of the last transport error */
};

void bench_conn_init(bench_conn_t *c, struct event_base *base, const bench_endpoint_t *ep,
                     bench_conn_cb cb, void *arg);
/* Closes the socket; no callback runs. NULL-safe on an unused conn. */
void bench_conn_deinit(bench_conn_t *c);

/* Sends POST / with X-Amz-Target: AmazonSQS.<op> and the JSON body (copied),
 * connecting first if needed. Returns SL_OK, after which the callback runs exactly
 * once, or SL_ESTATE (a request is already pending) / SL_EBACKEND (no socket),
 * after which it never runs. */
int bench_conn_post(bench_conn_t *c, const char *op, const char *body, size_t len,
                    int timeout_s);

/* The same for a query-protocol request (SNS, SQS query): POST / with a
 * form-encoded body (copied), as the aws CLI sends it. */
int bench_conn_post_form(bench_conn_t *c, const char *body, size_t len, int timeout_s);
/* GET path (at most 512 bytes; else SL_EINVAL), e.g. "/metrics"; same contract. */
int bench_conn_get(bench_conn_t *c, const char *path, int timeout_s);

bool bench_conn_is_busy(const bench_conn_t *c);

/* ---- run.c, ceiling.c ---- */

typedef struct bench_opts {
    const char *endpoint;       /* "http://127.0.0.1:9324" */
    const char *queue;          /* queue name */
    int connections;            /* phase 1 connections */
    int receivers;              /* phase 2 connections */
    int batch;                  /* entries per batch request, 1..10 */
    int size;                   /* message body bytes */
    uint64_t messages;          /* phase 1 target; 0 = until --duration */
    double duration;            /* s; 0 = no limit; caps phases 1-2, length of 3 */
    uint64_t requests;          /* phase 2: fixed ReceiveMessage count; 0 = drain */
    double latency_rate;        /* phase 3 msg/s; 0 = skip phase 3 */
    double latency_duration;    /* s; 0 = --duration, or 5 */
    int verify_every;           /* check MD5s of 1 response in N; 0 = never */
    uint64_t max_errors;        /* abort past this many errors */
    double timeout;             /* s; whole run */
    int request_timeout;        /* s; one request */
    bool create;
    bool json;
    bool send_phase;            /* run phase 1 */
    bool receive_phase;         /* run phase 2 */
    bool together;              /* phases 1 and 2 at the same time (a steady pipeline) */
} bench_opts_t;

void bench_opts_defaults(bench_opts_t *o);

/* Runs the phases and prints the report. Returns the exit status: 0, 1 when
 * errors were counted or the run was aborted, 2 for a setup failure. */
int bench_run(const bench_opts_t *o);

typedef struct bench_ceiling_opts {
    const char *listen;         /* "127.0.0.1:9325"; port 0 picks one */
    int batch;                  /* entries in fake batch answers */
    int receive_messages;       /* messages in a fake ReceiveMessage answer; 0 = {} */
    int size;                   /* body bytes of those messages */
} bench_ceiling_opts_t;

/* Serves until SIGINT/SIGTERM. Returns the exit status. */
int bench_ceiling(const bench_ceiling_opts_t *o);

/* ---- rscripts.c ---- */

/* `sluice-bench redis-script ...` (argv[0] is "redis-script"); exit status. */
int bench_redis_script(int argc, char **argv);

/* ---- filter.c ---- */

/* `sluice-bench filter`: prints the figures (a table, or one JSON object); exit status. */
int bench_filter(int runs, int ms, bool json);

/* ---- publish.c ---- */

typedef struct bench_sns_opts {
    const char *endpoint;       /* "http://127.0.0.1:9324" */
    const char *prefix;         /* queue and topic names; NULL = "snsbench-<pid>-<time>" */
    int subs;                   /* N: queues subscribed (or sent to, with reference) */
    uint64_t messages;          /* M: publishes; 0 = deliveries / subs */
    uint64_t deliveries;        /* N x M wanted when messages is 0 */
    int connections;
    int batch;                  /* entries per PublishBatch / SendMessageBatch, 1..10 */
    int size;                   /* message body bytes */
    int settle_ms;              /* wait after the last delivery, then count again */
    double timeout;             /* s; the timed phase and the wait for deliveries */
    bool envelope;              /* SNS JSON envelope instead of RawMessageDelivery */
    bool reference;             /* SendMessageBatch the same N x M into N queues instead */
    bool verify;                /* receive everything and check each body arrived once */
    bool cleanup;               /* delete the topic and queues at the end */
    bool json;
} bench_sns_opts_t;

void bench_sns_opts_defaults(bench_sns_opts_t *o);
/* `sluice-bench sns`: prints the figures; exit status 0, 1 (errors, inexact
 * counts), 2 (setup failed). */
int bench_sns(const bench_sns_opts_t *o);

#endif
