/* filter.c - `sluice-bench filter`: evaluations per second of the filter matcher
 * (triggers/filter.c) for typical SNS policies, against the budget of issue 5:
 * attribute policies >= 1,000,000 evaluations/s on one core, and body policies on a
 * 1 KiB JSON body parsed once >= 200,000/s.
 *
 * Each case compiles one policy and matches it against a few realistic events in turn
 * (some match, some do not, so both outcomes are timed), for a calibrated number of
 * iterations lasting about --ms milliseconds; a figure is the median of --runs runs.
 * The body is parsed by sl_json_parse (broker/jsonr.c), the reader the broker uses for
 * message bodies (sqs_event.c's filter view), with jansson allocating through the
 * broker's cache (jalloc.c) as in sluiced, and that parse is timed on its own and then
 * together with one evaluation. Single-threaded: pin it (taskset -c 1) to measure
 * one core. */
#include "bench.h"

#include "jalloc.h"
#include "jsonr.h"
#include "sluice/filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_MAX 4
#define RUNS_MAX 15

typedef struct fcase {
    const char *name;
    const char *kind;           /* what it exercises */
    sl_filter_dialect_t dialect;
    const char *policy;
} fcase_t;

/* Message attributes as the broker hands them to an attribute policy: name -> value
 * (String -> string, Number -> number, String.Array -> array). */
static const char *const attr_events[EVENTS_MAX] = {
    "{\"event_type\": \"order_placed\", \"store\": \"example_corp\", \"price\": 250,"
    " \"customer_interests\": [\"soccer\", \"basketball\"], \"source\": \"order-service\","
    " \"tracking_id\": \"trk-1f9a3c\", \"region\": \"eu-west-1\"}",
    "{\"event_type\": \"order_cancelled\", \"store\": \"acme\", \"price\": 1250.5,"
    " \"customer_interests\": [\"rugby\"], \"source\": \"billing\", \"region\": \"us-east-1\"}",
    "{\"event_type\": \"order_placed\", \"store\": \"initech\", \"price\": 99,"
    " \"customer_interests\": [\"football\", \"tennis\"], \"source\": \"order-api\","
    " \"region\": \"ap-south-1\"}",
    "{\"event_type\": \"order_shipped\", \"store\": \"globex\", \"price\": 480,"
    " \"source\": \"warehouse\", \"tracking_id\": \"trk-77d2e0\", \"region\": \"eu-west-1\"}",
};

static const fcase_t attr_cases[] = {
    { "exact", "one key, exact string", SL_FILTER_SNS_ATTRS,
      "{\"event_type\": [\"order_placed\"]}" },
    { "exact-list", "one key, one of 6 strings", SL_FILTER_SNS_ATTRS,
      "{\"store\": [\"example_corp\", \"acme\", \"globex\", \"umbrella\", \"hooli\","
      " \"stark\"]}" },
    { "numeric-range", "numeric >= 100, < 500", SL_FILTER_SNS_ATTRS,
      "{\"price\": [{\"numeric\": [\">=\", 100, \"<\", 500]}]}" },
    { "anything-but", "anything-but a list, against a String.Array", SL_FILTER_SNS_ATTRS,
      "{\"customer_interests\": [{\"anything-but\": [\"rugby\", \"football\"]}]}" },
    { "prefix", "prefix", SL_FILTER_SNS_ATTRS, "{\"source\": [{\"prefix\": \"order-\"}]}" },
    { "exists", "exists true", SL_FILTER_SNS_ATTRS, "{\"tracking_id\": [{\"exists\": true}]}" },
    { "or", "$or of an exact and a numeric key", SL_FILTER_SNS_ATTRS,
      "{\"$or\": [{\"event_type\": [\"order_cancelled\"]},"
      " {\"price\": [{\"numeric\": [\">\", 1000]}]}]}" },
    { "five-keys", "5 keys ANDed: exact, list, numeric, anything-but, prefix",
      SL_FILTER_SNS_ATTRS,
      "{\"event_type\": [\"order_placed\", \"order_shipped\"], \"store\": [\"example_corp\","
      " \"globex\"], \"price\": [{\"numeric\": [\">=\", 100]}],"
      " \"customer_interests\": [{\"anything-but\": \"rugby\"}],"
      " \"region\": [{\"prefix\": \"eu-\"}]}" },
};

