/* fanout.c - topic fanout (see fanout.h): the topic/subscription cache and the
 * outbox worker that turns a publish into deliveries.
 *
 * Two kinds of delivery, two paths:
 *   - to a queue of this store (sqs protocol): straight from the publish entry.
 *     The worker renders each matching subscription's message and gathers the
 *     deliveries of every publish of one claim by destination queue, so K
 *     publishes to a topic of N queues cost about N batch sends (of up to
 *     GROUP_MAX messages) rather than K x N appends, claims, sends and acks. The
 *     publish entry is acked only when every one of its sends has answered, so a
 *     broker that stops half way re-delivers from the publish (at least once,
 *     never lost). A send that fails (a missing queue, a store error, a batch
 *     over the queue's size limit) becomes a delivery entry of the second path,
 *     which retries and dead-letters it on its own. FIFO topics send one publish
 *     at a time, in sequence order, so each group's order reaches the queue.
 *   - to functions and HTTP endpoints: one outbox entry per delivery
 *     ("sns.deliver"), appended before the publish is acked. Each retries, times
 *     out and dead-letters on its own, and a slow HTTP subscriber cannot hold
 *     back the queues of the same publish.
 * Measured with `sluice-bench sns` (tests/bench/sns.sh): with one outbox entry
 * per queue delivery too, raw delivery to N = 10 queues reached about a quarter
 * of the deliveries/s of this design (57k against 210k/s, same build); the
 * appends, claims, JSON round trips and acks of the delivery entries were most
 * of the cost (tests/bench/README.md has the figures).
 *
 * Filters: each cached subscription holds its compiled policy. Fanning out one
 * publish builds the attribute view once and parses the body once, and only if
 * some subscription of the topic filters on the body.
 *
 * The worker claims due entries on a short tick and whenever a publish was just
 * appended; an entry being worked on here is skipped if its lease ends and a
 * later claim hands it out again (the later claim's lease then covers it). */
#include "fanout.h"

#include "../consumers/registry.h"
#include "b64.h"
#include "jsonr.h"
#include "jsonw.h"
#include "sns_deliver.h"
#include "sns_sign.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "strmap.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define CLAIM_MAX 64
#define LEASE_MS 60000
#define TICK_MS 200
#define RELOAD_MS 5000
#define MAX_JOBS 1024           /* entries in flight here; claims wait below this */
#define SL_SNS_VERSION_KIND "sns-version"

typedef struct sub {
    sl_sub_spec_t spec;
    sl_filter_t *filter;        /* NULL: matches every message */
    bool body_scope;            /* FilterPolicyScope=MessageBody */
    char *doc;                  /* the JSON it was built from, to spot changes on reload */
} sub_t;

typedef struct job job_t;

/* Every small request record waiting on a store callback (reloads, version
 * bumps, publishes) is on one list, so destroy can free them: the store drops
 * pending callbacks when it goes. */
typedef struct pend {
    struct pend *prev, *next;
    void (*deinit)(struct pend *p);     /* what destroy must release besides it; or NULL */
} pend_t;

struct sl_fanout {
    struct event_base *base;
    sl_store_t *store;
    sl_registry_t *registry;
    char *region, *account, *base_url;
    uint32_t lambda_retry_ms;
    sl_strmap_t topics;         /* name -> sl_topic_spec_t */
    sl_strmap_t subs;           /* id -> sub_t */
    sl_strmap_t inflight;       /* outbox id -> job_t */
    job_t *jobs;
    size_t njobs;
    struct event *tick;
    struct event *kick;
    bool loaded, claiming, loading;
    uint64_t gen;               /* local changes; a reload started before one is stale */
    int64_t last_reload_ms;
    char version_seen[SL_MSG_ID_LEN + 3];   /* the store's SNS version the cache reflects */
    struct evdns_base *dns;     /* made when an HTTP endpoint names a host */
    sl_sns_http_client_t *http; /* kept-alive connections and the TLS context */
    sl_sns_signer_t *signer;
    pend_t pending;             /* list head */
    struct group *free_groups;  /* batch sends kept for reuse (fan_out) */
    size_t nfree_groups;
    void (*load_done)(void *arg, int status);
    void *load_arg;
    sl_fanout_stats_t stats;
};

struct job {
    sl_fanout_t *f;
    job_t *prev, *next;
    char id[SL_MSG_ID_LEN + 1]; /* outbox entry */
    uint32_t attempts;
    int pending;                /* store operations outstanding */
    bool failed;                /* an append of a fanout failed: retry the publish */
    json_t *rec;                /* the publish record */
    sl_sub_spec_t sub;          /* deliveries: the subscription as it was */
    bool have_sub;
    sl_sns_delivery_t dv;       /* deliveries: what is sent */
    sl_sns_http_t *http;        /* an HTTP delivery in flight */
    char raw_md5[SL_MD5_HEX_LEN + 1];   /* the message's MD5 once a raw delivery needed it, or "" */
};

/* ---- Pending request records ---- */

static void *
pend_new(sl_fanout_t *f, size_t size)
{
    pend_t *p = sl_calloc(1, size);

    p->next = f->pending.next;
    p->prev = &f->pending;
    f->pending.next->prev = p;
    f->pending.next = p;
    return p;
}

static void
pend_free(void *ptr)
{
    pend_t *p = ptr;

    p->prev->next = p->next;
    p->next->prev = p->prev;
    sl_free(p);
}

/* ---- Time and names ---- */

static int64_t
wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

char *
sl_fanout_topic_arn(const sl_fanout_t *f, const char *topic)
{
    size_t n = strlen(f->region) + strlen(f->account) + strlen(topic) + 16;
    char *a = sl_malloc(n);

    snprintf(a, n, "arn:aws:sns:%s:%s:%s", f->region, f->account, topic);
    return a;
}

char *
sl_fanout_sub_arn(const sl_fanout_t *f, const sl_sub_spec_t *s)
{
    char *t = sl_fanout_topic_arn(f, s->topic);
    size_t n = strlen(t) + strlen(s->id) + 2;
    char *a = sl_malloc(n);

    snprintf(a, n, "%s:%s", t, s->id);
    sl_free(t);
    return a;
}

const char *
sl_fanout_base_url(const sl_fanout_t *f)
{
    return f->base_url ? f->base_url : "http://127.0.0.1:9324";
}

