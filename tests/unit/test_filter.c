/* test_filter.c - the filter matcher: every EventBridge pattern vector in filter_vectors/
 * (match, _NEG, _EXC), AWS's documented SNS filter policy examples (attribute and payload
 * scope), SNS's limits and refusals, operator edge cases, malformed and truncated
 * patterns, and differential runs of the wildcard matcher and the IP parser against
 * dumb models (a recursive glob, inet_pton) over random input with a printed seed.
 * With SLUICE_BENCH=1 it also times matching and prints evaluations per second (no
 * timed assertions). */
#include <arpa/inet.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../triggers/filter_text.h"
#include "sluice/error.h"
#include "sluice/filter.h"

enum { MATCH, NOMATCH, ERROR };

typedef struct tcase {
    sl_filter_dialect_t d;
    const char *pattern;
    const char *event;          /* NULL for ERROR */
    int expect;
    const char *errsub;         /* ERROR: a substring of the message, or NULL */
} tcase_t;

static const char *const expect_name[] = {"MATCH", "NOMATCH", "ERROR"};

/* Compiles a copy of the NUL-terminated pattern in an exact-size block, so AddressSanitizer
 * sees any read past its end. */
static int
compile(const char *pattern, sl_filter_dialect_t d, sl_filter_t **f, char *err, size_t errlen)
{
    size_t len = strlen(pattern);
    char *copy = malloc(len > 0 ? len : 1);
    int rc;

    memcpy(copy, pattern, len);
    rc = sl_filter_compile(copy, len, d, f, err, errlen);
    free(copy);         /* the filter must not point into the text */
    return rc;
}

