#!/usr/bin/env bash
# Installs the Debian 12 packages libmpsync needs to build, demo and test; skips what is present.
# SPDX-License-Identifier: Apache-2.0
set -euo pipefail

packages=(build-essential cmake pkg-config libuv1-dev libmbedtls-dev libsqlite3-dev
  libprotobuf-c-dev protobuf-c-compiler libcjson-dev libhttp-parser-dev libcurl4-openssl-dev curl
  python3 python3-yaml ca-certificates default-jdk-headless junit4 gobjc libgnustep-base-dev
  gnustep-base-runtime doxygen openssl shellcheck "$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: run as root (or install the packages above yourself)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
