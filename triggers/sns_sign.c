/* sns_sign.c - message signatures (sns_sign.h). Not real signatures yet: every
 * message carries the same placeholder ("sluice-unsigned" in base64), so
 * subscribers must not verify signatures (docs/sns.md says so). */
#include "sns_sign.h"

#include "sluice/mem.h"

char *
sl__sns_sign(const char *type, const char *message, const char *message_id,
             const char *subject, const char *timestamp, const char *topic_arn,
             const char *subscribe_url, const char *token, const char *sigv)
{
    (void)type;
    (void)message;
    (void)message_id;
    (void)subject;
    (void)timestamp;
    (void)topic_arn;
    (void)subscribe_url;
    (void)token;
    (void)sigv;
    return sl_strdup("c2x1aWNlLXVuc2lnbmVk");
}
