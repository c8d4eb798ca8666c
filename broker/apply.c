/* apply.c - sluice.yaml's queues, topics, subscriptions, functions and triggers
 * applied at start, waiting for the store with backoff while it is unavailable (see
 * apply.h).
 *
 * Topics and subscriptions go through the SNS operations clients use, a short chain of
 * calls per item: CreateTopic (or, for one that exists with other attributes,
 * GetTopicAttributes and a SetTopicAttributes per difference) and TagResource;
 * Subscribe (which answers an existing subscription of the same topic, protocol and
 * endpoint rather than making another), then GetSubscriptionAttributes and a
 * SetSubscriptionAttributes per declared attribute that differs. A retry after the
 * store was unavailable repeats only the call that found it so. */
#include "apply.h"

#include "api/sns.h"
#include "api/sqs.h"
#include "../consumers/registry.h"
#include "../consumers/retry.h"
#include "jsonw.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

/* Waits for the store: sl_retry_backoff_ms without its jitter, 100 ms doubling to 5 s. */
#define BACKOFF_BASE_MS 200
#define BACKOFF_CAP_MS 10000

/* The steps, in order. */
typedef enum {
    STEP_START,
    STEP_PLAIN_QUEUES,          /* queues without a redrive policy (DLQs among them) */
    STEP_REDRIVEN_QUEUES,       /* queues whose redrive policy names one of those */
    STEP_TOPICS,
    STEP_SUBSCRIPTIONS,         /* name topics, and queues as endpoints and DLQs */
    STEP_LOAD,                  /* functions and triggers kept in the store */
    STEP_FUNCTIONS,
    STEP_TRIGGERS,
    STEP_DONE,
} step_t;

typedef struct item item_t;

struct sl_apply {
    struct event_base *base;
    sl_sqs_t *sqs;
    sl_sns_t *sns;
    sl_registry_t *reg;
    json_t *plain, *redriven;   /* the config's queues in two passes (own arrays) */
    json_t *topics;             /* borrowed */
    json_t *subs;               /* {topic, protocol, endpoint, attributes} (own array) */
    json_t *functions, *triggers;   /* borrowed */
    sl_apply_done_cb done;
    void *arg;
    step_t step;
    size_t pending;             /* items of the current step not finished */
    int status;                 /* first hard failure */
    item_t *items;              /* every live item, for destroy */
    struct event *kick;         /* starts the first step off the caller's stack */
};

/* One queue, function or trigger of the current step (a->step: steps run one at a
 * time, so every live item belongs to it). */
struct item {
    sl_apply_t *a;
    item_t *next, *prev;
    json_t *doc;                /* a queue, function or trigger (borrowed); NULL: load */
    const char *op;             /* queues: CreateQueue, then SetQueueAttributes */
    sl_sqs_call_t *call;
    sl_sns_call_t *sns_call;
    json_t *chain;              /* topics, subscriptions: [[op, input], ...] (own) */
    size_t at;                  /* the chain's call in flight */
    struct event *timer;
    uint32_t attempts;          /* tries that found the store unavailable */
};

static void run_item(item_t *it);
static void next_step(sl_apply_t *a);
static void finish(sl_apply_t *a);

static const char *
item_name(const item_t *it)
{
    const char *key = it->a->step == STEP_TRIGGERS ? "function"
                    : it->a->step == STEP_SUBSCRIPTIONS ? "endpoint" : "name";
    const char *n = json_string_value(json_object_get(it->doc, key));

    return n ? n : "?";
}

static const char *
step_name(step_t s)
{
    switch (s) {
    case STEP_PLAIN_QUEUES:
    case STEP_REDRIVEN_QUEUES: return "queue";
    case STEP_TOPICS: return "topic";
    case STEP_SUBSCRIPTIONS: return "subscription";
    case STEP_LOAD: return "stored functions";
    case STEP_FUNCTIONS: return "function";
    case STEP_TRIGGERS: return "trigger";
    default: return "?";
    }
}

static void
item_free(item_t *it)
{
    sl_apply_t *a = it->a;

    if (it->prev)
        it->prev->next = it->next;
    else
        a->items = it->next;
    if (it->next)
        it->next->prev = it->prev;
    if (it->call)
        sl_sqs_call_cancel(it->call);
    if (it->sns_call)
        sl_sns_call_cancel(it->sns_call);
    json_decref(it->chain);
    if (it->timer)
        event_free(it->timer);
    sl_free(it);
}

