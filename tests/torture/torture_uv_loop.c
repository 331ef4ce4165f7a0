/* The smallest run that reaches libuv's abort on a failed allocation: the runner must recognise it (docs/RELIABILITY.md). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "alloc_fail.h"

/* A loop made and closed, as mpsync_client_new does first. libuv 1.44 answers a failed allocation
 * in uv_loop_init with an error, except when its watcher array cannot grow (uv__io_start ->
 * maybe_resize), where it calls abort(): scripts/torture.sh counts that abort as libuv's known
 * outcome, and only that one. `--abort-ourselves` aborts from this program instead when the loop
 * cannot be made, the case the runner must still call a bug (torture_libuv_abort_recognised). */
int main(int argc, char **argv) {
  int ours = argc == 2 && strcmp(argv[1], "--abort-ourselves") == 0;
  uv_loop_t loop;
  int rc = uv_loop_init(&loop);
  if (rc != 0) {
    if (ours && mps_alloc_fail_injected()) abort();
    fprintf(stderr, "torture_uv_loop: uv_loop_init: %s\n", uv_err_name(rc));
    return rc == UV_ENOMEM ? 0 : 3;
  }
  uv_async_t wake; /* an fd watcher more, as the client's loop has */
  rc = uv_async_init(&loop, &wake, NULL);
  if (rc == 0) uv_close((uv_handle_t *)&wake, NULL);
  else if (ours && mps_alloc_fail_injected()) abort();
  uv_run(&loop, UV_RUN_DEFAULT);
  return uv_loop_close(&loop) == 0 && (rc == 0 || rc == UV_ENOMEM) ? 0 : 3;
}
