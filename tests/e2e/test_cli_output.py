# mpsync-cli's output lines (issue 13 item 11) and the command lines of mpsync-cli and mpsync-bench (issue 14).
# SPDX-License-Identifier: Apache-2.0
"""A scripted link server (no mock server: it cannot reach ids near 2^64) welcomes mpsync-cli and
sends one batch whose ids are 2^64-2 and 2^64-1 and whose text is not valid UTF-8; every line the
CLI prints must be strict UTF-8 JSON with the exact ids and U+FFFD where the bad bytes were.

The tools' arguments: --help and --version answer on stdout with status 0, an unknown option or
command is named on stderr with status 2, every option spelling the tests and scripts use still
parses, and a plaintext/TLS mismatch with the mock server ends in a hint naming the fix."""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpsync_harness import (ENV_BATCH, ENV_HELLO, ENV_WELCOME, STREAM_USER,  # noqa: E402
                            MockServer, build_dir_from_env_or_argv, pb_bytes, pb_decode, pb_int,
                            pb_msg)

BUILD = None
BIG = 2 ** 64 - 2


def frame(field, body):
    env = pb_msg(field, body)
    return struct.pack(">I", len(env)) + env


def recv_frame(sock):
    def exact(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise EOFError("client closed")
            data += chunk
        return data
    (n,) = struct.unpack(">I", exact(4))
    env = pb_decode(exact(n))
    ((field, values),) = env.items()
    return field, values[0]


def oplog(oid, payload, third, binary=False):
    return (pb_int(1, oid) + pb_bytes(2, payload) + pb_int(3, int(binary)) +
            pb_bytes(4, third) + pb_int(5, 1700000000000))


class ScriptedServer:
    """Accepts one connection, answers Hello with Welcome, then sends the given batch."""

    def __init__(self, batch):
        self.batch = batch
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(20)
        self.port = self.sock.getsockname()[1]
        self.hello = None
        self.error = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
            with conn:
                conn.settimeout(20)
                kind, self.hello = recv_frame(conn)
                assert kind == ENV_HELLO, kind
                conn.sendall(frame(ENV_WELCOME, pb_int(1, 1) + pb_int(2, 30) + pb_int(3, 15) +
                                   pb_int(4, 1 << 20) + pb_bytes(5, "scripted")))
                conn.sendall(frame(ENV_BATCH, self.batch))
                while True:  # take the client's Ack and pings until it leaves
                    recv_frame(conn)
        except (EOFError, OSError):
            pass
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def close(self):
        self.sock.close()
        self.thread.join(5)


class CliOutput(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mpsync-cli-out-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def run_cli(self, server, count):
        cmd = [os.path.join(BUILD, "bin", "mpsync-cli"), "listen", "--plaintext",
               "--server", "127.0.0.1:%d" % server.port, "--instance", "cli_app",
               "--data", os.path.join(self.tmp, "client"), "--biz", "UCHAT", "--user", "u1",
               "--count", str(count)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self.fail("mpsync-cli did not print %d lines: %r %s" % (count, out, err.decode()))
        self.assertEqual(proc.returncode, 0, err.decode("utf-8", "replace"))
        lines = out.splitlines()
        self.assertEqual(len(lines), count, out)
        # Strict: a line that is not UTF-8 raises here, as it would in any strict JSON reader.
        return [json.loads(line.decode("utf-8", "strict")) for line in lines]

    def test_item11_mk_printed_as_exact_integer_and_lines_valid_utf8(self):
        batch = (pb_int(1, STREAM_USER) + pb_bytes(2, "UCHAT") + pb_bytes(3, "u1") +
                 pb_int(4, 7) +
                 pb_msg(5, oplog(BIG + 1 - 2 ** 53, b"\x00\xff", "t0", binary=True)) +
                 pb_msg(5, oplog(BIG, b"ok\xff \xed\xa0\x80 \xc0\xaf \xe4\xb8", b"t\xc3")) +
                 pb_msg(5, oplog(BIG + 1, "中文 \U0001F600\u2028\x00end".encode(), "t2")))
        server = ScriptedServer(batch)
        self.addCleanup(server.close)
        got = self.run_cli(server, 3)
        self.assertIsNone(server.error)
        self.assertEqual([g["mk"] for g in got], [BIG + 1 - 2 ** 53, BIG, BIG + 1])
        self.assertEqual((got[0]["pl"], got[0]["isB"]), ("AP8=", True))
        self.assertEqual(got[1]["pl"], "ok\ufffd \ufffd\ufffd\ufffd \ufffd\ufffd \ufffd")
        self.assertEqual(got[1]["bId"], "t\ufffd")
        self.assertEqual(got[2]["pl"], "中文 \U0001F600\u2028\x00end")
        self.assertEqual((got[1]["biz"], got[1]["userId"], got[1]["delivery"], got[1]["isB"],
                          got[1]["mct"]), ("UCHAT", "u1", 1, False, 1700000000000))

def run_tool(name, *args):
    proc = subprocess.run([os.path.join(BUILD, "bin", name)] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=30)
    return proc.returncode, proc.stdout, proc.stderr


class ToolArguments(unittest.TestCase):
    """Issue 14: getopt_long parsing of mpsync-cli and mpsync-bench."""

    def assert_answers(self, name, args, first_line):
        rc, out, err = run_tool(name, *args)
        self.assertEqual(rc, 0, (args, err))
        self.assertTrue(out.startswith(first_line), (args, out))
        self.assertEqual(err, "", args)

    def assert_refused(self, name, args, named):
        rc, out, err = run_tool(name, *args)
        self.assertEqual(rc, 2, (args, out, err))
        self.assertIn("'%s'" % named, err, args)
        self.assertIn("--help", err, args)  # where to read more
        self.assertEqual(out, "", args)

    def test_help_and_version(self):
        self.assert_answers("mpsync-cli", ["--help"], "usage: mpsync-cli")
        self.assert_answers("mpsync-cli", ["-h"], "usage: mpsync-cli")
        self.assert_answers("mpsync-cli", ["listen", "--help"], "usage: mpsync-cli listen")
        rc, out, _ = run_tool("mpsync-cli", "--version")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^mpsync-cli \d+\.\d+\.\d+\n$")
        # listen --help lists every option listen takes.
        _, out, _ = run_tool("mpsync-cli", "listen", "--help")
        for flag in ("--server", "--instance", "--data", "--biz", "--user", "--session", "--device",
                     "--os", "--app-version", "--ca", "--pin", "--server-name", "--plaintext",
                     "--no-report", "--count", "--verbose"):
            self.assertIn(flag, out)

    def test_unknown_flag_and_command_exit_2(self):
        self.assert_refused("mpsync-cli", ["--frobnicate"], "--frobnicate")
        self.assert_refused("mpsync-cli", ["subscribe"], "subscribe")
        self.assert_refused("mpsync-cli", ["listen", "--server", "127.0.0.1:1", "--frobnicate"],
                            "--frobnicate")
        self.assert_refused("mpsync-cli", ["listen", "-q"], "-q")
        self.assert_refused("mpsync-cli", ["listen", "--server"], "--server")
        self.assert_refused("mpsync-cli", ["listen", "--count", "3x"], "3x")
        self.assert_refused("mpsync-cli", ["listen", "--os", "PALM"], "PALM")
        rc, _, err = run_tool("mpsync-cli", "listen", "--server", "127.0.0.1:1", "--biz", "A")
        self.assertEqual(rc, 2)
        self.assertIn("missing --instance, --data", err)
        rc, _, _ = run_tool("mpsync-cli")
        self.assertEqual(rc, 2)

    def test_every_option_spelling_still_parses(self):
        # The spellings tests/, scripts/ and the docs use, in both forms getopt_long takes; parsed
        # means the client starts (it logs its device id), refused would exit 2 at once.
        tmp = tempfile.mkdtemp(prefix="mpsync-cli-args-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cmd = [os.path.join(BUILD, "bin", "mpsync-cli"), "listen", "--server", "127.0.0.1:9",
               "--instance=args_app", "--data", tmp, "--biz", "A,B", "--user", "u1",
               "--session", "s1", "--device", "dev-1", "--os", "android", "--app-version", "1.2.3",
               "--server-name=localhost", "--plaintext", "--no-report", "--count", "5",
               "--verbose"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            seen = ""
            while "mpsync-cli: device dev-1" not in seen and time.monotonic() < deadline:
                line = proc.stderr.readline()
                if not line:
                    break
                seen += line
            self.assertIn("mpsync-cli: device dev-1", seen)
        finally:
            proc.terminate()
            proc.communicate(timeout=20)
        self.assertEqual(proc.returncode, 0)

    def test_bench_help_version_and_unknown_flag(self):
        self.assert_answers("mpsync-bench", ["--help"], "usage: mpsync-bench")
        rc, out, _ = run_tool("mpsync-bench", "--version")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^mpsync-bench \d+\.\d+\.\d+\n$")
        _, out, _ = run_tool("mpsync-bench", "--help")
        for flag in ("--json", "--n", "--payload", "--tls", "--mock-server", "--samples", "--burst",
                     "--tmp", "--foreign", "--peer", "--peer-script"):
            self.assertIn(flag, out)
        self.assert_refused("mpsync-bench", ["--frobnicate"], "--frobnicate")
        self.assert_refused("mpsync-bench", ["--n"], "--n")
        self.assert_refused("mpsync-bench", ["--tls", "maybe"], "maybe")
        self.assert_refused("mpsync-bench", ["--payload", "0"], "0")
        self.assert_refused("mpsync-bench", ["stray"], "stray")


class TlsMismatchHint(unittest.TestCase):
    """Issue 14: a plaintext/TLS mismatch between mpsync-cli and the mock server ends in a hint
    naming --plaintext or --link-tls, and a matching pair gets none."""

    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="mpsync-cli-pki-")
        subprocess.run(["bash", os.path.join(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))), "tls", "make_certs.sh"), cls.pki], check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, True)

    def stderr_until(self, port, extra, pattern):
        """Runs listen against port until stderr matches pattern (or 20 s pass); its stderr."""
        tmp = tempfile.mkdtemp(prefix="mpsync-cli-hint-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cmd = [os.path.join(BUILD, "bin", "mpsync-cli"), "listen", "--server",
               "127.0.0.1:%d" % port, "--instance", "test_app", "--data", tmp, "--biz", "A"] + extra
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seen = ""
        try:
            deadline = time.monotonic() + 20
            while not re.search(pattern, seen) and time.monotonic() < deadline:
                line = proc.stderr.readline()
                if not line:
                    break
                seen += line
        finally:
            proc.terminate()
            seen += proc.communicate(timeout=20)[1]
        return seen

    def test_tls_plaintext_mismatch_hints_at_the_flag(self):
        ca = ["--ca", os.path.join(self.pki, "ca.pem")]
        with MockServer(BUILD, tls=self.pki) as server:
            # TLS client, plaintext port: the hint says --plaintext.
            err = self.stderr_until(server.link_port, ca, r"CONNECT_FAILED(.|\n)*CONNECT_FAILED")
            self.assertIn("hint:", err)
            self.assertIn("add --plaintext", err)
            self.assertEqual(err.count("hint:"), 1, err)  # once, not at every retry
            # Plaintext client, TLS port: the hint names --link-tls and dropping --plaintext.
            err = self.stderr_until(server.link_tls_port, ["--plaintext"],
                                    r"CONNECT_FAILED(.|\n)*CONNECT_FAILED")
            self.assertIn("hint:", err)
            self.assertIn("--link-tls", err)
            self.assertIn("drop --plaintext", err)
            # Matching pairs connect and get no hint.
            for port, extra in ((server.link_port, ["--plaintext"]), (server.link_tls_port, ca)):
                err = self.stderr_until(port, extra + ["--server-name", "localhost"],
                                        r"state CONNECTED")
                self.assertIn("state CONNECTED", err)
                self.assertNotIn("hint:", err)


if __name__ == "__main__":
    BUILD = build_dir_from_env_or_argv()
    unittest.main()
