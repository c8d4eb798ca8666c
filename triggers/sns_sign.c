/* sns_sign.c - message signatures and the signing certificate (sns_sign.h).
 *
 * Making an RSA key takes tens of milliseconds, more than the broker's whole
 * start budget, so a thread of its own makes it. The loop never waits for it:
 * sl__sns_signer_is_ready() (polled by the fanout's tick) adopts the key once the
 * thread says it is done. Destroy joins the thread: one still inside OpenSSL, or
 * holding OpenSSL's per-thread state, when the process exits crashes or leaks in
 * OpenSSL's exit-time cleanup.
 *
 * An RSA signature costs about as much as a thousand queue sends, and every
 * delivery of one publish signs the same text (the string to sign names the
 * topic, not the subscription). So the signer remembers the last text it signed
 * and its signature: the N enveloped deliveries of a publish cost one RSA
 * operation, not N. */
#include "sns_sign.h"

#include "b64.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define PLACEHOLDER "c2x1aWNlLXVuc2lnbmVk"

struct sl_sns_signer {
    pthread_t thread;
    bool started;               /* thread runs or ran: join it */
    pthread_mutex_t mu;         /* guards finished, job_key, job_pem */
    bool finished;
    EVP_PKEY *job_key;          /* the thread's results until adopted */
    char *job_pem;
    char cn[128];
    EVP_PKEY *key;              /* loop side, once ready */
    char *pem;
    bool ready;
    char *memo_text;            /* the last string signed, or NULL */
    size_t memo_len;
    char *memo_sig;             /* its signature (base64) */
};

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

static void *
keygen(void *arg)
{
    sl_sns_signer_t *s = arg;
    EVP_PKEY *key = EVP_RSA_gen(2048);
    char *pem = key ? make_cert(key, s->cn) : NULL;

    pthread_mutex_lock(&s->mu);
    s->job_key = key;
    s->job_pem = pem;
    s->finished = true;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

sl_sns_signer_t *
sl__sns_signer_create(struct event_base *base, const char *cn)
{
    sl_sns_signer_t *s = sl_calloc(1, sizeof(*s));

    (void)base;
    pthread_mutex_init(&s->mu, NULL);
    snprintf(s->cn, sizeof(s->cn), "%s", cn);
    if (pthread_create(&s->thread, NULL, keygen, s) == 0) {
        s->started = true;
    } else {
        sl_log(SL_LOG_WARN, "sns signing key not made; messages carry placeholder signatures");
        s->ready = true;
    }
    return s;
}

void
sl__sns_signer_destroy(sl_sns_signer_t *s)
{
    if (s == NULL)
        return;
    if (s->started)
        pthread_join(s->thread, NULL);      /* at most the rest of one key generation */
    EVP_PKEY_free(s->job_key);
    sl_free(s->job_pem);
    EVP_PKEY_free(s->key);
    sl_free(s->pem);
    sl_free(s->memo_text);
    sl_free(s->memo_sig);
    pthread_mutex_destroy(&s->mu);
    sl_free(s);
}

bool
sl__sns_signer_is_ready(sl_sns_signer_t *s)
{
    if (s == NULL || s->ready)
        return true;
    pthread_mutex_lock(&s->mu);
    if (s->finished) {
        s->key = s->job_key;
        s->pem = s->job_pem;
        s->job_key = NULL;
        s->job_pem = NULL;
        s->ready = true;
    }
    pthread_mutex_unlock(&s->mu);
    if (s->ready && (s->key == NULL || s->pem == NULL))
        sl_log(SL_LOG_WARN, "sns signing key not made; messages carry placeholder signatures");
    return s->ready;
}

const char *
sl__sns_signer_cert_pem(sl_sns_signer_t *s)
{
    return s && sl__sns_signer_is_ready(s) ? s->pem : NULL;
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
sl__sns_sign(sl_sns_signer_t *s, const char *type, const char *message,
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
    add(&text, &len, "", sigv);         /* the memo's key: same text, other digest */
    if (s->memo_text && s->memo_len == len && memcmp(s->memo_text, text, len) == 0) {
        sl_free(text);
        return sl_strdup(s->memo_sig);
    }
    len -= strlen(sigv) + 2;            /* what is signed ends with Type */
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
    if (out == NULL) {
        sl_free(text);
        return sl_strdup(PLACEHOLDER);
    }
    sl_free(s->memo_text);
    sl_free(s->memo_sig);
    s->memo_text = text;
    s->memo_len = len + strlen(sigv) + 2;
    s->memo_sig = sl_strdup(out);
    return out;
}
