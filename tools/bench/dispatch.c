/* mpsync-bench: the cache's cost per dispatch with and without another user's oplogs cached. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "store/store.h"

#define OWN_USER "bench-bound-user"
#define FOREIGN_USER "bench-other-user"
#define BATCH 1000u

/* Stores n oplogs of payload bytes for user's stream of BENCH_BIZ, BATCH a transaction, as the
 * client stores a backlog. 0 on success. */
static int store_user_oplogs(mps_store *st, const char *user, size_t n, size_t payload) {
  static mps_oplog_msg ops[BATCH];
  static mps_oplog_msg *opp[BATCH];
  uint8_t *blob = malloc(payload ? payload : 1);
  if (!blob) return -1;
  memset(blob, 'x', payload);
  int rc = 0;
  for (size_t done = 0; !rc && done < n;) {
    size_t k = n - done < BATCH ? n - done : BATCH;
    for (size_t i = 0; i < k; i++) {
      mps_oplog_msg o = MPSYNC__WIRE__OPLOG__INIT;
      ops[i] = o;
      ops[i].id = done + i + 1;
      ops[i].payload.data = blob;
      ops[i].payload.len = payload;
      ops[i].third_msg_id = "bench";
      opp[i] = &ops[i];
    }
    mps_batch b = MPSYNC__WIRE__OPLOG_BATCH__INIT;
    b.kind = MPSYNC__WIRE__STREAM_KIND__STREAM_USER;
    b.biz_type = BENCH_BIZ;
    b.target = (char *)user;
    b.epoch = 1;
    b.oplogs = opp;
    b.n_oplogs = k;
    uint64_t point;
    size_t inserted;
    int cut;
    rc = mps_store_commit_batch(st, &b, SIZE_MAX, &point, &inserted, &cut) || inserted != k;
    done += k;
  }
  free(blob);
  return rc;
}

/* A cache in dir holding foreign oplogs of another user, then the bound user's; the median ms of
 * the bound user's dispatches (one oplog a message, each reported before the next), or -1. */
static double dispatch_ms(const char *dir, size_t foreign, size_t dispatches, size_t payload) {
  mps_store *st;
  char err[256];
  if (mps_store_open(dir, &st, err, sizeof err) != 0) return -1;
  double *ms = calloc(dispatches, sizeof *ms);
  size_t got = 0;
  if (ms && store_user_oplogs(st, FOREIGN_USER, foreign, payload) == 0 &&
      store_user_oplogs(st, OWN_USER, dispatches, payload) == 0) {
    for (; got < dispatches; got++) {
      mps_msg *m = NULL;
      uint64_t t0 = now_us();
      int rc = mps_store_next_message(st, BENCH_BIZ, OWN_USER, 0, 1, 6, &m);
      ms[got] = (double)(now_us() - t0) / 1e3;
      if (rc || !m || mps_store_delete_message(st, m) != 0) {
        mps_msg_free(m);
        break;
      }
      mps_msg_free(m);
    }
  }
  double median = got == dispatches && got ? quantile(ms, got, 0.5) : -1;
  free(ms);
  mps_store_close(st);
  return median;
}

int dispatch_cost(const char *base, size_t foreign, size_t dispatches, size_t payload,
                  dispatch_result *out) {
  memset(out, 0, sizeof *out);
  char dir[600];
  /* Empty first, then behind the backlog: each in a cache of its own on the run's disk. */
  temp_dir(base, "dispatch-empty", dir, sizeof dir);
  out->empty_ms = dispatch_ms(dir, 0, dispatches, payload);
  rm_rf(dir);
  temp_dir(base, "dispatch-foreign", dir, sizeof dir);
  out->foreign_ms = dispatch_ms(dir, foreign, dispatches, payload);
  rm_rf(dir);
  out->ok = out->empty_ms > 0 && out->foreign_ms > 0;
  return out->ok ? 0 : -1;
}