/* A 1 KiB order event (the body of an SNS message), and policies on its nested keys. */
static const char body_json[] =
    "{\"version\": \"1.0\", \"id\": \"7f3c9a52-1b4e-4d0f-9a61-2c8e5b7d4f10\","
    " \"time\": \"2026-11-23T12:00:00Z\", \"source\": \"order-service\","
    " \"detail_type\": \"OrderPlaced\","
    " \"order\": {\"id\": \"ord-20261123-000042\", \"status\": \"placed\", \"total\": 249.90,"
    " \"currency\": \"EUR\", \"items\": ["
    "{\"sku\": \"SKU-1001\", \"name\": \"Trail running shoes\", \"qty\": 1, \"price\": 129.95},"
    " {\"sku\": \"SKU-2040\", \"name\": \"Merino socks, 3 pairs\", \"qty\": 2, \"price\": 24.99},"
    " {\"sku\": \"SKU-3307\", \"name\": \"Running vest 5 l\", \"qty\": 1, \"price\": 69.97}],"
    " \"shipping\": {\"method\": \"express\", \"address\": {\"city\": \"Lyon\","
    " \"country\": \"FR\", \"postcode\": \"69002\"}}, \"coupon\": null, \"gift\": false},"
    " \"customer\": {\"id\": \"cus-88412\", \"tier\": \"gold\", \"email_verified\": true,"
    " \"interests\": [\"trail\", \"marathon\", \"hiking\"], \"orders_count\": 17,"
    " \"locale\": \"fr-FR\"},"
    " \"payment\": {\"method\": \"card\", \"brand\": \"visa\", \"last4\": \"4242\","
    " \"status\": \"authorized\", \"risk_score\": 12},"
    " \"channel\": {\"name\": \"web\", \"campaign\": \"winter-sale-2026\","
    " \"referrer\": \"newsletter\"}, \"notes\": \"Leave it with the hotel concierge\"}";

static const fcase_t body_cases[] = {
    { "body-exact", "nested exact string", SL_FILTER_SNS,
      "{\"order\": {\"status\": [\"placed\"]}}" },
    { "body-numeric", "nested numeric range", SL_FILTER_SNS,
      "{\"order\": {\"total\": [{\"numeric\": [\">=\", 100, \"<\", 1000]}]}}" },
    { "body-array", "exact string inside an array of objects", SL_FILTER_SNS,
      "{\"order\": {\"items\": {\"sku\": [\"SKU-2040\"]}}}" },
    { "body-typical", "4 nested keys: exact, list, prefix, anything-but", SL_FILTER_SNS,
      "{\"order\": {\"status\": [\"placed\"], \"shipping\": {\"address\": {\"country\":"
      " [\"FR\", \"DE\", \"ES\"]}}}, \"channel\": {\"campaign\": [{\"prefix\": \"winter-\"}]},"
      " \"customer\": {\"tier\": [{\"anything-but\": [\"bronze\"]}]}}" },
    { "body-or", "$or of nested keys (no match)", SL_FILTER_SNS,
      "{\"$or\": [{\"payment\": {\"risk_score\": [{\"numeric\": [\">\", 80]}]}},"
      " {\"customer\": {\"tier\": [\"platinum\"]}}]}" },
};

static volatile uint64_t sink;

static json_t *
parse_or_die(const char *text)
{
    json_t *j = NULL;
    char err[128];

    if (sl_json_parse(text, strlen(text), &j, err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "sluice-bench filter: bad canned JSON: %s\n", err);
        exit(2);
    }
    return j;
}

static sl_filter_t *
compile_or_die(const fcase_t *c)
{
    sl_filter_t *f = NULL;
    char err[256];

    if (sl_filter_compile(c->policy, strlen(c->policy), c->dialect, &f, err, sizeof(err)) !=
        SL_OK) {
        fprintf(stderr, "sluice-bench filter: policy %s does not compile: %s\n", c->name, err);
        exit(2);
    }
    return f;
}

/* ns per evaluation over iters evaluations; matches counted into *matched */
static double
time_matches(const sl_filter_t *f, json_t *const *ev, int nev, uint64_t iters, uint64_t *matched)
{
    uint64_t t0, m = 0;

    t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++)
        m += sl_filter_match(f, ev[i % (uint64_t)nev]);
    *matched = m;
    sink += m;
    return (double)(bench_now_ns() - t0) / (double)iters;
}

