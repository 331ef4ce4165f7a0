/* Small helpers of the mock server: clocks, text checks, address parsing and socket writes. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <uv.h>

#include "util/utf8.h"

int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t random_epoch(void) {
  uint64_t v = 0;
  /* Unpredictable across restarts and data dirs, so a reset stream never reuses an old epoch;
   * the clock is only a fallback if the kernel cannot give random bytes. */
  while (v == 0) {
    if (uv_random(NULL, NULL, &v, sizeof v, 0, NULL) != 0) v = (uint64_t)wall_ms() * 2654435761u;
    v &= INT64_MAX;
  }
  return v;
}

static int hexval(int c);

int json_lenient_utf8;

size_t utf8_count(const char *s) { return mps_utf8_count((const uint8_t *)s, strlen(s)); }

/* ---- strict JSON ---- */

typedef struct jscan {
  const uint8_t *p, *end;
  const char *err;
  uint8_t *keys; /* the decoded keys of the open objects, each as [len][bytes], innermost last */
  size_t keys_len, keys_cap;
} jscan;

static int jfail(jscan *j, const char *why) {
  if (!j->err) j->err = why;
  return -1;
}

static void jws(jscan *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int jhex4(jscan *j, uint32_t *v) {
  if (j->end - j->p < 4) return jfail(j, "bad \\u escape");
  *v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(j->p[i]);
    if (h < 0) return jfail(j, "bad \\u escape");
    *v = *v << 4 | (uint32_t)h;
  }
  j->p += 4;
  return 0;
}

/* Appends decoded key bytes; a key past JSON_MAX_KEY is refused. */
static int jkey_put(jscan *j, const void *b, size_t n, size_t *klen) {
  if (*klen + n > JSON_MAX_KEY) return jfail(j, "key too long");
  memcpy(j->keys + j->keys_len + 2 + *klen, b, n);
  *klen += n;
  return 0;
}

/* Reads a string at '"'. As a key (key set) its decoded bytes go after the open keys. */
static int jstring(jscan *j, int key, size_t *klen) {
  j->p++;
  while (j->p < j->end) {
    uint8_t c = *j->p;
    uint8_t enc[4];
    size_t n;
    if (c == '"') {
      j->p++;
      return 0;
    }
    if (c < 0x20) return jfail(j, c ? "control character in a string" : "NUL in a string");
    if (c == '\\') {
      if (++j->p >= j->end) break;
      uint8_t e = *j->p++;
      uint32_t cp;
      const char *simple = strchr("\"\\/bfnrt", e);
      if (e && simple) {
        static const char out[] = "\"\\/\b\f\n\r\t";
        enc[0] = (uint8_t)out[simple - "\"\\/bfnrt"];
        n = 1;
      } else if (e == 'u') {
        if (jhex4(j, &cp)) return -1;
        if (cp == 0) return jfail(j, "\\u0000 in a string");
        if (cp >= 0xDC00 && cp <= 0xDFFF) return jfail(j, "lone surrogate");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t lo;
          if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
            return jfail(j, "lone surrogate");
          j->p += 2;
          if (jhex4(j, &lo)) return -1;
          if (lo < 0xDC00 || lo > 0xDFFF) return jfail(j, "lone surrogate");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        n = mps_utf8_put(cp, enc);
      } else {
        return jfail(j, "bad escape");
      }
      if (key && jkey_put(j, enc, n, klen)) return -1;
      continue;
    }
    uint32_t cp;
    n = mps_utf8_next(j->p, (size_t)(j->end - j->p), &cp);
    if (cp == MPS_UTF8_BAD && !json_lenient_utf8) return jfail(j, "invalid UTF-8");
    if (key && jkey_put(j, j->p, n, klen)) return -1;
    j->p += n;
  }
  return jfail(j, "unterminated string");
}

static int jdigits(jscan *j) {
  const uint8_t *start = j->p;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
  return j->p > start ? 0 : jfail(j, "bad number");
}

static int jnumber(jscan *j) {
  if (*j->p == '-') j->p++;
  if (j->p < j->end && *j->p == '0')
    j->p++;
  else if (jdigits(j))
    return -1;
  if (j->p < j->end && *j->p == '.') {
    j->p++;
    if (jdigits(j)) return -1;
  }
  if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
    j->p++;
    if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
    if (jdigits(j)) return -1;
  }
  return 0;
}

