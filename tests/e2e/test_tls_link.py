# TLS long-link (C15): mpsync-cli against the mock server's TLS listener, good and refused.
# SPDX-License-Identifier: Apache-2.0
"""The PKI of tests/tls/make_certs.sh is made in a temporary directory for this run. The client
talks to the server through the recording fault proxy of tests/faults, so that a refused
connection can be shown to have carried no TLS application data (no Hello of ours) at all; the
server's /admin/status must never see the device online and a push to it must find it offline."""

import os
import re
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
from fault_proxy import C2S, FaultProxy  # noqa: E402
from mpsync_harness import MockServer, build_dir_from_env_or_argv  # noqa: E402

BUILD = None
INSTANCE = "tls_app"
USER = "tls-user"
DEVICE = "tls-test-device-000000000001"
BIZ = [{"bizType": "UCHAT", "scope": "specified", "dimension": "user", "multiDevice": True,
        "persistent": True, "repushMode": "queue"}]
MAKE_CERTS = os.path.join(os.path.dirname(HERE), "tls", "make_certs.sh")
TLS_HANDSHAKE, TLS_APPLICATION_DATA = 22, 23
# Some of the places the client's default trust is looked for (mps_tls_system_ca_* in src/tls/tls.c).
SYSTEM_CA = ("/etc/ssl/cert.pem", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs")


def spki_pin(cert):
    """base64(SHA-256(SubjectPublicKeyInfo DER)) of a certificate, computed by openssl."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         check=True, capture_output=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der,
                            check=True, capture_output=True).stdout
    return subprocess.run(["base64"], input=digest, check=True,
                          capture_output=True).stdout.decode().strip()


def tls_records(data):
    """The content types of the TLS records in a byte stream, in order."""
    types_, i = [], 0
    while i + 5 <= len(data):
        types_.append(data[i])
        i += 5 + int.from_bytes(data[i + 3:i + 5], "big")
    return types_


class TlsLink(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="mpsync-pki-")
        subprocess.run(["bash", MAKE_CERTS, cls.pki], check=True)
        cls.pin = spki_pin(cls.pem("server"))
        cls.other_pin = spki_pin(cls.pem("other_ca"))
        cls.backup_pin = spki_pin(cls.pem("backup"))
        assert len({cls.pin, cls.other_pin, cls.backup_pin}) == 3

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, True)

    @classmethod
    def pem(cls, name):
        return os.path.join(cls.pki, name + ".pem")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mpsync-tls-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def start_server(self, cert="server"):
        """A mock server with a plain and a TLS link listener; the TLS one shows `cert`
        ("backup": the certificate of the key a pinned server rotates to)."""
        key = "backup.key" if cert == "backup" else "server.key"
        server = MockServer(BUILD, biz=BIZ, extra_args=[
            "--link-tls", "127.0.0.1:0", "--cert", self.pem(cert),
            "--key", os.path.join(self.pki, key)])
        server.__enter__()
        self.addCleanup(server.__exit__, None, None, None)
        self.assertIsNotNone(server.link_tls_port, server.ready_fields)
        self.server = server
        return server

    def start_client(self, port, *options, plaintext=False, blackhole=False):
        """mpsync-cli through a recording proxy to `port`; TLS unless plaintext."""
        self.proxy = FaultProxy(port, record=True).start()
        self.addCleanup(self.proxy.stop)
        if blackhole:
            self.proxy.blackhole(sticky=True)
        lst = Listener(BUILD, types.SimpleNamespace(link_port=self.proxy.port),
                       os.path.join(self.tmp, "client"), biz=["UCHAT"], instance=INSTANCE,
                       user=USER, device=DEVICE)
        if not plaintext:
            lst.cmd.remove("--plaintext")
        lst.cmd += list(options)
        lst.start()
        self.addCleanup(lst.stop)
        if os.environ.get("MPSYNC_SHOW_LOG"):
            self.addCleanup(lambda: print("\n".join(lst.log), file=sys.stderr))
        self.lst = lst
        return lst

    def push(self, third, expect):
        status, answer = self.server.push_single(INSTANCE, {
            "bizType": "UCHAT", "linkToken": USER, "thirdMsgId": third, "payload": "p-" + third})
        self.assertEqual((status, answer["msg"]), (200, expect), answer)

    def device_status(self):
        status, body = self.server.request(
            "GET", "/admin/status?instanceId=%s&deviceId=%s" % (INSTANCE, DEVICE))
        self.assertEqual(status, 200, body)
        return body["data"]

    def assert_delivers(self):
        self.lst.wait_connected()
        self.assertTrue(self.device_status()["online"])
        self.push("over-tls", "SUCCESS")
        (got,) = self.lst.take(1)
        self.assertEqual((got["bId"], got["pl"]), ("over-tls", "p-over-tls"))
        # The recorder sees TLS, not our protocol in the clear, and application data in it.
        (sent,) = self.proxy.sent(C2S)
        self.assertEqual(sent[0], TLS_HANDSHAKE)
        self.assertIn(TLS_APPLICATION_DATA, tls_records(sent))
        self.assertNotIn(USER.encode(), sent)

    def assert_refused(self, reason, attempts=2):
        """Every attempt ends in CONNECT_FAILED with `reason`; nothing of ours left the client."""
        failed = self.lst.wait_log(r"state CONNECT_FAILED: ", 10, count=attempts)
        for line in failed:
            self.assertRegex(line, reason)
        self.assertFalse([l for l in self.lst.log if re.search(r"state CONNECTED$", l)],
                         "\n".join(self.lst.log))
        status = self.device_status()
        self.assertEqual((status["online"], status["connections"]), (False, 0), status)
        self.push("never", "NOT_ONLINE")
        self.lst.expect_nothing(0.3)
        sent = self.proxy.sent(C2S)
        self.assertGreaterEqual(len(sent), attempts)
        for stream in sent:
            self.assertTrue(stream, "the client connected and sent nothing at all?")
            self.assertEqual(stream[0], TLS_HANDSHAKE, stream[:16])
            self.assertNotIn(TLS_APPLICATION_DATA, tls_records(stream), "data after a refusal")
            self.assertNotIn(INSTANCE.encode(), stream)

    # -- accepted --
    def test_good_ca_and_server_name_delivers(self):
        server = self.start_server()
        self.start_client(server.link_tls_port, "--ca", self.pem("ca"), "--server-name",
                          "localhost")
        self.assert_delivers()

    def test_matching_pin_delivers(self):
        server = self.start_server()
        self.start_client(server.link_tls_port, "--ca", self.pem("ca"), "--server-name",
                          "localhost", "--pin", self.pin)
        self.assert_delivers()

    def test_backup_pin_delivers_after_key_rotation(self):
        """An app shipped with the current and a backup pin keeps working once the server
        rotates to the backup key (docs/LINK.md, "Rotating a pinned key")."""
        server = self.start_server(cert="backup")
        self.start_client(server.link_tls_port, "--ca", self.pem("ca"), "--server-name",
                          "localhost", "--pin", "%s,%s" % (self.pin, self.backup_pin))
        self.assert_delivers()

    def test_link_recovers_over_tls_after_reset(self):
        server = self.start_server()
        self.start_client(server.link_tls_port, "--ca", self.pem("ca"), "--server-name",
                          "localhost")
        self.assert_delivers()
        self.proxy.reset()
        self.lst.wait_log(r"state CONNECTED$", 10, count=2)
        self.push("after-reset", "SUCCESS")
        self.assertEqual(self.lst.take(1)[0]["bId"], "after-reset")
        self.lst.expect_nothing(0.5)

    def test_handshake_with_a_silent_server_times_out(self):
        # TCP is accepted, the ClientHello is never answered: the TLS handshake must end within
        # the handshake deadline (15 s before any Welcome, as on a plain link) with
        # CONNECT_FAILED and a retry, not leave the client CONNECTING for ever.
        server = self.start_server()
        self.start_client(server.link_tls_port, "--ca", self.pem("ca"), "--server-name",
                          "localhost", blackhole=True)
        t0 = time.monotonic()
        # 8 s of slack: the cross stage runs the client under qemu-user, where start-up and the
        # timer's first tick lag; what matters is that it ends, well before a second deadline.
        self.lst.wait_log(r"state CONNECT_FAILED: ", 15 + 8)
        self.assertLess(time.monotonic() - t0, 15 + 8)

    # -- refused --
    def test_wrong_ca_refused(self):
        server = self.start_server()
        self.start_client(server.link_tls_port, "--ca", self.pem("other_ca"), "--server-name",
                          "localhost")
        self.assert_refused(r"certificate rejected: .*not correctly signed by the trusted CA")

    @unittest.skipUnless(any(map(os.path.exists, SYSTEM_CA)), "no system CA store (ca-certificates)")
    def test_system_ca_store_does_not_trust_a_private_ca(self):
        # The default trust is the system store: the test CA is not in it.
        server = self.start_server()
        self.start_client(server.link_tls_port, "--server-name", "localhost")
        self.assert_refused(r"certificate rejected: .*not correctly signed by the trusted CA")

    def test_wrong_server_name_refused(self):
        server = self.start_server()
        self.start_client(server.link_tls_port, "--ca", self.pem("ca"), "--server-name",
                          "wrong.example.com")
        self.assert_refused(r"certificate rejected: .*(CN|Common Name)")

    def test_certificate_for_another_host_refused(self):
        server = self.start_server(cert="wronghost")
        self.start_client(server.link_tls_port, "--ca", self.pem("ca"), "--server-name",
                          "localhost")
        self.assert_refused(r"certificate rejected: .*(CN|Common Name)")

    def test_expired_certificate_refused(self):
        server = self.start_server(cert="expired")
        self.start_client(server.link_tls_port, "--ca", self.pem("ca"), "--server-name",
                          "localhost")
        self.assert_refused(r"certificate rejected: .*expired")

    def test_rotated_key_without_its_pin_refused(self):
        """The same rotation locks out an app that pinned only the old key."""
        server = self.start_server(cert="backup")
        self.start_client(server.link_tls_port, "--ca", self.pem("ca"), "--server-name",
                          "localhost", "--pin", "%s,%s" % (self.pin, self.other_pin))
        self.assert_refused(r"server public key does not match the pins")

    def test_pin_mismatch_refused(self):
        server = self.start_server()
        self.start_client(server.link_tls_port, "--ca", self.pem("ca"), "--server-name",
                          "localhost", "--pin", self.other_pin)
        self.assert_refused(r"server public key does not match the pin")

    def test_plaintext_server_refused_when_tls_expected(self):
        server = self.start_server()
        self.start_client(server.link_port, "--ca", self.pem("ca"), "--server-name", "localhost")
        # Our ClientHello reads as an oversize frame to the server, whose plain answer is no TLS.
        self.assert_refused(r"TLS handshake|server closed the connection")


if __name__ == "__main__":
    BUILD = build_dir_from_env_or_argv()
    unittest.main()
