/* sns_sign.h - signatures of SNS messages (SignatureVersion 1: RSA-SHA1,
 * 2: RSA-SHA256) over SNS's string to sign, with an RSA key made when the
 * broker starts, and the self-signed certificate subscribers fetch from
 * SigningCertURL. The key is generated on a thread of its own, so starting
 * the broker does not wait for it; deliveries wait (sl__sns_signer_is_ready).
 * All functions run on the loop thread.
 * Private to triggers/ and the front end. */
#ifndef SLUICE_TRIGGERS_SNS_SIGN_H
#define SLUICE_TRIGGERS_SNS_SIGN_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
typedef struct sl_sns_signer sl_sns_signer_t;

/* Starts making a 2048-bit key and a certificate for common name cn (base is
 * unused: nothing is posted to the loop). Caller destroys; destroying while the
 * key is still being made waits for it. */
sl_sns_signer_t *sl__sns_signer_create(struct event_base *base, const char *cn);
void sl__sns_signer_destroy(sl_sns_signer_t *s);            /* NULL is a no-op */
/* True once the key is made (or could not be): adopts it from the thread. */
bool sl__sns_signer_is_ready(sl_sns_signer_t *s);
/* The certificate in PEM (borrowed), or NULL until ready (or when making the
 * key failed: then signatures stay placeholders, logged once). */
const char *sl__sns_signer_cert_pem(sl_sns_signer_t *s);

/* New base64 signature (caller sl_free()s) of a message of type ("Notification"
 * or "SubscriptionConfirmation"). Notifications sign Message, MessageId,
 * Subject (when not NULL), Timestamp, TopicArn, Type; confirmations Message,
 * MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type, each as
 * "Key\nValue\n". sigv "2" is RSA-SHA256, else RSA-SHA1. Without a key (s NULL
 * or not ready) the placeholder "c2x1aWNlLXVuc2lnbmVk" ("sluice-unsigned").
 * Remembers the last signature, so signing the same text again is a copy. */
char *sl__sns_sign(sl_sns_signer_t *s, const char *type, const char *message,
                   const char *message_id, const char *subject, const char *timestamp,
                   const char *topic_arn, const char *subscribe_url, const char *token,
                   const char *sigv);

#endif