static int jvalue(jscan *j, int depth);

static int jobject(jscan *j, int depth) {
  size_t base = j->keys_len, members = 0;
  j->p++;
  jws(j);
  if (j->p < j->end && *j->p == '}') {
    j->p++;
    return 0;
  }
  for (;;) {
    jws(j);
    if (j->p >= j->end || *j->p != '"') return jfail(j, "expected a key");
    if (++members > JSON_MAX_MEMBERS) return jfail(j, "too many members");
    if (j->keys_cap - j->keys_len < 2 + JSON_MAX_KEY) {
      size_t cap = j->keys_cap ? j->keys_cap * 2 : 4096;
      uint8_t *k = realloc(j->keys, cap);
      if (!k) return jfail(j, "out of memory");
      j->keys = k;
      j->keys_cap = cap;
    }
    size_t klen = 0;
    if (jstring(j, 1, &klen)) return -1;
    uint8_t *mine = j->keys + j->keys_len;
    for (size_t at = base; at < j->keys_len; at += 2 + (size_t)(j->keys[at] << 8 | j->keys[at + 1]))
      if ((size_t)(j->keys[at] << 8 | j->keys[at + 1]) == klen && !memcmp(j->keys + at + 2, mine + 2, klen))
        return jfail(j, "duplicate key");
    mine[0] = (uint8_t)(klen >> 8);
    mine[1] = (uint8_t)klen;
    j->keys_len += 2 + klen;
    jws(j);
    if (j->p >= j->end || *j->p++ != ':') return jfail(j, "expected ':'");
    if (jvalue(j, depth)) return -1;
    jws(j);
    if (j->p < j->end && *j->p == ',') {
      j->p++;
      continue;
    }
    if (j->p < j->end && *j->p == '}') {
      j->p++;
      j->keys_len = base; /* the keys of a closed object no longer clash with anything */
      return 0;
    }
    return jfail(j, "expected ',' or '}'");
  }
}

static int jarray(jscan *j, int depth) {
  j->p++;
  jws(j);
  if (j->p < j->end && *j->p == ']') {
    j->p++;
    return 0;
  }
  for (;;) {
    if (jvalue(j, depth)) return -1;
    jws(j);
    if (j->p < j->end && *j->p == ',') {
      j->p++;
      continue;
    }
    if (j->p < j->end && *j->p == ']') {
      j->p++;
      return 0;
    }
    return jfail(j, "expected ',' or ']'");
  }
}

static int jliteral(jscan *j, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0) return jfail(j, "not JSON");
  j->p += n;
  return 0;
}

static int jvalue(jscan *j, int depth) {
  jws(j);
  if (j->p >= j->end) return jfail(j, "value expected");
  if (depth >= JSON_MAX_DEPTH && (*j->p == '{' || *j->p == '[')) return jfail(j, "nested too deep");
  switch (*j->p) {
    case '{': return jobject(j, depth + 1);
    case '[': return jarray(j, depth + 1);
    case '"': return jstring(j, 0, NULL);
    case 't': return jliteral(j, "true");
    case 'f': return jliteral(j, "false");
    case 'n': return jliteral(j, "null");
    default:
      if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) return jnumber(j);
      return jfail(j, "not JSON");
  }
}

const char *json_strict_object(const char *s, size_t n) {
  jscan j = {.p = (const uint8_t *)s, .end = (const uint8_t *)s + n};
  jws(&j);
  if (j.p >= j.end) return "empty body";
  if (*j.p != '{') return "not a JSON object";
  if (jvalue(&j, 0) == 0) {
    jws(&j);
    if (j.p != j.end) jfail(&j, "trailing bytes after the object");
  }
  free(j.keys);
  return j.err;
}

int is_dotted_numeric(const char *s) {
  int digits = 0;
  if (!*s) return 0;
  for (; *s; s++) {
    if (isdigit((unsigned char)*s)) {
      digits++;
    } else if (*s == '.' && digits) {
      digits = 0;
    } else {
      return 0;
    }
  }
  return digits > 0;
}

