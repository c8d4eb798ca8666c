/* main.c - command line of sluice-bench: run, ceiling, and two helpers for run.sh.
 * `run` is the load generator (run.c), `ceiling` the reference evhttp server
 * (ceiling.c). `wait-ready` and `freeport` exist so tests/bench/run.sh can measure
 * time-to-ready with sub-millisecond polling and pick ports without depending on
 * tools that may not be installed; `selftest` checks scan.c against jansson. */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/time.h>

static const char usage[] =
"usage: sluice-bench run [options]       drive the SQS JSON 1.0 API and report figures\n"
"       sluice-bench ceiling [options]   serve canned SQS answers with evhttp (reference)\n"
"       sluice-bench wait-ready URL [--timeout-ms N] [--since-us T | --epoch]\n"
"       sluice-bench freeport [HOST]\n"
"       sluice-bench selftest\n"
"       sluice-bench redis-script --list | --sha NAME | NAME\n"
"       sluice-bench filter [--runs N] [--ms MS] [--json]\n"
"       sluice-bench sns [options]       publish -> N queues through a topic\n"
"       sluice-bench --help\n"
"\n"
"run: three phases over keep-alive HTTP/1.1 connections on one thread.\n"
"  1 send     --connections connections each post SendMessageBatch (Ids \"0\"..,\n"
"             bodies of --size printable bytes) back to back until --messages are\n"
"             sent or --duration passes. Reports msg/s and request latency.\n"
"  2 receive  --receivers connections each loop ReceiveMessage (MaxNumberOfMessages\n"
"             = --batch, WaitTimeSeconds 0, VisibilityTimeout 60) + DeleteMessageBatch\n"
"             of the handles received, until everything phase 1 sent is received\n"
"             (or --messages when phase 1 is skipped), or a connection sees the queue\n"
"             empty 3 times in a row. With --requests N: exactly N ReceiveMessage\n"
"             calls in all, whatever they return (for the ceiling server).\n"
"  3 latency  with --latency-rate R: one connection sends SendMessage at R msg/s for\n"
"             --latency-duration s, another long-polls ReceiveMessage (WaitTimeSeconds\n"
"             1) and deletes; the send time travels in the body, so end-to-end\n"
"             latency is receipt minus send on the same clock.\n"
"  Every answer's HTTP status is checked and its body read as JSON (by a validating\n"
"  scanner that builds nothing; jansson for sampled or refused answers); Failed\n"
"  batch entries count as errors. One answer in --verify-every is parsed by jansson\n"
"  and has MD5OfMessageBody / MD5OfBody recomputed (lower-case hex MD5 of the body)\n"
"  and entry Ids checked: mismatches count as wrong answers. Exit status: 0 clean,\n"
"  1 errors or aborted, 2 bad usage or set-up failure.\n"
"\n"
"  --endpoint URL         broker base URL (default http://127.0.0.1:9324)\n"
"  --queue NAME           queue to use (default sluice-bench)\n"
"  --create               GetQueueUrl; PurgeQueue it if it exists, else CreateQueue\n"
"                         (without --create the queue must exist)\n"
"  --connections N        phase 1 connections (default 4)\n"
"  --receivers N          phase 2 connections (default 4)\n"
"  --batch N              entries per batch, 1..10 (default 10)\n"
"  --size BYTES           message body size, 1..262144 (default 256)\n"
"  --messages N           messages to send in phase 1 (default 200000; 0 = until\n"
"                         --duration)\n"
"  --duration S           stop issuing requests in phases 1 and 2 after S seconds\n"
"                         (default: no limit); default length of phase 3\n"
"  --requests N           phase 2 issues exactly N ReceiveMessage (+ their deletes)\n"
"  --latency-rate R       run phase 3 at R msg/s (e.g. 1000)\n"
"  --latency-duration S   length of phase 3 (default --duration, else 5)\n"
"  --phases LIST          phases to run, e.g. 12, 2, 123 (default 12, plus 3 with\n"
"                         --latency-rate; 3 alone implies --latency-rate 1000)\n"
"  --together             run phases 1 and 2 at the same time, a steady pipeline:\n"
"                         receivers long-poll (WaitTimeSeconds 1) from the start\n"
"                         and stop once everything sent is received; both phases\n"
"                         are timed from the common start, so receive msg_per_s\n"
"                         is messages through send, receive and delete per second\n"
"  --json                 print one JSON object with all figures instead of a table\n"
"  --no-verify            skip MD5 and entry checks (needed against `ceiling`)\n"
"  --verify-every N       check 1 response in N (default 16; 1 = all)\n"
"  --max-errors N         abort once more than N errors were counted (default 1000)\n"
"  --timeout S            abort the whole run after S seconds (default 600)\n"
"  --request-timeout S    fail a request unanswered after S seconds (default 30)\n"
"\n"
"  JSON output: {endpoint, queue, size, batch, connections, receivers, together,\n"
"    send: {messages, requests, seconds, msg_per_s, req_per_s, client_cpu_pct,\n"
"           latency_ms: {p50, p90, p99, max, mean, count}} | null,\n"
"    receive: {received, deleted, receive_requests, delete_requests, empty_receives,\n"
"              seconds, msg_per_s (deleted), received_per_s, client_cpu_pct,\n"
"              receive_latency_ms: {...}, delete_latency_ms: {...}} | null,\n"
"    latency: {rate, sent, received, deleted, foreign, seconds, e2e_ms: {...},\n"
"              send_ms: {...}} | null,\n"
"    errors: {total, http, transport, json, failed_entries, wrong}, verified,\n"
"    aborted, abort_reason}\n"
"  client_cpu_pct near 100 means the load generator, not the server, was the limit.\n"
"\n"
"ceiling: libevent's evhttp answering every POST / with a canned JSON body chosen by\n"
"  X-Amz-Target (SendMessageBatch: a Successful list of --batch entries;\n"
"  DeleteMessageBatch: Successful Ids; ReceiveMessage: {} or --receive-messages\n"
"  messages; CreateQueue/GetQueueUrl: a QueueUrl; anything else: {}), and GET\n"
"  /healthz with 200. Measures the HTTP ceiling: run against it with --no-verify\n"
"  and --requests. Prints \"sluice-bench ceiling listening on URL\" when ready; stops\n"
"  on SIGINT or SIGTERM.\n"
"  --listen HOST:PORT     address (default 127.0.0.1:9325; port 0 picks a free one)\n"
"  --batch N              entries in batch answers (default 10)\n"
"  --receive-messages N   messages in each ReceiveMessage answer (default 0: {})\n"
"  --size BYTES           body size of those messages (default 256)\n"
"\n"
"wait-ready URL: poll GET URL (e.g. http://127.0.0.1:9324/healthz) every\n"
"  --interval-us (default 200) until it answers 200, then print the milliseconds\n"
"  since --since-us (wall-clock epoch microseconds, as bash's $EPOCHREALTIME without\n"
"  the dot) or since wait-ready started. With --epoch, print \"polling\" after the\n"
"  first probe and then the wall-clock epoch microseconds of the 200, so a script\n"
"  can start the poller before the server. Exit 1 after --timeout-ms (default 5000).\n"
"\n"
"freeport [HOST]: print a TCP port that is free on HOST (default 127.0.0.1).\n"
"\n"
"selftest: check the fast answer scanner `run` uses against jansson on canned,\n"
"  generated, truncated and mutated answers; prints \"N passed, M failed\".\n"
"\n"
"redis-script: the redis store's Lua scripts, from the broker's own table (what\n"
"  tests/bench/redis.sh loads into Redis for its redis-benchmark ceiling). --list\n"
"  prints \"name sha1\" per script, --sha NAME the SHA-1 EVALSHA takes, NAME the text.\n"
"\n"
"filter: evaluations per second of the filter matcher (triggers/filter.c) for typical\n"
"  SNS attribute policies (exact, lists, numeric ranges, anything-but, prefix,\n"
"  exists, $or, five keys) over 4 attribute maps in turn, and for body policies on\n"
"  nested keys of a parsed 1 KiB JSON body; then the parse of that body by the\n"
"  broker's reader (sl_json_parse) alone and with one evaluation. Medians of --runs\n"
"  (3) runs of about --ms (300) ms each, on one thread: pin it (taskset -c 1).\n"
"\n"
"sns: topic fanout. Creates N queues (--subs) and a topic they subscribe to (sqs,\n"
"  RawMessageDelivery unless --envelope), publishes M messages (--messages, default\n"
"  --deliveries / N) of --size bytes with PublishBatch of --batch entries over\n"
"  --connections kept-alive connections (SNS query protocol, as the aws CLI sends\n"
"  it), then polls GET /metrics until every queue holds M. Reports publishes/s\n"
"  (until the last PublishBatch answer) and deliveries/s (N x M over the time from\n"
"  the first publish until all are in the queues). The count must be exact: every\n"
"  queue holds M, and still M after --settle-ms (no late duplicates); else exit 1.\n"
"  --reference sends the same N x M messages into N fresh queues with SQS\n"
"  SendMessageBatch instead (the enqueue path without fanout), for a same-run\n"
"  ratio. --verify receives everything and checks each queue got each message once.\n"
"  --endpoint URL, --subs N (10), --messages M, --deliveries D (200000),\n"
"  --connections N (4), --batch N (10), --size BYTES (256), --envelope,\n"
"  --reference, --verify, --settle-ms MS (300), --timeout S (300), --prefix NAME,\n"
"  --keep (do not delete the queues and topic), --json.\n"
"\n"
"See tests/bench/README.md for the targets and tests/bench/run.sh for the full suite.\n";

