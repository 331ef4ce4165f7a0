/* Integration-test harness: spawns the mock server, pushes with curl, records what a client receives. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void make_temp_dir(char *out, size_t len) {
  snprintf(out, len, "/tmp/mpsync-it-XXXXXX");
  if (!mkdtemp(out)) FAIL("mkdtemp: %s", strerror(errno));
}

void rm_rf(const char *dir) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

static pid_t live_servers[8];

void harness_kill_servers(void) {
  for (size_t i = 0; i < 8; i++)
    if (live_servers[i] > 0) {
      kill(live_servers[i], SIGKILL);
      waitpid(live_servers[i], NULL, 0);
      live_servers[i] = 0;
    }
}

static void track(pid_t pid, pid_t replace) {
  for (size_t i = 0; i < 8; i++)
    if (live_servers[i] == replace) {
      live_servers[i] = pid;
      return;
    }
}

void mock_start(mock *m, const char *bin_dir, const char *biz_json) {
  mock_start_with(m, bin_dir, biz_json, NULL);
}

void mock_start_with(mock *m, const char *bin_dir, const char *biz_json, const char *const *extra) {
  memset(m, 0, sizeof *m);
  make_temp_dir(m->dir, sizeof m->dir);
  char biz_path[128], data[128], exe[512];
  snprintf(biz_path, sizeof biz_path, "%s/biz.json", m->dir);
  snprintf(data, sizeof data, "%s/state", m->dir);
  snprintf(exe, sizeof exe, "%s/mpsync-mock-server", bin_dir);
  FILE *f = fopen(biz_path, "w");
  if (!f) FAIL("cannot write %s", biz_path);
  fputs(biz_json, f);
  fclose(f);
  int out[2], in[2];
  if (pipe(out) != 0 || pipe(in) != 0) FAIL("pipe");
  /* Our end of its stdin stays ours: a client or curl we start later must not hold it open. */
  fcntl(in[1], F_SETFD, FD_CLOEXEC);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  char *argv[32] = {exe, "--http", "127.0.0.1:0", "--link", "127.0.0.1:0", "--data", data,
                    "--biz-file", biz_path, "--admin-token", MOCK_ADMIN_TOKEN,
                    "--exit-with-stdin"};
  size_t argc = 12;
  for (size_t i = 0; extra && extra[i] && argc < 31; i++) argv[argc++] = (char *)extra[i];
  argv[argc] = NULL;
  if (posix_spawn(&m->pid, exe, &fa, NULL, argv, environ) != 0) FAIL("cannot start %s", exe);
  track(m->pid, 0);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  close(in[0]);
  m->stdin_fd = in[1];
  FILE *r = fdopen(out[0], "r");
  char line[256] = "";
  if (!fgets(line, sizeof line, r)) FAIL("mock server did not start");
  fclose(r); /* it never writes again: stdout closing does not bother it */
  const char *h = strstr(line, "http="), *l = strstr(line, "link=");
  if (!h || !l) FAIL("unexpected ready line: %s", line);
  if (sscanf(h, "http=%*[^:]:%d", &m->http_port) != 1 ||
      sscanf(l, "link=%*[^:]:%d", &m->link_port) != 1)
    FAIL("unexpected ready line: %s", line);
  const char *t = strstr(line, "link_tls=");
  m->link_tls_port = 0;
  if (t && sscanf(t, "link_tls=%*[^:]:%d", &m->link_tls_port) != 1)
    FAIL("unexpected ready line: %s", line);
}

void mock_stop(mock *m) {
  if (m->pid > 0) {
    kill(m->pid, SIGTERM);
    int status;
    waitpid(m->pid, &status, 0);
    track(0, m->pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) FAIL("mock server exited uncleanly");
    m->pid = 0;
  }
  if (m->stdin_fd > 0) close(m->stdin_fd);
  m->stdin_fd = 0;
  rm_rf(m->dir);
}

