#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, runs the CTest suite.
# SPDX-License-Identifier: Apache-2.0
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh python3-matplotlib
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j2
ctest --test-dir build --output-on-failure -j2 --timeout 300
# The web console in headless Chromium (Selenium); screenshots in build/console-screenshots.
bash scripts/browser.sh build
# The same suite under ASan+UBSan, the threaded tests under TSan, and 30 s of every fuzz target
# (docs/RELIABILITY.md).
bash scripts/sanitize.sh
# Fail-the-Nth-allocation smoke (docs/RELIABILITY.md): its own ASan build of the library and four
# programs, the regression tests, then a stride through the session, two store tests and the
# end-to-end delivery (plaintext and TLS); about 4 minutes on 2 cores, most of it the build and
# the regression tests.
bash scripts/torture.sh --smoke
# The TLS layer against mbedTLS 3.6 LTS built from Debian 13's source (Debian 12 ships 2.28).
bash scripts/mbedtls3.sh build
# arm64 and armhf cross builds, their unit, rule and e2e tests under qemu-user (docs/PORTABILITY.md).
bash scripts/cross.sh
# The AAR builder given several build trees: the native shim plus the cross trees' arm64 and
# armhf shims in one AAR, each checked against its ABI (bindings/jni/aar; about 10 s). Without
# root cross.sh may have skipped for want of packages; then so does this, saying so.
aar_trees="arm64-v8a=$PWD/build/cross-arm64;armeabi-v7a=$PWD/build/cross-armhf"
if [ "$(id -u)" = 0 ] || [ -f build/cross-arm64/lib/libmpsync_jni.so ]; then
  MPSYNC_AAR_TREES=$aar_trees ctest --test-dir build -R '^jni_aar_two_abis$' --output-on-failure
else
  echo "test.sh: SKIPPED: the multi-ABI AAR (no cross trees: scripts/cross.sh needs root here)" >&2
fi
bash scripts/fuzz.sh --smoke
# A second compiler: clang builds the tree with every warning an error and runs the suite. The
# sanitizer and fuzz stages above are not repeated (CI stays within 40 minutes). Debian's GNUstep
# is built for gcc's runtime, so clang skips the ObjC shim with a configure warning; gcc covers it.
bash scripts/deps.sh clang
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS=-Werror
cmake --build build-clang -j2
ctest --test-dir build-clang --output-on-failure -j2 --timeout 300
