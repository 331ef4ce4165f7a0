# End-to-end tests of the mock server's operator side: admin token, command line, signed pushes, S9.
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of what the people who run the service use (issue 16): the admin API's bearer
token, the command line (getopt_long), signed pushes (guide §6.8) and user consistency (S9, guide
§5.4). The web console is tested elsewhere."""

import base64
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import json
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpsync_harness import MockServer, build_dir_from_env_or_argv  # noqa: E402

BUILD_DIR = None
INSTANCE = "ws_OPS"

BIZ = [
    {"bizType": "UCHAT", "dimension": "user"},
    {"bizType": "DEVCFG", "dimension": "device"},
    {"bizType": "GCONF", "scope": "global"},
]

# Every route admin.c handles, with a body where it takes one: each must refuse without the token.
ADMIN_CALLS = [
    ("GET", "/admin/biz?instanceId=" + INSTANCE, None),
    ("POST", "/admin/biz?instanceId=" + INSTANCE, {"bizType": "NEW-ONE"}),
    ("GET", "/admin/biz/UCHAT?instanceId=" + INSTANCE, None),
    ("PUT", "/admin/biz/UCHAT", {"persistent": False}),
    ("DELETE", "/admin/biz/DEVCFG", None),
    ("POST", "/admin/biz/UCHAT/offline", None),
    ("POST", "/admin/biz/UCHAT/online", None),
    ("POST", "/admin/links/close?instanceId=" + INSTANCE, None),
    ("POST", "/admin/stream/reset?instanceId=%s&bizType=UCHAT&target=u1" % INSTANCE, None),
    ("POST", "/admin/retention/run?olderThanMs=0", None),
    ("POST", "/admin/push/bulk?instanceId=" + INSTANCE,
     {"bizType": "UCHAT", "linkToken": "u1", "thirdMsgId": "bulk", "payload": "x", "count": 3}),
    ("GET", "/admin/status?instanceId=%s&userId=u1" % INSTANCE, None),
    ("GET", "/admin/records", None),
    ("GET", "/admin/signature", None),
    ("POST", "/admin/signature", {"enabled": True}),
    ("GET", "/admin/validator?instanceId=" + INSTANCE, None),
    ("POST", "/admin/validator?instanceId=" + INSTANCE, {"url": "http://127.0.0.1:9/"}),
    ("GET", "/admin/no-such-route", None),
]

# Reads that show every change an admin call can make.
SNAPSHOT_PATHS = ["/admin/biz", "/admin/records?instanceId=" + INSTANCE,
                  "/admin/status?instanceId=%s&userId=u1" % INSTANCE]

UNAUTHORIZED = {"success": False, "msg": "UNAUTHORIZED"}


class AdminToken(unittest.TestCase):
    def snapshot(self, server):
        """What an unauthorised call could change, read with the token."""
        state = {}
        for path in SNAPSHOT_PATHS:
            status, body = server.request("GET", path)
            self.assertEqual(status, 200, (path, body))
            state[path] = body
        return state

    def test_every_admin_path_without_or_with_a_wrong_token_is_401_and_changes_nothing(self):
        with MockServer(BUILD_DIR, biz=BIZ) as server:
            # Something for retention, stream resets and records to act on.
            self.assertEqual(server.push_single(INSTANCE, {
                "bizType": "UCHAT", "linkToken": "u1", "thirdMsgId": "kept", "payload": "p"})[1]
                ["msg"], "NOT_ONLINE")
            with server.link_client(instance=INSTANCE, device="dev-auth", user="u1") as link:
                self.assertEqual([o["thirdMsgId"] for o in link.recv_oplogs(1)], ["kept"])
                before = self.snapshot(server)
                token = server.admin_token
                wrong = [None, "", "Bearer", "Bearer ", "Bearer " + token[:-1],
                         "Bearer " + token + "x", "Basic " + token, token,
                         "Bearer " + token[:-1] + chr(ord(token[-1]) ^ 1)]
                for method, path, body in ADMIN_CALLS:
                    for auth in wrong:
                        headers = {} if auth is None else {"Authorization": auth}
                        status, answer = server.request(method, path, body, headers=headers,
                                                        auth=False)
                        self.assertEqual((status, answer), (401, UNAUTHORIZED),
                                         (method, path, auth))
                self.assertEqual(self.snapshot(server), before)
                # The link the refused links/close named is still open and served.
                self.assertEqual(server.push_single(INSTANCE, {
                    "bizType": "UCHAT", "linkToken": "u1", "thirdMsgId": "after",
                    "payload": "p"})[1]["msg"], "SUCCESS")
                self.assertEqual([o["thirdMsgId"] for o in link.recv_oplogs(1)], ["after"])
            # The scheme name is case-insensitive; the token is not.
            self.assertEqual(server.request("GET", "/admin/biz", headers={
                "Authorization": "bearer " + token}, auth=False)[0], 200)
            self.assertEqual(server.request("GET", "/admin/biz", headers={
                "Authorization": "Bearer " + token.upper()}, auth=False)[0], 401)

    def test_generated_token_printed_once_and_written_0600(self):
        server = MockServer(BUILD_DIR, biz=BIZ)
        server.admin_token = None
        with server:
            lines = [l for l in server.stderr_text.splitlines() if "admin token" in l]
            self.assertEqual(len(lines), 1, server.stderr_text)
            m = re.fullmatch(r"mpsync-mock-server: admin token ([0-9a-f]{32})", lines[0])
            self.assertIsNotNone(m, lines[0])
            token = m.group(1)
            path = os.path.join(server.data_dir, "state", "admin-token")
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            with open(path) as f:
                self.assertEqual(f.read().strip(), token)
            self.assertEqual(server.request("GET", "/admin/biz", auth=False)[0], 401)
            server.admin_token = token
            self.assertEqual(server.request("GET", "/admin/biz")[0], 200)
        # A second start makes a different token.
        again = MockServer(BUILD_DIR, biz=BIZ)
        again.admin_token = None
        with again:
            other = re.search(r"admin token ([0-9a-f]{32})", again.stderr_text).group(1)
        self.assertNotEqual(other, token)


class CommandLine(unittest.TestCase):
    def run_server(self, *args):
        binary = os.path.join(BUILD_DIR, "bin", "mpsync-mock-server")
        return subprocess.run([binary] + list(args), capture_output=True, text=True, timeout=10)

    def test_help_and_version_exit_0(self):
        r = self.run_server("--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("usage: mpsync-mock-server", r.stdout)
        self.assertIn("--admin-token", r.stdout)
        r = self.run_server("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^mpsync-mock-server \d+\.\d+\.\d+\n$")

    def test_unknown_flag_named_and_exit_2(self):
        with tempfile.TemporaryDirectory() as d:
            base = ["--http", "127.0.0.1:0", "--link", "127.0.0.1:0", "--data", d]
            for bad, named in (("--no-such-flag", "--no-such-flag"),
                               ("--no-such=1", "--no-such"), ("-x", "-x")):
                r = self.run_server(*(base + [bad]))
                self.assertEqual(r.returncode, 2, bad)
                self.assertIn("unknown option %s\n" % named, r.stderr)
            r = self.run_server(*(base + ["--heartbeat"]))
            self.assertEqual(r.returncode, 2)
            self.assertIn("--heartbeat needs a value", r.stderr)
            r = self.run_server(*(base + ["--admin-token", "short"]))
            self.assertEqual(r.returncode, 2)
            self.assertIn("bad value for --admin-token", r.stderr)
            r = self.run_server(*(base + ["stray"]))
            self.assertEqual(r.returncode, 2)
            self.assertIn("unexpected argument stray", r.stderr)


if __name__ == "__main__":
    BUILD_DIR = build_dir_from_env_or_argv()
    unittest.main(verbosity=2)