const char *mock_push(mock *m, int global, const char *body) {
  static __thread char code[64];
  char cmd[8192];
  int n = snprintf(cmd, sizeof cmd,
                   "curl -s -m 10 -X POST -H 'Content-Type: application/json' "
                   "'http://127.0.0.1:%d/webapi/sync/%s?instanceId=test_app' --data-binary @-",
                   m->http_port, global ? "global" : "single");
  if (n >= (int)sizeof cmd) FAIL("command too long");
  char tmp[128];
  snprintf(tmp, sizeof tmp, "%s/body.json", m->dir);
  FILE *f = fopen(tmp, "w");
  fputs(body, f);
  fclose(f);
  strncat(cmd, " < ", sizeof cmd - strlen(cmd) - 1);
  strncat(cmd, tmp, sizeof cmd - strlen(cmd) - 1);
  FILE *p = popen(cmd, "r");
  char answer[512] = "";
  size_t got = fread(answer, 1, sizeof answer - 1, p);
  answer[got] = '\0';
  pclose(p);
  const char *msg = strstr(answer, "\"msg\":\"");
  if (!msg) FAIL("no result code in answer: %s", answer);
  msg += 7;
  size_t len = strcspn(msg, "\"");
  snprintf(code, sizeof code, "%.*s", (int)len, msg);
  return code;
}

int mock_admin(mock *m, const char *path_and_query) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "curl -s -f -m 10 -X POST -H 'Authorization: Bearer " MOCK_ADMIN_TOKEN "'"
           " 'http://127.0.0.1:%d/admin/%s' >/dev/null",
           m->http_port, path_and_query);
  return system(cmd) == 0 ? 0 : -1;
}

const char *push_text(mock *m, const char *biz, const char *token, const char *third,
                      const char *payload) {
  char body[2048];
  snprintf(body, sizeof body,
           "{\"bizType\":\"%s\",\"linkToken\":\"%s\",\"thirdMsgId\":\"%s\",\"payload\":\"%s\"}",
           biz, token, third, payload);
  return mock_push(m, 0, body);
}

void recorder_init(recorder *r, int report) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->cond, NULL);
  r->report = report;
}

void recorder_cb(mpsync_client *c, const mpsync_message *m, void *ud) {
  recorder *r = ud;
  pthread_mutex_lock(&r->lock);
  int report = r->report;
  pthread_mutex_unlock(&r->lock);
  /* Report before the test can see the message: a test that restarts the client right after
   * seeing it must find it reported, not racing the shutdown. */
  if (report) mpsync_report(c, m->biz, m->id);
  pthread_mutex_lock(&r->lock);
  while (r->block_biz_until && strcmp(r->block_biz, m->biz) == 0) pthread_cond_wait(&r->cond, &r->lock);
  for (size_t i = 0; i < m->count && r->n < sizeof r->items / sizeof r->items[0]; i++) {
    seen *s = &r->items[r->n++];
    snprintf(s->biz, sizeof s->biz, "%s", m->biz);
    snprintf(s->third, sizeof s->third, "%s", mpsync_message_oplog(m, i)->third_msg_id);
    snprintf(s->id, sizeof s->id, "%s", m->id);
    snprintf(s->user, sizeof s->user, "%s", m->user_id);
    s->mk = mpsync_message_oplog(m, i)->id;
    s->delivery = m->delivery;
  }
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->lock);
}

void recorder_state(void *ud, mpsync_state st, const char *reason) {
  (void)reason;
  recorder *r = ud;
  pthread_mutex_lock(&r->lock);
  if (r->n_states < sizeof r->states / sizeof r->states[0]) r->states[r->n_states++] = st;
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->lock);
}

static int wait_until(recorder *r, int (*done)(recorder *, const void *), const void *arg,
                      int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&r->lock);
  int rc = 0;
  while (!done(r, arg))
    if (pthread_cond_timedwait(&r->cond, &r->lock, &until) == ETIMEDOUT) {
      rc = done(r, arg) ? 0 : -1;
      break;
    }
  pthread_mutex_unlock(&r->lock);
  return rc;
}

static int have_n(recorder *r, const void *arg) { return r->n >= *(const size_t *)arg; }

