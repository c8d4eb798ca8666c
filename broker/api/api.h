/* api.h - what every protocol front end shares: the error an operation answers
 * with (carrying both the JSON shape name and the legacy query code, since SQS
 * speaks both), and the context a request arrives in. */
#ifndef SLUICE_API_H
#define SLUICE_API_H

#include <stdarg.h>
#include <stdbool.h>

typedef struct sl_api_err {
    int http;                   /* HTTP status: 400, 403, 404, 500, 503 */
    bool sender;                /* fault of the sender (Type Sender) or ours (Receiver) */
    const char *shape;          /* JSON __type shape name, e.g. "QueueDoesNotExist" */
    const char *code;           /* query Code, e.g. "AWS.SimpleQueueService.NonExistentQueue" */
    char message[512];
} sl_api_err_t;

/* Error kinds: {http, sender, shape, code}. */
typedef struct sl_api_errkind {
    int http;
    bool sender;
    const char *shape;
    const char *code;
} sl_api_errkind_t;

extern const sl_api_errkind_t SL_ERR_NONEXISTENT_QUEUE, SL_ERR_QUEUE_EXISTS,
    SL_ERR_RECEIPT_INVALID, SL_ERR_NOT_INFLIGHT, SL_ERR_INVALID_PARAM, SL_ERR_MISSING_PARAM,
    SL_ERR_INVALID_ATTR_NAME, SL_ERR_INVALID_ATTR_VALUE, SL_ERR_INVALID_CONTENTS,
    SL_ERR_TOO_MANY_ENTRIES, SL_ERR_EMPTY_BATCH, SL_ERR_IDS_NOT_DISTINCT,
    SL_ERR_INVALID_BATCH_ID, SL_ERR_BATCH_TOO_LONG, SL_ERR_UNSUPPORTED, SL_ERR_INVALID_ACTION,
    SL_ERR_UNKNOWN_OPERATION, SL_ERR_MALFORMED_QUERY, SL_ERR_SERIALIZATION, SL_ERR_INTERNAL,
    SL_ERR_UNAVAILABLE, SL_ERR_NOT_FOUND, SL_ERR_METHOD_NOT_ALLOWED, SL_ERR_RESOURCE_NOT_FOUND;

/* Fills e from kind with a printf-style message. */
void sl_api_err_set(sl_api_err_t *e, const sl_api_errkind_t *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sl_api_err_vset(sl_api_err_t *e, const sl_api_errkind_t *kind, const char *fmt,
                     va_list ap) __attribute__((format(printf, 3, 0)));

#endif