static void
finish(sl_apply_t *a)
{
    a->step = STEP_DONE;
    if (a->done)
        a->done(a->arg, a->status);
}

/* One item of the current step is through (applied, or failed for good). */
static void
item_done(item_t *it, int status)
{
    sl_apply_t *a = it->a;

    item_free(it);
    if (status != SL_OK && a->status == SL_OK)
        a->status = status;
    if (--a->pending > 0)
        return;
    if (a->status != SL_OK)
        finish(a);
    else
        next_step(a);
}

static void
on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_item(arg);
}

/* The store was not there: try the same item again later. */
static void
retry_later(item_t *it, const char *why)
{
    uint32_t ms = sl_retry_backoff_ms(++it->attempts, BACKOFF_BASE_MS, BACKOFF_CAP_MS, 0);
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    sl_log(SL_LOG_WARN, "config waits for the store what=%s name=%s retry_ms=%u error=\"%s\"",
           step_name(it->a->step), it->doc ? item_name(it) : "-", ms, why);
    if (it->timer == NULL)
        it->timer = evtimer_new(it->a->base, on_retry_timer, it);
    evtimer_add(it->timer, &tv);
}

static bool
store_unavailable(int status)
{
    return status == SL_EBACKEND || status == SL_ETIMEDOUT;
}

/* ---- queues ---- */

static void
on_queue(void *arg, const sl_api_err_t *err, json_t *out)
{
    item_t *it = arg;

    (void)out;
    it->call = NULL;
    if (err && err->http == 503) {
        retry_later(it, err->message);
        return;
    }
    if (err && strcmp(err->shape, "QueueNameExists") == 0 &&
        strcmp(it->op, "CreateQueue") == 0) {
        it->op = "SetQueueAttributes";      /* exists with other attributes: align it */
        run_item(it);
        return;
    }
    if (err) {
        sl_log(SL_LOG_ERROR, "config queue failed queue=%s code=%s msg=\"%s\"", item_name(it),
               err->shape, err->message);
        item_done(it, SL_EINVAL);
        return;
    }
    sl_log(SL_LOG_DEBUG, "config queue applied queue=%s", item_name(it));
    item_done(it, SL_OK);
}

static void
run_queue(item_t *it)
{
    json_t *in = json_object();
    json_t *attrs = json_object_get(it->doc, "attributes");
    const char *name = item_name(it);
    sl_sqs_call_t *call;

    if (strcmp(it->op, "CreateQueue") == 0) {
        json_object_set_new(in, "QueueName", json_string(name));
        if (json_object_get(it->doc, "tags"))
            json_object_set(in, "tags", json_object_get(it->doc, "tags"));
    } else {
        json_object_set_new(in, "QueueUrl", json_string(name));
    }
    json_object_set_new(in, "Attributes", attrs ? json_incref(attrs) : json_object());
    /* NULL: on_queue ran already (the call answered at once), and may have freed it. */
    if ((call = sl_sqs_call(it->a->sqs, it->op, in, NULL, on_queue, it)) != NULL)
        it->call = call;
    json_decref(in);
}

/* ---- topics and subscriptions ---- */

/* "arn:aws:SERVICE:REGION:ACCOUNT:" as the SQS service makes ARNs (new string). */
static char *
arn_prefix(const sl_apply_t *a, const char *service)
{
    char *q = sl_sqs_queue_arn(a->sqs, ""), *p;
    size_t n = strlen(q) + strlen(service) + 1;

    p = sl_malloc(n);
    snprintf(p, n, "arn:aws:%s:%s", service, q + strlen("arn:aws:sqs:"));
    sl_free(q);
    return p;
}

/* YAML typed the scalars; SNS attributes are strings. A mapping or list (a filter
 * policy written as YAML) becomes its JSON text. New reference. */
static json_t *
as_string(const json_t *v)
{
    char buf[32];

    if (json_is_string(v))
        return json_incref((json_t *)v);
    if (json_is_true(v) || json_is_false(v))
        return json_string(json_is_true(v) ? "true" : "false");
    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return json_string(buf);
    }
    if (json_is_null(v))
        return json_string("");
    {
        char *text = sl_json_dumps(v, NULL);
        json_t *s = json_string(text);

        sl_free(text);
        return s;
    }
}

