/* Strict UTF-8 (Unicode Table 3-7) and JSON string quoting, shared by the client, the CLI and the mock server. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPS_UTF8_H
#define MPS_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* What mps_utf8_next() stores for an ill-formed sequence. */
#define MPS_UTF8_BAD 0xFFFFFFFFu

/* Decodes the sequence at s[0..n) (n >= 1). Returns the bytes it takes and stores the code point;
 * for an ill-formed sequence it returns the length of its maximal subpart (Unicode §3.9, "U+FFFD
 * substitution of maximal subparts": 1 to 3 bytes) and stores MPS_UTF8_BAD, so that a writer that
 * replaces each such part by one U+FFFD replaces exactly what other conforming decoders do. */
size_t mps_utf8_next(const uint8_t *s, size_t n, uint32_t *cp);

/* Code points in s[0..n), or (size_t)-1 when s is not well-formed UTF-8 (surrogates, overlongs,
 * truncated or stray bytes). NUL counts as a code point: callers that refuse it check for it. */
size_t mps_utf8_count(const uint8_t *s, size_t n);

/* Appends the UTF-8 encoding of a Unicode scalar value to out (room for 4 bytes); returns its
 * length. */
size_t mps_utf8_put(uint32_t cp, uint8_t *out);

/* Writes s[0..n) as a quoted JSON string that every strict parser takes: each maximal ill-formed
 * subpart becomes one U+FFFD, '"' and '\\' are escaped, control characters and U+2028/2029 go
 * out as \u00XX / \u2028 (JavaScript source before ES2019 cannot hold those two raw). Returns
 * the length; with out NULL it only measures (at most 6 * n + 2), so callers size, then write. */
size_t mps_json_string(const uint8_t *s, size_t n, char *out);

#endif
