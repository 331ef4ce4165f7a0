#!/usr/bin/env bash
# Reports the stripped size of libmpsync per ABI, and of one self-contained shared object per ABI.
# SPDX-License-Identifier: Apache-2.0
#
# Two figures per ABI (x86_64, arm64, armhf), in bytes, as one JSON object on stdout:
#   libmpsync_so          the shared library of the normal build (RelWithDebInfo), stripped; its
#                         dependencies are separate shared libraries.
#   self_contained_so     what an app would ship alone: libmpsync compiled -Os with function and
#                         data sections, linked with the static mbedTLS, SQLite, libuv and
#                         protobuf-c archives, --gc-sections, dependencies' symbols hidden, stripped.
# libuv is built here from this release's source package (-Os, PIC: Debian's libuv_a.a is PIE
# and cannot go into a shared object); mbedTLS, SQLite and protobuf-c are Debian's archives
# (-O2, without per-function sections), so the figure is an upper bound of an all -Os build.
# Uses the trees of scripts/test.sh and scripts/cross.sh when they are there, and builds only
# what is missing; an ABI whose toolchain is not installed is reported as null.
#
# usage: scripts/size.sh   (BUILD_DIR defaults to build)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=$(realpath -m "${BUILD_DIR:-build}")

abi_triplet() { case $1 in x86_64) echo x86_64-linux-gnu ;; arm64) echo aarch64-linux-gnu ;;
  armhf) echo arm-linux-gnueabihf ;; esac; }

stripped_size() { # strip-tool file
  local tmp
  tmp=$(mktemp)
  "$1" -o "$tmp" "$2"
  stat -c %s "$tmp"
  rm -f "$tmp"
}

configure() { # abi tree build-type [extra cmake args...]; the source is SRC or ours
  local abi=$1 tree=$2 type=$3 src=${SRC:-$root}
  shift 3
  local tc=()
  [ "$abi" = x86_64 ] || tc=(-DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/$(abi_triplet "$abi").cmake")
  [ -f "$tree/CMakeCache.txt" ] ||
    cmake -S "$src" -B "$tree" "${tc[@]}" -DCMAKE_BUILD_TYPE="$type" -DMPSYNC_JNI=OFF \
      -DMPSYNC_OBJC=OFF "$@" >"$tree.log" 2>&1
}

out="{"
sep=""
for abi in x86_64 arm64 armhf; do
  t=$(abi_triplet "$abi")
  if [ "$abi" = x86_64 ]; then cc=gcc strip=strip; tree=$build; else
    cc=$t-gcc strip=$t-strip tree=$build/cross-$abi; fi
  if ! command -v "$cc" >/dev/null || [ ! -f "/usr/lib/$t/libuv_a.a" ]; then
    echo "size.sh: $abi: no $cc or no $t libraries (scripts/cross.sh installs them)" >&2
    out+="$sep\"$abi\": null"
    sep=", "
    continue
  fi
  small=$build/size-$abi
  configure "$abi" "$tree" RelWithDebInfo
  cmake --build "$tree" -j2 --target mpsync >"$small.build.log" 2>&1
  so=$(stripped_size "$strip" "$(realpath "$tree/lib/libmpsync.so")")

  configure "$abi" "$small" MinSizeRel -DCMAKE_C_FLAGS="-ffunction-sections -fdata-sections"
  cmake --build "$small" -j2 --target mpsync_static >>"$small.build.log" 2>&1
  uv=$small/libuv
  if [ ! -f "$uv/libuv_a.a" ]; then
    [ -d "$build/size-src" ] || bash scripts/apt_source.sh - libuv1 "$build/size-src" >/dev/null
    SRC=$(find "$build/size-src" -mindepth 1 -maxdepth 1 -type d -name 'libuv1-*') \
      configure "$abi" "$uv" MinSizeRel -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
      -DCMAKE_C_FLAGS="-ffunction-sections -fdata-sections" -DLIBUV_BUILD_TESTS=OFF \
      -DLIBUV_BUILD_BENCH=OFF
    cmake --build "$uv" -j2 --target uv_a >"$uv.build.log" 2>&1
  fi
  lib=/usr/lib/$t
  # The public API (default visibility) is the root of --gc-sections; --exclude-libs keeps the
  # dependencies' symbols out of the dynamic table, as an app's private copy should.
  hide=libmpsync_tls.a:libmpsync_core.a:libmbedtls.a:libmbedx509.a:libmbedcrypto.a
  hide=$hide:libsqlite3.a:libuv_a.a:libprotobuf-c.a
  "$cc" -shared -Os -o "$small/libmpsync-self-contained.so" \
    -Wl,--whole-archive "$small/lib/libmpsync.a" -Wl,--no-whole-archive \
    "$small/lib/libmpsync_tls.a" "$small/lib/libmpsync_core.a" \
    "$lib/libmbedtls.a" "$lib/libmbedx509.a" "$lib/libmbedcrypto.a" "$lib/libsqlite3.a" \
    "$uv/libuv_a.a" "$lib/libprotobuf-c.a" -lpthread -ldl -lm \
    -Wl,--gc-sections -Wl,-z,defs -Wl,--exclude-libs,"$hide"
  full=$(stripped_size "$strip" "$small/libmpsync-self-contained.so")
  out+="$sep\"$abi\": {\"libmpsync_so\": $so, \"self_contained_so\": $full}"
  sep=", "
done
echo "$out}"
