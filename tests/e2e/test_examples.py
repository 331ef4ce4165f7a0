# Runs the programs in examples/ against the mock server, so that they keep doing what they say.
# SPDX-License-Identifier: Apache-2.0
"""examples/verify_hook.c: in both trust modes it receives from the server whose certificate it
ships and refuses a server showing any other, even one the same CA issued for the same name."""

import os
import select
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpsync_harness import MockServerTest, build_dir_from_env_or_argv, make_pki  # noqa: E402

BUILD_DIR = None
INSTANCE = "ws_EXAMPLES"
BIZ = [{"bizType": "GCONF", "scope": "global"}]


def der_file(pem_path, out_dir):
    with open(pem_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    path = os.path.join(out_dir, os.path.basename(pem_path) + ".der")
    with open(path, "wb") as f:
        f.write(der)
    return path


class VerifyHookExample(MockServerTest):
    def setUp(self):
        self.pki = make_pki()
        self.addCleanup(shutil.rmtree, self.pki, ignore_errors=True)
        self.server = self.start_server(biz=BIZ, tls=self.pki)
        # A global oplog: a fresh client pulls it at its first foreground, no user or device id
        # needed.
        status, body = self.server.push_global(INSTANCE, {"bizType": "GCONF", "thirdMsgId": "g1",
                                                          "payload": "cfg"})
        self.assertEqual((status, body["msg"]), (200, "SUCCESS"), body)

    def run_example(self, shipped_pem, ca=None, seconds=10.0):
        """Runs the example until it prints a message or its stderr says the connection failed;
        returns (stdout, stderr) after a SIGTERM and a clean exit."""
        work = tempfile.mkdtemp(prefix="mpsync-example-")
        self.addCleanup(shutil.rmtree, work, ignore_errors=True)
        args = [os.path.join(self.build_dir(), "bin", "mpsync-example-verify-hook"), "127.0.0.1",
                str(self.server.link_tls_port), INSTANCE, os.path.join(work, "data"), "GCONF",
                der_file(os.path.join(self.pki, shipped_pem), work)]
        if ca:
            args += [os.path.join(self.pki, ca), "localhost"]
        err_path = os.path.join(work, "stderr")
        with open(err_path, "w") as err:
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err)
        out = b""
        try:
            end = time.monotonic() + seconds
            while time.monotonic() < end and b"\n" not in out:
                with open(err_path) as f:
                    if "state: connect failed" in f.read():
                        break
                if select.select([proc.stdout], [], [], 0.1)[0]:
                    out += os.read(proc.stdout.fileno(), 4096)
            # Whatever a refused client would still print comes within a reconnect's time.
            if select.select([proc.stdout], [], [], 0.5)[0]:
                out += os.read(proc.stdout.fileno(), 4096)
        finally:
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=10), 0)
            proc.stdout.close()
        with open(err_path) as f:
            return out.decode(), f.read()

    def test_hook_decides_without_a_ca_file(self):
        out, err = self.run_example("server.pem")
        self.assertRegex(out, r"^GCONF: message \S+ of 1 oplogs\n", err)
        self.assertIn("the shipped certificate (libmpsync's own check failed or skipped)", err)
        # backup.pem: the same name and CA, another key: not the certificate the app ships.
        out, err = self.run_example("backup.pem")
        self.assertEqual(out, "", err)
        self.assertIn("an unknown certificate", err)
        self.assertIn("state: connect failed", err)

    def test_chain_and_hook_with_a_ca_file(self):
        out, err = self.run_example("server.pem", ca="ca.pem")
        self.assertRegex(out, r"^GCONF: message \S+ of 1 oplogs\n", err)
        self.assertIn("the shipped certificate (libmpsync's own check passed)", err)
        # The chain check passes for the server; the hook still refuses what the app did not ship.
        out, err = self.run_example("backup.pem", ca="ca.pem")
        self.assertEqual(out, "", err)
        self.assertIn("an unknown certificate (libmpsync's own check passed)", err)
        self.assertIn("state: connect failed", err)


if __name__ == "__main__":
    BUILD_DIR = build_dir_from_env_or_argv()
    unittest.main(verbosity=2)
