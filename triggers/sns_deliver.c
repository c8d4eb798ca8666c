/* sns_deliver.c - the shapes of one topic delivery (sns_deliver.h).
 *
 * Envelope keys follow AWS's order (Type, MessageId, SequenceNumber, TopicArn,
 * Subject, Message, Timestamp, SignatureVersion, Signature, SigningCertURL,
 * UnsubscribeURL, MessageAttributes); Lambda's event spells the two URL keys
 * SigningCertUrl and UnsubscribeUrl and gives Subject null when there is none,
 * as lambda-events.md §2 records. */
#include "sns_deliver.h"

#include "b64.h"
#include "jsonr.h"
#include "jsonw.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/store.h"
#include "sns_sign.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
sl__sns_iso_time(int64_t ms, char out[25])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    char buf[64];

    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    memcpy(out, buf, 24);
    out[24] = '\0';
}

static char *
dump(const json_t *j)
{
    return sl_json_dumps(j, NULL);
}

/* New string a b c d (copies, not snprintf: this runs for every delivery). */
static char *
str_printf(const char *a, const char *b, const char *c, const char *d)
{
    const char *parts[4] = { a, b, c, d };
    size_t lens[4], n = 1, at = 0;
    char *s;

    for (int i = 0; i < 4; i++)
        n += lens[i] = strlen(parts[i]);
    s = sl_malloc(n);
    for (int i = 0; i < 4; i++) {
        memcpy(s + at, parts[i], lens[i]);
        at += lens[i];
    }
    s[at] = '\0';
    return s;
}

/* The text this subscription gets: with MessageStructure=json, its protocol's
 * member of the message object, else "default". */
static const char *
message_for(const json_t *rec, sl_sub_proto_t proto, json_t **keep)
{
    const char *msg = json_string_value(json_object_get(rec, "message"));
    const char *st = json_string_value(json_object_get(rec, "structure"));
    const char *v;

    *keep = NULL;
    if (msg == NULL || st == NULL || strcmp(st, "json") != 0)
        return msg;
    if (sl_json_parse(msg, strlen(msg), keep, NULL, 0) != SL_OK || !json_is_object(*keep))
        return msg;
    v = json_string_value(json_object_get(*keep, sl_sub_proto_name(proto)));
    if (v == NULL)
        v = json_string_value(json_object_get(*keep, "default"));
    return v ? v : msg;
}

static void
take_raw_attrs(sl_sns_delivery_t *dv, const json_t *attrs)
{
    const char *name;
    json_t *a;

    json_object_foreach((json_t *)attrs, name, a) {
        const char *type = json_string_value(json_object_get(a, "Type"));
        const char *val = json_string_value(json_object_get(a, "Value"));
        sl_msg_attr_t *m;
        char *bin;
        size_t blen;

        if (type == NULL || val == NULL || dv->nattrs >= SL_TOPIC_MAX_ATTRS)
            continue;
        m = &dv->attrs[dv->nattrs];
        if (strncmp(type, "Binary", 6) == 0) {
            if (!sl__b64_decode(val, strlen(val), &bin, &blen))
                continue;
            m->value = bin;
            m->len = blen;
        } else {
            m->value = sl_strdup(val);
            m->len = strlen(val);
        }
        m->name = sl_strdup(name);
        m->type = sl_strdup(type);
        dv->nattrs++;
    }
}

