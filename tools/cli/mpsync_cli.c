/* mpsync-cli: a command-line sync client on the public C API, printing one JSON line per oplog. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/base64.h>

#include "mpsync/mpsync.h"
#include "util/utf8.h"

typedef struct cli {
  int report;
  long count_limit;
  atomic_long printed;
  atomic_int done;
  int verbose;
} cli;

static void usage(FILE *f) {
  fputs("usage: mpsync-cli listen --server HOST:PORT --instance ID --data DIR --biz B1[,B2...]\n"
        "         [--user U [--session S]] [--device D] [--os IOS|ANDROID] [--app-version V]\n"
        "         [--ca FILE] [--pin BASE64_SHA256_OF_SPKI] [--server-name NAME] [--plaintext]\n"
        "         [--no-report] [--count N] [--verbose]\n"
        "TLS is on unless --plaintext; --ca replaces the system CA store.\n"
        "Prints one JSON line per oplog on stdout; state and log lines go to stderr.\n",
        f);
}

static void on_log(void *ud, mpsync_log_level level, const char *msg) {
  (void)ud;
  static const char *names[] = {"error", "warn", "info", "debug"};
  fprintf(stderr, "mpsync-cli: %s: %s\n", names[level], msg);
}

static void on_state(void *ud, mpsync_state st, const char *reason) {
  (void)ud;
  static const char *names[] = {"DISCONNECTED", "CONNECTING", "CONNECTED", "CONNECT_FAILED"};
  fprintf(stderr, "mpsync-cli: state %s%s%s\n", names[st], *reason ? ": " : "", reason);
}

/* A JSON string of s[0..n) (valid UTF-8, see mps_json_string), appended at *at of a buffer sized
 * by the caller from mps_json_string's measure. */
static void put_str(char *line, size_t *at, const void *s, size_t n) {
  *at += mps_json_string(s, n, line + *at);
}

/* The binary payload as base64, malloc'ed; NULL when out of memory. */
static char *base64_of(const mpsync_oplog *op, size_t *len) {
  size_t need = 0;
  mbedtls_base64_encode(NULL, 0, &need, op->payload, op->payload_len);
  unsigned char *s = malloc(need + 1);
  if (s && mbedtls_base64_encode(s, need + 1, len, op->payload, op->payload_len) != 0) {
    free(s);
    return NULL;
  }
  return (char *)s;
}

/* One line per oplog. Written by hand rather than with cJSON, which prints numbers as doubles (so
 * ids 2^64-2 and 2^64-1 would print alike) and copies ill-formed UTF-8 as it comes. */
