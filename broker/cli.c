/* cli.c - `sluice`, the command-line client: queue admin, send and receive, functions,
 * triggers, stats and DLQ redrive.
 * It speaks the broker's native HTTP API (JSON under /v1, see docs/api.md); the one
 * exception is redrive, which uses the SQS JSON protocol (message move tasks have no native
 * route) unsigned, as the broker accepts. Broker errors are printed as they come.
 * Scripts are the main users, so the output is plain (one item a line, --json for the
 * raw reply) and the exit status tells the three failures apart: the broker said no (1),
 * the command line was wrong (2), the broker could not be reached (3).
 * Arguments are parsed by hand rather than with getopt_long: options may follow the
 * positionals, global options are accepted after the command too, and values are
 * checked against a per-command table before any request is made. */
#include "cli_http.h"
#include "cli_topic.h"

#include "sluice/error.h"
#include "sluice/mem.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SL_CLI_VERSION              "0.1.0"
#define SL_CLI_DEFAULT_ENDPOINT     "http://127.0.0.1:9324"
#define SL_CLI_DEFAULT_TIMEOUT_S    30
#define SL_CLI_RECEIVE_SLACK_S      10      /* receive waits at least --wait plus this */
#define SL_CLI_UINT_MAX             1000000 /* cap of any numeric option */
#define SL_CLI_DEFAULT_REGION       "us-east-1"
#define SL_CLI_DEFAULT_ACCOUNT      "000000000000"
#define SL_CLI_FOLLOW_POLL_MS       500     /* logs --follow asks again this often */

/* Exit statuses: the contract with scripts, documented in docs/cli.md. */
enum {
    SL_CLI_EXIT_OK = 0,
    SL_CLI_EXIT_BROKER = 1,         /* the broker answered with an error; local I/O error */
    SL_CLI_EXIT_USAGE = 2,
    SL_CLI_EXIT_UNREACHABLE = 3,    /* refused, unresolvable, timed out, connection lost */
    SL_CLI_CONTINUE = -1,           /* internal: parsing went fine, run the command */
};

typedef enum opt_kind {
    OPT_FLAG,           /* --name */
    OPT_STR,            /* --name VALUE */
    OPT_UINT,           /* --name N, 0 <= N < SL_CLI_UINT_MAX */
    OPT_PAIR,           /* --name Key=Value, Key not empty; may repeat */
} opt_kind_t;

typedef struct cli_opt {
    const char *name;   /* without the leading "--" */
    opt_kind_t kind;
} cli_opt_t;

typedef struct cli_arg {
    const cli_opt_t *opt;
    const char *value;  /* borrowed from argv; NULL for a flag */
    long num;           /* OPT_UINT only */
} cli_arg_t;

typedef struct cli_args {
    cli_arg_t *opts;    /* in command-line order */
    int nopts;
    const char **pos;   /* positionals, borrowed from argv */
    int npos;
    bool help;
} cli_args_t;

typedef struct cli_ctx {
    const char *endpoint;
    const char *region;     /* for the queue ARNs of redrive */
    const char *account;
    int timeout_s;
    sl_cli_http_t *http;
} cli_ctx_t;

typedef struct cli_cmd cli_cmd_t;
struct cli_cmd {
    const char *group;      /* "queue", "function", "trigger" or NULL */
    const char *name;
    const char *synopsis;   /* after "sluice " */
    const char *help;       /* description and options */
    const cli_opt_t *opts;  /* terminated by { NULL } */
    int min_pos, max_pos;
    int (*run)(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a);
};

/* ---- Small helpers ---- */

static char *
fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *
fmt(const char *f, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, f);
    n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    sl_assert(n >= 0);
    s = sl_malloc((size_t)n + 1);
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

static void
cmd_path(const cli_cmd_t *cmd, char *buf, size_t len)
{
    if (cmd == NULL)
        snprintf(buf, len, "sluice");
    else if (cmd->group != NULL)
        snprintf(buf, len, "sluice %s %s", cmd->group, cmd->name);
    else
        snprintf(buf, len, "sluice %s", cmd->name);
}

/* Prints "sluice: <msg>" and a pointer to the help of cmd (NULL: the top level) on
 * stderr. Returns SL_CLI_EXIT_USAGE. */
static int
usage_error(const cli_cmd_t *cmd, const char *f, ...) __attribute__((format(printf, 2, 3)));

static int
usage_error(const cli_cmd_t *cmd, const char *f, ...)
{
    char path[64];
    va_list ap;

    fputs("sluice: ", stderr);
    va_start(ap, f);
    vfprintf(stderr, f, ap);
    va_end(ap);
    cmd_path(cmd, path, sizeof(path));
    fprintf(stderr, "\nTry '%s --help'.\n", path);
    return SL_CLI_EXIT_USAGE;
}

/* Parses a whole decimal number below SL_CLI_UINT_MAX; false if s is anything else. */
static bool
parse_uint(const char *s, long *out)
{
    long v = 0;

    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (*s - '0');
        if (v >= SL_CLI_UINT_MAX)
            return false;
    }
    *out = v;
    return true;
}

static const cli_arg_t *
opt_last(const cli_args_t *a, const char *name)
{
    for (int i = a->nopts - 1; i >= 0; i--)
        if (strcmp(a->opts[i].opt->name, name) == 0)
            return &a->opts[i];
    return NULL;
}

static bool
opt_has(const cli_args_t *a, const char *name)
{
    return opt_last(a, name) != NULL;
}

static const char *
opt_str(const cli_args_t *a, const char *name)
{
    const cli_arg_t *o = opt_last(a, name);

    return o != NULL ? o->value : NULL;
}

/* Writes len bytes of s and a newline to stdout. */
static void
put_line(const char *s, size_t len)
{
    fwrite(s, 1, len, stdout);
    fputc('\n', stdout);
}

/* Prints a raw reply body as it came, ending in exactly one newline. */
static void
put_raw(const sl_cli_reply_t *r)
{
    size_t len = r->len;

    while (len > 0 && (r->body[len - 1] == '\n' || r->body[len - 1] == '\r'))
        len--;
    put_line(r->body, len);
}

/* Flushes stdout. Returns SL_CLI_EXIT_OK, or SL_CLI_EXIT_BROKER after saying why it
 * failed; a closed pipe (`| head`) fails quietly, like other tools killed by SIGPIPE. */
static int
flush_stdout(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return SL_CLI_EXIT_OK;
    if (errno != EPIPE)
        fprintf(stderr, "sluice: writing output: %s\n", strerror(errno));
    return SL_CLI_EXIT_BROKER;
}

/* Sets obj[key] to the string val. Returns false, setting nothing, when key or val is
 * not valid UTF-8 (JSON cannot carry it). */
static bool
put_str(json_t *obj, const char *key, const char *val, size_t len)
{
    json_t *s = json_stringn(val, len);

    return s != NULL && json_object_set_new(obj, key, s) == 0;
}

/* Adds each --name Key=Value option of a to obj as Key: Value (String attributes as
 * {"type":type,"value":Value} when type is not NULL). Returns SL_CLI_CONTINUE, or
 * SL_CLI_EXIT_USAGE after saying which argument is not valid UTF-8. */
static int
put_pairs(const cli_cmd_t *cmd, const cli_args_t *a, const char *name, const char *type,
          json_t *obj)
{
    for (int i = 0; i < a->nopts; i++) {
        const char *v = a->opts[i].value;
        const char *eq;
        char *key;
        bool ok;

        if (strcmp(a->opts[i].opt->name, name) != 0)
            continue;
        eq = strchr(v, '=');
        key = sl_strndup(v, (size_t)(eq - v));
        if (type == NULL) {
            ok = put_str(obj, key, eq + 1, strlen(eq + 1));
        } else {
            json_t *attr = json_object();

            ok = put_str(attr, "type", type, strlen(type)) &&
                 put_str(attr, "value", eq + 1, strlen(eq + 1)) &&
                 json_object_set_new(obj, key, attr) == 0;
            if (!ok)
                json_decref(attr);
        }
        sl_free(key);
        if (!ok)
            return usage_error(cmd, "--%s %s: not valid UTF-8", name, v);
    }
    return SL_CLI_CONTINUE;
}

/* ---- Talking to the broker ---- */

/* Prints the error reply r as "sluice: Code: message", or as well as it can when the
 * body is neither the native error shape ({"error":{"code","message"}}) nor the SQS JSON
 * one ({"__type":"com.amazonaws.sqs#Code","message"}). */
