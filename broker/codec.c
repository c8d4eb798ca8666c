/* codec.c - msgpack records of messages, queue settings and outbox entries.
 *
 * Packing goes through msgpack-c's packer straight into an sl_buf_t. Unpacking
 * uses msgpack_unpack() into a zone that is kept per thread and cleared after
 * each record, so decoding a message costs one allocation (the block handed to
 * the caller) rather than a zone per record. Objects produced by msgpack-c
 * point into the input bytes; every string is copied out (with its NUL) before
 * the zone is cleared. Records are arrays or maps led by a version number;
 * decoders reject what they do not understand rather than guess. */
#include "codec.h"

#include "sluice/error.h"
#include "sluice/mem.h"

#include <msgpack.h>
#include <string.h>

#define MSG_VERSION 1
#define CFG_VERSION 1
#define OUTBOX_VERSION 1
#define MAX_RECORD (64u << 20)      /* no record is larger than this */

/* ---- Buffer ---- */

void
sl_buf_init(sl_buf_t *b)
{
    b->p = NULL;
    b->len = b->cap = 0;
}

void
sl_buf_deinit(sl_buf_t *b)
{
    sl_free(b->p);
    sl_buf_init(b);
}

void
sl_buf_reserve(sl_buf_t *b, size_t extra)
{
    size_t cap = b->cap ? b->cap : 256;

    if (b->len + extra <= b->cap)
        return;
    while (cap < b->len + extra)
        cap *= 2;
    b->p = sl_realloc(b->p, cap);
    b->cap = cap;
}

void
sl_buf_append(sl_buf_t *b, const void *p, size_t n)
{
    sl_buf_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static int
buf_write(void *data, const char *p, size_t n)
{
    sl_buf_append(data, p, n);
    return 0;
}

/* ---- Packing helpers ---- */

static void
pack_strn(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void
pack_str(msgpack_packer *pk, const char *s)
{
    if (s == NULL)
        msgpack_pack_nil(pk);
    else
        pack_strn(pk, s, strlen(s));
}

static void
pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, p, n);
}

/* ---- Unpacking helpers ---- */

static _Thread_local msgpack_zone *tls_zone;

/* Unpacks exactly one object from data (no trailing bytes). The objects live
 * until zone_done(). */
static int
unpack_one(const void *data, size_t len, msgpack_object *obj)
{
    size_t off = 0;

    if (len == 0 || len > MAX_RECORD)
        return SL_EPROTO;
    if (tls_zone == NULL && (tls_zone = msgpack_zone_new(4096)) == NULL)
        return SL_ENOMEM;
    if (msgpack_unpack(data, len, &off, tls_zone, obj) != MSGPACK_UNPACK_SUCCESS) {
        msgpack_zone_clear(tls_zone);
        return SL_EPROTO;
    }
    return SL_OK;
}

static void
zone_done(void)
{
    msgpack_zone_clear(tls_zone);
}

static bool
is_str(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_STR;
}

static bool
is_str_or_nil(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_STR || o->type == MSGPACK_OBJECT_NIL;
}

static bool
is_bytes(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_BIN || o->type == MSGPACK_OBJECT_STR;
}

/* Bytes of a str or bin object. */
static const char *
bytes_of(const msgpack_object *o, size_t *n)
{
    if (o->type == MSGPACK_OBJECT_BIN) {
        *n = o->via.bin.size;
        return o->via.bin.ptr;
    }
    *n = o->via.str.size;
    return o->via.str.ptr;
}

static char *
put_bytes(char **cur, const char *p, size_t n)
{
    char *s = *cur;

    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    *cur += n + 1;
    return s;
}

static bool
key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);

    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, name, n) == 0;
}

/* ---- Messages ----
 * [version, id, md5_body, md5_attrs, body, [[name, type, value]...], trace, group, dedup] */

