/* mpsync-bench helpers: monotonic clock, temp directories, peak RSS, quantiles. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "bench.h"

extern char **environ;

uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void temp_dir(const char *base, const char *tag, char *out, size_t len) {
  snprintf(out, len, "%s/mpsync-bench-%s-XXXXXX", base, tag);
  if (!mkdtemp(out)) {
    fprintf(stderr, "mpsync-bench: mkdtemp %s: %s\n", out, strerror(errno));
    exit(1);
  }
}

/* Runs argv to completion; 0 when it exited with 0. */
static int run(char *const argv[]) {
  pid_t pid;
  if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0) return -1;
  int st;
  if (waitpid(pid, &st, 0) < 0) return -1;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

void rm_rf(const char *dir) {
  char *argv[] = {"rm", "-rf", (char *)dir, NULL};
  run(argv);
}

int copy_dir(const char *src, const char *dst) {
  char *argv[] = {"cp", "-a", (char *)src, (char *)dst, NULL};
  return run(argv);
}

long vm_hwm_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double quantile(double *v, size_t n, double q) {
  if (!n) return 0;
  qsort(v, n, sizeof *v, cmp_double);
  size_t rank = (size_t)(q * (double)n + 0.999999); /* nearest rank: ceil(q n) */
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return v[rank - 1];
}
