/* sns_deliver.h - what one topic delivery sends, in SNS's shapes, and how it
 * is retried: the SNS JSON envelope (queues and HTTP), raw delivery, Lambda's
 * SNS event, the subscription-confirmation message, the dead-letter copy, the
 * delivery policy's retry schedule, and the HTTP POST itself (sns_http.c).
 * Private to triggers/ (the fanout uses it). */
#ifndef SLUICE_TRIGGERS_SNS_DELIVER_H
#define SLUICE_TRIGGERS_SNS_DELIVER_H

#include "sluice/function.h"
#include "sluice/message.h"
#include "sluice/queue.h"
#include "sluice/topic.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evdns_base;

#define SL_FUNCTION_NAME_BUF (SL_FUNCTION_NAME_MAX + 1)
#define SL_SNS_CERT_PATH "/_sluice/sns-cert.pem"

/* Where the broker is and who it is, for ARNs and URLs (borrowed). */
typedef struct sl_sns_ctx {
    const char *region;
    const char *account;
    const char *base_url;           /* "http://127.0.0.1:9324", no trailing slash */
    struct sl_sns_signer *signer;   /* NULL: placeholder signatures */
} sl_sns_ctx_t;

/* One rendered delivery; owns its strings. */
typedef struct sl_sns_delivery {
    const char *type;               /* "Notification" or "SubscriptionConfirmation" (static) */
    char msg_id[SL_MSG_ID_LEN + 1];
    char *topic_arn;
    char *sub_arn;
    char *body;                     /* what is sent: envelope, raw message or Lambda event */
    size_t body_len;
    char *envelope;                 /* the SNS envelope (the raw message when raw): DLQ body */
    bool raw;                       /* RawMessageDelivery */
    sl_msg_attr_t attrs[SL_TOPIC_MAX_ATTRS];    /* raw queue deliveries: message attributes */
    uint32_t nattrs;
    sl_msg_attr_t dlq_attrs[3];     /* ErrorCode, ErrorMessage, RequestID */
    char *group;                    /* FIFO MessageGroupId, or NULL */
    char *dedup;                    /* FIFO MessageDeduplicationId, or NULL */
} sl_sns_delivery_t;

/* Renders the publish record rec (fanout.h; "control": true makes it the
 * subscription's SubscriptionConfirmation) for subscription s. Returns SL_OK or
 * SL_EPROTO (a malformed record). Deinit dv either way. */
int sl__sns_render(const sl_sns_ctx_t *cx, const sl_sub_spec_t *s, const json_t *rec,
                   sl_sns_delivery_t *dv);
void sl__sns_delivery_deinit(sl_sns_delivery_t *dv);

/* The queue message of a queue delivery (borrows from dv). md5_body: the hex MD5
 * of dv->body when the caller knows it (raw deliveries of one publish share the
 * body), else NULL. */
void sl__sns_queue_message(sl_sns_delivery_t *dv, bool fifo_queue, const char *md5_body,
                           sl_msg_in_t *in);
/* The subscription's dead-letter queue from its RedrivePolicy, into buf. */
bool sl__sns_dlq_name(const sl_sub_spec_t *s, char *buf, size_t len);
/* The dead-letter copy: the envelope (raw message when raw) with ErrorCode,
 * ErrorMessage and RequestID attributes (borrows from dv and the strings). */
void sl__sns_dlq_message(sl_sns_delivery_t *dv, const char *request_id, const char *code,
                         const char *why, sl_msg_in_t *in);
/* Delay before the next attempt after attempts failed ones, or -1 when the
 * subscription's retries are used up: lambda 2 retries (base, 2 * base ms);
 * http/https the DeliveryPolicy's healthyRetryPolicy phases (default 3 retries
 * 20 s apart); sqs 10 retries of transient store errors. */
int64_t sl__sns_retry_delay(const sl_sub_spec_t *s, uint32_t attempts, uint32_t lambda_base_ms);
/* Checks a DeliveryPolicy text (a subscription's, or a topic's whose "http"
 * member holds defaultHealthyRetryPolicy). Returns true, or false with err. */
bool sl__sns_delivery_policy_is_valid(const char *text, bool topic, char *err, size_t errlen);
/* SQS's reason for a refused send (sl_send_err_t), in words. */
const char *sl__sns_send_err_text(int err);
/* epoch ms -> "2024-01-01T00:00:00.000Z" into out[25]. */
void sl__sns_iso_time(int64_t ms, char out[25]);

/* ---- HTTP and HTTPS (sns_http.c) ---- */

/* What deliveries share: a pool of kept-alive connections and the TLS context. */
typedef struct sl_sns_http_client sl_sns_http_client_t;
typedef struct sl_sns_http sl_sns_http_t;
/* code NULL: delivered (2xx-4xx but 429). Else a failure: permanent ones are
 * not retried (not an http or https URL); TLSError is a certificate that did not
 * verify or another TLS failure, ConnectionError no answer, HttpError a 5xx or 429. */
typedef void (*sl_sns_http_cb)(void *arg, const char *code, const char *why, bool permanent);

/* New client on base (borrowed). Caller destroys, after cancelling every post. */
sl_sns_http_client_t *sl__sns_http_client_create(struct event_base *base);
/* Trusts the CA certificates (PEM) in path besides the system's, and makes the
 * TLS context now (otherwise the first https delivery makes it). path NULL or "":
 * the system's only. Returns SL_OK, or SL_EINVAL with err when path cannot be
 * loaded (https deliveries then make a context without it). */
int sl__sns_http_client_set_ca_file(sl_sns_http_client_t *c, const char *path, char *err,
                                    size_t errlen);
void sl__sns_http_client_destroy(sl_sns_http_client_t *c);  /* NULL is a no-op */

/* POSTs dv to s's endpoint with SNS's headers; cb runs once, later, unless the
 * post is cancelled first. dv is borrowed until then (a request that found its
 * kept-alive connection closed is sent once more). dns may be NULL (only numeric
 * hosts and localhost then resolve). Never NULL. */
sl_sns_http_t *sl__sns_http_post(sl_sns_http_client_t *c, struct evdns_base *dns,
                                 const sl_sub_spec_t *s, const sl_sns_delivery_t *dv,
                                 sl_sns_http_cb cb, void *arg);
void sl__sns_http_cancel(sl_sns_http_t *h);     /* NULL is a no-op; cb never runs */

#endif