void
sl_codec_pack_msg(sl_buf_t *b, const sl_msg_in_t *m)
{
    msgpack_packer pk;

    sl_buf_reserve(b, m->body_len + 160);
    msgpack_packer_init(&pk, b, buf_write);
    msgpack_pack_array(&pk, 9);
    msgpack_pack_uint32(&pk, MSG_VERSION);
    pack_str(&pk, m->id);
    pack_str(&pk, m->md5_body);
    pack_str(&pk, m->md5_attrs);
    pack_bin(&pk, m->body, m->body_len);
    msgpack_pack_array(&pk, m->nattrs);
    for (uint32_t i = 0; i < m->nattrs; i++) {
        msgpack_pack_array(&pk, 3);
        pack_str(&pk, m->attrs[i].name);
        pack_str(&pk, m->attrs[i].type);
        pack_bin(&pk, m->attrs[i].value, m->attrs[i].len);
    }
    pack_str(&pk, m->trace_header);
    pack_str(&pk, m->group_id);
    pack_str(&pk, m->dedup_id);
}

static bool
msg_shape_ok(const msgpack_object *o)
{
    const msgpack_object *v;

    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 9)
        return false;
    v = o->via.array.ptr;
    if (v[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || v[0].via.u64 != MSG_VERSION)
        return false;
    if (!is_str(&v[1]) || v[1].via.str.size > SL_MSG_ID_LEN || !is_str(&v[2]) ||
        v[2].via.str.size > SL_MD5_HEX_LEN || !is_str(&v[3]) ||
        v[3].via.str.size > SL_MD5_HEX_LEN || !is_bytes(&v[4]))
        return false;
    if (v[5].type != MSGPACK_OBJECT_ARRAY || v[5].via.array.size > SL_CODEC_MAX_ATTRS)
        return false;
    for (uint32_t i = 0; i < v[5].via.array.size; i++) {
        const msgpack_object *a = &v[5].via.array.ptr[i];

        if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size != 3 ||
            !is_str(&a->via.array.ptr[0]) || !is_str(&a->via.array.ptr[1]) ||
            !is_bytes(&a->via.array.ptr[2]))
            return false;
    }
    return is_str_or_nil(&v[6]) && is_str_or_nil(&v[7]) && is_str_or_nil(&v[8]);
}

int
sl_codec_unpack_msg(const void *data, size_t len, const char *dlq_source, size_t srclen,
                    sl_msg_t **out)
{
    msgpack_object o;
    const msgpack_object *v, *attrs;
    size_t size, n;
    const char *p;
    sl_msg_t *m;
    char *cur;
    int rc;

    *out = NULL;
    if ((rc = unpack_one(data, len, &o)) != SL_OK)
        return rc;
    if (!msg_shape_ok(&o)) {
        zone_done();
        return SL_EPROTO;
    }
    v = o.via.array.ptr;
    attrs = &v[5];
    size = sizeof(*m) + attrs->via.array.size * sizeof(sl_msg_attr_t);
    bytes_of(&v[4], &n);
    size += n + 1;
    for (uint32_t i = 0; i < attrs->via.array.size; i++)
        for (int j = 0; j < 3; j++) {
            bytes_of(&attrs->via.array.ptr[i].via.array.ptr[j], &n);
            size += n + 1;
        }
    for (int j = 6; j <= 8; j++)
        if (v[j].type == MSGPACK_OBJECT_STR)
            size += v[j].via.str.size + 1;
    size += srclen + 1;
    if ((m = sl_trymalloc(size)) == NULL) {
        zone_done();
        return SL_ENOMEM;
    }
    memset(m, 0, sizeof(*m));
    memcpy(m->id, v[1].via.str.ptr, v[1].via.str.size);
    memcpy(m->md5_body, v[2].via.str.ptr, v[2].via.str.size);
    memcpy(m->md5_attrs, v[3].via.str.ptr, v[3].via.str.size);
    m->attrs = attrs->via.array.size ? (sl_msg_attr_t *)(void *)(m + 1) : NULL;
    m->nattrs = attrs->via.array.size;
    cur = (char *)(void *)(m + 1) + attrs->via.array.size * sizeof(sl_msg_attr_t);
    p = bytes_of(&v[4], &n);
    m->body = put_bytes(&cur, p, n);
    m->body_len = n;
    for (uint32_t i = 0; i < m->nattrs; i++) {
        const msgpack_object *a = attrs->via.array.ptr[i].via.array.ptr;

        p = bytes_of(&a[0], &n);
        m->attrs[i].name = put_bytes(&cur, p, n);
        p = bytes_of(&a[1], &n);
        m->attrs[i].type = put_bytes(&cur, p, n);
        p = bytes_of(&a[2], &n);
        m->attrs[i].value = put_bytes(&cur, p, n);
        m->attrs[i].len = n;
    }
    if (v[6].type == MSGPACK_OBJECT_STR)
        m->trace_header = put_bytes(&cur, v[6].via.str.ptr, v[6].via.str.size);
    if (v[7].type == MSGPACK_OBJECT_STR)
        m->group_id = put_bytes(&cur, v[7].via.str.ptr, v[7].via.str.size);
    if (v[8].type == MSGPACK_OBJECT_STR)
        m->dedup_id = put_bytes(&cur, v[8].via.str.ptr, v[8].via.str.size);
    if (srclen > 0)
        m->dlq_source = put_bytes(&cur, dlq_source, srclen);
    zone_done();
    *out = m;
    return SL_OK;
}