int
sl__sns_render(const sl_sns_ctx_t *cx, const sl_sub_spec_t *s, const json_t *rec,
               sl_sns_delivery_t *dv)
{
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *subject = json_string_value(json_object_get(rec, "subject"));
    const char *seq = json_string_value(json_object_get(rec, "seq"));
    const char *sigv = json_string_value(json_object_get(rec, "sigv"));
    const json_t *attrs = json_object_get(rec, "attrs");
    bool control = json_is_true(json_object_get(rec, "control"));
    const char *raw_attr = sl_kvlist_get(&s->attrs, "RawMessageDelivery");
    json_t *keep = NULL, *env, *ev, *rcd, *sns, *ma;
    const char *msg;
    char ts[25], *unsub = NULL, *cert = NULL, *subscribe = NULL, *confirm_text = NULL, *sig;
    size_t n;

    memset(dv, 0, sizeof(*dv));
    if (id == NULL || json_string_value(json_object_get(rec, "topic")) == NULL)
        return SL_EPROTO;
    if ((n = strlen(id)) >= sizeof(dv->msg_id))
        n = sizeof(dv->msg_id) - 1;
    memcpy(dv->msg_id, id, n);
    dv->msg_id[n] = '\0';
    {
        char *head = str_printf("arn:aws:sns:", cx->region, ":", cx->account);

        dv->topic_arn = str_printf(head, ":", s->topic, "");
        sl_free(head);
    }
    dv->sub_arn = str_printf(dv->topic_arn, ":", s->id, "");
    if (sigv == NULL || strcmp(sigv, "2") != 0)
        sigv = "1";
    dv->type = control ? "SubscriptionConfirmation" : "Notification";
    if (control) {
        char *q = str_printf("&Token=", s->token ? s->token : "", "", "");

        subscribe = str_printf(cx->base_url, "/?Action=ConfirmSubscription&TopicArn=",
                               dv->topic_arn, q);
        sl_free(q);
        confirm_text = str_printf("You have chosen to subscribe to the topic ", dv->topic_arn,
                                  ".\nTo confirm the subscription, visit the SubscribeURL "
                                  "included in this message.", "");
        msg = confirm_text;
    } else {
        msg = message_for(rec, s->proto, &keep);
        if (msg == NULL) {
            sl_free(unsub);
            sl_free(cert);
            return SL_EPROTO;
        }
    }
    /* Raw deliveries carry neither envelope nor signature: skip both (an RSA
     * signature costs more than the rest of the delivery together). */
    dv->raw = !control && raw_attr != NULL && strcmp(raw_attr, "true") == 0 &&
              (s->proto == SL_SUB_SQS || s->proto == SL_SUB_HTTP || s->proto == SL_SUB_HTTPS);
    sig = NULL;
    env = NULL;
    if (dv->raw) {
        dv->envelope = sl_strdup(msg);
    } else {
        /* gmtime_r and a format: more than the rest of a raw delivery, so not for those */
        sl__sns_iso_time(json_integer_value(json_object_get(rec, "ts")), ts);
        unsub = str_printf(cx->base_url, "/?Action=Unsubscribe&SubscriptionArn=", dv->sub_arn, "");
        cert = str_printf(cx->base_url, SL_SNS_CERT_PATH, "", "");
        sig = sl__sns_sign(cx->signer, dv->type, msg, id, subject, ts, dv->topic_arn, subscribe,
                           control ? s->token : NULL, sigv);

        /* The envelope, in AWS's key order. */
        env = json_object();
        json_object_set_new(env, "Type", json_string(dv->type));
        json_object_set_new(env, "MessageId", json_string(id));
        if (control)
            json_object_set_new(env, "Token", json_string(s->token ? s->token : ""));
        if (seq)
            json_object_set_new(env, "SequenceNumber", json_string(seq));
        json_object_set_new(env, "TopicArn", json_string(dv->topic_arn));
        if (subject && !control)
            json_object_set_new(env, "Subject", json_string(subject));
        json_object_set_new(env, "Message", json_string(msg));
        if (control)
            json_object_set_new(env, "SubscribeURL", json_string(subscribe));
        json_object_set_new(env, "Timestamp", json_string(ts));
        json_object_set_new(env, "SignatureVersion", json_string(sigv));
        json_object_set_new(env, "Signature", json_string(sig));
        json_object_set_new(env, "SigningCertURL", json_string(cert));
        if (!control)
            json_object_set_new(env, "UnsubscribeURL", json_string(unsub));
        if (!control && json_object_size(attrs))
            json_object_set(env, "MessageAttributes", (json_t *)attrs);
        dv->envelope = dump(env);
    }
    if (s->proto == SL_SUB_LAMBDA) {
        ev = json_object();
        rcd = json_object();
        sns = json_object();
        json_object_set_new(rcd, "EventSource", json_string("aws:sns"));
        json_object_set_new(rcd, "EventVersion", json_string("1.0"));
        json_object_set_new(rcd, "EventSubscriptionArn", json_string(dv->sub_arn));
        json_object_set_new(sns, "Type", json_string(dv->type));
        json_object_set_new(sns, "MessageId", json_string(id));
        if (seq)
            json_object_set_new(sns, "SequenceNumber", json_string(seq));
        json_object_set_new(sns, "TopicArn", json_string(dv->topic_arn));
        json_object_set_new(sns, "Subject", subject ? json_string(subject) : json_null());
        json_object_set_new(sns, "Message", json_string(msg));
        json_object_set_new(sns, "Timestamp", json_string(ts));
        json_object_set_new(sns, "SignatureVersion", json_string(sigv));
        json_object_set_new(sns, "Signature", json_string(sig));
        json_object_set_new(sns, "SigningCertUrl", json_string(cert));
        json_object_set_new(sns, "UnsubscribeUrl", json_string(unsub));
        ma = json_object();
        if (json_is_object(attrs))
            json_object_update(ma, (json_t *)attrs);
        json_object_set_new(sns, "MessageAttributes", ma);
        json_object_set_new(rcd, "Sns", sns);
        json_object_set_new(ev, "Records", json_pack("[o]", rcd));
        dv->body = dump(ev);
        json_decref(ev);
    } else {
        dv->body = sl_strdup(dv->envelope);
        if (dv->raw && s->proto == SL_SUB_SQS && json_is_object(attrs))
            take_raw_attrs(dv, attrs);
    }
    dv->body_len = strlen(dv->body);
    if (json_string_value(json_object_get(rec, "group")))
        dv->group = sl_strdup(json_string_value(json_object_get(rec, "group")));
    if (json_string_value(json_object_get(rec, "dedup")))
        dv->dedup = sl_strdup(json_string_value(json_object_get(rec, "dedup")));
    json_decref(env);
    json_decref(keep);
    sl_free(sig);
    sl_free(unsub);
    sl_free(cert);
    sl_free(subscribe);
    sl_free(confirm_text);
    return SL_OK;
}

