/* Unit tests of the MPSYNC_ALLOC_FAIL build: each allocator counts and fails when armed, and the regressions the torture sweeps found. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <mbedtls/version.h>
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#include <mbedtls/build_info.h>
#else
#include <mbedtls/config.h>
#endif
#include <mbedtls/platform.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <unistd.h>
#include <uv.h>

#include "../unit/check.h"
#include "core/wire.h"
#include "mpsync/mpsync_errors.h"
#include "store/store.h"
#include "tls/tls.h"
#include "alloc_fail.h"

/* The library's own allocations: a buffer that must grow answers ENOMEM, then grows. */
static void test_own_allocation_fails_when_armed(void) {
  mps_buf b = {0};
  uint64_t injected = mps_alloc_fail_injected();
  mps_alloc_fail_arm(1);
  CHECK_EQ(mps_buf_reserve(&b, 10), MPSYNC_ENOMEM);
  CHECK_EQ(mps_alloc_fail_injected(), injected + 1);
  CHECK(b.data == NULL);
  CHECK_EQ(mps_buf_reserve(&b, 10), 0); /* one failure per arming */
  mps_buf_free(&b);
}

/* SQLite's allocator was replaced before it initialised: its allocations count and fail. */
static void test_sqlite_allocation_fails_when_armed(void) {
  uint64_t before = mps_alloc_fail_count(), injected = mps_alloc_fail_injected();
  void *p = sqlite3_malloc(32);
  CHECK(p != NULL);
  CHECK(mps_alloc_fail_count() > before);
  CHECK_EQ(sqlite3_msize(p), 32);
  sqlite3_free(p);
  mps_alloc_fail_arm(1);
  CHECK(sqlite3_malloc(32) == NULL);
  CHECK_EQ(mps_alloc_fail_injected(), injected + 1);
}

/* libuv's allocator too: a loop that cannot allocate is refused, not half made. */
static void test_libuv_allocation_fails_when_armed(void) {
  uint64_t injected = mps_alloc_fail_injected();
  mps_alloc_fail_arm(1);
  uv_loop_t *loop = uv_loop_new();
  CHECK(loop == NULL);
  CHECK_EQ(mps_alloc_fail_injected(), injected + 1);
}

#if defined(MBEDTLS_PLATFORM_MEMORY) && !defined(MBEDTLS_PLATFORM_CALLOC_MACRO)
/* Only where mbedTLS was built with MBEDTLS_PLATFORM_MEMORY (scripts/torture.sh --mbedtls3; not
 * Debian's 2.28): its allocations count and fail like the others. */
static void test_mbedtls_allocation_fails_when_armed(void) {
  uint64_t before = mps_alloc_fail_count(), injected = mps_alloc_fail_injected();
  void *p = mbedtls_calloc(1, 32);
  CHECK(p != NULL);
  CHECK(mps_alloc_fail_count() > before);
  mbedtls_free(p);
  mps_alloc_fail_arm(1);
  CHECK(mbedtls_calloc(1, 32) == NULL);
  CHECK_EQ(mps_alloc_fail_injected(), injected + 1);
}
#endif

#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PLATFORM_MEMORY) && \
    !defined(MBEDTLS_PLATFORM_CALLOC_MACRO)
static mpsync_trust_verdict accept_all(void *ud, const char *host, const uint8_t *const *certs,
                                       const size_t *lens, size_t count, int verified) {
  (void)ud, (void)host, (void)certs, (void)lens, (void)count, (void)verified;
  return MPSYNC_TRUST_ACCEPT;
}

/* Found by the --mbedtls3 sweep: PSA's initialisation ran under pthread_once, so when one of its
 * allocations failed the failure was kept for the life of the process and every later client
 * answered MPSYNC_ETLS ("the crypto library did not initialise"). Failing the 1st, 2nd, ...
 * allocation of a TLS config, one per attempt, each attempt answers 0 or a clear error, and the
 * first attempt in which nothing fails must work. Must run before anything else initialises PSA
 * in this process. */
