/* sqs_attrs.c - SQS queue attributes as strings on the wire and typed settings
 * in the store. Values are validated with AWS's ranges and messages; attributes
 * sluice stores without enforcing (Policy, KMS settings, ...) are validated for
 * shape and kept verbatim in cfg->extra. */
#include "sqs_attrs.h"

#include "sluice/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
sl__json_int(const json_t *obj, const char *key, long long min, long long max, long long *out)
{
    const json_t *v = json_object_get(obj, key);
    long long n;

    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;

        if (*s == '\0' || json_string_length(v) > 20 || strlen(s) != json_string_length(v))
            return -1;                      /* empty, too long, or an embedded NUL */
        errno = 0;
        n = strtoll(s, &end, 10);
        if (errno != 0 || *end != '\0')
            return -1;
    } else {
        return -1;
    }
    if (n < min || n > max)
        return -1;
    *out = n;
    return 1;
}

/* The value of an attribute as text (clients send strings; be lenient with
 * numbers and booleans, which some SDK users pass). */
static const char *
value_text(const json_t *v, char *buf, size_t len)
{
    if (json_is_string(v))      /* an embedded NUL would cut the value short: refuse it */
        return strlen(json_string_value(v)) == json_string_length(v) ? json_string_value(v)
                                                                      : NULL;
    if (json_is_integer(v)) {
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return NULL;
}

static bool
parse_uint(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end;
    unsigned long long n;

    if (*s == '\0' || strlen(s) > 12 || *s == '-' || *s == '+')
        return false;
    errno = 0;
    n = strtoull(s, &end, 10);
    if (errno || *end || n < min || n > max)
        return false;
    *out = (uint32_t)n;
    return true;
}

static bool
parse_bool(const char *s, bool *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0) {
        *out = false;
        return true;
    }
    return false;
}

static bool
bad_value(sl_api_err_t *err, const char *name, const char *val, const char *why)
{
    sl_api_err_set(err, &SL_ERR_INVALID_ATTR_VALUE,
                   "Invalid value for the parameter %s. Reason: %s (got \"%.64s\").", name, why,
                   val);
    return false;
}

/* True when v is "arn:<partition>:sqs:<region>:<12-digit account>:<queue name>";
 * *name points at the ':' before the name. */
static bool
arn_is_queue(const json_t *v, const char **name)
{
    const char *s = json_string_value(v), *p;
    int colons = 0;

    if (s == NULL || strncmp(s, "arn:", 4) != 0 || strlen(s) != json_string_length(v))
        return false;
    for (p = s; *p; p++) {
        if (*p == ':')
            colons++;
        else if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            return false;
    }
    if (colons != 5 || strstr(s, ":sqs:") == NULL)
        return false;
    *name = strrchr(s, ':');
    return sl_queue_name_is_valid(*name + 1);
}

/* RedrivePolicy: {"deadLetterTargetArn": "arn:aws:sqs:r:a:name", "maxReceiveCount": n};
 * the empty string removes it. */
static bool
apply_redrive(sl_queue_cfg_t *cfg, const char *val, sl_api_err_t *err)
{
    json_t *j, *arn, *mrc, *canon;
    json_error_t je;
    long long n = 0;
    const char *colon;
    size_t len;

    sl_free(cfg->redrive_policy);
    sl_free(cfg->dlq_name);
    cfg->redrive_policy = cfg->dlq_name = NULL;
    cfg->max_receives = 0;
    if (*val == '\0')
        return true;
    if ((j = json_loads(val, JSON_REJECT_DUPLICATES, &je)) == NULL || !json_is_object(j)) {
        json_decref(j);
        return bad_value(err, "RedrivePolicy", val, "Redrive policy is not a valid JSON map.");
    }
    arn = json_object_get(j, "deadLetterTargetArn");
    mrc = json_object_get(j, "maxReceiveCount");
    if (!arn_is_queue(arn, &colon)) {
        json_decref(j);
        return bad_value(err, "RedrivePolicy", val,
                         "Value for deadLetterTargetArn must be a queue ARN.");
    }
    if (sl__json_int(j, "maxReceiveCount", 1, 1000, &n) != 1 || mrc == NULL) {
        json_decref(j);
        return bad_value(err, "RedrivePolicy", val,
                         "Value for maxReceiveCount must be an integer between 1 and 1000.");
    }
    cfg->dlq_name = sl_strdup(colon + 1);
    cfg->max_receives = (uint32_t)n;
    /* Keep AWS's canonical form: maxReceiveCount as a number. */
    canon = json_pack("{s:O, s:I}", "deadLetterTargetArn", arn, "maxReceiveCount",
                      (json_int_t)n);
    /* json_dumpb writes into our buffer: nothing of jansson's allocator to free */
    len = json_dumpb(canon, NULL, 0, JSON_COMPACT);
    cfg->redrive_policy = sl_malloc(len + 1);
    json_dumpb(canon, cfg->redrive_policy, len, JSON_COMPACT);
    cfg->redrive_policy[len] = '\0';
    json_decref(canon);
    json_decref(j);
    return true;
}

