/* sns.c - the SNS operations (sns.h).
 *
 * Reads come from the fanout's cache of topics and subscriptions, which is what
 * publishing uses too; every change is written to the store first and applied
 * to the cache when the write succeeds, so what a client was told is durable.
 * Validation uses AWS's error codes and, where clients or users match on them,
 * AWS's messages ("Invalid parameter: FilterPolicy: ..."). A call can be
 * cancelled while a store operation is outstanding; it is freed when that
 * callback arrives and never replies. */
#include "sns.h"

#include "../../triggers/sns_deliver.h"
#include "b64.h"
#include "jsonr.h"
#include "jsonw.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "strmap.h"

#include <event2/buffer.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#define PAGE 100
#define FIFO_DEDUP_MS 300000

#define K(name, http, code) static const sl_api_errkind_t name = { http, true, code, code }
K(E_NOT_FOUND, 404, "NotFound");
K(E_INVALID, 400, "InvalidParameter");
K(E_RESOURCE_NOT_FOUND, 404, "ResourceNotFound");
K(E_EMPTY_BATCH, 400, "EmptyBatchRequest");
K(E_TOO_MANY, 400, "TooManyEntriesInBatchRequest");
K(E_IDS_NOT_DISTINCT, 400, "BatchEntryIdsNotDistinct");
K(E_BAD_BATCH_ID, 400, "InvalidBatchEntryId");
K(E_BATCH_TOO_LONG, 400, "BatchRequestTooLong");
K(E_INVALID_ACTION, 400, "InvalidAction");
K(E_TAG_POLICY, 400, "TagPolicy");
#undef K
static const sl_api_errkind_t E_INTERNAL = { 500, false, "InternalError", "InternalError" };
static const sl_api_errkind_t E_UNAVAILABLE = { 503, false, "ServiceUnavailable",
                                                "ServiceUnavailable" };

typedef struct dedup {
    char msg_id[SL_MSG_ID_LEN + 1];
    char seq[24];
    int64_t at_ms;
} dedup_t;

struct sl_sns {
    sl_store_t *store;
    sl_fanout_t *fanout;
    sl_sns_call_t *calls;           /* every live call */
    bool ready;
    uint64_t seq;                   /* FIFO sequence numbers: ms << 20 | counter */
    sl_strmap_t dedup;              /* "topic\ndedup-id" -> dedup_t (FIFO, 5 min) */
    int64_t dedup_swept_ms;
};

typedef bool (*op_fn)(sl_sns_call_t *c);    /* true: pending; false: replied */

typedef struct op_def {
    const char *name;
    op_fn fn;
} op_def_t;

struct sl_sns_call {
    sl_sns_t *svc;
    const op_def_t *op;
    json_t *in;
    sl_sns_reply_fn reply;
    void *arg;
    sl_sns_call_t *prev, *next;
    bool cancelled, waiting;
    bool refetched;                 /* looked in the store for what the cache lacked */
    bool refetch_sub;               /* ...for a subscription, else a topic */
    int store_pending;
    int failures;                   /* failed store operations of a group */
    sl_topic_spec_t topic;
    sl_sub_spec_t sub;
    bool have_topic, have_sub;
    void (*then)(sl_sns_call_t *c);
    json_t *out;                    /* built across store operations */
    json_t *recs;                   /* PublishBatch: records being appended, by entry */
};

/* ---- Helpers ---- */

static int64_t
wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void
call_free(sl_sns_call_t *c)
{
    sl_sns_t *svc = c->svc;

    if (c->prev)
        c->prev->next = c->next;
    else
        svc->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->have_topic)
        sl_topic_spec_deinit(&c->topic);
    if (c->have_sub)
        sl_sub_spec_deinit(&c->sub);
    json_decref(c->out);
    json_decref(c->recs);
    json_decref(c->in);
    sl_free(c);
}

static bool
finish(sl_sns_call_t *c, const sl_api_err_t *err, json_t *out)
{
    if (!c->cancelled)
        c->reply(c->arg, err, out);
    call_free(c);
    return false;
}

