/* Small helpers of the mock server: clocks, text checks, address parsing and socket writes. */
#include "util.h"

#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <uv.h>

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

size_t utf8_count(const char *s) {
  size_t n = 0;
  /* Every code point has exactly one byte that is not a continuation byte (10xxxxxx). */
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if ((*p & 0xC0) != 0x80) n++;
  return n;
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
