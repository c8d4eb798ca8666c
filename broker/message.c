/* message.c - message identity and checksums: UUIDv4 ids, body and attribute
 * MD5s exactly as SQS computes them (clients verify them), and the SHA-256
 * used for content-based deduplication.
 * Ids come from a xoshiro256** generator seeded once from the kernel, so the
 * per-message cost is a few arithmetic operations rather than a syscall. The
 * digests go through OpenSSL's EVP interface with the algorithm fetched once. */
#include "sluice/message.h"
#include "sluice/mem.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static const char hexdig[] = "0123456789abcdef";

static void
to_hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[d[i] >> 4];
        out[2 * i + 1] = hexdig[d[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---- Digests ---- */

static _Thread_local EVP_MD_CTX *md5_ctx;
static _Thread_local EVP_MD *md5_md;

static EVP_MD_CTX *
md5_begin(void)
{
    if (md5_ctx == NULL) {
        md5_ctx = EVP_MD_CTX_new();
        md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
        sl_assert(md5_ctx != NULL && md5_md != NULL);
    }
    sl_assert(EVP_DigestInit_ex2(md5_ctx, md5_md, NULL) == 1);
    return md5_ctx;
}

static void
md5_end(EVP_MD_CTX *c, char out[SL_MD5_HEX_LEN + 1])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    sl_assert(EVP_DigestFinal_ex(c, d, &n) == 1 && n == 16);
    to_hex(d, n, out);
}

void
sl_md5_hex(const void *data, size_t len, char out[SL_MD5_HEX_LEN + 1])
{
    EVP_MD_CTX *c = md5_begin();

    EVP_DigestUpdate(c, data, len);
    md5_end(c, out);
}

static void
put_len32(EVP_MD_CTX *c, size_t n)
{
    unsigned char b[4] = { (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                           (unsigned char)(n >> 8), (unsigned char)n };

    EVP_DigestUpdate(c, b, 4);
}

static int
cmp_attr_ptr(const void *a, const void *b)
{
    const sl_msg_attr_t *x = *(const sl_msg_attr_t *const *)a;
    const sl_msg_attr_t *y = *(const sl_msg_attr_t *const *)b;

    return strcmp(x->name, y->name);   /* bytewise, as SQS sorts UTF-8 names */
}

void
sl_md5_attrs(const sl_msg_attr_t *attrs, size_t n, char out[SL_MD5_HEX_LEN + 1])
{
    const sl_msg_attr_t *sorted[64];
    EVP_MD_CTX *c;

    out[0] = '\0';
    if (n == 0)
        return;
    sl_assert(n <= 64);
    for (size_t i = 0; i < n; i++)
        sorted[i] = &attrs[i];
    qsort(sorted, n, sizeof(sorted[0]), cmp_attr_ptr);
    c = md5_begin();
    for (size_t i = 0; i < n; i++) {
        const sl_msg_attr_t *a = sorted[i];
        size_t nl = strlen(a->name), tl = strlen(a->type);
        unsigned char transport = strncmp(a->type, "Binary", 6) == 0 ? 2 : 1;

        put_len32(c, nl);
        EVP_DigestUpdate(c, a->name, nl);
        put_len32(c, tl);
        EVP_DigestUpdate(c, a->type, tl);
        EVP_DigestUpdate(c, &transport, 1);
        put_len32(c, a->len);
        EVP_DigestUpdate(c, a->value, a->len);
    }
    md5_end(c, out);
}

void
sl_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    sl_assert(EVP_Digest(data, len, d, &n, EVP_sha256(), NULL) == 1 && n == 32);
    to_hex(d, n, out);
}

/* ---- Ids ---- */

static _Thread_local uint64_t rng[4];
static _Thread_local int rng_seeded;

static inline uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
rng_next(void)
{
    uint64_t r, t;

    if (!rng_seeded) {
        if (getrandom(rng, sizeof(rng), 0) != (ssize_t)sizeof(rng)) {
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            rng[0] = (uint64_t)ts.tv_nsec ^ 0x9e3779b97f4a7c15ULL;
            rng[1] = (uint64_t)ts.tv_sec * 6364136223846793005ULL;
            rng[2] = (uint64_t)getpid() | 1;
            rng[3] = 0xda942042e4dd58b5ULL;
        }
        rng_seeded = 1;
    }
    r = rotl(rng[1] * 5, 7) * 9;
    t = rng[1] << 17;
    rng[2] ^= rng[0];
    rng[3] ^= rng[1];
    rng[1] ^= rng[2];
    rng[0] ^= rng[3];
    rng[2] ^= t;
    rng[3] = rotl(rng[3], 45);
    return r;
}

void
sl_uuid4(char out[SL_MSG_ID_LEN + 1])
{
    unsigned char b[16];
    uint64_t a = rng_next(), c = rng_next();
    int o = 0;

    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hexdig[b[i] >> 4];
        out[o++] = hexdig[b[i] & 15];
    }
    out[o] = '\0';
}

size_t
sl_msg_in_size(const sl_msg_in_t *m)
{
    size_t n = m->body_len;

    for (uint32_t i = 0; i < m->nattrs; i++)
        n += strlen(m->attrs[i].name) + strlen(m->attrs[i].type) + m->attrs[i].len;
    return n;
}
