/* Small internal helpers shared by the client modules: time, logging, strings. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_UTIL_H
#define MPSYNC_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mpsync/mpsync.h"

/* Monotonic milliseconds, for timers and heartbeats. */
uint64_t mps_now_ms(void);
/* Wall-clock epoch milliseconds, for validTimeEnd. */
int64_t mps_wall_ms(void);

typedef struct mps_logger {
  mpsync_log_fn fn;
  void *ud;
  mpsync_log_level level;
} mps_logger;

void mps_log(const mps_logger *lg, mpsync_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* strdup that treats NULL as "". */
char *mps_strdup(const char *s);

#endif
