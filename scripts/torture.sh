#!/usr/bin/env bash
# Fail-the-Nth-allocation runs (docs/RELIABILITY.md): each target is run for N = 1, 1+STEP, ... until a run injects no failure.
# SPDX-License-Identifier: Apache-2.0
#
# usage: scripts/torture.sh [--smoke] [--step S | --runs R] [--first K] [--from N] [--sites]
#                           [--only REGEX] [--no-build] [--mbedtls3] [BUILD_DIR]
#   targets: session (the session unit tests), store:<test> (each store unit test alone, so that N
#   counts from its own start), e2e and e2e-tls (a delivery from the mock server, plaintext or
#   TLS, then a clean client on the same cache), libuv_loop (a bare libuv loop: libuv's abort).
#   --step 1 is the full sweep; --runs R spreads about R runs over each target (a first run
#   without a failure counts its allocations); --first K runs every N up to K before striding;
#   --sites fails each allocation site once instead (a site: the call stack that asked; a site
#   already failed in an earlier target is not failed again); --smoke is the CI subset;
#   --mbedtls3 builds against mbedTLS 3.6 with MBEDTLS_PLATFORM_MEMORY (Debian's 2.28 lacks it), so
#   that mbedTLS's allocations fail too (default tree build-torture-mbedtls3).
# Every run must end with exit 0, or 1 from a unit test that saw the injected error; with no
# sanitizer or leak report, no signal, no hang. The one exception is libuv's own abort() when an
# allocation it made failed (recognised by its stack: docs/RELIABILITY.md), counted apart.
# Anything else is a bug: the run's output and its N are printed, and the script exits 1 after
# the sweep.
set -euo pipefail