/* ---- Queue settings ----
 * {"v": 1, "fifo", "cbd", "vis", "delay", "ret", "max", "wait", "rp", "dlq", "maxr",
 *  "extra": {name: value}} */

static void
pack_kv_u32(msgpack_packer *pk, const char *key, uint32_t v)
{
    pack_str(pk, key);
    msgpack_pack_uint32(pk, v);
}

void
sl_codec_pack_cfg(sl_buf_t *b, const sl_queue_cfg_t *cfg)
{
    msgpack_packer pk;

    msgpack_packer_init(&pk, b, buf_write);
    msgpack_pack_map(&pk, 12);
    pack_kv_u32(&pk, "v", CFG_VERSION);
    pack_str(&pk, "fifo");
    if (cfg->fifo)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    pack_str(&pk, "cbd");
    if (cfg->content_dedup)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    pack_kv_u32(&pk, "vis", cfg->visibility_s);
    pack_kv_u32(&pk, "delay", cfg->delay_s);
    pack_kv_u32(&pk, "ret", cfg->retention_s);
    pack_kv_u32(&pk, "max", cfg->max_size);
    pack_kv_u32(&pk, "wait", cfg->wait_s);
    pack_str(&pk, "rp");
    pack_str(&pk, cfg->redrive_policy);
    pack_str(&pk, "dlq");
    pack_str(&pk, cfg->dlq_name);
    pack_kv_u32(&pk, "maxr", cfg->max_receives);
    pack_str(&pk, "extra");
    msgpack_pack_map(&pk, cfg->extra.n);
    for (size_t i = 0; i < cfg->extra.n; i++) {
        pack_str(&pk, cfg->extra.v[i].key);
        pack_str(&pk, cfg->extra.v[i].val);
    }
}

static int
get_u32(const msgpack_object *o, uint32_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT32_MAX)
        return SL_EPROTO;
    *out = (uint32_t)o->via.u64;
    return SL_OK;
}

static int
get_bool(const msgpack_object *o, bool *out)
{
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return SL_EPROTO;
    *out = o->via.boolean;
    return SL_OK;
}

/* A copy of a str object (NULL for nil). */
static int
get_strdup(const msgpack_object *o, char **out)
{
    if (o->type == MSGPACK_OBJECT_NIL) {
        *out = NULL;
        return SL_OK;
    }
    if (o->type != MSGPACK_OBJECT_STR)
        return SL_EPROTO;
    *out = sl_strndup(o->via.str.ptr, o->via.str.size);
    return SL_OK;
}

