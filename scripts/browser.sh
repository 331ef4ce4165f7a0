#!/usr/bin/env bash
# Runs the web console's browser tests: headless Chromium driven by Selenium, Debian's packages.
# SPDX-License-Identifier: Apache-2.0
#
# Usage: scripts/browser.sh [BUILD_DIR]   (default: build, made by scripts/test.sh)
# Screenshots of each page are left in BUILD_DIR/console-screenshots. In CI ($CI set) a missing
# package is an error; elsewhere, when the packages cannot be installed (not root, no network),
# the stage is skipped with a message. Cost: about 40 s of install on a fresh Debian 12 (chromium
# is the bulk, ~100 MB) and under a minute of tests on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

# fonts-wqy-microhei: the pages' Chinese labels (the guide's names) in the screenshots.
packages=(chromium chromium-driver python3-selenium fonts-wqy-microhei)
if ! bash scripts/deps.sh "${packages[@]}"; then
  if [ -n "${CI:-}" ]; then
    echo "browser: cannot install ${packages[*]}" >&2
    exit 1
  fi
  echo "browser: SKIPPED - install ${packages[*]} (as root: bash scripts/deps.sh ${packages[*]})" >&2
  exit 0
fi
if [ ! -x "$build/bin/mpsync-mock-server" ] || [ ! -x "$build/bin/mpsync-cli" ]; then
  echo "browser: build $build first (cmake --build $build)" >&2
  exit 1
fi
# Debian's python3: python3-selenium is installed for it, not for another python on PATH.
exec /usr/bin/python3 tests/browser/test_console.py "$build"
