/* sns_sign.h - signatures of SNS messages (SignatureVersion 1: RSA-SHA1,
 * 2: RSA-SHA256) over SNS's string to sign, and the certificate subscribers
 * fetch from SigningCertURL. Private to triggers/ and the front end. */
#ifndef SLUICE_TRIGGERS_SNS_SIGN_H
#define SLUICE_TRIGGERS_SNS_SIGN_H

#include <stddef.h>

/* New base64 signature (caller sl_free()s) of a message of type ("Notification"
 * or "SubscriptionConfirmation"); subject, subscribe_url and token may be NULL
 * (left out of the string to sign, as SNS does); sigv "1" or "2". */
char *sl__sns_sign(const char *type, const char *message, const char *message_id,
                   const char *subject, const char *timestamp, const char *topic_arn,
                   const char *subscribe_url, const char *token, const char *sigv);

#endif
