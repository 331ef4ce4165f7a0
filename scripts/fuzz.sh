#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, build-fuzz/) and runs them: --smoke runs each
# SPDX-License-Identifier: Apache-2.0
# for 30 s (CI), otherwise each runs for FUZZ_SECONDS (default 1 h) on a corpus kept in build-fuzz.
#
#   bash scripts/fuzz.sh --smoke                 # CI: every target ~30 s, prints executions
#   bash scripts/fuzz.sh                         # long runs: 1 h per target, one after the other
#   FUZZ_SECONDS=28800 bash scripts/fuzz.sh http_push   # one target for 8 h
#   FUZZ_JOBS=2 bash scripts/fuzz.sh session_client     # two libFuzzer workers on one target
#
# A crash leaves its input in build-fuzz/fuzz-out/<target>/crash-*; reproduce it with
# build-fuzz/bin/fuzz_<target> FILE, then copy the file to tests/fuzz/regressions/<target>/ so
# that CTest replays it under the sanitizers forever after (scripts/sanitize.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

all_targets=(session_client session_server http_push meta_config msgdata_json)
smoke=0
targets=()
for a in "$@"; do
  case "$a" in
    --smoke) smoke=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) targets+=("$a") ;;
  esac
done
((${#targets[@]})) || targets=("${all_targets[@]}")
if ((smoke)); then seconds=${FUZZ_SECONDS:-30}; else seconds=${FUZZ_SECONDS:-3600}; fi

bash scripts/deps.sh clang libclang-rt-14-dev

# Everything linked into a target gets coverage instrumentation (fuzzer-no-link) and ASan+UBSan
# with -fno-sanitize-recover (MPSYNC_SANITIZE); the targets themselves link libFuzzer.
cfg_log=$(mktemp)
if ! cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMPSYNC_FUZZ=ON -DMPSYNC_SANITIZE=ON -DMPSYNC_JNI=OFF -DMPSYNC_OBJC=OFF \
    "-DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link" > "$cfg_log" 2>&1; then
  cat "$cfg_log"
  rm -f "$cfg_log"
  exit 1
fi
rm -f "$cfg_log"
cmake --build build-fuzz -j"${MPSYNC_JOBS:-2}" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
status=0
summary=()
for t in "${targets[@]}"; do
  out=$root/build-fuzz/fuzz-out/$t
  # Smoke runs start from the seeds each time; long runs keep what they learn in build-fuzz.
  if ((smoke)); then rm -rf "$out"; fi
  mkdir -p "$out/corpus"
  log=$out/fuzz.log
  args=("$out/corpus" "$root/tests/fuzz/corpus/$t" -max_total_time="$seconds"
        -print_final_stats=1 -artifact_prefix="$out/" -rss_limit_mb=2048 -timeout=10)
  [ -f "$root/tests/fuzz/dict/$t.dict" ] && args+=(-dict="$root/tests/fuzz/dict/$t.dict")
  if [ -n "${FUZZ_JOBS:-}" ]; then args+=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"); fi
  echo "fuzz: $t for ${seconds}s"
  rc=0
  (cd "$out" && "$root/build-fuzz/bin/fuzz_$t" "${args[@]}") > "$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s+=$1} END {print s+0}')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  corpus=$(find "$out/corpus" -type f | wc -l)
  line=$(printf '%-16s execs=%-10s exec/s=%-7s cov=%-5s corpus=%-5s' "$t" "$execs" \
    "$((execs / (seconds > 0 ? seconds : 1)))" "${cov:-?}" "$corpus")
  if [ "$rc" -ne 0 ]; then
    line="$line FAILED (rc=$rc)"
    status=1
    echo "fuzz: $t failed; its log:" >&2
    tail -60 "$log" >&2
    ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null >&2 || true
  fi
  summary+=("$line")
done

echo "fuzz: summary (${seconds}s per target)"
printf '  %s\n' "${summary[@]}"
exit "$status"
