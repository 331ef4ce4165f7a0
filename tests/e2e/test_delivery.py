"""End-to-end delivery through the mock server and mpsync-cli: order, caching, restart, offline."""
# SPDX-License-Identifier: Apache-2.0

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import Listener  # noqa: E402
from mpsync_harness import MockServer, build_dir_from_env_or_argv  # noqa: E402

BUILD = None
INSTANCE = "test_app"


def biz(name, **kw):
    b = {"bizType": name, "scope": "specified", "dimension": "user", "multiDevice": True,
         "persistent": True, "repushMode": "queue"}
    b.update(kw)
    return b


BIZ = [biz("UCHAT"), biz("UNREG"), biz("DEVLOCK", dimension="device"),
       biz("LIVEONLY", persistent=False)]


class Delivery(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mpsync-e2e-")
        self.server = MockServer(BUILD, biz=BIZ).__enter__()
        self.addCleanup(self.server.__exit__, None, None, None)
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def listener(self, data="client", **kw):
        kw.setdefault("user", "u1")
        kw.setdefault("biz", ["UCHAT"])
        lst = Listener(BUILD, self.server, os.path.join(self.tmp, data), **kw)
        lst.start()
        self.addCleanup(lst.stop)
        return lst

    def push(self, bizname, token, third, payload=None, binary=None, expect=None):
        body = {"bizType": bizname, "linkToken": token, "thirdMsgId": third}
        if binary is not None:
            body["binaryPayload"] = binary
        else:
            body["payload"] = payload if payload is not None else "p-" + third
        status, answer = self.server.push_single(INSTANCE, body)
        self.assertEqual(status, 200)
        if expect:
            self.assertEqual(answer["msg"], expect, answer)
        return answer

    def test_push_to_user_arrives_in_order(self):
        lst = self.listener()
        lst.wait_connected()
        for i in range(20):
            self.push("UCHAT", "u1", "m%d" % i, payload="消息 %d" % i, expect="SUCCESS")
        got = lst.take(20)
        self.assertEqual([g["bId"] for g in got], ["m%d" % i for i in range(20)])
        self.assertEqual([g["pl"] for g in got], ["消息 %d" % i for i in range(20)])
        mks = [g["mk"] for g in got]
        self.assertEqual(mks, sorted(mks))
        self.assertEqual(len(set(mks)), 20)
        self.assertTrue(all(g["userId"] == "u1" and g["biz"] == "UCHAT" for g in got))

    def test_push_to_device_arrives_in_order(self):
        lst = self.listener(biz=["DEVLOCK"], device="device-under-test-0001")
        lst.wait_connected()
        for i in range(10):
            self.push("DEVLOCK", "device-under-test-0001", "d%d" % i, expect="SUCCESS")
        got = lst.take(10)
        self.assertEqual([g["bId"] for g in got], ["d%d" % i for i in range(10)])
        self.assertTrue(all(g["userId"] == "" for g in got))
        # Another device's data never arrives here.
        self.push("DEVLOCK", "some-other-device", "x", expect="NOT_ONLINE")
        lst.expect_nothing(0.5)

    def test_binary_payload_round_trips(self):
        lst = self.listener()
        lst.wait_connected()
        self.push("UCHAT", "u1", "bin", binary="AAEC/w==", expect="SUCCESS")
        (got,) = lst.take(1)
        self.assertTrue(got["isB"])
        self.assertEqual(got["pl"], "AAEC/w==")

    def test_unregistered_biz_is_kept_and_delivered_at_register(self):
        lst = self.listener(biz=["UCHAT"])
        lst.wait_connected()
        self.push("UNREG", "u1", "kept-1", expect="SUCCESS")
        self.push("UNREG", "u1", "kept-2", expect="SUCCESS")
        lst.wait_log(r"batch user/UNREG: 1 oplogs, 1 new", count=2)
        lst.expect_nothing(0.3)
        lst.stop()
        # The server is gone: whatever arrives now can only come from the client's cache.
        self.server.stop()
        again = self.listener(biz=["UCHAT", "UNREG"])
        got = again.take(2)
        self.assertEqual([g["bId"] for g in got], ["kept-1", "kept-2"])
        self.assertEqual(got[0]["biz"], "UNREG")

    def test_client_restart_redelivers_nothing_reported(self):
        lst = self.listener(count=3)
        lst.wait_connected()
        for i in range(3):
            self.push("UCHAT", "u1", "r%d" % i, expect="SUCCESS")
        self.assertEqual([g["bId"] for g in lst.take(3)], ["r0", "r1", "r2"])
        self.assertEqual(lst.wait_exit(), 0)
        again = self.listener()
        again.wait_connected()
        self.push("UCHAT", "u1", "r3", expect="SUCCESS")
        (got,) = again.take(1)
        self.assertEqual(got["bId"], "r3")
        again.expect_nothing(0.5)

    def test_unreported_message_is_redelivered_after_restart(self):
        lst = self.listener(report=False)
        lst.wait_connected()
        self.push("UCHAT", "u1", "unreported", expect="SUCCESS")
        self.assertEqual(lst.take(1)[0]["bId"], "unreported")
        lst.stop()
        again = self.listener()
        (got,) = again.take(1)
        self.assertEqual(got["bId"], "unreported")
        self.assertEqual(got["delivery"], 2)

    def test_persistent_push_to_offline_target_arrives_at_next_connect(self):
        self.push("UCHAT", "u1", "offline-1", expect="NOT_ONLINE")
        self.push("UCHAT", "u1", "offline-2", expect="NOT_ONLINE")
        lst = self.listener()
        got = lst.take(2)
        self.assertEqual([g["bId"] for g in got], ["offline-1", "offline-2"])

    def test_non_persistent_push_to_offline_target_never_arrives(self):
        self.push("LIVEONLY", "u1", "lost", expect="NOT_ONLINE")
        lst = self.listener(biz=["LIVEONLY"])
        lst.wait_connected()
        lst.expect_nothing(1.0)
        # Online, the same biz does arrive: the silence above was the rule, not a broken link.
        self.push("LIVEONLY", "u1", "live", expect="SUCCESS")
        self.assertEqual(lst.take(1)[0]["bId"], "live")

    def test_other_users_data_never_arrives(self):
        lst = self.listener(user="alice")
        lst.wait_connected()
        self.push("UCHAT", "bob", "for-bob", expect="NOT_ONLINE")
        self.push("UCHAT", "alice", "for-alice", expect="SUCCESS")
        (got,) = lst.take(1)
        self.assertEqual(got["bId"], "for-alice")
        lst.expect_nothing(0.5)


if __name__ == "__main__":
    BUILD = build_dir_from_env_or_argv()
    unittest.main()
