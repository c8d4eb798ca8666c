/* ceiling.c - `sluice-bench ceiling`: the HTTP ceiling the broker is measured against.
 * sluiced serves the SQS JSON API through libevent's evhttp, and evhttp alone costs
 * a good part of the per-request budget (DESIGN.md §10). This server is evhttp with
 * no work behind it: every POST / gets a canned answer of the right shape for its
 * X-Amz-Target, built once at start-up, so `sluice-bench run` against it measures
 * what evhttp plus the load generator can do on the same machine in the same run.
 * The ratio sluiced / ceiling is then the share of the ceiling the broker keeps.
 * Answers do not depend on the request body (it is not even parsed): batch answers
 * always list --batch entries and send MD5s match nothing, so `run` needs
 * --no-verify here. A ReceiveMessage answer is {} by default, or --receive-messages
 * well-formed messages (with correct MD5s) so the receive phase moves as many bytes
 * as against a broker that has messages. GET /healthz answers 200 for scripts. */
#include "bench.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define REQUEST_ID "00000000-0000-4000-8000-000000000000"
#define MAX_BODY (16 * 1024 * 1024)

typedef struct ceiling {
    struct event_base *base;
    struct evhttp *http;
    struct evbuffer *reply;         /* reused: evhttp_send_reply moves its contents out */
    bench_buf_t send_batch;         /* SendMessageBatch answer */
    bench_buf_t send_one;           /* SendMessage answer */
    bench_buf_t receive;            /* ReceiveMessage answer */
    bench_buf_t delete_batch;       /* DeleteMessageBatch / ChangeMessageVisibilityBatch */
    bench_buf_t queue_url;          /* CreateQueue / GetQueueUrl answer */
    uint64_t requests;              /* answered */
} ceiling_t;

static void
fake_message_id(char out[37], unsigned i)
{
    snprintf(out, 37, "00000000-0000-4000-8000-%012u", i);
}

static void
build_answers(ceiling_t *cl, const bench_ceiling_opts_t *o, const char *url)
{
    bench_buf_t body = { 0 };
    char mid[37], md5[33];
    int i;

    bench_buf_adds(&cl->send_batch, "{\"Successful\":[");
    for (i = 0; i < o->batch; i++) {
        bench_buf_reset(&body);
        bench_body_fill(bench_buf_extend(&body, (size_t)o->size), (size_t)o->size, "m",
                        (uint64_t)i);
        bench_md5_hex(body.p, body.len, md5);
        fake_message_id(mid, (unsigned)i);
        bench_buf_printf(&cl->send_batch,
                         "%s{\"Id\":\"%d\",\"MessageId\":\"%s\",\"MD5OfMessageBody\":\"%s\"}",
                         i ? "," : "", i, mid, md5);
    }
    bench_buf_adds(&cl->send_batch, "],\"Failed\":[]}");

    fake_message_id(mid, 0);
    bench_buf_printf(&cl->send_one, "{\"MessageId\":\"%s\",\"MD5OfMessageBody\":\"%s\"}", mid,
                     md5);

    if (o->receive_messages > 0) {
        bench_buf_adds(&cl->receive, "{\"Messages\":[");
        for (i = 0; i < o->receive_messages; i++) {
            bench_buf_reset(&body);
            bench_body_fill(bench_buf_extend(&body, (size_t)o->size), (size_t)o->size, "c",
                            (uint64_t)i);
            bench_md5_hex(body.p, body.len, md5);
            fake_message_id(mid, (unsigned)i);
            /* receipt handles of a real broker run to ~100 characters */
            bench_buf_printf(&cl->receive,
                             "%s{\"MessageId\":\"%s\",\"ReceiptHandle\":\"ceiling-%s-"
                             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
                             "\"MD5OfBody\":\"%s\",\"Body\":\"",
                             i ? "," : "", mid, mid, md5);
            bench_buf_add(&cl->receive, body.p, body.len);
            bench_buf_adds(&cl->receive, "\"}");
        }
        bench_buf_adds(&cl->receive, "]}");
    } else {
        bench_buf_adds(&cl->receive, "{}");
    }

    bench_buf_adds(&cl->delete_batch, "{\"Successful\":[");
    for (i = 0; i < o->batch; i++)
        bench_buf_printf(&cl->delete_batch, "%s{\"Id\":\"%d\"}", i ? "," : "", i);
    bench_buf_adds(&cl->delete_batch, "],\"Failed\":[]}");

    bench_buf_printf(&cl->queue_url, "{\"QueueUrl\":\"%s/000000000000/ceiling\"}", url);
    bench_buf_deinit(&body);
}

