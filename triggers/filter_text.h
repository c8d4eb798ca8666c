/* filter_text.h - the string tests behind filter.c: case folding, wildcard patterns, IP
 * addresses and CIDR blocks. Private to triggers/filter*.c. Guarded by SLUICE_FILTER_TEXT_H. */
#ifndef SLUICE_FILTER_TEXT_H
#define SLUICE_FILTER_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Case folding ----
 * Lower-cases ASCII and the two-byte UTF-8 letters with a simple case pair (Latin-1,
 * Latin Extended-A, Greek, Cyrillic). Folding never changes a string's length, so an
 * ignore-case test compares bytes at the same offsets as a plain one. */

/* Writes s[0..n) folded into dst (n bytes). */
void sl__filter_fold(const char *s, size_t n, char *dst);

/* Does s[0..n) fold to pat[0..n)? pat is already folded; s may continue past n (its
 * bytes there are not read). */
bool sl__filter_fold_eq(const char *s, const char *pat, size_t n);

/* ---- Wildcards ----
 * A pattern is compiled into its literal runs: chunk i is lit[off_i .. off_i + len[i]),
 * the runs being back to back in lit, with a '*' between consecutive runs. */

typedef struct sl__filter_wild {
    const char *lit;            /* unescaped literal bytes, runs back to back */
    const uint32_t *len;        /* nchunks run lengths */
    uint32_t nchunks;           /* stars + 1 */
} sl__filter_wild_t;

/* Splits pattern s[0..n) into runs: lit gets at most n bytes, len at most n + 1 entries.
 * "\*" is a literal star and "\\" a literal backslash; any other escape, two '*' in a
 * row or more than max_stars '*' is an error: returns -1 with a message in err. Returns
 * the number of runs otherwise. */
int sl__filter_wild_compile(const char *s, size_t n, unsigned max_stars, char *lit,
                            uint32_t *len, char *err, size_t errlen);

/* Does s[0..n) match w? Greedy, leftmost: O(n * pattern) at worst, no backtracking. */
bool sl__filter_wild_match(const sl__filter_wild_t *w, const char *s, size_t n);

/* ---- IP addresses ---- */

/* Parses a dotted-quad IPv4 or an RFC 4291 IPv6 text address (with "::" and a trailing
 * dotted quad allowed; no zone index) from s[0..n) into addr (4 or 16 bytes used).
 * Returns 4, 6, or 0 when s is neither. */
int sl__filter_ip_parse(const char *s, size_t n, uint8_t addr[16]);

/* Parses "address/bits" (or a bare address: all bits) into a network and a mask, with
 * the host bits of net cleared. Returns 4, 6, or 0 when s is not such a block. */
int sl__filter_cidr_parse(const char *s, size_t n, uint8_t net[16], uint8_t mask[16]);

#endif
