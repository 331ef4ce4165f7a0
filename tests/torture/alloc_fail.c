/* Fail-the-Nth-allocation counter (MPSYNC_ALLOC_FAIL build only): the wrappers and the hooks into SQLite, libuv and mbedTLS. */
/* SPDX-License-Identifier: Apache-2.0 */
#define MPSYNC_ALLOC_FAIL_IMPL 1
#include "alloc_fail.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
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

/* Who asked: the report names it, so that the runner can tell an abort inside libuv after its
 * own allocation failed (libuv's policy, docs/RELIABILITY.md) from one of ours. */
enum { FROM_US, FROM_SQLITE, FROM_LIBUV, FROM_MBEDTLS };
static const char *const from_name[] = {"libmpsync", "sqlite", "libuv", "mbedtls"};

/* Every function an allocation passes through in this file sits in one section, so that the
 * per-site key (below) starts at the first frame outside it whatever the compiler inlined. */
#define AF_FN __attribute__((noinline, section("mps_af_text")))
extern const char __start_mps_af_text[], __stop_mps_af_text[];

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

/* Per-site mode. A sweep of N = 1, 2, ... reaches every allocation but costs one run per
 * allocation (hundreds of thousands here); a site is the call stack that asked, as offsets in
 * its modules (stable across runs despite ASLR), so one run per site reaches each way an
 * allocation can be made once. MPSYNC_SITES_LOG=FILE writes each site at its first use;
 * MPSYNC_FAIL_SITE=KEY fails the first allocation made from that site. */
static int site_mode;
static int site_depth = 6; /* MPSYNC_SITE_DEPTH: frames in a key */
static uint64_t fail_site;
static atomic_int site_done;
static int sites_fd = -1;
static pthread_mutex_t site_lock = PTHREAD_MUTEX_INITIALIZER;
#define SITE_SLOTS (1u << 16)
static uint64_t site_seen[SITE_SLOTS]; /* open addressing; 0 = empty */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

/* Called with site_lock held: backtrace and dladdr take no lock of ours and allocate through
 * glibc's own malloc, which never comes back here. */
AF_FN static uint64_t site_key(uint64_t n) {
  void *pc[48];
  int depth = backtrace(pc, 48), used = 0;
  uint64_t h = 1469598103934665603ull;
  char desc[512];
  size_t len = 0;
  for (int i = 0; i < depth && used < site_depth; i++) {
    const char *a = pc[i];
    if (a >= __start_mps_af_text && a < __stop_mps_af_text) continue;
    Dl_info info;
    const char *mod = "?";
    uintptr_t off = (uintptr_t)a;
    if (dladdr(a, &info) && info.dli_fname) {
      mod = strrchr(info.dli_fname, '/') ? strrchr(info.dli_fname, '/') + 1 : info.dli_fname;
      off = (uintptr_t)(a - (const char *)info.dli_fbase);
    }
    /* ASan intercepts backtrace(): its own frame says nothing about who allocated. */
    if (strncmp(mod, "libasan", 7) == 0 || strncmp(mod, "libubsan", 8) == 0) continue;
    h = fnv(fnv(h, mod, strlen(mod)), &off, sizeof off);
    int w = snprintf(desc + len, sizeof desc - len, " %s+0x%lx", mod, (unsigned long)off);
    if (w > 0 && (size_t)w < sizeof desc - len) len += (size_t)w;
    used++;
  }
  if (h == 0) h = 1;
  uint32_t slot = (uint32_t)h & (SITE_SLOTS - 1);
  for (uint32_t probe = 0; probe < SITE_SLOTS; probe++, slot = (slot + 1) & (SITE_SLOTS - 1)) {
    if (site_seen[slot] == h) return h;
    if (site_seen[slot] == 0) {
      site_seen[slot] = h;
      if (sites_fd >= 0) {
        char line[640];
        int w = snprintf(line, sizeof line, "site %016llx %llu%s\n", (unsigned long long)h,
                         (unsigned long long)n, desc);
        if (w > 0) {
          ssize_t r = write(sites_fd, line, (size_t)w < sizeof line ? (size_t)w : sizeof line - 1);
          (void)r;
        }
      }
      return h;
    }
  }
  return h; /* table full: still a key, no longer logged */
}

/* True when this call is the one to fail. Every allocator of the process calls it once per
 * request, from any thread, hence the atomics. */