static void
print_broker_error(const sl_cli_reply_t *r)
{
    json_t *root = json_loadb(r->body, r->len, 0, NULL);
    json_t *err = json_object_get(root, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    const char *hash;
    size_t len;

    if (code == NULL && (code = json_string_value(json_object_get(root, "__type"))) != NULL) {
        if ((hash = strrchr(code, '#')) != NULL)
            code = hash + 1;
        msg = json_string_value(json_object_get(root, "message"));
        if (msg == NULL)
            msg = json_string_value(json_object_get(root, "Message"));
    }
    if (code != NULL) {
        fprintf(stderr, "sluice: %s: %s\n", code, msg != NULL ? msg : "");
    } else {
        len = strcspn(r->body, "\r\n");
        fprintf(stderr, "sluice: HTTP %d%s%.*s\n", r->status, len > 0 ? ": " : "",
                (int)(len > 200 ? 200 : len), r->body);
    }
    json_decref(root);
}

/* Sends one request (body: JSON, NULL for none) and checks the reply. Returns
 * SL_CLI_EXIT_OK with the reply in *raw (caller deinits) and, parsed, in *json (a JSON
 * object; caller json_decref()s); otherwise prints why and returns SL_CLI_EXIT_BROKER or
 * SL_CLI_EXIT_UNREACHABLE, leaving *raw empty and *json NULL. */
static int
call_hdrs(cli_ctx_t *c, sl_cli_method_t method, const char *path, const char *const *headers,
          json_t *body, int timeout_s, sl_cli_reply_t *raw, json_t **json)
{
    char *text = NULL;
    json_error_t jerr;
    int rc;

    *json = NULL;
    if (body != NULL)
        text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    rc = sl__cli_http_request_hdrs(c->http, method, path, headers, text,
                                   text != NULL ? strlen(text) : 0, timeout_s * 1000, raw);
    sl_free(text);
    if (rc != SL_OK) {
        fprintf(stderr, "sluice: cannot reach %s: %s\n", sl__cli_http_url(c->http),
                sl__cli_http_errstr(c->http));
        return SL_CLI_EXIT_UNREACHABLE;
    }
    if (raw->status < 200 || raw->status > 299) {
        print_broker_error(raw);
        goto out_fail;
    }
    *json = json_loadb(raw->body, raw->len, 0, &jerr);
    if (!json_is_object(*json)) {
        fprintf(stderr, "sluice: malformed reply from the broker (HTTP %d): %s\n",
                raw->status, *json == NULL ? jerr.text : "not a JSON object");
        json_decref(*json);
        *json = NULL;
        goto out_fail;
    }
    return SL_CLI_EXIT_OK;
out_fail:
    sl__cli_reply_deinit(raw);
    return SL_CLI_EXIT_BROKER;
}

/* call_hdrs() with no extra headers: the native API. */
static int
call(cli_ctx_t *c, sl_cli_method_t method, const char *path, json_t *body, int timeout_s,
     sl_cli_reply_t *raw, json_t **json)
{
    return call_hdrs(c, method, path, NULL, body, timeout_s, raw, json);
}

static int
malformed(const char *what)
{
    fprintf(stderr, "sluice: malformed reply from the broker: %s\n", what);
    return SL_CLI_EXIT_BROKER;
}

/* "/v1/queues/<escaped name><suffix>"; new string, caller frees. */
static char *
queue_path(const char *name, const char *suffix)
{
    char *esc = sl__cli_http_escape(name);
    char *p = fmt("/v1/queues/%s%s", esc, suffix);

    sl_free(esc);
    return p;
}

/* Runs one request whose reply is only printed: raw with --json, else field (a string
 * member of the reply) when not NULL. */
static int
simple_call(cli_ctx_t *c, const cli_args_t *a, sl_cli_method_t method, char *path,
            json_t *body, const char *field)
{
    sl_cli_reply_t raw;
    json_t *reply;
    const char *s;
    int rc;

    rc = call(c, method, path, body, c->timeout_s, &raw, &reply);
    sl_free(path);
    json_decref(body);
    if (rc != SL_CLI_EXIT_OK)
        return rc;
    if (opt_has(a, "json")) {
        put_raw(&raw);
    } else if (field != NULL) {
        if ((s = json_string_value(json_object_get(reply, field))) == NULL)
            rc = malformed(field);
        else
            put_line(s, strlen(s));
    }
    json_decref(reply);
    sl__cli_reply_deinit(&raw);
    return rc != SL_CLI_EXIT_OK ? rc : flush_stdout();
}

/* ---- Queue commands ---- */

static int
run_queue_create(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    json_t *body = json_object();
    json_t *attrs = json_object();
    json_t *tags = json_object();
    int rc;

    if (!put_str(body, "name", a->pos[0], strlen(a->pos[0]))) {
        rc = usage_error(cmd, "queue name is not valid UTF-8");
        goto out_free;
    }
    if (opt_has(a, "fifo"))
        json_object_set_new(attrs, "FifoQueue", json_string("true"));
    if ((rc = put_pairs(cmd, a, "attr", NULL, attrs)) != SL_CLI_CONTINUE)
        goto out_free;
    if ((rc = put_pairs(cmd, a, "tag", NULL, tags)) != SL_CLI_CONTINUE)
        goto out_free;
    if (json_object_size(attrs) > 0)
        json_object_set(body, "attributes", attrs);
    if (json_object_size(tags) > 0)
        json_object_set(body, "tags", tags);
    json_decref(attrs);
    json_decref(tags);
    return simple_call(c, a, SL_CLI_POST, fmt("/v1/queues"), body, "url");
out_free:
    json_decref(tags);
    json_decref(attrs);
    json_decref(body);
    return rc;
}

static int
run_queue_list(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    const char *prefix = opt_str(a, "prefix");
    sl_cli_reply_t raw;
    json_t *reply, *queues, *q;
    char *path, *esc;
    size_t i;
    int rc;

    (void)cmd;
    if (prefix != NULL) {
        esc = sl__cli_http_escape(prefix);
        path = fmt("/v1/queues?prefix=%s", esc);
        sl_free(esc);
    } else {
        path = fmt("/v1/queues");
    }
    rc = call(c, SL_CLI_GET, path, NULL, c->timeout_s, &raw, &reply);
    sl_free(path);
    if (rc != SL_CLI_EXIT_OK)
        return rc;
    queues = json_object_get(reply, "queues");
    if (opt_has(a, "json")) {
        put_raw(&raw);
    } else if (!json_is_array(queues)) {
        rc = malformed("no \"queues\" array");
    } else {
        json_array_foreach(queues, i, q) {
            const char *name = json_string_value(json_object_get(q, "name"));

            if (name == NULL) {
                rc = malformed("a queue without a name");
                break;
            }
            put_line(name, strlen(name));
        }
    }
    json_decref(reply);
    sl__cli_reply_deinit(&raw);
    return rc != SL_CLI_EXIT_OK ? rc : flush_stdout();
}

static int
run_queue_delete(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    (void)cmd;
    return simple_call(c, a, SL_CLI_DELETE, queue_path(a->pos[0], ""), NULL, NULL);
}

static int
run_queue_purge(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    (void)cmd;
    return simple_call(c, a, SL_CLI_POST, queue_path(a->pos[0], "/purge"), NULL, NULL);
}

static int
cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int
run_queue_stats(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    sl_cli_reply_t raw;
    json_t *reply, *attrs, *v;
    const char **keys;
    const char *k;
    size_t n = 0, width = 0;
    char *path = queue_path(a->pos[0], "");
    int rc;

    (void)cmd;
    rc = call(c, SL_CLI_GET, path, NULL, c->timeout_s, &raw, &reply);
    sl_free(path);
    if (rc != SL_CLI_EXIT_OK)
        return rc;
    attrs = json_object_get(reply, "attributes");
    if (opt_has(a, "json")) {
        put_raw(&raw);
    } else if (!json_is_object(attrs)) {
        rc = malformed("no \"attributes\" object");
    } else {
        /* sorted, so the output does not depend on the broker's order */
        keys = sl_calloc(json_object_size(attrs) + 1, sizeof(*keys));
        json_object_foreach(attrs, k, v) {
            keys[n++] = k;
            if (strlen(k) > width)
                width = strlen(k);
        }
        qsort(keys, n, sizeof(*keys), cmp_str);
        for (size_t i = 0; i < n; i++) {
            v = json_object_get(attrs, keys[i]);
            if (json_is_string(v)) {
                printf("%-*s  %s\n", (int)width, keys[i], json_string_value(v));
            } else {
                char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

                printf("%-*s  %s\n", (int)width, keys[i], s != NULL ? s : "?");
                sl_free(s);
            }
        }
        sl_free(keys);
    }
    json_decref(reply);
    sl__cli_reply_deinit(&raw);
    return rc != SL_CLI_EXIT_OK ? rc : flush_stdout();
}

/* ---- Messages ---- */

/* Reads all of stdin into a new buffer (caller frees) of *len bytes. Returns false after
 * printing why on a read error. */
static bool
read_stdin(char **out, size_t *len)
{
    size_t cap = 4096, n = 0, got;
    char *buf = sl_malloc(cap);

    while ((got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = sl_realloc(buf, cap);
        }
    }
    if (ferror(stdin)) {
        fprintf(stderr, "sluice: reading stdin: %s\n", strerror(errno));
        sl_free(buf);
        return false;
    }
    *out = buf;
    *len = n;
    return true;
}

static int
run_send(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    json_t *body = json_object();
    json_t *attrs = json_object();
    const cli_arg_t *delay = opt_last(a, "delay");
    const char *group = opt_str(a, "group");
    const char *dedup = opt_str(a, "dedup");
    char *text = NULL;
    size_t len;
    int rc;

    if (a->npos < 2 || strcmp(a->pos[1], "-") == 0) {
        if (!read_stdin(&text, &len)) {
            rc = SL_CLI_EXIT_BROKER;
            goto out_free;
        }
    } else {
        text = sl_strdup(a->pos[1]);
        len = strlen(text);
    }
    if (!put_str(body, "body", text, len)) {
        rc = usage_error(cmd, "the message body is not valid UTF-8");
        goto out_free;
    }
    if (delay != NULL)
        json_object_set_new(body, "delay_seconds", json_integer(delay->num));
    if (group != NULL && !put_str(body, "group_id", group, strlen(group))) {
        rc = usage_error(cmd, "--group: not valid UTF-8");
        goto out_free;
    }
    if (dedup != NULL && !put_str(body, "dedup_id", dedup, strlen(dedup))) {
        rc = usage_error(cmd, "--dedup: not valid UTF-8");
        goto out_free;
    }
    if ((rc = put_pairs(cmd, a, "attr", "String", attrs)) != SL_CLI_CONTINUE)
        goto out_free;
    if ((rc = put_pairs(cmd, a, "attr-number", "Number", attrs)) != SL_CLI_CONTINUE)
        goto out_free;
    if (json_object_size(attrs) > 0)
        json_object_set(body, "attributes", attrs);
    json_decref(attrs);
    sl_free(text);
    return simple_call(c, a, SL_CLI_POST, queue_path(a->pos[0], "/messages"), body, "id");
out_free:
    sl_free(text);
    json_decref(attrs);
    json_decref(body);
    return rc;
}

/* Deletes the messages of a receive reply by their receipts. Returns SL_CLI_EXIT_OK, or
 * SL_CLI_EXIT_BROKER after printing each receipt the broker refused. */
static int
delete_received(cli_ctx_t *c, const char *queue, json_t *messages)
{
    json_t *receipts = json_array();
    json_t *body = json_object();
    json_t *m, *reply, *failed, *f;
    sl_cli_reply_t raw;
    char *path;
    size_t i;
    int rc;

    json_array_foreach(messages, i, m) {
        json_t *r = json_object_get(m, "receipt");

        if (!json_is_string(r)) {
            json_decref(receipts);
            json_decref(body);
            return malformed("a message without a receipt; nothing deleted");
        }
        json_array_append(receipts, r);
    }
    json_object_set_new(body, "receipts", receipts);
    path = queue_path(queue, "/delete");
    rc = call(c, SL_CLI_POST, path, body, c->timeout_s, &raw, &reply);
    sl_free(path);
    json_decref(body);
    if (rc != SL_CLI_EXIT_OK)
        return rc;
    failed = json_object_get(reply, "failed");
    json_array_foreach(failed, i, f) {
        const char *code = json_string_value(json_object_get(f, "code"));
        const char *msg = json_string_value(json_object_get(f, "message"));

        fprintf(stderr, "sluice: %s: %s\n", code != NULL ? code : "DeleteFailed",
                msg != NULL ? msg : "message not deleted");
        rc = SL_CLI_EXIT_BROKER;
    }
    json_decref(reply);
    sl__cli_reply_deinit(&raw);
    return rc;
}

static int
run_receive(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    const cli_arg_t *max = opt_last(a, "max");
    const cli_arg_t *wait = opt_last(a, "wait");
    const cli_arg_t *vis = opt_last(a, "visibility");
    long wait_s = wait != NULL ? wait->num : 0;
    int timeout_s = c->timeout_s;
    sl_cli_reply_t raw;
    json_t *reply, *messages, *m;
    char *esc, *path;
    size_t i;
    int rc;

    (void)cmd;
    esc = sl__cli_http_escape(a->pos[0]);
    path = fmt("/v1/queues/%s/messages?max=%ld&wait=%ld", esc, max != NULL ? max->num : 1,
               wait_s);
    sl_free(esc);
    if (vis != NULL) {
        char *p = fmt("%s&visibility=%ld", path, vis->num);

        sl_free(path);
        path = p;
    }
    if (timeout_s < wait_s + SL_CLI_RECEIVE_SLACK_S)
        timeout_s = (int)wait_s + SL_CLI_RECEIVE_SLACK_S;
    rc = call(c, SL_CLI_GET, path, NULL, timeout_s, &raw, &reply);
    sl_free(path);
    if (rc != SL_CLI_EXIT_OK)
        return rc;
    messages = json_object_get(reply, "messages");
    if (!json_is_array(messages)) {
        rc = malformed("no \"messages\" array");
        goto out_free;
    }
    if (opt_has(a, "json")) {
        put_raw(&raw);
    } else {
        json_array_foreach(messages, i, m) {
            json_t *b = json_object_get(m, "body");

            if (!json_is_string(b)) {
                rc = malformed("a message without a body");
                goto out_free;
            }
            put_line(json_string_value(b), json_string_length(b));
        }
    }
    /* at-least-once: delete only what has surely been written out */
    if ((rc = flush_stdout()) != SL_CLI_EXIT_OK)
        goto out_free;
    if (opt_has(a, "delete") && json_array_size(messages) > 0)
        rc = delete_received(c, a->pos[0], messages);
out_free:
    json_decref(reply);
    sl__cli_reply_deinit(&raw);
    return rc;
}

/* ---- Functions ---- */

/* "/v1/<coll>/<escaped name><suffix>"; new string, caller frees. */
static char *
res_path(const char *coll, const char *name, const char *suffix)
{
    char *esc = sl__cli_http_escape(name);
    char *p = fmt("/v1/%s/%s%s", coll, esc, suffix);

    sl_free(esc);
    return p;
}

/* Sets body[key] to the string of option --opt when given. Returns false after a usage
 * error (not valid UTF-8); *rc holds the exit status then. */
static bool
put_opt_str(const cli_cmd_t *cmd, const cli_args_t *a, const char *opt, json_t *body,
            const char *key, int *rc)
{
    const char *v = opt_str(a, opt);

    if (v == NULL || put_str(body, key, v, strlen(v)))
        return true;
    *rc = usage_error(cmd, "--%s: not valid UTF-8", opt);
    return false;
}

/* Sets body[key] to the number of option --opt times mult when given. */
static void
put_opt_num(const cli_args_t *a, const char *opt, json_t *body, const char *key, long mult)
{
    const cli_arg_t *o = opt_last(a, opt);

    if (o != NULL)
        json_object_set_new(body, key, json_integer((json_int_t)o->num * mult));
}

/* Sets body[key] to the JSON text of option --opt when given. Returns false after a
 * usage error (not JSON); *rc holds the exit status then. */
static bool
put_opt_json(const cli_cmd_t *cmd, const cli_args_t *a, const char *opt, json_t *body,
             const char *key, int *rc)
{
    const char *v = opt_str(a, opt);
    json_error_t jerr;
    json_t *j;

    if (v == NULL)
        return true;
    if ((j = json_loads(v, JSON_DECODE_ANY, &jerr)) == NULL) {
        *rc = usage_error(cmd, "--%s is not valid JSON: %s", opt, jerr.text);
        return false;
    }
    json_object_set_new(body, key, j);
    return true;
}

static json_int_t
int_of(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

static const char *
str_of(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s != NULL ? s : "-";
}

static int
run_function_create(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    const char *process = opt_str(a, "process"), *url = opt_str(a, "http");
    const char *lib = opt_str(a, "native"), *cwd = opt_str(a, "cwd");
    json_t *body = json_object(), *env = json_object();
    char *abs = NULL;
    int rc = SL_CLI_CONTINUE;

    if ((process != NULL) + (url != NULL) + (lib != NULL) != 1) {
        rc = usage_error(cmd, "give exactly one of --process, --http and --native");
        goto out_free;
    }
    if (cwd != NULL && process == NULL) {
        rc = usage_error(cmd, "--cwd goes with --process only");
        goto out_free;
    }
    if (!put_str(body, "name", a->pos[0], strlen(a->pos[0]))) {
        rc = usage_error(cmd, "function name is not valid UTF-8");
        goto out_free;
    }
    json_object_set_new(body, "kind", json_string(process != NULL ? "process"
                                                  : url != NULL ? "http" : "native"));
    if (!put_opt_str(cmd, a, "process", body, "command", &rc) ||
        !put_opt_str(cmd, a, "http", body, "url", &rc) ||
        !put_opt_str(cmd, a, "native", body, "library", &rc) ||
        !put_opt_str(cmd, a, "handler", body, "handler", &rc))
        goto out_free;
    if (cwd != NULL) {
        /* the broker runs the command: a relative directory means ours, made absolute */
        if (cwd[0] != '/' && (cwd = abs = realpath(cwd, NULL)) == NULL) {
            rc = usage_error(cmd, "--cwd %s: %s", opt_str(a, "cwd"), strerror(errno));
            goto out_free;
        }
        if (!put_str(body, "cwd", cwd, strlen(cwd))) {
            rc = usage_error(cmd, "--cwd: not valid UTF-8");
            goto out_free;
        }
    }
    if ((rc = put_pairs(cmd, a, "env", NULL, env)) != SL_CLI_CONTINUE)
        goto out_free;
    if (json_object_size(env) > 0)
        json_object_set(body, "env", env);
    put_opt_num(a, "timeout", body, "timeout_ms", 1000);
    put_opt_num(a, "memory", body, "memory_mb", 1);
    put_opt_num(a, "min-concurrency", body, "min_concurrency", 1);
    put_opt_num(a, "max-concurrency", body, "max_concurrency", 1);
    put_opt_num(a, "idle-timeout", body, "idle_timeout_ms", 1000);
    free(abs);      /* from realpath(), so plain free() */
    json_decref(env);
    return simple_call(c, a, SL_CLI_POST, fmt("/v1/functions"), body, "name");
out_free:
    free(abs);
    json_decref(env);
    json_decref(body);
    return rc;
}

/* Runs GET path and checks that the reply has an array member key. Returns
 * SL_CLI_EXIT_OK with the reply in *raw and *reply and the array in *list (borrowed from
 * *reply), or an exit status after saying why. */
static int
get_list(cli_ctx_t *c, const char *path, const char *key, sl_cli_reply_t *raw,
         json_t **reply, json_t **list)
{
    int rc = call(c, SL_CLI_GET, path, NULL, c->timeout_s, raw, reply);

    if (rc != SL_CLI_EXIT_OK)
        return rc;
    if (!json_is_array(*list = json_object_get(*reply, key))) {
        json_decref(*reply);
        sl__cli_reply_deinit(raw);
        fprintf(stderr, "sluice: malformed reply from the broker: no \"%s\" array\n", key);
        return SL_CLI_EXIT_BROKER;
    }
    return SL_CLI_EXIT_OK;
}

static int
run_function_list(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    sl_cli_reply_t raw;
    json_t *reply, *list, *f;
    size_t i;
    int rc;

    (void)cmd;
    if ((rc = get_list(c, "/v1/functions", "functions", &raw, &reply, &list)) != SL_CLI_EXIT_OK)
        return rc;
    if (opt_has(a, "json")) {
        put_raw(&raw);
    } else {
        json_array_foreach(list, i, f)
            printf("%s %s %lld/%lld\n", str_of(f, "name"), str_of(f, "kind"),
                   (long long)int_of(f, "instances_running"),
                   (long long)int_of(f, "max_concurrency"));
    }
    json_decref(reply);
    sl__cli_reply_deinit(&raw);
    return flush_stdout();
}

static int
run_function_delete(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    (void)cmd;
    return simple_call(c, a, SL_CLI_DELETE, res_path("functions", a->pos[0], ""), NULL, NULL);
}

static int
run_function_invoke(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    const char *payload = opt_str(a, "payload");
    const char *status, *etype, *emsg;
    sl_cli_reply_t raw;
    json_error_t jerr;
    json_t *body, *reply;
    char *path;
    int rc;

    if ((body = json_loads(payload != NULL ? payload : "{}", JSON_DECODE_ANY, &jerr)) == NULL)
        return usage_error(cmd, "--payload is not valid JSON: %s", jerr.text);
    path = res_path("functions", a->pos[0], "/invoke");
    rc = call(c, SL_CLI_POST, path, body, c->timeout_s, &raw, &reply);
    sl_free(path);
    json_decref(body);
    if (rc != SL_CLI_EXIT_OK)
        return rc;
    put_raw(&raw);
    rc = flush_stdout();
    status = json_string_value(json_object_get(reply, "status"));
    if (status == NULL || strcmp(status, "ok") != 0) {
        etype = json_string_value(json_object_get(reply, "error_type"));
        emsg = json_string_value(json_object_get(reply, "error_message"));
        fprintf(stderr, "sluice: %s: %s\n", etype != NULL ? etype : "InvocationFailed",
                emsg != NULL ? emsg : status != NULL ? status : "no status in the reply");
        rc = SL_CLI_EXIT_BROKER;
    }
    json_decref(reply);
    sl__cli_reply_deinit(&raw);
    return rc;
}

/* One log line as "TIME INSTANCE STREAM REQUEST TEXT", TIME in UTC with milliseconds. */
static void
put_log_line(const json_t *l)
{
    json_int_t ms = json_integer_value(json_object_get(l, "time"));
    time_t secs = (time_t)(ms / 1000);
    const char *req = json_string_value(json_object_get(l, "request"));
    const json_t *text = json_object_get(l, "line");
    struct tm tm;
    char when[32];

    gmtime_r(&secs, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    printf("%s.%03dZ %lld %s %s ", when, (int)(ms % 1000),
           (long long)json_integer_value(json_object_get(l, "instance")),
           str_of(l, "stream"), req != NULL ? req : "-");
    put_line(json_string_value(text) ? json_string_value(text) : "",
             json_string_value(text) ? json_string_length(text) : 0);
}

/* GET path; prints the lines (or the raw reply with --json) and stores the reply's
 * "next" in *next. Returns an exit status. */
static int
logs_once(cli_ctx_t *c, const cli_args_t *a, const char *path, uint64_t *next)
{
    sl_cli_reply_t raw;
    json_t *reply, *lines, *l;
    json_int_t missed;
    size_t i;
    int rc;

    if ((rc = get_list(c, path, "lines", &raw, &reply, &lines)) != SL_CLI_EXIT_OK)
        return rc;
    if (!json_is_integer(json_object_get(reply, "next"))) {
        json_decref(reply);
        sl__cli_reply_deinit(&raw);
        return malformed("no \"next\" number");
    }
    *next = (uint64_t)json_integer_value(json_object_get(reply, "next"));
    if ((missed = json_integer_value(json_object_get(reply, "missed"))) > 0)
        fprintf(stderr, "sluice: %lld log lines were dropped before they could be read\n",
                (long long)missed);
    if (opt_has(a, "json")) {
        put_raw(&raw);
    } else {
        json_array_foreach(lines, i, l) {
            if (json_is_object(l))
                put_log_line(l);
        }
    }
    json_decref(reply);
    sl__cli_reply_deinit(&raw);
    return flush_stdout();
}

static int
run_function_logs(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    const cli_arg_t *tail = opt_last(a, "tail");
    char *esc = sl__cli_http_escape(a->pos[0]);
    struct timespec pause = { SL_CLI_FOLLOW_POLL_MS / 1000,
                              (SL_CLI_FOLLOW_POLL_MS % 1000) * 1000000L };
    uint64_t next = 0;
    char *path;
    int rc;

    (void)cmd;
    path = tail != NULL ? fmt("/v1/functions/%s/logs?tail=%ld", esc, tail->num)
                        : fmt("/v1/functions/%s/logs", esc);
    rc = logs_once(c, a, path, &next);
    sl_free(path);
    /* --follow: poll for what came after, until interrupted or the broker says no. */
    while (rc == SL_CLI_EXIT_OK && opt_has(a, "follow")) {
        nanosleep(&pause, NULL);
        path = fmt("/v1/functions/%s/logs?after=%llu", esc, (unsigned long long)next);
        rc = logs_once(c, a, path, &next);
        sl_free(path);
    }
    sl_free(esc);
    return rc;
}

/* ---- Triggers and stats ---- */

static int
run_trigger_create(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    json_t *body = json_object();
    int rc = SL_CLI_CONTINUE;

    if (!opt_has(a, "source") || !opt_has(a, "function")) {
        rc = usage_error(cmd, "--source and --function are required");
        goto out_free;
    }
    if (!put_opt_str(cmd, a, "source", body, "source", &rc) ||
        !put_opt_str(cmd, a, "function", body, "function", &rc) ||
        !put_opt_json(cmd, a, "filter", body, "filter", &rc))
        goto out_free;
    put_opt_num(a, "batch-size", body, "batch_size", 1);
    put_opt_num(a, "batch-window", body, "batch_window_ms", 1);
    put_opt_num(a, "max-concurrency", body, "max_concurrency", 1);
    put_opt_num(a, "retry-base", body, "retry_base_ms", 1);
    put_opt_num(a, "retry-cap", body, "retry_cap_ms", 1);
    if (opt_has(a, "report-batch-item-failures"))
        json_object_set_new(body, "report_batch_item_failures", json_true());
    return simple_call(c, a, SL_CLI_POST, fmt("/v1/triggers"), body, "id");
out_free:
    json_decref(body);
    return rc;
}

static int
run_trigger_list(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    sl_cli_reply_t raw;
    json_t *reply, *list, *t;
    size_t i;
    int rc;

    (void)cmd;
    if ((rc = get_list(c, "/v1/triggers", "triggers", &raw, &reply, &list)) != SL_CLI_EXIT_OK)
        return rc;
    if (opt_has(a, "json")) {
        put_raw(&raw);
    } else {
        json_array_foreach(list, i, t)
            printf("%s %s %s %lld\n", str_of(t, "id"), str_of(t, "source"),
                   str_of(t, "function"), (long long)int_of(t, "batch_size"));
    }
    json_decref(reply);
    sl__cli_reply_deinit(&raw);
    return flush_stdout();
}

static int
run_trigger_delete(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    (void)cmd;
    return simple_call(c, a, SL_CLI_DELETE, res_path("triggers", a->pos[0], ""), NULL, NULL);
}

/* Widens *w to the length of the string member key of each element of list. */
static void
widen(const json_t *list, const char *key, int *w)
{
    const json_t *e;
    size_t i;

    json_array_foreach(list, i, e)
        if ((int)strlen(str_of(e, key)) > *w)
            *w = (int)strlen(str_of(e, key));
}

static int
run_stats(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    sl_cli_reply_t raw;
    json_t *reply, *trgs, *fns, *e, *st;
    int wid = 7, wfn = 8, wsrc = 6;     /* "TRIGGER", "FUNCTION", "SOURCE" */
    size_t i;
    int rc;

    (void)cmd;
    if ((rc = get_list(c, "/v1/stats", "triggers", &raw, &reply, &trgs)) != SL_CLI_EXIT_OK)
        return rc;
    fns = json_object_get(reply, "functions");
    if (opt_has(a, "json")) {
        put_raw(&raw);
        goto out_free;
    }
    widen(trgs, "id", &wid);
    widen(trgs, "function", &wfn);
    widen(trgs, "source", &wsrc);
    widen(fns, "name", &wfn);
    if (json_array_size(trgs) > 0) {
        printf("%-*s  %-*s  %-*s  %7s  %9s  %11s  %6s  %7s  %13s  %7s\n", wid, "TRIGGER",
               wfn, "FUNCTION", wsrc, "SOURCE", "DESIRED", "IN-FLIGHT", "INVOCATIONS",
               "ERRORS", "RETRIES", "DEAD-LETTERED", "BACKLOG");
        json_array_foreach(trgs, i, e) {
            st = json_object_get(e, "state");
            printf("%-*s  %-*s  %-*s  %7lld  %9lld  %11lld  %6lld  %7lld  %13lld  %7lld\n",
                   wid, str_of(e, "id"), wfn, str_of(e, "function"), wsrc, str_of(e, "source"),
                   (long long)int_of(st, "desired"), (long long)int_of(st, "in_flight"),
                   (long long)int_of(st, "invocations"), (long long)int_of(st, "errors"),
                   (long long)int_of(st, "retries"), (long long)int_of(st, "dead_lettered"),
                   (long long)int_of(st, "backlog"));
        }
    }
    if (json_array_size(fns) > 0) {
        if (json_array_size(trgs) > 0)
            putchar('\n');
        printf("%-*s  %7s  %4s  %11s\n", wfn, "FUNCTION", "RUNNING", "BUSY", "COLD-STARTS");
        json_array_foreach(fns, i, e)
            printf("%-*s  %7lld  %4lld  %11lld\n", wfn, str_of(e, "name"),
                   (long long)int_of(e, "instances_running"),
                   (long long)int_of(e, "instances_busy"), (long long)int_of(e, "cold_starts"));
    }
out_free:
    json_decref(reply);
    sl__cli_reply_deinit(&raw);
    return flush_stdout();
}

/* ---- Redrive (SQS JSON protocol) ---- */

/* Sets body[key] to the ARN of queue name. Returns false when name is not UTF-8. */
static bool
put_arn(const cli_ctx_t *c, json_t *body, const char *key, const char *name)
{
    char *arn = fmt("arn:aws:sqs:%s:%s:%s", c->region, c->account, name);
    bool ok = put_str(body, key, arn, strlen(arn));

    sl_free(arn);
    return ok;
}

static int
run_redrive(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    bool status = a->npos == 2;
    const char *dlq = a->pos[a->npos - 1], *to = opt_str(a, "to");
    const char *headers[] = { "Content-Type", "application/x-amz-json-1.0",
                              "X-Amz-Target", status ? "AmazonSQS.ListMessageMoveTasks"
                                                     : "AmazonSQS.StartMessageMoveTask",
                              NULL };
    sl_cli_reply_t raw;
    json_t *body, *reply, *results, *r;
    const char *s;
    size_t i;
    int rc;

    if (status && strcmp(a->pos[0], "status") != 0)
        return usage_error(cmd, "unexpected argument '%s'", a->pos[1]);
    if (status && (to != NULL || opt_has(a, "rate")))
        return usage_error(cmd, "--to and --rate do not go with 'redrive status'");
    body = json_object();
    if (!put_arn(c, body, "SourceArn", dlq) || (to != NULL && !put_arn(c, body,
                                                                       "DestinationArn", to))) {
        json_decref(body);
        return usage_error(cmd, "queue name is not valid UTF-8");
    }
    put_opt_num(a, "rate", body, "MaxNumberOfMessagesPerSecond", 1);
    rc = call_hdrs(c, SL_CLI_POST, "/", headers, body, c->timeout_s, &raw, &reply);
    json_decref(body);
    if (rc != SL_CLI_EXIT_OK)
        return rc;
    if (opt_has(a, "json")) {
        put_raw(&raw);
    } else if (!status) {
        if ((s = json_string_value(json_object_get(reply, "TaskHandle"))) == NULL)
            rc = malformed("no \"TaskHandle\"");
        else
            put_line(s, strlen(s));
    } else if (!json_is_array(results = json_object_get(reply, "Results"))) {
        rc = malformed("no \"Results\" array");
    } else {
        json_array_foreach(results, i, r) {
            json_t *to_move = json_object_get(r, "ApproximateNumberOfMessagesToMove");

            printf("%s %lld/", str_of(r, "Status"),
                   (long long)int_of(r, "ApproximateNumberOfMessagesMoved"));
            if (json_is_integer(to_move))
                printf("%lld", (long long)json_integer_value(to_move));
            else
                putchar('?');
            if ((s = json_string_value(json_object_get(r, "FailureReason"))) != NULL)
                printf(" %s", s);
            putchar('\n');
        }
    }
    json_decref(reply);
    sl__cli_reply_deinit(&raw);
    return rc != SL_CLI_EXIT_OK ? rc : flush_stdout();
}

static int
run_version(cli_ctx_t *c, const cli_cmd_t *cmd, const cli_args_t *a)
{
    (void)c;
    (void)cmd;
    (void)a;
    printf("sluice %s\n", SL_CLI_VERSION);
    return flush_stdout();
}

/* ---- Command table and help ---- */

static const cli_opt_t no_opts[] = { { NULL, OPT_FLAG } };

static const cli_opt_t create_opts[] = {
    { "fifo", OPT_FLAG }, { "attr", OPT_PAIR }, { "tag", OPT_PAIR }, { "json", OPT_FLAG },
    { NULL, OPT_FLAG },
};

static const cli_opt_t list_opts[] = {
    { "prefix", OPT_STR }, { "json", OPT_FLAG }, { NULL, OPT_FLAG },
};

static const cli_opt_t json_opts[] = { { "json", OPT_FLAG }, { NULL, OPT_FLAG } };

static const cli_opt_t send_opts[] = {
    { "delay", OPT_UINT }, { "group", OPT_STR }, { "dedup", OPT_STR },
    { "attr", OPT_PAIR }, { "attr-number", OPT_PAIR }, { "json", OPT_FLAG },
    { NULL, OPT_FLAG },
};

static const cli_opt_t receive_opts[] = {
    { "wait", OPT_UINT }, { "max", OPT_UINT }, { "visibility", OPT_UINT },
    { "delete", OPT_FLAG }, { "json", OPT_FLAG }, { NULL, OPT_FLAG },
};

static const cli_opt_t fn_create_opts[] = {
    { "process", OPT_STR }, { "cwd", OPT_STR }, { "handler", OPT_STR }, { "http", OPT_STR },
    { "native", OPT_STR }, { "env", OPT_PAIR }, { "timeout", OPT_UINT }, { "memory", OPT_UINT },
    { "min-concurrency", OPT_UINT }, { "max-concurrency", OPT_UINT },
    { "idle-timeout", OPT_UINT }, { "json", OPT_FLAG }, { NULL, OPT_FLAG },
};

static const cli_opt_t invoke_opts[] = { { "payload", OPT_STR }, { NULL, OPT_FLAG } };

static const cli_opt_t logs_opts[] = {
    { "tail", OPT_UINT }, { "follow", OPT_FLAG }, { "json", OPT_FLAG }, { NULL, OPT_FLAG },
};

static const cli_opt_t trg_create_opts[] = {
    { "source", OPT_STR }, { "function", OPT_STR }, { "batch-size", OPT_UINT },
    { "batch-window", OPT_UINT }, { "report-batch-item-failures", OPT_FLAG },
    { "filter", OPT_STR }, { "max-concurrency", OPT_UINT }, { "retry-base", OPT_UINT },
    { "retry-cap", OPT_UINT }, { "json", OPT_FLAG }, { NULL, OPT_FLAG },
};

static const cli_opt_t redrive_opts[] = {
    { "to", OPT_STR }, { "rate", OPT_UINT }, { "json", OPT_FLAG }, { NULL, OPT_FLAG },
};

static const cli_cmd_t commands[] = {
    { "queue", "create", "queue create NAME [--fifo] [--attr Name=Value]... [--tag Key=Value]...",
      "Creates queue NAME and prints its URL. Creating a queue that exists with the same\n"
      "attributes succeeds; with other attributes it fails with QueueNameExists.\n"
      "\n"
      "  --fifo              make a FIFO queue (FifoQueue=true; NAME must end in .fifo)\n"
      "  --attr Name=Value   set an SQS queue attribute, e.g. VisibilityTimeout=60,\n"
      "                      DelaySeconds=5, ContentBasedDeduplication=true; repeatable\n"
      "  --tag Key=Value     tag the queue; repeatable\n"
      "  --json              print the broker's raw JSON reply instead of the URL\n",
      create_opts, 1, 1, run_queue_create },
    { "queue", "list", "queue list [--prefix P] [--json]",
      "Prints the name of each queue, one a line.\n"
      "\n"
      "  --prefix P          only queues whose name starts with P\n"
      "  --json              print the broker's raw JSON reply (names and URLs)\n",
      list_opts, 0, 0, run_queue_list },
    { "queue", "delete", "queue delete NAME",
      "Deletes queue NAME and every message in it. Prints nothing.\n",
      json_opts, 1, 1, run_queue_delete },
    { "queue", "stats", "queue stats NAME [--json]",
      "Prints the attributes of queue NAME, one \"Name  value\" line each, sorted by name:\n"
      "ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible,\n"
      "ApproximateNumberOfMessagesDelayed, VisibilityTimeout, QueueArn and the rest.\n"
      "\n"
      "  --json              print the broker's raw JSON reply\n",
      json_opts, 1, 1, run_queue_stats },
    { "queue", "purge", "queue purge NAME",
      "Deletes every message in queue NAME, keeping the queue. Prints nothing.\n",
      json_opts, 1, 1, run_queue_purge },
    { NULL, "send", "send QUEUE [BODY|-] [--delay S] [--group ID] [--dedup ID]\n"
      "            [--attr Name=Value]... [--attr-number Name=Value]...",
      "Sends one message to QUEUE and prints its message id. Without BODY, or with \"-\",\n"
      "the body is all of stdin, byte for byte (a trailing newline is kept: use printf\n"
      "rather than echo). Put \"--\" before a BODY that starts with \"-\".\n"
      "\n"
      "  --delay S           deliver after S seconds (0-900)\n"
      "  --group ID          message group id (FIFO queues; required there)\n"
      "  --dedup ID          deduplication id (FIFO queues without content-based dedup)\n"
      "  --attr Name=Value   a String message attribute; repeatable\n"
      "  --attr-number Name=Value\n"
      "                      a Number message attribute; repeatable\n"
      "  --json              print the broker's raw JSON reply instead of the id\n",
      send_opts, 1, 2, run_send },
    { NULL, "receive", "receive QUEUE [--wait S] [--max N] [--visibility S] [--delete] [--json]",
      "Receives up to N messages from QUEUE and prints each body followed by a newline.\n"
      "No message is not an error: it prints nothing and exits 0. Received messages stay\n"
      "hidden for the visibility timeout and then come back unless deleted.\n"
      "\n"
      "  --wait S            long-poll up to S seconds (0-20, default 0) for a message\n"
      "  --max N             receive at most N messages (1-10, default 1)\n"
      "  --visibility S      hide the messages for S seconds instead of the queue's default\n"
      "  --delete            delete the messages once printed\n"
      "  --json              print the broker's raw JSON reply (ids, receipts, attributes)\n"
      "\n"
      "The request may take --wait plus 10 seconds even when --timeout is shorter.\n",
      receive_opts, 1, 1, run_receive },
    { "function", "create",
      "function create NAME (--process CMD [--cwd DIR] | --http URL | --native LIB.so)\n"
      "            [--handler H] [--env K=V]... [--timeout S] [--memory MB]\n"
      "            [--min-concurrency N] [--max-concurrency N] [--idle-timeout S]",
      "Creates function NAME and prints its name. Give exactly one kind:\n"
      "\n"
      "  --process CMD       run CMD with /bin/sh -c as a Lambda-style runtime process\n"
      "  --cwd DIR           its working directory; a relative DIR is made absolute here\n"
      "  --http URL          POST each invocation to URL\n"
      "  --native LIB.so     dlopen LIB.so in the broker and call its sluice_handler\n"
      "  --handler H         the handler name (_HANDLER of a process function)\n"
      "  --env K=V           an environment variable of the function; repeatable\n"
      "  --timeout S         limit one invocation to S seconds (after the command, this\n"
      "                      is the function's; put the request --timeout before it)\n"
      "  --memory MB         memory size (AWS_LAMBDA_FUNCTION_MEMORY_SIZE; default 128)\n"
      "  --min-concurrency N keep at least N instances warm\n"
      "  --max-concurrency N run at most N instances\n"
      "  --idle-timeout S    stop an idle instance after S seconds\n"
      "  --json              print the broker's raw JSON reply (the stored spec)\n",
      fn_create_opts, 1, 1, run_function_create },
    { "function", "list", "function list [--json]",
      "Prints one \"name kind running/max\" line per function, sorted by name: its\n"
      "kind (process, http, native), running instances and max concurrency.\n"
      "\n"
      "  --json              print the broker's raw JSON reply (specs and counters)\n",
      json_opts, 0, 0, run_function_list },
    { "function", "delete", "function delete NAME",
      "Deletes function NAME. Prints nothing.\n",
      json_opts, 1, 1, run_function_delete },
    { "function", "invoke", "function invoke NAME [--payload JSON]",
      "Invokes function NAME once and prints the broker's JSON reply (status, payload,\n"
      "error_type, error_message, duration_ms, cold_start). Exits 1, after printing it,\n"
      "when the status is not \"ok\".\n"
      "\n"
      "  --payload JSON      the event to pass (default {})\n",
      invoke_opts, 1, 1, run_function_invoke },
    { "function", "logs", "function logs NAME [--tail N] [--follow] [--json]",
      "Prints the recent output lines of the instances of function NAME, oldest first,\n"
      "one \"TIME INSTANCE STREAM REQUEST LINE\" line each (TIME in UTC; REQUEST is the\n"
      "invocation's request id, or - before the first). The broker keeps the last 1000\n"
      "lines (1 MiB) per function.\n"
      "\n"
      "  --tail N            only the last N lines\n"
      "  --follow            keep printing new lines as they come (polls every 0.5 s)\n"
      "                      until interrupted\n"
      "  --json              print the broker's raw JSON replies (seq, time, instance,\n"
      "                      stream, request, line; next, missed)\n",
      logs_opts, 1, 1, run_function_logs },
    { "trigger", "create",
      "trigger create --source queue:NAME --function NAME [--batch-size N]\n"
      "            [--batch-window MS] [--report-batch-item-failures] [--filter JSON]\n"
      "            [--max-concurrency N] [--retry-base MS] [--retry-cap MS]",
      "Creates a trigger that feeds the messages of a queue to a function, and prints its\n"
      "id. The queue's VisibilityTimeout must be at least the function's timeout.\n"
      "\n"
      "  --source queue:NAME the queue to poll (required)\n"
      "  --function NAME     the function to invoke (required)\n"
      "  --batch-size N      at most N messages an invocation\n"
      "  --batch-window MS   wait up to MS milliseconds to fill a batch\n"
      "  --report-batch-item-failures\n"
      "                      the function reports failed messages (batchItemFailures);\n"
      "                      only those are retried\n"
      "  --filter JSON       an event filter pattern; non-matching messages are dropped\n"
      "  --max-concurrency N at most N invocations at once\n"
      "  --retry-base MS     first retry delay; doubles on each retry\n"
      "  --retry-cap MS      longest retry delay\n"
      "  --json              print the broker's raw JSON reply instead of the id\n",
      trg_create_opts, 0, 0, run_trigger_create },
    { "trigger", "list", "trigger list [--json]",
      "Prints one \"id source function batch_size\" line per trigger.\n"
      "\n"
      "  --json              print the broker's raw JSON reply (with the state counters)\n",
      json_opts, 0, 0, run_trigger_list },
    { "trigger", "delete", "trigger delete ID",
      "Deletes trigger ID; its function stays. Prints nothing.\n",
      json_opts, 1, 1, run_trigger_delete },
    { NULL, "stats", "stats [--json]",
      "Prints a table of the triggers (desired and in-flight concurrency, invocations,\n"
      "errors, retries, dead-lettered messages, queue backlog) and one of the functions\n"
      "(running and busy instances, cold starts). Prints nothing when there is neither.\n"
      "\n"
      "  --json              print the broker's raw JSON reply (every counter)\n",
      json_opts, 0, 0, run_stats },
    { NULL, "redrive", "redrive DLQ [--to QUEUE] [--rate N]\n"
      "  redrive status DLQ",
      "Starts moving the messages of dead-letter queue DLQ back and prints the task\n"
      "handle; 'redrive status DLQ' prints \"Status moved/to-move\" per move task of DLQ.\n"
      "Speaks the SQS JSON protocol (StartMessageMoveTask, ListMessageMoveTasks); queue\n"
      "ARNs are built from --region and --account.\n"
      "\n"
      "  --to QUEUE          move to QUEUE (default: back to each message's source queue)\n"
      "  --rate N            move at most N messages a second\n"
      "  --json              print the broker's raw JSON reply\n",
      redrive_opts, 1, 2, run_redrive },
    { NULL, "version", "version", "Prints the version of this client.\n",
      no_opts, 0, 0, run_version },
};

#define SL_CLI_NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char global_help[] =
    "Global options (accepted before or after the command):\n"
    "  --endpoint URL      the broker: http://host[:port][/base] (default: $SLUICE_ENDPOINT,\n"
    "                      else " SL_CLI_DEFAULT_ENDPOINT ")\n"
    "  --timeout S         give up on a request after S seconds (default 30; receive\n"
    "                      allows at least its --wait plus 10)\n"
    "  --region R          region of the queue ARNs redrive builds (default us-east-1)\n"
    "  --account ID        account of those ARNs (default 000000000000)\n"
    "  -h, --help          show help; 'sluice COMMAND --help' for one command\n"
    "  --version           print the version\n"
    "\n"
    "Exit status:\n"
    "  0  success (including receive that got no message)\n"
    "  1  the broker answered with an error, printed as 'sluice: Code: message'\n"
    "  2  usage error\n"
    "  3  the broker could not be reached (refused, unresolvable, timed out, cut off)\n";

static void
print_usage(FILE *f)
{
    fputs("Usage: sluice [--endpoint URL] [--timeout S] <command> [args...]\n"
          "\n"
          "The command-line client of the sluice broker (native HTTP API under /v1).\n"
          "\n"
          "Commands:\n", f);
    for (size_t i = 0; i < SL_CLI_NCOMMANDS; i++)
        fprintf(f, "  %s\n", commands[i].synopsis);
    fputc('\n', f);
    fputs(global_help, f);
}

static void
print_group_usage(FILE *f, const char *group)
{
    fprintf(f, "Usage: sluice %s <command> [args...]\n\nCommands:\n", group);
    for (size_t i = 0; i < SL_CLI_NCOMMANDS; i++)
        if (commands[i].group != NULL && strcmp(commands[i].group, group) == 0)
            fprintf(f, "  %s\n", commands[i].synopsis);
    fprintf(f, "\nRun 'sluice %s COMMAND --help' for one command, 'sluice --help' for the\n"
               "global options.\n", group);
}

static void
print_cmd_help(const cli_cmd_t *cmd)
{
    printf("Usage: sluice %s\n\n%s\n", cmd->synopsis, cmd->help);
    printf("Global options: --endpoint URL, --timeout S, --region R, --account ID\n"
           "(see 'sluice --help').\n");
}

static const cli_cmd_t *
find_cmd(const char *group, const char *name)
{
    for (size_t i = 0; i < SL_CLI_NCOMMANDS; i++) {
        const cli_cmd_t *cmd = &commands[i];

        if ((cmd->group == NULL) != (group == NULL))
            continue;
        if (group != NULL && strcmp(cmd->group, group) != 0)
            continue;
        if (strcmp(cmd->name, name) == 0)
            return cmd;
    }
    return NULL;
}

static bool
is_group(const char *word)
{
    for (size_t i = 0; i < SL_CLI_NCOMMANDS; i++)
        if (commands[i].group != NULL && strcmp(commands[i].group, word) == 0)
            return true;
    return false;
}

/* ---- Argument parsing ---- */

static bool
name_is(const char *name, size_t nlen, const char *want)
{
    return nlen == strlen(want) && strncmp(name, want, nlen) == 0;
}

static bool
is_global_opt(const char *name, size_t nlen)
{
    return name_is(name, nlen, "endpoint") || name_is(name, nlen, "timeout") ||
           name_is(name, nlen, "region") || name_is(name, nlen, "account");
}

/* Applies the global option name (--endpoint, --timeout, --region, --account;
 * is_global_opt() holds) with value (NULL when missing). Returns SL_CLI_CONTINUE, or
 * SL_CLI_EXIT_USAGE after printing what is wrong with value. */
static int
apply_global_opt(cli_ctx_t *c, const cli_cmd_t *cmd, const char *name, const char *value)
{
    long n;

    if (name[0] == 'e' || name[0] == 'r' || name[0] == 'a') {
        const char *what = name[0] == 'e' ? "endpoint" : name[0] == 'r' ? "region" : "account";

        if (value == NULL || value[0] == '\0')
            return usage_error(cmd, "--%s needs a value", what);
        if (name[0] == 'e')
            c->endpoint = value;
        else if (name[0] == 'r')
            c->region = value;
        else
            c->account = value;
        return SL_CLI_CONTINUE;
    }
    if (value == NULL || !parse_uint(value, &n) || n == 0)
        return usage_error(cmd, "--timeout needs a whole number of seconds > 0, got '%s'",
                           value != NULL ? value : "");
    c->timeout_s = (int)n;
    return SL_CLI_CONTINUE;
}

/* Says which positional is missing: the first upper-case word of the synopsis after the
 * command words, e.g. "missing queue NAME", "missing trigger ID", "missing QUEUE". */
static int
missing_pos(const cli_cmd_t *cmd)
{
    const char *p = cmd->synopsis;
    size_t len;

    while (*p != '\0' && !(*p >= 'A' && *p <= 'Z' && (p == cmd->synopsis || p[-1] == ' ')))
        p++;
    len = strcspn(p, " \n]|");
    if (cmd->group != NULL)
        return usage_error(cmd, "missing %s %.*s", cmd->group, (int)len, p);
    return usage_error(cmd, "missing %.*s", (int)len, p);
}

/* Parses the arguments after the command words into *a (arrays sized argc; caller
 * frees a->opts and a->pos) and applies global options to *c. Returns SL_CLI_CONTINUE,
 * or an exit status after printing an error (usage) or help (a->help). */
static int
parse_args(int argc, char **argv, const cli_cmd_t *cmd, cli_ctx_t *c, cli_args_t *a)
{
    bool opts_done = false;

    memset(a, 0, sizeof(*a));
    a->opts = sl_calloc((size_t)argc + 1, sizeof(*a->opts));
    a->pos = sl_calloc((size_t)argc + 1, sizeof(*a->pos));
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], *name, *eq, *value = NULL;
        const cli_opt_t *o;
        size_t nlen;
        bool takes_value;
        int rc;

        if (!opts_done && strcmp(s, "--") == 0) {
            opts_done = true;
            continue;
        }
        if (opts_done || s[0] != '-' || s[1] == '\0') {
            a->pos[a->npos++] = s;
            continue;
        }
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            a->help = true;
            continue;
        }
        if (s[1] != '-')
            return usage_error(cmd, "unknown option '%s'", s);
        name = s + 2;
        eq = strchr(name, '=');
        nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        for (o = cmd->opts; o->name != NULL; o++)
            if (strlen(o->name) == nlen && strncmp(o->name, name, nlen) == 0)
                break;
        if (o->name == NULL && !is_global_opt(name, nlen))
            return usage_error(cmd, "unknown option '--%.*s'", (int)nlen, name);
        takes_value = o->name == NULL || o->kind != OPT_FLAG;
        if (!takes_value && eq != NULL)
            return usage_error(cmd, "option '--%s' takes no value", o->name);
        if (takes_value) {
            if (eq != NULL)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return usage_error(cmd, "option '--%.*s' needs a value", (int)nlen, name);
        }
        if (o->name == NULL) {
            if ((rc = apply_global_opt(c, cmd, name, value)) != SL_CLI_CONTINUE)
                return rc;
            continue;
        }
        a->opts[a->nopts].opt = o;
        a->opts[a->nopts].value = value;
        if (o->kind == OPT_UINT && !parse_uint(value, &a->opts[a->nopts].num))
            return usage_error(cmd, "--%s needs a whole number, got '%s'", o->name, value);
        if (o->kind == OPT_PAIR && (value[0] == '=' || strchr(value, '=') == NULL))
            return usage_error(cmd, "--%s needs Name=Value, got '%s'", o->name, value);
        a->nopts++;
    }
    if (a->help) {
        print_cmd_help(cmd);
        return flush_stdout();
    }
    if (a->npos < cmd->min_pos)
        return missing_pos(cmd);
    if (a->npos > cmd->max_pos)
        return usage_error(cmd, "unexpected argument '%s'", a->pos[cmd->max_pos]);
    return SL_CLI_CONTINUE;
}