static json_t *
string_attrs(const json_t *attrs)
{
    json_t *out = json_object(), *v;
    const char *k;

    json_object_foreach((json_t *)attrs, k, v)
        json_object_set_new(out, k, as_string(v));
    return out;
}

static void
chain_add(item_t *it, const char *op, json_t *in)
{
    json_array_append_new(it->chain, json_pack("[s,o]", op, in));
}

static json_t *
topic_name_in(const char *topic)
{
    return json_pack("{s:s}", "TopicName", topic);
}

static void run_chain(item_t *it);

/* Get*Attributes answered: a Set call for each declared attribute that differs. */
static void
add_differences(item_t *it, const json_t *have, bool topic)
{
    const json_t *want = json_object_get(it->doc, "attributes");
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)want, k, v) {
        json_t *sv = as_string(v), *in;
        const char *cur = json_string_value(json_object_get(have, k));

        if (topic && strcmp(k, "FifoTopic") == 0) {
            json_decref(sv);
            continue;                   /* fixed at creation */
        }
        if (cur == NULL || strcmp(cur, json_string_value(sv)) != 0) {
            if (topic) {
                in = topic_name_in(item_name(it));
            } else {
                in = json_object();
                json_object_set(in, "SubscriptionArn", json_object_get(
                    json_array_get(json_array_get(it->chain, it->at), 1), "SubscriptionArn"));
            }
            json_object_set_new(in, "AttributeName", json_string(k));
            json_object_set_new(in, "AttributeValue", sv);
            chain_add(it, topic ? "SetTopicAttributes" : "SetSubscriptionAttributes", in);
        } else {
            json_decref(sv);
        }
    }
}

static void
on_sns(void *arg, const sl_api_err_t *err, json_t *out)
{
    item_t *it = arg;
    const char *op = json_string_value(json_array_get(json_array_get(it->chain, it->at), 0));
    bool topic = it->a->step == STEP_TOPICS;

    it->sns_call = NULL;
    if (err && err->http == 503) {
        retry_later(it, err->message);
        return;
    }
    if (err && strcmp(op, "CreateTopic") == 0 && strstr(err->message, "already exists")) {
        err = NULL;                     /* with other attributes: set them below */
        out = NULL;
    }
    if (err) {
        sl_log(SL_LOG_ERROR, "config %s failed name=%s op=%s code=%s msg=\"%s\"",
               step_name(it->a->step), item_name(it), op, err->shape, err->message);
        item_done(it, SL_EINVAL);
        return;
    }
    if (strcmp(op, "CreateTopic") == 0 && json_object_get(it->doc, "attributes")) {
        chain_add(it, "GetTopicAttributes", topic_name_in(item_name(it)));
    } else if (strcmp(op, "Subscribe") == 0 && json_object_get(it->doc, "attributes")) {
        const char *arn = json_string_value(json_object_get(out, "SubscriptionArn"));

        if (arn != NULL)
            chain_add(it, "GetSubscriptionAttributes",
                      json_pack("{s:s}", "SubscriptionArn", arn));
    } else if (strcmp(op, "GetTopicAttributes") == 0 ||
               strcmp(op, "GetSubscriptionAttributes") == 0) {
        add_differences(it, json_object_get(out, "Attributes"), topic);
    }
    it->at++;
    run_chain(it);
}

/* Runs the chain's call at it->at, or ends the item after the last. */
static void
run_chain(item_t *it)
{
    json_t *step = json_array_get(it->chain, it->at);
    sl_sns_call_t *call;

    if (step == NULL) {
        sl_log(SL_LOG_DEBUG, "config %s applied name=%s", step_name(it->a->step),
               item_name(it));
        item_done(it, SL_OK);
        return;
    }
    /* NULL: on_sns ran already (the call answered at once), and may have freed it. */
    if ((call = sl_sns_call(it->a->sns, json_string_value(json_array_get(step, 0)),
                            json_array_get(step, 1), on_sns, it)) != NULL)
        it->sns_call = call;
}