AF_FN static int should_fail(int from) {
  uint64_t n = atomic_fetch_add(&counted, 1) + 1;
  int fail = 0;
  if (site_mode) {
    pthread_mutex_lock(&site_lock);
    uint64_t key = site_key(n);
    pthread_mutex_unlock(&site_lock);
    fail = fail_site && key == fail_site && !atomic_exchange(&site_done, 1);
  } else {
    uint64_t at = atomic_load(&fail_at);
    fail = at != 0 && n == at;
  }
  if (!fail) return 0;
  atomic_fetch_add(&injected, 1);
  note("injected", n);
  note(from_name[from], n);
  return 1;
}

void mps_alloc_fail_arm(uint64_t n) {
  atomic_store(&fail_at, n ? atomic_load(&counted) + n : 0);
}

uint64_t mps_alloc_fail_count(void) { return atomic_load(&counted); }
uint64_t mps_alloc_fail_injected(void) { return atomic_load(&injected); }

AF_FN void *mps_af_malloc(size_t n) { return should_fail(FROM_US) ? NULL : malloc(n); }
AF_FN void *mps_af_calloc(size_t n, size_t size) {
  return should_fail(FROM_US) ? NULL : calloc(n, size);
}
/* realloc(p, 0) frees on glibc: not an allocation, and failing it would leak p. */
AF_FN void *mps_af_realloc(void *p, size_t n) {
  if (p && n == 0) return realloc(p, n);
  return should_fail(FROM_US) ? NULL : realloc(p, n);
}
AF_FN char *mps_af_strdup(const char *s) { return should_fail(FROM_US) ? NULL : strdup(s); }
AF_FN char *mps_af_strndup(const char *s, size_t n) {
  return should_fail(FROM_US) ? NULL : strndup(s, n);
}

AF_FN static void *uv_af_malloc(size_t n) { return should_fail(FROM_LIBUV) ? NULL : malloc(n); }
AF_FN static void *uv_af_calloc(size_t n, size_t size) {
  return should_fail(FROM_LIBUV) ? NULL : calloc(n, size);
}
AF_FN static void *uv_af_realloc(void *p, size_t n) {
  if (p && n == 0) return realloc(p, n);
  return should_fail(FROM_LIBUV) ? NULL : realloc(p, n);
}
#if defined(MBEDTLS_PLATFORM_MEMORY) && !defined(MBEDTLS_PLATFORM_CALLOC_MACRO)
AF_FN static void *tls_af_calloc(size_t n, size_t size) {
  return should_fail(FROM_MBEDTLS) ? NULL : calloc(n, size);
}
#endif

/* SQLite wants the size of a block back (xSize): it is kept in a header in front, as SQLite's
 * own mem1.c does where malloc_usable_size is missing. 16 bytes keep the block max-aligned. */
#define SQL_HDR 16
AF_FN static void *sql_malloc(int n) {
  if (n <= 0 || should_fail(FROM_SQLITE)) return NULL;
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
AF_FN static void *sql_realloc(void *p, int n) {
  if (!p) return sql_malloc(n);
  if (n <= 0 || should_fail(FROM_SQLITE)) return NULL;
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
  if (uv_replace_allocator(uv_af_malloc, uv_af_realloc, uv_af_calloc, free) != 0)
    fprintf(stderr, "alloc_fail: uv_replace_allocator refused\n");
#if defined(MBEDTLS_PLATFORM_MEMORY) && !defined(MBEDTLS_PLATFORM_CALLOC_MACRO)
  mbedtls_platform_set_calloc_free(tls_af_calloc, free);
#endif
  /* Read, then removed: a child process (the mock server of a test) must not inherit the
   * failure meant for this one. */
  const char *report = getenv("MPSYNC_FAIL_REPORT");
  if (report && *report) {
    report_fd = open(report, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    atexit(write_count);
  }
  const char *sites = getenv("MPSYNC_SITES_LOG"), *site = getenv("MPSYNC_FAIL_SITE");
  const char *depth = getenv("MPSYNC_SITE_DEPTH");
  if (depth && atoi(depth) > 0) site_depth = atoi(depth);
  if (sites && *sites) sites_fd = open(sites, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (site && *site) fail_site = strtoull(site, NULL, 16);
  site_mode = sites_fd >= 0 || fail_site != 0;
  if (site_mode) {
    void *warm[4]; /* backtrace loads libgcc_s at its first call: here, not inside an allocator */
    (void)backtrace(warm, 4);
  }
  const char *at = getenv("MPSYNC_FAIL_AT");
  if (at && *at) mps_alloc_fail_arm(strtoull(at, NULL, 10));
  unsetenv("MPSYNC_FAIL_AT");
  unsetenv("MPSYNC_FAIL_REPORT");
  unsetenv("MPSYNC_SITES_LOG");
  unsetenv("MPSYNC_FAIL_SITE");
}
