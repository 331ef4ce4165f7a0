#!/bin/sh
# Docs test (STYLE §12): `doxygen Doxyfile` as in a fresh clone exits 0, prints no warning, writes HTML.
# SPDX-License-Identifier: Apache-2.0
#
# The Doxyfile and its inputs are copied to an empty directory first: a build/ left in the source
# tree would hide a Doxyfile that cannot create its output directory.
# Usage: doxygen_fresh_tree.sh SOURCE_DIR DOXYGEN
set -eu
src=$1
doxygen=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mpsync-doxygen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp "$src/Doxyfile" "$tmp/"
cp -R "$src/include" "$src/docs" "$src/examples" "$tmp/"
cd "$tmp"
if ! "$doxygen" Doxyfile > out.log 2> err.log; then
  echo "doxygen Doxyfile failed:" >&2
  cat out.log err.log >&2
  exit 1
fi
# WARN_AS_ERROR fails on warnings already; any other stderr output (a config complaint) counts too.
if [ -s err.log ]; then
  echo "doxygen Doxyfile printed:" >&2
  cat err.log >&2
  exit 1
fi
[ -f build/doxygen/index.html ] || { echo "no build/doxygen/index.html" >&2; exit 1; }
echo "doxygen: 0 warnings, output in build/doxygen"
