#!/usr/bin/env bash
# Regression test of the torture runner's one exception: libuv's abort() after its own allocation failed is known, any other abort is a bug.
# SPDX-License-Identifier: Apache-2.0
#
# usage: libuv_abort_test.sh SOURCE_DIR BUILD_DIR   (an MPSYNC_ALLOC_FAIL build with torture_uv_loop)
set -uo pipefail
src=$1 build=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fail() { echo "libuv_abort_test: $*" >&2; cat "$out" >&2; exit 1; }

# libuv 1.44 aborts in uv_loop_init when its second allocation (the watcher array) fails: the
# sweep must pass, and say it saw that abort.
bash "$src/scripts/torture.sh" --no-build --only '^libuv_loop$' "$build" > "$out" 2>&1 ||
  fail "a sweep whose only abort is libuv's own was called bad"
grep -Eq 'torture: libuv_loop: .* [1-9][0-9]* libuv aborts, 0 bad' "$out" ||
  fail "the sweep did not recognise libuv's abort"

# The same program aborting from its own code when the loop cannot be made: a bug, whatever
# allocation failed (here libuv's too, so the stack is what tells them apart).
TORTURE_UV_LOOP_ARGS=--abort-ourselves bash "$src/scripts/torture.sh" --no-build --only '^libuv_loop$' \
  "$build" > "$out" 2>&1 && fail "an abort outside libuv passed"
grep -q 'torture: BUG libuv_loop N=1' "$out" || fail "the abort outside libuv was not reported as a bug"
echo "libuv_abort_test: libuv's abort known, ours a bug"