static int
get_extra(const msgpack_object *o, sl_kvlist_t *extra)
{
    if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size > SL_CODEC_MAX_EXTRA)
        return SL_EPROTO;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        char *k, *v;

        if (!is_str(&kv->key) || !is_str(&kv->val))
            return SL_EPROTO;
        k = sl_strndup(kv->key.via.str.ptr, kv->key.via.str.size);
        v = sl_strndup(kv->val.via.str.ptr, kv->val.via.str.size);
        sl_kvlist_set(extra, k, v);
        sl_free(k);
        sl_free(v);
    }
    return SL_OK;
}

static int
cfg_field(const msgpack_object_kv *kv, sl_queue_cfg_t *c)
{
    const msgpack_object *k = &kv->key, *v = &kv->val;

    if (key_is(k, "v")) {
        uint32_t ver;

        return get_u32(v, &ver) == SL_OK && ver == CFG_VERSION ? SL_OK : SL_EPROTO;
    }
    if (key_is(k, "fifo"))
        return get_bool(v, &c->fifo);
    if (key_is(k, "cbd"))
        return get_bool(v, &c->content_dedup);
    if (key_is(k, "vis"))
        return get_u32(v, &c->visibility_s);
    if (key_is(k, "delay"))
        return get_u32(v, &c->delay_s);
    if (key_is(k, "ret"))
        return get_u32(v, &c->retention_s);
    if (key_is(k, "max"))
        return get_u32(v, &c->max_size);
    if (key_is(k, "wait"))
        return get_u32(v, &c->wait_s);
    if (key_is(k, "maxr"))
        return get_u32(v, &c->max_receives);
    if (key_is(k, "rp")) {
        sl_free(c->redrive_policy);
        return get_strdup(v, &c->redrive_policy);
    }
    if (key_is(k, "dlq")) {
        sl_free(c->dlq_name);
        return get_strdup(v, &c->dlq_name);
    }
    if (key_is(k, "extra"))
        return get_extra(v, &c->extra);
    return SL_OK;                               /* a field of a later version */
}

int
sl_codec_unpack_cfg(const void *data, size_t len, sl_queue_cfg_t *out)
{
    msgpack_object o;
    int rc;

    sl_queue_cfg_init(out);
    if ((rc = unpack_one(data, len, &o)) != SL_OK)
        return rc;
    if (o.type != MSGPACK_OBJECT_MAP || o.via.map.size == 0 ||
        !key_is(&o.via.map.ptr[0].key, "v")) {
        zone_done();
        return SL_EPROTO;
    }
    for (uint32_t i = 0; i < o.via.map.size && rc == SL_OK; i++)
        rc = cfg_field(&o.via.map.ptr[i], out);
    zone_done();
    return rc;
}

/* ---- Outbox ----
 * [version, kind, payload] */

void
sl_codec_pack_outbox(sl_buf_t *b, const char *kind, const void *payload, size_t len)
{
    msgpack_packer pk;

    sl_buf_reserve(b, len + strlen(kind) + 16);
    msgpack_packer_init(&pk, b, buf_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint32(&pk, OUTBOX_VERSION);
    pack_str(&pk, kind);
    pack_bin(&pk, payload, len);
}

int
sl_codec_unpack_outbox(const void *data, size_t len, const char **kind, size_t *kind_len,
                       const void **payload, size_t *plen)
{
    msgpack_object o;
    const msgpack_object *v;
    int rc;

    if ((rc = unpack_one(data, len, &o)) != SL_OK)
        return rc;
    v = o.via.array.ptr;
    if (o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 3 ||
        v[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || v[0].via.u64 != OUTBOX_VERSION ||
        !is_str(&v[1]) || !is_bytes(&v[2])) {
        zone_done();
        return SL_EPROTO;
    }
    /* Objects point into data, so these stay valid after the zone is cleared. */
    *kind = v[1].via.str.ptr;
    *kind_len = v[1].via.str.size;
    *payload = bytes_of(&v[2], plen);
    zone_done();
    return SL_OK;
}
