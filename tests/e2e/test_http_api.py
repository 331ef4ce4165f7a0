# End-to-end tests of the mock server: HTTP push API codes, admin API, TLS listener, link control.
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of the mock server's HTTP push API (§5.2/§5.3): one test per result code and
limit, the admin API, the TLS listener, and the link-control hooks client tests use. The delivery
rules (S3-S6, S10, retention, epochs) are in test_server_rules.py."""

import base64
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpsync_harness import (STREAM_DEVICE, STREAM_GLOBAL, STREAM_USER, ENV_CLOSE,  # noqa: E402
                            CLOSE_REPLACED, CLOSE_RETRY_LATER, CLOSE_SERVER_SHUTDOWN,
                            CLOSE_HEARTBEAT_TIMEOUT, MockServer, MockServerTest, SharedServerTest,
                            build_dir_from_env_or_argv, make_pki, pb_decode, vm_rss_kb)

BUILD_DIR = None
INSTANCE = "ws_APP1"

BIZ = [
    {"bizType": "UCHAT", "dimension": "user"},
    {"bizType": "DEVCFG", "dimension": "device"},
    {"bizType": "VOLATILE", "dimension": "user", "persistent": False},
    {"bizType": "GLOBAL-SDK-CONFIG", "scope": "global"},
    {"bizType": "PAUSED", "online": False},
    {"bizType": "OTHER-APP", "instanceId": "ws_APP2"},
    {"bizType": "ONE-DEVICE", "dimension": "user", "multiDevice": False},
    {"bizType": "LATEST2", "dimension": "device", "repushMode": "threshold", "threshold": 2},
]


def single(third="t1", **extra):
    body = {"bizType": "UCHAT", "linkToken": "user1", "thirdMsgId": third, "payload": "hello"}
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


class HttpApiTest(SharedServerTest):
    server_biz = BIZ

    def assertCode(self, result, code, success):
        status, body = result
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"success": success, "msg": code})

    def push(self, body, instance=INSTANCE):
        return self.server.push_single(instance, body)

    # -- one test per result code --

    def test_success_when_target_online(self):
        with self.server.link_client(instance=INSTANCE, device="dev-s", user="user-s") as c:
            self.assertCode(self.push(single("s1", linkToken="user-s", payload="李四")),
                            "SUCCESS", True)
            batch = c.recv_batch()
            self.assertEqual((batch["kind"], batch["bizType"], batch["target"]),
                             (STREAM_USER, "UCHAT", "user-s"))
            self.assertEqual(len(batch["oplogs"]), 1)
            self.assertEqual(batch["oplogs"][0]["payload"].decode("utf-8"), "李四")
            self.assertEqual(batch["oplogs"][0]["thirdMsgId"], "s1")

    def test_duplicated_biz_id_keeps_first(self):
        self.assertCode(self.push(single("dup1", linkToken="user-d", payload="first")),
                        "NOT_ONLINE", True)
        self.assertCode(self.push(single("dup1", linkToken="user-d", payload="second")),
                        "DUPLICATED_BIZ_ID", True)
        with self.server.link_client(instance=INSTANCE, device="dev-d", user="user-d") as c:
            batch = c.recv_batch()
            self.assertEqual([o["payload"] for o in batch["oplogs"]], [b"first"])

    def test_not_online(self):
        self.assertCode(self.push(single("no1", linkToken="nobody")), "NOT_ONLINE", True)

    def test_thirdmsgid_is_null(self):
        self.assertCode(self.push(single(third=None)), "THIRDMSGID_IS_NULL", False)
        self.assertCode(self.push(single(third="")), "THIRDMSGID_IS_NULL", False)

    def test_third_msg_id_long(self):
        self.assertCode(self.push(single(third="x" * 101)), "THIRD_MSG_ID_LONG", False)
        self.assertCode(self.push(single(third="x" * 100)), "NOT_ONLINE", True)

    def test_biz_not_online(self):
        self.assertCode(self.push(single(bizType="NO-SUCH-BIZ")), "BIZ_NOT_ONLINE", False)
        self.assertCode(self.push(single(bizType="PAUSED")), "BIZ_NOT_ONLINE", False)
        self.assertCode(self.push(single(bizType="B" * 31)), "BIZ_NOT_ONLINE", False)
        # A config of another instance does not apply here.
        self.assertCode(self.push(single(bizType="OTHER-APP")), "BIZ_NOT_ONLINE", False)
        self.assertCode(self.push(single("oa", bizType="OTHER-APP"), instance="ws_APP2"),
                        "NOT_ONLINE", True)

    def test_args_is_null(self):
        cases = [
            ("no instanceId", None, single()),
            ("no bizType", INSTANCE, single(bizType=None)),
            ("empty bizType", INSTANCE, single(bizType="")),
            ("no linkToken", INSTANCE, single(linkToken=None)),
            ("long linkToken", INSTANCE, single(linkToken="u" * 101)),
            ("no payload", INSTANCE, single(payload=None)),
            ("both payloads", INSTANCE, single(binaryPayload="aGk=")),
            ("bad base64", INSTANCE, single(payload=None, binaryPayload="not base64!")),
            ("bad osType", INSTANCE, single(osType="WINDOWS")),
            ("long osType", INSTANCE, single(osType="ANDROID" * 2)),
            ("bad version", INSTANCE, single(appMinVersion="1.x")),
            ("long version", INSTANCE, single(appMaxVersion="1." * 10 + "1")),
            ("bad validTimeEnd", INSTANCE, single(validTimeEnd="soon")),
            ("fractional validTimeEnd", INSTANCE, single(validTimeEnd=1.5)),
        ]
        for name, instance, body in cases:
            with self.subTest(name):
                self.assertCode(self.server.push_single(instance, body), "ARGS_IS_NULL", False)
        self.assertCode(self.server.push_single("", single()), "ARGS_IS_NULL", False)

    def test_optional_fields_accepted(self):
        ok = single("opt1", osType="android", appMinVersion="0.0.0.0",
                    appMaxVersion="100.100.100.100", validTimeEnd=str(int(time.time() * 1000)))
        self.assertCode(self.push(ok), "NOT_ONLINE", True)
        self.assertCode(self.push(single("opt2", validTimeEnd=int(time.time() * 1000))),
                        "NOT_ONLINE", True)

    def test_not_support_global(self):
        self.assertCode(self.push(single(bizType="GLOBAL-SDK-CONFIG")), "NOT_SUPPORT_GLOBAL", False)
        self.assertCode(self.server.push_global(INSTANCE, single(linkToken=None)),
                        "NOT_SUPPORT_GLOBAL", False)

    def test_payload_long_counts_code_points(self):
        self.assertCode(self.push(single("cp1", payload="中" * 4096)), "NOT_ONLINE", True)
        self.assertCode(self.push(single("cp2", payload="中" * 4097)), "PAYLOAD_LONG", False)
        self.assertCode(self.push(single("cp3", payload="a" * 4097)), "PAYLOAD_LONG", False)
        self.assertCode(self.push(single("cp4", payload=None, binaryPayload="QUFB" * 1025)),
                        "PAYLOAD_LONG", False)
        self.assertCode(self.push(single("cp5", payload=None, binaryPayload="QUFB" * 1024)),
                        "NOT_ONLINE", True)

    # -- strict input (issue 13 items 3-5): client mistakes get client-error codes --

    def assertRefused(self, body, instance=INSTANCE, code="ARGS_IS_NULL"):
        """The push is refused with a client-error code, and stores nothing."""
        self.assertCode(self.push(body, instance=instance), code, False)

    def test_item3_nul_in_strings_refused(self):
        # Cut at the NUL, both would be "order-N": B would answer DUPLICATED and lose its data.
        self.assertRefused(single("order-N\u0000A"))
        self.assertRefused(single("order-N\u0000B"))
        self.assertRefused(single("nul-lt", linkToken="nvictim\u0000attacker"))
        self.assertRefused(single("nul-pl", payload="line1\u0000line2"))
        self.assertRefused(single("nul-key", **{"osType\u0000x": "IOS"}))
        self.assertRefused(b'{"bizType":"UCHAT","linkToken":"u","thirdMsgId":"raw\x00",'
                           b'"payload":"p"}')
        # Instance "de" exists (the biz file's entries apply to every instance).
        self.assertCode(self.push(single("nul-q"), instance="de"), "NOT_ONLINE", True)
        self.assertRefused(single("nul-q2"), instance="de%00mo")
        # Nothing of the refused pushes was stored under the shortened id.
        self.assertCode(self.push(single("order-N")), "NOT_ONLINE", True)
        self.assertCode(self.push(single("nul-q2"), instance="de"), "NOT_ONLINE", True)

    def test_item4_invalid_utf8_payload_refused(self):
        head = b'{"bizType":"UCHAT","linkToken":"u8","thirdMsgId":"%s","payload":"'
        self.assertRefused(head % b"bad1" + b"ok\xff" + b'"}')
        self.assertRefused(head % b"bad2" + b"\xed\xa0\x80" + b'"}')  # a surrogate in UTF-8
        self.assertRefused(head % b"bad3" + b"\xc0\xaf" + b'"}')      # an overlong '/'
        # 60 001 bytes that count as 0 characters when only lead bytes are counted.
        self.assertRefused(head % b"bad4" + b"\x80" * 60001 + b'"}')
        self.assertRefused(b'{"bizType":"UCHAT","linkToken":"u\xe4","thirdMsgId":"bad5",'
                           b'"payload":"p"}')
        # Valid UTF-8, 4-byte characters included, still passes; nothing refused was stored.
        self.assertCode(self.push(single("bad1", linkToken="u8", payload="\U0001F600")),
                        "NOT_ONLINE", True)

    def test_item5_malformed_bodies_are_client_errors(self):
        ok = '{"bizType":"UCHAT","linkToken":"u5","thirdMsgId":"%s","payload":"p"}'
        cases = [
            ("empty", b""),
            ("whitespace", b"  \r\n"),
            ("not JSON", b"not json"),
            ("array", b"[1,2]"),
            ("string", b'"text"'),
            ("deeply nested", (ok % "m-deep")[:-1].encode() + b',"x":' + b'{"a":' * 100 +
             b"1" + b"}" * 101),
            ("lone high surrogate", (ok % "m-sur1").replace('"p"', '"a\\ud800b"').encode()),
            ("lone low surrogate", (ok % "m-sur2").replace('"p"', '"\\udc00"').encode()),
            ("trailing garbage", (ok % "m-trail").encode() + b" x"),
            ("two objects", (ok % "m-two").encode() + b"{}"),
            ("duplicate key", (ok % "m-dup")[:-1].encode() + b',"payload":"q"}'),
            ("duplicate key by escape", (ok % "m-dup2")[:-1].encode() + b',"p\\u0061yload":"q"}'),
            ("duplicate nested key", (ok % "m-dup3")[:-1].encode() + b',"x":{"a":1,"a":2}}'),
            ("raw control character", (ok % "m-ctl").replace('"p"', '"a\tb"').encode()),
            ("bad escape", (ok % "m-esc").replace('"p"', '"\\x41"').encode()),
            ("truncated", (ok % "m-cut").encode()[:-5]),
        ]
        for name, body in cases:
            with self.subTest(name):
                self.assertRefused(body)
        # A valid surrogate pair is a 4-byte character and fine; none of the above was stored.
        pair = (ok % "m-sur1").replace('"p"', '"\\ud83d\\ude00"').encode()
        self.assertCode(self.push(pair), "NOT_ONLINE", True)
        self.assertCode(self.push(single("m-dup", linkToken="u5")), "NOT_ONLINE", True)

    def test_item5_bounded_numbers_and_ranges(self):
        cases = [
            ("validTimeEnd 1e23", single("n1", validTimeEnd=10 ** 23)),
            ("validTimeEnd 1e23 as text", single("n2", validTimeEnd=str(10 ** 23))),
            ("validTimeEnd -5", single("n3", validTimeEnd=-5)),
            ("validTimeEnd -5 as text", single("n4", validTimeEnd="-5")),
            ("validTimeEnd past year 9999", single("n5", validTimeEnd=253402300800000)),
            ("binaryPayload =", single("n6", payload=None, binaryPayload="=")),
            ("binaryPayload ==", single("n7", payload=None, binaryPayload="==")),
            ("appMin 9 > appMax 1", single("n8", appMinVersion="9", appMaxVersion="1")),
            ("appMin 1.10 > appMax 1.9", single("n9", appMinVersion="1.10", appMaxVersion="1.9")),
        ]
        for name, body in cases:
            with self.subTest(name):
                self.assertRefused(body)
        for third, extra in (("k1", {"validTimeEnd": 253402300799999}),
                             ("k2", {"validTimeEnd": 0}),
                             ("k3", {"appMinVersion": "1.9", "appMaxVersion": "1.10"}),
                             ("k4", {"appMinVersion": "2", "appMaxVersion": "2.0"}),
                             ("k5", {"payload": None, "binaryPayload": "AA=="})):
            with self.subTest(third):
                self.assertCode(self.push(single(third, **extra)), "NOT_ONLINE", True)

    def test_item5_admin_json_and_query_strict(self):
        base = {"bizType": "ADMIN-STRICT", "dimension": "user"}
        for name, body in (
                ("NUL in bizType", json.dumps(dict(base, bizType="ADMIN\u0000X"))),
                ("duplicate key", json.dumps(base)[:-1] + ', "dimension": "device"}'),
                ("trailing bytes", json.dumps(base) + "]"),
                ("invalid UTF-8", json.dumps(base).encode()[:-1] + b',"description":"\xff"}'),
                ("array", "[]")):
            with self.subTest(name):
                status, answer = self.server.request("POST", "/admin/biz", body)
                self.assertEqual(status, 400, answer)
                self.assertFalse(answer["success"])
        status, answer = self.server.request("GET", "/admin/biz/UCHAT?instanceId=ws%00x")
        self.assertEqual((status, answer["msg"]), (400, "BAD_QUERY"))
        status, answer = self.server.request("GET", "/admin/biz/UCHAT?instanceId=%ff")
        self.assertEqual((status, answer["msg"]), (400, "BAD_QUERY"))
        status, answer = self.server.request("GET", "/admin/biz/ADMIN-STRICT")
        self.assertEqual(status, 404, "nothing refused was created: %r" % (answer,))

    # -- global --

    def test_global_stored_and_pulled_not_pushed_live(self):
        with self.server.link_client(instance=INSTANCE, device="dev-g") as c:
            raw = base64.b64encode(b"\x00\x01binary").decode()
            self.assertCode(self.server.push_global(INSTANCE, {
                "bizType": "GLOBAL-SDK-CONFIG", "thirdMsgId": "g1", "binaryPayload": raw}),
                "SUCCESS", True)
            self.assertCode(self.server.push_global(INSTANCE, {
                "bizType": "GLOBAL-SDK-CONFIG", "thirdMsgId": "g1", "payload": "again"}),
                "DUPLICATED_BIZ_ID", True)
            self.assertTrue(c.expect_silence(0.3), "global data must not be pushed live")
            c.pull_global()
            batch = c.recv_batch()
            self.assertEqual((batch["kind"], batch["target"]), (STREAM_GLOBAL, ""))
            first = batch["oplogs"][0]
            self.assertTrue(first["binary"])
            self.assertEqual(first["payload"], b"\x00\x01binary")
            c.ack((STREAM_GLOBAL, "GLOBAL-SDK-CONFIG", "", batch["oplogs"][-1]["id"]))
            time.sleep(0.2)
            c.pull_global()
            self.assertTrue(c.expect_silence(0.3), "acked global data must not come again")

    # -- delivery semantics behind the codes --

    def test_backlog_ack_and_device_dimension(self):
        for i in range(3):
            self.assertCode(self.push(single("dv%d" % i, bizType="DEVCFG", linkToken="dev-b")),
                            "NOT_ONLINE", True)
        with self.server.link_client(instance=INSTANCE, device="dev-b") as c:
            batch = c.recv_batch()
            self.assertEqual((batch["kind"], batch["target"]), (STREAM_DEVICE, "dev-b"))
            self.assertEqual([o["id"] for o in batch["oplogs"]], [1, 2, 3])
            c.ack((STREAM_DEVICE, "DEVCFG", "dev-b", 2))
            time.sleep(0.2)
        with self.server.link_client(instance=INSTANCE, device="dev-b") as c:
            self.assertEqual([o["id"] for o in c.recv_batch()["oplogs"]], [3])
        # A fresh device of the same id with a sync point of its own: only what follows it.
        with self.server.link_client(instance=INSTANCE, device="dev-b",
                                     streams=[(STREAM_DEVICE, "DEVCFG", "dev-b", 3)]) as c:
            self.assertTrue(c.expect_silence(0.3))

    # -- bulk push (admin, for tests and the benchmark) --

    def bulk(self, count, third="bk", instance=INSTANCE, **extra):
        body = single(third, bizType="DEVCFG", linkToken="dev-bulk", payload="p", count=count)
        body.update(extra)
        path = "/admin/push/bulk" + ("?instanceId=" + instance if instance else "")
        return self.server.request("POST", path, {k: v for k, v in body.items() if v is not None})

    def receive_all(self, client, n):
        oplogs = []
        while len(oplogs) < n:
            oplogs += client.recv_batch()["oplogs"]
        return oplogs

    def test_bulk_push_stores_with_the_single_push_checks(self):
        # Across a chunk boundary (10 000 per transaction): ids and third ids run on unbroken.
        status, body = self.bulk(10001)
        self.assertEqual((status, body), (200, {"success": True, "msg": "SUCCESS",
                                                "data": {"stored": 10001, "duplicated": 0}}))
        with self.server.link_client(instance=INSTANCE, device="dev-bulk") as c:
            oplogs = self.receive_all(c, 10001)
        self.assertEqual([o["id"] for o in oplogs], list(range(1, 10002)))
        self.assertEqual([o["thirdMsgId"] for o in oplogs],
                         ["bk-%d" % i for i in range(1, 10002)])
        self.assertEqual({o["payload"] for o in oplogs}, {b"p"})
        # Idempotent like a single push, and sharing its ids.
        self.assertEqual(self.bulk(3)[1]["data"], {"stored": 0, "duplicated": 3})
        self.assertCode(self.push(single("bk-7", bizType="DEVCFG", linkToken="dev-bulk")),
                        "DUPLICATED_BIZ_ID", True)

    def test_bulk_push_refuses_what_a_single_push_refuses(self):
        for count in (0, -1, 1.5, "3", None, 10000001):
            self.assertCode(self.bulk(count, third="bad"), "ARGS_IS_NULL", False)
        self.assertCode(self.bulk(2, instance=None), "ARGS_IS_NULL", False)
        self.assertCode(self.bulk(2, bizType="GLOBAL-SDK-CONFIG"), "NOT_SUPPORT_GLOBAL", False)
        self.assertCode(self.bulk(2, bizType="PAUSED"), "BIZ_NOT_ONLINE", False)
        self.assertCode(self.bulk(2, payload="x" * 4097), "PAYLOAD_LONG", False)
        # The generated ids must fit too: 94 + "-" + 6 digits > 100.
        self.assertCode(self.bulk(100000, third="b" * 94), "THIRD_MSG_ID_LONG", False)
        # (to a device of its own: the bulk test above counts every oplog of dev-bulk)
        self.assertEqual(self.bulk(2, third="b" * 97, linkToken="dev-bulk-long-id")[1]["data"]
                         ["stored"], 2)

    def test_bulk_push_goes_live_to_an_online_device(self):
        with self.server.link_client(instance=INSTANCE, device="dev-bulk-live") as c:
            time.sleep(0.2)
            status, body = self.bulk(3, third="bl", linkToken="dev-bulk-live")
            self.assertEqual(body["data"], {"stored": 3, "duplicated": 0})
            oplogs = self.receive_all(c, 3)
        self.assertEqual([(o["id"], o["thirdMsgId"]) for o in oplogs],
                         [(1, "bl-1"), (2, "bl-2"), (3, "bl-3")])

    def test_long_instance_id_refused(self):
        self.assertCode(self.push(single(), instance="i" * 129), "ARGS_IS_NULL", False)

    def test_second_connection_replaces_first(self):
        first = self.server.link_client(instance=INSTANCE, device="dev-r", user="user-r")
        with first, self.server.link_client(instance=INSTANCE, device="dev-r", user="user-r"):
            kind, body = first.recv()
            self.assertEqual(kind, ENV_CLOSE)
            self.assertEqual(pb_decode(body)[1][0], CLOSE_REPLACED)

    # -- admin API --

    def test_admin_biz_lifecycle(self):
        req = self.server.request
        status, body = req("POST", "/admin/biz?instanceId=" + INSTANCE,
                           {"bizType": "ADMIN-MADE", "dimension": "device"})
        self.assertEqual((status, body["success"]), (200, True), body)
        self.assertEqual(req("POST", "/admin/biz?instanceId=" + INSTANCE,
                             {"bizType": "ADMIN-MADE"})[0], 409)
        self.assertEqual(req("POST", "/admin/biz", {"bizType": "BAD", "scope": "x"})[0], 400)
        push = single("am1", bizType="ADMIN-MADE", linkToken="dev-am")
        self.assertCode(self.push(push), "NOT_ONLINE", True)
        path = "/admin/biz/ADMIN-MADE?instanceId=" + INSTANCE
        self.assertEqual(req("POST", "/admin/biz/ADMIN-MADE/offline?instanceId=" + INSTANCE)[0],
                         200)
        self.assertCode(self.push(single("am2", bizType="ADMIN-MADE", linkToken="dev-am")),
                        "BIZ_NOT_ONLINE", False)
        self.assertEqual(req("PUT", path, {"online": True, "persistent": False})[0], 200)
        status, body = req("GET", path)
        self.assertEqual((body["data"]["online"], body["data"]["persistent"]), (True, False))
        status, body = req("GET", "/admin/status?instanceId=%s&deviceId=dev-am" % INSTANCE)
        self.assertEqual((body["data"]["online"], body["data"]["pushes"]), (False, 1))
        self.assertEqual(req("DELETE", path)[0], 200)
        self.assertEqual(req("GET", path)[0], 404)
        self.assertCode(self.push(single("am3", bizType="ADMIN-MADE", linkToken="dev-am")),
                        "BIZ_NOT_ONLINE", False)
        status, body = req("GET", "/admin/records?instanceId=%s&operator=admin" % INSTANCE)
        self.assertEqual([r["action"] for r in body["data"]],
                         ["delete config", "modify config", "offline", "create config"])

    # -- HTTP level --

    def test_unknown_path_404(self):
        status, _ = self.server.request("POST", "/webapi/sync/nothing?instanceId=x", {})
        self.assertEqual(status, 404)

    def test_wrong_method_405(self):
        status, _ = self.server.request("GET", "/webapi/sync/single?instanceId=x")
        self.assertEqual(status, 405)

    def test_too_big_body_413(self):
        status, _ = self.server.request("POST", "/webapi/sync/single?instanceId=x",
                                        b"{" + b" " * (64 * 1024) + b"}")
        self.assertEqual(status, 413)


class LifecycleTest(unittest.TestCase):
    def test_idle_link_closed_after_heartbeat(self):
        with MockServer(BUILD_DIR, biz=BIZ,
                        extra_args=["--heartbeat", "1", "--heartbeat-timeout", "1"]) as server:
            with server.link_client(instance=INSTANCE, device="dev-idle") as c:
                started = time.monotonic()
                kind, _ = c.recv(timeout=6)
                self.assertEqual(kind, ENV_CLOSE)
                self.assertGreaterEqual(time.monotonic() - started, 2.5)

    def run_server(self, *args):
        binary = os.path.join(BUILD_DIR, "bin", "mpsync-mock-server")
        with tempfile.TemporaryDirectory() as d:
            args = [a.replace("$DIR", d) for a in args]
            return subprocess.run([binary] + args, capture_output=True, text=True, timeout=10)

    def test_bad_biz_file_exits_2(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write('[{"bizType": "X", "scope": "everyone"}]')
        try:
            r = self.run_server("--http", "127.0.0.1:0", "--link", "127.0.0.1:0",
                                "--data", "$DIR", "--biz-file", f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(r.returncode, 2)
        self.assertIn("scope", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_bad_arguments_exit_2(self):
        self.assertEqual(self.run_server("--http", "nonsense", "--link", "127.0.0.1:0",
                                         "--data", "$DIR").returncode, 2)
        self.assertEqual(self.run_server("--link", "127.0.0.1:0").returncode, 2)


class TlsListenerTest(MockServerTest):
    @classmethod
    def setUpClass(cls):
        cls.pki = make_pki()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def server(self, **kw):
        return self.start_server(biz=BIZ, tls=self.pki, **kw)

    def test_tls_link_verified_and_speaks_protocol(self):
        server = self.server(plain=False)
        self.assertEqual(list(server.ready_fields), ["http", "link_tls"])
        ca = os.path.join(self.pki, "ca.pem")
        with server.tls_link_client(ca, instance=INSTANCE, device="dev-tls", user="user-tls") as c:
            self.assertEqual(c.sock.version() in ("TLSv1.2", "TLSv1.3"), True)
            self.assertEqual(server.push_single(INSTANCE, single("tls1", linkToken="user-tls"))[1],
                             {"success": True, "msg": "SUCCESS"})
            batch = c.recv_batch()
            self.assertEqual([o["thirdMsgId"] for o in batch["oplogs"]], ["tls1"])
            c.ack((STREAM_USER, "UCHAT", "user-tls", 1, batch["epoch"]))
            time.sleep(0.2)
        with server.tls_link_client(ca, instance=INSTANCE, device="dev-tls", user="user-tls") as c:
            self.assertTrue(c.expect_silence(0.3), "the ack over TLS was recorded")

    def test_tls_and_plain_side_by_side(self):
        server = self.server()
        self.assertEqual(list(server.ready_fields), ["http", "link", "link_tls"])
        self.assertNotEqual(server.link_port, server.link_tls_port)
        with server.link_client(instance=INSTANCE, device="dev-plain"):
            pass
        with server.tls_link_client(os.path.join(self.pki, "ca.pem"), instance=INSTANCE,
                                    device="dev-tls2"):
            pass

    def test_tls_wrong_ca_refused_by_client(self):
        server = self.server(plain=False)
        with self.assertRaises(ssl.SSLCertVerificationError):
            server.tls_link_client(os.path.join(self.pki, "other_ca.pem"))

    def test_tls_handshake_failure_logged_and_closed(self):
        server = self.server(plain=False)
        with socket.create_connection(("127.0.0.1", server.link_tls_port), timeout=5) as s:
            s.sendall(b"\x00\x00\x00\x05hello, this is not TLS at all" * 4)
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass  # an alert, then EOF
            except ConnectionResetError:
                pass
        time.sleep(0.2)
        self.assertIn("TLS handshake failed", server.stderr_text)
        # The listener keeps serving.
        with server.tls_link_client(os.path.join(self.pki, "ca.pem"), instance=INSTANCE,
                                    device="dev-after"):
            pass

    def test_tls_silent_peer_closed_after_timeout(self):
        server = self.server(plain=False, extra_args=["--heartbeat-timeout", "1"])
        with socket.create_connection(("127.0.0.1", server.link_tls_port), timeout=5) as s:
            started = time.monotonic()
            self.assertEqual(s.recv(4096), b"")
            self.assertGreaterEqual(time.monotonic() - started, 0.8)

    def run_server(self, *args):
        binary = os.path.join(BUILD_DIR, "bin", "mpsync-mock-server")
        with tempfile.TemporaryDirectory() as d:
            return subprocess.run([binary, "--http", "127.0.0.1:0", "--data", d] + list(args),
                                  capture_output=True, text=True, timeout=10)

    def test_tls_bad_cert_or_key_exits_2(self):
        pem = lambda name: os.path.join(self.pki, name)
        for cert, key in ((pem("missing.pem"), pem("server.key")),
                          (pem("server.pem"), pem("missing.key")),
                          (pem("server.pem"), pem("ca.key"))):  # a key that is not the cert's
            with self.subTest(cert=cert, key=key):
                r = self.run_server("--link-tls", "127.0.0.1:0", "--cert", cert, "--key", key)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("TLS", r.stderr)
                self.assertEqual(r.stdout, "")
        r = self.run_server("--link-tls", "127.0.0.1:0")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--cert", r.stderr)


class LinkControlTest(unittest.TestCase):
    def test_admin_links_close_with_code_and_retry(self):
        with MockServer(BUILD_DIR, biz=BIZ) as server:
            a1 = server.link_client(instance=INSTANCE, device="dev-c1")
            a2 = server.link_client(instance=INSTANCE, device="dev-c2")
            b = server.link_client(instance="ws_APP2", device="dev-c3")
            with a1, a2, b:
                self.assertEqual(server.admin("links/close", instanceId=INSTANCE,
                                              code="RETRY_LATER", retryAfter=30), {"closed": 2})
                for c in (a1, a2):
                    close = c.recv_close()
                    self.assertEqual((close["code"], close["retryAfter"]),
                                     (CLOSE_RETRY_LATER, 30))
                    self.assertEqual(c.recv(), (None, None))
                self.assertTrue(b.expect_silence(0.3))
                self.assertEqual(server.admin("links/close", code="SERVER_SHUTDOWN"),
                                 {"closed": 1})
                self.assertEqual(b.recv_close()["code"], CLOSE_SERVER_SHUTDOWN)
            status, _ = server.request("POST", "/admin/links/close?code=BOGUS")
            self.assertEqual(status, 400)
            self.assertEqual(server.request("GET", "/admin/links/close")[0], 405)

    def test_welcome_heartbeat_max(self):
        with MockServer(BUILD_DIR, biz=BIZ, extra_args=["--heartbeat-max", "120"]) as server:
            with server.link_client() as c:
                welcome = c.hello(instance=INSTANCE, device="dev-hb")
                self.assertEqual((welcome[2][0], welcome[6][0]), (30, 120))
        with MockServer(BUILD_DIR, biz=BIZ) as server:
            with server.link_client() as c:
                self.assertNotIn(6, c.hello(instance=INSTANCE, device="dev-hb"))  # 0 = fixed
        binary = os.path.join(BUILD_DIR, "bin", "mpsync-mock-server")
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run([binary, "--http", "127.0.0.1:0", "--link", "127.0.0.1:0",
                                "--data", d, "--heartbeat", "30", "--heartbeat-max", "10"],
                               capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)

    def test_stretched_heartbeat_tolerated_up_to_max(self):
        # Interval 1 s, max 2 s: silence of 3 s would end a fixed-interval link (2 x 1 + 1), but
        # a client may stretch to 2 s, so it is closed only after 2 x 2 + 1 = 5 s.
        with MockServer(BUILD_DIR, biz=BIZ, extra_args=[
                "--heartbeat", "1", "--heartbeat-timeout", "1", "--heartbeat-max", "2"]) as server:
            with server.link_client(instance=INSTANCE, device="dev-stretch") as c:
                started = time.monotonic()
                close = c.recv_close(timeout=8)
                self.assertEqual(close["code"], CLOSE_HEARTBEAT_TIMEOUT)
                self.assertGreaterEqual(time.monotonic() - started, 4.5)


class LimitedServer(MockServer):
    """The mock server under a low descriptor limit (prlimit), so that a flood of connections
    would exhaust it without the connection cap."""

    def __init__(self, *args, nofile, **kw):
        super().__init__(*args, **kw)
        self.nofile = nofile

    def command(self):
        return ["prlimit", "--nofile=%d:%d" % (self.nofile, self.nofile), "--"] + super().command()


def closed_by_peer(sock, timeout):
    """True when the server closed sock within timeout (EOF or reset, after what it queued)."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(1 << 20):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class HttpLimits(MockServerTest):
    """Issue 13 items 1 and 2 (HTTP side), SPEC S11: bounded output per connection, timeouts and a
    connection cap. The timeout is 2 s here (--http-timeout) so that the tests are quick."""

    TIMEOUT_S = 2

    def start(self, *extra, nofile=None):
        args = ["--http-timeout", str(self.TIMEOUT_S)] + list(extra)
        if nofile:
            return self.start_server(biz=BIZ, extra_args=args, server_class=LimitedServer,
                                     nofile=nofile)
        return self.start_server(biz=BIZ, extra_args=args)

    def assertPushServed(self, server, third):
        status, body = server.push_single(INSTANCE, single(third, linkToken="limits"))
        self.assertEqual((status, body), (200, {"success": True, "msg": "NOT_ONLINE"}))

    def test_item1_pipelining_peer_that_never_reads_keeps_rss_bounded(self):
        server = self.start()
        before = vm_rss_kb(server.proc.pid)
        peer = socket.create_connection(("127.0.0.1", server.http_port))
        self.addCleanup(peer.close)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        chunk = b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n" * 2000  # 2 000 answers of 404
        peer.setblocking(False)
        sent, stalled_since = 0, None
        give_up = time.monotonic() + 20
        # 12 MB of requests: ~350 000 answers, over 100 MB if the server queued them all.
        while sent < 12_000_000 and time.monotonic() < give_up:
            try:
                sent += peer.send(chunk)
                stalled_since = None
            except BlockingIOError:
                now = time.monotonic()
                stalled_since = stalled_since or now
                if now - stalled_since > 1.0:
                    break  # the server stopped reading: back-pressure reached the peer
                time.sleep(0.01)
        rss = vm_rss_kb(server.proc.pid)
        # In the normal build only: under ASan (ASAN_OPTIONS set by scripts/sanitize.sh) the
        # quarantine keeps freed memory resident, which says nothing about queues.
        if not os.environ.get("ASAN_OPTIONS"):
            self.assertLess(rss, 64 * 1024, "RSS %d kB (was %d kB) after %d bytes of requests"
                            % (rss, before, sent))
        # The server is not stuck behind the peer: another client is served at once.
        self.assertPushServed(server, "rss-1")
        # The stalled connection is closed after the timeout, freeing what it holds.
        self.assertTrue(closed_by_peer(peer, self.TIMEOUT_S + 5), "stalled peer never closed")
        self.assertPushServed(server, "rss-2")

    def test_item2_half_open_requests_closed_and_pushes_still_served(self):
        # 128 descriptors: without a cap, 200 half-open requests leave none for a push.
        server = self.start(nofile=128)
        half_open = []
        self.addCleanup(lambda: [s.close() for s in half_open])
        partial = (b"POST /webapi/sync/single?instanceId=" + INSTANCE.encode() +
                   b" HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{\"bizType\"")
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", server.http_port), timeout=5)
            s.sendall(partial)
            half_open.append(s)
        time.sleep(0.2)
        started = time.monotonic()
        self.assertPushServed(server, "half-1")
        self.assertLess(time.monotonic() - started, self.TIMEOUT_S, "push waited for the flood")
        # Every half-open request is closed: dropped for room, or at its deadline.
        deadline = time.monotonic() + self.TIMEOUT_S + 5
        for s in half_open:
            self.assertTrue(closed_by_peer(s, max(0.1, deadline - time.monotonic())),
                            "a half-open request was still open after the timeout")
        # An idle keep-alive connection is closed after the timeout too.
        idle = socket.create_connection(("127.0.0.1", server.http_port), timeout=5)
        self.addCleanup(idle.close)
        t0 = time.monotonic()
        self.assertTrue(closed_by_peer(idle, self.TIMEOUT_S + 5))
        self.assertGreaterEqual(time.monotonic() - t0, self.TIMEOUT_S - 0.5)
        self.assertPushServed(server, "half-2")


if __name__ == "__main__":
    BUILD_DIR = build_dir_from_env_or_argv()
    unittest.main(verbosity=2)
