#!/usr/bin/env python3
# Out-of-tree consumer tests: consumer.c built as an app would build it, receiving one oplog.
# SPDX-License-Identifier: Apache-2.0
"""Out-of-tree consumer tests: build tests/consumers/consumer.c against libmpsync the way an app
would (an installed CMake package, pkg-config, or add_subdirectory of the source tree), then let
it receive one oplog from the mock server on loopback.

  run_consumer.py install-static BUILD_DIR SOURCE_DIR WORK PREFIX   (CTest fixture)
  run_consumer.py find_package|pkg_config BUILD_DIR SOURCE_DIR WORK PREFIX [--static]
  run_consumer.py add_subdirectory BUILD_DIR SOURCE_DIR WORK

Options for the builds: --cc CC, --flags "FLAGS" (C and link flags, e.g. the sanitizers).
"""
# SPDX-License-Identifier: Apache-2.0

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from mpsync_harness import MockServer  # noqa: E402

INSTANCE = "consumer_app"
BIZ = [{"bizType": "UCHAT", "scope": "specified", "dimension": "user", "multiDevice": True,
        "persistent": True, "repushMode": "queue"}]


def run(cmd, env=None):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)


def cmake_flags(args):
    flags = ["-DCMAKE_BUILD_TYPE=RelWithDebInfo"]
    if args.cc:
        flags.append("-DCMAKE_C_COMPILER=" + args.cc)
    if args.flags:
        flags += ["-DCMAKE_C_FLAGS=" + args.flags, "-DCMAKE_EXE_LINKER_FLAGS=" + args.flags,
                  "-DCMAKE_SHARED_LINKER_FLAGS=" + args.flags]
    return flags


def cmake_build(args, src, build, extra):
    shutil.rmtree(build, ignore_errors=True)
    run(["cmake", "-S", src, "-B", build] + cmake_flags(args) + extra)
    run(["cmake", "--build", build, "-j2"])
    return os.path.join(build, "consumer")


def install_static(args):
    """A second build of the library alone, static, installed into PREFIX."""
    build = os.path.join(args.work, "build")
    shutil.rmtree(args.prefix, ignore_errors=True)
    shutil.rmtree(build, ignore_errors=True)
    run(["cmake", "-S", args.source_dir, "-B", build] + cmake_flags(args) +
        ["-DBUILD_SHARED_LIBS=OFF", "-DMPSYNC_BUILD_TESTS=OFF", "-DMPSYNC_BUILD_TOOLS=OFF",
         "-DMPSYNC_JNI=OFF", "-DMPSYNC_OBJC=OFF"])
    run(["cmake", "--build", build, "-j2"])
    run(["cmake", "--install", build, "--prefix", args.prefix])


def build_consumer(args):
    """Returns (program, env to run it with)."""
    env = dict(os.environ)
    if args.mode == "find_package":
        return cmake_build(args, os.path.join(HERE, "find_package"), args.work,
                           ["-DCMAKE_PREFIX_PATH=" + args.prefix]), env
    if args.mode == "add_subdirectory":
        return cmake_build(args, os.path.join(HERE, "add_subdirectory"), args.work,
                           ["-DMPSYNC_SOURCE_DIR=" + args.source_dir]), env
    # pkg-config: the compiler sees nothing but what mpsync.pc says.
    pcs = glob.glob(os.path.join(args.prefix, "**", "mpsync.pc"), recursive=True)
    if len(pcs) != 1:
        raise SystemExit("expected one mpsync.pc under %s, found %r" % (args.prefix, pcs))
    env["PKG_CONFIG_PATH"] = os.path.dirname(pcs[0])
    pc_args = ["pkg-config", "--cflags", "--libs"] + (["--static"] if args.static else []) + ["mpsync"]
    print("+", " ".join(pc_args), flush=True)
    flags = subprocess.run(pc_args, env=env, check=True, capture_output=True,
                           text=True).stdout.split()
    print(" ".join(flags), flush=True)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    program = os.path.join(args.work, "consumer")
    run([args.cc or "cc", "-std=c11", "-Wall", "-Wextra", "-Werror"] + args.flags.split() +
        [os.path.join(HERE, "consumer.c"), "-o", program] + flags, env=env)
    if not args.static:
        # No rpath from a .pc file: the loader is told where the installed library is.
        libdir = [f[2:] for f in flags if f.startswith("-L")]
        env["LD_LIBRARY_PATH"] = ":".join(libdir + [env.get("LD_LIBRARY_PATH", "")])
    return program, env


def check_linkage(args, program):
    """A static consumer carries libmpsync; a shared one loads the installed libmpsync.so."""
    out = subprocess.run(["readelf", "-d", program], check=True, capture_output=True,
                         text=True).stdout
    needs_so = "libmpsync.so" in out
    if args.static and needs_so:
        raise SystemExit("static consumer needs libmpsync.so:\n" + out)
    if not args.static and not needs_so:
        raise SystemExit("shared consumer does not load libmpsync.so:\n" + out)


def receive_one(args, program, env):
    data = tempfile.mkdtemp(prefix="mpsync-consumer-")
    try:
        with MockServer(args.build_dir, biz=BIZ) as server:
            third = "consumer-" + args.mode
            status, answer = server.push_single(INSTANCE, {
                "bizType": "UCHAT", "linkToken": "u1", "thirdMsgId": third,
                "payload": "hello " + args.mode})
            if status != 200 or not answer.get("success"):
                raise SystemExit("push failed: %r %r" % (status, answer))
            proc = subprocess.run([program, "127.0.0.1", str(server.link_port), INSTANCE,
                                   os.path.join(data, "client"), "UCHAT", "u1"],
                                  env=env, capture_output=True, text=True, timeout=60)
            sys.stdout.write(proc.stdout)
            sys.stderr.write(proc.stderr)
            if proc.returncode != 0:
                raise SystemExit("consumer exited with %d" % proc.returncode)
            if third not in proc.stdout or "hello " + args.mode not in proc.stdout:
                raise SystemExit("consumer did not print the pushed oplog")
    finally:
        shutil.rmtree(data, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["install-static", "find_package", "pkg_config",
                                    "add_subdirectory"])
    p.add_argument("build_dir")
    p.add_argument("source_dir")
    p.add_argument("work")
    p.add_argument("prefix", nargs="?")
    p.add_argument("--static", action="store_true")
    p.add_argument("--cc", default="")
    p.add_argument("--flags", default="")
    args = p.parse_args()
    if args.mode == "install-static":
        install_static(args)
        return
    if args.mode == "add_subdirectory":
        # A parent that does not set BUILD_SHARED_LIBS gets the static library, as with any
        # add_library() without a type.
        args.static = True
    elif not args.prefix:
        p.error("PREFIX is required for " + args.mode)
    program, env = build_consumer(args)
    check_linkage(args, program)
    receive_one(args, program, env)
    print("consumer %s%s: received the oplog" % (args.mode, " (static)" if args.static else ""))


if __name__ == "__main__":
    main()
