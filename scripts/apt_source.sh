#!/usr/bin/env bash
# Fetches and unpacks a Debian source package of a given release; prints the unpacked directory.
# SPDX-License-Identifier: Apache-2.0
#
# The archive is the one this machine's own apt sources use (one-line .list files and deb822
# .sources), with only the release name changed; nothing names a host here. A private apt
# configuration under DEST holds the deb-src entry and its lists: the system's sources, lists
# and caches are not touched. Exits non-zero, with the reason on stderr, when it cannot.
#
# usage: scripts/apt_source.sh RELEASE PACKAGE DEST   (RELEASE "-" = this machine's release)
set -euo pipefail
release=${1:?usage: apt_source.sh RELEASE PACKAGE DEST}
package=${2:?}
dest=$(realpath -m "${3:?}")
fail() { echo "apt_source.sh: $*" >&2; exit 1; }
command -v apt-get >/dev/null || fail "no apt-get: not a Debian system"
command -v dpkg-source >/dev/null || fail "dpkg-source missing (apt-get install dpkg-dev)"
. /etc/os-release
[ "$release" != - ] || release=${VERSION_CODENAME:?}
# The main archive line of this machine's sources: one-line .list files and deb822 .sources.
read -r uri keyring < <(python3 - "${VERSION_CODENAME:?}" <<'PY'
import glob, re, sys
codename = sys.argv[1]
files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
for f in files:
    try:
        lines = open(f).read().splitlines()
    except OSError:
        continue
    for line in lines:
        m = re.match(r"\s*deb\s+(\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line)
        if m and m.group(4) == codename:
            key = re.search(r"signed-by=(\S+)", m.group(2) or "")
            print(m.group(3), key.group(1) if key else "-")
            sys.exit(0)
for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for para in re.split(r"\n\s*\n", open(f).read()):
        fields = {}
        for line in para.splitlines():
            m = re.match(r"([A-Za-z-]+):\s*(.*)", line)
            if m:
                fields[m.group(1).lower()] = m.group(2).split()
        if ("deb" in fields.get("types", []) and codename in fields.get("suites", [])
                and fields.get("enabled", ["yes"])[0] != "no" and fields.get("uris")):
            print(fields["uris"][0], (fields.get("signed-by") or ["-"])[0])
            sys.exit(0)
sys.exit(1)
PY
) || fail "no '${VERSION_CODENAME}' archive in this machine's apt sources"

rm -rf "$dest"
apt=$dest/apt
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/parts"
opts="arch=$(dpkg --print-architecture)"
[ "$keyring" != "-" ] && opts="$opts signed-by=$keyring"
echo "deb-src [$opts] $uri $release main" >"$apt/sources.list"
aptopt=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=$apt/parts"
        -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache::archives=$apt/archives"
        -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Sandbox::User=root")
apt-get -q "${aptopt[@]}" update >"$apt/log" 2>&1 ||
  { cat "$apt/log" >&2; fail "cannot read the $release sources index"; }
(cd "$dest" && apt-get -q "${aptopt[@]}" source "$package" >>"$apt/log" 2>&1) ||
  { tail -20 "$apt/log" >&2; fail "cannot fetch the $release $package source package"; }
srcdir=$(find "$dest" -mindepth 1 -maxdepth 1 -type d -name "$package*-*" ! -name apt | head -1)
[ -n "$srcdir" ] || fail "the $package source package did not unpack"
echo "$srcdir"
