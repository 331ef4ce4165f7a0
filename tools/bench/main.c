/* mpsync-bench: mock server + SDK clients over loopback; prints one JSON object of performance figures. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "mpsync/mpsync.h"

#define MAX_PER_MESSAGE 500u
#define WARMUP 20u
#define COLD_ROUNDS 5
#define IDLE_WINDOW_MS 4000u
#define DISPATCHES 200u /* timed dispatches per cache in the foreign-backlog figure */
#define TCPIP_HEADER_BYTES 52 /* IPv4 20 + TCP 20 + timestamps option 12, per segment */
#define WAKE_WINDOW_MS 6000u  /* each wake-up window (foreground, background) */
#define STRETCH_MAX_S 3u      /* the stretched run's server: --heartbeat 1 --heartbeat-max 3 */
#define STRETCH_WINDOW_MS 9000u

typedef struct opts {
  int json;
  size_t n;          /* backlog size */
  size_t payload;    /* bytes per oplog */
  int tls_off, tls_on;
  const char *mock_exe;
  size_t samples;    /* e2e latency samples per TLS mode */
  size_t burst;      /* online burst size */
  size_t foreign;    /* another user's cached oplogs behind which dispatch is timed */
  int peer;
  const char *peer_script;
  const char *tmp;
  int rtt_only;      /* only the round trips to the first oplog */
  size_t rtt_delay_ms;
} opts;

static char g_src_dir[600];
static char g_exe_dir[512];

static void progress(const char *fmt, const char *a) {
  fprintf(stderr, "mpsync-bench: ");
  fprintf(stderr, fmt, a);
  fputc('\n', stderr);
}

/* ---------------------------------------------------------------- callback sink */

typedef struct sink {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t oplogs;        /* delivered and reported */
  uint64_t messages;
  uint64_t last_entry_us; /* when the last callback was entered */
  uint64_t first_entry_us;
  uint64_t done_us;       /* when the last report returned */
  unsigned report_errors;
  unsigned heartbeat_s;   /* from the client's "connected" log line */
} sink;

static void sink_init(sink *s) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
}

static void sink_destroy(sink *s) {
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
}

static void on_message(mpsync_client *c, const mpsync_message *m, void *ud) {
  sink *s = ud;
  uint64_t entered = now_us();
  int rc = mpsync_report(c, m->biz, m->id);
  uint64_t done = now_us();
  pthread_mutex_lock(&s->mu);
  if (!s->first_entry_us) s->first_entry_us = entered;
  s->last_entry_us = entered;
  s->done_us = done;
  s->oplogs += m->count;
  s->messages++;
  if (rc) s->report_errors++;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void on_log(void *ud, mpsync_log_level level, const char *msg) {
  sink *s = ud;
  const char *hb = strstr(msg, "(heartbeat ");
  unsigned v;
  if (hb && sscanf(hb, "(heartbeat %us", &v) == 1) s->heartbeat_s = v;
  if (level <= MPSYNC_LOG_WARN) fprintf(stderr, "mpsync-bench: sdk: %s\n", msg);
}

/* Waits until n oplogs were reported; 0, or -1 after timeout_ms. */
static int sink_wait(sink *s, uint64_t n, unsigned timeout_ms) {
  uint64_t until = now_us() + (uint64_t)timeout_ms * 1000;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += timeout_ms / 1000;
  ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&s->mu);
  while (s->oplogs < n && now_us() < until)
    if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT) break;
  int rc = s->oplogs >= n ? 0 : -1;
  pthread_mutex_unlock(&s->mu);
  return rc;
}

typedef struct client_spec {
  int port;
  int tls;
  const char *ca;
  const char *dir;
  const char *device;
  unsigned max_cached;
} client_spec;

static mpsync_client *client_start(const client_spec *cs, sink *s) {
  mpsync_config cfg;
  mpsync_config_init(&cfg, sizeof cfg);
  cfg.host = "127.0.0.1";
  cfg.port = (uint16_t)cs->port;
  cfg.instance_id = BENCH_INSTANCE;
  cfg.data_dir = cs->dir;
  cfg.device_id = cs->device;
  cfg.plaintext = !cs->tls;
  cfg.ca_file = cs->tls ? cs->ca : NULL;
  cfg.server_name = "localhost";
  cfg.max_oplogs_per_message = MAX_PER_MESSAGE;
  cfg.max_cached_oplogs = cs->max_cached ? cs->max_cached : 100000;
  cfg.delivery_threads = 1;
  cfg.log_fn = on_log;
  cfg.log_level = MPSYNC_LOG_INFO;
  cfg.user_data = s;
  mpsync_client *c = NULL;
  int rc = mpsync_client_new(&cfg, &c);
  if (rc) {
    fprintf(stderr, "mpsync-bench: mpsync_client_new: %s\n", mpsync_strerror(rc));
    return NULL;
  }
  if (mpsync_register_biz(c, BENCH_BIZ, on_message, s) || mpsync_foreground(c)) {
    mpsync_client_free(c);
    return NULL;
  }
  return c;
}

static int wait_connected(mpsync_client *c, unsigned timeout_ms) {
  for (unsigned t = 0; t < timeout_ms; t += 2) {
    if (mpsync_is_connected(c)) return 0;
    sleep_ms(2);
  }
  return -1;
}

static int push_one(http_conn *h, const char *device, const char *third, size_t payload,
                    char *code, size_t code_len) {
  char body[8192];
  size_t len = push_body(body, sizeof body, device, third, payload);
  return http_post(h, "/webapi/sync/single?instanceId=" BENCH_INSTANCE, body, len, code, code_len);
}

/* ---------------------------------------------------------------- the physical reference */

typedef struct sqlite_ref {
  double rows_per_s;
  double commit_us_p50; /* one durable single-row commit: the fsync floor of this disk */
  double commit_us_p99;
  /* Two durable commits in series to two files, as a live push makes (server, then client),
   * paced like the latency loop: the disk's floor under e2e latency. */
  double pair_us_p50;
  double pair_us_p99;
} sqlite_ref;

