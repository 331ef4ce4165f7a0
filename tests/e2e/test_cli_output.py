# mpsync-cli's output lines (issue 13 item 11): exact 64-bit ids, and valid UTF-8 JSON always.
# SPDX-License-Identifier: Apache-2.0
"""A scripted link server (no mock server: it cannot reach ids near 2^64) welcomes mpsync-cli and
sends one batch whose ids are 2^64-2 and 2^64-1 and whose text is not valid UTF-8; every line the
CLI prints must be strict UTF-8 JSON with the exact ids and U+FFFD where the bad bytes were."""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpsync_harness import (ENV_BATCH, ENV_HELLO, ENV_WELCOME, STREAM_USER,  # noqa: E402
                            build_dir_from_env_or_argv, pb_bytes, pb_decode, pb_int, pb_msg)

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

if __name__ == "__main__":
    BUILD = build_dir_from_env_or_argv()
    unittest.main()
