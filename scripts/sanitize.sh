#!/usr/bin/env bash
# Runs the CTest suite under ASan+UBSan (build-asan) and the threaded tests under TSan (build-tsan);
# SPDX-License-Identifier: Apache-2.0
# any sanitizer report, also from a child process such as the mock server, fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# clang is not needed here (gcc's sanitizers), but libFuzzer's runtime ships with it: fuzz.sh and
# this script share one dependency line so that either may run first.
bash scripts/deps.sh clang libclang-rt-14-dev

jobs=${MPSYNC_JOBS:-2}
status=0

# Reports go to files as well as failing the process: a sanitizer error in a helper process whose
# exit code a test ignores (a mock server or mpsync-cli stopped at the end of an e2e test) must
# still fail the run.
check_logs() {
  local dir=$1 name=$2
  if compgen -G "$dir/*" > /dev/null; then
    echo "sanitize: $name reports:" >&2
    for f in "$dir"/*; do
      echo "---- $f" >&2
      cat "$f" >&2
    done
    status=1
  else
    echo "sanitize: $name: 0 reports"
  fi
}

# ---- ASan + UBSan: the whole suite --------------------------------------------------------------
# MPSYNC_SANITIZE adds -fsanitize=address,undefined -fno-sanitize-recover=all: the first report
# aborts the process. MPSYNC_FUZZ adds the fuzz targets as replay drivers (gcc has no libFuzzer):
# their seed corpus and every saved crash input (tests/fuzz/regressions/) run as CTest entries.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPSYNC_SANITIZE=ON -DMPSYNC_FUZZ=ON \
  > build-asan.configure.log || { cat build-asan.configure.log; exit 1; }
rm -f build-asan.configure.log
cmake --build build-asan -j"$jobs"

asan_logs=$root/build-asan/sanitizer-logs
rm -rf "$asan_logs" && mkdir -p "$asan_logs"
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:log_path=$asan_logs/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$asan_logs/ubsan"
# Leaks of the GNUstep runtime only (see the file); nothing of ours is suppressed.
export LSAN_OPTIONS="suppressions=$root/tests/fuzz/lsan.supp:print_suppressions=0"

# The JVM is not built with ASan: it loads libmpsync_jni.so (which needs the ASan runtime first in
# the process) only if the runtime is preloaded. The JVM also uses SIGSEGV on purpose (implicit
# null checks, safepoints), so ASan must leave that signal alone, and it never frees its own heap,
# so leak checking is off for these tests only; every other ASan and UBSan check stays on.
# The AAR tests run no code of ours, only cmake and a cross compiler, which the preloaded runtime
# slows past their timeout: the native stage covers them.
asan_rc=0
ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 300 -E '^jni_' || asan_rc=1
LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
  ASAN_OPTIONS="halt_on_error=1:handle_segv=0:allow_user_segv_handler=1:detect_leaks=0:log_path=$asan_logs/asan" \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 300 -R '^jni_' -E '^jni_aar_' || asan_rc=1
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
[ "$asan_rc" -eq 0 ] || { echo "sanitize: ASan+UBSan suite failed" >&2; status=1; }
check_logs "$asan_logs" "ASan+UBSan"

# ---- TSan: the threaded tests --------------------------------------------------------------------
# No MPSYNC_TSAN option in the top CMakeLists: the flags come from the command line. The bindings
# are off (not in the selection below), and only the targets those tests run are built.
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPSYNC_JNI=OFF -DMPSYNC_OBJC=OFF \
  "-DCMAKE_C_FLAGS=-fsanitize=thread -fno-omit-frame-pointer" \
  "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread" "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread" \
  > build-tsan.configure.log || { cat build-tsan.configure.log; exit 1; }
rm -f build-tsan.configure.log
cmake --build build-tsan -j"$jobs" --target test_rules test_core test_store mpsync-mock-server mpsync-cli mpsync

tsan_logs=$root/build-tsan/sanitizer-logs
rm -rf "$tsan_logs" && mkdir -p "$tsan_logs"
tsan_rc=0
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/fuzz/tsan.supp:log_path=$tsan_logs/tsan" \
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" --timeout 300 -R 'rule_|core_|e2e_|unit_test_store' || tsan_rc=1
[ "$tsan_rc" -eq 0 ] || { echo "sanitize: TSan tests failed" >&2; status=1; }
check_logs "$tsan_logs" "TSan"

exit "$status"
