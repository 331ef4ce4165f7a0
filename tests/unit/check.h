/* A minimal assertion kit for the unit tests: report file:line and exit non-zero on failure. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_TEST_CHECK_H
#define MPSYNC_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Under scripts/torture.sh (MPSYNC_TORTURE set) a check fails because an allocation was failed on
 * purpose, and the test stops with its own objects still open: _exit skips LeakSanitizer's
 * exit-time check, which would report them as the library's leaks. A torture run that reaches
 * the end of its test is leak-checked as usual. */
static inline void check_exit(void) {
  if (getenv("MPSYNC_TORTURE")) _exit(1);
  exit(1);
}

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
      check_exit();                                                             \
    }                                                                           \
  } while (0)

#define CHECK_EQ(a, b)                                                          \
  do {                                                                          \
    long long a_ = (long long)(a), b_ = (long long)(b);                         \
    if (a_ != b_) {                                                             \
      fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n",       \
              __FILE__, __LINE__, #a, a_, #b, b_);                              \
      check_exit();                                                             \
    }                                                                           \
  } while (0)

#define CHECK_STR(a, b)                                                         \
  do {                                                                          \
    const char *a_ = (a), *b_ = (b);                                            \
    if (strcmp(a_, b_) != 0) {                                                  \
      fprintf(stderr, "%s:%d: CHECK_STR failed:\n  %s\n  %s\n", __FILE__,       \
              __LINE__, a_, b_);                                                \
      check_exit();                                                             \
    }                                                                           \
  } while (0)

/* MPSYNC_TEST_ONLY=name runs that test alone: the allocation-failure sweep (scripts/torture.sh)
 * takes one test at a time, so that N counts from that test's start. */
#define RUN(test)                                                                   \
  do {                                                                              \
    const char *only_ = getenv("MPSYNC_TEST_ONLY");                                 \
    if (only_ && *only_ && strcmp(only_, #test) != 0) break;                        \
    test();                                                                         \
    fprintf(stderr, "ok %s\n", #test);                                              \
  } while (0)

#endif
