/* b64.h - base64 (standard alphabet, padded), through OpenSSL's codec with the
 * strict checks and exact lengths EVP_DecodeBlock leaves to its caller. */
#ifndef SLUICE_B64_H
#define SLUICE_B64_H

#include <stdbool.h>
#include <stddef.h>

/* New buffer in *out (caller frees with sl_free) and its length; false when s
 * is not strict padded base64. */
bool sl__b64_decode(const char *s, size_t len, char **out, size_t *outlen);
/* New NUL-terminated string (caller frees with sl_free). */
char *sl__b64_encode(const void *data, size_t len);

#endif
