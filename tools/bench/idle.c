/* mpsync-bench's battery figures: the SDK threads' wake-ups while idle, and idle bytes once the heartbeat has stretched. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench.h"
#include "mpsync/mpsync.h"

/*
 * A wake-up is a thread leaving a blocking wait: every one shows in the kernel's count of
 * voluntary context switches. The bench's main thread sleeps in one long wait for the whole window
 * and is left out; the process holds no other thread of its own then (no proxy for these runs), so
 * the sum over the other threads is the SDK's: its loop, checkpoint and delivery threads.
 */
static long long sdk_voluntary_switches(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return -1;
  long long sum = 0;
  pid_t self = getpid();
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || atol(e->d_name) == (long)self) continue;
    char path[300], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue; /* the thread exited meanwhile */
    while (fgets(line, sizeof line, f)) {
      long long v;
      if (sscanf(line, "voluntary_ctxt_switches: %lld", &v) == 1) sum += v;
    }
    fclose(f);
  }
  closedir(d);
  return sum;
}

typedef struct idle_watch {
  atomic_uint heartbeat_s; /* the interval last set, from the SDK's log */
} idle_watch;

static void watch_log(void *ud, mpsync_log_level level, const char *msg) {
  idle_watch *w = ud;
  unsigned v;
  const char *hb = strstr(msg, "heartbeat interval ");
  if (hb && sscanf(hb, "heartbeat interval %us", &v) == 1) atomic_store(&w->heartbeat_s, v);
  if (level <= MPSYNC_LOG_WARN) fprintf(stderr, "mpsync-bench: sdk: %s\n", msg);
}

static void ignore_message(mpsync_client *c, const mpsync_message *m, void *ud) {
  (void)ud;
  mpsync_report(c, m->biz, m->id);
}

static mpsync_client *idle_client(const idle_spec *s, int port, idle_watch *w, unsigned grace_ms) {
  mpsync_config cfg;
  mpsync_config_init(&cfg, sizeof cfg);
  cfg.host = "127.0.0.1";
  cfg.port = (uint16_t)port;
  cfg.instance_id = BENCH_INSTANCE;
  cfg.data_dir = s->dir;
  cfg.device_id = s->device;
  cfg.plaintext = !s->tls;
  cfg.ca_file = s->tls ? s->ca : NULL;
  cfg.server_name = "localhost";
  cfg.background_grace_ms = grace_ms;
  cfg.log_fn = watch_log;
  cfg.log_level = MPSYNC_LOG_INFO;
  cfg.user_data = w;
  mpsync_client *c = NULL;
  if (mpsync_client_new(&cfg, &c)) return NULL;
  if (mpsync_register_biz(c, BENCH_BIZ, ignore_message, NULL) || mpsync_foreground(c)) {
    mpsync_client_free(c);
    return NULL;
  }
  return c;
}

static int until_connected(mpsync_client *c, int want, unsigned timeout_ms) {
  for (unsigned t = 0; t < timeout_ms; t += 10) {
    if (mpsync_is_connected(c) == want) return 0;
    sleep_ms(10);
  }
  return -1;
}

int idle_wakeups(const idle_spec *s, int port, unsigned window_ms, wakeup_result *out) {
  memset(out, 0, sizeof *out);
  idle_watch w = {0};
  const unsigned grace_ms = 500;
  mpsync_client *c = idle_client(s, port, &w, grace_ms);
  if (!c) return -1;
  int rc = -1;
  if (until_connected(c, 1, 10000) == 0) {
    sleep_ms(1500); /* the handshake's and first dispatch's work is over */
    long long a = sdk_voluntary_switches();
    sleep_ms(window_ms);
    long long b = sdk_voluntary_switches();
    out->heartbeat_s = atomic_load(&w.heartbeat_s);
    out->foreground = (double)(b - a);
    /* Background, past the grace: the link is closed and nothing is due. */
    if (a >= 0 && b >= a && mpsync_background(c) == 0 && until_connected(c, 0, grace_ms + 5000) == 0) {
      sleep_ms(500);
      long long x = sdk_voluntary_switches();
      sleep_ms(window_ms);
      long long y = sdk_voluntary_switches();
      if (x >= 0 && y >= x) {
        out->background = (double)(y - x);
        out->window_ms = window_ms;
        out->ok = 1;
        rc = 0;
      }
    }
  }
  mpsync_client_free(c);
  return rc;
}

