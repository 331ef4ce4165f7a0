# TLS session resumption (issue 18): handshake messages counted through the recording fault proxy.
# SPDX-License-Identifier: Apache-2.0
"""Each run is one mpsync-cli process on the same data directory, through the test's recording
proxy (one address, as the kept session is for one) to the mock server's TLS listener: it
connects, receives one push, and stops. Whether
the server resumed is read from the bytes it sent. TLS 1.2 (mbedTLS 2.28): before its
ChangeCipherSpec the handshake is in the clear, so a full handshake shows its Certificate (11) and
ServerHelloDone (14), and the abbreviated handshake of a resumed session shows neither. TLS 1.3
(mbedTLS 3.6, scripts/mbedtls3.sh): all after the ServerHello is encrypted, and the ServerHello
carries the pre_shared_key extension (41) exactly when the server accepted the ticket."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "faults"))
from cli_harness import Listener  # noqa: E402
from fault_proxy import S2C, FaultProxy  # noqa: E402
from mpsync_harness import MockServer, build_dir_from_env_or_argv, free_port  # noqa: E402

BUILD = None
INSTANCE = "tls_app"
USER = "resume-user"
DEVICE = "tls-resume-device-000000001"
BIZ = [{"bizType": "UCHAT", "scope": "specified", "dimension": "user", "multiDevice": True,
        "persistent": True, "repushMode": "queue"}]
MAKE_CERTS = os.path.join(os.path.dirname(HERE), "tls", "make_certs.sh")
CHANGE_CIPHER_SPEC, HANDSHAKE = 20, 22
SERVER_HELLO, CERTIFICATE, SERVER_HELLO_DONE = 2, 11, 14
EXT_PRE_SHARED_KEY, EXT_SUPPORTED_VERSIONS = 41, 43


def server_handshake_messages(data):
    """The handshake message types a TLS 1.2 server sent before its ChangeCipherSpec."""
    body, i = bytearray(), 0
    while i + 5 <= len(data):
        kind, length = data[i], int.from_bytes(data[i + 3:i + 5], "big")
        if kind == CHANGE_CIPHER_SPEC:
            break
        if kind == HANDSHAKE:
            body += data[i + 5:i + 5 + length]
        i += 5 + length
    types_, j = [], 0
    while j + 4 <= len(body):
        types_.append(body[j])
        j += 4 + int.from_bytes(body[j + 1:j + 4], "big")
    return types_


def server_hello_extensions(data):
    """{extension type: body} of the ServerHello at the start of a server's byte stream."""
    hello = data[5:5 + int.from_bytes(data[3:5], "big")]
    assert hello[0] == SERVER_HELLO, hello[:1]
    i = 4 + 2 + 32
    i += 1 + hello[i]  # session id
    i += 2 + 1  # cipher suite, compression
    end, exts = i + 2 + int.from_bytes(hello[i:i + 2], "big"), {}
    i += 2
    while i + 4 <= end:
        kind, n = int.from_bytes(hello[i:i + 2], "big"), int.from_bytes(hello[i + 2:i + 4], "big")
        exts[kind] = bytes(hello[i + 4:i + 4 + n])
        i += 4 + n
    return exts


def handshake_kind(data):
    """("1.2" or "1.3", resumed?) of the handshake a server's byte stream begins with."""
    exts = server_hello_extensions(data)
    if exts.get(EXT_SUPPORTED_VERSIONS) == b"\x03\x04":
        return "1.3", EXT_PRE_SHARED_KEY in exts
    messages = server_handshake_messages(data)
    full = CERTIFICATE in messages and SERVER_HELLO_DONE in messages
    assert full or (CERTIFICATE not in messages and SERVER_HELLO_DONE not in messages), messages
    return "1.2", not full


class FixedTlsPortServer(MockServer):
    """A mock server whose TLS listener keeps one port across restarts: the client's kept session
    is for that address, so a restart tests the server's new ticket key, not a new peer."""

    def __init__(self, *args, tls_port, **kw):
        super().__init__(*args, **kw)
        self.fixed_tls_port = tls_port

    def command(self):
        cmd = super().command()
        cmd[cmd.index("--link-tls") + 1] = "127.0.0.1:%d" % self.fixed_tls_port
        return cmd


