/* message.h - one SQS-style message: body, attributes, delivery bookkeeping.
 * The store owns stored messages; what it hands to callbacks is borrowed for the
 * duration of the callback (copy what you keep). Senders describe a message with
 * sl_msg_in_t, which borrows everything from the caller.
 * Guarded by SLUICE_MESSAGE_H. */
#ifndef SLUICE_MESSAGE_H
#define SLUICE_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_MSG_ID_LEN 36            /* UUIDv4 text */
#define SL_MD5_HEX_LEN 32
#define SL_MSG_MAX_ATTRS 10         /* sender-supplied message attributes */

/* One message attribute. type is "String", "Number", "Binary" or a custom
 * "String.x"/"Number.x"/"Binary.x"; value is UTF-8 text or raw bytes. */
typedef struct sl_msg_attr {
    char *name;
    char *type;
    char *value;
    size_t len;
} sl_msg_attr_t;

/* A stored message as the store reports it (borrowed). */
typedef struct sl_msg {
    char id[SL_MSG_ID_LEN + 1];
    char md5_body[SL_MD5_HEX_LEN + 1];
    char md5_attrs[SL_MD5_HEX_LEN + 1];  /* "" when no attributes */
    char *body;
    size_t body_len;
    sl_msg_attr_t *attrs;
    uint32_t nattrs;
    char *trace_header;                  /* AWSTraceHeader or NULL */
    char *group_id;                      /* FIFO MessageGroupId or NULL */
    char *dedup_id;                      /* FIFO MessageDeduplicationId or NULL */
    char *dlq_source;                    /* name of the queue it was dead-lettered from, or NULL */
    uint64_t seq;                        /* FIFO SequenceNumber; 0 on standard queues */
    int64_t sent_ms;                     /* epoch ms */
    int64_t first_receive_ms;            /* epoch ms; 0 = never received */
    uint32_t receive_count;
} sl_msg_t;

/* A message to send (everything borrowed from the caller). */
typedef struct sl_msg_in {
    char id[SL_MSG_ID_LEN + 1];          /* chosen by the caller (sl_uuid4) */
    char md5_body[SL_MD5_HEX_LEN + 1];
    char md5_attrs[SL_MD5_HEX_LEN + 1];
    const char *body;
    size_t body_len;
    const sl_msg_attr_t *attrs;
    uint32_t nattrs;
    const char *trace_header;
    const char *group_id;
    const char *dedup_id;                /* explicit, or SHA-256 of body when content-based */
    bool dedup_from_content;             /* dedup_id was derived from the body: only a queue
                                          * with ContentBasedDeduplication accepts that */
    int32_t delay_s;                     /* -1 = the queue's DelaySeconds */
} sl_msg_in_t;

/* Size counted against MaximumMessageSize: body plus attribute names, types, values. */
size_t sl_msg_in_size(const sl_msg_in_t *m);

/* Lower-case hex MD5 of len bytes into out[33]. */
void sl_md5_hex(const void *data, size_t len, char out[SL_MD5_HEX_LEN + 1]);
/* SQS's MD5OfMessageAttributes over n attributes (any order) into out[33];
 * out is "" when n == 0. */
void sl_md5_attrs(const sl_msg_attr_t *attrs, size_t n, char out[SL_MD5_HEX_LEN + 1]);
/* Lower-case hex SHA-256 (content-based deduplication id) into out[65]. */
void sl_sha256_hex(const void *data, size_t len, char out[65]);
/* A random UUIDv4 into out[37]; a fast PRNG seeded once from the kernel. */
void sl_uuid4(char out[SL_MSG_ID_LEN + 1]);

#endif