/* MATCH, NOMATCH or ERROR for one case; err gets the compile message. */
static int
outcome(sl_filter_dialect_t d, const char *pattern, const char *event, char *err, size_t errlen)
{
    sl_filter_t *f = NULL;
    json_error_t je;
    json_t *ev;
    bool m;
    int rc = compile(pattern, d, &f, err, errlen);

    if (rc != SL_OK) {
        assert_int_equal(rc, SL_EPROTO);
        assert_null(f);
        assert_true(err[0] != '\0');
        return ERROR;
    }
    assert_non_null(f);
    assert_string_equal(err, "");
    if (event == NULL) {
        sl_filter_destroy(f);
        return MATCH;
    }
    ev = json_loads(event, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (ev == NULL)
        fail_msg("bad test event %s: %s", event, je.text);
    m = sl_filter_match(f, ev);
    json_decref(ev);
    sl_filter_destroy(f);
    return m ? MATCH : NOMATCH;
}

static void
run_cases(const tcase_t *t, size_t n)
{
    char err[256];
    size_t i;
    int bad = 0;

    for (i = 0; i < n; i++) {
        int got = outcome(t[i].d, t[i].pattern, t[i].event, err, sizeof(err));

        if (got != t[i].expect
            || (got == ERROR && t[i].errsub != NULL && strstr(err, t[i].errsub) == NULL)) {
            print_message("case %zu: dialect %d pattern %s event %s: want %s%s%s, got %s (%s)\n",
                          i, (int)t[i].d, t[i].pattern, t[i].event ? t[i].event : "-",
                          expect_name[t[i].expect], t[i].errsub ? " " : "",
                          t[i].errsub ? t[i].errsub : "", expect_name[got], err);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

#define RUN(table) run_cases((table), sizeof(table) / sizeof((table)[0]))

/* ---- The EventBridge vectors ---- */

static void
vectors_dir(char *buf, size_t n)
{
    const char *f = __FILE__, *slash = strrchr(f, '/');

    if (slash == NULL)
        snprintf(buf, n, "filter_vectors");
    else
        snprintf(buf, n, "%.*s/filter_vectors", (int)(slash - f), f);
}

static json_t *
load(const char *dir, const char *name)
{
    char path[4096];
    json_error_t je;
    json_t *j;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        fail_msg("path too long: %s/%s", dir, name);
    if ((j = json_load_file(path, 0, &je)) == NULL)
        fail_msg("%s: %s", path, je.text);
    return j;
}

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Runs one vector; returns true when the outcome is what its name says. Patterns that
 * also compile as SNS policies must match the same way there: it is one engine. */
static bool
run_vector(const char *name, const json_t *pattern, const json_t *event)
{
    char *text = json_dumps(pattern, JSON_COMPACT | JSON_ENCODE_ANY);
    char *evtext = json_dumps(event, JSON_COMPACT | JSON_ENCODE_ANY);
    char err[256], err2[256];
    int want = ends_with(name, "_EXC.json") ? ERROR : ends_with(name, "_NEG.json") ? NOMATCH
                                                                                   : MATCH;
    int got = outcome(SL_FILTER_LAMBDA, text, evtext, err, sizeof(err));
    int sns = outcome(SL_FILTER_SNS, text, evtext, err2, sizeof(err2));

    if (got != want)
        print_message("vector %s: want %s, got %s %s\n", name, expect_name[want],
                      expect_name[got], got == ERROR ? err : "");
    if (sns != ERROR && sns != got) {
        print_message("vector %s: SNS dialect gives %s, Lambda %s\n", name, expect_name[sns],
                      expect_name[got]);
        got = -1;
    }
    free(text);
    free(evtext);
    return got == want;
}

static void
test_eventbridge_vectors(void **state)
{
    char dir[4096];
    struct dirent *de;
    DIR *d;
    int files = 0, passed = 0;

    (void)state;
    vectors_dir(dir, sizeof(dir));
    d = opendir(dir);
    if (d == NULL)
        fail_msg("cannot open %s", dir);
    while ((de = readdir(d)) != NULL) {
        json_t *doc, *pat;

        if (!ends_with(de->d_name, ".json"))
            continue;
        files++;
        if (strcmp(de->d_name, "complex_multi_key_event_pattern.json") == 0)
            continue;
        if (strcmp(de->d_name, "complex_multi_key_event.json") == 0) {
            doc = load(dir, de->d_name);
            pat = load(dir, "complex_multi_key_event_pattern.json");
            passed += run_vector(de->d_name, pat, doc) ? 2 : 0;
            json_decref(pat);
            json_decref(doc);
            continue;
        }
        doc = load(dir, de->d_name);
        pat = json_object_get(doc, "EventPattern");
        assert_non_null(pat);
        assert_non_null(json_object_get(doc, "Event"));
        passed += run_vector(de->d_name, pat, json_object_get(doc, "Event"));
        json_decref(doc);
    }
    closedir(d);
    print_message("filter vectors: %d/%d files pass\n", passed, files);
    assert_int_equal(files, 157);
    assert_int_equal(passed, files);
}

/* ---- SNS, from AWS's documentation ---- */

/* The message attributes of AWS's example message, as the SNS layer hands them over. */
#define ATTRS "{\"customer_interests\": [\"soccer\", \"rugby\", \"hockey\"], " \
    "\"store\": \"example_corp\", \"event\": \"order_placed\", \"price_usd\": 210.75}"

static const tcase_t sns_attribute_cases[] = {
    {SL_FILTER_SNS_ATTRS, "{\"store\": [\"example_corp\"], \"event\": [{\"anything-but\": "
     "\"order_cancelled\"}], \"customer_interests\": [\"rugby\", \"football\", \"baseball\"], "
     "\"price_usd\": [{\"numeric\": [\">=\", 100]}]}", ATTRS, MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"store\": [\"example_corp\"], \"event\": [\"order_cancelled\"]}",
     ATTRS, NOMATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"store\": [\"example_corp\"], \"price_usd\": [{\"numeric\": "
     "[\">\", 300]}]}", ATTRS, NOMATCH, NULL},
    /* exact: a String.Array matches when any element does */
    {SL_FILTER_SNS_ATTRS, "{\"customer_interests\": [\"rugby\", \"tennis\"]}", ATTRS, MATCH,
     NULL},
    {SL_FILTER_SNS_ATTRS, "{\"customer_interests\": [\"baseball\"]}", ATTRS, NOMATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"customer_interests\": [\"rugby\", \"tennis\"]}",
     "{\"customer_interests\": \"tennis\"}", MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"customer_interests\": [\"rugby\", \"tennis\"]}",
     "{\"customer_interests\": \"baseball\"}", NOMATCH, NULL},
    /* anything-but */
    {SL_FILTER_SNS_ATTRS, "{\"customer_interests\": [{\"anything-but\": [\"rugby\", "
     "\"tennis\"]}]}", "{\"customer_interests\": \"football\"}", MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"customer_interests\": [{\"anything-but\": [\"rugby\", "
     "\"tennis\"]}]}", "{\"customer_interests\": \"rugby\"}", NOMATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"price\": [{\"anything-but\": [100, 500]}]}", "{\"price\": 101}",
     MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"price\": [{\"anything-but\": [100, 500]}]}",
     "{\"price\": 100.1}", MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"price\": [{\"anything-but\": [100, 500]}]}",
     "{\"price\": [100, 50]}", MATCH, NULL},       /* 50 is neither */
    {SL_FILTER_SNS_ATTRS, "{\"price\": [{\"anything-but\": [100, 500]}]}", "{\"price\": 100}",
     NOMATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"event\": [{\"anything-but\": {\"prefix\": \"order-\"}}]}",
     "{\"event\": \"data-entry\"}", MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"event\": [{\"anything-but\": {\"prefix\": \"order-\"}}]}",
     "{\"event\": \"order-cancelled\"}", NOMATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"event\": [{\"anything-but\": {\"suffix\": \"-cancelled\"}}]}",
     "{\"event\": \"order-cancelled\"}", NOMATCH, NULL},
    /* numeric: exact and ranges */
    {SL_FILTER_SNS_ATTRS, "{\"price_usd\": [{\"numeric\": [\"=\", 301.5]}]}",
     "{\"price_usd\": 301.5}", MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"price_usd\": [{\"numeric\": [\"=\", 301.5]}]}",
     "{\"price_usd\": 3.015e2}", MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"price_usd\": [{\"numeric\": [\">\", 0, \"<=\", 150]}]}",
     "{\"price_usd\": 150}", MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"price_usd\": [{\"numeric\": [\">\", 0, \"<=\", 150]}]}",
     "{\"price_usd\": 0}", NOMATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"price_usd\": [{\"numeric\": [\">\", 0, \"<=\", 150]}]}", ATTRS,
     NOMATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"price_usd\": [{\"numeric\": [\"<\", 0]}]}",
     "{\"price_usd\": -1e-3}", MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"price_usd\": [{\"numeric\": [\">\", 100]}]}",
     "{\"price_usd\": \"210\"}", NOMATCH, NULL},   /* a String attribute is not a number */
    /* prefix, suffix, equals-ignore-case */
    {SL_FILTER_SNS_ATTRS, "{\"customer_interests\": [{\"prefix\": \"bas\"}]}",
     "{\"customer_interests\": [\"baseball\", \"basketball\"]}", MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"customer_interests\": [{\"prefix\": \"bas\"}]}",
     "{\"customer_interests\": \"rugby\"}", NOMATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"customer_interests\": [{\"suffix\": \"ball\"}]}",
     "{\"customer_interests\": \"baseball\"}", MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"customer_interests\": [{\"equals-ignore-case\": \"tennis\"}]}",
     "{\"customer_interests\": \"TeNnIs\"}", MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"customer_interests\": [{\"equals-ignore-case\": \"tennis\"}]}",
     "{\"customer_interests\": \"Baseball\"}", NOMATCH, NULL},
    /* exists */
    {SL_FILTER_SNS_ATTRS, "{\"store\": [{\"exists\": true}]}", ATTRS, MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"store\": [{\"exists\": false}]}", ATTRS, NOMATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"encrypted\": [{\"exists\": false}]}", ATTRS, MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"encrypted\": [{\"exists\": true}]}", ATTRS, NOMATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"store\": [\"example_corp\"], \"encrypted\": [{\"exists\": "
     "false}]}", ATTRS, MATCH, NULL},
    /* IP address */
    {SL_FILTER_SNS_ATTRS, "{\"source_ip\": [{\"cidr\": \"10.0.0.0/24\"}]}",
     "{\"source_ip\": \"10.0.0.255\"}", MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"source_ip\": [{\"cidr\": \"10.0.0.0/24\"}]}",
     "{\"source_ip\": \"10.1.1.0\"}", NOMATCH, NULL},
    /* AND across keys, a missing key fails */
    {SL_FILTER_SNS_ATTRS, "{\"store\": [\"example_corp\"], \"region\": [\"us-east-1\"]}",
     ATTRS, NOMATCH, NULL},
    /* $or */
    {SL_FILTER_SNS_ATTRS, "{\"store\": [\"example_corp\"], \"$or\": [{\"event\": "
     "[\"order_cancelled\"]}, {\"price_usd\": [{\"numeric\": [\">\", 200]}]}]}", ATTRS, MATCH,
     NULL},
    {SL_FILTER_SNS_ATTRS, "{\"store\": [\"example_corp\"], \"$or\": [{\"event\": "
     "[\"order_cancelled\"]}, {\"price_usd\": [{\"numeric\": [\">\", 300]}]}]}", ATTRS,
     NOMATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"source\": [\"aws.cloudwatch\"], \"$or\": [{\"metricName\": "
     "[\"CPUUtilization\", \"ReadLatency\"]}, {\"metricType\": [\"MetricType\"], \"$or\": "
     "[{\"metricId\": [1234, 4321]}, {\"spaceId\": [1000, 2000, 3000]}]}]}",
     "{\"source\": \"aws.cloudwatch\", \"metricType\": \"MetricType\", \"spaceId\": 2000}",
     MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"source\": [\"aws.cloudwatch\"], \"$or\": [{\"metricName\": "
     "[\"CPUUtilization\", \"ReadLatency\"]}, {\"metricType\": [\"MetricType\"], \"$or\": "
     "[{\"metricId\": [1234, 4321]}, {\"spaceId\": [1000, 2000, 3000]}]}]}",
     "{\"source\": \"aws.cloudwatch\", \"spaceId\": 2000}", NOMATCH, NULL},
    /* an attribute name with dots is one name, not a path */
    {SL_FILTER_SNS_ATTRS, "{\"app.kind\": [\"web\"]}", "{\"app.kind\": \"web\"}", MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"store\": {\"name\": [\"example_corp\"]}}", NULL, ERROR,
     "Filter policy scope MessageAttributes does not support nested filter policy"},
};

static void
test_sns_attribute_policies(void **state)
{
    (void)state;
    RUN(sns_attribute_cases);
}

#define BODY "{\"customer_interests\": [\"soccer\", \"rugby\", \"hockey\"], " \
    "\"store\": {\"name\": \"example_corp\", \"location\": {\"city\": \"Seattle\", " \
    "\"zip\": \"98101\"}}, \"event\": \"order_placed\", \"price_usd\": 210.75, " \
    "\"order\": {\"items\": [{\"sku\": \"A-1\", \"qty\": 2}, {\"sku\": \"B-7\", \"qty\": 1}]}}"

static const tcase_t sns_payload_cases[] = {
    {SL_FILTER_SNS, "{\"store\": [\"example_corp\"]}", "{\"store\": \"example_corp\"}", MATCH,
     NULL},
    {SL_FILTER_SNS, "{\"customer_interests\": [\"rugby\"], \"price_usd\": [{\"numeric\": "
     "[\">\", 100]}]}", BODY, MATCH, NULL},
    {SL_FILTER_SNS, "{\"store\": {\"location\": {\"city\": [\"Seattle\"]}}, \"price_usd\": "
     "[{\"numeric\": [\">=\", 100]}]}", BODY, MATCH, NULL},
    {SL_FILTER_SNS, "{\"store\": {\"location\": {\"city\": [\"Portland\"]}}}", BODY, NOMATCH,
     NULL},
    {SL_FILTER_SNS, "{\"store\": {\"name\": [{\"prefix\": \"example\"}], \"location\": "
     "{\"zip\": [{\"anything-but\": [\"98102\"]}]}}}", BODY, MATCH, NULL},
    /* nested keys match only objects: a string store has no name */
    {SL_FILTER_SNS, "{\"store\": {\"name\": [\"example_corp\"]}}",
     "{\"store\": \"example_corp\"}", NOMATCH, NULL},
    /* arrays of objects: both keys within one element */
    {SL_FILTER_SNS, "{\"order\": {\"items\": {\"sku\": [\"A-1\"], \"qty\": [2]}}}", BODY, MATCH,
     NULL},
    {SL_FILTER_SNS, "{\"order\": {\"items\": {\"sku\": [\"A-1\"], \"qty\": [1]}}}", BODY,
     NOMATCH, NULL},
    /* a non-object body: only exists:false can match */
    {SL_FILTER_SNS, "{\"store\": [{\"exists\": false}]}", "\"plain text\"", MATCH, NULL},
    {SL_FILTER_SNS, "{\"store\": [\"example_corp\"]}", "[1, 2]", NOMATCH, NULL},
    {SL_FILTER_SNS, "{\"store\": {\"name\": [{\"exists\": false}]}}", "3", MATCH, NULL},
    {SL_FILTER_SNS, "{\"store\": {\"name\": [\"x\"]}}", "null", NOMATCH, NULL},
    {SL_FILTER_SNS, "{\"store\": {\"location\": {\"country\": [{\"exists\": false}]}}}", BODY,
     MATCH, NULL},
    {SL_FILTER_SNS, "{\"store\": {\"location\": [{\"exists\": true}]}}", BODY, NOMATCH,
     NULL},     /* an object is not a leaf */
};

static void
test_sns_payload_policies(void **state)
{
    (void)state;
    RUN(sns_payload_cases);
}

/* ---- SNS limits and refusals ---- */

static char *
values(int n, int base)
{
    char *s = malloc(16 * (size_t)n + 3), *p = s;
    int i;

    *p++ = '[';
    for (i = 0; i < n; i++)
        p += sprintf(p, "%s%d", i > 0 ? "," : "", base + i);
    *p++ = ']';
    *p = '\0';
    return s;
}

static int
compile_outcome(sl_filter_dialect_t d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
compile_outcome(sl_filter_dialect_t d, const char *fmt, ...)
{
    char text[8192], err[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    return outcome(d, text, NULL, err, sizeof(err));
}

static const tcase_t sns_limit_cases[] = {
    {SL_FILTER_SNS_ATTRS, "{\"a\": [1], \"b\": [1], \"c\": [1], \"d\": [1], \"e\": [1]}",
     "{\"a\": 1, \"b\": 1, \"c\": 1, \"d\": 1, \"e\": 1}", MATCH, NULL},
    {SL_FILTER_SNS_ATTRS, "{\"a\": [1], \"b\": [1], \"c\": [1], \"d\": [1], \"e\": [1], "
     "\"f\": [1]}", NULL, ERROR, "Filter policy can not have more than 5 keys"},
    {SL_FILTER_SNS, "{\"a\": [1], \"b\": [1], \"c\": [1], \"d\": [1], \"e\": [1], "
     "\"f\": [1]}", NULL, ERROR, "Filter policy can not have more than 5 keys"},
    /* payload scope counts leaf keys: 4 top-level keys but 6 leaves */
    {SL_FILTER_SNS, "{\"a\": {\"x\": [1], \"y\": [1], \"z\": [1]}, \"b\": [1], \"c\": [1], "
     "\"d\": [1]}", NULL, ERROR, "Filter policy can not have more than 5 keys"},
    {SL_FILTER_SNS, "{\"a\": {\"x\": [1], \"y\": {\"q\": [1]}}, \"b\": [1], \"c\": [1]}",
     "{\"a\": {\"x\": 1, \"y\": {\"q\": 1}}, \"b\": 1, \"c\": 1}", MATCH, NULL},
    /* with $or, the keys of one expanded policy count: 3 + the widest branch (2) */
    {SL_FILTER_SNS, "{\"a\": [1], \"b\": [1], \"c\": [1], \"$or\": [{\"d\": [1], \"e\": [1]}, "
     "{\"f\": [1]}]}", "{\"a\": 1, \"b\": 1, \"c\": 1, \"f\": 1}", MATCH, NULL},
    {SL_FILTER_SNS, "{\"a\": [1], \"b\": [1], \"c\": [1], \"$or\": [{\"d\": [1], \"e\": [1], "
     "\"g\": [1]}, {\"f\": [1]}]}", NULL, ERROR, "more than 5 keys"},
    /* Lambda has no such limits */
    {SL_FILTER_LAMBDA, "{\"a\": [1], \"b\": [1], \"c\": [1], \"d\": [1], \"e\": [1], "
     "\"f\": [1]}", "{\"a\": 1, \"b\": 1, \"c\": 1, \"d\": 1, \"e\": 1, \"f\": 1}", MATCH,
     NULL},
    /* refusals: operators SNS does not have */
    {SL_FILTER_SNS, "{\"a\": [{\"wildcard\": \"x*\"}]}", NULL, ERROR,
     "Unrecognized match type wildcard"},
    {SL_FILTER_SNS_ATTRS, "{\"a\": [{\"wildcard\": \"x*\"}]}", NULL, ERROR,
     "Unrecognized match type wildcard"},
    {SL_FILTER_SNS, "{\"a\": [{\"anything-but\": {\"wildcard\": \"x*\"}}]}", NULL, ERROR,
     "Unsupported anything-but pattern: wildcard"},
    {SL_FILTER_SNS, "{\"a\": [{\"anything-but\": {\"equals-ignore-case\": \"x\"}}]}", NULL,
     ERROR, "Unsupported anything-but pattern"},
    {SL_FILTER_SNS, "{\"a\": [{\"prefix\": {\"equals-ignore-case\": \"x\"}}]}", NULL, ERROR,
     "prefix match pattern must be a string"},
    {SL_FILTER_SNS, "{\"a\": [{\"suffix\": {\"equals-ignore-case\": \"x\"}}]}", NULL, ERROR,
     "suffix match pattern must be a string"},
    {SL_FILTER_SNS, "{\"a\": [{\"anything-but\": {\"prefix\": [\"x\", \"y\"]}}]}", NULL,
     ERROR, "must be a string"},
    {SL_FILTER_LAMBDA, "{\"a\": [{\"wildcard\": \"x*\"}]}", "{\"a\": \"xy\"}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"a\": [{\"anything-but\": {\"prefix\": [\"x\", \"y\"]}}]}",
     "{\"a\": \"zz\"}", MATCH, NULL},
};

static void
test_sns_limits(void **state)
{
    char *a10 = values(10, 0), *b15 = values(15, 0), *b16 = values(16, 0);
    char *a3 = values(3, 0), *b49 = values(49, 0), *b50 = values(50, 0);

    (void)state;
    RUN(sns_limit_cases);
    /* 10 x 15 = 150 is the most; 10 x 16 is too complex */
    assert_int_equal(compile_outcome(SL_FILTER_SNS, "{\"a\": %s, \"b\": %s}", a10, b15),
                     MATCH);
    assert_int_equal(compile_outcome(SL_FILTER_SNS, "{\"a\": %s, \"b\": %s}", a10, b16),
                     ERROR);
    assert_int_equal(compile_outcome(SL_FILTER_SNS_ATTRS, "{\"a\": %s, \"b\": %s}", a10, b16),
                     ERROR);
    assert_int_equal(compile_outcome(SL_FILTER_LAMBDA, "{\"a\": %s, \"b\": %s}", a10, b16),
                     MATCH);
    /* $or sums its branches: 3 x (49 + 1) = 150, 3 x (50 + 1) = 153 */
    assert_int_equal(compile_outcome(SL_FILTER_SNS, "{\"a\": %s, \"$or\": [{\"b\": %s}, "
                                     "{\"c\": [1]}]}", a3, b49), MATCH);
    assert_int_equal(compile_outcome(SL_FILTER_SNS, "{\"a\": %s, \"$or\": [{\"b\": %s}, "
                                     "{\"c\": [1]}]}", a3, b50), ERROR);
    free(a10);
    free(b15);
    free(b16);
    free(a3);
    free(b49);
    free(b50);
}

static void
test_sns_limit_messages(void **state)
{
    char *a10 = values(10, 0), *b16 = values(16, 0), text[512], err[256];
    sl_filter_t *f = NULL;

    (void)state;
    snprintf(text, sizeof(text), "{\"a\": %s, \"b\": %s}", a10, b16);
    assert_int_equal(compile(text, SL_FILTER_SNS, &f, err, sizeof(err)), SL_EPROTO);
    assert_string_equal(err, "Filter policy is too complex");
    assert_int_equal(compile("{\"a\": [1], \"b\": [1], \"c\": [1], \"d\": [1], \"e\": [1], "
                             "\"f\": [1]}", SL_FILTER_SNS, &f, err, sizeof(err)), SL_EPROTO);
    assert_string_equal(err, "Filter policy can not have more than 5 keys");
    free(a10);
    free(b16);
}

/* ---- Operators ---- */

static const tcase_t operator_cases[] = {
    /* numbers compare as numbers */
    {SL_FILTER_LAMBDA, "{\"n\": [5]}", "{\"n\": 5.0}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"n\": [5.0]}", "{\"n\": 5}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"n\": [5]}", "{\"n\": \"5\"}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"n\": [\"5\"]}", "{\"n\": 5}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"n\": [{\"numeric\": [\"=\", 5]}]}", "{\"n\": 5.0}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"n\": [{\"numeric\": [\">=\", 1, \"<\", 2]}]}", "{\"n\": 2}", NOMATCH,
     NULL},
    {SL_FILTER_LAMBDA, "{\"n\": [{\"numeric\": [\">=\", 1, \"<\", 2]}]}", "{\"n\": 1}", MATCH,
     NULL},
    {SL_FILTER_LAMBDA, "{\"n\": [{\"numeric\": [\"<\", 2, \">=\", 1]}]}", "{\"n\": 1.5}",
     MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"n\": [{\"numeric\": [\">\", -1e3]}]}", "{\"n\": -999}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"n\": [{\"numeric\": [\">\", 0]}]}", "{\"n\": true}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"n\": [{\"numeric\": [\">\", 0]}]}", "{\"n\": [\"1\", 2]}", MATCH,
     NULL},
    {SL_FILTER_LAMBDA, "{\"n\": [{\"numeric\": [\">\", 5, \"<\", 5]}]}", NULL, ERROR,
     "Bottom must be less than top"},
    {SL_FILTER_LAMBDA, "{\"n\": [{\"numeric\": [\">\", 6, \"<\", 5]}]}", NULL, ERROR, NULL},
    {SL_FILTER_LAMBDA, "{\"n\": [{\"numeric\": [\">=\", 5, \"<=\", 5]}]}", "{\"n\": 5}", MATCH,
     NULL},
    {SL_FILTER_LAMBDA, "{\"n\": [{\"numeric\": [\"=\", 5, \"<\", 6]}]}", NULL, ERROR, NULL},
    {SL_FILTER_LAMBDA, "{\"n\": [{\"numeric\": [\"<\", \"5\"]}]}", NULL, ERROR,
     "Value of < must be numeric"},
    {SL_FILTER_LAMBDA, "{\"n\": [{\"numeric\": [\"!=\", 5]}]}", NULL, ERROR,
     "Unrecognized numeric range operator"},
    {SL_FILTER_LAMBDA, "{\"n\": [{\"numeric\": [\">\", 0, \"<\", 5, \"=\", 2]}]}", NULL, ERROR,
     "Too many elements"},
    {SL_FILTER_LAMBDA, "{\"n\": [{\"numeric\": []}]}", NULL, ERROR, NULL},
    /* literals */
    {SL_FILTER_LAMBDA, "{\"b\": [true]}", "{\"b\": true}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"b\": [true]}", "{\"b\": \"true\"}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"b\": [null]}", "{}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"b\": [null, \"x\"]}", "{\"b\": [\"y\", null]}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [\"a\\u0000b\"]}", "{\"s\": \"a\\u0000b\"}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [\"a\\u0000b\"]}", "{\"s\": \"a\"}", NOMATCH, NULL},
    /* prefix, suffix and their ignore-case forms */
    {SL_FILTER_LAMBDA, "{\"s\": [{\"prefix\": \"\"}]}", "{\"s\": 1}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"suffix\": \".PNG\"}]}", "{\"s\": \"a.png\"}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"suffix\": {\"equals-ignore-case\": \".PNG\"}}]}",
     "{\"s\": \"a.png\"}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"suffix\": {\"equals-ignore-case\": \".png\"}}]}",
     "{\"s\": \"png\"}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"prefix\": {\"equals-ignore-case\": \"ÉCO\"}}]}",
     "{\"s\": \"école\"}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"prefix\": {\"equals-ignore-case\": 1}}]}", NULL, ERROR,
     "equals-ignore-case match pattern must be a string"},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"prefix\": {\"equals-ignore-case\": \"a\", \"x\": 1}}]}",
     NULL, ERROR, "prefix match pattern must be a string"},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"equals-ignore-case\": \"ПРИВЕТ мир\"}]}",
     "{\"s\": \"привет МИР\"}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"equals-ignore-case\": \"Straße\"}]}",
     "{\"s\": \"STRASSE\"}", NOMATCH, NULL},   /* simple folding only: no ß -> ss */
    {SL_FILTER_LAMBDA, "{\"s\": [{\"equals-ignore-case\": \"Ωμέγα\"}]}",
     "{\"s\": \"ΩΜΈΓΑ\"}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"equals-ignore-case\": \"abc\"}]}", "{\"s\": \"abcd\"}",
     NOMATCH, NULL},
    /* anything-but */
    {SL_FILTER_LAMBDA, "{\"s\": [{\"anything-but\": [\"a\", 1]}]}", "{\"s\": \"1\"}", MATCH,
     NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"anything-but\": [\"a\", 1]}]}", "{\"s\": 1.0}", NOMATCH,
     NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"anything-but\": \"a\"}]}", "{\"s\": true}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"anything-but\": \"a\"}]}", "{\"s\": [\"a\", \"a\"]}",
     NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"anything-but\": \"a\"}]}", "{\"s\": []}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"anything-but\": []}]}", NULL, ERROR,
     "Empty arrays are not allowed"},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"anything-but\": [true]}]}", NULL, ERROR, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"anything-but\": {\"numeric\": [\">\", 1]}}]}", NULL, ERROR,
     "Unsupported anything-but pattern: numeric"},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"anything-but\": {}}]}", NULL, ERROR, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"anything-but\": {\"prefix\": \"a\", \"suffix\": \"b\"}}]}",
     NULL, ERROR, "Only one key allowed"},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"anything-but\": {\"equals-ignore-case\": [\"A\", \"b\"]}}]}",
     "{\"s\": \"B\"}", NOMATCH, NULL},
    /* wildcard */
    {SL_FILTER_LAMBDA, "{\"s\": [{\"wildcard\": \"*\"}]}", "{\"s\": \"\"}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"wildcard\": \"*\"}]}", "{\"s\": 1}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"wildcard\": \"a*a\"}]}", "{\"s\": \"a\"}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"wildcard\": \"a*a\"}]}", "{\"s\": \"aa\"}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"wildcard\": \"a\\\\*b\"}]}", "{\"s\": \"a*b\"}", MATCH,
     NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"wildcard\": \"a\\\\*b\"}]}", "{\"s\": \"axb\"}", NOMATCH,
     NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"wildcard\": \"a\\\\\\\\*\"}]}", "{\"s\": \"a\\\\xyz\"}",
     MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"wildcard\": \"*\\\\**\"}]}", "{\"s\": \"x*y\"}", MATCH,
     NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"wildcard\": \"a\\\\b\"}]}", NULL, ERROR,
     "Invalid escape character at pos 1"},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"wildcard\": \"ab\\\\\"}]}", NULL, ERROR, "Invalid escape"},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"wildcard\": \"a**\"}]}", NULL, ERROR,
     "Consecutive wildcard characters at pos 2"},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"wildcard\": \"*a*b*c*d*\"}]}", "{\"s\": \"xaybzcwdv\"}",
     MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"s\": [{\"wildcard\": \"*a*b*c*d*e*\"}]}", NULL, ERROR,
     "Rule is too complex"},
    /* cidr */
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"10.0.0.1/24\"}]}", "{\"ip\": \"10.0.0.9\"}",
     MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"0.0.0.0/0\"}]}", "{\"ip\": \"255.1.2.3\"}",
     MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"0.0.0.0/0\"}]}", "{\"ip\": \"::1\"}", NOMATCH,
     NULL},
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"192.168.1.7\"}]}", "{\"ip\": \"192.168.1.7\"}",
     MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"192.168.1.7\"}]}", "{\"ip\": \"192.168.1.8\"}",
     NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"::1/128\"}]}",
     "{\"ip\": \"0:0:0:0:0:0:0:1\"}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"::ffff:10.0.0.0/120\"}]}",
     "{\"ip\": \"::FFFF:10.0.0.200\"}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"::ffff:10.0.0.0/120\"}]}",
     "{\"ip\": \"10.0.0.200\"}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"2001:db8::/32\"}]}",
     "{\"ip\": [\"nope\", \"2001:db8:ffff::1\"]}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"10.0.0.0/33\"}]}", NULL, ERROR, "Malformed CIDR"},
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"10.0.0.0/\"}]}", NULL, ERROR, NULL},
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"10.0.0/8\"}]}", NULL, ERROR, NULL},
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"10.0.0.01/8\"}]}", NULL, ERROR, NULL},
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"1::2::3/64\"}]}", NULL, ERROR, NULL},
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"::/129\"}]}", NULL, ERROR, NULL},
    {SL_FILTER_LAMBDA, "{\"ip\": [{\"cidr\": \"::/0\"}]}", "{\"ip\": \"fe80::1%eth0\"}",
     NOMATCH, NULL},
    /* exists: leaves only */
    {SL_FILTER_LAMBDA, "{\"a\": [{\"exists\": true}]}", "{\"a\": null}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"a\": [{\"exists\": true}]}", "{\"a\": [[], [[7]]]}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"a\": [{\"exists\": true}]}", "{\"a\": [{}, []]}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"a\": [{\"exists\": false}]}", "{\"a\": {\"b\": 1}}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"a\": [{\"exists\": \"true\"}]}", NULL, ERROR,
     "exists match pattern must be either true or false."},
    {SL_FILTER_LAMBDA, "{\"a\": [{\"exists\": true}, {\"exists\": false}]}", "{}", MATCH, NULL},
    /* pattern shape */
    {SL_FILTER_LAMBDA, "{\"a\": [[1]]}", NULL, ERROR, "Match value must be String, number, "
     "true, false, or null"},
    {SL_FILTER_LAMBDA, "{\"a\": [{}]}", NULL, ERROR, "Empty objects are not allowed"},
    {SL_FILTER_LAMBDA, "{\"a\": {}}", NULL, ERROR, "Empty objects are not allowed"},
    {SL_FILTER_LAMBDA, "{\"a\": [{\"prefix\": \"x\", \"suffix\": \"y\"}]}", NULL, ERROR,
     "Only one key allowed in match expression"},
    {SL_FILTER_LAMBDA, "{\"a\": [{\"contains\": \"x\"}]}", NULL, ERROR,
     "Unrecognized match type contains"},
    {SL_FILTER_LAMBDA, "{\"a\": {\"b\": null}}", NULL, ERROR,
     "Value of b must be an object or an array"},
    {SL_FILTER_LAMBDA, "{}", "{\"anything\": 1}", MATCH, NULL},
    {SL_FILTER_SNS, "{}", "{}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"a\": [1], \"a\": [2]}", "{\"a\": 2}", MATCH, NULL},   /* last wins */
    /* dotted keys: pattern and event sides, and both mixed */
    {SL_FILTER_LAMBDA, "{\"a.b\": {\"c\": [1]}}", "{\"a\": {\"b.c\": 1}}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"a\": {\"b\": {\"c\": [1]}}}", "{\"a.b.c\": 1}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"a\": {\"b\": {\"c\": [1]}}}", "{\"a.b\": {\"c\": 2}, "
     "\"a\": {\"b\": {\"c\": 1}}}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"a\": {\"b\": {\"c\": [1]}}}", "{\"a.b\": [{\"c\": 2}], "
     "\"a\": {\"b\": [{\"c\": 3}]}}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"a..b\": [1]}", "{\"a\": {\"\": {\"b\": 1}}}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"a.\": [1]}", "{\"a\": {\"\": 1}}", MATCH, NULL},
    /* arrays of objects */
    {SL_FILTER_LAMBDA, "{\"e\": {\"first\": [\"Anna\"], \"last\": [\"Jones\"]}}",
     "{\"e\": [{\"first\": \"John\", \"last\": \"Doe\"}, {\"first\": \"Anna\", \"last\": "
     "\"Smith\"}, {\"first\": \"Peter\", \"last\": \"Jones\"}]}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"e\": {\"first\": [\"Anna\"], \"last\": [\"Smith\"]}}",
     "{\"e\": [[{\"first\": \"John\", \"last\": \"Doe\"}], [{\"first\": \"Anna\", \"last\": "
     "\"Smith\"}]]}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"e\": {\"first\": [{\"exists\": false}]}}", "{\"e\": []}", MATCH,
     NULL},
    {SL_FILTER_LAMBDA, "{\"e\": {\"first\": [{\"exists\": false}]}}",
     "{\"e\": [1, {\"first\": 2}]}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"e\": {\"x\": {\"y\": [1]}}}", "{\"e\": [{\"x\": [{\"y\": 0}, "
     "{\"y\": 1}]}]}", MATCH, NULL},
    /* $or: the operator, nested, and "$or" as a plain key */
    {SL_FILTER_LAMBDA, "{\"$or\": [{\"a\": [1]}, {\"$or\": [{\"b\": [2]}, {\"c\": [3]}]}]}",
     "{\"c\": 3}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"$or\": [{\"a\": [1]}, {\"$or\": [{\"b\": [2]}, {\"c\": [3]}]}]}",
     "{\"d\": 3}", NOMATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"$or\": [{\"a\": [1]}, {\"b\": [2]}], \"x\": {\"$or\": "
     "[{\"y\": [1]}, {\"z\": [1]}]}}", "{\"b\": 2, \"x\": {\"z\": 1}}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"$or\": [1, 2]}", "{\"$or\": 2}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"$or\": [{\"prefix\": \"a\"}, {\"suffix\": \"z\"}]}",
     "{\"$or\": \"xyz\"}", MATCH, NULL},
    {SL_FILTER_LAMBDA, "{\"$or\": [{\"a\": [1]}]}", NULL, ERROR, "Unrecognized match type a"},
    {SL_FILTER_LAMBDA, "{\"$or\": [{\"a\": [1]}, {}]}", NULL, ERROR, "Empty objects"},
};

