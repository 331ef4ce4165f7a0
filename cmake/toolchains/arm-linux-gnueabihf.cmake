# Cross build for armhf Linux (32-bit ARMv7 like armeabi-v7a, glibc): scripts/cross.sh, docs/PORTABILITY.md.
# SPDX-License-Identifier: Apache-2.0
set(CMAKE_SYSTEM_PROCESSOR arm)
set(MPSYNC_TRIPLET arm-linux-gnueabihf)
set(MPSYNC_QEMU qemu-arm)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
