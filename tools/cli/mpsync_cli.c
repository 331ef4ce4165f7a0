/* mpsync-cli: a command-line sync client on the public C API, printing one JSON line per oplog. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <getopt.h>
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
  int plaintext;
  atomic_int connected_once;
  atomic_int hinted;
} cli;

static void usage(FILE *f) {
  fputs("usage: mpsync-cli [--help] [--version] COMMAND [OPTIONS]\n"
        "commands:\n"
        "  listen   connect to a sync server and print what it sends (mpsync-cli listen --help)\n",
        f);
}

static void listen_usage(FILE *f) {
  fputs("usage: mpsync-cli listen --server HOST:PORT --instance ID --data DIR --biz B1[,B2...]\n"
        "         [--user U [--session S]] [--device D] [--os IOS|ANDROID] [--app-version V]\n"
        "         [--ca FILE] [--pin BASE64_SHA256_OF_SPKI] [--server-name NAME] [--plaintext]\n"
        "         [--no-report] [--count N] [--verbose] [--help]\n"
        "TLS is on unless --plaintext; --ca replaces the system CA store.\n"
        "Prints one JSON line per oplog on stdout; state and log lines go to stderr.\n"
        "Exit status: 0 done (--count reached or signal), 1 the client failed, 2 bad arguments.\n",
        f);
}

/* A usage error: what was wrong, where to read more, status 2 (as getopt-based tools do). */
static int bad_usage(const char *cmd, const char *fmt, const char *what) {
  fprintf(stderr, "mpsync-cli%s%s: ", cmd ? " " : "", cmd ? cmd : "");
  fprintf(stderr, fmt, what);
  fprintf(stderr, "\nTry 'mpsync-cli%s%s --help'.\n", cmd ? " " : "", cmd ? cmd : "");
  return 2;
}

static void on_log(void *ud, mpsync_log_level level, const char *msg) {
  (void)ud;
  static const char *names[] = {"error", "warn", "info", "debug"};
  fprintf(stderr, "mpsync-cli: %s: %s\n", names[level], msg);
}

