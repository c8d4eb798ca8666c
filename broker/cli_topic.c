/* cli_topic.c - `sluice topic create|list|delete|subscribe|subscriptions|unsubscribe|
 * publish` (cli_topic.h). Kept apart from cli.c, which holds the queue and function
 * commands; it speaks the same native API through the same blocking HTTP helper. */
#include "cli_topic.h"

#include "cli_http.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_BROKER = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

static const char usage[] =
    "Usage: sluice topic <command> [args...]\n"
    "\n"
    "  topic create NAME [--fifo] [--content-dedup] [--attr K=V]...\n"
    "        creates topic NAME (a FIFO topic's name ends in .fifo) and prints its ARN\n"
    "  topic list            prints the ARN of every topic\n"
    "  topic delete NAME     deletes topic NAME and its subscriptions\n"
    "  topic subscribe NAME PROTOCOL ENDPOINT [--raw] [--filter JSON] [--filter-body]\n"
    "        [--dlq QUEUE] [--attr K=V]...\n"
    "        subscribes ENDPOINT and prints the subscription ARN. PROTOCOL is sqs (ENDPOINT:\n"
    "        a queue name or ARN), lambda (a function name or ARN), http or https (a URL).\n"
    "        --raw: RawMessageDelivery; --filter: a FilterPolicy on message attributes,\n"
    "        or on the message body with --filter-body; --dlq: the subscription's\n"
    "        dead-letter queue\n"
    "  topic subscriptions NAME  prints \"ARN protocol endpoint\" per subscription\n"
    "  topic unsubscribe ARN     removes a subscription\n"
    "  topic publish NAME [MESSAGE|-] [--subject S] [--attr Name=Value]...\n"
    "        [--attr-number Name=Value]... [--group ID] [--dedup ID]\n"
    "        publishes MESSAGE (all of stdin without it, or with \"-\") and prints its id\n"
    "\n"
    "Add --json to any command to print the broker's raw JSON reply; --endpoint URL and\n"
    "--timeout S work here as before the command.\n";

typedef struct tctx {
    sl_cli_http_t *http;
    const char *region, *account;
    int timeout_s;
    bool json;
} tctx_t;

static int
usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "sluice topic: %s%s\nTry 'sluice topic --help'.\n", msg, arg ? arg : "");
    return EXIT_USAGE;
}

static char *
topic_path(const char *name, const char *suffix)
{
    char *esc = sl__cli_http_escape(name);
    size_t n = strlen(esc) + strlen(suffix) + 16;
    char *p = sl_malloc(n);

    snprintf(p, n, "/v1/topics/%s%s", esc, suffix);
    sl_free(esc);
    return p;
}

/* Sends body (taken; may be NULL) and prints field of the reply (or all of it with
 * --json). *out, when not NULL, gets the parsed reply (caller decrefs). */
static int
call(tctx_t *t, sl_cli_method_t m, const char *path, json_t *body, const char *field,
     json_t **out)
{
    sl_cli_reply_t r = { 0 };
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_t *reply;
    int rc = sl__cli_http_request(t->http, m, path, text, text ? strlen(text) : 0,
                                  t->timeout_s * 1000, &r);

    sl_free(text);
    json_decref(body);
    if (out)
        *out = NULL;
    if (rc != SL_OK) {
        fprintf(stderr, "sluice: cannot reach the broker at %s: %s\n",
                sl__cli_http_url(t->http), sl__cli_http_errstr(t->http));
        return EXIT_UNREACHABLE;
    }
    reply = json_loadb(r.body, r.len, 0, NULL);
    if (r.status != 200) {
        const char *msg = json_string_value(json_object_get(json_object_get(reply, "error"),
                                                            "message"));
        const char *code = json_string_value(json_object_get(json_object_get(reply, "error"),
                                                             "code"));

        fprintf(stderr, "sluice: %s: %s\n", code ? code : "HTTP error", msg ? msg : r.body);
        json_decref(reply);
        sl__cli_reply_deinit(&r);
        return EXIT_BROKER;
    }
    if (t->json)
        printf("%s\n", r.body);
    else if (field && json_string_value(json_object_get(reply, field)))
        printf("%s\n", json_string_value(json_object_get(reply, field)));
    if (out)
        *out = reply;
    else
        json_decref(reply);
    sl__cli_reply_deinit(&r);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_BROKER;
}

/* Options: --name VALUE or --name=VALUE; flags have no value. */
typedef struct opts {
    const char *pos[4];
    int npos;
    const char *subject, *group, *dedup, *filter, *dlq, *endpoint;
    int timeout_s;          /* 0: the global one */
    bool fifo, content_dedup, raw, filter_body;
    json_t *attrs;          /* --attr K=V (topic/subscription attributes or String attrs) */
    json_t *nums;           /* --attr-number */
} opts_t;

