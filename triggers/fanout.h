/* fanout.h - topic fanout: what happens after a publish is accepted.
 *
 * Holds the topics and subscriptions of the store in memory, each subscription
 * with its filter policy compiled once (recompiled only when the subscription
 * changes), and runs the outbox worker:
 *   - a publish is an outbox entry of kind "sns.publish" (the publish record
 *     below); the worker matches it against the topic's confirmed subscriptions
 *     (parsing the message body at most once, whatever their number), sends its
 *     queue deliveries straight to the queues (batched per queue over the
 *     publishes claimed together), appends one "sns.deliver" entry per other
 *     matching subscription (and per queue send that failed), then acks the
 *     publish;
 *   - a delivery sends to its queue (SNS envelope or raw), invokes its function
 *     with Lambda's SNS event (async semantics: up to 2 retries with backoff) or
 *     POSTs to its URL (delivery policy retries); what finally fails goes to the
 *     subscription's dead-letter queue (RedrivePolicy) with the reason.
 * Entries are acked only when done, so a broker restart on a durable store
 * loses no pending delivery (at-least-once).
 *
 * The API layer (broker/api/sns.c) writes topics and subscriptions to the store,
 * tells this module (sl_fanout_*_set/remove) and bumps the store's SNS version
 * (sl_fanout_bump) before answering. Every claim of outbox entries first reads
 * that version and reloads the cache when another broker sharing the store
 * moved it, so a publish is fanned out with every subscription answered before
 * it, whichever broker handles it. The cache is also reloaded every few seconds. */
#ifndef SLUICE_TRIGGERS_FANOUT_H
#define SLUICE_TRIGGERS_FANOUT_H

#include "sluice/filter.h"
#include "sluice/store.h"
#include "sluice/topic.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct sl_registry;
typedef struct sl_fanout sl_fanout_t;

typedef struct sl_fanout_opts {
    const char *region;             /* default us-east-1 */
    const char *account;            /* default 000000000000 */
    uint32_t lambda_retry_ms;       /* first async retry after this, doubling; 0 = 1000 */
} sl_fanout_opts_t;

/* New fanout over store (borrowed). registry (borrowed, may be NULL: lambda
 * deliveries then fail) runs functions. Caller destroys. */
sl_fanout_t *sl_fanout_create(struct event_base *base, sl_store_t *store,
                              struct sl_registry *registry, const sl_fanout_opts_t *o);
/* Drops pending work without callbacks (the outbox keeps it). NULL is a no-op. */
void sl_fanout_destroy(sl_fanout_t *f);
/* The broker's base URL ("http://127.0.0.1:9324"), for SigningCertURL,
 * UnsubscribeURL and SubscribeURL. Copied. */
void sl_fanout_set_base_url(sl_fanout_t *f, const char *url);
const char *sl_fanout_base_url(const sl_fanout_t *f);
/* https deliveries trust the CA certificates (PEM) in path besides the system's
 * trust store, and the TLS context is made now rather than at the first https
 * delivery. Returns SL_OK, or SL_EINVAL with err when path cannot be loaded. */
int sl_fanout_set_ca_file(sl_fanout_t *f, const char *path, char *err, size_t errlen);
/* Loads topics and subscriptions from the store and starts the worker; done
 * runs once, later, with SL_OK or the store's error (the worker starts anyway
 * and the periodic reload retries). */
void sl_fanout_load(sl_fanout_t *f, void (*done)(void *arg, int status), void *arg);
bool sl_fanout_is_loaded(const sl_fanout_t *f);

/* ---- The cache (everything returned is borrowed until the next change) ---- */

const sl_topic_spec_t *sl_fanout_topic(const sl_fanout_t *f, const char *name);
void sl_fanout_topic_set(sl_fanout_t *f, const sl_topic_spec_t *t);     /* copies */
/* Forgets the topic and its subscriptions. */
void sl_fanout_topic_remove(sl_fanout_t *f, const char *name);
const sl_sub_spec_t *sl_fanout_sub(const sl_fanout_t *f, const char *id);
/* Copies s and compiles its filter policy. Returns SL_OK or SL_EPROTO (bad
 * policy: err says why in AWS's words, without the "Invalid parameter" prefix). */
int sl_fanout_sub_set(sl_fanout_t *f, const sl_sub_spec_t *s, char *err, size_t errlen);
void sl_fanout_sub_remove(sl_fanout_t *f, const char *id);
/* Writes a new SNS version to the store (after a change to topics or
 * subscriptions); done(arg, status) runs once, later. Returns SL_OK or the
 * store's error (done never runs). */
int sl_fanout_bump(sl_fanout_t *f, sl_store_done_cb done, void *arg);
/* New arrays (caller sl_free()s the array, not the specs): topics by name;
 * subscriptions of topic (NULL: all) by topic, then creation time. */
size_t sl_fanout_topics(const sl_fanout_t *f, const sl_topic_spec_t ***out);
size_t sl_fanout_subs(const sl_fanout_t *f, const char *topic, const sl_sub_spec_t ***out);

/* Compiles the FilterPolicy of subscription attributes attrs (none: *out = NULL,
 * matches all) for its FilterPolicyScope. Returns SL_OK, or SL_EPROTO with err. */
int sl_fanout_compile_policy(const sl_kvlist_t *attrs, sl_filter_t **out, bool *body_scope,
                             char *err, size_t errlen);

/* ---- Publishing ----
 * A publish record: {"id": MessageId, "topic": topic name, "message": text,
 * "subject": text (optional), "structure": "json" (optional: message is a JSON
 * object of per-protocol texts), "attrs": {name: {"Type", "Value"}} (optional),
 * "ts": epoch ms, "group", "dedup" (FIFO, optional), "seq" (FIFO, text)}.
 * Appends it to the outbox; done(arg, status) runs once, later, when it is
 * durable (SL_OK) or not. Returns SL_OK, or the store's error (done never runs). */
int sl_fanout_publish(sl_fanout_t *f, const json_t *rec, sl_store_done_cb done, void *arg);

/* Names and texts of the wire, shared with the API layer. */
char *sl_fanout_topic_arn(const sl_fanout_t *f, const char *topic);            /* new */
char *sl_fanout_sub_arn(const sl_fanout_t *f, const sl_sub_spec_t *s);         /* new */
/* Starts the confirmation handshake of a pending http/https subscription: POSTs
 * a SubscriptionConfirmation (through the outbox, so it is retried). */
void sl_fanout_confirm_request(sl_fanout_t *f, const sl_sub_spec_t *s);

/* The signing certificate in PEM (served at SigningCertURL), or NULL while the
 * key is still being made. Borrowed. */
const char *sl_fanout_cert_pem(sl_fanout_t *f);

typedef struct sl_fanout_stats {
    uint64_t published;             /* publish records fanned out */
    uint64_t filtered;              /* (publish, subscription) pairs the policy dropped */
    uint64_t delivered;
    uint64_t retried;
    uint64_t dead_lettered;
    uint64_t dropped;               /* failed for good with no DLQ */
} sl_fanout_stats_t;

void sl_fanout_stats(const sl_fanout_t *f, sl_fanout_stats_t *out);

#endif