/* ---- Argument parsing ---- */

static bool
parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || *s == '\0' || *s == '-')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool
parse_int(const char *s, int lo, int hi, int *out)
{
    uint64_t v;

    if (!parse_u64(s, (uint64_t)lo, (uint64_t)hi, &v))
        return false;
    *out = (int)v;
    return true;
}

static bool
parse_secs(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;

    if (s == NULL || *s == '\0')
        return false;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static int
bad_value(const char *opt, const char *val)
{
    fprintf(stderr, "sluice-bench: bad value for --%s: %s (see --help)\n", opt,
            val ? val : "(none)");
    return 2;
}

static const char *
opt_name(const struct option *opts, int val)
{
    for (; opts->name != NULL; opts++)
        if (opts->val == val)
            return opts->name;
    return "?";
}

enum {
    OPT_ENDPOINT = 256, OPT_QUEUE, OPT_CONNECTIONS, OPT_RECEIVERS, OPT_BATCH, OPT_SIZE,
    OPT_MESSAGES, OPT_DURATION, OPT_REQUESTS, OPT_LAT_RATE, OPT_LAT_DURATION, OPT_PHASES,
    OPT_CREATE, OPT_JSON, OPT_NO_VERIFY, OPT_VERIFY_EVERY, OPT_MAX_ERRORS, OPT_TIMEOUT,
    OPT_REQ_TIMEOUT, OPT_LISTEN, OPT_RECV_MSGS, OPT_TIMEOUT_MS, OPT_SINCE_US,
    OPT_INTERVAL_US, OPT_EPOCH, OPT_RUNS, OPT_MS, OPT_TOGETHER, OPT_HELP, OPT_SUBS,
    OPT_DELIVERIES, OPT_ENVELOPE, OPT_REFERENCE, OPT_VERIFY, OPT_SETTLE, OPT_PREFIX, OPT_KEEP,
};

static int
cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "endpoint", required_argument, NULL, OPT_ENDPOINT },
        { "queue", required_argument, NULL, OPT_QUEUE },
        { "connections", required_argument, NULL, OPT_CONNECTIONS },
        { "receivers", required_argument, NULL, OPT_RECEIVERS },
        { "batch", required_argument, NULL, OPT_BATCH },
        { "size", required_argument, NULL, OPT_SIZE },
        { "messages", required_argument, NULL, OPT_MESSAGES },
        { "duration", required_argument, NULL, OPT_DURATION },
        { "requests", required_argument, NULL, OPT_REQUESTS },
        { "latency-rate", required_argument, NULL, OPT_LAT_RATE },
        { "latency-duration", required_argument, NULL, OPT_LAT_DURATION },
        { "phases", required_argument, NULL, OPT_PHASES },
        { "together", no_argument, NULL, OPT_TOGETHER },
        { "create", no_argument, NULL, OPT_CREATE },
        { "json", no_argument, NULL, OPT_JSON },
        { "no-verify", no_argument, NULL, OPT_NO_VERIFY },
        { "verify-every", required_argument, NULL, OPT_VERIFY_EVERY },
        { "max-errors", required_argument, NULL, OPT_MAX_ERRORS },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "request-timeout", required_argument, NULL, OPT_REQ_TIMEOUT },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    bench_opts_t o;
    const char *phases = NULL;
    int c;

    bench_opts_defaults(&o);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        const char *name = opt_name(longopts, c);

        switch (c) {
        case OPT_ENDPOINT: o.endpoint = optarg; break;
        case OPT_QUEUE:
            if (*optarg == '\0' || strlen(optarg) > 80)
                return bad_value(name, optarg);
            o.queue = optarg;
            break;
        case OPT_CONNECTIONS:
            if (!parse_int(optarg, 1, 1024, &o.connections))
                return bad_value(name, optarg);
            break;
        case OPT_RECEIVERS:
            if (!parse_int(optarg, 1, 1024, &o.receivers))
                return bad_value(name, optarg);
            break;
        case OPT_BATCH:
            if (!parse_int(optarg, 1, 10, &o.batch))
                return bad_value(name, optarg);
            break;
        case OPT_SIZE:
            if (!parse_int(optarg, 1, 262144, &o.size))
                return bad_value(name, optarg);
            break;
        case OPT_MESSAGES:
            if (!parse_u64(optarg, 0, UINT64_MAX / 2, &o.messages))
                return bad_value(name, optarg);
            break;
        case OPT_DURATION:
            if (!parse_secs(optarg, 0.001, 86400, &o.duration))
                return bad_value(name, optarg);
            break;
        case OPT_REQUESTS:
            if (!parse_u64(optarg, 1, UINT64_MAX / 2, &o.requests))
                return bad_value(name, optarg);
            break;
        case OPT_LAT_RATE:
            if (!parse_secs(optarg, 0.1, 1e6, &o.latency_rate))
                return bad_value(name, optarg);
            break;
        case OPT_LAT_DURATION:
            if (!parse_secs(optarg, 0.001, 86400, &o.latency_duration))
                return bad_value(name, optarg);
            break;
        case OPT_PHASES:
            if (*optarg == '\0' || strspn(optarg, "123") != strlen(optarg))
                return bad_value(name, optarg);
            phases = optarg;
            break;
        case OPT_CREATE: o.create = true; break;
        case OPT_TOGETHER: o.together = true; break;
        case OPT_JSON: o.json = true; break;
        case OPT_NO_VERIFY: o.verify_every = 0; break;
        case OPT_VERIFY_EVERY:
            if (!parse_int(optarg, 0, 1000000, &o.verify_every))
                return bad_value(name, optarg);
            break;
        case OPT_MAX_ERRORS:
            if (!parse_u64(optarg, 0, UINT64_MAX / 2, &o.max_errors))
                return bad_value(name, optarg);
            break;
        case OPT_TIMEOUT:
            if (!parse_secs(optarg, 0.001, 86400, &o.timeout))
                return bad_value(name, optarg);
            break;
        case OPT_REQ_TIMEOUT:
            if (!parse_int(optarg, 1, 3600, &o.request_timeout))
                return bad_value(name, optarg);
            break;
        case OPT_HELP:
            fputs(usage, stdout);
            return 0;
        default:
            fprintf(stderr, "sluice-bench run: see --help\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice-bench run: unexpected argument %s\n", argv[optind]);
        return 2;
    }
    if (phases != NULL) {
        o.send_phase = strchr(phases, '1') != NULL;
        o.receive_phase = strchr(phases, '2') != NULL;
        if (strchr(phases, '3') == NULL)
            o.latency_rate = 0;
        else if (o.latency_rate == 0)
            o.latency_rate = 1000;
    }
    if (o.send_phase && o.messages == 0 && o.duration == 0) {
        fprintf(stderr, "sluice-bench run: --messages 0 needs --duration\n");
        return 2;
    }
    if (o.together && (!o.send_phase || !o.receive_phase || o.requests)) {
        fprintf(stderr, "sluice-bench run: --together needs phases 1 and 2, not --requests\n");
        return 2;
    }
    return bench_run(&o);
}

