/* runtime_api.h - the AWS Lambda Runtime API listener of one process instance
 * (spec/lambda-events.md §6). Private to consumers/; loop thread only.
 * Guarded by SLUICE_CONSUMERS_RUNTIME_API_H. */
#ifndef SLUICE_CONSUMERS_RUNTIME_API_H
#define SLUICE_CONSUMERS_RUNTIME_API_H

#include "pool.h"

typedef struct sl_rtapi sl_rtapi_t;

/* New listener on 127.0.0.1 with a free port, serving in's runtime. The
 * runtime's requests turn into sl__pool_ready / _complete / _init_failed on in.
 * Returns NULL with errbuf filled when it cannot listen. Caller destroys. */
sl_rtapi_t *sl__rtapi_create(sl_inv_inst_t *in, char *errbuf, size_t errlen);
/* The port, for AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT. */
int sl__rtapi_port(const sl_rtapi_t *a);
/* Hands in->call to the runtime: answers its held `GET next`, or the next one
 * it sends. */
void sl__rtapi_deliver(sl_rtapi_t *a);
/* Closes the listener and every connection, dropping a held `next` unanswered.
 * Not from inside one of its own request callbacks. NULL is a no-op. */
void sl__rtapi_destroy(sl_rtapi_t *a);

#endif
