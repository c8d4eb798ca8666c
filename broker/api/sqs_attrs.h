/* sqs_attrs.h - SQS queue attributes: parsing client-given values into a queue's
 * settings, and rendering settings and counts back as attribute strings. */
#ifndef SLUICE_API_SQS_ATTRS_H
#define SLUICE_API_SQS_ATTRS_H

#include "api.h"
#include "sluice/queue.h"

#include <jansson.h>
#include <stdbool.h>

/* Applies attrs ({Name: "value"}) onto cfg. FifoQueue is accepted only when
 * creating. Returns true, or false with err filled (InvalidAttributeName /
 * InvalidAttributeValue); cfg may then be partly changed. */
bool sl__sqs_attrs_apply(sl_queue_cfg_t *cfg, const json_t *attrs, bool creating,
                         sl_api_err_t *err);

/* New object with the attributes names asks for (an array of names, "All" for
 * every one; NULL or empty for none). arn is the queue's ARN. Returns NULL with
 * err filled for an unknown name. */
json_t *sl__sqs_attrs_render(const sl_queue_info_t *info, const char *arn, const json_t *names,
                             sl_api_err_t *err);

/* Reads an integer given as a JSON integer or a decimal string into *out.
 * Returns 1 when present and valid, 0 when absent, -1 when malformed or outside
 * [min, max]. */
int sl__json_int(const json_t *obj, const char *key, long long min, long long max,
                 long long *out);

#endif