static void test_tls_config_works_again_after_out_of_memory(void) {
  mps_tls_trust trust = {.verify_fn = accept_all, .hook_decides = 1}; /* no CA store to read */
  for (uint64_t k = 1;; k++) {
    uint64_t before = mps_alloc_fail_injected();
    mps_tls_config *c = NULL;
    char err[200] = "";
    mps_alloc_fail_arm(k);
    int rc = mps_tls_client_config(&trust, &c, err, sizeof err);
    mps_alloc_fail_arm(0);
    if (rc == 0) mps_tls_config_free(c);
    if (mps_alloc_fail_injected() > before) {
      CHECK(rc == 0 || rc == MPSYNC_ENOMEM || rc == MPSYNC_ETLS);
      continue;
    }
    if (rc != 0) fprintf(stderr, "  nothing failed at attempt %llu: %s\n", (unsigned long long)k, err);
    CHECK_EQ(rc, 0);
    fprintf(stderr, "  %llu attempts\n", (unsigned long long)k);
    break;
  }
}
#endif

/* Disarmed, nothing fails however much is allocated. */
static void test_disarmed_never_fails(void) {
  uint64_t injected = mps_alloc_fail_injected();
  mps_alloc_fail_arm(5);
  mps_alloc_fail_arm(0);
  mps_buf b = {0};
  for (int i = 0; i < 20; i++) CHECK_EQ(mps_buf_reserve(&b, (size_t)256 << i), 0);
  mps_buf_free(&b);
  CHECK_EQ(mps_alloc_fail_injected(), injected);
}

/* Found by the sweep: the store's first allocation failing left errbuf unwritten, and the client
 * logged and kept its uninitialised stack buffer as the reason. The reason must be a string. */
static void test_store_open_out_of_memory_says_so(void) {
  char dir[] = "/tmp/mpsync-af-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char err[256];
  memset(err, 'x', sizeof err); /* no NUL anywhere, as a stack buffer may hold */
  mps_store *st = (mps_store *)&st;
  mps_alloc_fail_arm(1); /* the store object itself */
  CHECK_EQ(mps_store_open(dir, &st, err, sizeof err), MPSYNC_ENOMEM);
  CHECK(st == NULL);
  CHECK(memchr(err, '\0', sizeof err) != NULL);
  CHECK(err[0] != '\0' && err[0] != 'x');
  CHECK_EQ(rmdir(dir), 0);
}

/* A batch of n oplogs of user u1's UCHAT stream, ids first..first+n-1. */
static int commit_oplogs(mps_store *st, uint64_t first, size_t n) {
  mps_oplog_msg ops[8], *opp[8];
  char third[8][24];
  CHECK(n <= 8);
  for (size_t i = 0; i < n; i++) {
    mps_oplog_msg o = MPSYNC__WIRE__OPLOG__INIT;
    ops[i] = o;
    ops[i].id = first + i;
    ops[i].payload.data = (uint8_t *)"payload";
    ops[i].payload.len = 7;
    snprintf(third[i], sizeof third[i], "t%llu", (unsigned long long)(first + i));
    ops[i].third_msg_id = third[i];
    opp[i] = &ops[i];
  }
  mps_batch b = MPSYNC__WIRE__OPLOG_BATCH__INIT;
  b.kind = MPSYNC__WIRE__STREAM_KIND__STREAM_USER;
  b.biz_type = "UCHAT";
  b.target = "u1";
  b.oplogs = opp;
  b.n_oplogs = n;
  b.epoch = 7;
  uint64_t point;
  size_t inserted;
  int cut;
  return mps_store_commit_batch(st, &b, SIZE_MAX, &point, &inserted, &cut);
}

