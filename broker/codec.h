/* codec.h - msgpack encodings of what the durable stores keep: message records,
 * queue settings and outbox entries.
 *
 * Encoders append to an sl_buf_t; decoders take bytes (read off Redis, so
 * untrusted), cap every length and count, and return SL_OK or SL_EPROTO without
 * ever asserting. Every record starts with a format version so that a later
 * sluice can read what an earlier one wrote. */
#ifndef SLUICE_CODEC_H
#define SLUICE_CODEC_H

#include "sluice/message.h"
#include "sluice/queue.h"

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer. */
typedef struct sl_buf {
    char *p;
    size_t len;
    size_t cap;
} sl_buf_t;

void sl_buf_init(sl_buf_t *b);
void sl_buf_deinit(sl_buf_t *b);
void sl_buf_reserve(sl_buf_t *b, size_t extra);
void sl_buf_append(sl_buf_t *b, const void *p, size_t n);

/* Caps applied by the decoders. */
#define SL_CODEC_MAX_ATTRS 64               /* attributes of one message */
#define SL_CODEC_MAX_EXTRA 256              /* pass-through queue attributes */

/* Appends the immutable part of a message (id, digests, body, attributes,
 * trace header, group and deduplication ids). Delivery bookkeeping (times,
 * receive count, sequence number, DLQ source) is kept beside it by the store. */
void sl_codec_pack_msg(sl_buf_t *b, const sl_msg_in_t *m);

/* Decodes a record of sl_codec_pack_msg into one new block (caller sl_free()s
 * *out; every string inside it is NUL-terminated and lives in the block).
 * dlq_source (may be NULL, srclen bytes) is copied into the block as
 * (*out)->dlq_source when srclen > 0. Bookkeeping fields are zero. Returns
 * SL_OK, SL_EPROTO for a malformed record, SL_ENOMEM when it is too large. */
int sl_codec_unpack_msg(const void *data, size_t len, const char *dlq_source, size_t srclen,
                        sl_msg_t **out);

/* Appends a queue's settings. */
void sl_codec_pack_cfg(sl_buf_t *b, const sl_queue_cfg_t *cfg);
/* Decodes settings into *out (initialised here; caller sl_queue_cfg_deinit()s it,
 * also on failure). Missing fields keep their defaults. SL_OK or SL_EPROTO. */
int sl_codec_unpack_cfg(const void *data, size_t len, sl_queue_cfg_t *out);

/* Appends an outbox entry: its kind and payload. */
void sl_codec_pack_outbox(sl_buf_t *b, const char *kind, const void *payload, size_t len);
/* Decodes an outbox entry; *kind (kind_len bytes, not NUL-terminated) and
 * *payload point into data. SL_OK or SL_EPROTO. */
int sl_codec_unpack_outbox(const void *data, size_t len, const char **kind, size_t *kind_len,
                           const void **payload, size_t *plen);

#endif