/* Opens a WAL database with synchronous=FULL and a one-column table; NULL on failure. */
static sqlite3 *ref_open(const char *path, sqlite3_stmt **ins) {
  sqlite3 *db = NULL;
  *ins = NULL;
  if (sqlite3_open(path, &db) != SQLITE_OK ||
      sqlite3_exec(db,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                   " CREATE TABLE t(id INTEGER PRIMARY KEY, payload BLOB NOT NULL);",
                   NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "INSERT INTO t(payload) VALUES(?1)", -1, ins, NULL) != SQLITE_OK) {
    sqlite3_close(db);
    return NULL;
  }
  return db;
}

static int commit_pair_floor(const char *dir, const uint8_t *blob, size_t payload,
                             sqlite_ref *out) {
  char pa[1100], pb[1100];
  snprintf(pa, sizeof pa, "%s/pair-a.db", dir);
  snprintf(pb, sizeof pb, "%s/pair-b.db", dir);
  sqlite3_stmt *ia, *ib;
  sqlite3 *a = ref_open(pa, &ia), *b = ref_open(pb, &ib);
  double lat[200];
  int rc = a && b ? 0 : -1;
  for (int i = 0; !rc && i < 200; i++) {
    sleep_ms(1);
    uint64_t t = now_us();
    sqlite3_bind_blob(ia, 1, blob, (int)payload, SQLITE_STATIC);
    sqlite3_bind_blob(ib, 1, blob, (int)payload, SQLITE_STATIC);
    rc = sqlite3_step(ia) == SQLITE_DONE && sqlite3_step(ib) == SQLITE_DONE ? 0 : -1;
    sqlite3_reset(ia);
    sqlite3_reset(ib);
    lat[i] = (double)(now_us() - t);
  }
  if (!rc) {
    out->pair_us_p50 = quantile(lat, 200, 0.5);
    out->pair_us_p99 = quantile(lat, 200, 0.99);
  }
  sqlite3_finalize(ia);
  sqlite3_finalize(ib);
  sqlite3_close(a);
  sqlite3_close(b);
  return rc;
}

static int sqlite_reference(const char *dir, size_t rows, size_t payload, sqlite_ref *out) {
  char path[1100];
  snprintf(path, sizeof path, "%s/ref.db", dir);
  sqlite3_stmt *ins = NULL;
  int rc = -1;
  sqlite3 *db = ref_open(path, &ins);
  if (!db) goto done;
  uint8_t *blob = malloc(payload ? payload : 1);
  if (!blob) goto done;
  memset(blob, 'x', payload);
  uint64_t t0 = now_us();
  for (size_t i = 0; i < rows; i += 500) {
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (size_t j = i; j < i + 500 && j < rows; j++) {
      sqlite3_bind_blob(ins, 1, blob, (int)payload, SQLITE_STATIC);
      if (sqlite3_step(ins) != SQLITE_DONE) break;
      sqlite3_reset(ins);
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
      free(blob);
      goto done;
    }
  }
  out->rows_per_s = (double)rows / ((double)(now_us() - t0) / 1e6);
  double lat[200];
  for (int i = 0; i < 200; i++) {
    uint64_t t = now_us();
    sqlite3_bind_blob(ins, 1, blob, (int)payload, SQLITE_STATIC);
    sqlite3_step(ins); /* autocommit: one durable transaction */
    sqlite3_reset(ins);
    lat[i] = (double)(now_us() - t);
  }
  out->commit_us_p50 = quantile(lat, 200, 0.5);
  out->commit_us_p99 = quantile(lat, 200, 0.99);
  rc = commit_pair_floor(dir, blob, payload, out);
  free(blob);
done:
  sqlite3_finalize(ins);
  sqlite3_close(db);
  return rc;
}

/* ---------------------------------------------------------------- backlog drain (child process) */

typedef struct drain_result {
  int ok;
  uint64_t oplogs;
  double seconds;
  double first_dispatch_ms;
  long hwm_kb;
  long base_kb;
  unsigned report_errors;
} drain_result;

static drain_result drain_run(const client_spec *cs, size_t n) {
  drain_result r;
  memset(&r, 0, sizeof r);
  r.base_kb = vm_hwm_kb();
  sink s;
  sink_init(&s);
  uint64_t t0 = now_us();
  mpsync_client *c = client_start(cs, &s);
  if (!c) {
    sink_destroy(&s);
    return r;
  }
  int done = sink_wait(&s, n, 100000);
  pthread_mutex_lock(&s.mu);
  r.oplogs = s.oplogs;
  r.seconds = (double)(s.done_us - t0) / 1e6;
  r.first_dispatch_ms = s.first_entry_us ? (double)(s.first_entry_us - t0) / 1e3 : -1;
  r.report_errors = s.report_errors;
  pthread_mutex_unlock(&s.mu);
  r.hwm_kb = vm_hwm_kb();
  r.ok = done == 0;
  mpsync_client_free(c);
  sink_destroy(&s);
  return r;
}

/* The client drains in a fork of this process, before any SDK thread exists here: its VmHWM is
 * the client's own (plus the few MB of this binary and its libraries, reported as base). */
static drain_result drain_in_child(const client_spec *cs, size_t n) {
  drain_result r;
  memset(&r, 0, sizeof r);
  int fd[2];
  if (pipe(fd) != 0) return r;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    r = drain_run(cs, n);
    ssize_t w = write(fd[1], &r, sizeof r);
    _exit(w == (ssize_t)sizeof r ? 0 : 1);
  }
  close(fd[1]);
  if (pid > 0) {
    if (read(fd[0], &r, sizeof r) != (ssize_t)sizeof r) memset(&r, 0, sizeof r);
    waitpid(pid, NULL, 0);
  }
  close(fd[0]);
  return r;
}

/* ---------------------------------------------------------------- online: latency and burst */

typedef struct online_result {
  int ok;
  double p50, p99, p999;
  size_t samples;
  double burst_ops_per_s;
  double burst_push_ops_per_s; /* how fast the server accepted the pushes */
  unsigned heartbeat_s;
} online_result;