static void
send_static(ceiling_t *cl, struct evhttp_request *req, int code, const char *reason,
            const char *ctype, const char *body, size_t len)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);

    evhttp_add_header(out, "Content-Type", ctype);
    evhttp_add_header(out, "x-amzn-RequestId", REQUEST_ID);
    evbuffer_add_reference(cl->reply, body, len, NULL, NULL);
    evhttp_send_reply(req, code, reason, cl->reply);
    cl->requests++;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
    static const char bad_target[] =
        "{\"__type\":\"com.amazonaws.sqs#UnsupportedOperation\","
        "\"message\":\"ceiling answers AmazonSQS.* only\"}";
    ceiling_t *cl = arg;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *target, *op;
    const bench_buf_t *b = NULL;

    if (cmd == EVHTTP_REQ_GET && strcmp(evhttp_request_get_uri(req), "/healthz") == 0) {
        send_static(cl, req, 200, "OK", "text/plain", "ok\n", 3);
        return;
    }
    if (cmd != EVHTTP_REQ_POST) {
        evhttp_send_error(req, 405, "Method Not Allowed");
        return;
    }
    target = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Amz-Target");
    if (target == NULL || strncmp(target, "AmazonSQS.", 10) != 0) {
        send_static(cl, req, 400, "Bad Request", "application/x-amz-json-1.0", bad_target,
                    sizeof(bad_target) - 1);
        return;
    }
    op = target + 10;
    if (strcmp(op, "SendMessageBatch") == 0)
        b = &cl->send_batch;
    else if (strcmp(op, "ReceiveMessage") == 0)
        b = &cl->receive;
    else if (strcmp(op, "DeleteMessageBatch") == 0 ||
             strcmp(op, "ChangeMessageVisibilityBatch") == 0)
        b = &cl->delete_batch;
    else if (strcmp(op, "SendMessage") == 0)
        b = &cl->send_one;
    else if (strcmp(op, "CreateQueue") == 0 || strcmp(op, "GetQueueUrl") == 0)
        b = &cl->queue_url;
    if (b != NULL)
        send_static(cl, req, 200, "OK", "application/x-amz-json-1.0", b->p, b->len);
    else
        send_static(cl, req, 200, "OK", "application/x-amz-json-1.0", "{}", 2);
}

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

int
bench_ceiling(const bench_ceiling_opts_t *o)
{
    ceiling_t cl;
    struct evhttp_bound_socket *bound;
    struct event *sigint_ev = NULL, *sigterm_ev = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char host[256], url[320];
    int port, ret = 2;

    memset(&cl, 0, sizeof(cl));
    if (bench_hostport_split(o->listen, host, sizeof(host), &port) < 0) {
        fprintf(stderr, "sluice-bench ceiling: --listen wants HOST:PORT (got %s)\n", o->listen);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    cl.base = event_base_new();
    if (cl.base == NULL) {
        fprintf(stderr, "sluice-bench ceiling: cannot create an event base\n");
        return 2;
    }
    cl.http = evhttp_new(cl.base);
    cl.reply = evbuffer_new();
    evhttp_set_allowed_methods(cl.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_max_body_size(cl.http, MAX_BODY);
    evhttp_set_gencb(cl.http, on_request, &cl);
    bound = evhttp_bind_socket_with_handle(cl.http, host, (ev_uint16_t)port);
    if (bound == NULL) {
        fprintf(stderr, "sluice-bench ceiling: cannot listen on %s\n", o->listen);
        goto out;
    }
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sslen) == 0)
        port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
    snprintf(url, sizeof(url), strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host,
             port);
    build_answers(&cl, o, url);

    sigint_ev = evsignal_new(cl.base, SIGINT, on_signal, cl.base);
    sigterm_ev = evsignal_new(cl.base, SIGTERM, on_signal, cl.base);
    evsignal_add(sigint_ev, NULL);
    evsignal_add(sigterm_ev, NULL);
    printf("sluice-bench ceiling listening on %s\n", url);
    fflush(stdout);
    event_base_dispatch(cl.base);
    fprintf(stderr, "sluice-bench ceiling: answered %llu requests\n",
            (unsigned long long)cl.requests);
    ret = 0;
out:
    if (sigint_ev != NULL)
        event_free(sigint_ev);
    if (sigterm_ev != NULL)
        event_free(sigterm_ev);
    evhttp_free(cl.http);
    evbuffer_free(cl.reply);
    event_base_free(cl.base);
    bench_buf_deinit(&cl.send_batch);
    bench_buf_deinit(&cl.send_one);
    bench_buf_deinit(&cl.receive);
    bench_buf_deinit(&cl.delete_batch);
    bench_buf_deinit(&cl.queue_url);
    return ret;
}