static void
test_operators(void **state)
{
    (void)state;
    RUN(operator_cases);
}

/* ---- Malformed input ---- */

static void
test_malformed(void **state)
{
    static const char *const bad[] = {
        "", " ", "{", "}", "[]", "[{\"a\": [1]}]", "\"x\"", "1", "null", "{\"a\": [1],}",
        "{\"a\": [1]} x", "{\"a\" [1]}", "{'a': [1]}", "{\"a\": [1]", "{\"a\": 1}",
        "{\"a\": \"x\"}", "{\"a\": true}", "{\"a\": []}", "{\"a\": [\"\\ud800\"]}",
        "{\"a\": [\"\xff\"]}", "{\"a\": [1e999]}", "{\"a\": [99999999999999999999]}",
        "{\"a\\u0000b\": [1]}",
    };
    char err[256], *deep, *big;
    sl_filter_t *f = (sl_filter_t *)&err;      /* must be reset to NULL */
    size_t i, n;
    int d;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = compile(bad[i], SL_FILTER_LAMBDA, &f, err, sizeof(err));

        if (rc != SL_EPROTO)
            fail_msg("pattern %s compiled (rc %d)", bad[i], rc);
        assert_null(f);
        assert_true(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
    }
    /* NULL text, no error buffer, a short one */
    assert_int_equal(sl_filter_compile(NULL, 0, SL_FILTER_SNS, &f, NULL, 0), SL_EPROTO);
    assert_int_equal(sl_filter_compile("{\"a\": 1}", 8, SL_FILTER_SNS, &f, err, 4), SL_EPROTO);
    assert_int_equal(strlen(err), 3);
    assert_int_equal(sl_filter_compile("{\"a\": [1]}", 10, (sl_filter_dialect_t)7, &f, err,
                                       sizeof(err)), SL_EPROTO);
    /* length comes from len, not a NUL: text after len is not read */
    assert_int_equal(sl_filter_compile("{\"a\": [1]}garbage", 10, SL_FILTER_SNS, &f, err,
                                       sizeof(err)), SL_OK);
    sl_filter_destroy(f);
    assert_int_equal(sl_filter_compile("{\"a\": [1]}\0", 11, SL_FILTER_SNS, &f, err,
                                       sizeof(err)), SL_EPROTO);
    /* nesting: SL_FILTER_MAX_DEPTH objects deep compiles, one more does not */
    for (d = SL_FILTER_MAX_DEPTH; d <= SL_FILTER_MAX_DEPTH + 1; d++) {
        deep = malloc(16 * (size_t)d + 16);
        n = 0;
        for (i = 0; i < (size_t)d; i++)
            n += (size_t)sprintf(deep + n, "{\"k\":");
        n += (size_t)sprintf(deep + n, "[1]");
        for (i = 0; i < (size_t)d; i++)
            deep[n++] = '}';
        deep[n] = '\0';
        assert_int_equal(compile(deep, SL_FILTER_LAMBDA, &f, err, sizeof(err)),
                         d <= SL_FILTER_MAX_DEPTH ? SL_OK : SL_EPROTO);
        sl_filter_destroy(f);
        f = NULL;
        free(deep);
    }
    /* a dotted key nests as deep as its segments */
    deep = malloc(4 * SL_FILTER_MAX_DEPTH + 32);
    n = (size_t)sprintf(deep, "{\"");
    for (i = 0; i <= SL_FILTER_MAX_DEPTH; i++)
        n += (size_t)sprintf(deep + n, "%sk", i > 0 ? "." : "");
    sprintf(deep + n, "\": [1]}");
    assert_int_equal(compile(deep, SL_FILTER_LAMBDA, &f, err, sizeof(err)), SL_EPROTO);
    assert_string_equal(err, "Filter policy is nested too deeply");
    free(deep);
    /* length cap */
    big = malloc(SL_FILTER_MAX_LEN + 2);
    memset(big, ' ', SL_FILTER_MAX_LEN + 1);
    memcpy(big, "{\"a\": [1]}", 10);
    assert_int_equal(sl_filter_compile(big, SL_FILTER_MAX_LEN, SL_FILTER_SNS, &f, err,
                                       sizeof(err)), SL_OK);
    sl_filter_destroy(f);
    assert_int_equal(sl_filter_compile(big, SL_FILTER_MAX_LEN + 1, SL_FILTER_SNS, &f, err,
                                       sizeof(err)), SL_EPROTO);
    assert_non_null(strstr(err, "too long"));
    free(big);
    sl_filter_destroy(NULL);
}