static online_result online_run(const client_spec *cs, int http_port, const opts *o,
                                const char *tag) {
  online_result r;
  memset(&r, 0, sizeof r);
  sink s;
  sink_init(&s);
  mpsync_client *c = client_start(cs, &s);
  http_conn h = {.fd = -1, .port = http_port};
  double *lat = calloc(o->samples + 1, sizeof *lat);
  if (!c || !lat || wait_connected(c, 10000) != 0) goto done;
  char third[96], code[64];
  size_t got = 0;
  for (size_t i = 0; i < WARMUP + o->samples; i++) {
    snprintf(third, sizeof third, "%s-lat-%zu", tag, i);
    uint64_t want = s.oplogs + 1; /* only this thread pushes: no race on the count */
    uint64_t t0 = now_us();
    int st = push_one(&h, cs->device, third, o->payload, code, sizeof code);
    if (st != 200 || strcmp(code, "SUCCESS") != 0) {
      fprintf(stderr, "mpsync-bench: live push answered %d %s\n", st, code);
      goto done;
    }
    if (sink_wait(&s, want, 10000) != 0) goto done;
    pthread_mutex_lock(&s.mu);
    double us = (double)(s.last_entry_us - t0);
    pthread_mutex_unlock(&s.mu);
    if (i >= WARMUP) lat[got++] = us;
  }
  r.samples = got;
  r.p50 = quantile(lat, got, 0.5);
  r.p99 = quantile(lat, got, 0.99);
  r.p999 = quantile(lat, got, 0.999);
  /* Burst: o->burst pushes from 4 connections at once; until the last is reported. */
  uint64_t base = s.oplogs;
  char prefix[64];
  snprintf(prefix, sizeof prefix, "%s-burst", tag);
  uint64_t t0 = now_us();
  if (push_many(http_port, cs->device, prefix, o->burst, o->payload, 4) != 0) goto done;
  uint64_t t_pushed = now_us();
  if (sink_wait(&s, base + o->burst, 60000) != 0) goto done;
  pthread_mutex_lock(&s.mu);
  r.burst_ops_per_s = (double)o->burst / ((double)(s.done_us - t0) / 1e6);
  pthread_mutex_unlock(&s.mu);
  r.burst_push_ops_per_s = (double)o->burst / ((double)(t_pushed - t0) / 1e6);
  r.heartbeat_s = s.heartbeat_s;
  r.ok = 1;
done:
  http_close(&h);
  free(lat);
  mpsync_client_free(c);
  sink_destroy(&s);
  return r;
}

/* ---------------------------------------------------------------- cold start */

/* Median ms from mpsync_client_new() to the first callback, with a cache and sync points left by
 * an earlier run of the same device, one oplog queued while it was away. -1 on failure. */
static double cold_start_ms(const client_spec *cs, int http_port, const char *tag) {
  sink s;
  sink_init(&s);
  http_conn h = {.fd = -1, .port = http_port};
  char third[96], code[64];
  double ms[COLD_ROUNDS];
  int n = 0, live = 1;
  mpsync_client *c = client_start(cs, &s); /* first run: creates the cache and the device */
  snprintf(third, sizeof third, "%s-cold-prime", tag);
  if (!c || wait_connected(c, 10000) != 0 || push_one(&h, cs->device, third, 16, code, sizeof code) != 200 ||
      sink_wait(&s, 1, 10000) != 0)
    goto done;
  mpsync_client_free(c);
  c = NULL;
  sink_destroy(&s);
  live = 0;
  for (int round = 0; round < COLD_ROUNDS; round++) {
    snprintf(third, sizeof third, "%s-cold-%d", tag, round);
    if (push_one(&h, cs->device, third, 16, code, sizeof code) != 200 ||
        strcmp(code, "NOT_ONLINE") != 0)
      goto done;
    sink_init(&s);
    live = 1;
    uint64_t t0 = now_us();
    c = client_start(cs, &s);
    if (!c || sink_wait(&s, 1, 10000) != 0) goto done;
    ms[n++] = (double)(s.first_entry_us - t0) / 1e3;
    mpsync_client_free(c);
    c = NULL;
    sink_destroy(&s);
    live = 0;
  }
done:
  mpsync_client_free(c);
  if (live) sink_destroy(&s);
  http_close(&h);
  return n == COLD_ROUNDS ? quantile(ms, (size_t)n, 0.5) : -1;
}

/* ---------------------------------------------------------------- idle heartbeat bytes */

typedef struct idle_result {
  int ok;
  double bytes_per_exchange; /* ping + pong, as written to the socket (TLS records included) */
  uint64_t exchanges;
} idle_result;

static idle_result idle_run(const client_spec *cs_in) {
  idle_result r;
  memset(&r, 0, sizeof r);
  int port;
  count_proxy *p = proxy_start(cs_in->port, &port);
  if (!p) return r;
  client_spec cs = *cs_in;
  cs.port = port;
  sink s;
  sink_init(&s);
  mpsync_client *c = client_start(&cs, &s);
  if (c && wait_connected(c, 10000) == 0) {
    sleep_ms(1500);
    uint64_t u0, d0, k0, u1, d1, k1;
    proxy_counts(p, &u0, &d0, &k0);
    sleep_ms(IDLE_WINDOW_MS);
    proxy_counts(p, &u1, &d1, &k1);
    if (k1 > k0) {
      r.exchanges = k1 - k0;
      r.bytes_per_exchange = (double)(u1 - u0 + d1 - d0) / (double)r.exchanges;
      r.ok = 1;
    }
  }
  mpsync_client_free(c);
  sink_destroy(&s);
  proxy_stop(p);
  return r;
}

/* ---------------------------------------------------------------- the peer */

static cJSON *run_peer(const opts *o) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "bash '%s' %zu %zu", o->peer_script, o->n, o->payload);
  FILE *f = popen(cmd, "r");
  if (!f) return NULL;
  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (cap - len < 4096) {
      char *nb = realloc(buf, cap + 65536);
      if (!nb) break;
      buf = nb;
      cap += 65536;
    }
    size_t got = fread(buf + len, 1, cap - len - 1, f);
    if (!got) break;
    len += got;
  }
  pclose(f);
  cJSON *j = NULL;
  if (buf) {
    buf[len] = '\0';
    char *start = strchr(buf, '{');
    if (start) j = cJSON_Parse(start);
  }
  free(buf);
  return j;
}

/* ---------------------------------------------------------------- main */

