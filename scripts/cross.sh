#!/usr/bin/env bash
# Cross-builds libmpsync for arm64 and armhf and runs its unit, rule and e2e tests under qemu-user.
# SPDX-License-Identifier: Apache-2.0
#
# Debian's cross gcc and multiarch -dev packages build the library, the unit tests, the rule
# tests and the CLI for each target (cmake/toolchains/); ctest runs the test programs through
# qemu-user, and the e2e tests drive the target's CLI through a qemu wrapper. The mock server is
# the host's (it is the peer, not the SDK under test). Packages that are missing are installed
# when run as root (CI); otherwise the stage is skipped with a message. docs/PORTABILITY.md says
# what runs and what does not. Each tree also builds the JNI shim for its CPU (lib/
# libmpsync_jni.so, not run here: no JVM of the target); scripts/test.sh puts them in one AAR.
#
# usage: scripts/cross.sh [ARCH...]   (default: arm64 armhf; BUILD_DIR defaults to build)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=$(realpath -m "${BUILD_DIR:-build}")
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(arm64 armhf)

# Under qemu every client is 5-10 times slower: the tests that exercise the SDK's own code on the
# target run; the mock server's HTTP/admin rules (http_, srv_) test the host's server and are left
# to the native suite, and so are the proxy-driven link faults (fault_, timing-bound).
TESTS='^(unit_|tls_|rule_|e2e_|crash_|fs_)'

skip() { echo "cross.sh: SKIPPED: $*" >&2; exit 0; }

triplet() { case $1 in arm64) echo aarch64-linux-gnu ;; armhf) echo arm-linux-gnueabihf ;;
  *) echo "cross.sh: unknown architecture $1" >&2; exit 2 ;; esac; }
qemu() { case $1 in arm64) echo qemu-aarch64 ;; armhf) echo qemu-arm ;; esac; }

need=(qemu-user protobuf-c-compiler)
for a in "${arches[@]}"; do
  t=$(triplet "$a")
  need+=("gcc-$t" "libc6:$a" "libuv1-dev:$a" "libmbedtls-dev:$a" "libsqlite3-dev:$a"
         "libprotobuf-c-dev:$a" "libcjson-dev:$a")
done
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null ||
    skip "not root, cannot install: ${missing[*]}"
  echo "cross.sh: installing ${missing[*]}"
  for a in "${arches[@]}"; do dpkg --add-architecture "$a"; done
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends "${missing[@]}"; } >"$build.cross-apt.log" 2>&1 ||
    { tail -20 "$build.cross-apt.log" >&2; skip "cannot install: ${missing[*]}"; }
fi

# The host's mock server, which every target's tests talk to.
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target mpsync-mock-server >/dev/null
server=$build/bin/mpsync-mock-server

status=0
for a in "${arches[@]}"; do
  t=$(triplet "$a")
  tree=$build/cross-$a
  start=$SECONDS
  echo "cross.sh: $a: building in $tree"
  cmake -S . -B "$tree" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/$t.cmake" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPSYNC_JNI=ON -DMPSYNC_OBJC=OFF >"$tree.log" 2>&1 ||
    { tail -20 "$tree.log" >&2; exit 1; }
  cmake --build "$tree" -j2 >>"$tree.log" 2>&1 || { grep -B5 -A5 error "$tree.log" >&2; exit 1; }
  # The rule tests start bin/mpsync-mock-server; the e2e tests take bin/ from MPSYNC_BUILD_DIR,
  # where the CLI is the target's, under qemu.
  ln -sf "$server" "$tree/bin/mpsync-mock-server"
  run=$tree/qemu-run
  mkdir -p "$run/bin"
  ln -sf "$server" "$run/bin/mpsync-mock-server"
  printf '#!/bin/sh\nexec %s %s "$@"\n' "$(qemu "$a")" "$tree/bin/mpsync-cli" >"$run/bin/mpsync-cli"
  chmod +x "$run/bin/mpsync-cli"
  echo "cross.sh: $a: $(file -b "$tree/bin/mpsync-cli" | cut -d, -f1-2); running $TESTS"
  MPSYNC_BUILD_DIR=$run ctest --test-dir "$tree" -R "$TESTS" --output-on-failure -j2 \
    --timeout 300 || status=1
  echo "cross.sh: $a: $((SECONDS - start)) s"
done
exit $status
