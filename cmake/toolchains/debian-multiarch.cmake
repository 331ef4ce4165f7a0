# Shared part of the Debian cross toolchain files: set MPSYNC_TRIPLET, MPSYNC_QEMU and the
# SPDX-License-Identifier: Apache-2.0
# processor, then include this. Debian's cross gcc and multiarch -dev packages (scripts/cross.sh).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${MPSYNC_TRIPLET}-gcc)
# Multiarch: the target's libraries live in /usr/lib/<triplet> of this root, headers in
# /usr/include(/<triplet>); host programs (protoc-c, python3) come from the host.
set(CMAKE_LIBRARY_ARCHITECTURE ${MPSYNC_TRIPLET})
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${MPSYNC_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
# ctest runs the target's test executables through qemu-user; no binfmt_misc needed. Its
# loader and libc are the multiarch libc6 the -dev packages pull in: with -L and the cross
# toolchain's older libc beside the multiarch libraries, pthread_create crashed (armhf).
set(CMAKE_CROSSCOMPILING_EMULATOR ${MPSYNC_QEMU})
