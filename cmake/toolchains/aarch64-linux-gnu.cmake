# Cross build for arm64 Linux (Android's arm64-v8a CPU, glibc): scripts/cross.sh, docs/PORTABILITY.md.
# SPDX-License-Identifier: Apache-2.0
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(MPSYNC_TRIPLET aarch64-linux-gnu)
set(MPSYNC_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
