# Server rules of SPEC §4 (S3–S6, S10, retention, epochs, gaps), one test per rule, named after it.
# SPDX-License-Identifier: Apache-2.0
"""Server rules of SPEC §4 against mpsync-mock-server over the raw long-link: one test per rule,
named after it (srv_<rule> in CTest), each failing when the server breaks that rule."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpsync_harness import (STREAM_DEVICE, STREAM_GLOBAL, STREAM_USER,  # noqa: E402
                            MockServer, build_dir_from_env_or_argv)

BUILD_DIR = None
INSTANCE = "ws_RULES"
DAY_MS = 86400000

BIZ = [
    {"bizType": "UCHAT", "dimension": "user"},
    {"bizType": "DEVCFG", "dimension": "device"},
    {"bizType": "VOLATILE", "dimension": "user", "persistent": False},
    {"bizType": "ONE-DEVICE", "dimension": "user", "multiDevice": False},
    {"bizType": "LATEST2", "dimension": "device", "repushMode": "threshold", "threshold": 2},
    {"bizType": "GCONF", "scope": "global"},
]


def now_ms():
    return int(time.time() * 1000)


def thirds(oplogs):
    return [o["thirdMsgId"] for o in oplogs]


class ServerRules(unittest.TestCase):
    extra_args = []

    def setUp(self):
        self.server = self.start_server(self.extra_args)

    def start_server(self, extra_args):
        server = MockServer(BUILD_DIR, biz=BIZ, extra_args=extra_args)
        server.__enter__()
        self.addCleanup(server.__exit__, None, None, None)
        return server

    def push(self, third, token, biz="UCHAT", expect=None, server=None, **extra):
        body = {"bizType": biz, "linkToken": token, "thirdMsgId": third, "payload": "p-" + third}
        body.update(extra)
        status, answer = (server or self.server).push_single(INSTANCE, body)
        self.assertEqual(status, 200, answer)
        if expect:
            self.assertEqual(answer, {"success": True, "msg": expect})
        return answer["msg"]

    def client(self, device, user="", server=None, **hello):
        c = (server or self.server).link_client(instance=INSTANCE, device=device, user=user,
                                                **hello)
        self.addCleanup(c.close)
        return c

    # -- S3: committed before SUCCESS --

    def test_s3_committed_before_success(self):
        c = self.client("dev-s3", user="u-s3")
        for i in range(5):
            self.push("s3-%d" % i, "u-s3", expect="SUCCESS")
        # No ack, no graceful shutdown: only what SQLite committed before the answer survives.
        self.server.kill()
        c.close()
        self.server.start()
        c = self.client("dev-s3b", user="u-s3")
        self.assertEqual(thirds(c.recv_oplogs(5)), ["s3-%d" % i for i in range(5)])

    # -- S4: an online target gets the oplog at once --

    def test_s4_online_push_immediate(self):
        c = self.client("dev-s4", user="u-s4")
        for i in range(10):
            started = time.monotonic()
            self.push("s4-%d" % i, "u-s4", expect="SUCCESS")
            batch = c.recv_batch(timeout=1.0)
            elapsed = time.monotonic() - started
            self.assertEqual(thirds(batch["oplogs"]), ["s4-%d" % i])
            # Far below the seed's 1 s: the push is written before the HTTP answer.
            self.assertLess(elapsed, 0.5)

    # -- S5: filters, per connection --

    def test_s5_os_type_filter(self):
        ios = self.client("dev-ios", user="u-os", os_type="ios")
        android = self.client("dev-and", user="u-os", os_type="ANDROID")
        self.push("os-a", "u-os", osType="ANDROID", expect="SUCCESS")
        self.push("os-i", "u-os", osType="IOS", expect="SUCCESS")
        self.push("os-any", "u-os", expect="SUCCESS")
        self.assertEqual(thirds(ios.recv_oplogs(2)), ["os-i", "os-any"])
        self.assertEqual(thirds(android.recv_oplogs(2)), ["os-a", "os-any"])
        self.assertTrue(ios.expect_silence() and android.expect_silence())
        # The backlog walk filters the same way.
        self.push("os-a2", "dev-late", biz="DEVCFG", osType="android", expect="NOT_ONLINE")
        self.push("os-i2", "dev-late", biz="DEVCFG", osType="ios", expect="NOT_ONLINE")
        late = self.client("dev-late", os_type="IOS")
        self.assertEqual(thirds(late.recv_batch()["oplogs"]), ["os-i2"])

    def test_s5_app_version_range_inclusive(self):
        cases = {  # thirdMsgId: (appMinVersion, appMaxVersion, delivered to 10.1.10)
            "eq-min": ("10.1.10", None, True),
            "eq-max": (None, "10.1.10", True),
            "below-9": ("10.1.9", None, True),       # "10.1.9" < "10.1.10" numerically
            "max-9": (None, "10.1.9", False),
            "min-11": ("10.1.11", None, False),
            "range": ("9.99", "10.2", True),
            "short": ("10.1", "10.1.10.0", True),   # missing segments count as 0
            "min-2": ("2", None, True),              # not a string compare
        }
        c = self.client("dev-ver", user="u-ver", app_version="10.1.10")
        for third, (lo, hi, _) in cases.items():
            extra = {k: v for k, v in (("appMinVersion", lo), ("appMaxVersion", hi)) if v}
            self.push(third, "u-ver", expect="SUCCESS", **extra)
        want = [t for t, (_, _, ok) in cases.items() if ok]
        self.assertEqual(thirds(c.recv_oplogs(len(want))), want)
        self.assertTrue(c.expect_silence())

    def test_s5_valid_time_end(self):
        self.push("past", "u-vt", validTimeEnd=now_ms() - 1000, expect="NOT_ONLINE")
        self.push("soon", "u-vt", validTimeEnd=now_ms() + 800, expect="NOT_ONLINE")
        future = now_ms() + 600000
        self.push("future", "u-vt", validTimeEnd=future, expect="NOT_ONLINE")
        self.push("none", "u-vt", expect="NOT_ONLINE")
        time.sleep(1.0)  # "soon" expires while stored
        c = self.client("dev-vt", user="u-vt")
        got = c.recv_batch()["oplogs"]
        self.assertEqual(thirds(got), ["future", "none"])
        self.assertEqual(got[0]["validTimeEnd"], future)
        self.push("live-past", "u-vt", validTimeEnd=now_ms() - 1, expect="SUCCESS")
        self.assertTrue(c.expect_silence(), "an expired oplog is not pushed live either")

    # -- S6: multi/single device, persistent, queue/threshold --

    def test_s6_multi_device_every_device_and_history_for_new_device(self):
        a = self.client("dev-ma", user="u-m")
        b = self.client("dev-mb", user="u-m")
        self.push("m1", "u-m", expect="SUCCESS")
        self.push("m2", "u-m", expect="SUCCESS")
        for dev in (a, b):
            self.assertEqual(thirds(dev.recv_oplogs(2)), ["m1", "m2"])
            dev.ack((STREAM_USER, "UCHAT", "u-m", 2))
        time.sleep(0.2)
        # A newly installed device of the same user gets the history again.
        new = self.client("dev-mnew", user="u-m")
        self.assertEqual(thirds(new.recv_oplogs(2)), ["m1", "m2"])
        self.assertTrue(a.expect_silence(0.2) and b.expect_silence(0.2))

    def test_s6_single_device_once_to_most_recent(self):
        # Offline: the first device that comes online takes it, and no other device ever will.
        self.push("one1", "u-1d", biz="ONE-DEVICE", expect="NOT_ONLINE")
        a = self.client("dev-1a", user="u-1d")
        self.assertEqual(thirds(a.recv_batch()["oplogs"]), ["one1"])
        a.close()
        b = self.client("dev-1b", user="u-1d")
        self.assertTrue(b.expect_silence(), "another device must never get it")
        # Online: only the most recently connected device of the user.
        c = self.client("dev-1c", user="u-1d")
        self.push("one2", "u-1d", biz="ONE-DEVICE", expect="SUCCESS")
        self.assertEqual(thirds(c.recv_batch()["oplogs"]), ["one2"])
        self.assertTrue(b.expect_silence(), "only the latest device gets it")
        c.close()
        b.close()
        again = self.client("dev-1b", user="u-1d")
        self.assertTrue(again.expect_silence(), "never again to another device")
        # The owner gets it again while it has not acknowledged it (at-least-once).
        a2 = self.client("dev-1a", user="u-1d")
        self.assertEqual(thirds(a2.recv_batch()["oplogs"]), ["one1"])

    def test_s6_persistent_vs_non_persistent(self):
        self.push("per1", "u-pv", expect="NOT_ONLINE")
        self.push("vol1", "u-pv", biz="VOLATILE", expect="NOT_ONLINE")
        c = self.client("dev-pv", user="u-pv")
        batch = c.recv_batch()
        self.assertEqual((batch["bizType"], thirds(batch["oplogs"])), ("UCHAT", ["per1"]))
        self.assertTrue(c.expect_silence(), "a non-persistent oplog is dropped when offline")
        self.push("vol2", "u-pv", biz="VOLATILE", expect="SUCCESS")
        batch = c.recv_batch()
        self.assertEqual((batch["bizType"], thirds(batch["oplogs"])), ("VOLATILE", ["vol2"]))
        c.close()
        again = self.client("dev-pv2", user="u-pv")
        self.assertEqual(thirds(again.recv_batch()["oplogs"]), ["per1"])
        self.assertTrue(again.expect_silence(), "nor is it kept after a live push")

    def test_s6_threshold_keeps_newest_n(self):
        for i in range(1, 6):
            self.push("th%d" % i, "dev-th", biz="LATEST2", expect="NOT_ONLINE")
        c = self.client("dev-th")
        self.assertEqual([o["id"] for o in c.recv_batch()["oplogs"]], [4, 5])
        c.ack((STREAM_DEVICE, "LATEST2", "dev-th", 5))
        # Live pushes are not cut: only a backlog is.
        for i in range(6, 9):
            self.push("th%d" % i, "dev-th", biz="LATEST2", expect="SUCCESS")
        self.assertEqual(thirds(c.recv_oplogs(3)), ["th6", "th7", "th8"])

    def test_s6_queue_keeps_all(self):
        for i in range(1, 101):
            self.push("q%d" % i, "dev-q", biz="DEVCFG", expect="NOT_ONLINE")
        c = self.client("dev-q")
        self.assertEqual([o["id"] for o in c.recv_oplogs(100)], list(range(1, 101)))
        self.assertTrue(c.expect_silence())

    # -- S10: a restart loses nothing --

    def test_s10_restart_loses_nothing(self):
        s = self.server
        self.assertEqual(s.request("POST", "/admin/biz?instanceId=" + INSTANCE,
                                   {"bizType": "MADE-LIVE", "dimension": "device"})[0], 200)
        for third in ("p1", "p2", "p3"):
            self.push(third, "u-p", expect="NOT_ONLINE")
        self.push("d1", "dev-p", biz="MADE-LIVE", expect="NOT_ONLINE")
        self.push("d2", "dev-p", biz="MADE-LIVE", expect="NOT_ONLINE")
        c = self.client("dev-p", user="u-p")
        got = {}
        for _ in range(2):
            b = c.recv_batch()
            got[b["bizType"]] = b
        epoch = got["UCHAT"]["epoch"]
        c.ack((STREAM_DEVICE, "MADE-LIVE", "dev-p", 1, got["MADE-LIVE"]["epoch"]))
        time.sleep(0.2)
        c.close()
        s.restart()
        # Configs, idempotency keys, ids, epochs, acked points and records all survived.
        self.push("p1", "u-p", expect="DUPLICATED_BIZ_ID")
        self.push("p4", "u-p", expect="NOT_ONLINE")
        c = self.client("dev-p", user="u-p")
        got = {}
        for _ in range(2):
            b = c.recv_batch()
            got[b["bizType"]] = b
        self.assertEqual([(o["id"], o["thirdMsgId"]) for o in got["UCHAT"]["oplogs"]],
                         [(1, "p1"), (2, "p2"), (3, "p3"), (4, "p4")])
        self.assertEqual(got["UCHAT"]["epoch"], epoch)
        self.assertFalse(got["UCHAT"]["reset"])
        self.assertEqual(thirds(got["MADE-LIVE"]["oplogs"]), ["d2"])
        status, body = s.request("GET", "/admin/records?instanceId=" + INSTANCE)
        self.assertIn("create config", [r["action"] for r in body["data"]])
        status, body = s.request("GET", "/admin/status?instanceId=%s&userId=u-p" % INSTANCE)
        self.assertEqual(body["data"]["pushes"], 4)

    # -- retention --

    def test_retention_default_30_days(self):
        self.push("r1", "dev-r", biz="DEVCFG", expect="NOT_ONLINE")
        answer = self.server.admin("retention/run")
        self.assertEqual(answer["data"], {"olderThanMs": 30 * DAY_MS, "pruned": 0})
        at = now_ms()
        self.assertEqual(self.server.admin("retention/run", atMs=at + 29 * DAY_MS)["data"]["pruned"],
                         0)
        self.assertEqual(self.server.admin("retention/run", atMs=at + 31 * DAY_MS)["data"]["pruned"],
                         1)
        # The device never got it: it is told so instead (see gap_reports_lost_count).
        b = self.client("dev-r").recv_batch()
        self.assertEqual((b["oplogs"], b["lost"]), ([], 1))

        short = self.start_server(["--retention-days", "1"])
        self.push("r2", "dev-r1", biz="DEVCFG", expect="NOT_ONLINE", server=short)
        self.assertEqual(short.admin("retention/run")["data"], {"olderThanMs": DAY_MS, "pruned": 0})
        at = now_ms()
        self.assertEqual(short.admin("retention/run", atMs=at + 23 * 3600000)["data"]["pruned"], 0)
        self.assertEqual(thirds(self.client("dev-r1", server=short).recv_batch()["oplogs"]),
                         ["r2"])
        self.assertEqual(short.admin("retention/run", atMs=at + 25 * 3600000)["data"]["pruned"], 1)
        b = self.client("dev-r1", server=short).recv_batch()
        self.assertEqual((b["oplogs"], b["lost"]), ([], 1))

    # -- epochs and gaps --

    def test_epoch_reset_sends_reset_flag(self):
        for i in (1, 2, 3):
            self.push("e%d" % i, "dev-e", biz="DEVCFG", expect="NOT_ONLINE")
        self.push("u1", "u-e", expect="NOT_ONLINE")
        c = self.client("dev-e", user="u-e")
        first = {}
        for _ in range(2):
            b = c.recv_batch()
            first[b["bizType"]] = b
        old = first["DEVCFG"]["epoch"]
        uepoch = first["UCHAT"]["epoch"]
        self.assertNotEqual(old, 0)
        self.assertFalse(first["DEVCFG"]["reset"])
        c.ack((STREAM_DEVICE, "DEVCFG", "dev-e", 3, old), (STREAM_USER, "UCHAT", "u-e", 1, uepoch))
        time.sleep(0.2)
        c.close()

        new = int(self.server.admin("stream/reset", instanceId=INSTANCE, bizType="DEVCFG",
                                    target="dev-e")["data"]["epoch"])
        self.assertNotIn(new, (0, old))
        self.push("e1", "dev-e", biz="DEVCFG", expect="NOT_ONLINE")  # its key went with the stream
        points = [(STREAM_DEVICE, "DEVCFG", "dev-e", 3, old), (STREAM_USER, "UCHAT", "u-e", 1, uepoch)]
        c = self.client("dev-e", user="u-e", streams=points)
        b = c.recv_batch()
        self.assertEqual((b["bizType"], b["epoch"], b["reset"]), ("DEVCFG", new, True))
        self.assertEqual([(o["id"], o["thirdMsgId"]) for o in b["oplogs"]], [(1, "e1")])
        self.assertTrue(c.expect_silence(), "the other stream is untouched")
        c.ack((STREAM_DEVICE, "DEVCFG", "dev-e", 1, new))
        time.sleep(0.2)

        # Online: an empty batch with reset, at once, then live pushes in the new epoch.
        newer = int(self.server.admin("stream/reset", instanceId=INSTANCE, bizType="DEVCFG",
                                      target="dev-e")["data"]["epoch"])
        b = c.recv_batch()
        self.assertEqual((b["epoch"], b["reset"], b["oplogs"]), (newer, True, []))
        self.push("e-live", "dev-e", biz="DEVCFG", expect="SUCCESS")
        b = c.recv_batch()
        self.assertEqual((b["epoch"], b["reset"], [o["id"] for o in b["oplogs"]]),
                         (newer, False, [1]))
        c.close()
        # Offline with nothing new: still an (empty) batch with reset for the stale epoch.
        self.server.admin("stream/reset", instanceId=INSTANCE, bizType="DEVCFG", target="dev-e")
        c = self.client("dev-e", streams=[(STREAM_DEVICE, "DEVCFG", "dev-e", 1, newer)])
        b = c.recv_batch()
        self.assertEqual((b["reset"], b["oplogs"]), (True, []))
        self.assertNotIn(b["epoch"], (0, newer))
        # The current epoch named: no reset.
        c2 = self.client("dev-e", streams=[(STREAM_DEVICE, "DEVCFG", "dev-e", 0, b["epoch"])])
        self.assertTrue(c2.expect_silence())

        # Global streams: told at the next pull.
        self.server.push_global(INSTANCE, {"bizType": "GCONF", "thirdMsgId": "g1", "payload": "x"})
        g = self.client("dev-g")
        g.pull_global()
        gb = g.recv_batch()
        self.server.admin("stream/reset", instanceId=INSTANCE, bizType="GCONF", target="")
        self.assertTrue(g.expect_silence(), "global data is never pushed live")
        g.pull_global((STREAM_GLOBAL, "GCONF", "", 1, gb["epoch"]))
        b = g.recv_batch()
        self.assertEqual((b["kind"], b["reset"], b["oplogs"]), (STREAM_GLOBAL, True, []))

    def test_gap_reports_lost_count(self):
        for i in range(1, 6):
            self.push("g%d" % i, "dev-gap", biz="DEVCFG", expect="NOT_ONLINE")
        c = self.client("dev-gap")
        epoch = c.recv_batch()["epoch"]
        c.close()
        time.sleep(0.01)
        self.assertEqual(self.server.admin("retention/run", olderThanMs=0)["data"]["pruned"], 5)
        self.push("g6", "dev-gap", biz="DEVCFG", expect="NOT_ONLINE")
        self.push("g7", "dev-gap", biz="DEVCFG", expect="NOT_ONLINE")

        def first_batch(point):
            c = self.client("dev-gap", streams=[(STREAM_DEVICE, "DEVCFG", "dev-gap", point, epoch)])
            b = c.recv_batch()
            c.close()
            return b["lost"], [o["id"] for o in b["oplogs"]], b["reset"]

        self.assertEqual(first_batch(2), (3, [6, 7], False))  # 3, 4, 5 are gone for it
        self.assertEqual(first_batch(5), (0, [6, 7], False))  # it had everything retention took
        # Everything pruned and nothing new: an empty batch that only reports the gap.
        time.sleep(0.01)
        self.server.admin("retention/run", olderThanMs=0)
        self.assertEqual(first_batch(5), (2, [], False))
        c = self.client("dev-gap", streams=[(STREAM_DEVICE, "DEVCFG", "dev-gap", 7, epoch)])
        self.assertTrue(c.expect_silence(), "a client that is up to date hears nothing")


class ServerLifetime(unittest.TestCase):
    def test_exits_when_the_process_that_started_it_is_killed(self):
        """--exit-with-stdin: a harness killed with -9 leaves no server behind (its stdin pipe
        closes); without the option the orphan would run until someone kills it."""
        import signal
        import subprocess
        import tempfile
        import shutil
        tmp = tempfile.mkdtemp(prefix="mpsync-orphan-")
        self.addCleanup(shutil.rmtree, tmp, True)
        server = MockServer(BUILD_DIR, data_dir=tmp)
        # The parent holds the write end of the server's stdin, prints the server's pid, waits.
        parent = subprocess.Popen(
            [sys.executable, "-c",
             "import subprocess, sys, time\n"
             "p = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE,"
             " stderr=subprocess.DEVNULL)\n"
             "p.stdout.readline()\n"
             "print(p.pid, flush=True)\n"
             "time.sleep(600)\n"] + server.command(),
            stdout=subprocess.PIPE, text=True)
        self.addCleanup(parent.wait)
        self.addCleanup(parent.kill)
        pid = int(parent.stdout.readline())
        parent.stdout.close()
        alive = lambda: os.path.exists("/proc/%d" % pid) and \
            open("/proc/%d/stat" % pid).read().split()[2] != "Z"
        self.assertTrue(alive(), "the server runs while its parent does")
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        gone = not alive()
        if not gone:
            os.kill(pid, signal.SIGKILL)
        self.assertTrue(gone, "the server outlived its parent by 10 s")


if __name__ == "__main__":
    BUILD_DIR = build_dir_from_env_or_argv()
    unittest.main(verbosity=2)