/* Reads one numeric segment and moves *p past it and its dot; non-digits end the segment. */
static unsigned long long next_segment(const char **p) {
  unsigned long long v = 0;
  while (isdigit((unsigned char)**p)) {
    if (v < 100000000000000000ULL) v = v * 10 + (unsigned)(**p - '0');
    (*p)++;
  }
  while (**p && **p != '.') (*p)++;
  if (**p == '.') (*p)++;
  return v;
}

int version_cmp(const char *a, const char *b) {
  while (*a || *b) {
    unsigned long long x = next_segment(&a), y = next_segment(&b);
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

int str_ieq(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

int parse_host_port(const char *arg, struct sockaddr_storage *out) {
  char host[256];
  const char *port;
  if (arg[0] == '[') {
    const char *end = strchr(arg, ']');
    if (!end || end[1] != ':' || (size_t)(end - arg - 1) >= sizeof host) return -1;
    memcpy(host, arg + 1, (size_t)(end - arg - 1));
    host[end - arg - 1] = '\0';
    port = end + 2;
  } else {
    const char *colon = strrchr(arg, ':');
    if (!colon || (size_t)(colon - arg) >= sizeof host) return -1;
    memcpy(host, arg, (size_t)(colon - arg));
    host[colon - arg] = '\0';
    port = colon + 1;
  }
  char *end;
  long p = strtol(port, &end, 10);
  if (!*port || *end || p < 0 || p > 65535 || !host[0]) return -1;
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  if (getaddrinfo(host, port, &hints, &res) != 0 || !res) return -1;
  memset(out, 0, sizeof *out);
  memcpy(out, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

void format_sockaddr(const struct sockaddr_storage *ss, char *out, size_t n) {
  char ip[64] = "";
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    uv_ip6_name(a, ip, sizeof ip);
    snprintf(out, n, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    uv_ip4_name(a, ip, sizeof ip);
    snprintf(out, n, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
  }
}

typedef struct write_copy {
  uv_write_t req;
  uv_buf_t buf;
  char data[];
} write_copy;

static void on_write_copy(uv_write_t *req, int status) {
  (void)status; /* a failed write surfaces as a read error or EOF on the same stream */
  free(req);
}

int stream_write_copy(uv_stream_t *s, const void *data, size_t n) {
  if (n == 0) return 0;
  write_copy *w = malloc(sizeof *w + n);
  if (!w) return UV_ENOMEM;
  memcpy(w->data, data, n);
  w->buf = uv_buf_init(w->data, (unsigned)n);
  int rc = uv_write(&w->req, s, &w->buf, 1, on_write_copy);
  if (rc) free(w);
  return rc;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

void url_decode(char *s) {
  char *o = s;
  for (; *s; s++) {
    if (*s == '+') {
      *o++ = ' ';
    } else if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
      *o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
      s += 2;
    } else {
      *o++ = *s;
    }
  }
  *o = '\0';
}

int query_is_clean(const char *query) {
  size_t n = strlen(query);
  char *copy = malloc(n + 1);
  if (!copy) return 0;
  int clean = 1;
  /* A %00 decodes to a NUL, and the decoded text must be UTF-8 like any other text. */
  for (const char *p = query; *p && clean; p++)
    if (*p == '%' && p[1] == '0' && p[2] == '0') clean = 0;
  memcpy(copy, query, n + 1);
  url_decode(copy);
  if (clean) clean = utf8_count(copy) != (size_t)-1;
  free(copy);
  return clean;
}

int query_get(const char *query, const char *key, char *out, size_t n) {
  size_t klen = strlen(key);
  const char *p = query;
  while (p && *p) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
      size_t vlen = len - klen - 1;
      if (vlen >= n) vlen = n - 1;
      memcpy(out, p + klen + 1, vlen);
      out[vlen] = '\0';
      url_decode(out);
      return 1;
    }
    if (len == klen && strncmp(p, key, klen) == 0) {
      out[0] = '\0';
      return 1;
    }
    p = amp ? amp + 1 : NULL;
  }
  return 0;
}

int json_save_file(const char *path, cJSON *o) {
  char tmp[4200];
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
    free(text);
    return -1;
  }
  FILE *f = text ? fopen(tmp, "w") : NULL;
  int rc = f && fputs(text, f) >= 0 ? 0 : -1;
  if (f && fclose(f) != 0) rc = -1;
  if (rc == 0 && rename(tmp, path) != 0) rc = -1;
  free(text);
  return rc;
}
