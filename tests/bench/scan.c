/* scan.c - the fast path for reading SQS answers in sluice-bench, and its self-test.
 * jansson builds a full tree and lexes a byte at a time: on this machine it needs
 * ~17 us for a 1.2 KB SendMessageBatch answer and ~66 us for a 5 KB ReceiveMessage
 * answer, three times what evhttp spends serving the request. A load generator that
 * slow measures itself. So most answers go through this scanner instead: it checks
 * the whole text is well-formed JSON (strings, escapes, numbers, nesting) but builds
 * nothing; it only counts the Successful/Failed/Messages entries and notes where
 * each message's ReceiptHandle and Body are, still escaped, which is exactly what a
 * DeleteMessageBatch request needs to copy back. jansson stays the authority: the
 * sampled answers whose MD5s are checked, and any answer the scanner refuses, are
 * parsed by jansson. `sluice-bench selftest` compares the two on canned, generated,
 * truncated and mutated answers. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define SCAN_DEPTH_MAX 32

typedef struct scanner {
    const char *p;
    const char *end;
    int depth;
} scanner_t;

typedef int (*key_fn)(scanner_t *s, const bench_span_t *key, void *arg);
typedef int (*elem_fn)(scanner_t *s, size_t index, void *arg);

static int skip_value(scanner_t *s);

static void
skip_ws(scanner_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool
is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
span_is(const bench_span_t *sp, const char *lit)
{
    size_t n = strlen(lit);

    return sp->len == n && memcmp(sp->p, lit, n) == 0;
}

/* A string at s->p; out (may be NULL) gets its raw, still escaped contents. */
static int
scan_string(scanner_t *s, bench_span_t *out)
{
    const char *start;

    if (s->p >= s->end || *s->p != '"')
        return SL_EPROTO;
    start = ++s->p;
    for (;;) {
        while (s->p < s->end && (unsigned char)*s->p >= 0x20 && *s->p != '"' && *s->p != '\\')
            s->p++;
        if (s->p >= s->end || *s->p != '"') {
            if (s->p >= s->end || *s->p != '\\')
                return SL_EPROTO;               /* truncated, or a raw control character */
            if (++s->p >= s->end)
                return SL_EPROTO;
            switch (*s->p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                s->p++;
                break;
            case 'u':
                if (s->end - s->p < 5 || !is_hex(s->p[1]) || !is_hex(s->p[2]) ||
                    !is_hex(s->p[3]) || !is_hex(s->p[4]))
                    return SL_EPROTO;
                s->p += 5;
                break;
            default:
                return SL_EPROTO;
            }
            continue;
        }
        if (out != NULL) {
            out->p = start;
            out->len = (size_t)(s->p - start);
        }
        s->p++;
        return SL_OK;
    }
}

static int
scan_number(scanner_t *s)
{
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p >= s->end)
        return SL_EPROTO;
    if (*s->p == '0') {
        s->p++;
    } else if (is_digit(*s->p)) {
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    } else {
        return SL_EPROTO;
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (s->p >= s->end || !is_digit(*s->p))
            return SL_EPROTO;
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (s->p >= s->end || !is_digit(*s->p))
            return SL_EPROTO;
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    }
    return SL_OK;
}

static int
scan_literal(scanner_t *s, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return SL_EPROTO;
    s->p += n;
    return SL_OK;
}

/* An object at s->p; fn (or skip_value) consumes each member's value. */
static int
scan_object(scanner_t *s, key_fn fn, void *arg)
{
    bench_span_t key;
    int rc;

    if (s->p >= s->end || *s->p != '{' || ++s->depth > SCAN_DEPTH_MAX)
        return SL_EPROTO;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        s->depth--;
        return SL_OK;
    }
    for (;;) {
        skip_ws(s);
        if ((rc = scan_string(s, &key)) < 0)
            return rc;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return SL_EPROTO;
        s->p++;
        skip_ws(s);
        if ((rc = fn != NULL ? fn(s, &key, arg) : skip_value(s)) < 0)
            return rc;
        skip_ws(s);
        if (s->p >= s->end)
            return SL_EPROTO;
        if (*s->p == '}')
            break;
        if (*s->p != ',')
            return SL_EPROTO;
        s->p++;
    }
    s->p++;
    s->depth--;
    return SL_OK;
}

