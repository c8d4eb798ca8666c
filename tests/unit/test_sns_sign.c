/* test_sns_sign.c - SNS message signatures (triggers/sns_sign.c): a signature verifies
 * against the certificate's key, and the signer's memo of its last signature (which
 * lets the N deliveries of one publish share one RSA operation) answers only for the
 * same text and the same SignatureVersion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../../triggers/sns_sign.h"
#include "b64.h"
#include "sluice/mem.h"

static sl_sns_signer_t *
ready_signer(void)
{
    sl_sns_signer_t *s = sl__sns_signer_create(NULL, "sns.test.sluice.local");
    struct timespec pause = { 0, 10 * 1000 * 1000 };

    /* key generation runs on its own thread; bounded wait, not a timing check */
    for (int i = 0; i < 3000 && !sl__sns_signer_is_ready(s); i++)
        nanosleep(&pause, NULL);
    assert_true(sl__sns_signer_is_ready(s));
    assert_non_null(sl__sns_signer_cert_pem(s));
    return s;
}

static char *
sign(sl_sns_signer_t *s, const char *msg, const char *sigv)
{
    return sl__sns_sign(s, "Notification", msg, "11111111-2222-4333-8444-555555555555", NULL,
                        "2023-11-14T22:13:20.000Z", "arn:aws:sns:us-east-1:000000000000:t",
                        NULL, NULL, sigv);
}

/* Verifies b64sig over SNS's string to sign of sign() above. */
static bool
verifies(sl_sns_signer_t *s, const char *msg, const char *sigv, const char *b64sig)
{
    const char *pem = sl__sns_signer_cert_pem(s);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    EVP_PKEY *key = X509_get_pubkey(x);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char text[1024];
    char *sig;
    size_t siglen;
    bool ok;

    snprintf(text, sizeof(text), "Message\n%s\nMessageId\n11111111-2222-4333-8444-555555555555\n"
             "Timestamp\n2023-11-14T22:13:20.000Z\nTopicArn\n"
             "arn:aws:sns:us-east-1:000000000000:t\nType\nNotification\n", msg);
    assert_true(sl__b64_decode(b64sig, strlen(b64sig), &sig, &siglen));
    ok = EVP_DigestVerifyInit(md, NULL, strcmp(sigv, "2") == 0 ? EVP_sha256() : EVP_sha1(),
                              NULL, key) == 1 &&
         EVP_DigestVerify(md, (const unsigned char *)sig, siglen, (const unsigned char *)text,
                          strlen(text)) == 1;
    sl_free(sig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    X509_free(x);
    BIO_free(bio);
    return ok;
}

static void
test_memo_answers_only_the_same_text(void **state)
{
    sl_sns_signer_t *s = ready_signer();
    char *a1, *a2, *b, *a_v2, *a3;

    (void)state;
    a1 = sign(s, "hello", "1");
    a2 = sign(s, "hello", "1");         /* from the memo */
    assert_string_equal(a1, a2);
    assert_true(verifies(s, "hello", "1", a2));
    b = sign(s, "other", "1");
    assert_true(verifies(s, "other", "1", b));
    assert_false(verifies(s, "hello", "1", b));
    a_v2 = sign(s, "hello", "2");       /* same text, other digest: not the memo's */
    assert_true(verifies(s, "hello", "2", a_v2));
    a3 = sign(s, "hello", "1");
    assert_true(verifies(s, "hello", "1", a3));
    sl_free(a1);
    sl_free(a2);
    sl_free(b);
    sl_free(a_v2);
    sl_free(a3);
    sl__sns_signer_destroy(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memo_answers_only_the_same_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
