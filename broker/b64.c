/* b64.c - base64 for binary message attributes (see b64.h). */
#include "b64.h"

#include "sluice/mem.h"

#include <ctype.h>
#include <openssl/evp.h>

bool
sl__b64_decode(const char *s, size_t len, char **out, size_t *outlen)
{
    unsigned char *buf;
    int n, pad = 0;

    if (len % 4 != 0 || len > 4 * 1024 * 1024)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (c == '=') {
            if (i < len - 2)
                return false;
            pad++;
        } else if (!(isalnum((unsigned char)c) || c == '+' || c == '/') || pad) {
            return false;
        }
    }
    buf = sl_malloc(len / 4 * 3 + 1);
    n = len ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len) : 0;
    if (n < 0) {
        sl_free(buf);
        return false;
    }
    *out = (char *)buf;
    *outlen = (size_t)n - (size_t)pad;
    return true;
}

char *
sl__b64_encode(const void *data, size_t len)
{
    unsigned char *buf = sl_malloc((len + 2) / 3 * 4 + 1);

    EVP_EncodeBlock(buf, data, (int)len);
    return (char *)buf;
}
