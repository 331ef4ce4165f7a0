#!/bin/sh
# ABI test (STYLE §10): every global symbol a shipped libmpsync (.so or .a) defines carries a prefix.
# SPDX-License-Identifier: Apache-2.0
#
# mpsync_ is the public API (and protobuf-c's generated mpsync__*), mps_ the internals. The .so
# exports the public API only; in the .a every global counts, hidden or not: it lands in the app's
# namespace at link time, so there mps_ is allowed too.
# Usage: check_prefix.sh LIBRARY...
status=0
for lib in "$@"; do
  case $lib in
    *.a) opts="-g --defined-only" allowed='^(mpsync_|mps_)' ;;
    *) opts="-D --defined-only" allowed='^mpsync_' ;;
  esac
  # shellcheck disable=SC2086
  if ! table=$(nm $opts "$lib"); then
    echo "$lib: nm failed" >&2
    status=1
    continue
  fi
  syms=$(printf '%s\n' "$table" | awk 'NF == 3 { print $3 }')
  # An empty list would pass trivially: a library without a single mpsync_ symbol is wrong too.
  if ! printf '%s\n' "$syms" | grep -q '^mpsync_'; then
    echo "$lib: no mpsync_ symbol found" >&2
    status=1
  fi
  # ASan's ODR indicators (__odr_asan.NAME) are the sanitizer's, emitted for our own globals.
  bad=$(printf '%s\n' "$syms" | grep -Ev "$allowed" | grep -v '^__odr_asan\.' | sort -u)
  if [ -n "$bad" ]; then
    echo "$lib: global symbols not matching $allowed:" >&2
    printf '%s\n' "$bad" >&2
    status=1
  else
    echo "$lib: $(printf '%s\n' "$syms" | wc -l) global symbols, all prefixed"
  fi
done
exit $status