static int
cmd_ceiling(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "batch", required_argument, NULL, OPT_BATCH },
        { "receive-messages", required_argument, NULL, OPT_RECV_MSGS },
        { "size", required_argument, NULL, OPT_SIZE },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    bench_ceiling_opts_t o = { "127.0.0.1:9325", 10, 0, 256 };
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_LISTEN: o.listen = optarg; break;
        case OPT_BATCH:
            if (!parse_int(optarg, 1, 10, &o.batch))
                return bad_value("batch", optarg);
            break;
        case OPT_RECV_MSGS:
            if (!parse_int(optarg, 0, 10, &o.receive_messages))
                return bad_value("receive-messages", optarg);
            break;
        case OPT_SIZE:
            if (!parse_int(optarg, 1, 262144, &o.size))
                return bad_value("size", optarg);
            break;
        case OPT_HELP:
            fputs(usage, stdout);
            return 0;
        default:
            fprintf(stderr, "sluice-bench ceiling: see --help\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice-bench ceiling: unexpected argument %s\n", argv[optind]);
        return 2;
    }
    return bench_ceiling(&o);
}

static int
cmd_filter(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "runs", required_argument, NULL, OPT_RUNS },
        { "ms", required_argument, NULL, OPT_MS },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    int runs = 3, ms = 300, c;
    bool json = false;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_RUNS:
            if (!parse_int(optarg, 1, 15, &runs))
                return bad_value("runs", optarg);
            break;
        case OPT_MS:
            if (!parse_int(optarg, 1, 60000, &ms))
                return bad_value("ms", optarg);
            break;
        case OPT_JSON: json = true; break;
        case OPT_HELP:
            fputs(usage, stdout);
            return 0;
        default:
            fprintf(stderr, "sluice-bench filter: see --help\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice-bench filter: unexpected argument %s\n", argv[optind]);
        return 2;
    }
    return bench_filter(runs, ms, json);
}