/* `sluice help [WORDS...]`: help on a command, a group or everything. */
static int
run_help(int argc, char **argv)
{
    const cli_cmd_t *cmd = NULL;

    if (argc == 0) {
        print_usage(stdout);
    } else if (is_group(argv[0]) && argc == 1) {
        print_group_usage(stdout, argv[0]);
    } else {
        cmd = is_group(argv[0]) ? find_cmd(argv[0], argv[1]) : find_cmd(NULL, argv[0]);
        if (cmd == NULL)
            return usage_error(NULL, "no help for '%s%s%s'", argv[0], argc > 1 ? " " : "",
                               argc > 1 ? argv[1] : "");
        print_cmd_help(cmd);
    }
    return flush_stdout();
}

/* Finds the command named by argv[0] (and argv[1] for a group) and runs it. */
static int
dispatch(cli_ctx_t *c, int argc, char **argv)
{
    const cli_cmd_t *cmd;
    cli_args_t a;
    char err[128];
    int used = 1, rc;

    if (strcmp(argv[0], "help") == 0)
        return run_help(argc - 1, argv + 1);
    if (is_group(argv[0])) {
        if (argc < 2) {
            print_group_usage(stderr, argv[0]);
            return SL_CLI_EXIT_USAGE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            print_group_usage(stdout, argv[0]);
            return flush_stdout();
        }
        if ((cmd = find_cmd(argv[0], argv[1])) == NULL)
            return usage_error(NULL, "unknown command '%s %s'", argv[0], argv[1]);
        used = 2;
    } else if ((cmd = find_cmd(NULL, argv[0])) == NULL) {
        return usage_error(NULL, "unknown command '%s'", argv[0]);
    }

    rc = parse_args(argc - used, argv + used, cmd, c, &a);
    if (rc != SL_CLI_CONTINUE)
        goto out_free_args;
    if (cmd->run != run_version) {
        if (sl__cli_http_create(c->endpoint, &c->http, err, sizeof(err)) != SL_OK) {
            rc = usage_error(NULL, "bad endpoint '%s': %s", c->endpoint, err);
            goto out_free_args;
        }
    }
    rc = cmd->run(c, cmd, &a);
    sl__cli_http_destroy(c->http);
    c->http = NULL;
out_free_args:
    sl_free(a.opts);
    sl_free(a.pos);
    return rc;
}

