#!/bin/sh
# Licence test: every source file of the tree carries "SPDX-License-Identifier: Apache-2.0" near its top.
#
# In CTest as licence_every_source_file_has_spdx; it lists the files still without one. Source
# files are C, Objective-C, Java, Python, shell, CMake and protobuf; data (fuzz corpus, JSON,
# Markdown) is not.
# Usage: check_spdx.sh [SOURCE_DIR]   (default: the tree this script is in)
set -eu
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
want='SPDX-License-Identifier: Apache-2.0'

if [ -e .git ]; then
  files=$(git ls-files)
else
  files=$(find . -type f ! -path './build*' ! -path './.git/*' | sed 's|^\./||')
fi

missing=0
checked=0
for f in $files; do
  case $f in
    tests/fuzz/corpus/* | tests/fuzz/regressions/* | tests/fuzz/dict/*) continue ;;
    *.c | *.h | *.h.in | *.m | *.java | *.py | *.sh | *.cmake | *.cmake.in | *.pc.in | *.proto | *.swift) ;;
    CMakeLists.txt | */CMakeLists.txt) ;;
    *) continue ;;
  esac
  checked=$((checked + 1))
  # The first lines: a shebang, the one-line purpose comment, then the SPDX line.
  if ! head -n 5 "$f" | grep -qF "$want"; then
    echo "$f"
    missing=$((missing + 1))
  fi
done
if [ "$missing" -ne 0 ]; then
  echo "check_spdx: $missing of $checked source files lack '$want'" >&2
  exit 1
fi
echo "check_spdx: all $checked source files carry '$want'"