void
sl__sns_delivery_deinit(sl_sns_delivery_t *dv)
{
    for (uint32_t i = 0; i < dv->nattrs; i++) {
        sl_free(dv->attrs[i].name);
        sl_free(dv->attrs[i].type);
        sl_free(dv->attrs[i].value);
    }
    sl_free(dv->topic_arn);
    sl_free(dv->sub_arn);
    sl_free(dv->body);
    sl_free(dv->envelope);
    sl_free(dv->group);
    sl_free(dv->dedup);
    memset(dv, 0, sizeof(*dv));
}

static void
fill_msg(sl_msg_in_t *in, const char *body, size_t len, const sl_msg_attr_t *attrs,
         uint32_t nattrs, bool fifo, const char *group, const char *dedup, const char *id,
         const char *md5_body)
{
    memset(in, 0, sizeof(*in));
    sl_uuid4(in->id);
    in->body = body;
    in->body_len = len;
    in->attrs = attrs;
    in->nattrs = nattrs;
    if (md5_body)
        memcpy(in->md5_body, md5_body, sizeof(in->md5_body));
    else
        sl_md5_hex(body, len, in->md5_body);
    sl_md5_attrs(attrs, nattrs, in->md5_attrs);
    in->delay_s = -1;
    if (fifo) {
        in->group_id = group ? group : "sns";
        in->dedup_id = dedup ? dedup : id;
    }
}