static bool
valid_json_object(const char *val)
{
    json_t *j = json_loads(val, 0, NULL);
    bool ok = json_is_object(j);

    json_decref(j);
    return ok;
}

static bool
apply_one(sl_queue_cfg_t *cfg, const char *name, const char *val, bool creating,
          sl_api_err_t *err)
{
    uint32_t u;
    bool b;

    if (strcmp(name, "DelaySeconds") == 0) {
        if (!parse_uint(val, 0, 900, &cfg->delay_s))
            return bad_value(err, name, val, "Must be an integer from 0 to 900.");
    } else if (strcmp(name, "MaximumMessageSize") == 0) {
        if (!parse_uint(val, 1024, SL_QUEUE_MAX_MAX_SIZE, &cfg->max_size))
            return bad_value(err, name, val, "Must be an integer from 1024 to 1048576.");
    } else if (strcmp(name, "MessageRetentionPeriod") == 0) {
        if (!parse_uint(val, 60, 1209600, &cfg->retention_s))
            return bad_value(err, name, val, "Must be an integer from 60 to 1209600.");
    } else if (strcmp(name, "ReceiveMessageWaitTimeSeconds") == 0) {
        if (!parse_uint(val, 0, 20, &cfg->wait_s))
            return bad_value(err, name, val, "Must be an integer from 0 to 20.");
    } else if (strcmp(name, "VisibilityTimeout") == 0) {
        if (!parse_uint(val, 0, 43200, &cfg->visibility_s))
            return bad_value(err, name, val, "Must be an integer from 0 to 43200.");
    } else if (strcmp(name, "RedrivePolicy") == 0) {
        return apply_redrive(cfg, val, err);
    } else if (strcmp(name, "FifoQueue") == 0) {
        if (!creating) {
            sl_api_err_set(err, &SL_ERR_INVALID_ATTR_NAME,
                           "Unknown Attribute FifoQueue. (It can only be set at creation.)");
            return false;
        }
        if (!parse_bool(val, &cfg->fifo))
            return bad_value(err, name, val, "Must be true or false.");
    } else if (strcmp(name, "ContentBasedDeduplication") == 0) {
        if (!parse_bool(val, &cfg->content_dedup))
            return bad_value(err, name, val, "Must be true or false.");
    } else if (strcmp(name, "KmsDataKeyReusePeriodSeconds") == 0) {
        if (!parse_uint(val, 60, 86400, &u))
            return bad_value(err, name, val, "Must be an integer from 60 to 86400.");
        sl_kvlist_set(&cfg->extra, name, val);
    } else if (strcmp(name, "SqsManagedSseEnabled") == 0) {
        if (!parse_bool(val, &b))
            return bad_value(err, name, val, "Must be true or false.");
        sl_kvlist_set(&cfg->extra, name, b ? "true" : "false");
    } else if (strcmp(name, "DeduplicationScope") == 0) {
        if (strcmp(val, "messageGroup") != 0 && strcmp(val, "queue") != 0)
            return bad_value(err, name, val, "Must be messageGroup or queue.");
        sl_kvlist_set(&cfg->extra, name, val);
    } else if (strcmp(name, "FifoThroughputLimit") == 0) {
        if (strcmp(val, "perQueue") != 0 && strcmp(val, "perMessageGroupId") != 0)
            return bad_value(err, name, val, "Must be perQueue or perMessageGroupId.");
        sl_kvlist_set(&cfg->extra, name, val);
    } else if (strcmp(name, "Policy") == 0 || strcmp(name, "RedriveAllowPolicy") == 0) {
        if (*val != '\0' && !valid_json_object(val))
            return bad_value(err, name, val, "Must be a JSON policy document.");
        if (*val == '\0')
            sl_kvlist_del(&cfg->extra, name);
        else
            sl_kvlist_set(&cfg->extra, name, val);
    } else if (strcmp(name, "KmsMasterKeyId") == 0) {
        if (strlen(val) > 2048)
            return bad_value(err, name, val, "Must be at most 2048 characters.");
        sl_kvlist_set(&cfg->extra, name, val);
    } else {
        sl_api_err_set(err, &SL_ERR_INVALID_ATTR_NAME, "Unknown Attribute %.128s.", name);
        return false;
    }
    return true;
}

static bool
is_fifo_only(const char *name)
{
    return strcmp(name, "ContentBasedDeduplication") == 0 ||
           strcmp(name, "DeduplicationScope") == 0 || strcmp(name, "FifoThroughputLimit") == 0;
}