/* Every strict prefix of a valid pattern is rejected cleanly, in every dialect. */
static void
test_truncated(void **state)
{
    static const char *const patterns[] = {
        "{\"store\": [\"example_corp\"], \"event\": [{\"anything-but\": \"order_cancelled\"}], "
        "\"price_usd\": [{\"numeric\": [\">=\", 100, \"<\", 1e3]}]}",
        "{\"a\": {\"b.c\": [{\"cidr\": \"2001:db8::/32\"}, {\"exists\": false}]}, \"$or\": "
        "[{\"x\": [{\"prefix\": \"p\"}]}, {\"y\": [null, true, -0.5]}]}",
    };
    char err[256];
    sl_filter_t *f = NULL;
    size_t i, k, n;
    int d;

    (void)state;
    for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        n = strlen(patterns[i]);
        for (d = SL_FILTER_LAMBDA; d <= SL_FILTER_SNS_ATTRS; d++) {
            for (k = 0; k < n; k++) {
                char *copy = malloc(k > 0 ? k : 1);

                memcpy(copy, patterns[i], k);
                assert_int_equal(sl_filter_compile(copy, k, (sl_filter_dialect_t)d, &f, err,
                                                   sizeof(err)), SL_EPROTO);
                assert_null(f);
                free(copy);
            }
        }
        assert_int_equal(compile(patterns[i], SL_FILTER_LAMBDA, &f, err, sizeof(err)), SL_OK);
        sl_filter_destroy(f);
    }
}

