/* Fail-the-Nth-allocation counter (MPSYNC_ALLOC_FAIL build only): the wrappers and the hooks into SQLite, libuv and mbedTLS. */
/* SPDX-License-Identifier: Apache-2.0 */
#define MPSYNC_ALLOC_FAIL_IMPL 1
#include "alloc_fail.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include <mbedtls/version.h>
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#include <mbedtls/build_info.h>
#else
#include <mbedtls/config.h>
#endif
#include <mbedtls/platform.h>
#include <sqlite3.h>
#include <uv.h>

/* The forced include maps the names; here the real ones are wanted. */
#undef malloc
#undef calloc
#undef realloc
#undef strdup
#undef strndup

static atomic_uint_fast64_t counted;  /* allocations seen since start */
static atomic_uint_fast64_t fail_at;  /* value of counted that fails; 0 = never */
static atomic_uint_fast64_t injected; /* failures made on purpose */
static int report_fd = -1;            /* MPSYNC_FAIL_REPORT: a line per injection, and at exit */

static void note(const char *what, uint64_t n) {
  if (report_fd < 0) return;
  /* Inside an allocator: format by hand into a stack buffer, write(2) it, allocate nothing. */
  char line[64], digits[24];
  size_t k = 0, len = 0;
  do digits[k++] = (char)('0' + n % 10);
  while ((n /= 10) != 0);
  while (*what && len < sizeof line - sizeof digits - 2) line[len++] = *what++;
  line[len++] = ' ';
  while (k) line[len++] = digits[--k];
  line[len++] = '\n';
  ssize_t w = write(report_fd, line, len);
  (void)w;
}

/* True when this call is the one to fail. Every allocator of the process calls it once per
 * request, from any thread, hence the atomics. */
static int should_fail(void) {
  uint64_t n = atomic_fetch_add(&counted, 1) + 1;
  uint64_t at = atomic_load(&fail_at);
  if (at == 0 || n != at) return 0;
  atomic_fetch_add(&injected, 1);
  note("injected", n);
  return 1;
}

void mps_alloc_fail_arm(uint64_t n) {
  atomic_store(&fail_at, n ? atomic_load(&counted) + n : 0);
}

uint64_t mps_alloc_fail_count(void) { return atomic_load(&counted); }
uint64_t mps_alloc_fail_injected(void) { return atomic_load(&injected); }

void *mps_af_malloc(size_t n) { return should_fail() ? NULL : malloc(n); }
void *mps_af_calloc(size_t n, size_t size) { return should_fail() ? NULL : calloc(n, size); }
void *mps_af_realloc(void *p, size_t n) {
  /* realloc(p, 0) frees on glibc: not an allocation, and failing it would leak p. */
  if (p && n == 0) return realloc(p, n);
  return should_fail() ? NULL : realloc(p, n);
}
char *mps_af_strdup(const char *s) { return should_fail() ? NULL : strdup(s); }
char *mps_af_strndup(const char *s, size_t n) { return should_fail() ? NULL : strndup(s, n); }

/* SQLite wants the size of a block back (xSize): it is kept in a header in front, as SQLite's
 * own mem1.c does where malloc_usable_size is missing. 16 bytes keep the block max-aligned. */
#define SQL_HDR 16
static void *sql_malloc(int n) {
  if (n <= 0 || should_fail()) return NULL;
  uint8_t *p = malloc((size_t)n + SQL_HDR);
  if (!p) return NULL;
  memcpy(p, &(size_t){(size_t)n}, sizeof(size_t));
  return p + SQL_HDR;
}
static void sql_free(void *p) {
  if (p) free((uint8_t *)p - SQL_HDR);
}
static int sql_size(void *p) {
  size_t n = 0;
  if (p) memcpy(&n, (uint8_t *)p - SQL_HDR, sizeof n);
  return (int)n;
}
static void *sql_realloc(void *p, int n) {
  if (!p) return sql_malloc(n);
  if (n <= 0 || should_fail()) return NULL;
  uint8_t *q = realloc((uint8_t *)p - SQL_HDR, (size_t)n + SQL_HDR);
  if (!q) return NULL;
  memcpy(q, &(size_t){(size_t)n}, sizeof(size_t));
  return q + SQL_HDR;
}
static int sql_roundup(int n) { return (n + 7) & ~7; }
static int sql_init(void *ud) {
  (void)ud;
  return SQLITE_OK;
}
static void sql_shutdown(void *ud) { (void)ud; }

static void write_count(void) { note("allocations", atomic_load(&counted)); }

/* Before main, so before SQLite initialises itself and before libuv allocates anything: both
 * refuse a new allocator later. */
__attribute__((constructor)) static void alloc_fail_setup(void) {
  static const sqlite3_mem_methods sql = {sql_malloc, sql_free,     sql_realloc, sql_size,
                                          sql_roundup, sql_init, sql_shutdown, NULL};
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &sql) != SQLITE_OK)
    fprintf(stderr, "alloc_fail: sqlite3_config(SQLITE_CONFIG_MALLOC) refused\n");
  if (uv_replace_allocator(mps_af_malloc, mps_af_realloc, mps_af_calloc, free) != 0)
    fprintf(stderr, "alloc_fail: uv_replace_allocator refused\n");
#if defined(MBEDTLS_PLATFORM_MEMORY) && !defined(MBEDTLS_PLATFORM_CALLOC_MACRO)
  mbedtls_platform_set_calloc_free(mps_af_calloc, free);
#endif
  /* Read, then removed: a child process (the mock server of a test) must not inherit the
   * failure meant for this one. */
  const char *report = getenv("MPSYNC_FAIL_REPORT");
  if (report && *report) {
    report_fd = open(report, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    atexit(write_count);
  }
  const char *at = getenv("MPSYNC_FAIL_AT");
  if (at && *at) mps_alloc_fail_arm(strtoull(at, NULL, 10));
  unsetenv("MPSYNC_FAIL_AT");
  unsetenv("MPSYNC_FAIL_REPORT");
}