/* An array at s->p; fn (or skip_value) consumes each element; *count gets their number. */
static int
scan_array(scanner_t *s, elem_fn fn, void *arg, size_t *count)
{
    size_t n = 0;
    int rc;

    if (s->p >= s->end || *s->p != '[' || ++s->depth > SCAN_DEPTH_MAX)
        return SL_EPROTO;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        s->depth--;
        *count = 0;
        return SL_OK;
    }
    for (;;) {
        skip_ws(s);
        if ((rc = fn != NULL ? fn(s, n, arg) : skip_value(s)) < 0)
            return rc;
        n++;
        skip_ws(s);
        if (s->p >= s->end)
            return SL_EPROTO;
        if (*s->p == ']')
            break;
        if (*s->p != ',')
            return SL_EPROTO;
        s->p++;
    }
    s->p++;
    s->depth--;
    *count = n;
    return SL_OK;
}

static int
skip_value(scanner_t *s)
{
    size_t n;

    if (s->p >= s->end)
        return SL_EPROTO;
    switch (*s->p) {
    case '"': return scan_string(s, NULL);
    case '{': return scan_object(s, NULL, NULL);
    case '[': return scan_array(s, NULL, NULL, &n);
    case 't': return scan_literal(s, "true");
    case 'f': return scan_literal(s, "false");
    case 'n': return scan_literal(s, "null");
    default: return scan_number(s);
    }
}

/* A string member we want, or anything else skipped (jansson's path treats a
 * non-string the same way: as absent). */
static int
take_string(scanner_t *s, bench_span_t *out)
{
    out->p = NULL;
    out->len = 0;
    if (s->p < s->end && *s->p == '"')
        return scan_string(s, out);
    return skip_value(s);
}

static int
message_key(scanner_t *s, const bench_span_t *key, void *arg)
{
    bench_scan_msg_t *m = arg;

    if (span_is(key, "ReceiptHandle"))
        return take_string(s, &m->handle);
    if (span_is(key, "Body"))
        return take_string(s, &m->body);
    return skip_value(s);
}

static int
message_elem(scanner_t *s, size_t index, void *arg)
{
    bench_scan_t *out = arg;
    bench_scan_msg_t *m;

    if (index >= BENCH_SCAN_MAX || s->p >= s->end || *s->p != '{')
        return SL_EPROTO;
    m = &out->msgs[index];
    memset(m, 0, sizeof(*m));
    return scan_object(s, message_key, m);
}

/* Counts the elements of an array member; anything but an array counts 0. */
static int
count_member(scanner_t *s, size_t *count)
{
    *count = 0;
    if (s->p < s->end && *s->p == '[')
        return scan_array(s, NULL, NULL, count);
    return skip_value(s);
}

static int
top_key(scanner_t *s, const bench_span_t *key, void *arg)
{
    bench_scan_t *out = arg;

    if (span_is(key, "Successful"))
        return count_member(s, &out->successful);
    if (span_is(key, "Failed"))
        return count_member(s, &out->failed);
    if (span_is(key, "Messages")) {
        out->has_messages = true;
        return scan_array(s, message_elem, out, &out->messages);
    }
    if (span_is(key, "MessageId"))
        return take_string(s, &out->message_id);
    return skip_value(s);
}

int
bench_scan_answer(const char *p, size_t len, bench_scan_t *out)
{
    scanner_t s = { p, p + len, 0 };
    int rc;

    memset(out, 0, sizeof(*out));
    skip_ws(&s);
    if ((rc = scan_object(&s, top_key, out)) < 0)
        return rc;
    skip_ws(&s);
    return s.p == s.end ? SL_OK : SL_EPROTO;
}

/* ---- Self-test: the scanner against jansson ---- */

typedef struct expect {
    bool ok;                    /* jansson accepted an object */
    bool messages_bad;          /* Messages present but not an array of <= MAX objects */
    size_t successful, failed, messages;
    const char *handles[BENCH_SCAN_MAX];
    const char *bodies[BENCH_SCAN_MAX];
    const char *message_id;
} expect_t;

static size_t
array_len(json_t *v)
{
    return json_is_array(v) ? json_array_size(v) : 0;
}

/* What the scanner should report, according to jansson. j is borrowed. */
static void
expect_from(json_t *j, expect_t *e)
{
    json_t *msgs, *m;
    size_t i;

    memset(e, 0, sizeof(*e));
    if (!json_is_object(j))
        return;
    e->ok = true;
    e->successful = array_len(json_object_get(j, "Successful"));
    e->failed = array_len(json_object_get(j, "Failed"));
    e->message_id = json_string_value(json_object_get(j, "MessageId"));
    msgs = json_object_get(j, "Messages");
    if (msgs == NULL)
        return;
    if (!json_is_array(msgs) || json_array_size(msgs) > BENCH_SCAN_MAX) {
        e->messages_bad = true;
        return;
    }
    e->messages = json_array_size(msgs);
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m)) {
            e->messages_bad = true;
            return;
        }
        e->handles[i] = json_string_value(json_object_get(m, "ReceiptHandle"));
        e->bodies[i] = json_string_value(json_object_get(m, "Body"));
    }
}