# All in one function: bash has parsed it whole before it runs, so the file may be edited while
# a long sweep is going.
main() {
  cd "$(dirname "$0")/.."
  root=$PWD

  step=1 runs_per=0 from=1 only=. smoke=0 build=build-torture first=0 sites=0 do_build=1 mbedtls3=0
  while [ $# -gt 0 ]; do
    case $1 in
      --smoke) smoke=1 ;;
      --step) step=$2; shift ;;
      --runs) runs_per=$2; shift ;;
      --from) from=$2; shift ;;
      --first) first=$2; shift ;;
      --sites) sites=1 ;;
      --no-build) do_build=0 ;;
      --mbedtls3) mbedtls3=1 ;;
      --only) only=$2; shift ;;
      -*) echo "torture.sh: unknown option $1" >&2; exit 2 ;;
      *) build=$1 ;;
    esac
    shift
  done

  extra_cmake=()
  if [ "$mbedtls3" = 1 ]; then
    [ "$build" != build-torture ] || build=build-torture-mbedtls3
    prefix=$(realpath -m "$build/mbedtls3/prefix")
    if [ "$do_build" = 1 ] && [ ! -f "$prefix/.done" ]; then
      # As scripts/mbedtls3.sh builds 3.6 (Debian 13's source), plus the one option that lets
      # mbedtls_platform_set_calloc_free exist; upstream's default configuration leaves it out.
      w=$(realpath -m "$build/mbedtls3")
      rm -rf "$w" && mkdir -p "$w"
      srcdir=$(bash scripts/apt_source.sh trixie mbedtls "$w/src")
      python3 "$srcdir/scripts/config.py" -f "$srcdir/include/mbedtls/mbedtls_config.h" set MBEDTLS_PLATFORM_MEMORY
      cmake -S "$srcdir" -B "$w/build" -DCMAKE_BUILD_TYPE=Release -DENABLE_TESTING=OFF \
        -DENABLE_PROGRAMS=OFF -DGEN_FILES=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
        -DMBEDTLS_FATAL_WARNINGS=OFF -DCMAKE_INSTALL_PREFIX="$prefix" > "$w/build.log" 2>&1 &&
        cmake --build "$w/build" -j"${MPSYNC_JOBS:-2}" >> "$w/build.log" 2>&1 &&
        cmake --install "$w/build" >> "$w/build.log" 2>&1 || { tail -30 "$w/build.log" >&2; exit 1; }
      rm -rf "$w/build" "$w/src"
      touch "$prefix/.done"
    fi
    grep -q '^#define MBEDTLS_PLATFORM_MEMORY' "$prefix/include/mbedtls/mbedtls_config.h" ||
      { echo "torture.sh: $prefix has no MBEDTLS_PLATFORM_MEMORY" >&2; exit 1; }
    # -I puts the 3.6 headers before /usr/include's 2.28; the prefix path finds its archives.
    extra_cmake=(-DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="-I$prefix/include")
  fi
  if [ "$do_build" = 1 ]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPSYNC_SANITIZE=ON -DMPSYNC_ALLOC_FAIL=ON \
      -DMPSYNC_JNI=OFF -DMPSYNC_OBJC=OFF "${extra_cmake[@]}" > "$build.configure.log" ||
      { cat "$build.configure.log"; exit 1; }
    rm -f "$build.configure.log"
    cmake --build "$build" -j"${MPSYNC_JOBS:-2}" --target test_store test_session torture_e2e \
      mpsync-mock-server test_alloc_fail torture_uv_loop
  fi
  build=$(realpath "$build")
  bin=$build/bin
  # The TLS end-to-end run's PKI (CTest's tls_make_test_pki makes the same).
  [ -f "$build/test-pki/ca.pem" ] || bash tests/tls/make_certs.sh "$build/test-pki" > /dev/null 2>&1
  # One directory per sweep: sweeps of different targets may run side by side.
  mkdir -p "$build/torture"
  work=$(mktemp -d "$build/torture/sweep.XXXXXX")
  echo "torture: runs in $work"

  # A private /tmp per run where user namespaces allow it: a run cut short by an injected failure
  # leaves its temporary directories behind, and a sweep makes thousands of runs.
  # Not when the tree itself is under /tmp (a CI clone): the private mount would hide the binaries.
  if [[ $root != /tmp/* ]] && unshare -rm true 2> /dev/null; then
    private_tmp=(unshare -rm sh -c 'mount -t tmpfs tmpfs /tmp && exec "$@"' sh)
  else
    private_tmp=()
  fi

  targets=(session)
  for t in $(grep -o 'RUN(test_[a-z0-9_]*)' tests/unit/test_store.c | sed 's/RUN(//; s/)//'); do
    targets+=("store:$t")
  done
  targets+=(e2e e2e-tls libuv_loop)

  # Smoke: the session tests every 7th allocation, two store tests (the schema check at open, and
  # the cache migration), the end-to-end delivery at a wide stride, plaintext and TLS, and libuv's
  # loop (its known abort): about 2 minutes besides the regression tests.
  smoke_step() {
    case $1 in
      session) echo 7 ;;
      store:test_newer_schema_refused) echo 11 ;;
      store:test_migration_from_v4) echo 331 ;;
      e2e) echo 997 ;;
      e2e-tls) echo 1999 ;;
      libuv_loop) echo 1 ;;
      *) echo 0 ;;
    esac
  }

  command_of() {
    case $1 in
      session) echo "$bin/test_session" ;;
      store:*) echo "$bin/test_store" ;;
      e2e) echo "$bin/torture_e2e $bin" ;;
      e2e-tls) echo "$bin/torture_e2e $bin tls" ;;
      # TORTURE_UV_LOOP_ARGS: the runner's own regression test (torture_libuv_abort_recognised).
      libuv_loop) echo "$bin/torture_uv_loop ${TORTURE_UV_LOOP_ARGS:-}" ;;
    esac
  }

  # The counter's own tests and the regression test of each bug a sweep found (one chosen
  # allocation failed each), under the same sanitizers.
  if [[ regressions =~ $only ]] && [ "$do_build" = 1 ]; then
    ASAN_OPTIONS="halt_on_error=1:detect_leaks=1" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
      ctest --test-dir "$build" --output-on-failure -R '^torture_' || { echo "torture: regression tests failed" >&2; exit 1; }
  fi

  bugs=0 runs=0 known_uv=0
  summary=$work/summary.txt
  : > "$summary"
  sites_done=${TORTURE_SITES_DONE:-$work/sites.done}
  touch "$sites_done"

  # One run of $target with the failure chosen by the assignments in "$@" (MPSYNC_FAIL_AT=N or
  # MPSYNC_FAIL_SITE=KEY); sets injected, and counts and reports a bad run.
  run_once() {
    local label=$1
    shift
    run=$work/run
    rm -rf "$run" && mkdir -p "$run"
    local rc=0
    # handle_abort: an abort() prints its stack, which tells libuv's abort from any other.
    # shellcheck disable=SC2046
    env "$@" MPSYNC_TORTURE=1 MPSYNC_TEST_ONLY="$only_test" MPSYNC_FAIL_REPORT="$run/report" \
      ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:handle_abort=1:log_path=$run/asan" \
      UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$run/ubsan" \
      LSAN_OPTIONS="suppressions=$root/tests/fuzz/lsan.supp:print_suppressions=0" \
      timeout -k 5 120 "${private_tmp[@]}" $(command_of "$target") > "$run/out" 2>&1 &
    # timeout leads its own process group: a run that crashed leaves its mock server in it.
    wait $! || rc=$?
    kill -KILL -- -$! 2> /dev/null || true
    runs=$((runs + 1))
    injected=0
    grep -q '^injected' "$run/report" 2> /dev/null && injected=1
    local verdict=""
    if grep -q '^libuv ' "$run/report" 2> /dev/null && grep -qs 'ERROR: AddressSanitizer: ABRT' "$run"/asan.* &&
      awk '/ in (__GI_)?abort / { getline; print; exit }' "$run"/asan.* | grep -q 'libuv\.so'; then
      # libuv's abort after its own allocation failed: the known outcome, nothing of ours ran.
      known_uv=$((known_uv + 1)) target_uv=$((target_uv + 1))
      return
    fi
    if compgen -G "$run/[au]*san.*" > /dev/null; then
      verdict="sanitizer report"
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      verdict="hang"
    elif [ "$rc" -ne 0 ] && { [ "$rc" -ne 1 ] || [ "$injected" = 0 ] || [[ $target == e2e* ]]; }; then
      verdict="exit $rc"
    fi
    [ "$injected" = 1 ] && [ "$rc" -eq 0 ] && absorbed=$((absorbed + 1))
    if [ -n "$verdict" ]; then
      bugs=$((bugs + 1)) target_bugs=$((target_bugs + 1))
      echo "torture: BUG $target $label: $verdict" >&2
      { cat "$run/out" "$run"/*san.* 2> /dev/null || true; } | tail -40 >&2
      mkdir -p "$work/bugs" && cp -r "$run" "$work/bugs/${target//:/_}-${label//[=:]/_}"
    fi
  }

  for target in "${targets[@]}"; do
    [[ $target =~ $only ]] || continue
    s=$step
    if [ "$smoke" = 1 ]; then
      s=$(smoke_step "$target")
      [ "$s" -gt 0 ] || continue
    fi
    only_test=""
    [[ $target == store:* ]] && only_test=${target#store:}
    injected_runs=0 target_bugs=0 absorbed=0 target_uv=0
    if [ "$sites" = 1 ]; then
      # A run with nothing failed lists the target's sites; then one run per site not yet failed.
      rm -f "$work/sites.log"
      # shellcheck disable=SC2046
      MPSYNC_TEST_ONLY=$only_test MPSYNC_SITES_LOG=$work/sites.log MPSYNC_FAIL_REPORT=$work/count \
        ASAN_OPTIONS=detect_leaks=0 timeout -k 5 120 "${private_tmp[@]}" $(command_of "$target") \
        > /dev/null 2>&1 || true
      total=$(awk '/^allocations/ { print $2 }' "$work/count" 2> /dev/null | tail -1)
      rm -f "$work/count"
      listed=0 fresh=0 missed=0
      for key in $(awk '/^site / { print $2 }' "$work/sites.log"); do
        listed=$((listed + 1))
        grep -qx "$key" "$sites_done" && continue
        fresh=$((fresh + 1))
        run_once "site=$key" MPSYNC_FAIL_SITE="$key"
        # A site reached in the listing run but not in this one (threads, timing) stays to do.
        if [ "$injected" = 1 ]; then echo "$key" >> "$sites_done"; else missed=$((missed + 1)); fi
        [ "$injected" = 1 ] && injected_runs=$((injected_runs + 1))
      done
      cat "$work/sites.log" >> "$work/sites.all"
      echo "torture: $target: ${total:-?} allocations, $listed sites, $fresh new, $injected_runs failed, $missed not reached again, $absorbed passed despite the failure, $target_uv libuv aborts, $target_bugs bad" | tee -a "$summary"
      continue
    fi
    if [ "$runs_per" -gt 0 ]; then
      rm -f "$work/count"
      # shellcheck disable=SC2046
      MPSYNC_TEST_ONLY=$only_test MPSYNC_FAIL_REPORT=$work/count ASAN_OPTIONS=detect_leaks=0 \
        timeout -k 5 120 "${private_tmp[@]}" $(command_of "$target") > /dev/null 2>&1 || true
      total=$(awk '/^allocations/ { print $2 }' "$work/count" | tail -1)
      s=$(( ${total:-0} / runs_per ))
      [ "$s" -ge 1 ] || s=1
    fi
    n=$from
    while :; do
      run_once "N=$n" MPSYNC_FAIL_AT="$n"
      if [ "$injected" = 0 ]; then
        total=$(awk '/^allocations/ { print $2 }' "$run/report" 2> /dev/null | tail -1)
        stride="step $s"
        [ "$first" -gt 0 ] && stride="every N to $first, then step $s"
        echo "torture: $target: ${total:-?} allocations, $((injected_runs + 1)) runs ($stride), $absorbed passed despite the failure, $target_uv libuv aborts, $target_bugs bad" | tee -a "$summary"
        break
      fi
      injected_runs=$((injected_runs + 1))
      if [ "$n" -lt "$first" ]; then n=$((n + 1)); else n=$((n + s)); fi
    done
  done
  echo "torture: $runs runs, $known_uv libuv aborts (known), $bugs bad" | tee -a "$summary"
  [ "$bugs" -eq 0 ]
}
main "$@"; exit $?  # on one line: bash reads no further from a file edited meanwhile