static int
parse(int argc, char **argv, opts_t *o, tctx_t *t)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = NULL, *eq;
        char name[32];
        size_t n;

        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++) {
                if (o->npos == 4)
                    return usage_error("too many arguments", NULL);
                o->pos[o->npos++] = argv[i];
            }
            break;
        }
        if (strncmp(a, "--", 2) != 0 || strcmp(a, "-") == 0) {
            if (o->npos == 4)
                return usage_error("too many arguments", NULL);
            o->pos[o->npos++] = a;
            continue;
        }
        eq = strchr(a, '=');
        n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (n >= sizeof(name))
            return usage_error("unknown option ", a);
        memcpy(name, a + 2, n);
        name[n] = '\0';
        if (strcmp(name, "json") == 0 || strcmp(name, "fifo") == 0 ||
            strcmp(name, "content-dedup") == 0 || strcmp(name, "raw") == 0 ||
            strcmp(name, "filter-body") == 0) {
            t->json |= name[0] == 'j';
            o->fifo |= strcmp(name, "fifo") == 0;
            o->content_dedup |= name[0] == 'c';
            o->raw |= name[0] == 'r';
            o->filter_body |= strcmp(name, "filter-body") == 0;
            continue;
        }
        if (eq)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else
            return usage_error("missing value of ", a);
        if (strcmp(name, "subject") == 0) {
            o->subject = v;
        } else if (strcmp(name, "group") == 0) {
            o->group = v;
        } else if (strcmp(name, "dedup") == 0) {
            o->dedup = v;
        } else if (strcmp(name, "filter") == 0) {
            o->filter = v;
        } else if (strcmp(name, "dlq") == 0) {
            o->dlq = v;
        } else if (strcmp(name, "endpoint") == 0) {
            o->endpoint = v;
        } else if (strcmp(name, "timeout") == 0) {
            o->timeout_s = atoi(v);
            if (o->timeout_s <= 0)
                return usage_error("--timeout needs a whole number of seconds > 0, got ", v);
        } else if (strcmp(name, "attr") == 0 || strcmp(name, "attr-number") == 0) {
            const char *e = strchr(v, '=');
            char *k;

            if (e == NULL || e == v)
                return usage_error("--attr wants Name=Value, got ", v);
            k = sl_strndup(v, (size_t)(e - v));
            json_object_set_new(name[4] == '-' ? o->nums : o->attrs, k, json_string(e + 1));
            sl_free(k);
        } else {
            return usage_error("unknown option ", a);
        }
    }
    return -1;
}