/* One parsed event serves many filters, and a filter many events; neither changes. */
static void
test_reuse(void **state)
{
    const char *pats[] = {"{\"a\": [1]}", "{\"a\": [2]}", "{\"b\": [{\"exists\": false}]}"};
    sl_filter_t *f[3];
    json_t *ev = json_loads("{\"a\": [1, 3]}", 0, NULL);
    char *before = json_dumps(ev, JSON_SORT_KEYS), *after, err[64];
    int i, round;

    (void)state;
    for (i = 0; i < 3; i++)
        assert_int_equal(compile(pats[i], SL_FILTER_SNS, &f[i], err, sizeof(err)), SL_OK);
    for (round = 0; round < 3; round++) {
        assert_true(sl_filter_match(f[0], ev));
        assert_false(sl_filter_match(f[1], ev));
        assert_true(sl_filter_match(f[2], ev));
    }
    assert_true(sl_filter_match(NULL, ev));
    assert_true(sl_filter_match(f[2], NULL));
    assert_false(sl_filter_match(f[0], NULL));
    after = json_dumps(ev, JSON_SORT_KEYS);
    assert_string_equal(before, after);
    for (i = 0; i < 3; i++)
        sl_filter_destroy(f[i]);
    json_decref(ev);
    free(before);
    free(after);
}

