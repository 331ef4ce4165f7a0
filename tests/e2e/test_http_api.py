# End-to-end tests of the mock server HTTP push API (result codes, limits, restart, delivery).
"""End-to-end tests of the mock server's HTTP push API (§5.2/§5.3): one test per result code,
limits, persistence across restart, and the long-link delivery the codes promise."""

import base64
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpsync_harness import (STREAM_DEVICE, STREAM_GLOBAL, STREAM_USER, ENV_CLOSE,  # noqa: E402
                            CLOSE_REPLACED, MockServer, build_dir_from_env_or_argv, pb_decode)

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


class HttpApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = MockServer(BUILD_DIR, biz=BIZ)
        cls.server.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

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

    def test_system_error_on_non_object_body(self):
        self.assertCode(self.push(b"not json"), "SYSTEM_ERROR", False)
        self.assertCode(self.push(b"[1,2]"), "SYSTEM_ERROR", False)
        self.assertCode(self.push(b""), "SYSTEM_ERROR", False)

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

    def test_non_persistent_dropped_when_offline(self):
        self.assertCode(self.push(single("v1", bizType="VOLATILE", linkToken="user-v")),
                        "NOT_ONLINE", True)
        with self.server.link_client(instance=INSTANCE, device="dev-v", user="user-v") as c:
            self.assertTrue(c.expect_silence(0.3))
            self.assertCode(self.push(single("v2", bizType="VOLATILE", linkToken="user-v")),
                            "SUCCESS", True)
            self.assertEqual([o["thirdMsgId"] for o in c.recv_batch()["oplogs"]], ["v2"])

    def test_os_filter_applies_per_connection(self):
        with self.server.link_client(instance=INSTANCE, device="dev-os", user="user-os",
                                     os_type="ios") as c:
            self.assertCode(self.push(single("os1", linkToken="user-os", osType="ANDROID")),
                            "SUCCESS", True)
            self.assertCode(self.push(single("os2", linkToken="user-os", osType="IOS")),
                            "SUCCESS", True)
            self.assertEqual([o["thirdMsgId"] for o in c.recv_batch()["oplogs"]], ["os2"])

    def test_single_device_biz_goes_to_one_device_only(self):
        self.assertCode(self.push(single("one1", bizType="ONE-DEVICE", linkToken="user-1d")),
                        "NOT_ONLINE", True)
        with self.server.link_client(instance=INSTANCE, device="dev-1a", user="user-1d") as a:
            self.assertEqual([o["thirdMsgId"] for o in a.recv_batch()["oplogs"]], ["one1"])
        with self.server.link_client(instance=INSTANCE, device="dev-1b", user="user-1d") as b:
            self.assertTrue(b.expect_silence(0.3), "another device must never get it")
            with self.server.link_client(instance=INSTANCE, device="dev-1c",
                                         user="user-1d") as c:
                self.assertCode(self.push(single("one2", bizType="ONE-DEVICE",
                                                 linkToken="user-1d")), "SUCCESS", True)
                self.assertEqual([o["thirdMsgId"] for o in c.recv_batch()["oplogs"]], ["one2"])
                self.assertTrue(b.expect_silence(0.3), "only the latest device gets it")

    def test_threshold_mode_sends_newest_backlog(self):
        for i in range(5):
            self.assertCode(self.push(single("th%d" % i, bizType="LATEST2", linkToken="dev-th")),
                            "NOT_ONLINE", True)
        with self.server.link_client(instance=INSTANCE, device="dev-th") as c:
            self.assertEqual([o["id"] for o in c.recv_batch()["oplogs"]], [4, 5])

    def test_expired_oplog_not_delivered(self):
        past = int(time.time() * 1000) - 1000
        self.assertCode(self.push(single("ex1", linkToken="user-ex", validTimeEnd=past)),
                        "NOT_ONLINE", True)
        self.assertCode(self.push(single("ex2", linkToken="user-ex")), "NOT_ONLINE", True)
        with self.server.link_client(instance=INSTANCE, device="dev-ex", user="user-ex") as c:
            self.assertEqual([o["thirdMsgId"] for o in c.recv_batch()["oplogs"]], ["ex2"])

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
    def test_persistence_across_restart(self):
        with MockServer(BUILD_DIR, biz=BIZ) as server:
            for third in ("p1", "p2"):
                self.assertEqual(server.push_single(INSTANCE, single(third, linkToken="user-p"))[1],
                                 {"success": True, "msg": "NOT_ONLINE"})
            server.restart()
            self.assertEqual(server.push_single(INSTANCE, single("p1", linkToken="user-p"))[1],
                             {"success": True, "msg": "DUPLICATED_BIZ_ID"})
            self.assertEqual(server.push_single(INSTANCE, single("p3", linkToken="user-p"))[1],
                             {"success": True, "msg": "NOT_ONLINE"})
            with server.link_client(instance=INSTANCE, device="dev-p", user="user-p") as c:
                batch = c.recv_batch()
                self.assertEqual([(o["id"], o["thirdMsgId"]) for o in batch["oplogs"]],
                                 [(1, "p1"), (2, "p2"), (3, "p3")])

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


if __name__ == "__main__":
    BUILD_DIR = build_dir_from_env_or_argv()
    unittest.main(verbosity=2)