static bool fail(sl_sns_call_t *c, const sl_api_errkind_t *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
fail(sl_sns_call_t *c, const sl_api_errkind_t *kind, const char *fmt, ...)
{
    sl_api_err_t e;
    va_list ap;

    va_start(ap, fmt);
    sl_api_err_vset(&e, kind, fmt, ap);
    va_end(ap);
    return finish(c, &e, NULL);
}

/* Replies with out (taking the reference; NULL: no output). */
static bool
ok(sl_sns_call_t *c, json_t *out)
{
    finish(c, NULL, out);
    json_decref(out);
    return false;
}

static bool
resume(sl_sns_call_t *c)
{
    c->store_pending--;
    if (c->cancelled) {
        if (c->store_pending == 0)
            call_free(c);
        return false;
    }
    return true;
}

static bool
fail_store(sl_sns_call_t *c, int status)
{
    if (status == SL_EBACKEND || status == SL_ETIMEDOUT || status == SL_EAGAIN)
        return fail(c, &E_UNAVAILABLE, "The store is unavailable; try again. (%s)",
                    sl_strerror(status));
    sl_log(SL_LOG_ERROR, "store failed op=%s status=%s", c->op->name, sl_strerror(status));
    return fail(c, &E_INTERNAL, "Internal error (%s).", sl_strerror(status));
}

static const char *
get_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static bool
need(sl_sns_call_t *c, const char *key, const char **out)
{
    *out = get_str(c->in, key);
    if (*out == NULL || **out == '\0') {
        fail(c, &E_INVALID, "Invalid parameter: %s", key);
        return false;
    }
    return true;
}

/* The topic name the topic ARN in key names, or NULL after replying. Only this
 * broker's own ARNs name topics: another partition or region, or a name no topic
 * can have, is InvalidParameter; another account is NotFound (nothing of it is
 * here). Matching the name alone would let such an ARN reach, or delete, a topic
 * of the same name. */
static const char *
topic_arn_name(sl_sns_call_t *c, const char *key, const char *arn)
{
    const char *name = sl_arn_resource(arn, "sns", NULL, 0), *p;
    size_t fields = 1;
    bool same_region;
    char *own;

    if (name == NULL) {
        for (p = arn; *p; p++)
            fields += *p == ':';
        if (fields < 6)
            fail(c, &E_INVALID, "Invalid parameter: %s Reason: An ARN must have at least 6 "
                 "elements, not %zu", key, fields);
        else
            fail(c, &E_INVALID, "Invalid parameter: %s Reason: not an SNS topic ARN", key);
        return NULL;
    }
    if (!sl_topic_name_is_valid(name)) {
        fail(c, &E_INVALID, "Invalid parameter: %s Reason: not a valid topic name", key);
        return NULL;
    }
    own = sl_fanout_topic_arn(c->svc->fanout, name);
    if (strcmp(own, arn) == 0) {
        sl_free(own);
        return name;
    }
    p = own;                                /* "arn:aws:sns:REGION:" */
    for (int i = 0; i < 4; i++)
        p = strchr(p, ':') + 1;
    same_region = strncmp(own, arn, (size_t)(p - own)) == 0;
    sl_free(own);
    if (same_region)
        fail(c, &E_NOT_FOUND, "Topic does not exist");
    else
        fail(c, &E_INVALID, "Invalid parameter: %s Reason: the ARN is for another partition "
             "or region", key);
    return NULL;
}

/* The topic an ARN names, from the cache; replies NotFound when there is none. */
static const sl_topic_spec_t *
take_topic(sl_sns_call_t *c, const char *key)
{
    const char *arn, *name;
    const sl_topic_spec_t *t;

    if (get_str(c->in, key) == NULL && get_str(c->in, "TopicName") != NULL) {
        name = get_str(c->in, "TopicName");     /* the native API names topics */
        if ((t = sl_fanout_topic(c->svc->fanout, name)) == NULL)
            fail(c, &E_NOT_FOUND, "Topic does not exist");
        return t;
    }
    if (!need(c, key, &arn))
        return NULL;
    if ((name = topic_arn_name(c, key, arn)) == NULL)
        return NULL;
    if ((t = sl_fanout_topic(c->svc->fanout, name)) == NULL)
        fail(c, &E_NOT_FOUND, "Topic does not exist");
    return t;
}

/* The subscription an ARN (TOPICARN:ID) names. */
static const sl_sub_spec_t *
find_sub(sl_sns_call_t *c, const char *arn)
{
    const char *colon = strrchr(arn, ':');

    return sl_fanout_sub(c->svc->fanout, colon ? colon + 1 : arn);  /* an id alone too */
}

static const sl_sub_spec_t *
take_sub(sl_sns_call_t *c)
{
    const char *arn;
    const sl_sub_spec_t *s;

    if (!need(c, "SubscriptionArn", &arn))
        return NULL;
    if ((s = find_sub(c, arn)) != NULL && strchr(arn, ':') != NULL) {
        /* An ARN must be the subscription's own, not any ARN ending in its id. */
        char *own = sl_fanout_sub_arn(c->svc->fanout, s);

        if (strcmp(own, arn) != 0)
            s = NULL;
        sl_free(own);
    }
    if (s == NULL)
        fail(c, &E_NOT_FOUND, "Subscription does not exist");
    return s;
}

static json_t *
str_json(char *s)
{
    json_t *j = json_string(s);

    sl_free(s);
    return j;
}

/* ---- Store writes ---- */

static void
on_bumped(void *arg, int status)
{
    sl_sns_call_t *c = arg;

    if (!resume(c))
        return;
    if (status != SL_OK)        /* the change is stored; others see it at their next reload */
        sl_log(SL_LOG_WARN, "sns version not written op=%s status=%s", c->op->name,
               sl_strerror(status));
    c->then(c);
}

/* Other brokers' fanouts must see the change before they fan out a publish we
 * answer after it: bump the store's version, then go on. */
static void
bump_then(sl_sns_call_t *c)
{
    if (sl_fanout_bump(c->svc->fanout, on_bumped, c) != SL_OK) {
        c->then(c);
        return;
    }
    c->store_pending++;
}

static void
on_topic_put(void *arg, int status)
{
    sl_sns_call_t *c = arg;

    if (!resume(c))
        return;
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    sl_fanout_topic_set(c->svc->fanout, &c->topic);
    bump_then(c);
}

/* Stores doc (taking the reference) as the metadata item kind/key; cb runs on the
 * answer, then `then`. */
static bool
put_meta(sl_sns_call_t *c, const char *kind, const char *key, json_t *doc,
         void (*cb)(void *arg, int status), void (*then)(sl_sns_call_t *c))
{
    char *text = sl_json_dumps(doc, NULL);
    int rc = sl_store_meta_put(c->svc->store, kind, key, text, strlen(text), cb, c);

    sl_free(text);
    json_decref(doc);
    if (rc != SL_OK)
        return fail_store(c, rc);
    c->then = then;
    c->store_pending++;
    return true;
}

static bool
put_topic(sl_sns_call_t *c, void (*then)(sl_sns_call_t *c))
{
    return put_meta(c, SL_TOPIC_META_KIND, c->topic.name, sl_topic_spec_to_json(&c->topic),
                    on_topic_put, then);
}

static void
on_sub_put(void *arg, int status)
{
    sl_sns_call_t *c = arg;
    char err[256];

    if (!resume(c))
        return;
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    if (sl_fanout_sub_set(c->svc->fanout, &c->sub, err, sizeof(err)) != SL_OK)
        sl_log(SL_LOG_WARN, "subscription filter not compiled id=%s err=\"%s\"", c->sub.id, err);
    bump_then(c);
}

static bool
put_sub(sl_sns_call_t *c, void (*then)(sl_sns_call_t *c))
{
    return put_meta(c, SL_SUB_META_KIND, c->sub.id, sl_sub_spec_to_json(&c->sub), on_sub_put,
                    then);
}

static void
on_deleted(void *arg, int status)
{
    sl_sns_call_t *c = arg;

    if (status != SL_OK && status != SL_ENOTFOUND)
        c->failures++;
    if (!resume(c) || c->store_pending > 0)
        return;
    if (c->failures) {
        fail_store(c, SL_EBACKEND);
        return;
    }
    bump_then(c);
}

static void
del_doc(sl_sns_call_t *c, const char *kind, const char *name)
{
    if (sl_store_meta_delete(c->svc->store, kind, name, on_deleted, c) == SL_OK)
        c->store_pending++;
    else
        c->failures++;
}

/* ---- Topics ---- */

static bool
topic_attr_is_known(const char *k)
{
    static const char *const names[] = {
        "DisplayName", "Policy", "DeliveryPolicy", "FifoTopic", "ContentBasedDeduplication",
        "SignatureVersion", "KmsMasterKeyId", "TracingConfig", "ArchivePolicy",
        "FifoThroughputScope", "DataProtectionPolicy", NULL,
    };
    size_t n = strlen(k);

    for (size_t i = 0; names[i]; i++)
        if (strcmp(names[i], k) == 0)
            return true;
    /* HTTPSuccessFeedbackRoleArn, SQSFailureFeedbackRoleArn, ...: stored, not used. */
    return (n > 11 && strstr(k, "FeedbackRoleArn") != NULL) ||
           strstr(k, "SuccessFeedbackSampleRate") != NULL;
}

/* Validates one topic attribute; replies and returns false when bad. */
static bool
check_topic_attr(sl_sns_call_t *c, const char *k, const char *v, bool creating)
{
    char err[256];

    if (!topic_attr_is_known(k) || (!creating && strcmp(k, "FifoTopic") == 0))
        return fail(c, &E_INVALID, "Invalid parameter: AttributeName");
    if ((strcmp(k, "FifoTopic") == 0 || strcmp(k, "ContentBasedDeduplication") == 0) &&
        strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
        return fail(c, &E_INVALID, "Invalid parameter: Attributes Reason: %s must be true or "
                    "false", k);
    if (strcmp(k, "SignatureVersion") == 0 && strcmp(v, "1") != 0 && strcmp(v, "2") != 0)
        return fail(c, &E_INVALID, "Invalid parameter: SignatureVersion Reason: must be 1 or 2");
    if (strcmp(k, "DeliveryPolicy") == 0 && *v &&
        !sl__sns_delivery_policy_is_valid(v, true, err, sizeof(err)))
        return fail(c, &E_INVALID, "Invalid parameter: %s", err);
    return true;
}

static bool
take_tags(sl_sns_call_t *c, const json_t *tags, sl_kvlist_t *kv)
{
    size_t i;
    json_t *t;

    if (tags == NULL)
        return true;
    if (!json_is_array(tags) || json_array_size(tags) > 50)
        return fail(c, &E_INVALID, "Invalid parameter: Tags Reason: at most 50 tags");
    json_array_foreach(tags, i, t) {
        const char *k = get_str(t, "Key"), *v = get_str(t, "Value");

        if (k == NULL || v == NULL || *k == '\0' || strlen(k) > 128 || strlen(v) > 256)
            return fail(c, &E_TAG_POLICY, "Invalid parameter: Tags Reason: keys are 1 to 128 "
                        "characters, values 0 to 256");
        sl_kvlist_set(kv, k, v);
    }
    return true;
}

static void
reply_topic_arn(sl_sns_call_t *c)
{
    json_t *out = json_object();

    json_object_set_new(out, "TopicArn", str_json(sl_fanout_topic_arn(c->svc->fanout,
                                                                       c->topic.name)));
    ok(c, out);
}

static bool
op_create_topic(sl_sns_call_t *c)
{
    const json_t *attrs = json_object_get(c->in, "Attributes");
    const sl_topic_spec_t *old;
    const char *name, *k, *fifo;
    json_t *v;

    if (!need(c, "Name", &name))
        return false;
    if (!sl_topic_name_is_valid(name))
        return fail(c, &E_INVALID, "Invalid parameter: Topic Name");
    if (attrs != NULL && !json_is_object(attrs))
        return fail(c, &E_INVALID, "Invalid parameter: Attributes");
    sl_topic_spec_init(&c->topic);
    c->have_topic = true;
    json_object_foreach((json_t *)attrs, k, v) {
        if (!json_is_string(v))
            return fail(c, &E_INVALID, "Invalid parameter: Attributes");
        if (!check_topic_attr(c, k, json_string_value(v), true))
            return false;
        sl_kvlist_set(&c->topic.attrs, k, json_string_value(v));
    }
    fifo = sl_kvlist_get(&c->topic.attrs, "FifoTopic");
    c->topic.fifo = fifo && strcmp(fifo, "true") == 0;
    if (c->topic.fifo != sl_topic_name_is_fifo(name))
        return fail(c, &E_INVALID, "Invalid parameter: Topic Name: %s",
                    c->topic.fifo ? "a FIFO topic's name must end with .fifo"
                                  : "a topic whose name ends with .fifo must set FifoTopic=true");
    if (!take_tags(c, json_object_get(c->in, "Tags"), &c->topic.tags))
        return false;
    c->topic.name = sl_strdup(name);
    if ((old = sl_fanout_topic(c->svc->fanout, name)) != NULL) {
        for (size_t i = 0; i < c->topic.attrs.n; i++) {
            const char *ov = sl_kvlist_get(&old->attrs, c->topic.attrs.v[i].key);

            if (ov == NULL || strcmp(ov, c->topic.attrs.v[i].val) != 0)
                return fail(c, &E_INVALID, "Invalid parameter: Attributes Reason: Topic already "
                            "exists with different attributes");
        }
        reply_topic_arn(c);
        return false;
    }
    c->topic.created_ms = wall_ms();
    return put_topic(c, reply_topic_arn);
}

static void
reply_empty(sl_sns_call_t *c)
{
    ok(c, NULL);
}

/* TagResource and UntagResource have an (empty) result element: botocore looks for it. */
static void
reply_empty_result(sl_sns_call_t *c)
{
    ok(c, json_object());
}

static void
after_topic_docs_deleted(sl_sns_call_t *c)
{
    sl_fanout_topic_remove(c->svc->fanout, c->topic.name);
    ok(c, NULL);
}

static bool
op_delete_topic(sl_sns_call_t *c)
{
    const char *arn, *name;
    const sl_sub_spec_t **subs;
    size_t n;

    if (get_str(c->in, "TopicArn") == NULL && get_str(c->in, "TopicName") != NULL)
        name = get_str(c->in, "TopicName");     /* the native API */
    else if (!need(c, "TopicArn", &arn))
        return false;
    else if ((name = topic_arn_name(c, "TopicArn", arn)) == NULL)
        return false;
    if (sl_fanout_topic(c->svc->fanout, name) == NULL)
        return ok(c, NULL);         /* idempotent, as on AWS */
    sl_topic_spec_init(&c->topic);
    c->have_topic = true;
    c->topic.name = sl_strdup(name);
    c->then = after_topic_docs_deleted;
    n = sl_fanout_subs(c->svc->fanout, name, &subs);
    for (size_t i = 0; i < n; i++)
        del_doc(c, SL_SUB_META_KIND, subs[i]->id);
    sl_free(subs);
    del_doc(c, SL_TOPIC_META_KIND, name);
    if (c->store_pending == 0)
        return fail_store(c, SL_EBACKEND);
    return true;
}

/* Pages of PAGE through n items: NextToken is the decimal offset. */
static bool
take_page(sl_sns_call_t *c, size_t n, size_t *from)
{
    const char *tok = get_str(c->in, "NextToken");
    char *end;
    unsigned long v;

    *from = 0;
    if (tok == NULL || *tok == '\0')
        return true;
    v = strtoul(tok, &end, 10);
    if (*end != '\0' || v > n)
        return fail(c, &E_INVALID, "Invalid parameter: NextToken");
    *from = v;
    return true;
}

static void
set_next(json_t *out, size_t from, size_t n)
{
    if (from + PAGE < n) {
        char buf[24];

        snprintf(buf, sizeof(buf), "%zu", from + PAGE);
        json_object_set_new(out, "NextToken", json_string(buf));
    }
}

static bool
op_list_topics(sl_sns_call_t *c)
{
    const sl_topic_spec_t **ts;
    size_t n = sl_fanout_topics(c->svc->fanout, &ts), from;
    json_t *out, *list;

    if (!take_page(c, n, &from)) {
        sl_free(ts);
        return false;
    }
    out = json_object();
    list = json_array();
    for (size_t i = from; i < n && i < from + PAGE; i++)
        json_array_append_new(list, json_pack("{s:o}", "TopicArn",
                                              str_json(sl_fanout_topic_arn(c->svc->fanout,
                                                                           ts[i]->name))));
    json_object_set_new(out, "Topics", list);
    set_next(out, from, n);
    sl_free(ts);
    return ok(c, out);
}

static const char *
default_delivery_policy(void)
{
    return "{\"http\":{\"defaultHealthyRetryPolicy\":{\"minDelayTarget\":20,"
           "\"maxDelayTarget\":20,\"numRetries\":3,\"numMaxDelayRetries\":0,"
           "\"numNoDelayRetries\":0,\"numMinDelayRetries\":0,\"backoffFunction\":\"linear\"},"
           "\"disableSubscriptionOverrides\":false,\"defaultRequestPolicy\":{\"headerContentType"
           "\":\"text/plain; charset=UTF-8\"}}}";
}

static bool
op_get_topic_attributes(sl_sns_call_t *c)
{
    const sl_topic_spec_t *t = take_topic(c, "TopicArn");
    const sl_sub_spec_t **subs;
    size_t n, confirmed = 0;
    json_t *out, *a;
    char *arn, buf[24], policy[700];

    if (t == NULL)
        return false;
    n = sl_fanout_subs(c->svc->fanout, t->name, &subs);
    for (size_t i = 0; i < n; i++)
        confirmed += subs[i]->confirmed;
    sl_free(subs);
    arn = sl_fanout_topic_arn(c->svc->fanout, t->name);
    a = json_object();
    json_object_set_new(a, "TopicArn", json_string(arn));
    {
        /* Owner is the account: the 5th field of the ARN. */
        const char *p = arn;

        for (int i = 0; i < 4 && p; i++)
            p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL;
        if (p)
            json_object_set_new(a, "Owner", json_stringn(p, (size_t)(strchr(p, ':') - p)));
    }
    snprintf(policy, sizeof(policy), "{\"Version\":\"2008-10-17\",\"Id\":\"__default_policy_ID\","
             "\"Statement\":[{\"Sid\":\"__default_statement_ID\",\"Effect\":\"Allow\","
             "\"Principal\":{\"AWS\":\"*\"},\"Action\":[\"SNS:Publish\",\"SNS:Subscribe\"],"
             "\"Resource\":\"%.300s\"}]}", arn);
    json_object_set_new(a, "Policy", json_string(policy));
    json_object_set_new(a, "DisplayName", json_string(""));
    snprintf(buf, sizeof(buf), "%zu", confirmed);
    json_object_set_new(a, "SubscriptionsConfirmed", json_string(buf));
    snprintf(buf, sizeof(buf), "%zu", n - confirmed);
    json_object_set_new(a, "SubscriptionsPending", json_string(buf));
    json_object_set_new(a, "SubscriptionsDeleted", json_string("0"));
    json_object_set_new(a, "EffectiveDeliveryPolicy", json_string(default_delivery_policy()));
    if (t->fifo) {
        json_object_set_new(a, "FifoTopic", json_string("true"));
        json_object_set_new(a, "ContentBasedDeduplication", json_string("false"));
    }
    for (size_t i = 0; i < t->attrs.n; i++)
        json_object_set_new(a, t->attrs.v[i].key, json_string(t->attrs.v[i].val));
    if (sl_kvlist_get(&t->attrs, "DeliveryPolicy") &&
        *sl_kvlist_get(&t->attrs, "DeliveryPolicy"))
        json_object_set_new(a, "EffectiveDeliveryPolicy",
                            json_string(sl_kvlist_get(&t->attrs, "DeliveryPolicy")));
    sl_free(arn);
    out = json_object();
    json_object_set_new(out, "Attributes", a);
    return ok(c, out);
}

static bool
op_set_topic_attributes(sl_sns_call_t *c)
{
    const char *name, *val = get_str(c->in, "AttributeValue");
    const sl_topic_spec_t *t = take_topic(c, "TopicArn");    /* last: frees c on failure */

    if (t == NULL || !need(c, "AttributeName", &name))
        return false;
    if (val == NULL)
        val = "";
    if (!check_topic_attr(c, name, val, false))
        return false;
    sl_topic_spec_copy(&c->topic, t);
    c->have_topic = true;
    sl_kvlist_set(&c->topic.attrs, name, val);
    return put_topic(c, reply_empty);
}

/* ---- Tags ---- */

static const sl_topic_spec_t *
take_tagged(sl_sns_call_t *c)
{
    const char *arn, *name;
    const sl_topic_spec_t *t;

    if (!need(c, "ResourceArn", &arn))
        return NULL;
    name = sl_arn_resource(arn, "sns", NULL, 0);
    if (name != NULL && (t = sl_fanout_topic(c->svc->fanout, name)) != NULL) {
        char *own = sl_fanout_topic_arn(c->svc->fanout, name);
        bool same = strcmp(own, arn) == 0;     /* not another region's or account's */

        sl_free(own);
        if (same)
            return t;
    }
    fail(c, &E_RESOURCE_NOT_FOUND, "Resource does not exist");
    return NULL;
}

static bool
op_tag_resource(sl_sns_call_t *c)
{
    const json_t *tags = json_object_get(c->in, "Tags");
    const sl_topic_spec_t *t = take_tagged(c);               /* last: frees c on failure */

    if (t == NULL)
        return false;
    if (!json_is_array(tags) || json_array_size(tags) == 0)
        return fail(c, &E_INVALID, "Invalid parameter: Tags");
    sl_topic_spec_copy(&c->topic, t);
    c->have_topic = true;
    if (!take_tags(c, tags, &c->topic.tags))
        return false;
    if (c->topic.tags.n > 50)
        return fail(c, &E_TAG_POLICY, "Could not complete request: tag quota of per resource "
                    "exceeded");
    return put_topic(c, reply_empty_result);
}

static bool
op_untag_resource(sl_sns_call_t *c)
{
    const json_t *keys = json_object_get(c->in, "TagKeys"), *k;
    const sl_topic_spec_t *t = take_tagged(c);               /* last: frees c on failure */
    size_t i;

    if (t == NULL)
        return false;
    if (!json_is_array(keys) || json_array_size(keys) == 0)
        return fail(c, &E_INVALID, "Invalid parameter: TagKeys");
    sl_topic_spec_copy(&c->topic, t);
    c->have_topic = true;
    json_array_foreach(keys, i, k)
        if (json_is_string(k))
            sl_kvlist_del(&c->topic.tags, json_string_value(k));
    return put_topic(c, reply_empty_result);
}

static bool
op_list_tags_for_resource(sl_sns_call_t *c)
{
    const sl_topic_spec_t *t = take_tagged(c);
    json_t *out, *list;

    if (t == NULL)
        return false;
    list = json_array();
    for (size_t i = 0; i < t->tags.n; i++)
        json_array_append_new(list, json_pack("{s:s, s:s}", "Key", t->tags.v[i].key, "Value",
                                              t->tags.v[i].val));
    out = json_object();
    json_object_set_new(out, "Tags", list);
    return ok(c, out);
}

/* ---- Subscriptions ---- */

/* Validates setting subscription attribute k to v on s (whose protocol is
 * known); replies and returns false when bad. */
static bool
check_sub_attr(sl_sns_call_t *c, const sl_sub_spec_t *s, const char *k, const char *v)
{
    char err[400];

    if (strcmp(k, "FilterPolicy") == 0) {
        sl_kvlist_t probe;
        sl_filter_t *f = NULL;
        bool body;
        int rc;

        if (*v == '\0')
            return true;                /* removes the policy */
        if (strlen(v) > SL_FILTER_MAX_LEN)
            return fail(c, &E_INVALID, "Invalid parameter: FilterPolicy: Filter policy is too "
                        "long");
        sl_kvlist_init(&probe);
        sl_kvlist_copy(&probe, &s->attrs);
        sl_kvlist_set(&probe, "FilterPolicy", v);
        rc = sl_fanout_compile_policy(&probe, &f, &body, err, sizeof(err));
        sl_filter_destroy(f);
        sl_kvlist_deinit(&probe);
        if (rc != SL_OK)
            return fail(c, &E_INVALID, "Invalid parameter: FilterPolicy: %s", err);
        return true;
    }
    if (strcmp(k, "FilterPolicyScope") == 0) {
        if (strcmp(v, "MessageAttributes") != 0 && strcmp(v, "MessageBody") != 0)
            return fail(c, &E_INVALID, "Invalid parameter: FilterPolicyScope: Invalid value "
                        "[%.100s]. Please use either MessageBody or MessageAttributes", v);
        return true;
    }
    if (strcmp(k, "RawMessageDelivery") == 0) {
        if (strcasecmp(v, "true") != 0 && strcasecmp(v, "false") != 0)
            return fail(c, &E_INVALID, "Invalid parameter: RawMessageDelivery: Invalid value "
                        "[%.100s]. Must be true or false.", v);
        if (s->proto == SL_SUB_LAMBDA && strcasecmp(v, "true") == 0)
            return fail(c, &E_INVALID, "Invalid parameter: Attributes Reason: Delivery "
                        "protocol [lambda] does not support raw message delivery.");
        return true;
    }
    if (strcmp(k, "RedrivePolicy") == 0) {
        json_t *j = NULL;
        const char *arn;
        bool good;

        if (*v == '\0')
            return true;
        if (sl_json_parse(v, strlen(v), &j, NULL, 0) != SL_OK || !json_is_object(j)) {
            json_decref(j);
            return fail(c, &E_INVALID, "Invalid parameter: RedrivePolicy: failed to parse JSON");
        }
        arn = get_str(j, "deadLetterTargetArn");
        good = arn != NULL && sl_arn_resource(arn, "sqs", NULL, 0) != NULL;
        json_decref(j);
        if (!good)
            return fail(c, &E_INVALID, "Invalid parameter: RedrivePolicy: deadLetterTargetArn "
                        "is missing or is not an SQS queue ARN");
        return true;
    }
    if (strcmp(k, "DeliveryPolicy") == 0) {
        if (s->proto != SL_SUB_HTTP && s->proto != SL_SUB_HTTPS)
            return fail(c, &E_INVALID, "Invalid parameter: DeliveryPolicy: only http and https "
                        "subscriptions take a delivery policy");
        if (*v && !sl__sns_delivery_policy_is_valid(v, false, err, sizeof(err)))
            return fail(c, &E_INVALID, "Invalid parameter: %s", err);
        return true;
    }
    if (strcmp(k, "SubscriptionRoleArn") == 0 || strcmp(k, "ReplayPolicy") == 0)
        return true;
    return fail(c, &E_INVALID, "Invalid parameter: AttributeName");
}

static void
set_sub_attr(sl_sub_spec_t *s, const char *k, const char *v)
{
    if (*v == '\0' && (strcmp(k, "FilterPolicy") == 0 || strcmp(k, "RedrivePolicy") == 0 ||
                       strcmp(k, "DeliveryPolicy") == 0))
        sl_kvlist_del(&s->attrs, k);
    else if (strcmp(k, "RawMessageDelivery") == 0)
        sl_kvlist_set(&s->attrs, k, strcasecmp(v, "true") == 0 ? "true" : "false");
    else
        sl_kvlist_set(&s->attrs, k, v);
}

static void
reply_sub_arn(sl_sns_call_t *c)
{
    json_t *out = json_object();
    bool ret = json_is_true(json_object_get(c->in, "ReturnSubscriptionArn")) ||
               (get_str(c->in, "ReturnSubscriptionArn") &&
                strcmp(get_str(c->in, "ReturnSubscriptionArn"), "true") == 0);

    if (!c->sub.confirmed && !ret && strcmp(c->op->name, "Subscribe") == 0)
        json_object_set_new(out, "SubscriptionArn", json_string("pending confirmation"));
    else
        json_object_set_new(out, "SubscriptionArn",
                            str_json(sl_fanout_sub_arn(c->svc->fanout, &c->sub)));
    ok(c, out);
}

static void
after_subscribed(sl_sns_call_t *c)
{
    if (!c->sub.confirmed)
        sl_fanout_confirm_request(c->svc->fanout, &c->sub);
    reply_sub_arn(c);
}

static bool
op_subscribe(sl_sns_call_t *c)
{
    const json_t *attrs = json_object_get(c->in, "Attributes");
    const char *proto, *endpoint = get_str(c->in, "Endpoint"), *k;
    const sl_topic_spec_t *t = take_topic(c, "TopicArn");    /* last: frees c on failure */
    const sl_sub_spec_t **subs;
    char fn[SL_FUNCTION_NAME_BUF];
    sl_sub_proto_t p;
    size_t n;
    json_t *v;
    int rc;

    if (t == NULL || !need(c, "Protocol", &proto))
        return false;
    rc = sl_sub_proto_parse(proto, &p);
    if (rc == SL_ENOTFOUND)
        return fail(c, &E_INVALID, "Invalid parameter: Protocol Reason: sluice does not deliver "
                    "to %s endpoints; use sqs, lambda, http or https", proto);
    if (rc != SL_OK)
        return fail(c, &E_INVALID, "Invalid parameter: Amazon SNS does not support this "
                    "protocol string: %.64s", proto);
    if (endpoint == NULL || *endpoint == '\0')
        return fail(c, &E_INVALID, "Invalid parameter: Endpoint");
    if (t->fifo && p != SL_SUB_SQS)
        return fail(c, &E_INVALID, "Invalid parameter: Protocol Reason: FIFO topics deliver only "
                    "to SQS queues");
    if ((p == SL_SUB_SQS && sl_arn_resource(endpoint, "sqs", NULL, 0) == NULL) ||
        (p == SL_SUB_LAMBDA && sl_arn_resource(endpoint, "lambda", fn, sizeof(fn)) == NULL))
        return fail(c, &E_INVALID, "Invalid parameter: %s endpoint ARN",
                    p == SL_SUB_SQS ? "SQS" : "Lambda");
    if ((p == SL_SUB_HTTP && strncmp(endpoint, "http://", 7) != 0) ||
        (p == SL_SUB_HTTPS && strncmp(endpoint, "https://", 8) != 0))
        return fail(c, &E_INVALID, "Invalid parameter: Endpoint must match the specified "
                    "protocol");
    if (attrs != NULL && !json_is_object(attrs))
        return fail(c, &E_INVALID, "Invalid parameter: Attributes");
    sl_sub_spec_init(&c->sub);
    c->have_sub = true;
    c->sub.proto = p;
    json_object_foreach((json_t *)attrs, k, v) {
        if (!json_is_string(v))
            return fail(c, &E_INVALID, "Invalid parameter: Attributes");
        if (!check_sub_attr(c, &c->sub, k, json_string_value(v)))
            return false;               /* c and maybe v are gone */
        set_sub_attr(&c->sub, k, json_string_value(v));
    }
    /* FilterPolicyScope given after FilterPolicy: check the pair again. */
    if (sl_kvlist_get(&c->sub.attrs, "FilterPolicy") &&
        !check_sub_attr(c, &c->sub, "FilterPolicy", sl_kvlist_get(&c->sub.attrs,
                                                                   "FilterPolicy")))
        return false;
    /* The same endpoint again answers the existing subscription. */
    n = sl_fanout_subs(c->svc->fanout, t->name, &subs);
    for (size_t i = 0; i < n; i++) {
        if (subs[i]->proto == p && strcmp(subs[i]->endpoint, endpoint) == 0) {
            sl_sub_spec_deinit(&c->sub);
            sl_sub_spec_copy(&c->sub, subs[i]);
            sl_free(subs);
            reply_sub_arn(c);
            return false;
        }
    }
    sl_free(subs);
    {
        char id[SL_MSG_ID_LEN + 1];

        sl_uuid4(id);
        c->sub.id = sl_strdup(id);
    }
    c->sub.topic = sl_strdup(t->name);
    c->sub.endpoint = sl_strdup(endpoint);
    c->sub.created_ms = wall_ms();
    c->sub.confirmed = p == SL_SUB_SQS || p == SL_SUB_LAMBDA;
    if (!c->sub.confirmed) {
        char a[SL_MSG_ID_LEN + 1], b[SL_MSG_ID_LEN + 1], tok[80];

        sl_uuid4(a);
        sl_uuid4(b);
        snprintf(tok, sizeof(tok), "%.8s%.4s%.4s%.4s%.12s%.8s%.4s%.4s", a, a + 9, a + 14,
                 a + 19, a + 24, b, b + 9, b + 14);
        c->sub.token = sl_strdup(tok);
    }
    return put_sub(c, after_subscribed);
}

static bool
op_confirm_subscription(sl_sns_call_t *c)
{
    const sl_topic_spec_t *t = take_topic(c, "TopicArn");
    const sl_sub_spec_t **subs;
    const char *token;
    size_t n;

    if (t == NULL || !need(c, "Token", &token))
        return false;
    n = sl_fanout_subs(c->svc->fanout, t->name, &subs);
    for (size_t i = 0; i < n; i++) {
        if (subs[i]->token && strcmp(subs[i]->token, token) == 0) {
            sl_sub_spec_copy(&c->sub, subs[i]);
            c->have_sub = true;
            break;
        }
    }
    sl_free(subs);
    if (!c->have_sub)
        return fail(c, &E_INVALID, "Invalid token");
    if (c->sub.confirmed) {
        reply_sub_arn(c);
        return false;
    }
    c->sub.confirmed = true;
    return put_sub(c, reply_sub_arn);
}

static void
after_unsubscribed(sl_sns_call_t *c)
{
    sl_fanout_sub_remove(c->svc->fanout, c->sub.id);
    ok(c, NULL);
}

static bool
op_unsubscribe(sl_sns_call_t *c)
{
    const sl_sub_spec_t *s = take_sub(c);

    if (s == NULL)
        return false;
    sl_sub_spec_copy(&c->sub, s);
    c->have_sub = true;
    c->then = after_unsubscribed;
    del_doc(c, SL_SUB_META_KIND, s->id);
    if (c->store_pending == 0)
        return fail_store(c, SL_EBACKEND);
    return true;
}

static bool
list_subs(sl_sns_call_t *c, const char *topic)
{
    const sl_sub_spec_t **subs;
    size_t n = sl_fanout_subs(c->svc->fanout, topic, &subs), from;
    json_t *out, *list;

    if (!take_page(c, n, &from)) {
        sl_free(subs);
        return false;
    }
    list = json_array();
    for (size_t i = from; i < n && i < from + PAGE; i++) {
        const sl_sub_spec_t *s = subs[i];
        json_t *m = json_object();

        json_object_set_new(m, "SubscriptionArn", s->confirmed
                            ? str_json(sl_fanout_sub_arn(c->svc->fanout, s))
                            : json_string("PendingConfirmation"));
        json_object_set_new(m, "Owner", json_string("000000000000"));
        json_object_set_new(m, "Protocol", json_string(sl_sub_proto_name(s->proto)));
        json_object_set_new(m, "Endpoint", json_string(s->endpoint));
        json_object_set_new(m, "TopicArn", str_json(sl_fanout_topic_arn(c->svc->fanout,
                                                                          s->topic)));
        json_array_append_new(list, m);
    }
    sl_free(subs);
    out = json_object();
    json_object_set_new(out, "Subscriptions", list);
    set_next(out, from, n);
    return ok(c, out);
}

static bool
op_list_subscriptions(sl_sns_call_t *c)
{
    return list_subs(c, NULL);
}

static bool
op_list_subscriptions_by_topic(sl_sns_call_t *c)
{
    const sl_topic_spec_t *t = take_topic(c, "TopicArn");

    return t ? list_subs(c, t->name) : false;
}

static bool
op_get_subscription_attributes(sl_sns_call_t *c)
{
    const sl_sub_spec_t *s = take_sub(c);
    json_t *out, *a;

    if (s == NULL)
        return false;
    a = json_object();
    json_object_set_new(a, "SubscriptionArn", str_json(sl_fanout_sub_arn(c->svc->fanout, s)));
    json_object_set_new(a, "TopicArn", str_json(sl_fanout_topic_arn(c->svc->fanout, s->topic)));
    json_object_set_new(a, "Owner", json_string("000000000000"));
    json_object_set_new(a, "Protocol", json_string(sl_sub_proto_name(s->proto)));
    json_object_set_new(a, "Endpoint", json_string(s->endpoint));
    json_object_set_new(a, "ConfirmationWasAuthenticated", json_string("true"));
    json_object_set_new(a, "PendingConfirmation", json_string(s->confirmed ? "false" : "true"));
    json_object_set_new(a, "RawMessageDelivery", json_string("false"));
    json_object_set_new(a, "SubscriptionPrincipal",
                        json_string("arn:aws:iam::000000000000:user/sluice"));
    for (size_t i = 0; i < s->attrs.n; i++)
        json_object_set_new(a, s->attrs.v[i].key, json_string(s->attrs.v[i].val));
    if (sl_kvlist_get(&s->attrs, "FilterPolicy") && !sl_kvlist_get(&s->attrs,
                                                                    "FilterPolicyScope"))
        json_object_set_new(a, "FilterPolicyScope", json_string("MessageAttributes"));
    if (s->proto == SL_SUB_HTTP || s->proto == SL_SUB_HTTPS) {
        const char *dp = sl_kvlist_get(&s->attrs, "DeliveryPolicy");

        json_object_set_new(a, "EffectiveDeliveryPolicy", json_string(
            dp ? dp : "{\"healthyRetryPolicy\":{\"minDelayTarget\":20,\"maxDelayTarget\":20,"
                      "\"numRetries\":3,\"numMaxDelayRetries\":0,\"numNoDelayRetries\":0,"
                      "\"numMinDelayRetries\":0,\"backoffFunction\":\"linear\"}}"));
    }
    out = json_object();
    json_object_set_new(out, "Attributes", a);
    return ok(c, out);
}

static bool
op_set_subscription_attributes(sl_sns_call_t *c)
{
    const char *name, *val = get_str(c->in, "AttributeValue");
    const sl_sub_spec_t *s = take_sub(c);                    /* last: frees c on failure */
    const char *policy;

    if (s == NULL || !need(c, "AttributeName", &name))
        return false;
    if (val == NULL)
        val = "";
    sl_sub_spec_copy(&c->sub, s);
    c->have_sub = true;
    if (!check_sub_attr(c, &c->sub, name, val))
        return false;
    set_sub_attr(&c->sub, name, val);
    /* A new scope must suit the policy already set. */
    if (strcmp(name, "FilterPolicyScope") == 0 &&
        (policy = sl_kvlist_get(&c->sub.attrs, "FilterPolicy")) != NULL &&
        !check_sub_attr(c, &c->sub, "FilterPolicy", policy))
        return false;
    return put_sub(c, reply_empty);
}

/* ---- Publishing ---- */

/* A Number attribute: decimal with optional sign, fraction and exponent (no hex,
 * inf, nan or blanks, which strtod takes), between 10^-128 and 10^126 in
 * magnitude or zero, as SNS documents. */
static bool
number_is_valid(const char *s)
{
    const char *p = s;
    int digits = 0;
    double v;

    if (*p == '+' || *p == '-')
        p++;
    for (; *p >= '0' && *p <= '9'; p++)
        digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            digits++;
    if (digits == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p != '\0')
        return false;
    errno = 0;
    v = strtod(s, NULL);
    if (errno == ERANGE)
        return false;
    if (v < 0)
        v = -v;
    return v == 0 || (v >= 1e-128 && v <= 1e126);
}

/* Validates MessageAttributes into rec's "attrs"; adds their size to *size.
 * Returns NULL, or the error message (static or in buf). */
static const char *
take_message_attrs(const json_t *ma, json_t *rec, size_t *size, char *buf, size_t len)
{
    const char *name;
    json_t *a, *out;

    if (ma == NULL)
        return NULL;
    if (!json_is_object(ma))
        return "Invalid parameter: MessageAttributes";
    if (json_object_size(ma) > SL_TOPIC_MAX_ATTRS)
        return "Invalid parameter: MessageAttributes Reason: at most 10 message attributes";
    out = json_object();
    json_object_foreach((json_t *)ma, name, a) {
        const char *type = get_str(a, "DataType"), *sv = get_str(a, "StringValue");
        const char *bv = get_str(a, "BinaryValue");
        const char *val = sv ? sv : bv;
        size_t vsize;                   /* what counts against the size limit */

        if (*name == '\0' || strlen(name) > 256) {
            snprintf(buf, len, "Invalid parameter: MessageAttributes Reason: a message "
                     "attribute name must be 1 to 256 characters");
            json_decref(out);
            return buf;
        }
        if (type == NULL || (strncmp(type, "String", 6) != 0 && strncmp(type, "Number", 6) != 0 &&
                             strncmp(type, "Binary", 6) != 0)) {
            snprintf(buf, len, "Invalid parameter: The message attribute '%.100s' has an "
                     "invalid message attribute type, the set of supported type prefixes is "
                     "Binary, Number, and String.", name);
            json_decref(out);
            return buf;
        }
        if (val == NULL || *val == '\0') {
            snprintf(buf, len, "Invalid parameter: The message attribute '%.100s' must contain "
                     "non-empty message attribute value for message attribute type '%.40s'.",
                     name, type);
            json_decref(out);
            return buf;
        }
        if (strncmp(type, "Number", 6) == 0) {
            if (!number_is_valid(val)) {
                snprintf(buf, len, "Invalid parameter: Could not cast message attribute "
                         "'%.100s' value to number.", name);
                json_decref(out);
                return buf;
            }
        }
        if (strcmp(type, "String.Array") == 0) {
            json_t *arr = NULL;
            bool good = sl_json_parse(val, strlen(val), &arr, NULL, 0) == SL_OK &&
                        json_is_array(arr);

            json_decref(arr);
            if (!good) {
                snprintf(buf, len, "Invalid parameter: The message attribute '%.100s' with type "
                         "'String.Array' has an invalid value: it must be a JSON array.", name);
                json_decref(out);
                return buf;
            }
        }
        if (strncmp(type, "Binary", 6) == 0) {
            char *bin;
            size_t blen;

            if (!sl__b64_decode(val, strlen(val), &bin, &blen)) {
                snprintf(buf, len, "Invalid parameter: The message attribute '%.100s' has an "
                         "invalid binary value.", name);
                json_decref(out);
                return buf;
            }
            sl_free(bin);
            vsize = blen;               /* the bytes, not their base64 text */
        } else {
            vsize = strlen(val);
        }
        *size += strlen(name) + strlen(type) + vsize;
        json_object_set_new(out, name, json_pack("{s:s, s:s}", "Type", type, "Value", val));
    }
    json_object_set_new(rec, "attrs", out);
    return NULL;
}

static void
sweep_dedup(sl_sns_t *svc, int64_t now)
{
    size_t pos = 0;
    const char *k;
    void *v;
    char **gone;
    size_t n = 0;

    if (now - svc->dedup_swept_ms < 10000 || svc->dedup.n == 0)
        return;
    svc->dedup_swept_ms = now;
    gone = sl_calloc(svc->dedup.n, sizeof(*gone));
    while (sl__strmap_next(&svc->dedup, &pos, &k, &v))
        if (now - ((dedup_t *)v)->at_ms > FIFO_DEDUP_MS)
            gone[n++] = sl_strdup(k);
    for (size_t i = 0; i < n; i++) {
        sl_free(sl__strmap_del(&svc->dedup, gone[i]));
        sl_free(gone[i]);
    }
    sl_free(gone);
}

/* MessageStructure=json: the keys naming a protocol must hold strings (SNS's
 * rule); other keys may hold anything. */
static bool
structure_values_are_strings(const json_t *j)
{
    static const char *const protos[] = {
        "sqs", "lambda", "http", "https", "email", "email-json", "sms", "application",
        "firehose", NULL,
    };

    for (size_t i = 0; protos[i]; i++) {
        const json_t *v = json_object_get(j, protos[i]);

        if (v != NULL && !json_is_string(v))
            return false;
    }
    return true;
}

/* Builds the publish record of entry e (a Publish input or a PublishBatch
 * entry) for topic t. Returns NULL with *err (message in buf) when invalid.
 * *dup is set when a FIFO dedup id was seen within 5 minutes (the record then
 * only carries the earlier id and sequence number). */
static json_t *
build_record(sl_sns_t *svc, const sl_topic_spec_t *t, const json_t *e, char *buf, size_t len,
             const char **err, bool *dup)
{
    const char *msg = get_str(e, "Message"), *subject = get_str(e, "Subject");
    const char *structure = get_str(e, "MessageStructure");
    const char *group = get_str(e, "MessageGroupId"), *dedup = get_str(e, "MessageDeduplicationId");
    const char *sigv = sl_kvlist_get(&t->attrs, "SignatureVersion");
    const char *cbd = sl_kvlist_get(&t->attrs, "ContentBasedDeduplication");
    json_t *rec;
    size_t size;
    char id[SL_MSG_ID_LEN + 1], hash[65];
    int64_t now = wall_ms();

    *dup = false;
    if (msg == NULL || *msg == '\0') {
        *err = "Invalid parameter: Empty message";
        return NULL;
    }
    size = strlen(msg) + (subject ? strlen(subject) : 0);
    if (subject != NULL) {
        size_t n = strlen(subject);

        if (n == 0 || n > 100 || strpbrk(subject, "\r\n") != NULL) {
            *err = "Invalid parameter: Subject";
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)subject[i] < 0x20 || (unsigned char)subject[i] >= 0x7f) {
                *err = "Invalid parameter: Subject";
                return NULL;
            }
        }
    }
    if (structure != NULL) {
        json_t *j = NULL;

        if (strcmp(structure, "json") != 0) {
            *err = "Invalid parameter: MessageStructure";
            return NULL;
        }
        if (sl_json_parse(msg, strlen(msg), &j, NULL, 0) != SL_OK || !json_is_object(j)) {
            json_decref(j);
            *err = "Invalid parameter: Message Structure - JSON message body failed to parse";
            return NULL;
        }
        if (!json_is_string(json_object_get(j, "default"))) {
            json_decref(j);
            *err = "Invalid parameter: Message Structure - No default entry in JSON message body";
            return NULL;
        }
        if (!structure_values_are_strings(j)) {
            json_decref(j);
            *err = "Invalid parameter: Message Structure - the value of a protocol key must be "
                   "a string";
            return NULL;
        }
        json_decref(j);
    }
    if (t->fifo) {
        if (group == NULL || *group == '\0') {
            *err = "Invalid parameter: The MessageGroupId parameter is required for FIFO topics";
            return NULL;
        }
        if ((dedup == NULL || *dedup == '\0') && !(cbd && strcmp(cbd, "true") == 0)) {
            *err = "Invalid parameter: The topic should either have ContentBasedDeduplication "
                   "enabled or MessageDeduplicationId provided explicitly";
            return NULL;
        }
        if (dedup == NULL || *dedup == '\0') {
            sl_sha256_hex(msg, strlen(msg), hash);
            dedup = hash;
        }
    } else if (dedup != NULL) {
        *err = "Invalid parameter: MessageDeduplicationId Reason: The request includes "
               "MessageDeduplicationId parameter that is not valid for this topic type";
        return NULL;
    }
    rec = json_object();
    sl_uuid4(id);
    json_object_set_new(rec, "id", json_string(id));
    json_object_set_new(rec, "topic", json_string(t->name));
    json_object_set_new(rec, "message", json_string(msg));
    if (subject)
        json_object_set_new(rec, "subject", json_string(subject));
    if (structure)
        json_object_set_new(rec, "structure", json_string(structure));
    if ((*err = take_message_attrs(json_object_get(e, "MessageAttributes"), rec, &size, buf,
                                   len)) != NULL) {
        json_decref(rec);
        return NULL;
    }
    if (size > SL_TOPIC_MESSAGE_MAX) {
        json_decref(rec);
        *err = "Invalid parameter: Message too long";
        return NULL;
    }
    json_object_set_new(rec, "ts", json_integer(now));
    if (sigv)
        json_object_set_new(rec, "sigv", json_string(sigv));
    if (group)
        json_object_set_new(rec, "group", json_string(group));
    if (t->fifo) {
        char key[600], seq[24];
        dedup_t *d;

        sweep_dedup(svc, now);
        snprintf(key, sizeof(key), "%s\n%.500s", t->name, dedup);
        d = sl__strmap_get(&svc->dedup, key);
        if (d != NULL && now - d->at_ms <= FIFO_DEDUP_MS) {
            json_object_set_new(rec, "id", json_string(d->msg_id));
            json_object_set_new(rec, "seq", json_string(d->seq));
            *dup = true;
            return rec;
        }
        snprintf(seq, sizeof(seq), "%020" PRIu64, ++svc->seq);
        json_object_set_new(rec, "dedup", json_string(dedup));
        json_object_set_new(rec, "seq", json_string(seq));
        d = sl_calloc(1, sizeof(*d));
        snprintf(d->msg_id, sizeof(d->msg_id), "%s", id);
        snprintf(d->seq, sizeof(d->seq), "%s", seq);
        d->at_ms = now;
        sl_free(sl__strmap_put(&svc->dedup, key, d));
    }
    return rec;
}