class TlsResume(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="mpsync-pki-")
        subprocess.run(["bash", MAKE_CERTS, cls.pki], check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mpsync-resume-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.runs = 0

    def start_server(self, *extra):
        server = FixedTlsPortServer(BUILD, biz=BIZ, tls=self.pki, plain=False,
                                    extra_args=list(extra), tls_port=free_port())
        server.__enter__()
        self.addCleanup(server.__exit__, None, None, None)
        self.server = server
        self.proxy = FaultProxy(server.link_tls_port, record=True).start()
        self.addCleanup(self.proxy.stop)
        return server

    def run_client(self):
        """One start of the app: connect, take one push, stop. The server's handshake messages
        and the client's log."""
        self.runs += 1
        lst = Listener(BUILD, types.SimpleNamespace(link_port=self.proxy.port),
                       os.path.join(self.tmp, "client"), biz=["UCHAT"], instance=INSTANCE,
                       user=USER, device=DEVICE)
        lst.cmd.remove("--plaintext")
        lst.cmd += ["--ca", os.path.join(self.pki, "ca.pem"), "--server-name", "localhost"]
        lst.start()
        try:
            lst.wait_log(r"state CONNECTED$", 10)
            third = "m%d" % self.runs
            status, answer = self.server.push_single(INSTANCE, {
                "bizType": "UCHAT", "linkToken": USER, "thirdMsgId": third, "payload": "p"})
            self.assertEqual((status, answer["msg"]), (200, "SUCCESS"), answer)
            # The last run's push may come again first: stopped right after its callback, the
            # client need not have sent its Ack yet (at-least-once).
            while lst.lines.get(timeout=10)["bId"] != third:
                pass
        finally:
            lst.stop()
        sent = self.proxy.sent(S2C)
        self.assertEqual(len(sent), self.runs)  # one connection per run, none retried
        return handshake_kind(sent[-1]), "\n".join(lst.log)

    def assert_full(self, kind):
        self.assertFalse(kind[1], "resumed (TLS %s)" % kind[0])

    def skip_tls13(self, kind):
        if kind[0] == "1.3":
            self.skipTest("TLS 1.3 (mbedTLS 3.x): its resumption is not done yet")

    def assert_resumed(self, kind):
        self.skip_tls13(kind)
        self.assertTrue(kind[1], "full handshake (TLS %s)" % kind[0])

    def test_resumed_link_does_not_do_a_full_handshake(self):
        self.start_server()
        first, _ = self.run_client()
        self.assert_full(first)
        second, log = self.run_client()
        self.assert_resumed(second)
        self.assertIn("TLS session resumed", log)
        self.assert_resumed(self.run_client()[0])  # the resumed link's session is kept in turn

    def test_expired_ticket_gives_a_full_handshake(self):
        self.start_server("--ticket-lifetime", "1")
        first = self.run_client()[0]
        self.skip_tls13(first)
        self.assert_full(first)
        time.sleep(2.2)
        messages, log = self.run_client()
        self.assert_full(messages)
        self.assertIn("TLS session not resumed: full handshake", log)

    def test_ticket_of_a_replaced_key_gives_a_full_handshake(self):
        server = self.start_server()
        first = self.run_client()[0]
        self.skip_tls13(first)
        self.assert_full(first)
        server.restart()  # new ticket keys; the same address
        messages, log = self.run_client()
        self.assert_full(messages)
        self.assertIn("TLS session not resumed: full handshake", log)
        self.assert_resumed(self.run_client()[0])

    def test_server_without_tickets_always_does_full_handshakes(self):
        self.start_server("--ticket-lifetime", "0")
        self.assert_full(self.run_client()[0])
        self.assert_full(self.run_client()[0])


if __name__ == "__main__":
    BUILD = build_dir_from_env_or_argv()
    unittest.main()