/* Decodes a raw span with jansson and compares it with want (NULL = absent). */
static bool
span_matches(const bench_span_t *sp, const char *want)
{
    bench_buf_t b = { 0 };
    json_t *v;
    bool same;

    if (sp->p == NULL || want == NULL)
        return sp->p == NULL && want == NULL;
    bench_buf_adds(&b, "\"");
    bench_buf_add(&b, sp->p, sp->len);
    bench_buf_adds(&b, "\"");
    v = json_loadb(b.p, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    same = v != NULL && json_string_length(v) == strlen(want) &&
           memcmp(json_string_value(v), want, strlen(want)) == 0;
    json_decref(v);
    bench_buf_deinit(&b);
    return same;
}

typedef struct tally {
    unsigned passed, failed;
    unsigned lenient;           /* jansson refused, the scanner accepted (allowed) */
} tally_t;

/* Checks one input. strict: the scanner must also refuse what jansson refuses (true
 * for inputs that are not valid JSON syntax, e.g. truncations of an object). */
static void
check_one(tally_t *t, const char *what, const char *text, size_t len, bool strict)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    bench_scan_t sc;
    expect_t e;
    int rc = bench_scan_answer(text, len, &sc);
    bool good = true;
    size_t i;

    expect_from(j, &e);
    if (!e.ok) {
        if (rc == SL_OK) {
            good = !strict;
            t->lenient++;
        }
    } else if (e.messages_bad) {
        good = rc < 0;                          /* the caller falls back to jansson */
    } else if (rc < 0) {
        /* refusing valid JSON is allowed only past the scanner's depth limit */
        good = strstr(text, "[[[[[[[[[[[[[[[[") != NULL || strstr(text, "{\"d\":{\"d\":") != NULL;
    } else {
        good = sc.successful == e.successful && sc.failed == e.failed &&
               sc.messages == e.messages && span_matches(&sc.message_id, e.message_id);
        for (i = 0; good && i < e.messages; i++)
            good = span_matches(&sc.msgs[i].handle, e.handles[i]) &&
                   span_matches(&sc.msgs[i].body, e.bodies[i]);
    }
    json_decref(j);
    if (good) {
        t->passed++;
    } else {
        t->failed++;
        if (t->failed <= 10)
            fprintf(stderr, "selftest: FAIL %s: scanner rc=%d jansson=%s: %.*s\n", what, rc,
                    e.ok ? "ok" : "refused", (int)(len < 300 ? len : 300), text);
    }
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static json_t *
random_string(void)
{
    static const char *pieces[] = { "a", "Z", "0", "\"", "\\", "/", "\n", "\t", "\x01",
                                    "\xc3\xa9", "\xf0\x9f\x98\x80", " ", "-", "=", "+" };
    char buf[128];
    size_t n = 0, k = rng() % 24;

    while (k-- > 0) {
        const char *piece = pieces[rng() % (sizeof(pieces) / sizeof(pieces[0]))];
        size_t pl = strlen(piece);

        if (n + pl >= sizeof(buf))
            break;
        memcpy(buf + n, piece, pl);
        n += pl;
    }
    return json_stringn(buf, n);
}

static json_t *random_value(int depth);

static json_t *
random_message(void)
{
    json_t *m = json_object();

    if (rng() % 8)
        json_object_set_new(m, "ReceiptHandle", rng() % 8 ? random_string() : json_integer(7));
    if (rng() % 8)
        json_object_set_new(m, "Body", random_string());
    json_object_set_new(m, "MessageId", random_string());
    if (rng() % 3 == 0)
        json_object_set_new(m, "Attributes", random_value(3));
    return m;
}

static json_t *
random_value(int depth)
{
    json_t *v;
    size_t i, n;

    switch (rng() % (depth > 0 ? 9 : 6)) {
    case 0: return json_null();
    case 1: return json_boolean(rng() % 2);
    case 2: return json_integer((json_int_t)(rng() % 2000000) - 1000000);
    case 3: return json_real((double)(rng() % 100000) / 7.0 * (rng() % 2 ? 1e-9 : 1e12));
    case 4:
    case 5: return random_string();
    case 6:
    case 7:
        v = json_array();
        n = rng() % 5;
        for (i = 0; i < n; i++)
            json_array_append_new(v, random_value(depth - 1));
        return v;
    default:
        v = json_object();
        n = rng() % 5;
        for (i = 0; i < n; i++) {
            json_t *k = random_string();

            json_object_set_new(v, json_string_value(k), random_value(depth - 1));
            json_decref(k);
        }
        return v;
    }
}

static json_t *
random_answer(void)
{
    json_t *root = json_object(), *a;
    size_t i, n;

    if (rng() % 2) {
        a = json_array();
        n = rng() % 11;
        for (i = 0; i < n; i++)
            json_array_append_new(a, random_value(2));
        json_object_set_new(root, "Successful", rng() % 10 ? a : json_string("x"));
        if (!json_is_array(json_object_get(root, "Successful")))
            json_decref(a);
    }
    if (rng() % 3 == 0) {
        a = json_array();
        n = rng() % 3;
        for (i = 0; i < n; i++)
            json_array_append_new(a, random_value(2));
        json_object_set_new(root, "Failed", a);
    }
    if (rng() % 2) {
        a = json_array();
        n = rng() % 12;
        for (i = 0; i < n; i++)
            json_array_append_new(a, rng() % 20 ? random_message() : random_value(1));
        json_object_set_new(root, "Messages", a);
    }
    if (rng() % 4 == 0)
        json_object_set_new(root, "MessageId", random_string());
    if (rng() % 2)
        json_object_set_new(root, "Other", random_value(4));
    return root;
}

static void
check_dumped(tally_t *t, const char *what, json_t *v)
{
    static const size_t flags[] = { JSON_COMPACT, JSON_INDENT(2), JSON_ENSURE_ASCII,
                                    JSON_INDENT(1) | JSON_ENSURE_ASCII | JSON_SORT_KEYS };
    char *text = json_dumps(v, flags[rng() % 4]);
    size_t len = strlen(text), cut, i;

    check_one(t, what, text, len, true);
    /* every proper prefix of an object is invalid; a sample of them */
    for (i = 0; i < 8 && len > 1; i++) {
        cut = (size_t)(rng() % (len - 1)) + 1;
        check_one(t, "truncated", text, cut, true);
    }
    /* mutated bytes: the scanner may be more lenient than jansson (UTF-8, \u0000) */
    for (i = 0; i < 8 && len > 0; i++) {
        char *m = bench_strdup(text);
        static const char junk[] = "{}[]\",:\\ 0-eE.tfnu\x01\xff";

        m[rng() % len] = junk[rng() % (sizeof(junk) - 1)];
        check_one(t, "mutated", m, len, false);
        bench_free(m);
    }
    free(text);
}

int
bench_selftest(void)
{
    static const char *canned[] = {
        "{}",
        " \r\n\t{ } \n",
        "{\"Messages\":[]}",
        "{\"Successful\":[{\"Id\":\"0\",\"MessageId\":\"a\",\"MD5OfMessageBody\":\"b\"}],"
        "\"Failed\":[]}",
        "{\"Successful\":null,\"Failed\":[{\"Id\":\"1\",\"SenderFault\":true,\"Code\":\"X\","
        "\"Message\":\"m\"}]}",
        "{\"Messages\":[{\"MessageId\":\"m\",\"ReceiptHandle\":\"r\\\"\\\\\\/\\u00e9\\ud83d"
        "\\ude00\",\"MD5OfBody\":\"x\",\"Body\":\"t-12-abc\",\"Attributes\":{\"A\":\"1\"},"
        "\"MessageAttributes\":{\"n\":{\"DataType\":\"Number\",\"StringValue\":\"-1.5e+3\"}}}]}",
        "{\"MessageId\":\"x\",\"MD5OfMessageBody\":\"y\",\"n\":[0,-0,1.5,-2e10,3E-2,true,"
        "false,null,{},[]]}",
        "{\"Messages\":{}}",
        "{\"Messages\":[1]}",
        "{\"Messages\":[{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}]}",
        "{\"Messages\":[{\"Body\":1,\"ReceiptHandle\":null}]}",
        "{\"a\":1}x",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":-}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"raw\ncontrol\"}",
        "{\"a\" 1}",
        "{\"a\":1,}",
        "[1,2]",
        "\"str\"",
        "{\"a\":[1,,2]}",
        "{\"a\":tru}",
        "{\"Successful\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
        "]]]]]]]]]]}",
        "",
    };
    tally_t t = { 0, 0, 0 };
    size_t i, len, cut;
    int k;

    for (i = 0; i < sizeof(canned) / sizeof(canned[0]); i++) {
        len = strlen(canned[i]);
        check_one(&t, "canned", canned[i], len, true);
        for (cut = 0; cut < len; cut++)
            check_one(&t, "canned prefix", canned[i], cut, true);
    }
    for (k = 0; k < 3000; k++) {
        json_t *v = random_answer();

        check_dumped(&t, "generated", v);
        json_decref(v);
    }
    printf("selftest: scanner vs jansson (%u inputs jansson refused and the scanner "
           "accepted, allowed for mutated bytes)\n", t.lenient);
    printf("%u passed, %u failed\n", t.passed, t.failed);
    return t.failed == 0 ? 0 : 1;
}
