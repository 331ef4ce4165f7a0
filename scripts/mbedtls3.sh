#!/usr/bin/env bash
# Builds mbedTLS 3.6 LTS from Debian 13's source package and runs the TLS and e2e tests against it.
# SPDX-License-Identifier: Apache-2.0
#
# Debian 12 ships mbedTLS 2.28; the TLS layer must also build and pass with 3.6 (issue 15). The
# source comes from the archive this machine already uses (its apt sources), with only the release
# name changed, through a private apt configuration: the system's sources and lists are not touched.
# The built prefix is kept under BUILD_DIR/mbedtls3, so a second run only rebuilds libmpsync.
#
# usage: scripts/mbedtls3.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=$(realpath -m "${1:-build}")
work=$build/mbedtls3
prefix=$work/prefix
release=trixie # Debian 13: mbedTLS 3.6 LTS

skip() { echo "mbedtls3.sh: SKIPPED: $*" >&2; exit 0; }

if [ ! -f "$prefix/.done" ]; then
  rm -rf "$work"
  mkdir -p "$work"
  echo "mbedtls3.sh: fetching the $release source of mbedtls"
  srcdir=$(bash scripts/apt_source.sh "$release" mbedtls "$work/src") ||
    skip "cannot fetch the $release mbedtls source package (see above)"
  echo "mbedtls3.sh: building $(basename "$srcdir")"
  # PIC: the static archives end up inside libmpsync.so.
  cmake -S "$srcdir" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DENABLE_TESTING=OFF \
    -DENABLE_PROGRAMS=OFF -DGEN_FILES=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DMBEDTLS_FATAL_WARNINGS=OFF -DCMAKE_INSTALL_PREFIX="$prefix" >"$work/cmake.log" 2>&1 ||
    { tail -30 "$work/cmake.log" >&2; exit 1; }
  cmake --build "$work/build" -j2 >>"$work/cmake.log" 2>&1 || { tail -30 "$work/cmake.log" >&2; exit 1; }
  cmake --install "$work/build" >>"$work/cmake.log" 2>&1
  rm -rf "$work/build" "$work/src"
  touch "$prefix/.done"
fi

version=$(sed -n 's/^#define MBEDTLS_VERSION_STRING *"\(.*\)"/\1/p' "$prefix/include/mbedtls/build_info.h")
echo "mbedtls3.sh: libmpsync against mbedTLS $version ($prefix)"
tree=$work/tree
# -I puts the 3.6 headers before /usr/include's 2.28; CMAKE_PREFIX_PATH finds the 3.6 archives.
cmake -S "$root" -B "$tree" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_FLAGS="-I$prefix/include" -DMPSYNC_JNI=OFF -DMPSYNC_OBJC=OFF >"$work/tree.log"
# The build must take 3.6 from the prefix: through its own CMake package (MbedTLSConfig.cmake,
# which 3.x installs), or through cmake/FindMbedTLS.cmake's libraries.
if ! grep -q "^MbedTLS_DIR:PATH=$prefix/" "$tree/CMakeCache.txt"; then
  for lib in mbedtls mbedx509 mbedcrypto; do
    grep -q "^MbedTLS_${lib}_LIBRARY:FILEPATH=$prefix/" "$tree/CMakeCache.txt" ||
      { echo "mbedtls3.sh: $lib is not the 3.6 build" >&2; exit 1; }
  done
fi
# The TLS layer, the cache's AES-GCM seal, and the e2e tests over both (the CLI and mock server
# use mbedTLS's base64 too); test_rules for the rule_tls_ tests of session resumption (TLS 1.3).
cmake --build "$tree" -j2 --target test_tls test_store test_rules mpsync-mock-server mpsync-cli
ctest --test-dir "$tree" -R 'tls|e2e|unit_test_store' --output-on-failure -j2 --timeout 300
