/* sqs_msg.h - SQS messages on the wire: validating what a sender gives (body
 * characters, message attributes, FIFO ids) into an sl_msg_in_t, and rendering a
 * stored message as ReceiveMessage output with the attributes a receiver asked for. */
#ifndef SLUICE_API_SQS_MSG_H
#define SLUICE_API_SQS_MSG_H

#include "api.h"
#include "sluice/message.h"

#include <jansson.h>
#include <stdbool.h>

/* One parsed message; in borrows strings from the JSON input and from this struct. */
typedef struct sl_sqs_msgin {
    sl_msg_in_t in;
    sl_msg_attr_t attrs[SL_MSG_MAX_ATTRS];
    char *decoded[SL_MSG_MAX_ATTRS];    /* decoded Binary values, owned */
    char dedup_hash[65];
    char md5_sys[SL_MD5_HEX_LEN + 1];    /* MD5OfMessageSystemAttributes, "" when none */
} sl_sqs_msgin_t;

/* Parses a SendMessage input or a SendMessageBatch entry. fifo_name: the queue's
 * name ends in .fifo (then a missing dedup id is derived from the body). Computes
 * the id and MD5s. Returns true, or false with err filled. Always call
 * sl__sqs_msgin_deinit afterwards. */
bool sl__sqs_msgin_parse(const json_t *o, bool fifo_name, sl_sqs_msgin_t *m, sl_api_err_t *err);
void sl__sqs_msgin_deinit(sl_sqs_msgin_t *m);

/* Which attributes a ReceiveMessage asked for. */
typedef struct sl_sqs_sel {
    bool sys_all;
    uint32_t sys_mask;          /* bit per system attribute */
    bool msg_all;
    const json_t *msg_names;    /* borrowed: names or "prefix.*" */
} sl_sqs_sel_t;

/* Reads AttributeNames, MessageSystemAttributeNames and MessageAttributeNames. */
void sl__sqs_sel_parse(const json_t *in, sl_sqs_sel_t *sel);

/* New ReceiveMessage output entry for m. account names the SenderId; arn_prefix
 * is "arn:aws:sqs:REGION:ACCOUNT:" (for DeadLetterQueueSourceArn). */
json_t *sl__sqs_msg_render(const sl_msg_t *m, const char *receipt, const sl_sqs_sel_t *sel,
                           const char *account, const char *arn_prefix);

/* True when s[0..len) is UTF-8 made only of the characters SQS allows in bodies
 * and attribute values (#x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF). */
bool sl__sqs_text_is_valid(const char *s, size_t len);

#endif
