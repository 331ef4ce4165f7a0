/* Strict UTF-8 (Unicode Table 3-7) and JSON string quoting, shared by the client, the CLI and the mock server. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "utf8.h"

#include <string.h>

size_t mps_utf8_next(const uint8_t *s, size_t n, uint32_t *cp) {
  uint8_t c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF; /* the second byte's range depends on the first (Table 3-7) */
  uint32_t v;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
    v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    v = c & 0x0F;
    if (c == 0xE0) lo = 0xA0; /* overlong below U+0800 */
    if (c == 0xED) hi = 0x9F; /* surrogates U+D800..DFFF */
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    v = c & 0x07;
    if (c == 0xF0) lo = 0x90; /* overlong below U+10000 */
    if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
  } else {
    *cp = MPS_UTF8_BAD; /* a stray continuation byte, C0, C1 or F5..FF: never in UTF-8 */
    return 1;
  }
  size_t i = 1;
  for (; i <= need; i++) {
    if (i >= n || s[i] < lo || s[i] > hi) {
      *cp = MPS_UTF8_BAD; /* the bytes so far are the maximal subpart */
      return i;
    }
    v = (v << 6) | (s[i] & 0x3F);
    lo = 0x80;
    hi = 0xBF;
  }
  *cp = v;
  return i;
}

size_t mps_utf8_count(const uint8_t *s, size_t n) {
  size_t count = 0;
  for (size_t i = 0; i < n; count++) {
    uint32_t cp;
    i += mps_utf8_next(s + i, n - i, &cp);
    if (cp == MPS_UTF8_BAD) return (size_t)-1;
  }
  return count;
}

size_t mps_utf8_put(uint32_t cp, uint8_t *out) {
  if (cp < 0x80) {
    out[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (uint8_t)(0xC0 | (cp >> 6));
    out[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (uint8_t)(0xE0 | (cp >> 12));
    out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (uint8_t)(0xF0 | (cp >> 18));
  out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (uint8_t)(0x80 | (cp & 0x3F));
  return 4;
}

/* Appends len bytes when writing; always counts them. */
static void emit(char *out, size_t *at, const void *p, size_t len) {
  if (out) memcpy(out + *at, p, len);
  *at += len;
}

size_t mps_json_string(const uint8_t *s, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  size_t at = 0;
  emit(out, &at, "\"", 1);
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t len = mps_utf8_next(s + i, n - i, &cp);
    if (cp == MPS_UTF8_BAD) {
      emit(out, &at, "\xEF\xBF\xBD", 3);
    } else if (cp == '"' || cp == '\\') {
      char esc[2] = {'\\', (char)cp};
      emit(out, &at, esc, 2);
    } else if (cp < 0x20 || cp == 0x2028 || cp == 0x2029) {
      char esc[6] = {'\\', 'u', hex[cp >> 12], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
                     hex[cp & 15]};
      emit(out, &at, esc, 6);
    } else {
      emit(out, &at, s + i, len);
    }
    i += len;
  }
  emit(out, &at, "\"", 1);
  return at;
}