/* ns per parse of the body plus `evals` evaluations of f on it (f NULL: parse only) */
static double
time_parse(const sl_filter_t *f, int evals, uint64_t iters)
{
    size_t len = sizeof(body_json) - 1;
    uint64_t t0 = bench_now_ns(), m = 0;

    for (uint64_t i = 0; i < iters; i++) {
        json_t *j = NULL;

        if (sl_json_parse(body_json, len, &j, NULL, 0) != SL_OK)
            abort();
        for (int e = 0; e < evals; e++)
            m += sl_filter_match(f, j);
        json_decref(j);
    }
    sink += m;
    return (double)(bench_now_ns() - t0) / (double)iters;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/* iterations lasting about ms milliseconds, from a short trial */
static uint64_t
calibrate(double ns_per_iter, int ms)
{
    double n = (double)ms * 1e6 / (ns_per_iter > 1 ? ns_per_iter : 1);

    return n < 1000 ? 1000 : (uint64_t)n;
}

typedef struct frow {
    const char *name, *kind;
    double ns;                  /* median ns per evaluation */
    int matched, of;            /* of the events cycled through */
} frow_t;

static void
row_print(const frow_t *r, bool json, bool *first)
{
    if (json) {
        printf("%s{\"name\": \"%s\", \"ns\": %.1f, \"per_s\": %.0f, \"matched\": %d, \"of\": %d}",
               *first ? "" : ", ", r->name, r->ns, 1e9 / r->ns, r->matched, r->of);
    } else {
        printf("%-15s %12.0f %9.1f   %d/%d   %s\n", r->name, 1e9 / r->ns, r->ns, r->matched,
               r->of, r->kind);
    }
    *first = false;
}

int
bench_filter(int runs, int ms, bool json)
{
    json_t *aev[EVENTS_MAX], *body;
    size_t na = sizeof(attr_cases) / sizeof(attr_cases[0]);
    size_t nb = sizeof(body_cases) / sizeof(body_cases[0]);
    double v[RUNS_MAX], attr_min = 0, body_min = 0, parse_ns, p1_ns;
    bool first = true;
    frow_t r;

    if (runs < 1 || runs > RUNS_MAX)
        runs = 3;
    sl_jalloc_install();        /* as sluiced does, before any json_t exists */
    for (int i = 0; i < EVENTS_MAX; i++)
        aev[i] = parse_or_die(attr_events[i]);
    body = parse_or_die(body_json);

    if (json)
        printf("{\"runs\": %d, \"body_bytes\": %zu, \"attribute\": [", runs,
               sizeof(body_json) - 1);
    else
        printf("sluice-bench filter: medians of %d runs of ~%d ms each, one thread\n\n"
               "attribute policies (event: an attribute map; 4 events in turn)\n"
               "%-15s %12s %9s %7s   %s\n", runs, ms, "policy", "evals/s", "ns/eval", "match",
               "what");
    for (size_t c = 0; c < na + nb; c++) {
        bool is_body = c >= na;
        const fcase_t *fc = is_body ? &body_cases[c - na] : &attr_cases[c];
        sl_filter_t *f = compile_or_die(fc);
        json_t *const *ev = is_body ? &body : aev;
        int nev = is_body ? 1 : EVENTS_MAX;
        uint64_t matched, iters = calibrate(time_matches(f, ev, nev, 2000, &matched), ms);
        int hits = 0;

        for (int e = 0; e < nev; e++)
            hits += sl_filter_match(f, ev[e]);

        if (c == na) {
            if (json)
                printf("], \"body\": [");
            else
                printf("\nbody policies (event: the parsed %zu-byte body)\n",
                       sizeof(body_json) - 1);
            first = true;
        }
        for (int i = 0; i < runs; i++)
            v[i] = time_matches(f, ev, nev, iters, &matched);
        r = (frow_t){ fc->name, fc->kind, median(v, runs), hits, nev };
        row_print(&r, json, &first);
        if (is_body)
            body_min = body_min == 0 || 1e9 / r.ns < body_min ? 1e9 / r.ns : body_min;
        else
            attr_min = attr_min == 0 || 1e9 / r.ns < attr_min ? 1e9 / r.ns : attr_min;
        sl_filter_destroy(f);
    }

    /* the body parsed once per message: alone, and with one typical evaluation */
    {
        sl_filter_t *f = compile_or_die(&body_cases[3]);
        uint64_t iters = calibrate(time_parse(NULL, 0, 200), ms);

        for (int i = 0; i < runs; i++)
            v[i] = time_parse(NULL, 0, iters);
        parse_ns = median(v, runs);
        for (int i = 0; i < runs; i++)
            v[i] = time_parse(f, 1, iters);
        p1_ns = median(v, runs);
        sl_filter_destroy(f);
    }
    if (json) {
        printf("], \"parse_ns\": %.1f, \"parse_plus_one_eval_ns\": %.1f,"
               " \"attribute_min_per_s\": %.0f, \"body_min_per_s\": %.0f}\n",
               parse_ns, p1_ns, attr_min, body_min);
    } else {
        printf("\nparse of the %zu-byte body by sl_json_parse: %.0f ns (%.0f/s)\n"
               "parse + one body-typical evaluation: %.0f ns (%.0f messages/s)\n"
               "slowest attribute policy: %.0f evals/s (target >= 1,000,000)\n"
               "slowest body policy, body parsed once: %.0f evals/s (target >= 200,000)\n",
               sizeof(body_json) - 1, parse_ns, 1e9 / parse_ns, p1_ns, 1e9 / p1_ns, attr_min,
               body_min);
    }
    for (int i = 0; i < EVENTS_MAX; i++)
        json_decref(aev[i]);
    json_decref(body);
    return 0;
}