/* Deeply nested event arrays and wide views (many dotted keys) neither crash nor blow up. */
static void
test_hostile_events(void **state)
{
    sl_filter_t *f = NULL;
    json_t *ev, *inner;
    char err[64], key[64];
    clock_t t0;
    int i;

    (void)state;
    inner = json_integer(1);
    for (i = 0; i < 1000; i++) {
        json_t *a = json_array();

        json_array_append_new(a, inner);
        inner = a;
    }
    ev = json_object();
    json_object_set_new(ev, "a", inner);
    assert_int_equal(compile("{\"a\": [{\"exists\": true}]}", SL_FILTER_LAMBDA, &f, err,
                             sizeof(err)), SL_OK);
    assert_false(sl_filter_match(f, ev));  /* the value is too deep to be seen */
    sl_filter_destroy(f);
    assert_int_equal(compile("{\"a\": {\"b\": [{\"exists\": false}]}}", SL_FILTER_LAMBDA, &f,
                             err, sizeof(err)), SL_OK);
    assert_true(sl_filter_match(f, ev));
    sl_filter_destroy(f);
    json_decref(ev);

    /* k.k.k...: every prefix of the path exists as a dotted key holding arrays of objects */
    ev = json_object();
    for (i = 1; i <= 20; i++) {
        json_t *arr = json_array();
        int j;

        for (j = 0; j < 3; j++)
            json_array_append_new(arr, json_pack("{s:i}", "z", j));
        snprintf(key, sizeof(key), "k");
        for (j = 1; j < i; j++)
            strcat(key, ".k");
        json_object_set_new(ev, key, arr);
    }
    assert_int_equal(compile("{\"k\": {\"k\": {\"k\": {\"k\": {\"k\": {\"k\": {\"z\": [2], "
                             "\"y\": [{\"exists\": false}]}}}}}}}", SL_FILTER_LAMBDA, &f, err,
                             sizeof(err)), SL_OK);
    assert_true(sl_filter_match(f, ev));
    sl_filter_destroy(f);
    json_decref(ev);

    /* "a", "a.b", "a.b.c", "a.b.c.d": arrays at every level of one dotted path would be
     * 300^4 element combinations; the budget switches to merged arrays instead */
    ev = json_object();
    for (i = 0; i < 4; i++) {
        static const char *const keys[] = {"a", "a.b", "a.b.c", "a.b.c.d"};
        json_t *arr = json_array();
        int j;

        for (j = 0; j < 300; j++)
            json_array_append_new(arr, i < 3 ? json_object() : json_pack("{s:i}", "e", j));
        json_object_set_new(ev, keys[i], arr);
    }
    assert_int_equal(compile("{\"a\": {\"b\": {\"c\": {\"d\": {\"e\": [299]}}}}}",
                             SL_FILTER_LAMBDA, &f, err, sizeof(err)), SL_OK);
    t0 = clock();
    assert_true(sl_filter_match(f, ev));
    sl_filter_destroy(f);
    assert_int_equal(compile("{\"a\": {\"b\": {\"c\": {\"d\": {\"e\": [300]}}}}}",
                             SL_FILTER_LAMBDA, &f, err, sizeof(err)), SL_OK);
    assert_false(sl_filter_match(f, ev));
    print_message("hostile dotted-array event: %.1f ms for two matches\n",
                  (double)(clock() - t0) * 1000.0 / CLOCKS_PER_SEC);
    sl_filter_destroy(f);
    json_decref(ev);
}

