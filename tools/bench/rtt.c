/* mpsync-bench: round trips from start to the first oplog, through the fault proxy's added delay (issue 18). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "mpsync/mpsync.h"

/* A figure that depends on one network's round trips is taken as a median: one slow scheduling
 * of the four processes on two cores must not move it by a round trip. */
#define RTT_ROUNDS 5

/* ---------------------------------------------------------------- the fault proxy, as a child */

typedef struct fproxy {
  pid_t pid;
  FILE *to;   /* its command stdin */
  FILE *from; /* its stdout: the port line, then "ok" per delay */
  int port;
} fproxy;

static void fproxy_stop(fproxy *p) {
  if (p->to) fclose(p->to); /* end of its stdin: it stops its loop and exits */
  if (p->from) fclose(p->from);
  if (p->pid > 0) {
    int st;
    for (int i = 0; i < 500 && waitpid(p->pid, &st, WNOHANG) == 0; i++) sleep_ms(10);
    if (waitpid(p->pid, &st, WNOHANG) == 0) {
      kill(p->pid, SIGKILL);
      waitpid(p->pid, &st, 0);
    }
  }
  memset(p, 0, sizeof *p);
}

/* python3 script TARGET; delay_s > 0 delays each direction of every connection by that much. */
static int fproxy_start(fproxy *p, const char *script, int target, double delay_s) {
  memset(p, 0, sizeof *p);
  int in[2], out[2];
  if (pipe(in) != 0) return -1;
  if (pipe(out) != 0) {
    close(in[0]);
    close(in[1]);
    return -1;
  }
  char port[16];
  snprintf(port, sizeof port, "%d", target);
  p->pid = fork();
  if (p->pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    execlp("python3", "python3", script, port, (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  p->to = fdopen(in[1], "w");
  p->from = fdopen(out[0], "r");
  if (p->pid < 0 || !p->to || !p->from) {
    if (!p->to) close(in[1]);
    if (!p->from) close(out[0]);
    fproxy_stop(p);
    return -1;
  }
  char line[256];
  if (!fgets(line, sizeof line, p->from) ||
      sscanf(line, "fault proxy on 127.0.0.1:%d", &p->port) != 1) {
    fproxy_stop(p);
    return -1;
  }
  if (delay_s > 0) {
    fprintf(p->to, "delay %.4f both sticky\n", delay_s);
    fflush(p->to);
    if (!fgets(line, sizeof line, p->from) || strncmp(line, "ok", 2) != 0) {
      fproxy_stop(p);
      return -1;
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- one timed start */

typedef struct first_wait {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t first_us;
} first_wait;

static void on_first(mpsync_client *c, const mpsync_message *m, void *ud) {
  first_wait *w = ud;
  mpsync_report(c, m->biz, m->id);
  uint64_t t = now_us();
  pthread_mutex_lock(&w->mu);
  if (!w->first_us) w->first_us = t;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* ms from mpsync_client_new to the first callback, -1 on failure or after 10 s. */
static double timed_start(const rtt_spec *s, int port, const char *dir, const char *device) {
  first_wait w = {.first_us = 0};
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cv, NULL);
  mpsync_config cfg;
  mpsync_config_init(&cfg, sizeof cfg);
  cfg.host = "127.0.0.1";
  cfg.port = (uint16_t)port;
  cfg.instance_id = BENCH_INSTANCE;
  cfg.data_dir = dir;
  cfg.device_id = device;
  cfg.plaintext = !s->tls;
  cfg.ca_file = s->tls ? s->ca : NULL;
  cfg.server_name = "localhost";
  cfg.delivery_threads = 1;
  double ms = -1;
  mpsync_client *c = NULL;
  uint64_t t0 = now_us();
  if (mpsync_client_new(&cfg, &c) == 0 && mpsync_register_biz(c, BENCH_BIZ, on_first, &w) == 0 &&
      mpsync_foreground(c) == 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&w.mu);
    while (!w.first_us)
      if (pthread_cond_timedwait(&w.cv, &w.mu, &ts) == ETIMEDOUT) break;
    if (w.first_us) ms = (double)(w.first_us - t0) / 1e3;
    pthread_mutex_unlock(&w.mu);
  }
  mpsync_client_free(c);
  pthread_mutex_destroy(&w.mu);
  pthread_cond_destroy(&w.cv);
  return ms;
}

static int push_to(http_conn *h, const char *device, const char *third) {
  char body[1024], code[64];
  size_t len = push_body(body, sizeof body, device, third, 16);
  return http_post(h, "/webapi/sync/single?instanceId=" BENCH_INSTANCE, body, len, code,
                   sizeof code) == 200
             ? 0
             : -1;
}

/* Medians over RTT_ROUNDS devices through the proxy p: each a fresh install (empty data dir),
 * then a start of the same install with one oplog queued while it was away. */
static int run_through(const rtt_spec *s, const fproxy *p, const char *tag, double *fresh_ms,
                       double *resumed_ms) {
  double fresh[RTT_ROUNDS], resumed[RTT_ROUNDS];
  http_conn h = {.fd = -1, .port = s->http_port};
  int rc = -1;
  for (int i = 0; i < RTT_ROUNDS; i++) {
    char dir[700], device[64], third[64];
    snprintf(dir, sizeof dir, "%s/rtt-%s-%d", s->base, tag, i);
    snprintf(device, sizeof device, "bench-rtt-%s-%s-%d", s->tls ? "tls" : "plain", tag, i);
    snprintf(third, sizeof third, "%s-fresh-%d", tag, i);
    if (push_to(&h, device, third) != 0 ||
        (fresh[i] = timed_start(s, p->port, dir, device)) < 0)
      goto done;
    snprintf(third, sizeof third, "%s-resumed-%d", tag, i);
    if (push_to(&h, device, third) != 0 ||
        (resumed[i] = timed_start(s, p->port, dir, device)) < 0)
      goto done;
    rm_rf(dir);
  }
  *fresh_ms = quantile(fresh, RTT_ROUNDS, 0.5);
  *resumed_ms = quantile(resumed, RTT_ROUNDS, 0.5);
  rc = 0;
done:
  http_close(&h);
  return rc;
}

int rtt_to_first_oplog(const rtt_spec *s, rtt_result *out) {
  memset(out, 0, sizeof *out);
  out->added_rtt_ms = 2 * s->delay_ms;
  fproxy plain, slow;
  if (fproxy_start(&plain, s->proxy_script, s->link_port, 0) != 0) return -1;
  if (fproxy_start(&slow, s->proxy_script, s->link_port, s->delay_ms / 1e3) != 0) {
    fproxy_stop(&plain);
    return -1;
  }
  int rc = run_through(s, &plain, "undelayed", &out->fresh_ms[0], &out->resumed_ms[0]);
  if (rc == 0) rc = run_through(s, &slow, "delayed", &out->fresh_ms[1], &out->resumed_ms[1]);
  fproxy_stop(&plain);
  fproxy_stop(&slow);
  if (rc) return -1;
  /* The proxy answers the client's SYN itself, undelayed: TCP's own round trip is not in the
   * difference, and is added back as the one it costs on a real network. */
  out->fresh_data_rtt = (out->fresh_ms[1] - out->fresh_ms[0]) / out->added_rtt_ms;
  out->resumed_data_rtt = (out->resumed_ms[1] - out->resumed_ms[0]) / out->added_rtt_ms;
  out->fresh_rtt = out->fresh_data_rtt + 1;
  out->resumed_rtt = out->resumed_data_rtt + 1;
  out->ok = 1;
  return 0;
}
