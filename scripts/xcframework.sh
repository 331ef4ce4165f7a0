#!/usr/bin/env bash
# Assembles an .xcframework from per-slice static libraries with xcodebuild -create-xcframework (macOS + Xcode only).
# SPDX-License-Identifier: Apache-2.0
#
# usage: scripts/xcframework.sh [--check | --dry-run] --output NAME.xcframework
#            [--headers DIR] LIB.a[+LIB.a...] [LIB.a[+LIB.a...] ...]
#
# One argument per slice (a platform variant: iOS device, iOS simulator, ...). A slice given as
# a+b is first made one fat archive with lipo (the simulator's arm64 and x86_64 builds); each
# slice's archive should already hold everything of it (libtool -static -o merges archives).
# --headers DIR goes with every slice (the public headers: bindings/objc/MPMssAdapter for the
# shim; a dependency's include/ for its own XCFramework). docs/IOS.md has the whole sequence.
#
# xcodebuild exists only on macOS with Xcode. Without it the script says so and exits 0, so a
# Linux CI that runs it everywhere stays green; --check makes that an error (a macOS job that
# must really build). --dry-run checks the arguments and inputs and prints the commands instead
# of running them (how the Linux test exercises it). Status 2: bad arguments or a missing input.
set -euo pipefail

usage() { sed -n '5,6s/^# \{0,1\}//p' "$0"; }
fail() { echo "xcframework.sh: $*" >&2; exit 2; }

mode=run output='' headers='' slices=()
while [ $# -gt 0 ]; do
  case $1 in
    --check) mode=check ;;
    --dry-run) mode=dry ;;
    --output) [ $# -ge 2 ] || fail "--output needs a value"; output=$2; shift ;;
    --output=*) output=${1#--output=} ;;
    --headers) [ $# -ge 2 ] || fail "--headers needs a value"; headers=$2; shift ;;
    --headers=*) headers=${1#--headers=} ;;
    -h | --help) usage; exit 0 ;;
    -*) fail "unknown option '$1' (see --help)" ;;
    *) slices+=("$1") ;;
  esac
  shift
done
[ -n "$output" ] || fail "--output NAME.xcframework is required"
[[ $output == *.xcframework ]] || fail "--output must end in .xcframework: '$output'"
[ ${#slices[@]} -gt 0 ] || fail "no static library given (one argument per slice)"
[ -z "$headers" ] || [ -d "$headers" ] || fail "--headers '$headers' is not a directory"
for s in "${slices[@]}"; do
  IFS=+ read -r -a parts <<<"$s"
  for a in "${parts[@]}"; do
    [ -f "$a" ] || fail "no such static library: '$a'"
    [[ $a == *.a ]] || fail "not a static library (.a): '$a'"
  done
done

if ! command -v xcodebuild >/dev/null && [ "$mode" != dry ]; then
  msg="xcodebuild not found: an .xcframework can only be made on macOS with Xcode; nothing built"
  [ "$mode" = check ] && { echo "xcframework.sh: $msg" >&2; exit 1; }
  echo "xcframework.sh: SKIPPED: $msg" >&2
  exit 0
fi

run() {
  if [ "$mode" = dry ]; then printf '%q ' "$@"; echo; else "$@"; fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/xcframework.XXXXXX")
trap 'rm -rf "$work"' EXIT
args=(-create-xcframework)
i=0
for s in "${slices[@]}"; do
  IFS=+ read -r -a parts <<<"$s"
  lib=${parts[0]}
  if [ ${#parts[@]} -gt 1 ]; then
    # One archive per platform variant: xcodebuild refuses two slices of the same platform.
    i=$((i + 1))
    mkdir -p "$work/$i"
    lib=$work/$i/$(basename "${parts[0]}")
    run lipo -create "${parts[@]}" -output "$lib"
  fi
  args+=(-library "$lib")
  [ -z "$headers" ] || args+=(-headers "$headers")
done
run rm -rf "$output"
run xcodebuild "${args[@]}" -output "$output"
[ "$mode" = dry ] || echo "xcframework.sh: wrote $output"
