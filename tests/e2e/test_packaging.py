# Lints the iOS packaging that cannot be built here (no Xcode): podspec, Package.swift, xcframework.sh, ios_generate.sh.
# SPDX-License-Identifier: Apache-2.0
"""What Linux can check of the Apple packaging (issue 14): the podspec's JSON parses, has what
CocoaPods requires and names files that exist; Package.swift's paths exist; both take exactly the
library's C sources; scripts/ios_generate.sh really writes version.h and the protocol code; and
scripts/xcframework.sh passes bash -n and shellcheck (when installed), checks its inputs, prints
the xcodebuild commands in --dry-run, and exits 0 with a message without xcodebuild (1 with
--check). Paths under bindings/objc/generated/ are made by ios_generate.sh, so they are checked
in a run of it into a temporary directory."""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpsync_harness import build_dir_from_env_or_argv  # noqa: E402

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PODSPEC = os.path.join(SRC, "MPMssAdapter.podspec.json")
PACKAGE = os.path.join(SRC, "Package.swift")
GENERATED = "bindings/objc/generated"


def project_version():
    with open(os.path.join(SRC, "CMakeLists.txt"), encoding="utf-8") as f:
        return re.search(r"^project\(mpsync VERSION (\d+\.\d+\.\d+)", f.read(), re.M).group(1)


def library_c_sources():
    """src/*.c files of MPSYNC_SOURCES in CMakeLists.txt (the generated protocol code aside)."""
    with open(os.path.join(SRC, "CMakeLists.txt"), encoding="utf-8") as f:
        block = re.search(r"set\(MPSYNC_SOURCES(.*?)\)", f.read(), re.S).group(1)
    return sorted(w for w in block.split() if w.startswith("src/") and w.endswith(".c"))


def expand_braces(pattern):
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    return [x for alt in m.group(1).split(",")
            for x in expand_braces(pattern[:m.start()] + alt + pattern[m.end():])]


class Generated:
    """One run of ios_generate.sh into a temporary directory, shared by the tests."""
    dir = None

    @classmethod
    def get(cls):
        if cls.dir is None:
            cls.dir = tempfile.mkdtemp(prefix="mpsync-ios-gen-")
            subprocess.run(["bash", os.path.join(SRC, "scripts", "ios_generate.sh"), cls.dir],
                           check=True, stdout=subprocess.PIPE)
        return cls.dir


def resolve(rel):
    """rel (from the source root) as a real path; bindings/objc/generated/... in the generated run."""
    rel = os.path.normpath(rel)
    if rel == GENERATED or rel.startswith(GENERATED + os.sep):
        return os.path.join(Generated.get(), os.path.relpath(rel, GENERATED))
    return os.path.join(SRC, rel)


def files_of(pattern):
    hits = []
    for p in expand_braces(pattern):
        hits += [h for h in glob.glob(resolve(p), recursive=True) if os.path.isfile(h)]
    return hits


