/* native.h - the native HTTP API under /v1 (docs/api.md), mapped onto the SQS
 * operations: a native request becomes one SQS call, and its output is reshaped
 * into the native API's lower-case JSON. */
#ifndef SLUICE_API_NATIVE_H
#define SLUICE_API_NATIVE_H

#include "api.h"
#include "sqs.h"

#include <jansson.h>
#include <stddef.h>

typedef enum sl_native_kind {
    SL_NATIVE_LIST, SL_NATIVE_CREATE, SL_NATIVE_GET, SL_NATIVE_DELETE, SL_NATIVE_PURGE,
    SL_NATIVE_SEND, SL_NATIVE_RECEIVE, SL_NATIVE_DELETE_MSGS,
} sl_native_kind_t;

typedef struct sl_native_req {
    sl_native_kind_t kind;
    const char *op;             /* the SQS operation it maps to */
    json_t *in;                 /* its input (owned; sl__native_req_deinit frees) */
    char name[96];              /* queue name from the path, or "" */
} sl_native_req_t;

/* Maps method ("GET", "POST", "DELETE"), path (without query), query string
 * (may be NULL) and body onto r. Returns true, or false with err filled (404 for
 * unknown paths, 405 for wrong methods, 400 for bad bodies). */
bool sl__native_parse(const char *method, const char *path, const char *query, const char *body,
                      size_t len, sl_native_req_t *r, sl_api_err_t *err);
void sl__native_req_deinit(sl_native_req_t *r);
/* New native output from the SQS output of r's call. */
json_t *sl__native_output(const sl_native_req_t *r, const json_t *out, const sl_sqs_t *svc,
                          const char *host);
/* New {"error":{"code","message"}} body. */
json_t *sl__native_error(const sl_api_err_t *e);

#endif