/* ---- Differential tests of the text helpers ---- */

static uint64_t rng_state;

static uint32_t
rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33) % n;
}

/* The model: a plain recursive glob over the unescaped pattern tokens. */
static bool
glob_model(const char *p, const bool *star, size_t pn, const char *s, size_t sn)
{
    size_t k;

    if (pn == 0)
        return sn == 0;
    if (star[0]) {
        for (k = 0; k <= sn; k++)
            if (glob_model(p + 1, star + 1, pn - 1, s + k, sn - k))
                return true;
        return false;
    }
    return sn > 0 && s[0] == p[0] && glob_model(p + 1, star + 1, pn - 1, s + 1, sn - 1);
}

static void
test_wildcard_differential(void **state)
{
    static const char alphabet[] = "ab*\\";
    uint64_t seed = (uint64_t)time(NULL);
    int iter, agree = 0;

    (void)state;
    rng_state = seed;
    print_message("wildcard differential seed %llu\n", (unsigned long long)seed);
    for (iter = 0; iter < 20000; iter++) {
        char pat[12], s[12], lit[12], toks[12], err[128];
        bool star[12];
        uint32_t len[13];
        size_t pn = rnd(10), sn = rnd(10), i, nt = 0;
        int k;
        sl__filter_wild_t w;
        bool valid = true, after = false;

        for (i = 0; i < pn; i++)
            pat[i] = alphabet[rnd(4)];
        for (i = 0; i < sn; i++)
            s[i] = "ab*\\"[rnd(rnd(5) == 0 ? 4 : 2)];
        /* tokenise with the documented rules */
        for (i = 0; i < pn && valid; i++) {
            if (pat[i] == '*') {
                valid = !after;
                toks[nt] = '*';
                star[nt++] = true;
                after = true;
            } else if (pat[i] == '\\') {
                valid = i + 1 < pn && (pat[i + 1] == '*' || pat[i + 1] == '\\');
                if (valid) {
                    toks[nt] = pat[++i];
                    star[nt++] = false;
                }
                after = false;
            } else {
                toks[nt] = pat[i];
                star[nt++] = false;
                after = false;
            }
        }
        k = sl__filter_wild_compile(pat, pn, 100, lit, len, err, sizeof(err));
        assert_int_equal(k >= 0, valid);
        if (k < 0)
            continue;
        w.lit = lit;
        w.len = len;
        w.nchunks = (uint32_t)k;
        if (sl__filter_wild_match(&w, s, sn) != glob_model(toks, star, nt, s, sn))
            fail_msg("seed %llu: pattern %.*s subject %.*s", (unsigned long long)seed,
                     (int)pn, pat, (int)sn, s);
        agree++;
    }
    assert_true(agree > 1000);
}