static void *
json_alloc(size_t n)
{
    return sl_malloc(n);
}

int
main(int argc, char **argv)
{
    cli_ctx_t c = { .timeout_s = SL_CLI_DEFAULT_TIMEOUT_S, .region = SL_CLI_DEFAULT_REGION,
                    .account = SL_CLI_DEFAULT_ACCOUNT };
    const char *env = getenv("SLUICE_ENDPOINT");
    int i, rc;

    /* a broker that closes early must fail the request, not kill the client; and stdout
     * errors are checked (a receive --delete must not delete what it could not print) */
    signal(SIGPIPE, SIG_IGN);
    json_set_alloc_funcs(json_alloc, sl_free);
    c.endpoint = env != NULL && env[0] != '\0' ? env : SL_CLI_DEFAULT_ENDPOINT;

    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        const char *s = argv[i], *eq, *value;
        size_t nlen;

        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            print_usage(stdout);
            return flush_stdout();
        }
        if (strcmp(s, "--version") == 0 || strcmp(s, "-V") == 0)
            return run_version(&c, NULL, NULL);
        if (strcmp(s, "--") == 0) {
            i++;
            break;
        }
        if (s[1] != '-')
            return usage_error(NULL, "unknown option '%s'", s);
        eq = strchr(s + 2, '=');
        nlen = eq != NULL ? (size_t)(eq - s - 2) : strlen(s + 2);
        if (!is_global_opt(s + 2, nlen))
            return usage_error(NULL, "unknown option '%s'", s);
        value = eq != NULL ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
        if ((rc = apply_global_opt(&c, NULL, s + 2, value)) != SL_CLI_CONTINUE)
            return rc;
        if (eq == NULL)
            i++;
    }
    if (i >= argc) {
        print_usage(stderr);
        return SL_CLI_EXIT_USAGE;
    }
    if (strcmp(argv[i], "topic") == 0)
        return sl__cli_topic_main(c.endpoint, c.timeout_s, c.region, c.account, argc - i - 1,
                                  argv + i + 1);
    return dispatch(&c, argc - i, argv + i);
}