static void
run_topic(item_t *it)
{
    const json_t *tags = json_object_get(it->doc, "tags"), *v;
    json_t *in;
    const char *k;

    if (it->chain == NULL) {
        it->chain = json_array();
        in = json_pack("{s:s}", "Name", item_name(it));
        json_object_set_new(in, "Attributes", string_attrs(json_object_get(it->doc,
                                                                           "attributes")));
        chain_add(it, "CreateTopic", in);
        if (json_object_size(tags) > 0) {
            char *arn = arn_prefix(it->a, "sns");
            json_t *list = json_array();
            size_t n = strlen(arn) + strlen(item_name(it)) + 1;
            char *full = sl_malloc(n);

            snprintf(full, n, "%s%s", arn, item_name(it));
            json_object_foreach((json_t *)tags, k, v)
                json_array_append_new(list, json_pack("{s:s, s:o}", "Key", k, "Value",
                                                      as_string(v)));
            chain_add(it, "TagResource", json_pack("{s:s, s:o}", "ResourceArn", full, "Tags",
                                                   list));
            sl_free(full);
            sl_free(arn);
        }
    }
    run_chain(it);
}

/* sqs and lambda endpoints may be given as a queue or function name. */
static json_t *
endpoint_of(const sl_apply_t *a, const char *proto, const char *endpoint)
{
    json_t *out;
    char *p, *full;
    size_t n;

    if (strncmp(endpoint, "arn:", 4) == 0 ||
        (strcmp(proto, "sqs") != 0 && strcmp(proto, "lambda") != 0))
        return json_string(endpoint);
    p = arn_prefix(a, proto);
    n = strlen(p) + strlen(endpoint) + 16;
    full = sl_malloc(n);
    snprintf(full, n, "%s%s%s", p, strcmp(proto, "lambda") == 0 ? "function:" : "", endpoint);
    out = json_string(full);
    sl_free(full);
    sl_free(p);
    return out;
}

/* Queues a subscription of topic for its step, its endpoint as an ARN. One declared
 * twice (the same protocol and endpoint, by name or ARN) is one subscription with
 * the attributes of both, the later winning: subscriptions are made concurrently,
 * and two Subscribe calls for one endpoint in flight at once would make two. */
static void
add_sub(sl_apply_t *a, json_t *topic, const json_t *s)
{
    const char *proto = json_string_value(json_object_get(s, "protocol"));
    json_t *d = json_deep_copy(s), *ep, *o;
    size_t k;

    ep = endpoint_of(a, proto, json_string_value(json_object_get(s, "endpoint")));
    json_object_set_new(d, "endpoint", ep);
    json_object_set(d, "topic", topic);
    json_array_foreach(a->subs, k, o) {
        if (json_equal(json_object_get(o, "topic"), topic) &&
            json_equal(json_object_get(o, "protocol"), json_object_get(s, "protocol")) &&
            json_equal(json_object_get(o, "endpoint"), ep)) {
            if (json_object_get(s, "attributes")) {
                if (json_object_get(o, "attributes") == NULL)
                    json_object_set_new(o, "attributes", json_object());
                json_object_update(json_object_get(o, "attributes"),
                                   json_object_get(s, "attributes"));
            }
            json_decref(d);
            return;
        }
    }
    json_array_append_new(a->subs, d);
}

static void
run_sub(item_t *it)
{
    const char *proto = json_string_value(json_object_get(it->doc, "protocol"));
    json_t *in;

    if (it->chain == NULL) {
        it->chain = json_array();
        in = topic_name_in(json_string_value(json_object_get(it->doc, "topic")));
        json_object_set_new(in, "Protocol", json_string(proto));
        json_object_set_new(in, "Endpoint", json_string(item_name(it)));
        json_object_set_new(in, "Attributes", string_attrs(json_object_get(it->doc,
                                                                           "attributes")));
        json_object_set_new(in, "ReturnSubscriptionArn", json_true());
        chain_add(it, "Subscribe", in);
    }
    run_chain(it);
}

/* ---- functions and triggers ---- */

static void
on_loaded(void *arg, int status)
{
    item_t *it = arg;

    if (store_unavailable(status)) {
        retry_later(it, sl_strerror(status));
        return;
    }
    if (status != SL_OK)
        sl_log(SL_LOG_WARN, "stored functions not loaded status=%s", sl_strerror(status));
    item_done(it, SL_OK);
}

