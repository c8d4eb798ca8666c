/* test_sns_sign.c - SNS's string to sign, field by field and in order; signatures of
 * both versions verify with the public key of the certificate the signer serves, and
 * fail on a changed message; the certificate is self-signed by that key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "b64.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sns_sign.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>
#include <time.h>

static sl_sns_signer_t *signer;

static json_t *
notification(bool subject)
{
    json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s}", "Type", "Notification", "MessageId",
                          "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", "TopicArn",
                          "arn:aws:sns:us-east-1:000000000000:orders", "Message",
                          "line one\nline \"two\" \xc3\xa9", "Timestamp",
                          "2026-11-23T12:00:00.000Z");

    if (subject)
        json_object_set_new(m, "Subject", json_string("Hello"));
    json_object_set_new(m, "SignatureVersion", json_string("1"));      /* not signed */
    return m;
}

static void
test_string_to_sign_notification(void **state)
{
    json_t *m = notification(true);
    char *s = sl_sns_string_to_sign(m);

    (void)state;
    assert_string_equal(s, "Message\nline one\nline \"two\" \xc3\xa9\n"
                           "MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
                           "Subject\nHello\n"
                           "Timestamp\n2026-11-23T12:00:00.000Z\n"
                           "TopicArn\narn:aws:sns:us-east-1:000000000000:orders\n"
                           "Type\nNotification\n");
    sl_free(s);
    json_object_del(m, "Subject");              /* absent: left out, not empty */
    s = sl_sns_string_to_sign(m);
    assert_null(strstr(s, "Subject"));
    assert_non_null(strstr(s, "MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\nTimestamp\n"));
    sl_free(s);
    json_object_set_new(m, "Subject", json_integer(1));     /* present but not a string */
    assert_null(sl_sns_string_to_sign(m));
    json_decref(m);
}

static void
test_string_to_sign_confirmation(void **state)
{
    json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Type",
                          "SubscriptionConfirmation", "MessageId", "id-1", "Token", "tok",
                          "TopicArn", "arn:t", "Message", "You have chosen...", "SubscribeURL",
                          "http://127.0.0.1:9324/?Action=ConfirmSubscription", "Timestamp", "ts",
                          "Subject", "ignored for confirmations");
    char *s = sl_sns_string_to_sign(m);

    (void)state;
    assert_string_equal(s, "Message\nYou have chosen...\nMessageId\nid-1\n"
                           "SubscribeURL\nhttp://127.0.0.1:9324/?Action=ConfirmSubscription\n"
                           "Timestamp\nts\nToken\ntok\nTopicArn\narn:t\n"
                           "Type\nSubscriptionConfirmation\n");
    sl_free(s);
    json_object_set_new(m, "Type", json_string("UnsubscribeConfirmation"));
    s = sl_sns_string_to_sign(m);
    assert_non_null(s);
    sl_free(s);
    json_object_del(m, "Token");                /* required */
    assert_null(sl_sns_string_to_sign(m));
    json_object_set_new(m, "Type", json_string("Other"));
    assert_null(sl_sns_string_to_sign(m));
    json_decref(m);
}

static bool
verifies(const json_t *m, const char *sig_b64, int version)
{
    size_t len;
    const char *pem = sl_sns_signer_cert_pem(signer, &len);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    EVP_PKEY *pub = X509_get_pubkey(x);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char *text = sl_sns_string_to_sign(m), *sig;
    size_t siglen;
    bool ok;

    assert_true(sl__b64_decode(sig_b64, strlen(sig_b64), &sig, &siglen));
    ok = EVP_DigestVerifyInit(md, NULL, version == 1 ? EVP_sha1() : EVP_sha256(), NULL, pub) ==
             1 &&
         EVP_DigestVerify(md, (unsigned char *)sig, siglen, (unsigned char *)text,
                          strlen(text)) == 1;
    sl_free(sig);
    sl_free(text);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    X509_free(x);
    BIO_free(bio);
    return ok;
}

static void
wait_ready(void)
{
    struct timespec ms = { 0, 10 * 1000 * 1000 };

    for (int i = 0; i < 6000 && !sl_sns_signer_is_ready(signer); i++)    /* <= 60 s */
        nanosleep(&ms, NULL);
    assert_true(sl_sns_signer_is_ready(signer));
}

static void
test_sign_and_verify(void **state)
{
    json_t *m = notification(true);
    char *sig = NULL;

    (void)state;
    wait_ready();
    for (int version = 1; version <= 2; version++) {
        assert_int_equal(sl_sns_sign(signer, m, version, &sig), SL_OK);
        assert_int_equal(strlen(sig), 344);     /* 256 bytes of RSA-2048, base64 */
        assert_true(verifies(m, sig, version));
        assert_false(verifies(m, sig, 3 - version));    /* the other digest */
        json_object_set_new(m, "Message", json_string("changed"));
        assert_false(verifies(m, sig, version));
        json_object_set_new(m, "Message", json_string("line one\nline \"two\" \xc3\xa9"));
        sl_free(sig);
    }
    assert_int_equal(sl_sns_sign(signer, m, 3, &sig), SL_EINVAL);
    assert_null(sig);
    json_object_del(m, "TopicArn");
    assert_int_equal(sl_sns_sign(signer, m, 2, &sig), SL_EINVAL);
    json_decref(m);
}

static void
test_certificate_is_self_signed(void **state)
{
    size_t len = 0;
    const char *pem;
    BIO *bio;
    X509 *x;
    EVP_PKEY *pub;
    char cn[64];

    (void)state;
    wait_ready();
    pem = sl_sns_signer_cert_pem(signer, &len);
    assert_non_null(pem);
    assert_int_equal(strlen(pem), len);
    assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE-----"));
    bio = BIO_new_mem_buf(pem, (int)len);
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    assert_non_null(x);
    pub = X509_get_pubkey(x);
    assert_int_equal(X509_verify(x, pub), 1);
    assert_int_equal(EVP_PKEY_bits(pub), 2048);
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
                                          sizeof(cn)) > 0);
    assert_string_equal(cn, "sluice.test");
    assert_true(X509_cmp_current_time(X509_get0_notAfter(x)) > 0);
    EVP_PKEY_free(pub);
    X509_free(x);
    BIO_free(bio);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_to_sign_notification),
        cmocka_unit_test(test_string_to_sign_confirmation),
        cmocka_unit_test(test_sign_and_verify),
        cmocka_unit_test(test_certificate_is_self_signed),
    };
    int rc;

    signer = sl_sns_signer_create("sluice.test");
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    sl_sns_signer_destroy(signer);
    return rc;
}