static int
cmd_sns(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "endpoint", required_argument, NULL, OPT_ENDPOINT },
        { "subs", required_argument, NULL, OPT_SUBS },
        { "messages", required_argument, NULL, OPT_MESSAGES },
        { "deliveries", required_argument, NULL, OPT_DELIVERIES },
        { "connections", required_argument, NULL, OPT_CONNECTIONS },
        { "batch", required_argument, NULL, OPT_BATCH },
        { "size", required_argument, NULL, OPT_SIZE },
        { "settle-ms", required_argument, NULL, OPT_SETTLE },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "prefix", required_argument, NULL, OPT_PREFIX },
        { "envelope", no_argument, NULL, OPT_ENVELOPE },
        { "reference", no_argument, NULL, OPT_REFERENCE },
        { "verify", no_argument, NULL, OPT_VERIFY },
        { "keep", no_argument, NULL, OPT_KEEP },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    bench_sns_opts_t o;
    int c;

    bench_sns_opts_defaults(&o);
    o.cleanup = true;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        const char *name = opt_name(longopts, c);

        switch (c) {
        case OPT_ENDPOINT: o.endpoint = optarg; break;
        case OPT_SUBS:
            if (!parse_int(optarg, 1, 1000, &o.subs))
                return bad_value(name, optarg);
            break;
        case OPT_MESSAGES:
            if (!parse_u64(optarg, 1, 100000000, &o.messages))
                return bad_value(name, optarg);
            break;
        case OPT_DELIVERIES:
            if (!parse_u64(optarg, 1, 1000000000, &o.deliveries))
                return bad_value(name, optarg);
            break;
        case OPT_CONNECTIONS:
            if (!parse_int(optarg, 1, 256, &o.connections))
                return bad_value(name, optarg);
            break;
        case OPT_BATCH:
            if (!parse_int(optarg, 1, 10, &o.batch))
                return bad_value(name, optarg);
            break;
        case OPT_SIZE:
            if (!parse_int(optarg, 16, 65536, &o.size))
                return bad_value(name, optarg);
            break;
        case OPT_SETTLE:
            if (!parse_int(optarg, 0, 60000, &o.settle_ms))
                return bad_value(name, optarg);
            break;
        case OPT_TIMEOUT:
            if (!parse_secs(optarg, 0.001, 86400, &o.timeout))
                return bad_value(name, optarg);
            break;
        case OPT_PREFIX:
            if (*optarg == '\0' || strlen(optarg) > 60 ||
                strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789-_") != strlen(optarg))
                return bad_value(name, optarg);
            o.prefix = optarg;
            break;
        case OPT_ENVELOPE: o.envelope = true; break;
        case OPT_REFERENCE: o.reference = true; break;
        case OPT_VERIFY: o.verify = true; break;
        case OPT_KEEP: o.cleanup = false; break;
        case OPT_JSON: o.json = true; break;
        case OPT_HELP:
            fputs(usage, stdout);
            return 0;
        default:
            fprintf(stderr, "sluice-bench sns: see --help\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice-bench sns: unexpected argument %s\n", argv[optind]);
        return 2;
    }
    return bench_sns(&o);
}