static void print_oplog(const mpsync_message *m, const mpsync_oplog *op) {
  size_t b64_len = 0;
  char *b64 = op->binary ? base64_of(op, &b64_len) : NULL;
  const char *third = op->third_msg_id ? op->third_msg_id : "";
  const void *pl = op->binary ? (const void *)b64 : op->payload;
  size_t pl_len = op->binary ? b64_len : op->payload_len;
  char nums[160];
  int nlen = snprintf(nums, sizeof nums, ",\"isB\":%s,\"mct\":%" PRId64 ",\"delivery\":%u}\n",
                      op->binary ? "true" : "false", op->create_time_ms, (unsigned)m->delivery);
  size_t need = 64 + mps_json_string((const uint8_t *)m->biz, strlen(m->biz), NULL) +
                mps_json_string((const uint8_t *)m->user_id, strlen(m->user_id), NULL) +
                mps_json_string((const uint8_t *)third, strlen(third), NULL) +
                mps_json_string(pl, pl_len, NULL) + (size_t)nlen;
  char *line = (op->binary && !b64) ? NULL : malloc(need);
  if (!line) {
    fprintf(stderr, "mpsync-cli: out of memory\n");
    free(b64);
    return;
  }
  size_t at = 0;
  at += (size_t)sprintf(line, "{\"biz\":");
  put_str(line, &at, m->biz, strlen(m->biz));
  at += (size_t)sprintf(line + at, ",\"userId\":");
  put_str(line, &at, m->user_id, strlen(m->user_id));
  at += (size_t)sprintf(line + at, ",\"mk\":%" PRIu64 ",\"bId\":", op->id);
  put_str(line, &at, third, strlen(third));
  at += (size_t)sprintf(line + at, ",\"pl\":");
  put_str(line, &at, pl, pl_len);
  memcpy(line + at, nums, (size_t)nlen);
  at += (size_t)nlen;
  /* One write per line, newline included: a reader that merges stdout and stderr never sees a
   * log line cut into an oplog line. */
  fflush(stdout);
  for (size_t off = 0; off < at;) {
    ssize_t w = write(STDOUT_FILENO, line + off, at - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  free(line);
  free(b64);
}

static void on_message(mpsync_client *client, const mpsync_message *m, void *ud) {
  cli *app = ud;
  if (atomic_load(&app->done)) return;
  for (size_t i = 0; i < m->count; i++) print_oplog(m, mpsync_message_oplog(m, i));
  if (app->report) {
    int rc = mpsync_report(client, m->biz, m->id);
    if (rc)
      fprintf(stderr, "mpsync-cli: report failed: %s\n", mpsync_strerror(rc));
    else if (app->verbose)
      fprintf(stderr, "mpsync-cli: reported %s message %s\n", m->biz, m->id);
  }
  long total = atomic_fetch_add(&app->printed, (long)m->count) + (long)m->count;
  if (app->count_limit > 0 && total >= app->count_limit) atomic_store(&app->done, 1);
}

static int split_host_port(const char *s, char *host, size_t hostlen, uint16_t *port) {
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s) return -1;
  const char *h = s;
  size_t n = (size_t)(colon - s);
  if (*h == '[' && n >= 2 && h[n - 1] == ']') {
    h++;
    n -= 2;
  }
  if (n >= hostlen) return -1;
  memcpy(host, h, n);
  host[n] = '\0';
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (*end || p <= 0 || p > 65535) return -1;
  *port = (uint16_t)p;
  return 0;
}

static int listen_main(int argc, char **argv) {
  mpsync_config cfg;
  mpsync_config_init(&cfg, sizeof cfg);
  cli app = {.report = 1, .count_limit = 0};
  char host[256] = "";
  const char *server = NULL, *bizs = NULL, *user = NULL, *session = NULL;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define TAKE(name, dst)                                                          \
  if (strcmp(a, name) == 0) {                                                    \
    if (!v) {                                                                    \
      fprintf(stderr, "mpsync-cli: %s needs a value\n", name);                   \
      return 2;                                                                  \
    }                                                                            \
    dst = v;                                                                     \
    i++;                                                                         \
    continue;                                                                    \
  }
    TAKE("--server", server)
    TAKE("--instance", cfg.instance_id)
    TAKE("--data", cfg.data_dir)
    TAKE("--biz", bizs)
    TAKE("--user", user)
    TAKE("--session", session)
    TAKE("--device", cfg.device_id)
    TAKE("--app-version", cfg.app_version)
    TAKE("--ca", cfg.ca_file)
    TAKE("--pin", cfg.pin_sha256)
    TAKE("--server-name", cfg.server_name)
#undef TAKE
    if (strcmp(a, "--os") == 0 && v) {
      if (strcasecmp(v, "IOS") == 0)
        cfg.os_type = MPSYNC_OS_IOS;
      else if (strcasecmp(v, "ANDROID") == 0)
        cfg.os_type = MPSYNC_OS_ANDROID;
      else {
        fprintf(stderr, "mpsync-cli: --os takes IOS or ANDROID\n");
        return 2;
      }
      i++;
    } else if (strcmp(a, "--count") == 0 && v) {
      app.count_limit = strtol(v, NULL, 10);
      if (app.count_limit <= 0) {
        fprintf(stderr, "mpsync-cli: --count takes a positive number\n");
        return 2;
      }
      i++;
    } else if (strcmp(a, "--no-report") == 0) {
      app.report = 0;
    } else if (strcmp(a, "--plaintext") == 0) {
      cfg.plaintext = 1;
    } else if (strcmp(a, "--verbose") == 0) {
      app.verbose = 1;
    } else {
      fprintf(stderr, "mpsync-cli: unknown or incomplete option %s\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (!server || !cfg.instance_id || !cfg.data_dir || !bizs) {
    usage(stderr);
    return 2;
  }
  if (split_host_port(server, host, sizeof host, &cfg.port) != 0) {
    fprintf(stderr, "mpsync-cli: --server takes HOST:PORT\n");
    return 2;
  }
  cfg.host = host;
  cfg.log_fn = on_log;
  cfg.log_level = app.verbose ? MPSYNC_LOG_DEBUG : MPSYNC_LOG_INFO;
  cfg.state_fn = on_state;
  cfg.user_data = &app;

  /* Signals are taken by this thread alone, with sigtimedwait, never inside SDK threads. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);

  mpsync_client *client;
  int rc = mpsync_client_new(&cfg, &client);
  if (rc) {
    fprintf(stderr, "mpsync-cli: cannot start: %s\n", mpsync_strerror(rc));
    return 1;
  }
  char dev[64];
  mpsync_device_id(client, dev, sizeof dev);
  fprintf(stderr, "mpsync-cli: device %s\n", dev);
  if (user) rc = mpsync_bind_user(client, user, session ? session : "");
  char *list = strdup(bizs);
  for (char *save = NULL, *b = strtok_r(list, ",", &save); !rc && b; b = strtok_r(NULL, ",", &save))
    if ((rc = mpsync_register_biz(client, b, on_message, &app)))
      fprintf(stderr, "mpsync-cli: bad bizType '%s'\n", b);
  free(list);
  if (!rc) rc = mpsync_foreground(client);
  int status = rc ? 1 : 0;
  while (!rc && !atomic_load(&app.done)) {
    struct timespec tick = {0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&sigs, NULL, &tick);
    if (sig == SIGINT || sig == SIGTERM) break;
  }
  mpsync_client_free(client);
  return status;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "listen") == 0) return listen_main(argc, argv);
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    usage(stdout);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
    printf("mpsync-cli %s\n", mpsync_version());
    return 0;
  }
  usage(stderr);
  return 2;
}
