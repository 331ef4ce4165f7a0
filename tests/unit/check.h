/* A minimal assertion kit for the unit tests: report file:line and exit non-zero on failure. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_TEST_CHECK_H
#define MPSYNC_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
      exit(1);                                                                  \
    }                                                                           \
  } while (0)

#define CHECK_EQ(a, b)                                                          \
  do {                                                                          \
    long long a_ = (long long)(a), b_ = (long long)(b);                         \
    if (a_ != b_) {                                                             \
      fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n",       \
              __FILE__, __LINE__, #a, a_, #b, b_);                              \
      exit(1);                                                                  \
    }                                                                           \
  } while (0)

#define CHECK_STR(a, b)                                                         \
  do {                                                                          \
    const char *a_ = (a), *b_ = (b);                                            \
    if (strcmp(a_, b_) != 0) {                                                  \
      fprintf(stderr, "%s:%d: CHECK_STR failed:\n  %s\n  %s\n", __FILE__,       \
              __LINE__, a_, b_);                                                \
      exit(1);                                                                  \
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