static char *
read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = sl_malloc(cap);
    ssize_t r;

    while ((r = read(0, buf + n, cap - n - 1)) > 0) {
        n += (size_t)r;
        if (cap - n < 2)
            buf = sl_realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static char *
arn_of(const tctx_t *t, const char *service, const char *kind, const char *name)
{
    size_t n = strlen(name) + 128;
    char *a = sl_malloc(n);

    if (strncmp(name, "arn:", 4) == 0)
        snprintf(a, n, "%s", name);
    else
        snprintf(a, n, "arn:aws:%s:%s:%s:%s%s", service, t->region, t->account, kind, name);
    return a;
}

static int
run(tctx_t *t, const char *cmd, opts_t *o)
{
    json_t *body = NULL, *reply = NULL;
    char *path = NULL;
    int rc;

#define NEED(n, what) \
    if (o->npos < (n)) return usage_error("missing ", what)
    if (strcmp(cmd, "create") == 0) {
        NEED(1, "topic NAME");
        if (o->fifo)
            json_object_set_new(o->attrs, "FifoTopic", json_string("true"));
        if (o->content_dedup)
            json_object_set_new(o->attrs, "ContentBasedDeduplication", json_string("true"));
        body = json_pack("{s:s, s:O}", "Name", o->pos[0], "Attributes", o->attrs);
        return call(t, SL_CLI_POST, "/v1/topics", body, "TopicArn", NULL);
    }
    if (strcmp(cmd, "list") == 0) {
        char *next = NULL;

        do {
            size_t i;
            json_t *tp;
            char p[600];

            snprintf(p, sizeof(p), "/v1/topics%s%s", next ? "?NextToken=" : "", next ? next : "");
            sl_free(next);
            next = NULL;
            if ((rc = call(t, SL_CLI_GET, p, NULL, NULL, &reply)) != EXIT_OK)
                return rc;
            if (!t->json)
                json_array_foreach(json_object_get(reply, "Topics"), i, tp)
                    printf("%s\n", json_string_value(json_object_get(tp, "TopicArn")));
            if (json_string_value(json_object_get(reply, "NextToken")))
                next = sl_strdup(json_string_value(json_object_get(reply, "NextToken")));
            json_decref(reply);
        } while (next);
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_BROKER;
    }
    if (strcmp(cmd, "delete") == 0) {
        NEED(1, "topic NAME");
        path = topic_path(o->pos[0], "");
        rc = call(t, SL_CLI_DELETE, path, NULL, NULL, NULL);
        sl_free(path);
        return rc;
    }
    if (strcmp(cmd, "subscribe") == 0) {
        char *ep;

        NEED(3, "topic NAME PROTOCOL ENDPOINT");
        if (strcmp(o->pos[1], "sqs") == 0)
            ep = arn_of(t, "sqs", "", o->pos[2]);
        else if (strcmp(o->pos[1], "lambda") == 0)
            ep = arn_of(t, "lambda", "function:", o->pos[2]);
        else
            ep = sl_strdup(o->pos[2]);
        if (o->raw)
            json_object_set_new(o->attrs, "RawMessageDelivery", json_string("true"));
        if (o->filter)
            json_object_set_new(o->attrs, "FilterPolicy", json_string(o->filter));
        if (o->filter_body)
            json_object_set_new(o->attrs, "FilterPolicyScope", json_string("MessageBody"));
        if (o->dlq) {
            char *q = arn_of(t, "sqs", "", o->dlq);
            json_t *rp = json_pack("{s:s}", "deadLetterTargetArn", q);
            char *text = json_dumps(rp, JSON_COMPACT);

            json_object_set_new(o->attrs, "RedrivePolicy", json_string(text));
            sl_free(text);
            json_decref(rp);
            sl_free(q);
        }
        body = json_pack("{s:s, s:s, s:O}", "Protocol", o->pos[1], "Endpoint", ep, "Attributes",
                         o->attrs);
        sl_free(ep);
        path = topic_path(o->pos[0], "/subscriptions");
        rc = call(t, SL_CLI_POST, path, body, "SubscriptionArn", NULL);
        sl_free(path);
        return rc;
    }
    if (strcmp(cmd, "subscriptions") == 0) {
        size_t i;
        json_t *s;

        NEED(1, "topic NAME");
        path = topic_path(o->pos[0], "/subscriptions");
        rc = call(t, SL_CLI_GET, path, NULL, NULL, &reply);
        sl_free(path);
        if (rc == EXIT_OK && !t->json)
            json_array_foreach(json_object_get(reply, "Subscriptions"), i, s)
                printf("%s %s %s\n", json_string_value(json_object_get(s, "SubscriptionArn")),
                       json_string_value(json_object_get(s, "Protocol")),
                       json_string_value(json_object_get(s, "Endpoint")));
        json_decref(reply);
        return rc == EXIT_OK && fflush(stdout) != 0 ? EXIT_BROKER : rc;
    }
    if (strcmp(cmd, "unsubscribe") == 0) {
        char *esc;
        char p[800];

        NEED(1, "subscription ARN");
        esc = sl__cli_http_escape(o->pos[0]);
        snprintf(p, sizeof(p), "/v1/subscriptions/%s", esc);
        sl_free(esc);
        return call(t, SL_CLI_DELETE, p, NULL, NULL, NULL);
    }
    if (strcmp(cmd, "publish") == 0) {
        json_t *ma = json_object();
        const char *k;
        json_t *v;
        char *msg;
        size_t len;

        NEED(1, "topic NAME");
        if (o->npos < 2 || strcmp(o->pos[1], "-") == 0)
            msg = read_stdin(&len);
        else
            msg = sl_strdup(o->pos[1]);
        json_object_foreach(o->attrs, k, v)
            json_object_set_new(ma, k, json_pack("{s:s, s:O}", "DataType", "String",
                                                 "StringValue", v));
        json_object_foreach(o->nums, k, v)
            json_object_set_new(ma, k, json_pack("{s:s, s:O}", "DataType", "Number",
                                                 "StringValue", v));
        if ((v = json_string(msg)) == NULL) {
            sl_free(msg);
            json_decref(ma);
            return usage_error("the message is not valid UTF-8", NULL);
        }
        sl_free(msg);
        body = json_object();
        json_object_set_new(body, "Message", v);
        if (o->subject)
            json_object_set_new(body, "Subject", json_string(o->subject));
        if (o->group)
            json_object_set_new(body, "MessageGroupId", json_string(o->group));
        if (o->dedup)
            json_object_set_new(body, "MessageDeduplicationId", json_string(o->dedup));
        if (json_object_size(ma))
            json_object_set(body, "MessageAttributes", ma);
        json_decref(ma);
        path = topic_path(o->pos[0], "/messages");
        rc = call(t, SL_CLI_POST, path, body, "MessageId", NULL);
        sl_free(path);
        return rc;
    }
#undef NEED
    return usage_error("unknown command topic ", cmd);
}

int
sl__cli_topic_main(const char *endpoint, int timeout_s, const char *region, const char *account,
                   int argc, char **argv)
{
    tctx_t t = { NULL, region, account, timeout_s, false };
    opts_t o;
    char err[256];
    int rc;

    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        fputs(usage, argc < 1 ? stderr : stdout);
        return argc < 1 ? EXIT_USAGE : EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
    }
    memset(&o, 0, sizeof(o));
    o.attrs = json_object();
    o.nums = json_object();
    if ((rc = parse(argc - 1, argv + 1, &o, &t)) >= 0)
        goto out;
    if (o.timeout_s)
        t.timeout_s = o.timeout_s;
    if (sl__cli_http_create(o.endpoint ? o.endpoint : endpoint, &t.http, err, sizeof(err)) !=
        SL_OK) {
        rc = usage_error("--endpoint: ", err);
        goto out;
    }
    rc = run(&t, argv[0], &o);
    sl__cli_http_destroy(t.http);
out:
    json_decref(o.attrs);
    json_decref(o.nums);
    return rc;
}
