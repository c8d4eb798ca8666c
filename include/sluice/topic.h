/* topic.h - SNS-style topics and their subscriptions (DESIGN §1).
 *
 * A topic is a name (a FIFO topic's ends in ".fifo") with attributes and tags.
 * A subscription ties a topic to an endpoint: a queue (protocol sqs, endpoint a
 * queue ARN), a sluice function (lambda, a function ARN) or a URL (http, https).
 * Publishing to a topic delivers the message to every confirmed subscription
 * whose filter policy matches (triggers/fanout.h does that).
 *
 * Both live in the store as metadata documents (kinds SL_TOPIC_META_KIND and
 * SL_SUB_META_KIND), so every backend keeps them and a restart finds them again.
 * The specs below are plain data; their JSON forms are what the store holds.
 * Guarded by SLUICE_TOPIC_H. */
#ifndef SLUICE_TOPIC_H
#define SLUICE_TOPIC_H

#include "sluice/kv.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_TOPIC_NAME_MAX 256           /* ".fifo" counts */
#define SL_TOPIC_MESSAGE_MAX 262144     /* bytes of message plus attributes */
#define SL_TOPIC_MAX_ATTRS 10           /* message attributes per publish */
#define SL_TOPIC_BATCH_MAX 10           /* PublishBatch entries */
#define SL_TOPIC_META_KIND "sns-topic"
#define SL_SUB_META_KIND "sns-subscription"

typedef enum sl_sub_proto {
    SL_SUB_SQS = 0,
    SL_SUB_LAMBDA,
    SL_SUB_HTTP,
    SL_SUB_HTTPS,
} sl_sub_proto_t;

typedef struct sl_topic_spec {
    char *name;
    bool fifo;                  /* FifoTopic=true; the name ends in .fifo */
    sl_kvlist_t attrs;          /* settable attributes as set: DisplayName, DeliveryPolicy,
                                 * ContentBasedDeduplication, SignatureVersion, Policy, ... */
    sl_kvlist_t tags;
    int64_t created_ms;         /* epoch ms */
} sl_topic_spec_t;

typedef struct sl_sub_spec {
    char *id;                   /* UUID; the ARN is the topic's ARN + ":" + id */
    char *topic;                /* topic name */
    sl_sub_proto_t proto;
    char *endpoint;             /* queue ARN, function ARN or URL, as given */
    bool confirmed;             /* false: PendingConfirmation (http/https until confirmed) */
    char *token;                /* confirmation token; NULL once confirmed */
    sl_kvlist_t attrs;          /* FilterPolicy, FilterPolicyScope, RawMessageDelivery,
                                 * RedrivePolicy, DeliveryPolicy, as set */
    int64_t created_ms;         /* epoch ms */
} sl_sub_spec_t;

void sl_topic_spec_init(sl_topic_spec_t *t);
void sl_topic_spec_deinit(sl_topic_spec_t *t);
void sl_topic_spec_copy(sl_topic_spec_t *dst, const sl_topic_spec_t *src);  /* dst uninitialised */
void sl_sub_spec_init(sl_sub_spec_t *s);
void sl_sub_spec_deinit(sl_sub_spec_t *s);
void sl_sub_spec_copy(sl_sub_spec_t *dst, const sl_sub_spec_t *src);        /* dst uninitialised */

/* New JSON documents (caller decrefs), and back. from_json returns SL_OK, or
 * SL_EPROTO when doc lacks a field or has one of the wrong type (t or s are then
 * left initialised, to be deinit'ed either way). */
json_t *sl_topic_spec_to_json(const sl_topic_spec_t *t);
int sl_topic_spec_from_json(sl_topic_spec_t *t, const json_t *doc);
json_t *sl_sub_spec_to_json(const sl_sub_spec_t *s);
int sl_sub_spec_from_json(sl_sub_spec_t *s, const json_t *doc);

/* [A-Za-z0-9_-]{1,256}, where a FIFO topic's ".fifo" suffix counts in the 256. */
bool sl_topic_name_is_valid(const char *name);
/* True when name ends in ".fifo". */
bool sl_topic_name_is_fifo(const char *name);

/* Parses a Subscribe Protocol. Returns SL_OK, SL_ENOTFOUND for protocols SNS has
 * but sluice does not deliver (email, email-json, sms, application, firehose), or
 * SL_EINVAL for anything else. */
int sl_sub_proto_parse(const char *s, sl_sub_proto_t *out);
const char *sl_sub_proto_name(sl_sub_proto_t p);    /* static string */

/* The last ':'-separated field of an ARN (a queue, function or topic name), or
 * NULL when arn is not "arn:aws:SERVICE:REGION:ACCOUNT:NAME" for service (e.g.
 * "sqs"); a lambda ARN is "arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]".
 * Borrowed from arn (lambda: written into buf of buflen, qualifier dropped). */
const char *sl_arn_resource(const char *arn, const char *service, char *buf, size_t buflen);

#endif