void
sl_fanout_set_base_url(sl_fanout_t *f, const char *url)
{
    size_t n;

    sl_free(f->base_url);
    f->base_url = sl_strdup(url);
    n = strlen(f->base_url);
    while (n > 0 && f->base_url[n - 1] == '/')
        f->base_url[--n] = '\0';
}

/* ---- Filters ---- */

int
sl_fanout_compile_policy(const sl_kvlist_t *attrs, sl_filter_t **out, bool *body_scope,
                         char *err, size_t errlen)
{
    const char *policy = sl_kvlist_get(attrs, "FilterPolicy");
    const char *scope = sl_kvlist_get(attrs, "FilterPolicyScope");

    *out = NULL;
    *body_scope = scope != NULL && strcmp(scope, "MessageBody") == 0;
    if (err && errlen)
        err[0] = '\0';
    if (policy == NULL || *policy == '\0')
        return SL_OK;
    return sl_filter_compile(policy, strlen(policy),
                             *body_scope ? SL_FILTER_SNS : SL_FILTER_SNS_ATTRS, out, err, errlen);
}

/* The attribute view SNS policies match against: String -> string, Number ->
 * number, String.Array -> the parsed array; Binary attributes never match, so
 * they are left out. */
static json_t *
attrs_view(const json_t *attrs)
{
    json_t *view = json_object(), *a;
    const char *name;

    json_object_foreach((json_t *)attrs, name, a) {
        const char *type = json_string_value(json_object_get(a, "Type"));
        const char *val = json_string_value(json_object_get(a, "Value"));
        json_t *v = NULL;

        if (type == NULL || val == NULL)
            continue;
        if (strncmp(type, "Number", 6) == 0) {
            char *end;
            double d = strtod(val, &end);

            v = *end == '\0' ? json_real(d) : NULL;
        } else if (strcmp(type, "String.Array") == 0) {
            if (sl_json_parse(val, strlen(val), &v, NULL, 0) != SL_OK || !json_is_array(v)) {
                json_decref(v);
                v = NULL;
            }
        } else if (strncmp(type, "String", 6) == 0) {
            v = json_string(val);
        }
        if (v)
            json_object_set_new(view, name, v);
    }
    return view;
}

/* ---- The cache ---- */

static void
sub_free(sub_t *s)
{
    if (s == NULL)
        return;
    sl_sub_spec_deinit(&s->spec);
    sl_filter_destroy(s->filter);
    sl_free(s->doc);
    sl_free(s);
}

static void
topic_free(sl_topic_spec_t *t)
{
    if (t == NULL)
        return;
    sl_topic_spec_deinit(t);
    sl_free(t);
}

const sl_topic_spec_t *
sl_fanout_topic(const sl_fanout_t *f, const char *name)
{
    return sl__strmap_get(&f->topics, name);
}

void
sl_fanout_topic_set(sl_fanout_t *f, const sl_topic_spec_t *t)
{
    sl_topic_spec_t *c = sl_malloc(sizeof(*c));

    sl_topic_spec_copy(c, t);
    topic_free(sl__strmap_put(&f->topics, t->name, c));
    f->gen++;
}

void
sl_fanout_topic_remove(sl_fanout_t *f, const char *name)
{
    const sl_sub_spec_t **subs;
    size_t n = sl_fanout_subs(f, name, &subs);

    for (size_t i = 0; i < n; i++)
        sub_free(sl__strmap_del(&f->subs, subs[i]->id));
    sl_free(subs);
    topic_free(sl__strmap_del(&f->topics, name));
    f->gen++;
}

const sl_sub_spec_t *
sl_fanout_sub(const sl_fanout_t *f, const char *id)
{
    sub_t *s = sl__strmap_get(&f->subs, id);

    return s ? &s->spec : NULL;
}

/* Caches s; doc (may be NULL) is its stored text. */
static int
sub_put(sl_fanout_t *f, const sl_sub_spec_t *spec, const char *doc, char *err, size_t errlen)
{
    sub_t *s = sl_calloc(1, sizeof(*s));
    int rc;

    if ((rc = sl_fanout_compile_policy(&spec->attrs, &s->filter, &s->body_scope, err,
                                       errlen)) != SL_OK) {
        sl_free(s);
        return rc;
    }
    sl_sub_spec_copy(&s->spec, spec);
    s->doc = doc ? sl_strdup(doc) : NULL;
    sub_free(sl__strmap_put(&f->subs, spec->id, s));
    return SL_OK;
}

int
sl_fanout_sub_set(sl_fanout_t *f, const sl_sub_spec_t *s, char *err, size_t errlen)
{
    f->gen++;
    return sub_put(f, s, NULL, err, errlen);
}

void
sl_fanout_sub_remove(sl_fanout_t *f, const char *id)
{
    sub_free(sl__strmap_del(&f->subs, id));
    f->gen++;
}

static int
cmp_topic(const void *a, const void *b)
{
    return strcmp((*(const sl_topic_spec_t *const *)a)->name,
                  (*(const sl_topic_spec_t *const *)b)->name);
}

