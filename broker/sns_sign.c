/* sns_sign.c - RSA key and self-signed certificate made off the loop; AWS SNS's string
 * to sign and its SHA1/SHA256-with-RSA signatures (see sns_sign.h). */
#include "sns_sign.h"

#include "b64.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define KEY_BITS 2048
#define CERT_DAYS 3650

enum { KEY_MAKING, KEY_READY, KEY_FAILED };

struct sl_sns_signer {
    pthread_t thread;
    atomic_int state;           /* KEY_*: the thread publishes with release */
    char *cn;
    EVP_PKEY *key;              /* written by the thread before KEY_READY */
    char *cert_pem;
    size_t cert_len;
};

static char *
make_cert(EVP_PKEY *key, const char *cn, size_t *len)
{
    X509 *x = X509_new();
    X509_NAME *name;
    BIO *bio = NULL;
    char *pem = NULL, *data;
    long n;

    if (x == NULL)
        return NULL;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(time(NULL) & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), (long)CERT_DAYS * 24 * 3600);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"sluice", -1,
                               -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    if (X509_sign(x, key, EVP_sha256()) == 0 || (bio = BIO_new(BIO_s_mem())) == NULL ||
        PEM_write_bio_X509(bio, x) != 1)
        goto out;
    n = BIO_get_mem_data(bio, &data);
    pem = sl_malloc((size_t)n + 1);
    memcpy(pem, data, (size_t)n);
    pem[n] = '\0';
    *len = (size_t)n;
out:
    BIO_free(bio);
    X509_free(x);
    return pem;
}

static void *
make_key(void *arg)
{
    sl_sns_signer_t *s = arg;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
    EVP_PKEY *key = NULL;

    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, KEY_BITS) <= 0 || EVP_PKEY_keygen(ctx, &key) <= 0 ||
        (s->cert_pem = make_cert(key, s->cn, &s->cert_len)) == NULL) {
        EVP_PKEY_free(key);
        EVP_PKEY_CTX_free(ctx);
        atomic_store_explicit(&s->state, KEY_FAILED, memory_order_release);
        return NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    s->key = key;
    atomic_store_explicit(&s->state, KEY_READY, memory_order_release);
    return NULL;
}

sl_sns_signer_t *
sl_sns_signer_create(const char *common_name)
{
    sl_sns_signer_t *s = sl_calloc(1, sizeof(*s));

    atomic_init(&s->state, KEY_MAKING);
    s->cn = sl_strdup(common_name && *common_name ? common_name : "sluice");
    if (pthread_create(&s->thread, NULL, make_key, s) != 0) {
        sl_free(s->cn);
        sl_free(s);
        return NULL;
    }
    return s;
}

static int
state_of(const sl_sns_signer_t *s)
{
    return atomic_load_explicit(&((sl_sns_signer_t *)s)->state, memory_order_acquire);
}

bool
sl_sns_signer_is_ready(const sl_sns_signer_t *s)
{
    return state_of(s) != KEY_MAKING;
}

const char *
sl_sns_signer_cert_pem(const sl_sns_signer_t *s, size_t *len)
{
    if (state_of(s) != KEY_READY)
        return NULL;
    if (len)
        *len = s->cert_len;
    return s->cert_pem;
}

/* ---- the string to sign ---- */

static const char *const NOTIFICATION_FIELDS[] = {
    "Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type", NULL,
};
static const char *const CONFIRMATION_FIELDS[] = {
    "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type", NULL,
};

char *
sl_sns_string_to_sign(const json_t *msg)
{
    const char *type = json_string_value(json_object_get(msg, "Type"));
    const char *const *fields;
    size_t len = 0, off = 0;
    char *out;

    if (type == NULL)
        return NULL;
    if (strcmp(type, "Notification") == 0)
        fields = NOTIFICATION_FIELDS;
    else if (strcmp(type, "SubscriptionConfirmation") == 0 ||
             strcmp(type, "UnsubscribeConfirmation") == 0)
        fields = CONFIRMATION_FIELDS;
    else
        return NULL;
    for (size_t i = 0; fields[i]; i++) {
        json_t *v = json_object_get(msg, fields[i]);

        if (v == NULL && strcmp(fields[i], "Subject") == 0)
            continue;                   /* only when present */
        if (!json_is_string(v))
            return NULL;
        len += strlen(fields[i]) + json_string_length(v) + 2;
    }
    out = sl_malloc(len + 1);
    for (size_t i = 0; fields[i]; i++) {
        json_t *v = json_object_get(msg, fields[i]);
        size_t n = strlen(fields[i]), vn;

        if (v == NULL)
            continue;
        vn = json_string_length(v);
        memcpy(out + off, fields[i], n);
        out[off + n] = '\n';
        memcpy(out + off + n + 1, json_string_value(v), vn);
        out[off + n + 1 + vn] = '\n';
        off += n + vn + 2;
    }
    out[off] = '\0';
    return out;
}

int
sl_sns_sign(const sl_sns_signer_t *s, const json_t *msg, int version, char **sig)
{
    int st = state_of(s);
    EVP_MD_CTX *md = NULL;
    unsigned char *raw = NULL;
    size_t rawlen = 0;
    char *text;
    int rc = SL_EBACKEND;

    *sig = NULL;
    if (st == KEY_MAKING)
        return SL_EAGAIN;
    if (st == KEY_FAILED)
        return SL_EBACKEND;
    if ((version != 1 && version != 2) || (text = sl_sns_string_to_sign(msg)) == NULL)
        return SL_EINVAL;
    if ((md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestSignInit(md, NULL, version == 1 ? EVP_sha1() : EVP_sha256(), NULL, s->key) !=
            1 ||
        EVP_DigestSign(md, NULL, &rawlen, (const unsigned char *)text, strlen(text)) != 1)
        goto out;
    raw = sl_malloc(rawlen);
    if (EVP_DigestSign(md, raw, &rawlen, (const unsigned char *)text, strlen(text)) != 1)
        goto out;
    *sig = sl__b64_encode(raw, rawlen);
    rc = SL_OK;
out:
    if (rc != SL_OK)
        sl_log(SL_LOG_ERROR, "sns signature failed version=%d", version);
    sl_free(raw);
    EVP_MD_CTX_free(md);
    sl_free(text);
    return rc;
}

void
sl_sns_signer_destroy(sl_sns_signer_t *s)
{
    if (s == NULL)
        return;
    pthread_join(s->thread, NULL);
    EVP_PKEY_free(s->key);
    sl_free(s->cert_pem);
    sl_free(s->cn);
    sl_free(s);
}