void
sl__sns_queue_message(sl_sns_delivery_t *dv, bool fifo_queue, const char *md5_body,
                      sl_msg_in_t *in)
{
    fill_msg(in, dv->body, dv->body_len, dv->attrs, dv->nattrs, fifo_queue, dv->group,
             dv->dedup, dv->msg_id, md5_body);
}

bool
sl__sns_dlq_name(const sl_sub_spec_t *s, char *buf, size_t len)
{
    const char *rp = sl_kvlist_get(&s->attrs, "RedrivePolicy");
    const char *arn, *name;
    json_t *j = NULL;
    bool ok = false;

    if (rp == NULL || sl_json_parse(rp, strlen(rp), &j, NULL, 0) != SL_OK)
        return false;
    arn = json_string_value(json_object_get(j, "deadLetterTargetArn"));
    name = arn ? sl_arn_resource(arn, "sqs", NULL, 0) : NULL;
    if (name && strlen(name) < len && sl_queue_name_is_valid(name)) {
        strcpy(buf, name);
        ok = true;
    }
    json_decref(j);
    return ok;
}

static void
set_attr(sl_msg_attr_t *a, const char *name, const char *val)
{
    a->name = (char *)name;
    a->type = (char *)"String";
    a->value = (char *)(val && *val ? val : "-");
    a->len = strlen(a->value);
}

void
sl__sns_dlq_message(sl_sns_delivery_t *dv, const char *request_id, const char *code,
                    const char *why, sl_msg_in_t *in)
{
    set_attr(&dv->dlq_attrs[0], "ErrorCode", code);
    set_attr(&dv->dlq_attrs[1], "ErrorMessage", why);
    set_attr(&dv->dlq_attrs[2], "RequestID", request_id);
    fill_msg(in, dv->envelope, strlen(dv->envelope), dv->dlq_attrs, 3, false, NULL, NULL,
             dv->msg_id, NULL);
}

/* ---- Retries ---- */

typedef struct policy {
    long min_s, max_s, retries, no_delay, min_delay, max_delay;
    const char *backoff;
} policy_t;

static bool
read_policy(const json_t *p, policy_t *out, char *err, size_t errlen)
{
    static const char *const fns[] = { "linear", "arithmetic", "geometric", "exponential" };
    struct { const char *key; long *dst; long lo, hi; } f[] = {
        { "minDelayTarget", &out->min_s, 1, 3600 },
        { "maxDelayTarget", &out->max_s, 1, 3600 },
        { "numRetries", &out->retries, 0, 100 },
        { "numNoDelayRetries", &out->no_delay, 0, 100 },
        { "numMinDelayRetries", &out->min_delay, 0, 100 },
        { "numMaxDelayRetries", &out->max_delay, 0, 100 },
    };
    const json_t *b;

    if (!json_is_object(p)) {
        snprintf(err, errlen, "healthyRetryPolicy must be an object");
        return false;
    }
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        const json_t *v = json_object_get(p, f[i].key);

        if (v == NULL)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < f[i].lo ||
            json_integer_value(v) > f[i].hi) {
            snprintf(err, errlen, "%s must be an integer from %ld to %ld", f[i].key, f[i].lo,
                     f[i].hi);
            return false;
        }
        *f[i].dst = (long)json_integer_value(v);
    }
    if ((b = json_object_get(p, "backoffFunction")) != NULL) {
        size_t k;

        for (k = 0; k < 4; k++)
            if (json_is_string(b) && strcmp(json_string_value(b), fns[k]) == 0)
                break;
        if (k == 4) {
            snprintf(err, errlen, "backoffFunction must be linear, arithmetic, geometric or "
                     "exponential");
            return false;
        }
        out->backoff = fns[k];
    }
    if (out->min_s > out->max_s) {
        snprintf(err, errlen, "minDelayTarget must not exceed maxDelayTarget");
        return false;
    }
    if (out->no_delay + out->min_delay + out->max_delay > out->retries) {
        snprintf(err, errlen, "numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries "
                 "must not exceed numRetries");
        return false;
    }
    return true;
}