static void print_usage(FILE *f) {
  fprintf(f,
          "usage: mpsync-bench [--json] [--n N] [--payload BYTES] [--tls on|off|both]\n"
          "                    [--mock-server PATH] [--samples N] [--burst N] [--tmp DIR]\n"
          "                    [--foreign N] [--peer] [--peer-script PATH] [--help] [--version]\n"
          "                    [--rtt-only] [--rtt-delay MS]\n"
          "Runs the mock server and clients over loopback; prints one JSON object of figures.\n");
}

static void usage(void) { fputs("Try 'mpsync-bench --help'.\n", stderr); }

static int parse_size(const char *v, size_t lo, size_t hi, size_t *out) {
  char *end;
  if (!v) return -1;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || end == v || *end || *v == '-' || x < lo || x > hi) return -1;
  *out = (size_t)x;
  return 0;
}

/* The long options; each value above 255 names one, 'h' and 'V' are --help and --version. */
enum { O_JSON = 256, O_PEER, O_N, O_PAYLOAD, O_SAMPLES, O_BURST, O_FOREIGN, O_MOCK_SERVER,
       O_PEER_SCRIPT, O_TMP, O_TLS, O_RTT_ONLY, O_RTT_DELAY };
static const struct option bench_options[] = {
    {"json", no_argument, NULL, O_JSON},
    {"peer", no_argument, NULL, O_PEER},
    {"n", required_argument, NULL, O_N},
    {"payload", required_argument, NULL, O_PAYLOAD},
    {"samples", required_argument, NULL, O_SAMPLES},
    {"burst", required_argument, NULL, O_BURST},
    {"foreign", required_argument, NULL, O_FOREIGN},
    {"mock-server", required_argument, NULL, O_MOCK_SERVER},
    {"peer-script", required_argument, NULL, O_PEER_SCRIPT},
    {"tmp", required_argument, NULL, O_TMP},
    {"tls", required_argument, NULL, O_TLS},
    {"rtt-only", no_argument, NULL, O_RTT_ONLY},
    {"rtt-delay", required_argument, NULL, O_RTT_DELAY},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0}};

/* -1 after a usage error (printed, naming the option), 0 to run; --help and --version print and
 * exit 0 here. */
static int parse_args(int argc, char **argv, opts *o) {
  opterr = 0; /* our messages name the option */
  for (;;) {
    int idx = -1;
    int c = getopt_long(argc, argv, ":hV", bench_options, &idx);
    if (c == -1) break;
    const char *v = optarg;
    int bad = 0;
    switch (c) {
      case 'h': print_usage(stdout); exit(0);
      case 'V': printf("mpsync-bench %s\n", mpsync_version()); exit(0);
      case O_JSON: o->json = 1; break;
      case O_PEER: o->peer = 1; break;
      case O_N: bad = parse_size(v, 1, 4000000, &o->n); break;
      case O_PAYLOAD: bad = parse_size(v, 1, 4096, &o->payload); break;
      case O_SAMPLES: bad = parse_size(v, 10, 1000000, &o->samples); break;
      case O_BURST: bad = parse_size(v, 1, 1000000, &o->burst); break;
      case O_FOREIGN: bad = parse_size(v, 1, 4000000, &o->foreign); break;
      case O_MOCK_SERVER: o->mock_exe = v; break;
      case O_PEER_SCRIPT: o->peer_script = v, o->peer = 1; break;
      case O_TMP: o->tmp = v; break;
      case O_RTT_ONLY: o->rtt_only = 1; break;
      case O_RTT_DELAY: bad = parse_size(v, 5, 1000, &o->rtt_delay_ms); break;
      case O_TLS:
        if (!strcmp(v, "on")) o->tls_on = 1, o->tls_off = 0;
        else if (!strcmp(v, "off")) o->tls_on = 0, o->tls_off = 1;
        else if (!strcmp(v, "both")) o->tls_on = o->tls_off = 1;
        else bad = 1;
        break;
      case ':':
        fprintf(stderr, "mpsync-bench: option '%s' needs a value\n", argv[optind - 1]);
        return -1;
      default:
        if (optopt > 0 && optopt < 256)
          fprintf(stderr, "mpsync-bench: unknown option '-%c'\n", optopt);
        else
          fprintf(stderr, "mpsync-bench: unknown option '%s'\n", argv[optind - 1]);
        return -1;
    }
    if (bad) {
      fprintf(stderr, "mpsync-bench: bad value '%s' for --%s\n", v, bench_options[idx].name);
      return -1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "mpsync-bench: unexpected argument '%s'\n", argv[optind]);
    return -1;
  }
  return 0;
}

static void dir_of(const char *path, char *out, size_t len) {
  if (out != path) snprintf(out, len, "%s", path);
  char *slash = strrchr(out, '/');
  if (slash) *slash = '\0';
}

static void locate(void) {
  char exe[512];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[n > 0 ? n : 0] = '\0';
  dir_of(exe, g_exe_dir, sizeof g_exe_dir);
  /* The source tree: this file's own path when the compiler gave an absolute one (CMake does),
   * else two levels above build/bin. */
  char probe[700];
  if (__FILE__[0] == '/') {
    dir_of(__FILE__, g_src_dir, sizeof g_src_dir);
    dir_of(g_src_dir, g_src_dir, sizeof g_src_dir);
    dir_of(g_src_dir, g_src_dir, sizeof g_src_dir);
  }
  snprintf(probe, sizeof probe, "%s/tests/tls/make_certs.sh", g_src_dir);
  if (access(probe, R_OK) != 0) snprintf(g_src_dir, sizeof g_src_dir, "%s/../..", g_exe_dir);
}

static cJSON *num_or_null(int ok, double v) { return ok ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static double round2(double v) { return (double)(long long)(v * 100 + (v < 0 ? -0.5 : 0.5)) / 100; }

/* Sub-millisecond figures keep four decimals (0.1 us). */
static double round4(double v) {
  return (double)(long long)(v * 10000 + (v < 0 ? -0.5 : 0.5)) / 10000;
}

static cJSON *latency_json(const online_result *r) {
  if (!r->ok) return cJSON_CreateNull();
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "p50", round2(r->p50));
  cJSON_AddNumberToObject(o, "p99", round2(r->p99));
  cJSON_AddNumberToObject(o, "p999", round2(r->p999));
  cJSON_AddNumberToObject(o, "samples", (double)r->samples);
  return o;
}