static int
cmp_sub(const void *a, const void *b)
{
    const sl_sub_spec_t *x = *(const sl_sub_spec_t *const *)a;
    const sl_sub_spec_t *y = *(const sl_sub_spec_t *const *)b;
    int c = strcmp(x->topic, y->topic);

    if (c)
        return c;
    if (x->created_ms != y->created_ms)
        return x->created_ms < y->created_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

size_t
sl_fanout_topics(const sl_fanout_t *f, const sl_topic_spec_t ***out)
{
    const sl_topic_spec_t **v = sl_calloc(f->topics.n + 1, sizeof(*v));
    size_t pos = 0, n = 0;
    const char *k;
    void *val;

    while (sl__strmap_next(&f->topics, &pos, &k, &val))
        v[n++] = val;
    qsort(v, n, sizeof(*v), cmp_topic);
    *out = v;
    return n;
}

size_t
sl_fanout_subs(const sl_fanout_t *f, const char *topic, const sl_sub_spec_t ***out)
{
    const sl_sub_spec_t **v = sl_calloc(f->subs.n + 1, sizeof(*v));
    size_t pos = 0, n = 0;
    const char *k;
    void *val;

    while (sl__strmap_next(&f->subs, &pos, &k, &val)) {
        sub_t *s = val;

        if (topic == NULL || strcmp(s->spec.topic, topic) == 0)
            v[n++] = &s->spec;
    }
    qsort(v, n, sizeof(*v), cmp_sub);
    *out = v;
    return n;
}

/* ---- Loading and reloading from the store ---- */

typedef struct load {
    pend_t link;                        /* first: pend_new/pend_free */
    sl_fanout_t *f;
    uint64_t gen;
    char version[SL_MSG_ID_LEN + 3];    /* the store's version it was started for, or "" */
} load_t;

static void claim(sl_fanout_t *f);

/* fresh: l's reload was applied in full (not discarded for a local change). */
static void
load_finish(sl_fanout_t *f, int status, const load_t *l, bool fresh)
{
    void (*done)(void *, int) = f->load_done;

    if (fresh && l && l->version[0])
        snprintf(f->version_seen, sizeof(f->version_seen), "%s", l->version);
    f->loading = false;
    f->last_reload_ms = wall_ms();
    if (status == SL_OK)
        f->loaded = true;
    f->load_done = NULL;
    if (done)
        done(f->load_arg, status);
    if (f->loaded)
        claim(f);
}

static void
on_subs_loaded(void *arg, int status, char *const *names, char *const *docs, size_t n)
{
    load_t *l = arg;
    sl_fanout_t *f = l->f;
    sl_strmap_t seen;

    (void)names;
    if (status != SL_OK || l->gen != f->gen) {
        if (status != SL_OK)
            sl_log(SL_LOG_WARN, "subscriptions not loaded status=%s", sl_strerror(status));
        load_finish(f, status == SL_OK && f->loaded ? SL_OK : status, l, false);
        pend_free(l);
        return;
    }
    sl__strmap_init(&seen);
    for (size_t i = 0; i < n; i++) {
        sub_t *old;
        sl_sub_spec_t spec;
        json_t *doc = NULL;
        char err[256];

        if (sl_json_parse(docs[i], strlen(docs[i]), &doc, NULL, 0) != SL_OK ||
            sl_sub_spec_from_json(&spec, doc) != SL_OK) {
            sl_log(SL_LOG_WARN, "stored subscription unreadable name=%s", names[i]);
            json_decref(doc);
            sl_sub_spec_deinit(&spec);
            continue;
        }
        json_decref(doc);
        sl__strmap_put(&seen, spec.id, &seen);
        old = sl__strmap_get(&f->subs, spec.id);
        if (old == NULL || old->doc == NULL || strcmp(old->doc, docs[i]) != 0) {
            if (sub_put(f, &spec, docs[i], err, sizeof(err)) != SL_OK)
                sl_log(SL_LOG_WARN, "stored filter policy invalid subscription=%s err=\"%s\"",
                       spec.id, err);
        }
        sl_sub_spec_deinit(&spec);
    }
    /* Subscriptions gone from the store (another broker removed them). */
    {
        const sl_sub_spec_t **all;
        size_t na = sl_fanout_subs(f, NULL, &all);

        for (size_t i = 0; i < na; i++)
            if (sl__strmap_get(&seen, all[i]->id) == NULL)
                sub_free(sl__strmap_del(&f->subs, all[i]->id));
        sl_free(all);
    }
    sl__strmap_deinit(&seen);
    load_finish(f, SL_OK, l, true);
    pend_free(l);
}

static void
on_topics_loaded(void *arg, int status, char *const *names, char *const *docs, size_t n)
{
    load_t *l = arg;
    sl_fanout_t *f = l->f;

    if (status != SL_OK || l->gen != f->gen) {
        if (status != SL_OK)
            sl_log(SL_LOG_WARN, "topics not loaded status=%s", sl_strerror(status));
        load_finish(f, status == SL_OK && f->loaded ? SL_OK : status, l, false);
        pend_free(l);
        return;
    }
    {
        sl_strmap_t fresh;
        size_t pos = 0;
        const char *k;
        void *v;

        sl__strmap_init(&fresh);
        for (size_t i = 0; i < n; i++) {
            sl_topic_spec_t *t = sl_malloc(sizeof(*t));
            json_t *doc = NULL;

            if (sl_json_parse(docs[i], strlen(docs[i]), &doc, NULL, 0) != SL_OK ||
                sl_topic_spec_from_json(t, doc) != SL_OK) {
                sl_log(SL_LOG_WARN, "stored topic unreadable name=%s", names[i]);
                topic_free(t);
            } else {
                topic_free(sl__strmap_put(&fresh, t->name, t));
            }
            json_decref(doc);
        }
        while (sl__strmap_next(&f->topics, &pos, &k, &v))
            topic_free(v);
        sl__strmap_deinit(&f->topics);
        f->topics = fresh;
    }
    if (sl_store_meta_list(f->store, SL_SUB_META_KIND, on_subs_loaded, l) != SL_OK) {
        load_finish(f, SL_EBACKEND, l, false);
        pend_free(l);
    }
}

/* version: the store's version this reload catches up with ("" unknown). */
static void
reload(sl_fanout_t *f, const char *version)
{
    load_t *l;

    if (f->loading)
        return;
    l = pend_new(f, sizeof(*l));
    l->f = f;
    l->gen = f->gen;
    snprintf(l->version, sizeof(l->version), "%s", version);
    f->loading = true;
    if (sl_store_meta_list(f->store, SL_TOPIC_META_KIND, on_topics_loaded, l) != SL_OK) {
        pend_free(l);
        f->loading = false;
        f->last_reload_ms = wall_ms();
    }
}

void
sl_fanout_load(sl_fanout_t *f, void (*done)(void *arg, int status), void *arg)
{
    f->load_done = done;
    f->load_arg = arg;
    reload(f, "");
    if (!f->loading)
        load_finish(f, SL_EBACKEND, NULL, false);   /* NB: runs done now; callers tolerate it */
    event_add(f->tick, &(struct timeval){ 0, TICK_MS * 1000 });
}

bool
sl_fanout_is_loaded(const sl_fanout_t *f)
{
    return f->loaded;
}

/* ---- Jobs ---- */

static job_t *
job_new(sl_fanout_t *f, const sl_outbox_item_t *it, json_t *rec)
{
    job_t *j = sl_calloc(1, sizeof(*j));

    j->f = f;
    snprintf(j->id, sizeof(j->id), "%s", it->id);
    j->attempts = it->attempts;
    j->rec = rec;
    j->next = f->jobs;
    if (f->jobs)
        f->jobs->prev = j;
    f->jobs = j;
    f->njobs++;
    sl__strmap_put(&f->inflight, j->id, j);
    return j;
}

static void
job_free(job_t *j)
{
    sl_fanout_t *f = j->f;

    if (j->prev)
        j->prev->next = j->next;
    else
        f->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    f->njobs--;
    sl__strmap_del(&f->inflight, j->id);
    json_decref(j->rec);
    if (j->have_sub)
        sl_sub_spec_deinit(&j->sub);
    sl__sns_delivery_deinit(&j->dv);
    sl_free(j);
}

static void
on_settled(void *arg, int status)
{
    job_t *j = arg;

    if (status != SL_OK && status != SL_ENOTFOUND)
        sl_log(SL_LOG_WARN, "outbox update failed id=%s status=%s", j->id, sl_strerror(status));
    job_free(j);
}

/* The job is done: ack its entry, then free it. */
static void
job_ack(job_t *j)
{
    if (sl_store_outbox_ack(j->f->store, j->id, on_settled, j) != SL_OK)
        job_free(j);
}

/* Try again after delay_ms. */
static void
job_retry(job_t *j, int64_t delay_ms)
{
    if (sl_store_outbox_retry(j->f->store, j->id, delay_ms, on_settled, j) != SL_OK)
        job_free(j);
}

/* ---- Fanning out a publish ---- */

static void
on_delivery_appended(void *arg, int status)
{
    job_t *j = arg;

    if (status != SL_OK)
        j->failed = true;
    if (--j->pending > 0)
        return;
    if (j->failed) {
        sl_log(SL_LOG_WARN, "fanout incomplete, retrying id=%s", j->id);
        job_retry(j, 1000);
        return;
    }
    j->f->stats.published++;
    job_ack(j);
    event_active(j->f->kick, EV_TIMEOUT, 0);
}

/* FIFO topics send to their queues straight from the fanout, in the order the
 * publishes are handled (sorted by sequence number in on_claimed), so each
 * group's order reaches the queue; a send that fails goes the retrying way. */
typedef struct direct {
    pend_t link;
    job_t *j;
    char sub[SL_MSG_ID_LEN + 1];
    sl_sns_delivery_t dv;
} direct_t;

static void
direct_deinit(pend_t *p)
{
    sl__sns_delivery_deinit(&((direct_t *)p)->dv);
}

static void
on_direct_sent(void *arg, int status, const sl_send_result_t *res, size_t n)
{
    direct_t *x = arg;
    job_t *j = x->j;

    if (status == SL_OK && n == 1 && res[0].err == SL_SEND_OK) {
        j->f->stats.delivered++;
    } else {
        json_t *d = json_pack("{s:O, s:s}", "rec", j->rec, "sub", x->sub);
        char *text = sl_json_dumps(d, NULL);

        if (sl_store_outbox_append(j->f->store, "sns.deliver", text, strlen(text), 0,
                                   on_delivery_appended, j) == SL_OK)
            j->pending++;
        else
            j->failed = true;
        sl_free(text);
        json_decref(d);
    }
    sl__sns_delivery_deinit(&x->dv);
    pend_free(x);
    on_delivery_appended(j, SL_OK);     /* this send's hold */
}

static bool
send_direct(job_t *j, const sl_sub_spec_t *sub)
{
    sl_fanout_t *f = j->f;
    sl_sns_ctx_t cx = { f->region, f->account, sl_fanout_base_url(f), f->signer };
    direct_t *x = pend_new(f, sizeof(*x));
    const char *q = sl_arn_resource(sub->endpoint, "sqs", NULL, 0);
    sl_msg_in_t in;

    x->link.deinit = direct_deinit;
    x->j = j;
    snprintf(x->sub, sizeof(x->sub), "%s", sub->id);
    if (q == NULL || !sl_queue_name_is_valid(q) ||
        sl__sns_render(&cx, sub, j->rec, &x->dv) != SL_OK) {
        sl__sns_delivery_deinit(&x->dv);
        pend_free(x);
        return false;
    }
    sl__sns_queue_message(&x->dv, sl_topic_name_is_fifo(q), NULL, &in);
    if (sl_store_send(f->store, q, &in, 1, on_direct_sent, x) != SL_OK) {
        sl__sns_delivery_deinit(&x->dv);
        pend_free(x);
        return false;
    }
    j->pending++;
    return true;
}

/* Standard topics: the deliveries to queues of one claim, gathered by queue
 * (see the file comment). A group is one future sl_store_send; each of its
 * messages holds its publish's job (j->pending) until the send answers. */
#define GROUP_MAX 10                    /* messages per send, as SendMessageBatch */
#define GROUP_BYTES (64 * 1024)         /* and at most this much (one bigger message alone) */

typedef struct group {
    pend_t link;                        /* first: pend_new/pend_free */
    sl_fanout_t *f;
    struct group *next_free;            /* on f->free_groups */
    char queue[SL_QUEUE_NAME_MAX + 1];
    size_t n, bytes;
    job_t *jobs[GROUP_MAX];             /* whose delivery each message is */
    char subs[GROUP_MAX][SL_MSG_ID_LEN + 1];
    sl_sns_delivery_t dv[GROUP_MAX];
    sl_msg_in_t in[GROUP_MAX];
} group_t;

static void
group_deinit(pend_t *p)
{
    group_t *g = (group_t *)p;

    for (size_t i = 0; i < g->n; i++)
        sl__sns_delivery_deinit(&g->dv[i]);
}

/* Groups are big (10 rendered deliveries) and a claim makes one per queue per
 * 10 publishes: keep a few for reuse rather than make the allocator find and
 * clear ~8 KiB each time. */
#define FREE_GROUPS_MAX 64

static void
group_free(group_t *g)
{
    sl_fanout_t *f = g->f;

    group_deinit(&g->link);
    g->link.prev->next = g->link.next;          /* off the pending list */
    g->link.next->prev = g->link.prev;
    if (f->nfree_groups < FREE_GROUPS_MAX) {
        g->next_free = f->free_groups;
        f->free_groups = g;
        f->nfree_groups++;
    } else {
        sl_free(g);
    }
}

static group_t *
group_new(sl_fanout_t *f, const char *queue)
{
    group_t *g = f->free_groups;

    if (g != NULL) {
        f->free_groups = g->next_free;
        f->nfree_groups--;
    } else {
        g = sl_malloc(sizeof(*g));
    }
    /* on the pending list like pend_new, without clearing the slots */
    g->link.next = f->pending.next;
    g->link.prev = &f->pending;
    f->pending.next->prev = &g->link;
    f->pending.next = &g->link;
    g->link.deinit = group_deinit;
    g->f = f;
    g->n = g->bytes = 0;
    snprintf(g->queue, sizeof(g->queue), "%s", queue);
    return g;
}

/* The slow path for one delivery: an entry of its own, which retries. */
static void
append_delivery(job_t *j, const char *sub)
{
    json_t *d = json_pack("{s:O, s:s}", "rec", j->rec, "sub", sub);
    char *text = sl_json_dumps(d, NULL);

    if (sl_store_outbox_append(j->f->store, "sns.deliver", text, strlen(text), 0,
                               on_delivery_appended, j) == SL_OK)
        j->pending++;
    else
        j->failed = true;
    sl_free(text);
    json_decref(d);
}

static void
on_group_sent(void *arg, int status, const sl_send_result_t *res, size_t n)
{
    group_t *g = arg;
    sl_fanout_t *f = g->f;
    size_t gn = g->n;
    job_t *jobs[GROUP_MAX];

    for (size_t i = 0; i < gn; i++) {
        jobs[i] = g->jobs[i];
        if (status == SL_OK && i < n && res[i].err == SL_SEND_OK)
            f->stats.delivered++;
        else
            append_delivery(g->jobs[i], g->subs[i]);
    }
    group_free(g);
    /* Last, as a job whose last hold this is may be acked and freed. */
    for (size_t i = 0; i < gn; i++)
        on_delivery_appended(jobs[i], SL_OK);
}

static void
group_flush(group_t *g)
{
    if (sl_store_send(g->f->store, g->queue, g->in, g->n, on_group_sent, g) != SL_OK)
        on_group_sent(g, SL_EBACKEND, NULL, 0);
}

/* The MD5 of a raw delivery's body when it is the publish's message (all raw
 * queue deliveries of a publish are): computed once per publish, not once per
 * subscription. NULL for other bodies. */
static const char *
raw_md5(job_t *j, const sl_sns_delivery_t *dv)
{
    const json_t *m = json_object_get(j->rec, "message");

    if (!dv->raw || m == NULL || json_string_length(m) != dv->body_len ||
        memcmp(json_string_value(m), dv->body, dv->body_len) != 0)
        return NULL;
    if (j->raw_md5[0] == '\0')
        sl_md5_hex(dv->body, dv->body_len, j->raw_md5);
    return j->raw_md5;
}

/* Adds j's delivery to sub to the open group of its queue in groups (a map
 * queue -> group_t, flushed by the caller), flushing a full group first.
 * Returns false when it cannot be rendered or sent straight (not a queue ARN):
 * the caller takes the slow path, which reports why. */
static bool
gather(job_t *j, const sl_sub_spec_t *sub, sl_strmap_t *groups)
{
    sl_fanout_t *f = j->f;
    sl_sns_ctx_t cx = { f->region, f->account, sl_fanout_base_url(f), f->signer };
    const char *q = sl_arn_resource(sub->endpoint, "sqs", NULL, 0);
    sl_sns_delivery_t dv;
    group_t *g;
    size_t size;

    if (q == NULL || !sl_queue_name_is_valid(q))
        return false;
    if (sl__sns_render(&cx, sub, j->rec, &dv) != SL_OK) {
        sl__sns_delivery_deinit(&dv);
        return false;
    }
    size = dv.body_len;
    for (uint32_t i = 0; i < dv.nattrs; i++)
        size += dv.attrs[i].len + 64;
    g = sl__strmap_get(groups, q);
    if (g != NULL && (g->n == GROUP_MAX || (g->n > 0 && g->bytes + size > GROUP_BYTES))) {
        sl__strmap_del(groups, q);
        group_flush(g);
        g = NULL;
    }
    if (g == NULL) {
        g = group_new(f, q);
        sl__strmap_put(groups, g->queue, g);
    }
    g->dv[g->n] = dv;
    g->jobs[g->n] = j;
    snprintf(g->subs[g->n], sizeof(g->subs[g->n]), "%s", sub->id);
    /* dv's strings stay where they are when the struct is copied: in borrows them */
    sl__sns_queue_message(&g->dv[g->n], sl_topic_name_is_fifo(q), raw_md5(j, &dv),
                          &g->in[g->n]);
    g->bytes += size;
    g->n++;
    j->pending++;
    return true;
}

/* Frees the groups kept for reuse (destroy). */
static void
groups_free(sl_fanout_t *f)
{
    while (f->free_groups) {
        struct group *g = f->free_groups;

        f->free_groups = g->next_free;
        sl_free(g);
    }
    f->nfree_groups = 0;
}

/* Sends every open group of groups and empties it. */
static void
groups_flush(sl_strmap_t *groups)
{
    size_t pos = 0;
    const char *k;
    void *v;

    while (sl__strmap_next(groups, &pos, &k, &v))
        group_flush(v);
    sl__strmap_deinit(groups);
    sl__strmap_init(groups);
}

static void
fan_out(job_t *j, sl_strmap_t *groups)
{
    sl_fanout_t *f = j->f;
    const char *topic = json_string_value(json_object_get(j->rec, "topic"));
    const char *msg = json_string_value(json_object_get(j->rec, "message"));
    const sl_sub_spec_t **subs;
    json_t *view = NULL, *body = NULL, *d;
    bool body_parsed = false, fifo;
    size_t n;

    if (topic == NULL || msg == NULL) {
        sl_log(SL_LOG_WARN, "publish record malformed id=%s", j->id);
        job_ack(j);
        return;
    }
    n = sl_fanout_subs(f, topic, &subs);
    fifo = sl_fanout_topic(f, topic) && sl_fanout_topic(f, topic)->fifo;
    d = json_object();
    json_object_set(d, "rec", j->rec);
    j->pending = 1;                     /* held until the loop ends */
    for (size_t i = 0; i < n; i++) {
        const sub_t *s = (const sub_t *)((const char *)subs[i] - offsetof(sub_t, spec));
        const json_t *ev;
        char *text;

        if (!s->spec.confirmed)
            continue;
        if (s->filter) {
            if (s->body_scope) {
                if (!body_parsed) {
                    body_parsed = true;
                    if (sl_json_parse(msg, strlen(msg), &body, NULL, 0) != SL_OK)
                        body = NULL;
                }
                ev = body;
            } else {
                if (view == NULL)
                    view = attrs_view(json_object_get(j->rec, "attrs"));   /* NULL: none */
                ev = view;
            }
            if (!sl_filter_match(s->filter, ev)) {
                f->stats.filtered++;
                continue;
            }
        }
        if (s->spec.proto == SL_SUB_SQS &&
            (fifo ? send_direct(j, &s->spec) : gather(j, &s->spec, groups)))
            continue;
        json_object_set_new(d, "sub", json_string(s->spec.id));
        text = sl_json_dumps(d, NULL);
        if (sl_store_outbox_append(f->store, "sns.deliver", text, strlen(text), 0,
                                   on_delivery_appended, j) == SL_OK)
            j->pending++;
        else
            j->failed = true;
        sl_free(text);
    }
    sl_free(subs);
    json_decref(d);
    json_decref(view);
    json_decref(body);
    on_delivery_appended(j, SL_OK);     /* drops the hold */
}

/* ---- Delivering ---- */

static void deliver_done(job_t *j, const char *code, const char *why, bool permanent);

static void
on_dlq_sent(void *arg, int status, const sl_send_result_t *res, size_t n)
{
    job_t *j = arg;

    if (status != SL_OK || n != 1 || res[0].err != SL_SEND_OK) {
        sl_log(SL_LOG_WARN, "dead-letter send failed subscription=%s status=%s", j->sub.id,
               sl_strerror(status));
        j->f->stats.dropped++;
    } else {
        j->f->stats.dead_lettered++;
    }
    job_ack(j);
}

/* A delivery failed for good: to the subscription's DLQ if it has one. */
static void
dead_letter(job_t *j, const char *code, const char *why)
{
    sl_fanout_t *f = j->f;
    char dlq[SL_QUEUE_NAME_MAX + 1];
    sl_msg_in_t in;

    if (j->dv.envelope == NULL || !sl__sns_dlq_name(&j->sub, dlq, sizeof(dlq))) {
        /* (no envelope: the record could not even be rendered) */
        sl_log(SL_LOG_WARN, "delivery dropped subscription=%s protocol=%s code=%s why=\"%s\"",
               j->sub.id, sl_sub_proto_name(j->sub.proto), code, why);
        f->stats.dropped++;
        job_ack(j);
        return;
    }
    sl__sns_dlq_message(&j->dv, j->id, code, why, &in);
    if (sl_store_send(f->store, dlq, &in, 1, on_dlq_sent, j) != SL_OK) {
        f->stats.dropped++;
        job_ack(j);
    }
}

static void
deliver_done(job_t *j, const char *code, const char *why, bool permanent)
{
    int64_t delay;

    if (code == NULL) {
        j->f->stats.delivered++;
        job_ack(j);
        return;
    }
    delay = permanent ? -1 : sl__sns_retry_delay(&j->sub, j->attempts, j->f->lambda_retry_ms);
    if (delay < 0) {
        sl_log(SL_LOG_INFO, "delivery failed subscription=%s attempts=%u code=%s why=\"%s\"",
               j->sub.id, j->attempts, code, why);
        dead_letter(j, code, why);
        return;
    }
    sl_log(SL_LOG_DEBUG, "delivery retry subscription=%s attempts=%u delay_ms=%" PRId64
           " code=%s", j->sub.id, j->attempts, delay, code);
    j->f->stats.retried++;
    job_retry(j, delay);
}

static void
on_queue_sent(void *arg, int status, const sl_send_result_t *res, size_t n)
{
    job_t *j = arg;

    if (status == SL_ENOTFOUND) {
        deliver_done(j, "NotFound", "The destination queue does not exist.", true);
    } else if (status != SL_OK) {
        deliver_done(j, "InternalError", sl_strerror(status), false);
    } else if (n != 1 || res[0].err != SL_SEND_OK) {
        deliver_done(j, "InvalidParameter", sl__sns_send_err_text(n ? res[0].err : 0), true);
    } else {
        deliver_done(j, NULL, NULL, false);
    }
}

static void
on_function_done(void *arg, int status, const char *msg, json_t *out)
{
    job_t *j = arg;
    const char *st = json_string_value(json_object_get(out, "status"));

    if (status == SL_ENOTFOUND) {
        deliver_done(j, "ResourceNotFoundException", msg ? msg : "no such function", true);
    } else if (status != SL_OK) {
        deliver_done(j, "ServiceException", msg ? msg : sl_strerror(status), false);
    } else if (st == NULL || strcmp(st, "ok") != 0) {
        const char *et = json_string_value(json_object_get(out, "error_type"));

        deliver_done(j, "FunctionError", et ? et : (st ? st : "error"), false);
    } else {
        deliver_done(j, NULL, NULL, false);
    }
}

static void
on_http_done(void *arg, const char *code, const char *why, bool permanent)
{
    job_t *j = arg;

    j->http = NULL;
    deliver_done(j, code, why, permanent);
}

/* A resolver only when an endpoint needs one (most name 127.0.0.1). */
static struct evdns_base *
dns_for(sl_fanout_t *f, const char *url)
{
    const char *h = strstr(url, "://");

    h = h ? h + 3 : url;
    if ((*h >= '0' && *h <= '9') || *h == '[' || strncmp(h, "localhost", 9) == 0)
        return NULL;
    if (f->dns == NULL)
        f->dns = evdns_base_new(f->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    return f->dns;
}

static void
deliver(job_t *j, const char *sub_id)
{
    sl_fanout_t *f = j->f;
    const sl_sub_spec_t *spec = sl_fanout_sub(f, sub_id);
    sl_sns_ctx_t cx = { f->region, f->account, sl_fanout_base_url(f), f->signer };
    char name[SL_FUNCTION_NAME_BUF];
    const char *target;
    sl_msg_in_t in;

    if (spec == NULL) {
        sl_log(SL_LOG_DEBUG, "delivery for a removed subscription dropped id=%s", sub_id);
        job_ack(j);
        return;
    }
    sl_sub_spec_copy(&j->sub, spec);
    j->have_sub = true;
    if (sl__sns_render(&cx, &j->sub, j->rec, &j->dv) != SL_OK) {
        deliver_done(j, "InvalidParameter", "The message cannot be delivered.", true);
        return;
    }
    switch (j->sub.proto) {
    case SL_SUB_SQS:
        target = sl_arn_resource(j->sub.endpoint, "sqs", NULL, 0);
        if (target == NULL || !sl_queue_name_is_valid(target)) {
            deliver_done(j, "InvalidParameter", "The endpoint is not a queue ARN.", true);
            return;
        }
        sl__sns_queue_message(&j->dv, sl_topic_name_is_fifo(target), NULL, &in);
        if (sl_store_send(f->store, target, &in, 1, on_queue_sent, j) != SL_OK)
            deliver_done(j, "InternalError", "the store refused the send", false);
        return;
    case SL_SUB_LAMBDA:
        target = sl_arn_resource(j->sub.endpoint, "lambda", name, sizeof(name));
        if (target == NULL || f->registry == NULL) {
            deliver_done(j, "ResourceNotFoundException", f->registry ? "The endpoint is not a "
                         "function ARN." : "Functions are not enabled.", true);
            return;
        }
        sl_registry_function_invoke(f->registry, target, j->dv.body, j->dv.body_len,
                                    on_function_done, j);
        return;
    case SL_SUB_HTTP:
    case SL_SUB_HTTPS:
        j->http = sl__sns_http_post(f->http, dns_for(f, j->sub.endpoint), &j->sub, &j->dv,
                                    on_http_done, j);
        return;
    }
}

/* ---- The worker ---- */

/* The store calls every callback it is given: this one for acks nobody waits on. */
static void
on_dropped(void *arg, int status)
{
    (void)arg;
    (void)status;
}

/* The FIFO sequence number of a publish entry ("" when none): a fixed-width
 * decimal, so text order is number order. */
static const char *
item_seq(const sl_outbox_item_t *it, char *buf, size_t len)
{
    const char *p = it->len ? memmem(it->payload, it->len, "\"seq\":\"", 7) : NULL;
    size_t k = 0;

    buf[0] = '\0';
    if (p == NULL || strcmp(it->kind, "sns.publish") != 0)
        return buf;
    p += 7;
    while (k + 1 < len && p + k < (const char *)it->payload + it->len && p[k] >= '0' &&
           p[k] <= '9') {
        buf[k] = p[k];
        k++;
    }
    buf[k] = '\0';
    return buf;
}

static bool
is_fifo_publish(const sl_outbox_item_t *it)
{
    char buf[32];

    return *item_seq(it, buf, sizeof(buf)) != '\0';
}

static const sl_outbox_item_t *sort_items;     /* qsort has no context argument */

static int
cmp_seq(const void *a, const void *b)
{
    char x[32], y[32];

    return strcmp(item_seq(&sort_items[*(const size_t *)a], x, sizeof(x)),
                  item_seq(&sort_items[*(const size_t *)b], y, sizeof(y)));
}

static void
on_claimed(void *arg, int status, const sl_outbox_item_t *items, size_t n)
{
    sl_fanout_t *f = arg;

    f->claiming = false;
    if (status != SL_OK) {
        sl_log(SL_LOG_DEBUG, "outbox claim failed status=%s", sl_strerror(status));
        return;
    }
    size_t *order = sl_calloc(n + 1, sizeof(*order)), nfifo = 0, nother = 0;
    sl_strmap_t groups;

    sl__strmap_init(&groups);

    /* Publishes to FIFO topics (they carry "seq") go last, in sequence order: the
     * store hands out entries due in the same millisecond in no set order. */
    for (size_t i = 0; i < n; i++)
        if (!is_fifo_publish(&items[i]))
            order[nother++] = i;
    for (size_t i = 0; i < n; i++)
        if (is_fifo_publish(&items[i]))
            order[nother + nfifo++] = i;
    sort_items = items;
    qsort(order + nother, nfifo, sizeof(*order), cmp_seq);
    for (size_t k = 0; k < n; k++) {
        const sl_outbox_item_t *it = &items[order[k]];
        json_t *doc = NULL;
        job_t *j;

        if (strncmp(it->kind, "sns.", 4) != 0)
            continue;                   /* another consumer's: its lease will end */
        if (sl__strmap_get(&f->inflight, it->id) != NULL)
            continue;                   /* still being worked on here */
        if (sl_json_parse(it->payload, it->len, &doc, NULL, 0) != SL_OK ||
            !json_is_object(doc)) {
            sl_log(SL_LOG_WARN, "outbox entry unreadable id=%s kind=%s", it->id, it->kind);
            json_decref(doc);
            sl_store_outbox_ack(f->store, it->id, on_dropped, NULL);
            continue;
        }
        if (strcmp(it->kind, "sns.publish") == 0) {
            j = job_new(f, it, doc);
            fan_out(j, &groups);
        } else if (strcmp(it->kind, "sns.deliver") == 0 || strcmp(it->kind, "sns.confirm") == 0) {
            const char *sub = json_string_value(json_object_get(doc, "sub"));

            j = job_new(f, it, json_incref(json_object_get(doc, "rec")));
            if (strcmp(it->kind, "sns.confirm") == 0)
                json_object_set_new(j->rec, "control", json_true());
            deliver(j, sub ? sub : "");
            json_decref(doc);
        } else {
            sl_log(SL_LOG_WARN, "outbox entry of unknown kind id=%s kind=%s", it->id, it->kind);
            json_decref(doc);
        }
    }
    groups_flush(&groups);
    sl__strmap_deinit(&groups);
    sl_free(order);
    if (n == CLAIM_MAX)
        event_active(f->kick, EV_TIMEOUT, 0);
}

/* Before claiming, the cache must reflect every change to topics and subscriptions
 * already answered, by any broker: each change also writes a new version document
 * (sl_fanout_bump), so a claim first reads it, and reloads the cache when it moved. */
static void
on_version(void *arg, int status, const char *doc, size_t len)
{
    sl_fanout_t *f = arg;
    char v[SL_MSG_ID_LEN + 3] = "";

    if (status == SL_OK)
        snprintf(v, sizeof(v), "%.*s", (int)(len < sizeof(v) - 1 ? len : sizeof(v) - 1), doc);
    else if (status != SL_ENOTFOUND) {
        f->claiming = false;            /* the store is down: a tick retries */
        return;
    }
    if (strcmp(v, f->version_seen) != 0) {
        f->claiming = false;
        reload(f, v);                   /* its end claims again */
        return;
    }
    if (sl_store_outbox_claim(f->store, CLAIM_MAX, LEASE_MS, on_claimed, f) != SL_OK)
        f->claiming = false;
}

static void
claim(sl_fanout_t *f)
{
    if (f->claiming || f->loading || !f->loaded || f->njobs >= MAX_JOBS ||
        !sl__sns_signer_is_ready(f->signer))
        return;                         /* a tick retries */
    f->claiming = true;
    if (sl_store_meta_get(f->store, SL_SNS_VERSION_KIND, "v", on_version, f) != SL_OK)
        f->claiming = false;
}

typedef struct bump {
    pend_t link;
    sl_fanout_t *f;
    sl_store_done_cb done;
    void *arg;
    char version[SL_MSG_ID_LEN + 3];
} bump_t;

static void
on_bumped(void *arg, int status)
{
    bump_t *b = arg;

    if (status == SL_OK)
        snprintf(b->f->version_seen, sizeof(b->f->version_seen), "%s", b->version);
    b->done(b->arg, status);
    pend_free(b);
}

int
sl_fanout_bump(sl_fanout_t *f, sl_store_done_cb done, void *arg)
{
    bump_t *b = pend_new(f, sizeof(*b));
    char id[SL_MSG_ID_LEN + 1];
    int rc;

    sl_uuid4(id);
    snprintf(b->version, sizeof(b->version), "\"%s\"", id);      /* a JSON document */
    b->f = f;
    b->done = done;
    b->arg = arg;
    rc = sl_store_meta_put(f->store, SL_SNS_VERSION_KIND, "v", b->version, strlen(b->version),
                           on_bumped, b);
    if (rc != SL_OK)
        pend_free(b);
    return rc;
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    claim(arg);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    sl_fanout_t *f = arg;

    (void)fd;
    (void)what;
    if (wall_ms() - f->last_reload_ms >= RELOAD_MS)
        reload(f, "");
    claim(f);
    event_add(f->tick, &(struct timeval){ 0, TICK_MS * 1000 });
}

/* ---- Publishing ---- */

typedef struct pub {
    pend_t link;
    sl_fanout_t *f;
    sl_store_done_cb done;
    void *arg;
} pub_t;

static void
on_published(void *arg, int status)
{
    pub_t *p = arg;

    if (status == SL_OK)
        event_active(p->f->kick, EV_TIMEOUT, 0);
    p->done(p->arg, status);
    pend_free(p);
}

int
sl_fanout_publish(sl_fanout_t *f, const json_t *rec, sl_store_done_cb done, void *arg)
{
    pub_t *p = pend_new(f, sizeof(*p));
    char *text = sl_json_dumps(rec, NULL);
    int rc;

    p->f = f;
    p->done = done;
    p->arg = arg;
    rc = sl_store_outbox_append(f->store, "sns.publish", text, strlen(text), 0, on_published, p);
    sl_free(text);
    if (rc != SL_OK)
        pend_free(p);
    return rc;
}

static void
on_confirm_appended(void *arg, int status)
{
    sl_fanout_t *f = arg;

    if (status == SL_OK)
        event_active(f->kick, EV_TIMEOUT, 0);
    else
        sl_log(SL_LOG_WARN, "subscription confirmation not queued status=%s",
               sl_strerror(status));
}

void
sl_fanout_confirm_request(sl_fanout_t *f, const sl_sub_spec_t *s)
{
    json_t *d = json_object(), *rec = json_object();
    char id[SL_MSG_ID_LEN + 1];
    char *text;

    sl_uuid4(id);
    json_object_set_new(rec, "id", json_string(id));
    json_object_set_new(rec, "topic", json_string(s->topic));
    json_object_set_new(rec, "ts", json_integer(wall_ms()));
    json_object_set_new(d, "sub", json_string(s->id));
    json_object_set_new(d, "rec", rec);
    text = sl_json_dumps(d, NULL);
    if (sl_store_outbox_append(f->store, "sns.confirm", text, strlen(text), 0,
                               on_confirm_appended, f) != SL_OK)
        sl_log(SL_LOG_WARN, "subscription confirmation not queued subscription=%s", s->id);
    sl_free(text);
    json_decref(d);
}

/* ---- Lifetime ---- */

sl_fanout_t *
sl_fanout_create(struct event_base *base, sl_store_t *store, sl_registry_t *registry,
                 const sl_fanout_opts_t *o)
{
    sl_fanout_t *f = sl_calloc(1, sizeof(*f));

    f->base = base;
    f->store = store;
    f->registry = registry;
    f->region = sl_strdup(o && o->region ? o->region : "us-east-1");
    f->account = sl_strdup(o && o->account ? o->account : "000000000000");
    f->lambda_retry_ms = o && o->lambda_retry_ms ? o->lambda_retry_ms : 1000;
    sl__strmap_init(&f->topics);
    sl__strmap_init(&f->subs);
    sl__strmap_init(&f->inflight);
    {
        char cn[160];

        snprintf(cn, sizeof(cn), "sns.%s.sluice.local", f->region);
        f->signer = sl__sns_signer_create(base, cn);
    }
    f->http = sl__sns_http_client_create(base);
    f->pending.prev = f->pending.next = &f->pending;
    f->tick = evtimer_new(base, on_tick, f);
    f->kick = event_new(base, -1, 0, on_kick, f);
    return f;
}

int
sl_fanout_set_ca_file(sl_fanout_t *f, const char *path, char *err, size_t errlen)
{
    return sl__sns_http_client_set_ca_file(f->http, path, err, errlen);
}

const char *
sl_fanout_cert_pem(sl_fanout_t *f)
{
    return sl__sns_signer_cert_pem(f->signer);
}

void
sl_fanout_stats(const sl_fanout_t *f, sl_fanout_stats_t *out)
{
    *out = f->stats;
}

void
sl_fanout_destroy(sl_fanout_t *f)
{
    size_t pos = 0;
    const char *k;
    void *v;

    if (f == NULL)
        return;
    while (f->pending.next != &f->pending) {
        if (f->pending.next->deinit)
            f->pending.next->deinit(f->pending.next);
        pend_free(f->pending.next);
    }
    while (f->jobs) {
        sl__sns_http_cancel(f->jobs->http);     /* its callback never runs */
        job_free(f->jobs);
    }
    groups_free(f);
    while (sl__strmap_next(&f->topics, &pos, &k, &v))
        topic_free(v);
    pos = 0;
    while (sl__strmap_next(&f->subs, &pos, &k, &v))
        sub_free(v);
    sl__strmap_deinit(&f->topics);
    sl__strmap_deinit(&f->subs);
    sl__strmap_deinit(&f->inflight);
    event_free(f->tick);
    event_free(f->kick);
    sl__sns_http_client_destroy(f->http);
    if (f->dns)
        evdns_base_free(f->dns, 0);
    sl__sns_signer_destroy(f->signer);
    sl_free(f->region);
    sl_free(f->account);
    sl_free(f->base_url);
    sl_free(f);
}
