/* apply.c - sluice.yaml's queues, functions and triggers applied at start, waiting
 * for the store with backoff while it is unavailable (see apply.h). */
#include "apply.h"

#include "api/sqs.h"
#include "../consumers/registry.h"
#include "../consumers/retry.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#include <event2/event.h>
#include <string.h>

/* Waits for the store: sl_retry_backoff_ms without its jitter, 100 ms doubling to 5 s. */
#define BACKOFF_BASE_MS 200
#define BACKOFF_CAP_MS 10000

/* The steps, in order. */
typedef enum {
    STEP_START,
    STEP_PLAIN_QUEUES,          /* queues without a redrive policy (DLQs among them) */
    STEP_REDRIVEN_QUEUES,       /* queues whose redrive policy names one of those */
    STEP_LOAD,                  /* functions and triggers kept in the store */
    STEP_FUNCTIONS,
    STEP_TRIGGERS,
    STEP_DONE,
} step_t;

typedef struct item item_t;

struct sl_apply {
    struct event_base *base;
    sl_sqs_t *sqs;
    sl_registry_t *reg;
    json_t *plain, *redriven;   /* the config's queues in two passes (own arrays) */
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
    struct event *timer;
    uint32_t attempts;          /* tries that found the store unavailable */
};

static void run_item(item_t *it);
static void next_step(sl_apply_t *a);
static void finish(sl_apply_t *a);

static const char *
item_name(const item_t *it)
{
    const char *key = it->a->step == STEP_TRIGGERS ? "function" : "name";
    const char *n = json_string_value(json_object_get(it->doc, key));

    return n ? n : "?";
}

static const char *
step_name(step_t s)
{
    switch (s) {
    case STEP_PLAIN_QUEUES:
    case STEP_REDRIVEN_QUEUES: return "queue";
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
sl_apply_start(struct event_base *base, struct sl_sqs *sqs, struct sl_registry *reg,
               json_t *queues, json_t *functions, json_t *triggers, sl_apply_done_cb done,
               void *arg)
{
    sl_apply_t *a = sl_calloc(1, sizeof(*a));
    struct timeval now = { 0, 0 };
    size_t i;
    json_t *q;

    a->base = base;
    a->sqs = sqs;
    a->reg = reg;
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
    sl_free(a);
}
