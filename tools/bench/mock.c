/* mpsync-bench: runs the mock server as a child process and pushes to it over keep-alive HTTP/1.1. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

/* ---- the server process ---- */

static int port_of(const char *line, const char *key) {
  const char *p = strstr(line, key);
  int port = 0;
  if (p && sscanf(p + strlen(key), "%*[^:]:%d", &port) != 1) port = 0;
  return port;
}

static int spawn_once(mock_proc *m, const char *exe, const char *biz_file, const char *cert,
                      const char *key, const char *const *extra, const char *log_path) {
  const char *argv[40];
  size_t n = 0;
  argv[n++] = exe;
  argv[n++] = "--http";
  argv[n++] = "127.0.0.1:0";
  argv[n++] = "--link";
  argv[n++] = "127.0.0.1:0";
  argv[n++] = "--data";
  argv[n++] = m->data;
  argv[n++] = "--biz-file";
  argv[n++] = biz_file;
  argv[n++] = "--admin-token"; /* push_bulk uses the admin API */
  argv[n++] = BENCH_ADMIN_TOKEN;
  if (cert && key) {
    argv[n++] = "--link-tls";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--cert";
    argv[n++] = cert;
    argv[n++] = "--key";
    argv[n++] = key;
  }
  for (size_t i = 0; extra && extra[i] && n < 39; i++) argv[n++] = extra[i];
  argv[n] = NULL;
  int out[2];
  if (pipe(out) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  posix_spawn_file_actions_addopen(&fa, 2, log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
  int rc = posix_spawn(&m->pid, exe, &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    m->pid = 0;
    return -1;
  }
  FILE *r = fdopen(out[0], "r");
  char line[512] = "";
  if (!r || !fgets(line, sizeof line, r)) line[0] = '\0';
  if (r) fclose(r);
  m->http_port = port_of(line, "http=");
  m->link_port = port_of(line, " link=");
  m->tls_port = port_of(line, "link_tls=");
  if (!m->http_port || !m->link_port || (cert && !m->tls_port)) {
    mock_stop(m);
    return -1;
  }
  return 0;
}

int mock_start(mock_proc *m, const char *exe, const char *data_dir, const char *biz_file,
               const char *cert, const char *key, const char *const *extra, const char *log_path) {
  memset(m, 0, sizeof *m);
  snprintf(m->data, sizeof m->data, "%s", data_dir);
  snprintf(m->log, sizeof m->log, "%s", log_path);
  if (spawn_once(m, exe, biz_file, cert, key, extra, log_path) == 0) return 0;
  /* A server without a TLS listener yet: plaintext only, TLS figures become null. */
  if (cert && spawn_once(m, exe, biz_file, NULL, NULL, extra, log_path) == 0) return 0;
  return -1;
}

int mock_stop(mock_proc *m) {
  if (m->pid <= 0) return 0;
  kill(m->pid, SIGTERM);
  int st = 0;
  waitpid(m->pid, &st, 0);
  m->pid = 0;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* ---- HTTP ---- */

int http_open(http_conn *h, int port) {
  h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  h->port = port;
  h->have = 0;
  if (h->fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(h->fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(h->fd);
    h->fd = -1;
    return -1;
  }
  return 0;
}

void http_close(http_conn *h) {
  if (h->fd >= 0) close(h->fd);
  h->fd = -1;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads until buf holds `want` bytes; 0, or -1 when the peer closed. */
static int fill(http_conn *h, size_t want) {
  while (h->have < want) {
    if (want > sizeof h->buf) return -1;
    ssize_t r = recv(h->fd, h->buf + h->have, sizeof h->buf - h->have, 0);
    if (r <= 0) return -1;
    h->have += (size_t)r;
  }
  return 0;
}

int http_post(http_conn *h, const char *path, const char *body, size_t len, char *code,
              size_t code_len) {
  if (h->fd < 0 && http_open(h, h->port) != 0) return -1;
  char head[512];
  int hn = snprintf(head, sizeof head,
                    "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "%sContent-Length: %zu\r\n\r\n",
                    path,
                    strncmp(path, "/admin/", 7) ? ""
                                                : "Authorization: Bearer " BENCH_ADMIN_TOKEN "\r\n",
                    len);
  if (write_all(h->fd, head, (size_t)hn) || write_all(h->fd, body, len)) goto fail;
  /* Status line and headers, then exactly Content-Length bytes of body: nothing more general. */
  char *end;
  for (;;) {
    h->buf[h->have < sizeof h->buf ? h->have : sizeof h->buf - 1] = '\0';
    if ((end = strstr(h->buf, "\r\n\r\n"))) break;
    if (fill(h, h->have + 1)) goto fail;
  }
  int status = 0;
  if (sscanf(h->buf, "HTTP/1.%*d %d", &status) != 1) goto fail;
  size_t body_len = 0;
  for (const char *l = strstr(h->buf, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n"))
    if (strncasecmp(l + 2, "Content-Length:", 15) == 0) body_len = strtoul(l + 17, NULL, 10);
  size_t head_len = (size_t)(end - h->buf) + 4;
  if (fill(h, head_len + body_len)) goto fail;
  char saved = h->buf[head_len + body_len];
  h->buf[head_len + body_len] = '\0';
  const char *msg = strstr(h->buf + head_len, "\"msg\":\"");
  if (code && code_len) {
    code[0] = '\0';
    if (msg) snprintf(code, code_len, "%.*s", (int)strcspn(msg + 7, "\""), msg + 7);
  }
  h->buf[head_len + body_len] = saved;
  h->have -= head_len + body_len;
  memmove(h->buf, h->buf + head_len + body_len, h->have);
  return status;
fail:
  http_close(h);
  h->have = 0;
  return -1;
}

size_t push_body(char *out, size_t cap, const char *device, const char *third, size_t payload_len) {
  int n = snprintf(out, cap, "{\"bizType\":\"" BENCH_BIZ "\",\"linkToken\":\"%s\",\"thirdMsgId\":\"%s\","
                   "\"payload\":\"", device, third);
  if (n < 0 || (size_t)n + payload_len + 3 > cap) return 0;
  memset(out + n, 'x', payload_len);
  memcpy(out + n + payload_len, "\"}", 3);
  return (size_t)n + payload_len + 2;
}

typedef struct push_job {
  int port;
  const char *device;
  const char *prefix;
  size_t from, to; /* thirdMsgId numbers [from, to) */
  size_t payload_len;
  int failed;
} push_job;

static void *push_thread(void *arg) {
  push_job *j = arg;
  http_conn h = {.fd = -1, .port = j->port};
  char *body = malloc(j->payload_len + 512);
  char third[96], code[64];
  for (size_t i = j->from; body && i < j->to && !j->failed; i++) {
    snprintf(third, sizeof third, "%s-%zu", j->prefix, i);
    size_t len = push_body(body, j->payload_len + 512, j->device, third, j->payload_len);
    int st = http_post(&h, "/webapi/sync/single?instanceId=" BENCH_INSTANCE, body, len, code,
                       sizeof code);
    if (st != 200 || (strcmp(code, "SUCCESS") && strcmp(code, "NOT_ONLINE"))) {
      fprintf(stderr, "mpsync-bench: push %s answered %d %s\n", third, st, code);
      j->failed = 1;
    }
  }
  if (!body) j->failed = 1;
  free(body);
  http_close(&h);
  return NULL;
}

int push_bulk(int port, const char *device, const char *prefix, size_t n, size_t payload_len) {
  char body[8192], code[64];
  size_t len = push_body(body, sizeof body, device, prefix, payload_len);
  int extra = len ? snprintf(body + len - 1, sizeof body - len + 1, ",\"count\":%zu}", n) : -1;
  if (extra < 0 || (size_t)extra >= sizeof body - len + 1) return -1;
  http_conn h = {.fd = -1, .port = port};
  int status = http_post(&h, "/admin/push/bulk?instanceId=" BENCH_INSTANCE, body,
                         len - 1 + (size_t)extra, code, sizeof code);
  http_close(&h);
  return status == 200 && strcmp(code, "SUCCESS") == 0 ? 0 : -1;
}

int push_many(int port, const char *device, const char *prefix, size_t n, size_t payload_len,
              unsigned conns) {
  if (conns < 1) conns = 1;
  if (conns > 16) conns = 16;
  push_job jobs[16];
  pthread_t t[16];
  for (unsigned i = 0; i < conns; i++) {
    jobs[i] = (push_job){port, device, prefix, n * i / conns, n * (i + 1) / conns, payload_len, 0};
    if (pthread_create(&t[i], NULL, push_thread, &jobs[i]) != 0) return -1;
  }
  int failed = 0;
  for (unsigned i = 0; i < conns; i++) {
    pthread_join(t[i], NULL);
    failed |= jobs[i].failed;
  }
  return failed ? -1 : 0;
}