int idle_stretched(const idle_spec *s, int port, unsigned max_s, unsigned window_ms,
                   stretched_result *out) {
  memset(out, 0, sizeof *out);
  int pport;
  count_proxy *p = proxy_start(port, &pport);
  if (!p) return -1;
  idle_watch w = {0};
  mpsync_client *c = idle_client(s, pport, &w, 0);
  int rc = -1;
  if (c && until_connected(c, 1, 10000) == 0) {
    /* 3 pongs at each interval before the next step: 1 + 2 + ... + (max-1) intervals of 3. */
    unsigned wait_ms = 3000u * max_s * max_s + 5000;
    for (unsigned t = 0; t < wait_ms && atomic_load(&w.heartbeat_s) < max_s; t += 50) sleep_ms(50);
    if (atomic_load(&w.heartbeat_s) == max_s) {
      uint64_t u0, d0, k0, u1, d1, k1;
      proxy_counts(p, &u0, &d0, &k0);
      sleep_ms(window_ms);
      proxy_counts(p, &u1, &d1, &k1);
      out->bytes = (double)(u1 - u0 + d1 - d0);
      out->exchanges = k1 - k0;
      out->window_ms = window_ms;
      out->heartbeat_s = max_s;
      out->ok = mpsync_is_connected(c) && out->exchanges > 0;
      rc = out->ok ? 0 : -1;
    }
  }
  mpsync_client_free(c);
  proxy_stop(p);
  return rc;
}

static cJSON *number_or_null(int ok, double v) {
  return ok ? cJSON_CreateNumber((double)(long long)(v * 100 + 0.5) / 100) : cJSON_CreateNull();
}

void battery_json(cJSON *out, cJSON *det, const wakeup_result *w, const stretched_result *st,
                  unsigned default_hb_s, const char *mode) {
  /* The 1 s server runs the default server's hours 1/scale as fast: the foreground's wake-ups
   * come per heartbeat, so they scale; the background has no timer to scale, so its count is
   * taken at face value. */
  double window_s = w->window_ms / 1000.0;
  int fg_ok = w->ok && w->heartbeat_s && default_hb_s;
  double beats = fg_ok ? window_s / w->heartbeat_s : 0;
  double per_beat = beats > 0 ? w->foreground / beats : 0;
  cJSON_AddItemToObject(out, "idle_wakeups_per_hour_foreground",
                        number_or_null(fg_ok, per_beat * 3600.0 / (default_hb_s ? default_hb_s : 1)));
  cJSON_AddItemToObject(out, "idle_wakeups_per_hour_background",
                        number_or_null(w->ok, w->background * 3600.0 / (window_s > 0 ? window_s : 1)));
  /* Per exchange, as idle_bytes_per_hour is: a window holds 2 or 3 pings at 3 s depending on
   * where it starts, which a bytes-per-second figure would carry into the result. */
  int st_ok = st->ok && st->heartbeat_s && default_hb_s;
  double st_window_s = st->window_ms / 1000.0;
  double per_exchange = st_ok ? st->bytes / (double)st->exchanges : 0;
  /* The run's base interval is 1 s: its 3 s maximum is 3 x default_hb_s at full scale. */
  double st_hour = st_ok ? per_exchange * 3600.0 / ((double)st->heartbeat_s * default_hb_s) : 0;
  cJSON_AddItemToObject(out, "idle_bytes_per_hour_stretched", number_or_null(st_ok, st_hour));
  cJSON *b = cJSON_AddObjectToObject(det, "battery");
  cJSON_AddStringToObject(b, "mode", mode);
  cJSON_AddItemToObject(b, "wakeups_foreground_in_window", number_or_null(w->ok, w->foreground));
  cJSON_AddItemToObject(b, "wakeups_background_in_window", number_or_null(w->ok, w->background));
  cJSON_AddItemToObject(b, "wakeup_window_s", number_or_null(w->ok, window_s));
  cJSON_AddItemToObject(b, "wakeups_per_heartbeat", number_or_null(fg_ok, per_beat));
  cJSON_AddItemToObject(b, "stretched_heartbeat_s", number_or_null(st_ok, st->heartbeat_s));
  cJSON_AddItemToObject(b, "stretched_exchanges_in_window", number_or_null(st_ok, (double)st->exchanges));
  cJSON_AddItemToObject(b, "stretched_bytes_in_window", number_or_null(st_ok, st->bytes));
  cJSON_AddItemToObject(b, "stretched_window_s", number_or_null(st_ok, st_window_s));
  cJSON_AddItemToObject(b, "stretched_bytes_per_exchange", number_or_null(st_ok, per_exchange));
  cJSON_AddStringToObject(
      b, "method",
      "voluntary_ctxt_switches summed over /proc/self/task/*/status of every thread but the bench's "
      "main thread (asleep in one wait through each window): the SDK's threads. Foreground: idle "
      "on a server with --heartbeat 1, per heartbeat, times 3600/heartbeat_interval_s of the "
      "default server. Background: after mpsync_background(), a 500 ms grace and the link's "
      "close, per hour at face value. Stretched: bytes per ping/pong exchange through a counting "
      "proxy once the smart heartbeat reached the maximum of a server with --heartbeat 1 "
      "--heartbeat-max 3, times 3600/(3 x heartbeat_interval_s): a default server whose maximum "
      "is 3x its interval");
}