typedef struct mode_figures {
  int ran;
  online_result online;
  drain_result drain;
  double drain_ops;
  double cold_ms;
  idle_result idle;
} mode_figures;

static cJSON *mode_json(const mode_figures *f, unsigned hb_s, size_t n) {
  if (!f->ran) return cJSON_CreateNull();
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "e2e_latency_us", latency_json(&f->online));
  cJSON_AddItemToObject(o, "backlog_drain_ops_per_s",
                        num_or_null(f->drain.ok, round2(f->drain_ops)));
  cJSON_AddItemToObject(o, "backlog_drain_complete",
                        cJSON_CreateBool(f->drain.ok && f->drain.oplogs >= n));
  cJSON_AddItemToObject(o, "online_burst_ops_per_s",
                        num_or_null(f->online.ok, round2(f->online.burst_ops_per_s)));
  cJSON_AddItemToObject(o, "online_burst_push_accept_ops_per_s",
                        num_or_null(f->online.ok, round2(f->online.burst_push_ops_per_s)));
  cJSON_AddItemToObject(o, "connect_to_first_dispatch_ms",
                        num_or_null(f->cold_ms >= 0, round2(f->cold_ms)));
  cJSON_AddItemToObject(o, "drain_connect_to_first_dispatch_ms",
                        num_or_null(f->drain.ok, round2(f->drain.first_dispatch_ms)));
  cJSON_AddItemToObject(o, "peak_rss_mb",
                        num_or_null(f->drain.hwm_kb > 0, round2((double)f->drain.hwm_kb / 1024)));
  cJSON_AddItemToObject(o, "idle_bytes_per_exchange",
                        num_or_null(f->idle.ok, round2(f->idle.bytes_per_exchange)));
  double per_hour = hb_s ? 3600.0 / hb_s : 0;
  cJSON_AddItemToObject(o, "idle_bytes_per_hour",
                        num_or_null(f->idle.ok && hb_s, round2(f->idle.bytes_per_exchange * per_hour)));
  cJSON_AddItemToObject(
      o, "idle_wire_bytes_per_hour_with_tcpip",
      num_or_null(f->idle.ok && hb_s,
                  round2((f->idle.bytes_per_exchange + 3 * TCPIP_HEADER_BYTES) * per_hour)));
  return o;
}

/* One mock server for both modes; rtt[t] stays not ok for a mode that did not run. */
static void run_rtt(const opts *o, const char *root, const char *biz_file, int want_tls,
                    const char *cert, const char *key, const char *ca, rtt_result rtt[2],
                    cJSON *notes) {
  char sdir[700], log_path[700], script[800];
  snprintf(sdir, sizeof sdir, "%s/rtt-server", root);
  snprintf(log_path, sizeof log_path, "%s/mock-server-rtt.log", root);
  snprintf(script, sizeof script, "%s/tests/faults/fault_proxy.py", g_src_dir);
  mock_proc m;
  if (mock_start(&m, o->mock_exe, sdir, biz_file, want_tls ? cert : NULL, key, NULL, log_path)) {
    cJSON_AddItemToArray(notes, cJSON_CreateString("round trips null: cannot start a server"));
    return;
  }
  for (int t = 0; t < 2; t++) {
    if (t ? !m.tls_port || !o->tls_on : !o->tls_off) continue;
    rtt_spec s = {t, ca, t ? m.tls_port : m.link_port, m.http_port, root, script,
                  (double)o->rtt_delay_ms};
    progress("round trips to the first oplog (%s)", t ? "tls" : "plain");
    if (rtt_to_first_oplog(&s, &rtt[t]) != 0)
      cJSON_AddItemToArray(notes, cJSON_CreateString("round trips: a timed start failed"));
  }
  mock_stop(&m);
  rm_rf(sdir);
}

/* The four figures are TLS's (1.2 here; 1.3 where the build has it); plaintext's are in
 * the details as the floor. */
static void rtt_json(cJSON *out, const rtt_result rtt[2]) {
  cJSON_AddItemToObject(out, "rtt_to_first_oplog_fresh",
                        num_or_null(rtt[1].ok, round2(rtt[1].fresh_rtt)));
  cJSON_AddItemToObject(out, "rtt_to_first_oplog_resumed",
                        num_or_null(rtt[1].ok, round2(rtt[1].resumed_rtt)));
  cJSON *d = cJSON_AddObjectToObject(out, "rtt_details");
  const char *tag[2] = {"plain", "tls"};
  for (int t = 0; t < 2; t++) {
    cJSON *m = cJSON_AddObjectToObject(d, tag[t]);
    const rtt_result *r = &rtt[t];
    cJSON_AddItemToObject(m, "fresh_rtt", num_or_null(r->ok, round2(r->fresh_rtt)));
    cJSON_AddItemToObject(m, "resumed_rtt", num_or_null(r->ok, round2(r->resumed_rtt)));
    cJSON_AddItemToObject(m, "fresh_ms_undelayed", num_or_null(r->ok, round2(r->fresh_ms[0])));
    cJSON_AddItemToObject(m, "fresh_ms_delayed", num_or_null(r->ok, round2(r->fresh_ms[1])));
    cJSON_AddItemToObject(m, "resumed_ms_undelayed", num_or_null(r->ok, round2(r->resumed_ms[0])));
    cJSON_AddItemToObject(m, "resumed_ms_delayed", num_or_null(r->ok, round2(r->resumed_ms[1])));
    cJSON_AddItemToObject(m, "added_rtt_ms", num_or_null(r->ok, round2(r->added_rtt_ms)));
  }
  cJSON_AddStringToObject(d, "method",
                          "median ms from mpsync_client_new to the first callback over 5 devices, "
                          "through tests/faults/fault_proxy.py clean and with rtt-delay ms added "
                          "each way; rtt = (delayed - undelayed) / added RTT + 1 for TCP's "
                          "handshake, which the proxy answers itself. fresh: empty data dir; "
                          "resumed: the same data dir started again, one oplog queued meanwhile");
}

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs(text, f);
  return fclose(f);
}

