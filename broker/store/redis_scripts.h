/* redis_scripts.h - the Lua scripts of the redis store (see redis_scripts.c
 * for the key layout they share). */
#ifndef SLUICE_STORE_REDIS_SCRIPTS_H
#define SLUICE_STORE_REDIS_SCRIPTS_H

#include <stddef.h>

typedef enum sl_rscript {
    SL_RS_QUEUE_CREATE,
    SL_RS_QUEUE_GET,
    SL_RS_QUEUE_SET,
    SL_RS_QUEUE_TAG,
    SL_RS_QUEUE_DELETE,
    SL_RS_QUEUE_PURGE,
    SL_RS_DLQ_SOURCES,
    SL_RS_SEND,
    SL_RS_RECEIVE,
    SL_RS_DELETE,
    SL_RS_CHANGE_VIS,
    SL_RS_DEAD_LETTER_READ,
    SL_RS_DEAD_LETTER,
    SL_RS_OUTBOX_APPEND,
    SL_RS_OUTBOX_CLAIM,
    SL_RS_OUTBOX_ACK,
    SL_RS_OUTBOX_RETRY,
    SL_RS_COUNT
} sl_rscript_t;

const char *sl__rscript_name(sl_rscript_t i);                  /* static */
/* The script's full text (static), its length in *len. */
const char *sl__rscript_text(sl_rscript_t i, size_t *len);
/* Lower-case hex SHA-1 of the text (what EVALSHA wants); static. */
const char *sl__rscript_sha(sl_rscript_t i);

#endif
