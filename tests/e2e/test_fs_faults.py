"""Cache on a full or read-only file system: a clear error, nothing acknowledged unstored, recovery."""
# SPDX-License-Identifier: Apache-2.0

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import Listener  # noqa: E402
from mpsync_harness import MockServer, build_dir_from_env_or_argv  # noqa: E402

BUILD = None
INSTANCE = "test_app"
BIG = "载" * 1500  # 4.5 KB of UTF-8 per oplog: a 1 MiB file system fills within a few hundred


def mount(args):
    return subprocess.run(["mount"] + args, capture_output=True, text=True)


class FsFaults(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mpsync-fs-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mnt = os.path.join(self.tmp, "mnt")
        os.mkdir(self.mnt)
        r = mount(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", self.mnt])
        if r.returncode != 0:
            # Mounting needs root (CI and the README test command run as root).
            self.skipTest("cannot mount a tmpfs here: " + r.stderr.strip())
        self.addCleanup(lambda: subprocess.run(["umount", "-l", self.mnt]))
        self.server = MockServer(BUILD, biz=[{"bizType": "UCHAT", "dimension": "user"}])
        self.server.__enter__()
        self.addCleanup(self.server.__exit__, None, None, None)

    def listener(self, **kw):
        lst = Listener(BUILD, self.server, os.path.join(self.mnt, "client"), biz=["UCHAT"],
                       user="u1", **kw)
        lst.start()
        self.addCleanup(lst.stop)
        return lst

    def push(self, i):
        status, answer = self.server.push_single(INSTANCE, {
            "bizType": "UCHAT", "linkToken": "u1", "thirdMsgId": "big-%03d" % i, "payload": BIG})
        self.assertEqual(status, 200)
        self.assertTrue(answer["success"], answer)

    def drain_and_check(self, total):
        lst = self.listener()
        got = lst.take(total, timeout=60)
        self.assertEqual([g["bId"] for g in got], ["big-%03d" % i for i in range(total)])
        lst.expect_nothing(0.5)

    def test_full_file_system_loses_nothing(self):
        lst = self.listener(report=False)  # nothing is reported: the cache only grows
        lst.wait_connected()
        total = 400
        for i in range(total):
            self.push(i)
        lst.wait_log(r"cache write failed", timeout=30)
        # The failed commit was not acknowledged: the link drops instead.
        lst.wait_log(r"state (DISCONNECTED|CONNECT_FAILED)", timeout=10)
        lst.stop()
        # Room again: the server still has everything the client could not store.
        self.assertEqual(mount(["-o", "remount,size=64m", self.mnt]).returncode, 0)
        self.drain_and_check(total)

    def test_read_only_file_system_is_a_clear_error(self):
        lst = self.listener()
        lst.wait_connected()
        for i in range(5):
            self.push(i)
        last = lst.take(5)[-1]["mk"]
        # The CLI prints an oplog, then reports its message: stop only once the last report is
        # committed, or the last message is (rightly) delivered again at the next start.
        lst.wait_log(r"reported \S+ message \d+,%d," % last, timeout=10)
        lst.stop()
        # Read-only (a remount needs the files closed, as after a crash or an OS update).
        self.assertEqual(mount(["-o", "remount,ro", self.mnt]).returncode, 0)
        for i in range(5, 10):
            self.push(i)
        lst = self.listener()
        self.assertEqual(lst.wait_exit(), 1)
        lst.wait_log(r"cannot start: local cache \(SQLite\) error")
        lst.wait_log(r"readonly|read-only|Read-only")
        self.assertEqual(mount(["-o", "remount,rw", self.mnt]).returncode, 0)
        lst = self.listener()
        got = lst.take(5, timeout=30)
        self.assertEqual([g["bId"] for g in got], ["big-%03d" % i for i in range(5, 10)])
        lst.expect_nothing(0.5)


if __name__ == "__main__":
    BUILD = build_dir_from_env_or_argv()
    unittest.main()
