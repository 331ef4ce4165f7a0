/* Fail-the-Nth-allocation build (MPSYNC_ALLOC_FAIL): force-included into every libmpsync source. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_UTIL_ALLOC_FAIL_H
#define MPSYNC_UTIL_ALLOC_FAIL_H

/* Forced in with `-include` by CMake in that build only, so that no call site changes: the other
 * modules are edited by several people at once, and a macro cannot be forgotten at a new call site
 * the way a hand-written wrapper call can (curl's memdebug.h does the same). The wrappers only
 * count and forward to the C library, so a block from the wrapped malloc may be given to plain
 * free() and the other way round: free() needs no mapping. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *mps_af_malloc(size_t n);
void *mps_af_calloc(size_t n, size_t size);
void *mps_af_realloc(void *p, size_t n);
char *mps_af_strdup(const char *s);
char *mps_af_strndup(const char *s, size_t n);

/* Fails the nth allocation counted from this call (1 = the next one); 0 disarms. Every allocator
 * counts against one total: ours, SQLite's, libuv's (and mbedTLS' where it can be hooked). The
 * environment variable MPSYNC_FAIL_AT=N arms it at process start instead. */
void mps_alloc_fail_arm(uint64_t n);
/* MPSYNC_SITES_LOG=FILE writes each allocation site (the call stack that asked, as module offsets)
 * at its first use, and MPSYNC_FAIL_SITE=KEY fails the first allocation from that site instead
 * of the Nth: scripts/torture.sh --sites runs once per site. */
/* Allocations counted since the process started. */
uint64_t mps_alloc_fail_count(void);
/* Allocations failed on purpose so far (0 or 1 per arming). */
uint64_t mps_alloc_fail_injected(void);

#ifndef MPSYNC_ALLOC_FAIL_IMPL
#define malloc(n) mps_af_malloc(n)
#define calloc(n, size) mps_af_calloc(n, size)
#define realloc(p, n) mps_af_realloc(p, n)
#define strdup(s) mps_af_strdup(s)
#define strndup(s, n) mps_af_strndup(s, n)
#endif

#endif