static void on_state(void *ud, mpsync_state st, const char *reason) {
  cli *app = ud;
  static const char *names[] = {"DISCONNECTED", "CONNECTING", "CONNECTED", "CONNECT_FAILED"};
  fprintf(stderr, "mpsync-cli: state %s%s%s\n", names[st], *reason ? ": " : "", reason);
  if (st == MPSYNC_STATE_CONNECTED) atomic_store(&app->connected_once, 1);
  /* Both sides of a plaintext/TLS mismatch fail in ways that do not say so: a TLS client reads
   * the plain server's answer as an invalid record, a plain client sees the TLS server hang up
   * on its Hello (or, from another server, a TLS record read as a frame). Say once what the
   * likely fix is; a link that has worked was not a mismatch. */
  if (st != MPSYNC_STATE_CONNECT_FAILED || atomic_load(&app->connected_once)) return;
  const char *hint = NULL;
  /* Not for a certificate or pin refusal: that server does speak TLS. */
  if (!app->plaintext && strstr(reason, "TLS") &&
      (strstr(reason, "record") || strstr(reason, "EOF") || strstr(reason, "closed")))
    hint = "if the server's link port is plaintext (mpsync-mock-server --link), add --plaintext";
  else if (app->plaintext && (strstr(reason, "frame") || strstr(reason, "protocol") ||
                              strstr(reason, "closed")))
    hint = "if the server speaks TLS on that port (mpsync-mock-server --link-tls), drop --plaintext";
  if (hint && !atomic_exchange(&app->hinted, 1)) fprintf(stderr, "mpsync-cli: hint: %s\n", hint);
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

/* The option getopt_long just refused: a short one by its letter (it may sit in a cluster like
 * -vx), a long one as written (it has been stepped over, so it is argv[optind - 1]). */
static const char *refused_option(char **argv, char buf[3]) {
  if (optopt > 0 && optopt < 256) {
    buf[0] = '-';
    buf[1] = (char)optopt;
    buf[2] = '\0';
    return buf;
  }
  return argv[optind - 1];
}

/* Long options of `listen`; the value is the short option (if any) or a code above 255. */
enum { OPT_INSTANCE = 256, OPT_APP_VERSION, OPT_CA, OPT_PIN, OPT_SERVER_NAME, OPT_PLAINTEXT,
       OPT_NO_REPORT, OPT_COUNT, OPT_DATA, OPT_BIZ, OPT_USER, OPT_SESSION, OPT_DEVICE, OPT_OS,
       OPT_SERVER };
static const struct option listen_options[] = {
    {"server", required_argument, NULL, OPT_SERVER},
    {"instance", required_argument, NULL, OPT_INSTANCE},
    {"data", required_argument, NULL, OPT_DATA},
    {"biz", required_argument, NULL, OPT_BIZ},
    {"user", required_argument, NULL, OPT_USER},
    {"session", required_argument, NULL, OPT_SESSION},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"os", required_argument, NULL, OPT_OS},
    {"app-version", required_argument, NULL, OPT_APP_VERSION},
    {"ca", required_argument, NULL, OPT_CA},
    {"pin", required_argument, NULL, OPT_PIN},
    {"server-name", required_argument, NULL, OPT_SERVER_NAME},
    {"plaintext", no_argument, NULL, OPT_PLAINTEXT},
    {"no-report", no_argument, NULL, OPT_NO_REPORT},
    {"count", required_argument, NULL, OPT_COUNT},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* argv[0] is "listen". */
static int listen_main(int argc, char **argv) {
  mpsync_config cfg;
  mpsync_config_init(&cfg, sizeof cfg);
  cli app = {.report = 1, .count_limit = 0};
  char host[256] = "";
  const char *server = NULL, *bizs = NULL, *user = NULL, *session = NULL;
  opterr = 0; /* our messages name the option and the command */
  optind = 0; /* 0, not 1: glibc then also forgets the permutation state of main's pass */
  for (;;) {
    int c = getopt_long(argc, argv, ":hv", listen_options, NULL);
    if (c == -1) break;
    char *end, opt[3];
    switch (c) {
      case OPT_SERVER: server = optarg; break;
      case OPT_INSTANCE: cfg.instance_id = optarg; break;
      case OPT_DATA: cfg.data_dir = optarg; break;
      case OPT_BIZ: bizs = optarg; break;
      case OPT_USER: user = optarg; break;
      case OPT_SESSION: session = optarg; break;
      case OPT_DEVICE: cfg.device_id = optarg; break;
      case OPT_APP_VERSION: cfg.app_version = optarg; break;
      case OPT_CA: cfg.ca_file = optarg; break;
      case OPT_PIN: cfg.pin_sha256 = optarg; break;
      case OPT_SERVER_NAME: cfg.server_name = optarg; break;
      case OPT_PLAINTEXT: cfg.plaintext = 1; break;
      case OPT_NO_REPORT: app.report = 0; break;
      case 'v': app.verbose = 1; break;
      case 'h': listen_usage(stdout); return 0;
      case OPT_OS:
        if (strcasecmp(optarg, "IOS") == 0)
          cfg.os_type = MPSYNC_OS_IOS;
        else if (strcasecmp(optarg, "ANDROID") == 0)
          cfg.os_type = MPSYNC_OS_ANDROID;
        else
          return bad_usage("listen", "--os takes IOS or ANDROID, not '%s'", optarg);
        break;
      case OPT_COUNT:
        errno = 0;
        app.count_limit = strtol(optarg, &end, 10);
        if (errno || end == optarg || *end || app.count_limit <= 0)
          return bad_usage("listen", "--count takes a positive number, not '%s'", optarg);
        break;
      case ':': return bad_usage("listen", "option '%s' needs a value", argv[optind - 1]);
      default: return bad_usage("listen", "unknown option '%s'", refused_option(argv, opt));
    }
  }
  if (optind < argc) return bad_usage("listen", "unexpected argument '%s'", argv[optind]);
  char missing[80] = "";
  const struct { const char *name; const void *v; } required[] = {
      {"--server", server}, {"--instance", cfg.instance_id}, {"--data", cfg.data_dir},
      {"--biz", bizs}};
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
    if (!required[i].v)
      snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s",
               *missing ? ", " : "", required[i].name);
  if (*missing) return bad_usage("listen", "missing %s", missing);
  if (split_host_port(server, host, sizeof host, &cfg.port) != 0)
    return bad_usage("listen", "--server takes HOST:PORT, not '%s'", server);
  app.plaintext = cfg.plaintext;
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
  static const struct option options[] = {{"help", no_argument, NULL, 'h'},
                                           {"version", no_argument, NULL, 'V'},
                                           {NULL, 0, NULL, 0}};
  opterr = 0;
  /* "+": stop at the command; its options are parsed by the command. */
  for (;;) {
    char opt[3];
    int c = getopt_long(argc, argv, "+hV", options, NULL);
    if (c == -1) break;
    if (c == 'h') {
      usage(stdout);
      return 0;
    }
    if (c == 'V') {
      printf("mpsync-cli %s\n", mpsync_version());
      return 0;
    }
    return bad_usage(NULL, "unknown option '%s'", refused_option(argv, opt));
  }
  if (optind >= argc) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[optind];
  if (strcmp(cmd, "listen") == 0) return listen_main(argc - optind, argv + optind);
  return bad_usage(NULL, "unknown command '%s'", cmd);
}