static json_t *
publish_result(const json_t *rec)
{
    json_t *o = json_object();

    json_object_set_new(o, "MessageId", json_string(get_str(rec, "id")));
    if (get_str(rec, "seq"))
        json_object_set_new(o, "SequenceNumber", json_string(get_str(rec, "seq")));
    return o;
}

static void
on_published(void *arg, int status)
{
    sl_sns_call_t *c = arg;

    if (!resume(c))
        return;
    if (status != SL_OK) {
        fail_store(c, status);
        return;
    }
    ok(c, publish_result(c->recs));
}

static bool
op_publish(sl_sns_call_t *c)
{
    const char *arn = get_str(c->in, "TopicArn");
    const sl_topic_spec_t *t;
    const char *err;
    char buf[400];
    bool dup;
    int rc;

    if (get_str(c->in, "PhoneNumber"))
        return fail(c, &E_INVALID, "Invalid parameter: PhoneNumber Reason: sluice does not "
                    "deliver SMS");
    if (arn == NULL && get_str(c->in, "TargetArn")) {
        json_object_set(c->in, "TopicArn", json_object_get(c->in, "TargetArn"));
        arn = get_str(c->in, "TopicArn");
    }
    if (arn == NULL && get_str(c->in, "TopicName") == NULL)
        return fail(c, &E_INVALID, "Invalid parameter: TopicArn or TargetArn Reason: no value "
                    "for required parameter");
    if ((t = take_topic(c, "TopicArn")) == NULL)
        return false;
    if ((c->recs = build_record(c->svc, t, c->in, buf, sizeof(buf), &err, &dup)) == NULL)
        return fail(c, &E_INVALID, "%s", err);
    if (dup)
        return ok(c, publish_result(c->recs));
    if ((rc = sl_fanout_publish(c->svc->fanout, c->recs, on_published, c)) != SL_OK)
        return fail_store(c, rc);
    c->store_pending++;
    return true;
}