static void
policy_default(policy_t *p)
{
    *p = (policy_t){ 20, 20, 3, 0, 0, 0, "linear" };
}

bool
sl__sns_delivery_policy_is_valid(const char *text, bool topic, char *err, size_t errlen)
{
    json_t *j = NULL, *p;
    policy_t pol;
    bool ok = true;

    if (sl_json_parse(text, strlen(text), &j, NULL, 0) != SL_OK || !json_is_object(j)) {
        snprintf(err, errlen, "DeliveryPolicy: must be a JSON object");
        json_decref(j);
        return false;
    }
    p = topic ? json_object_get(json_object_get(j, "http"), "defaultHealthyRetryPolicy")
              : json_object_get(j, "healthyRetryPolicy");
    policy_default(&pol);
    if (p != NULL) {
        char why[200];

        if (!(ok = read_policy(p, &pol, why, sizeof(why))))
            snprintf(err, errlen, "DeliveryPolicy: %s", why);
    }
    json_decref(j);
    return ok;
}

int64_t
sl__sns_retry_delay(const sl_sub_spec_t *s, uint32_t attempts, uint32_t lambda_base_ms)
{
    const char *dp;
    policy_t p;
    long r = (long)attempts, backoff_n, i;
    double d;

    switch (s->proto) {
    case SL_SUB_LAMBDA:
        return attempts <= 2 ? (int64_t)lambda_base_ms << (attempts - 1) : -1;
    case SL_SUB_SQS:
        return attempts < 10 ? 1000 * (int64_t)attempts : -1;
    case SL_SUB_HTTP:
    case SL_SUB_HTTPS:
        break;
    }
    policy_default(&p);
    if ((dp = sl_kvlist_get(&s->attrs, "DeliveryPolicy")) != NULL) {
        json_t *j = NULL;
        char err[200];

        if (sl_json_parse(dp, strlen(dp), &j, NULL, 0) == SL_OK &&
            json_object_get(j, "healthyRetryPolicy") != NULL &&
            !read_policy(json_object_get(j, "healthyRetryPolicy"), &p, err, sizeof(err)))
            policy_default(&p);
        json_decref(j);
    }
    /* Retry r (1-based) falls in one of SNS's phases. */
    if (r > p.retries)
        return -1;
    if (r <= p.no_delay)
        return 0;
    r -= p.no_delay;
    if (r <= p.min_delay)
        return p.min_s * 1000;
    r -= p.min_delay;
    backoff_n = p.retries - p.no_delay - p.min_delay - p.max_delay;
    if (r > backoff_n)
        return p.max_s * 1000;
    i = r;
    if (backoff_n <= 1 || p.min_s == p.max_s) {
        d = backoff_n <= 1 ? p.max_s : p.min_s;
    } else if (strcmp(p.backoff, "exponential") == 0 || strcmp(p.backoff, "geometric") == 0) {
        d = p.min_s * pow((double)p.max_s / p.min_s, (double)(i - 1) / (backoff_n - 1));
    } else {
        d = p.min_s + (double)(p.max_s - p.min_s) * (i - 1) / (backoff_n - 1);
    }
    return (int64_t)(d * 1000);
}

const char *
sl__sns_send_err_text(int err)
{
    switch (err) {
    case SL_SEND_TOO_LONG: return "The message is longer than the queue's MaximumMessageSize.";
    case SL_SEND_NEED_GROUP_ID: return "The FIFO queue needs a MessageGroupId.";
    case SL_SEND_NEED_DEDUP_ID: return "The FIFO queue needs a MessageDeduplicationId.";
    default: return "The queue refused the message.";
    }
}