int main(int argc, char **argv) {
  opts o = {.n = 100000, .payload = 200, .tls_on = 1, .tls_off = 1, .samples = 500,
            .burst = 1000, .foreign = 200000, .rtt_delay_ms = 50};
  if (parse_args(argc, argv, &o)) {
    usage();
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  uint64_t t_start = now_us();
  locate();
  char mock_exe[600], peer_script[700], certs_script[700];
  snprintf(mock_exe, sizeof mock_exe, "%s/mpsync-mock-server", g_exe_dir);
  if (!o.mock_exe) o.mock_exe = mock_exe;
  snprintf(peer_script, sizeof peer_script, "%s/tools/bench/mosquitto.sh", g_src_dir);
  if (!o.peer_script) o.peer_script = peer_script;
  snprintf(certs_script, sizeof certs_script, "%s/tests/tls/make_certs.sh", g_src_dir);
  if (!o.tmp) o.tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

  cJSON *notes = cJSON_CreateArray();
  char root[512], path[1024], path2[1024];
  temp_dir(o.tmp, "run", root, sizeof root);
  snprintf(path, sizeof path, "%s/biz.json", root);
  char biz_file[1024];
  snprintf(biz_file, sizeof biz_file, "%s", path);
  write_file(biz_file, "[{\"bizType\":\"" BENCH_BIZ "\",\"scope\":\"specified\",\"dimension\":"
                       "\"device\",\"persistent\":true}]\n");

  /* TLS material: the test PKI (CA + localhost server certificate). */
  char certs[600], cert[700], key[700], ca[700];
  snprintf(certs, sizeof certs, "%s/certs", root);
  snprintf(cert, sizeof cert, "%s/server.pem", certs);
  snprintf(key, sizeof key, "%s/server.key", certs);
  snprintf(ca, sizeof ca, "%s/ca.pem", certs);
  int want_tls = o.tls_on;
  if (want_tls) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "bash '%s' '%s' >/dev/null 2>&1", certs_script, certs);
    if (system(cmd) != 0 || access(cert, R_OK) != 0) {
      want_tls = 0;
      cJSON_AddItemToArray(notes, cJSON_CreateString("TLS figures null: cannot make test certificates"));
    }
  }

  /* 0. Round trips to the first oplog (issue 18), per TLS mode, through the fault proxy. */
  rtt_result rtt[2];
  memset(rtt, 0, sizeof rtt);
  run_rtt(&o, root, biz_file, want_tls, cert, key, ca, rtt, notes);
  if (o.rtt_only) {
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "schema", "mpsync-bench/1");
    cJSON_AddStringToObject(out, "sdk_version", mpsync_version());
    rtt_json(out, rtt);
    cJSON_AddItemToObject(out, "notes", notes);
    char *text = o.json ? cJSON_PrintUnformatted(out) : cJSON_Print(out);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(out);
    rm_rf(root);
    return 0;
  }

  /* 1. The physical reference, on the disk the caches use. */
  progress("sqlite reference in %s", root);
  sqlite_ref ref = {0};
  snprintf(path, sizeof path, "%s/sqlite", root);
  mkdir(path, 0700);
  int ref_ok = sqlite_reference(path, o.n, o.payload, &ref) == 0;
  rm_rf(path);

  /* 2. Queue the backlog. Each push is one durable server transaction; with the mock server's
   * per-push cost that is a few thousand pushes/s at best (an fsync each on disk), so the queue is
   * built once on tmpfs, and each drain gets a fresh copy of that server state on the disk. */
  const char *qbase = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : o.tmp;
  char qdir[512], log_path[600];
  temp_dir(qbase, "queue", qdir, sizeof qdir);
  snprintf(path, sizeof path, "%s/state", qdir);
  snprintf(log_path, sizeof log_path, "%s/mock-server.log", root);
  mock_proc m;
  progress("queueing the backlog via HTTP on %s", qbase);
  if (mock_start(&m, o.mock_exe, path, biz_file, want_tls ? cert : NULL, key, NULL, log_path)) {
    fprintf(stderr, "mpsync-bench: cannot start %s (log %s)\n", o.mock_exe, log_path);
    return 1;
  }
  int tls_avail = want_tls && m.tls_port != 0;
  if (want_tls && !tls_avail)
    cJSON_AddItemToArray(notes, cJSON_CreateString(
                                    "TLS figures null: the mock server has no --link-tls listener"));
  int modes[2], nmodes = 0;
  if (o.tls_off) modes[nmodes++] = 0;
  if (tls_avail) modes[nmodes++] = 1;
  const char *dev_drain = "bench-drain-device-00001";
  uint64_t tq = now_us();
  int bulk = push_bulk(m.http_port, dev_drain, "q", o.n, o.payload) == 0;
  int queued = bulk || push_many(m.http_port, dev_drain, "q", o.n, o.payload, 2) == 0;
  double queue_ops = (double)o.n / ((double)(now_us() - tq) / 1e6);
  mock_stop(&m);
  if (!queued) {
    fprintf(stderr, "mpsync-bench: queueing the backlog failed (log %s)\n", log_path);
    return 1;
  }

  /* 3. Drains: per TLS mode, a server on the disk with a copy of the queued state. */
  mode_figures fig[2];
  memset(fig, 0, sizeof fig);
  unsigned hb_s = 0;
  const char *tag[2] = {"plain", "tls"};
  for (int i = 0; i < nmodes; i++) {
    int t = modes[i];
    mode_figures *f = &fig[t];
    f->ran = 1;
    char sdir[600], cdir[600];
    snprintf(sdir, sizeof sdir, "%s/server-drain-%s", root, tag[t]);
    snprintf(cdir, sizeof cdir, "%s/drain-%s", root, tag[t]);
    if (copy_dir(path, sdir) != 0 ||
        mock_start(&m, o.mock_exe, sdir, biz_file, t ? cert : NULL, key, NULL, log_path) != 0) {
      cJSON_AddItemToArray(notes, cJSON_CreateString("cannot start a server for a drain"));
      continue;
    }
    client_spec cs = {t ? m.tls_port : m.link_port, t, ca, cdir, dev_drain, (unsigned)(o.n + 1000)};
    progress("draining the backlog (%s)", tag[t]);
    f->drain = drain_in_child(&cs, o.n);
    if (f->drain.ok) f->drain_ops = (double)f->drain.oplogs / f->drain.seconds;
    else cJSON_AddItemToArray(notes, cJSON_CreateString("a drain did not complete within 100 s"));
    mock_stop(&m);
    rm_rf(sdir);
    rm_rf(cdir);
  }
  rm_rf(qdir);

  /* 4. Online: latency, burst and cold start against a server on the disk. */
  snprintf(path2, sizeof path2, "%s/server-online", root);
  if (mock_start(&m, o.mock_exe, path2, biz_file, tls_avail ? cert : NULL, key, NULL, log_path)) {
    fprintf(stderr, "mpsync-bench: cannot start the mock server (log %s)\n", log_path);
    return 1;
  }
  for (int i = 0; i < nmodes; i++) {
    int t = modes[i];
    mode_figures *f = &fig[t];
    char cdir[600], dev[64];
    snprintf(cdir, sizeof cdir, "%s/live-%s", root, tag[t]);
    snprintf(dev, sizeof dev, "bench-live-%s-000000001", tag[t]);
    client_spec cs = {t ? m.tls_port : m.link_port, t, ca, cdir, dev, 100000};
    progress("e2e latency and online burst (%s)", tag[t]);
    f->online = online_run(&cs, m.http_port, &o, tag[t]);
    if (f->online.heartbeat_s) hb_s = f->online.heartbeat_s;
    snprintf(cdir, sizeof cdir, "%s/cold-%s", root, tag[t]);
    snprintf(dev, sizeof dev, "bench-cold-%s-000000001", tag[t]);
    cs.dir = cdir;
    cs.device = dev;
    progress("cold start with a cached session (%s)", tag[t]);
    f->cold_ms = cold_start_ms(&cs, m.http_port, tag[t]);
  }
  mock_stop(&m);

  /* 5. Idle: a server that asks for a ping every second, through a counting proxy. */
  snprintf(path, sizeof path, "%s/idle-server", root);
  const char *fast_hb[] = {"--heartbeat", "1", NULL};
  if (mock_start(&m, o.mock_exe, path, biz_file, tls_avail ? cert : NULL, key, fast_hb,
                 log_path) == 0) {
    for (int i = 0; i < nmodes; i++) {
      int t = modes[i];
      char cdir[600];
      snprintf(cdir, sizeof cdir, "%s/idle-%s", root, tag[t]);
      client_spec cs = {t ? m.tls_port : m.link_port, t, ca, cdir, "bench-idle-device-000001", 0};
      progress("idle heartbeat bytes (%s)", tag[t]);
      fig[t].idle = idle_run(&cs);
    }
  }
  /* Battery (issue 15), primary TLS mode: the SDK threads' wake-ups on the same 1 s server. */
  int bt = tls_avail ? 1 : 0;
  wakeup_result wake = {0};
  stretched_result stretch = {0};
  if (m.pid > 0) {
    snprintf(path2, sizeof path2, "%s/wake-%s", root, tag[bt]);
    idle_spec is = {bt, ca, path2, "bench-wake-device-000001"};
    progress("idle wake-ups, foreground and background (%s)", tag[bt]);
    idle_wakeups(&is, bt ? m.tls_port : m.link_port, WAKE_WINDOW_MS, &wake);
    mock_stop(&m);
  }
  /* And the bytes once the smart heartbeat has reached a (short) server maximum. */
  snprintf(path, sizeof path, "%s/stretch-server", root);
  const char *stretch_hb[] = {"--heartbeat", "1", "--heartbeat-max", "3", NULL};
  if (mock_start(&m, o.mock_exe, path, biz_file, tls_avail ? cert : NULL, key, stretch_hb,
                 log_path) == 0) {
    snprintf(path2, sizeof path2, "%s/stretch-%s", root, tag[bt]);
    idle_spec is = {bt, ca, path2, "bench-stretch-device-001"};
    progress("idle bytes with the heartbeat stretched to the server's maximum (%s)", tag[bt]);
    idle_stretched(&is, bt ? m.tls_port : m.link_port, STRETCH_MAX_S, STRETCH_WINDOW_MS, &stretch);
    mock_stop(&m);
  }

  /* 6. The cache alone: dispatch cost behind another user's backlog. After the drains, so that
   * the drain child's peak RSS does not start from this step's. */
  progress("dispatch cost behind another user's cached oplogs in %s", root);
  dispatch_result disp;
  if (dispatch_cost(root, o.foreign, DISPATCHES, o.payload, &disp) != 0)
    cJSON_AddItemToArray(notes, cJSON_CreateString("the dispatch cost could not be measured"));

  /* 7. The peer. */
  cJSON *peer = NULL;
  if (o.peer) {
    progress("peer: %s", o.peer_script);
    peer = run_peer(&o);
    if (!peer) cJSON_AddItemToArray(notes, cJSON_CreateString("peer script gave no JSON"));
  }

  /* ---- the report ---- */
  int primary = tls_avail ? 1 : 0;
  if (!fig[primary].ran) primary = !primary;
  mode_figures *pf = &fig[primary];
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "schema", "mpsync-bench/1");
  cJSON_AddStringToObject(out, "sdk_version", mpsync_version());
  cJSON *mach = cJSON_AddObjectToObject(out, "machine");
  cJSON_AddNumberToObject(mach, "nproc", (double)sysconf(_SC_NPROCESSORS_ONLN));
  char cpu[256] = "unknown", line[512];
  FILE *ci = fopen("/proc/cpuinfo", "r");
  while (ci && fgets(line, sizeof line, ci))
    if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
      snprintf(cpu, sizeof cpu, "%s", strchr(line, ':') + 2);
      cpu[strcspn(cpu, "\n")] = '\0';
      break;
    }
  if (ci) fclose(ci);
  cJSON_AddStringToObject(mach, "cpu", cpu);
  struct utsname un;
  if (uname(&un) == 0) cJSON_AddStringToObject(mach, "kernel", un.release);
  cJSON *par = cJSON_AddObjectToObject(out, "params");
  cJSON_AddNumberToObject(par, "n", (double)o.n);
  cJSON_AddNumberToObject(par, "payload_bytes", (double)o.payload);
  cJSON_AddStringToObject(par, "tls", o.tls_on && o.tls_off ? "both" : o.tls_on ? "on" : "off");
  cJSON_AddNumberToObject(par, "samples", (double)o.samples);
  cJSON_AddNumberToObject(par, "burst", (double)o.burst);
  cJSON_AddNumberToObject(par, "max_oplogs_per_message", MAX_PER_MESSAGE);
  cJSON_AddBoolToObject(out, "tls_available", tls_avail);
  cJSON_AddStringToObject(out, "primary_tls", primary ? "on" : "off");
  cJSON *prim = mode_json(pf, hb_s, o.n);
  cJSON_AddItemToObject(out, "e2e_latency_us",
                        cJSON_Duplicate(cJSON_GetObjectItem(prim, "e2e_latency_us"), 1));
  const char *copy[] = {"backlog_drain_ops_per_s", "online_burst_ops_per_s", "peak_rss_mb",
                        "idle_bytes_per_hour"};
  for (size_t i = 0; i < 4; i++)
    cJSON_AddItemToObject(out, copy[i], cJSON_Duplicate(cJSON_GetObjectItem(prim, copy[i]), 1));
  cJSON_Delete(prim);
  cJSON_AddItemToObject(out, "connect_to_first_dispatch_ms",
                        num_or_null(fig[1].ran && fig[1].cold_ms >= 0, round2(fig[1].cold_ms)));
  cJSON_AddItemToObject(out, "dispatch_ms_empty", num_or_null(disp.ok, round4(disp.empty_ms)));
  cJSON_AddItemToObject(out, "dispatch_ms_with_foreign_backlog",
                        num_or_null(disp.ok, round4(disp.foreign_ms)));
  cJSON_AddItemToObject(out, "dispatch_foreign_vs_empty",
                        num_or_null(disp.ok, round2(disp.foreign_ms / disp.empty_ms)));
  cJSON_AddItemToObject(out, "sqlite_batch_insert_rows_per_s",
                        num_or_null(ref_ok, round2(ref.rows_per_s)));
  cJSON_AddItemToObject(out, "drain_vs_sqlite",
                        num_or_null(ref_ok && pf->drain.ok,
                                    round2(pf->drain_ops / (ref.rows_per_s ? ref.rows_per_s : 1))));
  cJSON *peer_drain = peer ? cJSON_GetObjectItem(peer, "drain_msgs_per_s") : NULL;
  cJSON_AddItemToObject(out, "drain_vs_mosquitto",
                        num_or_null(cJSON_IsNumber(peer_drain) && peer_drain->valuedouble > 0 &&
                                        pf->drain.ok,
                                    round2(pf->drain_ops /
                                           (peer_drain ? peer_drain->valuedouble : 1))));
  cJSON *by = cJSON_AddObjectToObject(out, "by_tls");
  cJSON_AddItemToObject(by, "off", mode_json(&fig[0], hb_s, o.n));
  cJSON_AddItemToObject(by, "on", mode_json(&fig[1], hb_s, o.n));
  cJSON *det = cJSON_AddObjectToObject(out, "details");
  cJSON_AddItemToObject(det, "sqlite_durable_commit_us_p50",
                        num_or_null(ref_ok, round2(ref.commit_us_p50)));
  cJSON_AddItemToObject(det, "sqlite_durable_commit_us_p99",
                        num_or_null(ref_ok, round2(ref.commit_us_p99)));
  cJSON_AddItemToObject(det, "durable_commit_pair_us_p50",
                        num_or_null(ref_ok, round2(ref.pair_us_p50)));
  cJSON_AddItemToObject(det, "durable_commit_pair_us_p99",
                        num_or_null(ref_ok, round2(ref.pair_us_p99)));
  cJSON_AddStringToObject(det, "durable_commit_pair_method",
                          "one synchronous=FULL commit to each of two WAL files in series, 1 ms "
                          "apart, on the run's disk: the server's and the client's commit that "
                          "every live push waits for");
  cJSON_AddNumberToObject(det, "dispatch_foreign_oplogs", (double)o.foreign);
  cJSON_AddStringToObject(det, "dispatch_method",
                          "median of 200 mps_store_next_message calls (one-oplog messages, each "
                          "deleted before the next) for a bound user, in a cache on the run's disk "
                          "with no other user's oplogs, then in one where another user's "
                          "dispatch_foreign_oplogs oplogs of the same bizType were stored first");
  cJSON_AddNumberToObject(det, "queue_push_ops_per_s", round2(queue_ops));
  cJSON_AddStringToObject(det, "queue_built_on", qbase);
  cJSON_AddStringToObject(det, "queue_method", bulk ? "POST /admin/push/bulk" : "one HTTP push per oplog");
  cJSON_AddNumberToObject(det, "heartbeat_interval_s", hb_s);
  battery_json(out, det, &wake, &stretch, hb_s, tag[bt]);
  cJSON_AddItemToObject(det, "drain_child_base_rss_mb",
                        num_or_null(pf->drain.base_kb > 0, round2((double)pf->drain.base_kb / 1024)));
  cJSON_AddStringToObject(det, "peak_rss_method",
                          "VmHWM of a forked child process that runs only the draining client");
  cJSON_AddStringToObject(det, "idle_method",
                          "bytes through a counting TCP proxy per ping/pong exchange (server "
                          "--heartbeat 1), times 3600/heartbeat_interval_s of the default server");
  cJSON_AddStringToObject(det, "latency_method",
                          "wall clock from writing the HTTP push to entering the C callback; "
                          "server and client commit with synchronous=FULL");
  rtt_json(out, rtt);
  cJSON_AddItemToObject(out, "peer_mosquitto", peer ? peer : cJSON_CreateNull());
  cJSON_AddItemToObject(out, "notes", notes);
  cJSON_AddNumberToObject(out, "wall_s", round2((double)(now_us() - t_start) / 1e6));
  char *text = o.json ? cJSON_PrintUnformatted(out) : cJSON_Print(out);
  printf("%s\n", text);
  free(text);
  cJSON_Delete(out);
  rm_rf(root);
  return 0;
}
