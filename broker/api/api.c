/* api.c - the error kinds the front ends answer with. The query codes are the
 * exact legacy strings botocore maps to modeled exceptions; the shape names are
 * the JSON protocol's. */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>

#define K(name, http, sender, shape, code) \
    const sl_api_errkind_t name = { http, sender, shape, code }

K(SL_ERR_NONEXISTENT_QUEUE, 400, true, "QueueDoesNotExist",
  "AWS.SimpleQueueService.NonExistentQueue");
K(SL_ERR_QUEUE_EXISTS, 400, true, "QueueNameExists", "QueueAlreadyExists");
K(SL_ERR_RECEIPT_INVALID, 400, true, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid");
K(SL_ERR_NOT_INFLIGHT, 400, true, "MessageNotInflight",
  "AWS.SimpleQueueService.MessageNotInflight");
K(SL_ERR_INVALID_PARAM, 400, true, "InvalidParameterValue", "InvalidParameterValue");
K(SL_ERR_MISSING_PARAM, 400, true, "MissingParameter", "MissingParameter");
K(SL_ERR_INVALID_ATTR_NAME, 400, true, "InvalidAttributeName", "InvalidAttributeName");
K(SL_ERR_INVALID_ATTR_VALUE, 400, true, "InvalidAttributeValue", "InvalidAttributeValue");
K(SL_ERR_INVALID_CONTENTS, 400, true, "InvalidMessageContents", "InvalidMessageContents");
K(SL_ERR_TOO_MANY_ENTRIES, 400, true, "TooManyEntriesInBatchRequest",
  "AWS.SimpleQueueService.TooManyEntriesInBatchRequest");
K(SL_ERR_EMPTY_BATCH, 400, true, "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest");
K(SL_ERR_IDS_NOT_DISTINCT, 400, true, "BatchEntryIdsNotDistinct",
  "AWS.SimpleQueueService.BatchEntryIdsNotDistinct");
K(SL_ERR_INVALID_BATCH_ID, 400, true, "InvalidBatchEntryId",
  "AWS.SimpleQueueService.InvalidBatchEntryId");
K(SL_ERR_BATCH_TOO_LONG, 400, true, "BatchRequestTooLong",
  "AWS.SimpleQueueService.BatchRequestTooLong");
K(SL_ERR_UNSUPPORTED, 400, true, "UnsupportedOperation",
  "AWS.SimpleQueueService.UnsupportedOperation");
K(SL_ERR_INVALID_ACTION, 400, true, "InvalidAction", "InvalidAction");
K(SL_ERR_UNKNOWN_OPERATION, 400, true, "UnknownOperationException", "InvalidAction");
K(SL_ERR_MALFORMED_QUERY, 400, true, "MalformedQueryString", "MalformedQueryString");
K(SL_ERR_SERIALIZATION, 400, true, "SerializationException", "SerializationException");
K(SL_ERR_INTERNAL, 500, false, "InternalError", "InternalError");
K(SL_ERR_UNAVAILABLE, 503, false, "ServiceUnavailable", "ServiceUnavailable");
K(SL_ERR_NOT_FOUND, 404, true, "NotFound", "NotFound");
K(SL_ERR_RESOURCE_NOT_FOUND, 400, true, "ResourceNotFoundException",
  "ResourceNotFoundException");
K(SL_ERR_METHOD_NOT_ALLOWED, 405, true, "MethodNotAllowed", "MethodNotAllowed");

void
sl_api_err_vset(sl_api_err_t *e, const sl_api_errkind_t *kind, const char *fmt, va_list ap)
{
    e->http = kind->http;
    e->sender = kind->sender;
    e->shape = kind->shape;
    e->code = kind->code;
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
}

void
sl_api_err_set(sl_api_err_t *e, const sl_api_errkind_t *kind, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sl_api_err_vset(e, kind, fmt, ap);
    va_end(ap);
}
