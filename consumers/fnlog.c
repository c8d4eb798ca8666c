/* fnlog.c - the ring of a function's recent output lines (see fnlog.h).
 *
 * A circular array of line records sized once at max_lines; each record owns a
 * malloc'd copy of its text. The byte bound exists because a line may be up to the
 * process invoker's 8 KiB piece size: 1000 of those would be 8 MiB per function, so the
 * oldest lines also go when the text held passes max_bytes. Sequence numbers make the
 * records addressable without an index: the ring holds a contiguous run of them,
 * oldest at `head`. */
#include "fnlog.h"

#include "sluice/mem.h"

#include <stdint.h>
#include <string.h>

struct sl_fnlog {
    sl_fnlog_line_t *v;         /* cap records, circular */
    size_t cap;                 /* max_lines */
    size_t head;                /* index of the oldest */
    size_t n;                   /* records held */
    size_t bytes;               /* text held */
    size_t max_bytes;
    uint64_t last_seq;          /* seq of the newest; 0 = none yet */
};

sl_fnlog_t *
sl__fnlog_create(size_t max_lines, size_t max_bytes)
{
    sl_fnlog_t *l = sl_calloc(1, sizeof(*l));

    l->cap = max_lines ? max_lines : SL_FNLOG_LINES;
    l->max_bytes = max_bytes ? max_bytes : SL_FNLOG_BYTES;
    l->v = sl_calloc(l->cap, sizeof(*l->v));
    return l;
}

static void
drop_oldest(sl_fnlog_t *l)
{
    sl_fnlog_line_t *o = &l->v[l->head];

    l->bytes -= o->len;
    sl_free(o->text);
    o->text = NULL;
    l->head = (l->head + 1) % l->cap;
    l->n--;
}

void
sl__fnlog_destroy(sl_fnlog_t *l)
{
    if (l == NULL)
        return;
    while (l->n)
        drop_oldest(l);
    sl_free(l->v);
    sl_free(l);
}

void
sl__fnlog_append(sl_fnlog_t *l, int64_t time_ms, unsigned instance, sl_fnlog_stream_t stream,
                 const char *request, const char *text, size_t len)
{
    sl_fnlog_line_t *o;

    if (len > l->max_bytes)
        len = l->max_bytes;
    while (l->n == l->cap || (l->n > 0 && l->bytes + len > l->max_bytes))
        drop_oldest(l);
    o = &l->v[(l->head + l->n) % l->cap];
    o->seq = ++l->last_seq;
    o->time_ms = time_ms;
    o->instance = instance;
    o->stream = stream;
    o->request[0] = '\0';
    if (request != NULL) {
        size_t rl = strnlen(request, SL_FNLOG_REQUEST_LEN);

        memcpy(o->request, request, rl);
        o->request[rl] = '\0';
    }
    o->text = sl_malloc(len + 1);
    if (len)
        memcpy(o->text, text, len);
    o->text[len] = '\0';
    o->len = len;
    l->bytes += len;
    l->n++;
}

size_t
sl__fnlog_select(const sl_fnlog_t *l, uint64_t after, size_t tail, size_t *first,
                 uint64_t *missed)
{
    uint64_t oldest = l->n ? l->v[l->head].seq : l->last_seq + 1;
    size_t skip, count;

    if (missed)
        *missed = after > 0 && after + 1 < oldest ? oldest - after - 1 : 0;
    if (after >= l->last_seq) {
        *first = l->n;
        return 0;
    }
    skip = after < oldest ? 0 : (size_t)(after - oldest + 1);
    count = l->n - skip;
    if (tail < count) {
        skip += count - tail;
        count = tail;
    }
    *first = skip;
    return count;
}

const sl_fnlog_line_t *
sl__fnlog_at(const sl_fnlog_t *l, size_t i)
{
    return i < l->n ? &l->v[(l->head + i) % l->cap] : NULL;
}

size_t
sl__fnlog_count(const sl_fnlog_t *l)
{
    return l->n;
}

size_t
sl__fnlog_bytes(const sl_fnlog_t *l)
{
    return l->bytes;
}

uint64_t
sl__fnlog_last_seq(const sl_fnlog_t *l)
{
    return l->last_seq;
}
