/* sns_sign.c - message signatures and the signing certificate (sns_sign.h).
 *
 * Making an RSA key takes tens of milliseconds, more than the broker's whole
 * start budget, so it runs on a one-thread work pool. If the signer is
 * destroyed first (a broker stopped right after starting), destroy waits for the
 * key to be made: a thread still inside OpenSSL when the process exits crashes in
 * OpenSSL's exit-time cleanup. */
#include "sns_sign.h"

#include "b64.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "work.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define PLACEHOLDER "c2x1aWNlLXVuc2lnbmVk"

typedef struct sl_sns_signer sl_sns_signer_t;

typedef struct keyjob {
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* signalled when finished */
    sl_sns_signer_t *signer;    /* for done, which only runs while the signer lives */
    bool finished;
    char cn[128];
    EVP_PKEY *key;              /* results, NULL on failure */
    char *pem;
} keyjob_t;

struct sl_sns_signer {
    sl_work_pool_t *pool;
    keyjob_t *job;              /* until done hands it over */
    EVP_PKEY *key;
    char *pem;
    bool ready;
};

static void
keyjob_free(keyjob_t *j)
{
    EVP_PKEY_free(j->key);
    sl_free(j->pem);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    sl_free(j);
}

static char *
make_cert(EVP_PKEY *key, const char *cn)
{
    X509 *x = X509_new();
    X509_NAME *name;
    BIO *bio = NULL;
    char *pem = NULL, *data;
    long n;

    if (x == NULL)
        return NULL;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (X509_sign(x, key, EVP_sha256()) > 0 && (bio = BIO_new(BIO_s_mem())) != NULL &&
        PEM_write_bio_X509(bio, x) == 1 && (n = BIO_get_mem_data(bio, &data)) > 0)
        pem = sl_strndup(data, (size_t)n);
    BIO_free(bio);
    X509_free(x);
    return pem;
}

/* On the pool thread. */
static void
keyjob_run(void *arg)
{
    keyjob_t *j = arg;
    EVP_PKEY *key = EVP_RSA_gen(2048);
    char *pem = key ? make_cert(key, j->cn) : NULL;

    pthread_mutex_lock(&j->mu);
    j->key = key;
    j->pem = pem;
    j->finished = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* On the loop. */
static void
keyjob_done(void *arg)
{
    keyjob_t *j = arg;
    sl_sns_signer_t *s = j->signer;

    s->job = NULL;
    if (j->key && j->pem) {
        s->key = j->key;
        s->pem = j->pem;
        j->key = NULL;
        j->pem = NULL;
        sl_log(SL_LOG_DEBUG, "sns signing key ready");
    } else {
        sl_log(SL_LOG_WARN, "sns signing key not made; messages carry placeholder signatures");
    }
    s->ready = true;
    keyjob_free(j);
}

sl_sns_signer_t *
sl__sns_signer_create(struct event_base *base, const char *cn)
{
    sl_sns_signer_t *s = sl_calloc(1, sizeof(*s));
    keyjob_t *j = sl_calloc(1, sizeof(*j));

    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    snprintf(j->cn, sizeof(j->cn), "%s", cn);
    j->signer = s;
    s->pool = sl_work_pool_create(base, 1);
    if (s->pool == NULL || sl_work_submit(s->pool, keyjob_run, keyjob_done, j) != SL_OK) {
        keyjob_free(j);
        s->ready = true;            /* placeholders */
        return s;
    }
    s->job = j;
    return s;
}

void
sl__sns_signer_destroy(sl_sns_signer_t *s)
{
    if (s == NULL)
        return;
    if (s->job) {
        keyjob_t *j = s->job;

        pthread_mutex_lock(&j->mu);
        while (!j->finished)
            pthread_cond_wait(&j->cv, &j->mu);
        pthread_mutex_unlock(&j->mu);
    }
    /* The job is done, so the pool joins its thread; done never runs now. */
    sl_work_pool_destroy(s->pool);
    if (s->job)
        keyjob_free(s->job);
    EVP_PKEY_free(s->key);
    sl_free(s->pem);
    sl_free(s);
}

bool
sl__sns_signer_is_ready(const sl_sns_signer_t *s)
{
    return s == NULL || s->ready;
}

const char *
sl__sns_signer_cert_pem(const sl_sns_signer_t *s)
{
    return s ? s->pem : NULL;
}

static void
add(char **buf, size_t *len, const char *k, const char *v)
{
    size_t kl = strlen(k), vl = strlen(v);

    *buf = sl_realloc(*buf, *len + kl + vl + 3);
    memcpy(*buf + *len, k, kl);
    (*buf)[*len + kl] = '\n';
    memcpy(*buf + *len + kl + 1, v, vl);
    (*buf)[*len + kl + 1 + vl] = '\n';
    *len += kl + vl + 2;
}

char *
sl__sns_sign(const sl_sns_signer_t *s, const char *type, const char *message,
             const char *message_id, const char *subject, const char *timestamp,
             const char *topic_arn, const char *subscribe_url, const char *token,
             const char *sigv)
{
    bool control = strcmp(type, "Notification") != 0;
    char *text = NULL, *out = NULL;
    size_t len = 0, siglen = 0;
    unsigned char *sig = NULL;
    EVP_MD_CTX *md;

    if (s == NULL || s->key == NULL)
        return sl_strdup(PLACEHOLDER);
    add(&text, &len, "Message", message);
    add(&text, &len, "MessageId", message_id);
    if (control) {
        add(&text, &len, "SubscribeURL", subscribe_url ? subscribe_url : "");
    } else if (subject) {
        add(&text, &len, "Subject", subject);
    }
    add(&text, &len, "Timestamp", timestamp);
    if (control)
        add(&text, &len, "Token", token ? token : "");
    add(&text, &len, "TopicArn", topic_arn);
    add(&text, &len, "Type", type);
    md = EVP_MD_CTX_new();
    if (md && EVP_DigestSignInit(md, NULL, strcmp(sigv, "2") == 0 ? EVP_sha256() : EVP_sha1(),
                                 NULL, s->key) == 1 &&
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)text, len) == 1) {
        sig = sl_malloc(siglen);
        if (EVP_DigestSign(md, sig, &siglen, (const unsigned char *)text, len) == 1)
            out = sl__b64_encode(sig, siglen);
    }
    EVP_MD_CTX_free(md);
    sl_free(sig);
    sl_free(text);
    return out ? out : sl_strdup(PLACEHOLDER);
}
