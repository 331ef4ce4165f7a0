/* mpsync-bench: a loopback TCP proxy that counts the bytes a long-link puts on the wire. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

struct count_proxy {
  int listen_fd;
  int target_port;
  int wake[2];
  pthread_t thread;
  _Atomic uint64_t up, down, up_chunks;
};

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    fd = -1;
  }
  return fd;
}

/* One connection at a time is all the idle measurement needs: a new one replaces the old. */
static void *proxy_main(void *arg) {
  count_proxy *p = arg;
  int cli = -1, srv = -1;
  char buf[65536];
  for (;;) {
    struct pollfd f[4] = {{p->wake[0], POLLIN, 0}, {p->listen_fd, POLLIN, 0}, {cli, POLLIN, 0},
                          {srv, POLLIN, 0}};
    if (poll(f, 4, -1) < 0) continue;
    if (f[0].revents) break;
    if (f[1].revents & POLLIN) {
      int fd = accept(p->listen_fd, NULL, NULL);
      if (fd >= 0) {
        if (cli >= 0) close(cli);
        if (srv >= 0) close(srv);
        cli = fd;
        srv = connect_to(p->target_port);
        if (srv < 0) {
          close(cli);
          cli = -1;
        }
      }
      continue;
    }
    for (int i = 2; i < 4; i++) {
      if (!(f[i].revents & (POLLIN | POLLHUP | POLLERR)) || f[i].fd < 0) continue;
      ssize_t n = read(f[i].fd, buf, sizeof buf);
      int to = i == 2 ? srv : cli;
      if (n <= 0 || send(to, buf, (size_t)n, MSG_NOSIGNAL) != n) {
        close(cli);
        close(srv);
        cli = srv = -1;
        break;
      }
      if (i == 2) {
        p->up += (uint64_t)n;
        p->up_chunks++;
      } else {
        p->down += (uint64_t)n;
      }
    }
  }
  if (cli >= 0) close(cli);
  if (srv >= 0) close(srv);
  return NULL;
}

count_proxy *proxy_start(int target_port, int *listen_port) {
  count_proxy *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->target_port = target_port;
  p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(p->listen_fd, 4) != 0 || getsockname(p->listen_fd, (struct sockaddr *)&a, &len) != 0 ||
      pipe(p->wake) != 0) {
    if (p->listen_fd >= 0) close(p->listen_fd);
    free(p);
    return NULL;
  }
  *listen_port = ntohs(a.sin_port);
  if (pthread_create(&p->thread, NULL, proxy_main, p) != 0) {
    close(p->listen_fd);
    close(p->wake[0]);
    close(p->wake[1]);
    free(p);
    return NULL;
  }
  return p;
}

void proxy_counts(count_proxy *p, uint64_t *up, uint64_t *down, uint64_t *up_chunks) {
  *up = p->up;
  *down = p->down;
  *up_chunks = p->up_chunks;
}

void proxy_stop(count_proxy *p) {
  if (!p) return;
  if (write(p->wake[1], "x", 1) != 1) {
    /* the thread then never wakes; nothing better to do in a benchmark */
  }
  pthread_join(p->thread, NULL);
  close(p->listen_fd);
  close(p->wake[0]);
  close(p->wake[1]);
  free(p);
}