/* ---- Helpers for run.sh ---- */

static uint64_t
realtime_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* One GET with blocking I/O and 200 ms socket timeouts. Returns the status or -1. */
static int
probe(const bench_endpoint_t *ep, const char *path)
{
    struct timeval tv = { 0, 200000 };
    char req[512], resp[64];
    size_t got = 0;
    ssize_t n;
    int fd, status = -1;

    fd = socket(ep->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (const struct sockaddr *)&ep->addr, ep->addrlen) < 0)
        goto out;
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                 path, ep->hostport);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        goto out;
    while (got < 12 && (n = recv(fd, resp + got, sizeof(resp) - 1 - got, 0)) > 0)
        got += (size_t)n;
    resp[got] = '\0';
    if (got >= 12 && strncmp(resp, "HTTP/1.", 7) == 0)
        status = atoi(resp + 9);
out:
    close(fd);
    return status;
}

static int
cmd_wait_ready(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS },
        { "since-us", required_argument, NULL, OPT_SINCE_US },
        { "interval-us", required_argument, NULL, OPT_INTERVAL_US },
        { "epoch", no_argument, NULL, OPT_EPOCH },
        { NULL, 0, NULL, 0 },
    };
    uint64_t timeout_ms = 5000, since_us = 0, interval_us = 200, start = realtime_us();
    const char *url, *slash;
    char base[256], path[256], err[256];
    bench_endpoint_t ep;
    struct timespec pause;
    bool epoch = false, announced = false;
    size_t blen;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_TIMEOUT_MS:
            if (!parse_u64(optarg, 1, 3600000, &timeout_ms))
                return bad_value("timeout-ms", optarg);
            break;
        case OPT_SINCE_US:
            if (!parse_u64(optarg, 1, UINT64_MAX / 2, &since_us))
                return bad_value("since-us", optarg);
            break;
        case OPT_INTERVAL_US:
            if (!parse_u64(optarg, 1, 1000000, &interval_us))
                return bad_value("interval-us", optarg);
            break;
        case OPT_EPOCH:
            epoch = true;
            break;
        default:
            fprintf(stderr, "sluice-bench wait-ready: see --help\n");
            return 2;
        }
    }
    if (optind != argc - 1 || strncmp(argv[optind], "http://", 7) != 0) {
        fprintf(stderr, "sluice-bench wait-ready: want one http://HOST:PORT/PATH URL\n");
        return 2;
    }
    url = argv[optind];
    slash = strchr(url + 7, '/');
    blen = slash ? (size_t)(slash - url) : strlen(url);
    if (blen >= sizeof(base) || (slash && strlen(slash) >= sizeof(path))) {
        fprintf(stderr, "sluice-bench wait-ready: URL too long\n");
        return 2;
    }
    memcpy(base, url, blen);
    base[blen] = '\0';
    snprintf(path, sizeof(path), "%s", slash ? slash : "/");
    if (bench_endpoint_parse(base, &ep, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluice-bench wait-ready: %s\n", err);
        return 2;
    }
    if (since_us == 0)
        since_us = start;
    pause.tv_sec = (time_t)(interval_us / 1000000u);
    pause.tv_nsec = (long)(interval_us % 1000000u) * 1000;
    while (realtime_us() - start < timeout_ms * 1000u) {
        int status = probe(&ep, path);

        if (epoch && !announced) {
            printf("polling\n");
            fflush(stdout);
            announced = true;
        }
        if (status == 200) {
            uint64_t now = realtime_us();

            if (epoch)
                printf("%llu\n", (unsigned long long)now);
            else
                printf("%.3f\n", now > since_us ? (double)(now - since_us) / 1000.0 : 0.0);
            return 0;
        }
        nanosleep(&pause, NULL);
    }
    fprintf(stderr, "sluice-bench wait-ready: %s not ready after %llu ms\n", url,
            (unsigned long long)timeout_ms);
    return 1;
}

