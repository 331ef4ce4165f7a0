/* The admin API's bearer token: checked, generated, and compared without leaking its bytes. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_MIN 16

int admin_token_check(const char *s) {
  size_t n = strlen(s), i = 0;
  if (n < TOKEN_MIN || n > ADMIN_TOKEN_MAX) return -1;
  for (; i < n && s[i] != '='; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || strchr("-._~+/", s[i])))
      return -1;
  for (; i < n; i++)
    if (s[i] != '=') return -1;
  return 0;
}

static int write_token_file(const mock_server *srv) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/admin-token", srv->opts.data_dir) >= (int)sizeof path)
    return -1;
  /* O_NOFOLLOW: a symlink planted in the data directory must not redirect the secret. */
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    fprintf(stderr, "mpsync-mock-server: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t n = strlen(srv->admin_token);
  /* A file left by an older run may have had wider permissions. */
  int rc = fchmod(fd, 0600) == 0 && write(fd, srv->admin_token, n) == (ssize_t)n &&
                   write(fd, "\n", 1) == 1
               ? 0
               : -1;
  if (close(fd) != 0) rc = -1;
  if (rc) fprintf(stderr, "mpsync-mock-server: cannot write %s\n", path);
  return rc;
}

int admin_token_setup(mock_server *srv) {
  if (srv->opts.admin_token) {
    snprintf(srv->admin_token, sizeof srv->admin_token, "%s", srv->opts.admin_token);
  } else {
    unsigned char raw[ADMIN_TOKEN_GENERATED_LEN / 2];
    int rc = uv_random(NULL, NULL, raw, sizeof raw, 0, NULL);
    if (rc) {
      fprintf(stderr, "mpsync-mock-server: no randomness for the admin token: %s\n",
              uv_strerror(rc));
      return -1;
    }
    for (size_t i = 0; i < sizeof raw; i++)
      snprintf(srv->admin_token + 2 * i, 3, "%02x", raw[i]);
    fprintf(stderr, "mpsync-mock-server: admin token %s\n", srv->admin_token);
  }
  return write_token_file(srv);
}

int admin_token_authorised(const mock_server *srv, const char *authorization) {
  static const char scheme[] = "Bearer ";
  const char *a = authorization;
  /* The scheme name is case-insensitive (RFC 9110 §11.1); it is no secret. */
  if (!a || strncasecmp(a, scheme, sizeof scheme - 1) != 0) return 0;
  a += sizeof scheme - 1;
  const char *t = srv->admin_token;
  size_t na = strlen(a), nt = strlen(t);
  if (!nt) return 0;
  /* Every byte of the longer string is visited whatever the contents: the time says nothing of
   * where the given token first differs (the lengths are compared last, in the same sum). */
  size_t n = na > nt ? na : nt;
  unsigned char diff = (unsigned char)(na != nt);
  for (size_t i = 0; i < n; i++)
    diff |= (unsigned char)((i < na ? (unsigned char)a[i] : 0) ^ (i < nt ? (unsigned char)t[i] : 0));
  return diff == 0;
}