static void
test_ip_differential(void **state)
{
    static const char alphabet[] = "0123456789abcdefABCDEF:.:.:::1/";
    static const char *const fixed[] = {
        "::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:8:9", "1::2::3", ":1::", "1:", "::ffff:1.2.3.4", "1:2:3:4:5:6:1.2.3.4",
        "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4.5", "::1.2.3", "::01.2.3.4", "12345::",
        "0.0.0.0", "255.255.255.255", "256.0.0.0", "1.2.3", "1.2.3.4.", "01.2.3.4", "1..2.3",
        "", ":", ":::", "1:2:3:4:5:6:7:8::", "abcd:ef01::0:1.1.1.1", "fffff::",
    };
    uint64_t seed = (uint64_t)time(NULL) ^ 0x9e3779b97f4a7c15ULL;
    int iter;

    (void)state;
    rng_state = seed;
    print_message("ip differential seed %llu\n", (unsigned long long)seed);
    for (iter = 0; iter < 200000 + (int)(sizeof(fixed) / sizeof(fixed[0])); iter++) {
        char s[48];
        uint8_t mine[16], ref[16];
        size_t n, i;
        int fam, want;

        if (iter < (int)(sizeof(fixed) / sizeof(fixed[0]))) {
            snprintf(s, sizeof(s), "%s", fixed[iter]);
            n = strlen(s);
        } else {
            n = rnd(40);
            for (i = 0; i < n; i++)
                s[i] = alphabet[rnd(sizeof(alphabet) - 1)];
            s[n] = '\0';
        }
        fam = sl__filter_ip_parse(s, n, mine);
        if (strchr(s, ':') != NULL)
            want = inet_pton(AF_INET6, s, ref) == 1 ? 6 : 0;
        else
            want = inet_pton(AF_INET, s, ref) == 1 ? 4 : 0;
        if (fam != want)
            fail_msg("seed %llu: \"%s\": parsed as %d, inet_pton says %d",
                     (unsigned long long)seed, s, fam, want);
        if (fam != 0)
            assert_memory_equal(mine, ref, fam == 4 ? 4 : 16);
    }
}

/* ---- Benchmark (SLUICE_BENCH=1) ---- */

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
bench_one(const char *label, sl_filter_dialect_t d, const char *pattern, const char *event,
          bool expect)
{
    sl_filter_t *f = NULL;
    json_t *ev = json_loads(event, 0, NULL);
    char err[128];
    double t0, t;
    long n = 0, hits = 0, batch = 100000;

    assert_non_null(ev);
    assert_int_equal(compile(pattern, d, &f, err, sizeof(err)), SL_OK);
    assert_int_equal(sl_filter_match(f, ev), expect);
    t0 = now_s();
    do {
        long i;

        for (i = 0; i < batch; i++)
            hits += sl_filter_match(f, ev);
        n += batch;
        t = now_s() - t0;
    } while (t < 1.0);
    print_message("bench %-44s %10.0f evaluations/s (%zu-byte event, %ld hits)\n", label,
                  (double)n / t, strlen(event), hits);
    sl_filter_destroy(f);
    json_decref(ev);
}

static void
test_bench(void **state)
{
    const char *payload_body =
        "{\"version\": \"1\", \"id\": \"7f8e2d4c-1a2b-4c3d-9e8f-0a1b2c3d4e5f\", "
        "\"source\": \"shop.orders\", \"time\": \"2024-05-14T16:49:36Z\", "
        "\"region\": \"eu-central-1\", \"account\": \"123456789012\", "
        "\"store\": {\"name\": \"example_corp\", \"id\": 4711, \"location\": {\"city\": "
        "\"Seattle\", \"zip\": \"98101\", \"country\": \"US\"}}, "
        "\"customer\": {\"id\": \"c-99812\", \"tier\": \"gold-plus\", \"email\": "
        "\"someone@example.com\", \"interests\": [\"soccer\", \"rugby\", \"hockey\"], "
        "\"address\": {\"street\": \"1 Main St\", \"city\": \"Seattle\"}}, "
        "\"order\": {\"id\": \"o-123456\", \"status\": \"placed\", \"total\": 210.75, "
        "\"currency\": \"USD\", \"items\": [{\"sku\": \"A-1\", \"qty\": 2, \"price\": 50.5}, "
        "{\"sku\": \"B-7\", \"qty\": 1, \"price\": 99.75}, {\"sku\": \"C-3\", \"qty\": 1, "
        "\"price\": 10}], \"notes\": \"leave at the door, ring twice, thank you\"}, "
        "\"payment\": {\"method\": \"card\", \"card\": {\"brand\": \"visa\", \"last4\": "
        "\"4242\"}, \"captured\": true}, \"shipping\": {\"method\": \"express\", \"eta_days\": "
        "2, \"carrier\": \"ups\", \"tracking\": \"1Z999AA10123456784\"}, "
        "\"source_ip\": \"10.0.12.34\", \"tags\": [\"web\", \"promo-2024\", \"returning\"], "
        "\"flags\": {\"gift\": false, \"fragile\": false, \"priority\": null}}";

    (void)state;
    if (getenv("SLUICE_BENCH") == NULL || strcmp(getenv("SLUICE_BENCH"), "1") != 0) {
        print_message("bench skipped (set SLUICE_BENCH=1)\n");
        return;
    }
    bench_one("SNS attributes: exact+anything-but+numeric", SL_FILTER_SNS_ATTRS,
              "{\"store\": [\"example_corp\"], \"event\": [{\"anything-but\": "
              "\"order_cancelled\"}], \"price_usd\": [{\"numeric\": [\">=\", 100]}]}",
              ATTRS, true);
    bench_one("SNS attributes: no match on first key", SL_FILTER_SNS_ATTRS,
              "{\"store\": [\"other_corp\"], \"event\": [{\"anything-but\": "
              "\"order_cancelled\"}], \"price_usd\": [{\"numeric\": [\">=\", 100]}]}",
              ATTRS, false);
    bench_one("SNS payload: nested, 5 keys", SL_FILTER_SNS,
              "{\"store\": {\"location\": {\"city\": [\"Seattle\", \"Portland\"]}}, "
              "\"customer\": {\"tier\": [{\"prefix\": \"gold\"}]}, \"order\": {\"status\": "
              "[{\"anything-but\": [\"cancelled\"]}], \"total\": [{\"numeric\": [\">\", 100]}], "
              "\"items\": {\"sku\": [\"B-7\"]}}}", payload_body, true);
    bench_one("Lambda payload: wildcard, cidr, $or", SL_FILTER_LAMBDA,
              "{\"source\": [{\"wildcard\": \"shop.*\"}], \"source_ip\": [{\"cidr\": "
              "\"10.0.0.0/16\"}], \"$or\": [{\"payment\": {\"captured\": [false]}}, "
              "{\"customer\": {\"email\": [{\"suffix\": {\"equals-ignore-case\": "
              "\"@EXAMPLE.COM\"}}]}}]}", payload_body, true);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eventbridge_vectors),
        cmocka_unit_test(test_sns_attribute_policies),
        cmocka_unit_test(test_sns_payload_policies),
        cmocka_unit_test(test_sns_limits),
        cmocka_unit_test(test_sns_limit_messages),
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_hostile_events),
        cmocka_unit_test(test_wildcard_differential),
        cmocka_unit_test(test_ip_differential),
        cmocka_unit_test(test_bench),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
