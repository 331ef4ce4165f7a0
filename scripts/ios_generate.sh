#!/usr/bin/env bash
# Writes the two generated inputs of an Xcode/CocoaPods/SwiftPM build, which have no CMake there: mpsync/version.h and the protoc-c code.
# SPDX-License-Identifier: Apache-2.0
#
# CMake makes both at build time (configure_file of include/mpsync/version.h.in, protoc-c of
# src/proto/mpsync.proto). Apple's package managers run no CMake, so the podspec
# (prepare_command) and docs/IOS.md's SwiftPM steps run this first. Needs protoc-c (Debian
# protobuf-c-compiler, Homebrew protobuf-c).
#
# usage: scripts/ios_generate.sh [OUT_DIR]   (default bindings/objc/generated)
#   OUT_DIR/include/mpsync/version.h, OUT_DIR/proto/mpsync.pb-c.{c,h}
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bindings/objc/generated}

command -v protoc-c >/dev/null ||
  { echo "ios_generate.sh: protoc-c not found (Debian: protobuf-c-compiler; macOS: brew install protobuf-c)" >&2; exit 1; }

# The version lives in one place, the project() line of CMakeLists.txt.
version=$(sed -n 's/^project(mpsync VERSION \([0-9]*\.[0-9]*\.[0-9]*\).*/\1/p' "$root/CMakeLists.txt")
[[ $version =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] ||
  { echo "ios_generate.sh: no x.y.z version in the project() line of CMakeLists.txt" >&2; exit 1; }

mkdir -p "$out/include/mpsync" "$out/proto"
sed -e "s/@PROJECT_VERSION_MAJOR@/${BASH_REMATCH[1]}/" -e "s/@PROJECT_VERSION_MINOR@/${BASH_REMATCH[2]}/" \
    -e "s/@PROJECT_VERSION_PATCH@/${BASH_REMATCH[3]}/" -e "s/@PROJECT_VERSION@/$version/" \
    "$root/include/mpsync/version.h.in" >"$out/include/mpsync/version.h"
if grep -q '@[A-Z_]*@' "$out/include/mpsync/version.h"; then
  echo "ios_generate.sh: version.h.in has a placeholder this script does not know" >&2
  exit 1
fi
protoc-c --proto_path="$root/src/proto" --c_out="$out/proto" "$root/src/proto/mpsync.proto"
echo "ios_generate.sh: $version -> $out"
