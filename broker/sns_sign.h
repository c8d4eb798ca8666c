/* sns_sign.h - signatures on the messages sluice's topics POST to HTTP subscribers, as
 * Amazon SNS signs them, so subscriber code that verifies SNS signatures works unchanged
 * once it trusts sluice's certificate.
 *
 * The signer owns one RSA-2048 key and a self-signed X.509 certificate for it (served
 * by the broker at the messages' SigningCertURL). Making an RSA key takes 50-500 ms, so
 * it is made on a thread of its own, started by sl_sns_signer_create: the loop never
 * waits for it. Until it is ready, sl_sns_sign answers SL_EAGAIN (deliveries wait for a
 * retry) and sl_sns_signer_cert_pem NULL. A signer may be used from the loop thread only
 * (the key thread touches nothing after it publishes the key).
 *
 * What is signed (AWS's "string to sign"): for Type Notification the fields Message,
 * MessageId, Subject (only when present), Timestamp, TopicArn, Type; for
 * SubscriptionConfirmation and UnsubscribeConfirmation the fields Message, MessageId,
 * SubscribeURL, Timestamp, Token, TopicArn, Type; each as "Name\nvalue\n", in that
 * order. SignatureVersion 1 is SHA1 with RSA (PKCS#1 v1.5), 2 is SHA256 with RSA; the
 * signature is base64. Guarded by SLUICE_SNS_SIGN_H. */
#ifndef SLUICE_SNS_SIGN_H
#define SLUICE_SNS_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

typedef struct sl_sns_signer sl_sns_signer_t;

/* Starts making the key and certificate (subject CN=common_name, e.g. the broker's
 * host name) on a new thread. Returns NULL only when the thread cannot start. */
sl_sns_signer_t *sl_sns_signer_create(const char *common_name);

/* Whether the key is made (or failed: then every sign answers SL_EBACKEND). */
bool sl_sns_signer_is_ready(const sl_sns_signer_t *s);

/* The certificate, PEM, NUL-terminated; *len (if not NULL) its length. Borrowed from s.
 * NULL while the key is being made or when making it failed. */
const char *sl_sns_signer_cert_pem(const sl_sns_signer_t *s, size_t *len);

/* AWS's string to sign for msg (an object with the fields above, string values), in a
 * new NUL-terminated string (caller sl_free()s); NULL when Type is not one of the three
 * types or a required field is missing or not a string. */
char *sl_sns_string_to_sign(const json_t *msg);

/* Signs msg with SignatureVersion version (1 or 2). Returns SL_OK with a new base64
 * string in *sig (caller sl_free()s); SL_EAGAIN while the key is being made;
 * SL_EINVAL for a bad version or a msg sl_sns_string_to_sign refuses; SL_EBACKEND when
 * the key could not be made or libcrypto failed. */
int sl_sns_sign(const sl_sns_signer_t *s, const json_t *msg, int version, char **sig);

/* Waits for the key thread to end (it ends on its own), frees everything. NULL: no-op. */
void sl_sns_signer_destroy(sl_sns_signer_t *s);

#endif