static void
on_registered(void *arg, int status, const char *msg, json_t *out)
{
    item_t *it = arg;

    (void)out;
    if (store_unavailable(status)) {
        retry_later(it, msg ? msg : sl_strerror(status));
        return;
    }
    if (status != SL_OK) {
        sl_log(SL_LOG_ERROR, "config %s failed name=%s status=%s msg=\"%s\"", step_name(it->a->step),
               item_name(it), sl_strerror(status), msg ? msg : "");
        item_done(it, status);
        return;
    }
    item_done(it, SL_OK);
}

static void
run_item(item_t *it)
{
    switch (it->a->step) {
    case STEP_PLAIN_QUEUES:
    case STEP_REDRIVEN_QUEUES:
        run_queue(it);
        break;
    case STEP_TOPICS:
        run_topic(it);
        break;
    case STEP_SUBSCRIPTIONS:
        run_sub(it);
        break;
    case STEP_LOAD:
        sl_registry_load(it->a->reg, on_loaded, it);
        break;
    case STEP_FUNCTIONS:
        sl_registry_function_put(it->a->reg, it->doc, on_registered, it);
        break;
    case STEP_TRIGGERS:
        sl_registry_trigger_put(it->a->reg, it->doc, on_registered, it);
        break;
    default:
        break;
    }
}

static item_t *
add_item(sl_apply_t *a, json_t *doc)
{
    item_t *it = sl_calloc(1, sizeof(*it));

    it->a = a;
    it->doc = doc;
    it->op = "CreateQueue";
    it->next = a->items;
    if (a->items)
        a->items->prev = it;
    a->items = it;
    a->pending++;
    return it;
}

static json_t *
step_docs(sl_apply_t *a)
{
    switch (a->step) {
    case STEP_PLAIN_QUEUES: return a->plain;
    case STEP_REDRIVEN_QUEUES: return a->redriven;
    case STEP_TOPICS: return a->topics;
    case STEP_SUBSCRIPTIONS: return a->subs;
    case STEP_FUNCTIONS: return a->functions;
    case STEP_TRIGGERS: return a->triggers;
    default: return NULL;
    }
}

/* Runs the steps in order until one has items in flight. The step is held open
 * (pending + 1) while its items start, so an item that finishes at once cannot end it
 * before the rest have started. The load step has one item without a document. */
static void
next_step(sl_apply_t *a)
{
    while (++a->step < STEP_DONE) {
        json_t *docs = step_docs(a);
        size_t n = a->step == STEP_LOAD ? 1 : json_array_size(docs);

        a->pending++;
        for (size_t i = 0; i < n; i++)
            run_item(add_item(a, json_array_get(docs, i)));
        if (--a->pending > 0)
            return;
        if (a->status != SL_OK)
            break;
    }
    finish(a);
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    next_step(arg);
}

sl_apply_t *
sl_apply_start(struct event_base *base, struct sl_sqs *sqs, struct sl_sns *sns,
               struct sl_registry *reg, json_t *queues, json_t *topics, json_t *functions,
               json_t *triggers, sl_apply_done_cb done, void *arg)
{
    sl_apply_t *a = sl_calloc(1, sizeof(*a));
    struct timeval now = { 0, 0 };
    size_t i, j;
    json_t *q, *s;

    a->base = base;
    a->sqs = sqs;
    a->sns = sns;
    a->reg = reg;
    a->topics = topics;
    a->subs = json_array();
    json_array_foreach(topics, i, q) {
        json_array_foreach(json_object_get(q, "subscriptions"), j, s) {
            add_sub(a, json_object_get(q, "name"), s);
        }
    }
    a->functions = functions;
    a->triggers = triggers;
    a->done = done;
    a->arg = arg;
    a->step = STEP_START;
    /* Dead-letter queues first, so redrive policies name queues that exist. */
    a->plain = json_array();
    a->redriven = json_array();
    json_array_foreach(queues, i, q) {
        const char *rp = json_string_value(
            json_object_get(json_object_get(q, "attributes"), "RedrivePolicy"));

        json_array_append(rp && *rp ? a->redriven : a->plain, q);
    }
    a->kick = evtimer_new(base, on_kick, a);
    evtimer_add(a->kick, &now);
    return a;
}

void
sl_apply_destroy(sl_apply_t *a)
{
    if (a == NULL)
        return;
    a->done = NULL;
    while (a->items)
        item_free(a->items);
    event_free(a->kick);
    json_decref(a->plain);
    json_decref(a->redriven);
    json_decref(a->subs);
    sl_free(a);
}
