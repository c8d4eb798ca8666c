/* sqs_event.h - the SQS event Lambda hands a function: {"Records": [...]}, one
 * record per message, exactly in AWS's shape (spec/lambda-events.md §1), so a
 * handler written for Lambda runs unchanged. */
#ifndef SLUICE_TRIGGERS_SQS_EVENT_H
#define SLUICE_TRIGGERS_SQS_EVENT_H

#include "jsonw.h"
#include "sluice/message.h"

#include <jansson.h>

/* New record for m received with receipt from the queue whose ARN is queue_arn.
 * arn_prefix is "arn:aws:sqs:REGION:ACCOUNT:" (for DeadLetterQueueSourceArn). */
json_t *sl_sqs_event_record(const sl_msg_t *m, const char *receipt, const char *queue_arn,
                            const char *region, const char *account, const char *arn_prefix);

/* Appends the same record as compact JSON, byte for byte what sl_json_write of
 * sl_sqs_event_record's result writes, without building the tree (the trigger's hot
 * path). */
void sl_sqs_event_write(sl_jbuf_t *out, const sl_msg_t *m, const char *receipt,
                        const char *queue_arn, const char *region, const char *account,
                        const char *arn_prefix);

/* What Lambda's filter criteria see of a record: the record itself, with "body"
 * replaced by the parsed body when the body is a JSON object (new reference). */
json_t *sl_sqs_event_filter_view(const json_t *record);

#endif