static void
add_failed(json_t *failed, const char *id, const char *code, const char *msg)
{
    json_array_append_new(failed, json_pack("{s:s, s:s, s:s, s:b}", "Id", id, "Code", code,
                                            "Message", msg, "SenderFault", 1));
}

static void
on_batch_published(void *arg, int status)
{
    sl_sns_call_t *c = arg;

    if (status != SL_OK)
        c->failures++;
    if (!resume(c) || c->store_pending > 0)
        return;
    {
        json_t *good = json_object_get(c->out, "Successful");
        json_t *failed = json_object_get(c->out, "Failed");
        size_t i;
        json_t *r;

        json_array_foreach(c->recs, i, r) {
            const char *id = get_str(r, "entry");

            if (c->failures) {
                add_failed(failed, id, "InternalError", "The store is unavailable; try again.");
            } else {
                json_t *o = publish_result(r);

                json_object_set_new(o, "Id", json_string(id));
                json_array_append_new(good, o);
            }
        }
        ok(c, json_incref(c->out));
    }
}

/* Bytes a batch entry counts towards the batch limit: like one publish, its
 * message and subject plus each attribute's name, type and value. */
static size_t
entry_size(const json_t *e)
{
    const json_t *ma = json_object_get(e, "MessageAttributes"), *a;
    const char *keys[] = { "Message", "Subject" }, *name, *v;
    size_t n = 0;

    for (size_t i = 0; i < 2; i++)
        n += (v = get_str(e, keys[i])) ? strlen(v) : 0;
    json_object_foreach((json_t *)ma, name, a) {
        n += strlen(name);
        n += (v = get_str(a, "DataType")) ? strlen(v) : 0;
        n += (v = get_str(a, "StringValue")) ? strlen(v) : 0;
        n += (v = get_str(a, "BinaryValue")) ? strlen(v) : 0;
    }
    return n;
}