/* Every cached oplog of u1's UCHAT, dispatched and deleted one message at a time: their number. */
static int64_t drain(mps_store *st) {
  int64_t n = 0;
  for (;;) {
    mps_msg *m = NULL;
    CHECK_EQ(mps_store_next_message(st, "UCHAT", "u1", 0, 100, 6, &m), 0);
    if (!m) return n;
    n += (int64_t)m->count;
    CHECK_EQ(mps_store_delete_message(st, m), 0);
    mps_msg_free(m);
  }
}

/* The cache stays consistent whichever allocation fails in open, commit or dispatch: each call
 * answers 0 or an error code, a batch is either all in the cache or not at all (C3), and a
 * clean open afterwards finds exactly the oplogs whose commit answered 0, none delivered twice
 * as new. Every STEP-th allocation (MPSYNC_TORTURE_STEP, default 61): a full sweep takes minutes. */
static void test_store_consistent_after_any_failure(void) {
  const char *env = getenv("MPSYNC_TORTURE_STEP");
  uint64_t step = env && *env ? strtoull(env, NULL, 10) : 61;
  if (step == 0) step = 1;
  char dir[] = "/tmp/mpsync-af-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  uint64_t next_id = 1;
  int64_t committed = 0; /* oplogs whose commit answered 0 and not drained yet */
  bool injected_this_time = true;
  int runs = 0;
  for (uint64_t k = 1; injected_this_time; k += step, runs++) {
    uint64_t before = mps_alloc_fail_injected();
    mps_alloc_fail_arm(k);
    mps_store *st = NULL;
    char err[256] = "";
    int rc = mps_store_open(dir, &st, err, sizeof err);
    if (rc == 0) {
      int c = commit_oplogs(st, next_id, 3);
      CHECK(c <= 0 && strcmp(mpsync_err_name(c), "MPSYNC_UNKNOWN") != 0);
      if (c == 0) committed += 3;
      next_id += 3; /* a failed batch is sent again by the server: never with the same ids here */
      mps_msg *m = NULL;
      int d = mps_store_next_message(st, "UCHAT", "u1", 0, 2, 6, &m);
      CHECK(d <= 0 && strcmp(mpsync_err_name(d), "MPSYNC_UNKNOWN") != 0);
      mps_msg_free(m); /* dispatched, never reported: stays in the cache */
      mps_store_close(st);
    } else {
      CHECK(rc == MPSYNC_ESTORE || rc == MPSYNC_ENOMEM);
      CHECK(st == NULL);
      CHECK(err[0] != '\0');
    }
    injected_this_time = mps_alloc_fail_injected() > before;
    mps_alloc_fail_arm(0);
    /* The honest reopen: no failure, and everything committed is there exactly once. */
    CHECK_EQ(mps_store_open(dir, &st, err, sizeof err), 0);
    CHECK(!mps_store_recovered(st));
    CHECK_EQ(mps_store_pending(st), committed);
    CHECK_EQ(drain(st), committed);
    committed = 0;
    mps_store_close(st);
  }
  fprintf(stderr, "  %d runs, step %llu\n", runs, (unsigned long long)step);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_EQ(system(cmd), 0);
}

int main(void) {
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PLATFORM_MEMORY) && \
    !defined(MBEDTLS_PLATFORM_CALLOC_MACRO)
  RUN(test_tls_config_works_again_after_out_of_memory); /* first: PSA not initialised yet */
#endif
  RUN(test_own_allocation_fails_when_armed);
  RUN(test_sqlite_allocation_fails_when_armed);
  RUN(test_libuv_allocation_fails_when_armed);
#if defined(MBEDTLS_PLATFORM_MEMORY) && !defined(MBEDTLS_PLATFORM_CALLOC_MACRO)
  RUN(test_mbedtls_allocation_fails_when_armed);
#endif
  RUN(test_disarmed_never_fails);
  RUN(test_store_open_out_of_memory_says_so);
  RUN(test_store_consistent_after_any_failure);
  return 0;
}