bool
sl__sqs_attrs_apply(sl_queue_cfg_t *cfg, const json_t *attrs, bool creating, sl_api_err_t *err)
{
    const char *name;
    json_t *v;
    char buf[32];

    if (attrs == NULL || json_is_null(attrs))
        return true;
    if (!json_is_object(attrs)) {
        sl_api_err_set(err, &SL_ERR_INVALID_PARAM, "Attributes must be a map.");
        return false;
    }
    /* FifoQueue first: other attributes depend on the queue type. */
    if ((v = json_object_get(attrs, "FifoQueue")) != NULL) {
        const char *t = value_text(v, buf, sizeof(buf));

        if (t == NULL || !apply_one(cfg, "FifoQueue", t, creating, err))
            return t != NULL ? false
                         : bad_value(err, "FifoQueue", "", "Must be a string without NULs.");
    }
    json_object_foreach((json_t *)attrs, name, v) {
        const char *t = value_text(v, buf, sizeof(buf));

        if (strcmp(name, "FifoQueue") == 0)
            continue;
        if (t == NULL)
            return bad_value(err, name, "", "Must be a string without NULs.");
        if (!cfg->fifo && is_fifo_only(name)) {
            sl_api_err_set(err, &SL_ERR_INVALID_ATTR_NAME,
                           "Unknown Attribute %s. (It applies to FIFO queues only.)", name);
            return false;
        }
        if (!apply_one(cfg, name, t, creating, err))
            return false;
    }
    return true;
}

/* ---- Rendering ---- */

static const char *const all_names[] = {
    "QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp",
    "VisibilityTimeout", "MaximumMessageSize", "MessageRetentionPeriod", "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds", "RedrivePolicy", "FifoQueue", "ContentBasedDeduplication",
    "Policy", "RedriveAllowPolicy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled", "DeduplicationScope", "FifoThroughputLimit", NULL,
};

static void
set_u64(json_t *o, const char *name, uint64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    json_object_set_new(o, name, json_string(buf));
}

/* Adds name's value when the queue has one. */
static void
render_one(json_t *o, const sl_queue_info_t *info, const char *arn, const char *name)
{
    const sl_queue_cfg_t *c = info->cfg;
    const char *extra;

    if (strcmp(name, "QueueArn") == 0)
        json_object_set_new(o, name, json_string(arn));
    else if (strcmp(name, "ApproximateNumberOfMessages") == 0)
        set_u64(o, name, info->visible);
    else if (strcmp(name, "ApproximateNumberOfMessagesNotVisible") == 0)
        set_u64(o, name, info->inflight);
    else if (strcmp(name, "ApproximateNumberOfMessagesDelayed") == 0)
        set_u64(o, name, info->delayed);
    else if (strcmp(name, "CreatedTimestamp") == 0)
        set_u64(o, name, (uint64_t)info->created_s);
    else if (strcmp(name, "LastModifiedTimestamp") == 0)
        set_u64(o, name, (uint64_t)info->modified_s);
    else if (strcmp(name, "VisibilityTimeout") == 0)
        set_u64(o, name, c->visibility_s);
    else if (strcmp(name, "MaximumMessageSize") == 0)
        set_u64(o, name, c->max_size);
    else if (strcmp(name, "MessageRetentionPeriod") == 0)
        set_u64(o, name, c->retention_s);
    else if (strcmp(name, "DelaySeconds") == 0)
        set_u64(o, name, c->delay_s);
    else if (strcmp(name, "ReceiveMessageWaitTimeSeconds") == 0)
        set_u64(o, name, c->wait_s);
    else if (strcmp(name, "RedrivePolicy") == 0) {
        if (c->redrive_policy)
            json_object_set_new(o, name, json_string(c->redrive_policy));
    } else if (strcmp(name, "FifoQueue") == 0) {
        if (c->fifo)
            json_object_set_new(o, name, json_string("true"));
    } else if (strcmp(name, "ContentBasedDeduplication") == 0) {
        if (c->fifo)
            json_object_set_new(o, name, json_string(c->content_dedup ? "true" : "false"));
    } else if (strcmp(name, "SqsManagedSseEnabled") == 0) {
        extra = sl_kvlist_get(&c->extra, name);
        json_object_set_new(o, name, json_string(extra ? extra : "false"));
    } else if ((extra = sl_kvlist_get(&c->extra, name)) != NULL) {
        json_object_set_new(o, name, json_string(extra));
    }
}

static bool
is_known(const char *name)
{
    for (int i = 0; all_names[i]; i++)
        if (strcmp(all_names[i], name) == 0)
            return true;
    return false;
}

json_t *
sl__sqs_attrs_render(const sl_queue_info_t *info, const char *arn, const json_t *names,
                     sl_api_err_t *err)
{
    json_t *o = json_object(), *v;
    size_t i;

    if (names == NULL || json_is_null(names))
        return o;
    if (!json_is_array(names)) {
        json_decref(o);
        sl_api_err_set(err, &SL_ERR_INVALID_PARAM, "AttributeNames must be a list.");
        return NULL;
    }
    json_array_foreach(names, i, v) {
        const char *name = json_string_value(v);

        if (name == NULL || (strcmp(name, "All") != 0 && !is_known(name))) {
            json_decref(o);
            sl_api_err_set(err, &SL_ERR_INVALID_ATTR_NAME, "Unknown Attribute %.128s.",
                           name ? name : "(not a string)");
            return NULL;
        }
        if (strcmp(name, "All") == 0) {
            for (int k = 0; all_names[k]; k++)
                render_one(o, info, arn, all_names[k]);
        } else {
            render_one(o, info, arn, name);
        }
    }
    return o;
}