static int
cmd_freeport(int argc, char **argv)
{
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, port = -1;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ss.ss_family = AF_INET;
        len = sizeof(struct sockaddr_in);
    } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ss.ss_family = AF_INET6;
        len = sizeof(struct sockaddr_in6);
    } else {
        fprintf(stderr, "sluice-bench freeport: want a numeric address (got %s)\n", host);
        return 2;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&ss, len) == 0 &&
        getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                             : ((struct sockaddr_in6 *)&ss)->sin6_port);
    if (fd >= 0)
        close(fd);
    if (port <= 0) {
        fprintf(stderr, "sluice-bench freeport: %s\n", strerror(errno));
        return 1;
    }
    printf("%d\n", port);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;

    if (cmd == NULL) {
        fputs(usage, stderr);
        return 2;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "ceiling") == 0)
        return cmd_ceiling(argc - 1, argv + 1);
    if (strcmp(cmd, "wait-ready") == 0)
        return cmd_wait_ready(argc - 1, argv + 1);
    if (strcmp(cmd, "freeport") == 0)
        return cmd_freeport(argc - 1, argv + 1);
    if (strcmp(cmd, "selftest") == 0)
        return bench_selftest();
    if (strcmp(cmd, "filter") == 0)
        return cmd_filter(argc - 1, argv + 1);
    if (strcmp(cmd, "sns") == 0)
        return cmd_sns(argc - 1, argv + 1);
    if (strcmp(cmd, "redis-script") == 0)
        return bench_redis_script(argc - 1, argv + 1);
    fprintf(stderr, "sluice-bench: unknown command %s (see --help)\n", cmd);
    return 2;
}