static bool
batch_id_is_valid(const char *id)
{
    size_t n = strlen(id);

    return n > 0 && n <= 80 &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static bool
op_publish_batch(sl_sns_call_t *c)
{
    const json_t *entries = json_object_get(c->in, "PublishBatchRequestEntries"), *e;
    const sl_topic_spec_t *t = take_topic(c, "TopicArn");    /* last: frees c on failure */
    json_t *good, *failed;
    size_t i, total = 0;

    if (t == NULL)
        return false;
    if (entries == NULL || (json_is_array(entries) && json_array_size(entries) == 0))
        return fail(c, &E_EMPTY_BATCH, "The batch request doesn't contain any entries");
    if (!json_is_array(entries))
        return fail(c, &E_INVALID, "Invalid parameter: PublishBatchRequestEntries");
    if (json_array_size(entries) > SL_TOPIC_BATCH_MAX)
        return fail(c, &E_TOO_MANY, "The batch request contains more entries than permissible.");
    json_array_foreach(entries, i, e) {
        const char *id = get_str(e, "Id");

        if (id == NULL || !batch_id_is_valid(id))
            return fail(c, &E_BAD_BATCH_ID, "The Id of a batch entry in a batch request doesn't "
                        "abide by the specification.");
        for (size_t k = 0; k < i; k++)
            if (strcmp(id, get_str(json_array_get(entries, k), "Id")) == 0)
                return fail(c, &E_IDS_NOT_DISTINCT, "Two or more batch entries in the request "
                            "have the same Id.");
        total += entry_size(e);
    }
    if (total > SL_TOPIC_MESSAGE_MAX)
        return fail(c, &E_BATCH_TOO_LONG, "The length of all the messages put together is more "
                    "than the limit.");
    c->out = json_object();
    good = json_array();
    failed = json_array();
    json_object_set_new(c->out, "Successful", good);
    json_object_set_new(c->out, "Failed", failed);
    c->recs = json_array();
    json_array_foreach(entries, i, e) {
        const char *id = get_str(e, "Id"), *err;
        char buf[400];
        bool dup;
        json_t *rec = build_record(c->svc, t, e, buf, sizeof(buf), &err, &dup);

        if (rec == NULL) {
            add_failed(failed, id, "InvalidParameter", err);
            continue;
        }
        if (dup) {
            json_t *o = publish_result(rec);

            json_object_set_new(o, "Id", json_string(id));
            json_array_append_new(good, o);
            json_decref(rec);
            continue;
        }
        if (sl_fanout_publish(c->svc->fanout, rec, on_batch_published, c) != SL_OK) {
            add_failed(failed, id, "InternalError", "The store is unavailable; try again.");
            json_decref(rec);
            continue;
        }
        json_object_set_new(rec, "entry", json_string(id));
        json_array_append_new(c->recs, rec);
        c->store_pending++;
    }
    if (c->store_pending == 0)
        return ok(c, json_incref(c->out));
    return true;
}

/* ---- Dispatch ---- */

static const op_def_t ops[] = {
    { "CreateTopic", op_create_topic },
    { "DeleteTopic", op_delete_topic },
    { "ListTopics", op_list_topics },
    { "GetTopicAttributes", op_get_topic_attributes },
    { "SetTopicAttributes", op_set_topic_attributes },
    { "Subscribe", op_subscribe },
    { "ConfirmSubscription", op_confirm_subscription },
    { "Unsubscribe", op_unsubscribe },
    { "ListSubscriptions", op_list_subscriptions },
    { "ListSubscriptionsByTopic", op_list_subscriptions_by_topic },
    { "GetSubscriptionAttributes", op_get_subscription_attributes },
    { "SetSubscriptionAttributes", op_set_subscription_attributes },
    { "Publish", op_publish },
    { "PublishBatch", op_publish_batch },
    { "TagResource", op_tag_resource },
    { "UntagResource", op_untag_resource },
    { "ListTagsForResource", op_list_tags_for_resource },
    { NULL, NULL },
};

/* ---- Cache misses ----
 * Another broker sharing the store may have made the topic or subscription a
 * request names moments ago, before this broker's cache caught up: on a miss
 * the call looks in the store once, caches what it finds, then runs. */

static sl_sns_call_t *run(sl_sns_call_t *c);

static void
on_refetched(void *arg, int status, const char *doc, size_t len)
{
    sl_sns_call_t *c = arg;
    json_t *j = NULL;

    if (!resume(c))
        return;
    if (status == SL_OK && sl_json_parse(doc, len, &j, NULL, 0) == SL_OK) {
        if (c->refetch_sub) {
            sl_sub_spec_t s;
            char err[256];

            if (sl_sub_spec_from_json(&s, j) == SL_OK)
                sl_fanout_sub_set(c->svc->fanout, &s, err, sizeof(err));
            sl_sub_spec_deinit(&s);
        } else {
            sl_topic_spec_t t;

            if (sl_topic_spec_from_json(&t, j) == SL_OK)
                sl_fanout_topic_set(c->svc->fanout, &t);
            sl_topic_spec_deinit(&t);
        }
    }
    json_decref(j);
    run(c);
}

/* The topic name or subscription id the request names, when the cache lacks it. */
static bool
missing(sl_sns_call_t *c, const char **name, bool *sub)
{
    const char *arn, *n = NULL;

    if ((arn = get_str(c->in, "SubscriptionArn")) != NULL) {
        const char *colon = strrchr(arn, ':');

        n = colon ? colon + 1 : arn;
        *sub = true;
        *name = n;
        return *n && sl_fanout_sub(c->svc->fanout, n) == NULL;
    }
    *sub = false;
    if ((arn = get_str(c->in, "TopicArn")) != NULL || (arn = get_str(c->in, "TargetArn")) ||
        (arn = get_str(c->in, "ResourceArn")) != NULL)
        n = sl_arn_resource(arn, "sns", NULL, 0);
    else if ((n = get_str(c->in, "TopicName")) == NULL && strcmp(c->op->name, "CreateTopic") == 0)
        n = get_str(c->in, "Name");
    *name = n;
    return n && *n && sl_topic_name_is_valid(n) && sl_fanout_topic(c->svc->fanout, n) == NULL;
}

static sl_sns_call_t *
run(sl_sns_call_t *c)
{
    const char *name;
    bool sub;

    /* Until the cache holds what the store has, answers from it would be wrong
     * (an empty ListTopics) and writes would duplicate (Subscribe finds no
     * existing subscription). The fanout's periodic reload ends this. */
    if (!sl_fanout_is_loaded(c->svc->fanout)) {
        fail(c, &E_UNAVAILABLE, "The store is unavailable; try again. (topics and "
             "subscriptions are not loaded yet)");
        return NULL;
    }
    if (!c->refetched && missing(c, &name, &sub)) {
        c->refetched = true;
        c->refetch_sub = sub;
        if (sl_store_meta_get(c->svc->store, sub ? SL_SUB_META_KIND : SL_TOPIC_META_KIND, name,
                              on_refetched, c) == SL_OK) {
            c->store_pending++;
            return c;
        }
    }
    return c->op->fn(c) ? c : NULL;
}

sl_sns_call_t *
sl_sns_call(sl_sns_t *svc, const char *op, json_t *in, sl_sns_reply_fn reply, void *arg)
{
    sl_sns_call_t *c = sl_calloc(1, sizeof(*c));
    const op_def_t *d;

    c->svc = svc;
    c->reply = reply;
    c->arg = arg;
    c->in = json_is_object(in) ? json_incref(in) : json_object();
    c->next = svc->calls;
    if (svc->calls)
        svc->calls->prev = c;
    svc->calls = c;
    for (d = ops; d->name != NULL; d++)
        if (strcmp(d->name, op) == 0)
            break;
    if (d->name == NULL) {
        static const op_def_t unknown = { "Unknown", NULL };

        c->op = &unknown;
        fail(c, &E_INVALID_ACTION, "The action %.64s is not valid for this endpoint.", op);
        return NULL;
    }
    c->op = d;
    if (!svc->ready) {
        c->waiting = true;          /* sl_sns_ready runs it */
        return c;
    }
    return run(c);
}

void
sl_sns_ready(sl_sns_t *svc)
{
    sl_sns_call_t *c, *next;

    svc->ready = true;
    for (c = svc->calls; c != NULL; c = next) {
        next = c->next;
        if (c->waiting) {
            c->waiting = false;
            if (c->cancelled)
                call_free(c);
            else
                run(c);
        }
    }
}

void
sl_sns_metrics(const sl_sns_t *svc, struct evbuffer *out)
{
    sl_fanout_stats_t st;

    sl_fanout_stats(svc->fanout, &st);
    evbuffer_add_printf(out,
        "# TYPE sluice_topic_published_total counter\n"
        "sluice_topic_published_total %llu\n"
        "# TYPE sluice_topic_deliveries_total counter\n"
        "sluice_topic_deliveries_total{outcome=\"delivered\"} %llu\n"
        "sluice_topic_deliveries_total{outcome=\"filtered\"} %llu\n"
        "sluice_topic_deliveries_total{outcome=\"retried\"} %llu\n"
        "sluice_topic_deliveries_total{outcome=\"dead_lettered\"} %llu\n"
        "sluice_topic_deliveries_total{outcome=\"dropped\"} %llu\n",
        (unsigned long long)st.published, (unsigned long long)st.delivered,
        (unsigned long long)st.filtered, (unsigned long long)st.retried,
        (unsigned long long)st.dead_lettered, (unsigned long long)st.dropped);
}

const char *
sl_sns_cert_pem(sl_sns_t *svc)
{
    return sl_fanout_cert_pem(svc->fanout);
}

void
sl_sns_call_cancel(sl_sns_call_t *c)
{
    if (c == NULL)
        return;
    if (c->store_pending > 0 || c->waiting)
        c->cancelled = true;
    else
        call_free(c);
}

sl_sns_t *
sl_sns_create(sl_store_t *store, sl_fanout_t *fanout)
{
    sl_sns_t *svc = sl_calloc(1, sizeof(*svc));

    svc->store = store;
    svc->fanout = fanout;
    svc->seq = (uint64_t)wall_ms() << 16;
    sl__strmap_init(&svc->dedup);
    return svc;
}

void
sl_sns_destroy(sl_sns_t *svc)
{
    size_t pos = 0;
    const char *k;
    void *v;

    if (svc == NULL)
        return;
    while (svc->calls)
        call_free(svc->calls);
    while (sl__strmap_next(&svc->dedup, &pos, &k, &v))
        sl_free(v);
    sl__strmap_deinit(&svc->dedup);
    sl_free(svc);
}