static int have_log(recorder *r, const void *arg) {
  size_t n = r->n_log < 64 ? r->n_log : 64;
  for (size_t i = 0; i < n; i++)
    if (strstr(r->log[i], (const char *)arg)) return 1;
  return 0;
}

void recorder_log(void *ud, mpsync_log_level level, const char *msg) {
  recorder *r = ud;
  if (getenv("MPSYNC_TEST_LOG")) fprintf(stderr, "  [sdk %d] %s\n", (int)level, msg);
  pthread_mutex_lock(&r->lock);
  for (size_t i = 0; i < 4 && r->forbidden[i]; i++)
    if (strstr(msg, r->forbidden[i])) {
      fprintf(stderr, "forbidden text in a log line: %s\n", msg);
      r->forbidden_seen = 1;
    }
  snprintf(r->log[r->n_log++ % 64], sizeof r->log[0], "%s", msg);
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->lock);
}

int recorder_wait_log(recorder *r, const char *text, int timeout_ms) {
  return wait_until(r, have_log, text, timeout_ms);
}

static int have_state(recorder *r, const void *arg) {
  for (size_t i = 0; i < r->n_states; i++)
    if (r->states[i] == *(const int *)arg) return 1;
  return 0;
}

int recorder_wait(recorder *r, size_t n, int timeout_ms) {
  return wait_until(r, have_n, &n, timeout_ms);
}

int recorder_wait_state(recorder *r, mpsync_state st, int timeout_ms) {
  int s = st;
  return wait_until(r, have_state, &s, timeout_ms);
}

void recorder_block(recorder *r, const char *biz) {
  pthread_mutex_lock(&r->lock);
  snprintf(r->block_biz, sizeof r->block_biz, "%s", biz);
  r->block_biz_until = 1;
  pthread_mutex_unlock(&r->lock);
}

void recorder_unblock(recorder *r) {
  pthread_mutex_lock(&r->lock);
  r->block_biz_until = 0;
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->lock);
}

size_t recorder_count(recorder *r) {
  pthread_mutex_lock(&r->lock);
  size_t n = r->n;
  pthread_mutex_unlock(&r->lock);
  return n;
}

seen recorder_get(recorder *r, size_t i) {
  pthread_mutex_lock(&r->lock);
  seen s = r->items[i];
  pthread_mutex_unlock(&r->lock);
  return s;
}

static void log_to_stderr(void *ud, mpsync_log_level level, const char *msg) {
  (void)ud;
  fprintf(stderr, "  [sdk %d] %s\n", (int)level, msg);
}

void client_config(mpsync_config *cfg, mock *m, const char *dir, recorder *r) {
  mpsync_config_init(cfg, sizeof *cfg);
  cfg->host = "127.0.0.1";
  cfg->port = (uint16_t)m->link_port;
  cfg->instance_id = "test_app";
  cfg->data_dir = dir;
  cfg->plaintext = 1;
  cfg->state_fn = recorder_state;
  cfg->user_data = r;
  cfg->log_level = MPSYNC_LOG_DEBUG;
  if (getenv("MPSYNC_TEST_LOG")) cfg->log_fn = log_to_stderr;
}

int listen_loopback(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0 || listen(fd, 4) != 0)
    FAIL("cannot listen on loopback");
  *port = ntohs(sa.sin_port);
  return fd;
}

int run_named_test(const named_test *tests, size_t n, int argc, char **argv, const char **bin_dir) {
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < n; i++) puts(tests[i].name);
    return 0;
  }
  if (argc != 3) {
    fprintf(stderr, "usage: %s BIN_DIR TEST | --list\n", argv[0]);
    return 2;
  }
  *bin_dir = argv[1];
  for (size_t i = 0; i < n; i++)
    if (strcmp(tests[i].name, argv[2]) == 0) {
      tests[i].fn();
      fprintf(stderr, "ok %s\n", argv[2]);
      return 0;
    }
  fprintf(stderr, "no test %s\n", argv[2]);
  return 2;
}
