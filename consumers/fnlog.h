/* fnlog.h - the recent output of one function's instances, kept in broker memory for
 * `sluice function logs` (GET /v1/functions/NAME/logs): a ring of the newest lines,
 * bounded by a line count and a byte total, oldest dropped first. Each line carries a
 * sequence number (from 1, never reused within a ring), so a follower can ask for what
 * came after the last line it saw and learn how many it missed. Not thread-safe: the
 * broker's loop owns it. Guarded by SLUICE_CONSUMERS_FNLOG_H. */
#ifndef SLUICE_CONSUMERS_FNLOG_H
#define SLUICE_CONSUMERS_FNLOG_H

#include <stddef.h>
#include <stdint.h>

#define SL_FNLOG_LINES 1000                 /* default line bound */
#define SL_FNLOG_BYTES (1024 * 1024)        /* default bound on the text kept */
#define SL_FNLOG_REQUEST_LEN 36

typedef enum sl_fnlog_stream {
    SL_FNLOG_STDOUT = 1,
    SL_FNLOG_STDERR = 2,
} sl_fnlog_stream_t;

typedef struct sl_fnlog_line {
    uint64_t seq;                           /* 1, 2, ... in the order appended */
    int64_t time_ms;                        /* wall clock, epoch ms */
    unsigned instance;                      /* the invoker's instance id (from 1) */
    sl_fnlog_stream_t stream;
    char request[SL_FNLOG_REQUEST_LEN + 1]; /* the invocation it belongs to; "" = none */
    char *text;                             /* owned by the ring, NUL-terminated */
    size_t len;
} sl_fnlog_line_t;

typedef struct sl_fnlog sl_fnlog_t;

/* New empty ring keeping at most max_lines lines and max_bytes bytes of text (0: the
 * defaults). Caller destroys. */
sl_fnlog_t *sl__fnlog_create(size_t max_lines, size_t max_bytes);
void sl__fnlog_destroy(sl_fnlog_t *l);      /* NULL is a no-op */

/* Appends a copy of text (len bytes; a line longer than max_bytes is cut to it),
 * dropping the oldest lines until both bounds hold. request may be NULL. */
void sl__fnlog_append(sl_fnlog_t *l, int64_t time_ms, unsigned instance,
                      sl_fnlog_stream_t stream, const char *request, const char *text,
                      size_t len);

/* The lines with seq > after, oldest first; of those only the newest tail when tail is
 * not SIZE_MAX. Returns how many; *first gets the index to pass to sl__fnlog_at for the
 * first of them. *missed (may be NULL) gets how many lines after `after` were dropped
 * from the ring before they could be read (0 when after is 0 or still held). */
size_t sl__fnlog_select(const sl_fnlog_t *l, uint64_t after, size_t tail, size_t *first,
                        uint64_t *missed);
/* The i-th line held, 0 = oldest; borrowed, valid until the next append. */
const sl_fnlog_line_t *sl__fnlog_at(const sl_fnlog_t *l, size_t i);
size_t sl__fnlog_count(const sl_fnlog_t *l);
size_t sl__fnlog_bytes(const sl_fnlog_t *l);
uint64_t sl__fnlog_last_seq(const sl_fnlog_t *l);   /* 0 = nothing appended yet */

#endif