class Packaging(unittest.TestCase):
    @classmethod
    def tearDownClass(cls):
        if Generated.dir:
            shutil.rmtree(Generated.dir, True)

    def test_ios_generate_writes_version_and_protocol(self):
        out = Generated.get()
        with open(os.path.join(out, "include", "mpsync", "version.h"), encoding="utf-8") as f:
            text = f.read()
        self.assertIn('#define MPSYNC_VERSION_STRING "%s"' % project_version(), text)
        self.assertNotRegex(text, r"@[A-Z_]+@")
        for name in ("mpsync.pb-c.c", "mpsync.pb-c.h"):
            self.assertGreater(os.path.getsize(os.path.join(out, "proto", name)), 1000, name)

    def test_podspec_json_parses_and_names_existing_files(self):
        with open(PODSPEC, encoding="utf-8") as f:
            spec = json.load(f)
        for key in ("name", "version", "summary", "homepage", "license", "authors", "source",
                    "platforms", "source_files"):
            self.assertIn(key, spec)
        self.assertEqual(spec["version"], project_version())
        self.assertEqual(spec["source"]["tag"], "v" + project_version())
        self.assertEqual(spec["module_name"], "MPMssAdapter")
        self.assertEqual(spec["header_dir"], "MPMssAdapter")  # <MPMssAdapter/MPSyncInterface.h>
        self.assertTrue(os.path.isfile(os.path.join(SRC, spec["license"]["file"])))
        for key in ("source_files", "public_header_files", "preserve_paths"):
            for pattern in spec[key]:
                self.assertTrue(files_of(pattern), "%s: %s matches no file" % (key, pattern))
        # The prepare_command is the generator, run from the pod's root.
        self.assertEqual(spec["prepare_command"], "bash scripts/ios_generate.sh")
        # Exactly the library's C files: all of src/ is the library, and the generated code is in.
        c_files = sorted(os.path.relpath(p, SRC) for pat in spec["source_files"]
                         for p in files_of(pat) if p.endswith(".c") and p.startswith(SRC + "/src/"))
        self.assertEqual(c_files, library_c_sources())
        self.assertTrue(any(p.endswith("mpsync.pb-c.c")
                            for pat in spec["source_files"] for p in files_of(pat)))
        for h in spec["public_header_files"]:
            self.assertIn("MPMssAdapter/", h)

    def test_package_swift_paths_exist(self):
        with open(PACKAGE, encoding="utf-8") as f:
            text = f.read()
        self.assertTrue(text.startswith("// swift-tools-version:"), "first line")
        targets = re.split(r"\n\s*\.target\(", text)[1:]
        self.assertEqual(len(targets), 2)
        c_files = []
        for block in targets:
            name = re.search(r'name: "([^"]+)"', block).group(1)
            base = re.search(r'path: "([^"]+)"', block).group(1)
            self.assertTrue(os.path.isdir(resolve(base)), "%s: path %s" % (name, base))
            sources = re.findall(r'"([^"]+)"', re.search(r"sources: \[([^\]]*)\]", block).group(1))
            relpaths = sources + [re.search(r'publicHeadersPath: "([^"]+)"', block).group(1)]
            relpaths += re.findall(r'\.headerSearchPath\("([^"]+)"\)', block)
            for rel in relpaths:
                self.assertTrue(os.path.exists(resolve(os.path.join(base, rel))),
                                "%s: %s does not exist" % (name, os.path.join(base, rel)))
            for rel in sources:
                full = resolve(os.path.join(base, rel))
                found = [full] if os.path.isfile(full) else glob.glob(full + "/**/*.c",
                                                                      recursive=True)
                c_files += [os.path.relpath(p, SRC) for p in found if p.startswith(SRC + "/src/")]
        self.assertEqual(sorted(c_files), library_c_sources())
        self.assertTrue(os.path.isfile(os.path.join(SRC, "bindings/objc/MPMssAdapter/MPSyncInterface.h")))

    def test_xcframework_script(self):
        script = os.path.join(SRC, "scripts", "xcframework.sh")
        subprocess.run(["bash", "-n", script], check=True)
        shellcheck = shutil.which("shellcheck")
        if shellcheck:
            for s in (script, os.path.join(SRC, "scripts", "ios_generate.sh")):
                r = subprocess.run([shellcheck, s], stdout=subprocess.PIPE, text=True)
                self.assertEqual(r.returncode, 0, r.stdout)
        else:
            print("shellcheck not installed (Debian: shellcheck): only bash -n ran")
        tmp = tempfile.mkdtemp(prefix="mpsync-xcf-")
        self.addCleanup(shutil.rmtree, tmp, True)
        libs = []
        for n in ("device", "sim-arm64", "sim-x86_64"):
            libs.append(os.path.join(tmp, "libMPMssAdapter-%s.a" % n))
            open(libs[-1], "wb").close()
        out = os.path.join(tmp, "MPMssAdapter.xcframework")
        headers = os.path.join(SRC, "bindings", "objc", "MPMssAdapter")

        def run(*args):
            r = subprocess.run(["bash", script] + list(args), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=dict(os.environ, TMPDIR=tmp))
            return r.returncode, r.stdout, r.stderr

        rc, stdout, err = run("--dry-run", "--output", out, "--headers", headers, libs[0],
                              libs[1] + "+" + libs[2])
        self.assertEqual(rc, 0, err)
        self.assertRegex(stdout, r"lipo -create \S*sim-arm64\.a \S*sim-x86_64\.a -output ")
        xcb = [l for l in stdout.splitlines() if l.startswith("xcodebuild ")]
        self.assertEqual(len(xcb), 1, stdout)
        self.assertEqual(xcb[0].count("-library "), 2)
        self.assertEqual(xcb[0].count("-headers " + headers), 2)
        self.assertIn("-create-xcframework", xcb[0])
        self.assertIn("-output " + out, xcb[0])
        # Bad input: status 2, named.
        for args, named in ((["--output", out, os.path.join(tmp, "missing.a")], "missing.a"),
                            (["--output", os.path.join(tmp, "x.framework"), libs[0]], ".xcframework"),
                            (["--output", out, "--frob", libs[0]], "--frob"),
                            (["--output", out], "no static library")):
            rc, _, err = run("--dry-run", *args)
            self.assertEqual(rc, 2, args)
            self.assertIn(named, err)
        if shutil.which("xcodebuild") is None:
            rc, _, err = run("--output", out, libs[0])
            self.assertEqual(rc, 0, err)
            self.assertIn("xcodebuild not found", err)
            rc, _, err = run("--check", "--output", out, libs[0])
            self.assertEqual(rc, 1, err)
            self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    build_dir_from_env_or_argv()
    unittest.main()
