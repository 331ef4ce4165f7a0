# Link faults (C11, C12, C19): mpsync-cli behind a fault proxy recovers; nothing lost or repeated.
# SPDX-License-Identifier: Apache-2.0
"""Each test runs the mock server with a 1 s heartbeat and 1 s timeout, puts the fault proxy of
tests/faults between it and `mpsync-cli listen`, pushes oplogs before, during and after a fault,
and checks that the client reconnects (a second `state CONNECTED`) and that every pushed
thirdMsgId is printed exactly once, in push order, with its payload intact. The reconnect tests
kill and restart the server on the same port and have it ask for a retry delay."""

import os
import re
import shutil
import socket
import sys
import tempfile
import time
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "faults"))
from cli_harness import Listener  # noqa: E402
from fault_proxy import C2S, S2C, FaultProxy  # noqa: E402
from mpsync_harness import (  # noqa: E402
    FixedPortServer, MockServer, build_dir_from_env_or_argv, free_port)

BUILD = None
INSTANCE = "fault_app"
USER = "u1"
BIZ = [{"bizType": "UCHAT", "scope": "specified", "dimension": "user", "multiDevice": True,
        "persistent": True, "repushMode": "queue"}]
HEARTBEAT = ["--heartbeat", "1", "--heartbeat-timeout", "1"]
# A dead link must be noticed within interval + timeout (C12); this is the allowance on top for a
# loaded test machine.
SLACK_S = 1.5
CONNECTED = r"state CONNECTED$"


class TimedListener(Listener):
    """A Listener that also notes when each log line arrived (time.monotonic())."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.timed = []

    def _read_err(self):
        for line in self.proc.stderr:
            with self._log_cond:
                self.timed.append((time.monotonic(), line.rstrip("\n")))
                self.log.append(line.rstrip("\n"))
                self._log_cond.notify_all()


def listener_on(port, data_dir, extra=(), plaintext=True, **kw):
    """A cli_harness.Listener pointed at any port (a proxy's), with extra CLI options."""
    lst = TimedListener(BUILD, types.SimpleNamespace(link_port=port), data_dir, **kw)
    if not plaintext:
        lst.cmd.remove("--plaintext")
    lst.cmd += list(extra)
    return lst


class LinkFaults(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mpsync-faults-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.pushed = []     # (thirdMsgId, payload), in push order
        self.printed = []    # the CLI's oplog lines, in arrival order

    # -- setup helpers --
    def start_server(self, server=None):
        self.server = server or MockServer(BUILD, biz=BIZ, extra_args=HEARTBEAT)
        self.server.__enter__()
        self.addCleanup(self.server.__exit__, None, None, None)
        return self.server

    def start_proxy(self):
        self.proxy = FaultProxy(self.server.link_port).start()
        self.addCleanup(self.proxy.stop)
        return self.proxy

    def start_listener(self, port=None, **kw):
        kw.setdefault("user", USER)
        kw.setdefault("biz", ["UCHAT"])
        kw.setdefault("instance", INSTANCE)
        port = port if port is not None else self.proxy.port
        self.lst = listener_on(port, os.path.join(self.tmp, "client"), **kw)
        self.lst.start()
        self.addCleanup(self.lst.stop)
        if os.environ.get("MPSYNC_SHOW_LOG"):
            self.addCleanup(lambda: print("\n".join(self.lst.log), file=sys.stderr))
        return self.lst

    def start_all(self):
        """Server, proxy, listener; returns once the client is connected through the proxy."""
        self.start_server()
        self.start_proxy()
        self.start_listener()
        self.lst.wait_connected()

    # -- pushing and checking --
    def push(self, n=1, size=12):
        """Pushes n oplogs to USER; their payloads are `size` characters and name the oplog."""
        for _ in range(n):
            third = "m%03d" % len(self.pushed)
            payload = (third + ":" + "x" * size)[:max(size, len(third) + 1)]
            status, answer = self.server.push_single(INSTANCE, {
                "bizType": "UCHAT", "linkToken": USER, "thirdMsgId": third, "payload": payload})
            self.assertEqual(status, 200, answer)
            # SUCCESS when the server believes the link is up, NOT_ONLINE (stored) otherwise.
            self.assertTrue(answer["success"], answer)
            self.assertIn(answer["msg"], ("SUCCESS", "NOT_ONLINE"), answer)
            self.pushed.append((third, payload))

    def collect(self, timeout=15.0):
        """Takes every oplog not printed yet and checks the whole run so far."""
        missing = len(self.pushed) - len(self.printed)
        if missing > 0:
            self.printed += self.lst.take(missing, timeout)
        self.check_printed()

    def check_printed(self):
        self.assertEqual([p["bId"] for p in self.printed], [t for t, _ in self.pushed],
                         "every pushed oplog exactly once, in push order; log:\n%s"
                         % "\n".join(self.lst.log))
        self.assertEqual([p["pl"] for p in self.printed], [pl for _, pl in self.pushed])
        for p in self.printed:
            self.assertEqual((p["biz"], p["userId"], p["isB"]), ("UCHAT", USER, False), p)
        mks = [p["mk"] for p in self.printed]
        self.assertEqual(mks, sorted(set(mks)), "oplog ids strictly rising")

    def finish(self):
        """All pushed oplogs arrived once, and nothing else follows (no repeat)."""
        self.collect()
        self.lst.expect_nothing(1.0)

    def connects(self):
        return len([l for l in self.lst.log if re.search(CONNECTED, l)])

    def wait_reconnected(self, before, timeout=10.0):
        self.lst.wait_log(CONNECTED, timeout, count=before + 1)

    def log_since(self, mark):
        return "\n".join(self.lst.log[mark:])

    def run_fault(self, apply, reason, push_during=3, timeout=10.0):
        """The common shape: traffic, fault (+ traffic into it), reconnect, traffic, check.
        Returns the seconds from the fault to the logged link loss."""
        self.start_all()
        self.push(3)
        self.collect()
        before, mark = self.connects(), len(self.lst.log)
        # Only losses after the fault count: one logged while the link came up is not this one.
        earlier = len([l for l in self.lst.log[:mark] if "link lost: " in l])
        t0 = time.monotonic()
        apply()
        self.push(push_during)
        lost = self.lst.wait_log(r"link lost: ", timeout, count=earlier + 1)
        detected = time.monotonic() - t0
        self.assertRegex(lost[earlier], reason)
        self.wait_reconnected(before, timeout)
        self.push(3)
        self.finish()
        self.assertEqual(len(self.lst.wait_log(r"link lost: ", 1, count=earlier + 1)), earlier + 1,
                         self.log_since(mark))
        return detected

    # -- faults on the path --
    def test_delay_within_heartbeat_timeout_keeps_the_link(self):
        self.start_all()
        self.proxy.delay(0.25)  # 0.5 s round trip < 1 s heartbeat timeout
        self.push(5)
        self.collect()
        time.sleep(2.5)  # two heartbeats on the slow path
        self.push(2)
        self.finish()
        self.assertEqual(self.connects(), 1, "\n".join(self.lst.log))
        self.assertFalse([l for l in self.lst.log if "link lost" in l])

    def test_delay_beyond_heartbeat_timeout_reconnects(self):
        # 1.5 s each way: pongs come too late, the link is dead; the new connection is clean.
        detected = self.run_fault(lambda: self.proxy.delay(1.5),
                                  r"no pong within heartbeat timeout")
        self.assertLess(detected, 2 + SLACK_S)

    def test_drop_toward_client_reconnects_and_resends(self):
        # Pushes during the fault reach the proxy only; the server must send them again.
        detected = self.run_fault(lambda: self.proxy.drop(S2C), r"no pong within heartbeat timeout")
        self.assertLess(detected, 2 + SLACK_S)

    def test_drop_toward_server_loses_acks_but_repeats_nothing(self):
        # Pushes during the fault arrive and are acknowledged, but the acks never reach the server;
        # the Hello's sync point after the reconnect must stop it from sending them again.
        self.start_all()
        self.push(3)
        self.collect()
        before = self.connects()
        self.proxy.drop(C2S)
        self.push(3)
        self.collect()
        self.lst.wait_log(r"link lost: no pong within heartbeat timeout", 2 + SLACK_S)
        self.wait_reconnected(before)
        self.push(3)
        self.finish()

    def test_cut_mid_frame_toward_client(self):
        # The next big frame (a batch with a 2000-byte payload) is cut half-way; it was never
        # committed nor acknowledged, so it comes again, whole, on the next connection.
        self.start_all()
        self.push(3)
        self.collect()
        before = self.connects()
        self.proxy.cut_mid_frame(S2C, min_frame=1000)
        self.push(1, size=2000)
        self.lst.wait_log(r"link lost: server closed the connection")
        self.wait_reconnected(before)
        self.push(3)
        self.finish()
        self.assertEqual(len(self.printed[3]["pl"]), 2000)

    def test_cut_mid_frame_toward_server(self):
        # The client's Ack is cut half-way (pings are far below 16 bytes, acks above): the oplog
        # is committed on the client but not acknowledged on the server. Nothing may repeat.
        self.start_all()
        self.push(3)
        self.collect()
        before = self.connects()
        self.proxy.cut_mid_frame(C2S, min_frame=16)
        self.push(1)
        self.lst.wait_log(r"link lost: server closed the connection")
        self.wait_reconnected(before)
        self.push(3)
        self.finish()

    def test_cut_after_a_few_bytes_toward_client(self):
        # A plain byte count, whatever frame it falls in (a pong or the batch).
        self.run_fault(lambda: self.proxy.cut_after(5, S2C), r"server closed the connection")

    def test_reset(self):
        self.run_fault(lambda: self.proxy.reset(), r"connection reset by peer")

    def test_blackhole_detected_by_heartbeat(self):
        # Nothing comes back and nothing says so: only the heartbeat can tell (C12).
        detected = self.run_fault(lambda: self.proxy.blackhole(),
                                  r"no pong within heartbeat timeout")
        self.assertLess(detected, 2 + SLACK_S, "dead link found within interval + timeout")

    def test_garbage_toward_client(self):
        self.run_fault(lambda: self.proxy.inject_garbage(), r"undecodable frame")

    def test_oversize_length_prefix_toward_client(self):
        self.run_fault(lambda: self.proxy.inject_oversize(), r"frame too large")

    def test_message_out_of_order_toward_client(self):
        # A well-formed frame the client must never receive: a Hello (envelope field 1).
        hello = bytes([0x0A, 0x02, 0x08, 0x01])
        self.run_fault(lambda: self.proxy.inject(len(hello).to_bytes(4, "big") + hello),
                       r"unexpected message from server")

    def test_frame_without_body_toward_client(self):
        # An Envelope with only an unknown field: decodes, but carries no body.
        unknown = bytes([0xF8, 0x07, 0x01])  # field 127, varint 1
        self.run_fault(lambda: self.proxy.inject(len(unknown).to_bytes(4, "big") + unknown),
                       r"unexpected message from server")

    def test_stretched_heartbeat_falls_back_after_a_blackhole(self):
        # Smart heartbeat: three pongs in a row stretch the interval by one step up to the
        # server's maximum; a dead link at the stretched interval is still found within that
        # interval + timeout, and the client steps back and stops stretching on this network.
        self.start_server(MockServer(BUILD, biz=BIZ, extra_args=HEARTBEAT + ["--heartbeat-max",
                                                                            "2"]))
        self.start_proxy()
        self.start_listener()
        self.lst.wait_connected()
        self.push(2)
        self.collect()
        self.lst.wait_log(r"heartbeat interval 2s \(stretched\)", 3 * 1 + 3)
        before, mark = self.connects(), len(self.lst.log)
        t0 = time.monotonic()
        self.proxy.blackhole()
        self.push(2)
        self.lst.wait_log(r"link lost: no pong within heartbeat timeout", 2 + 1 + SLACK_S)
        self.assertLess(time.monotonic() - t0, 2 + 1 + SLACK_S)
        self.lst.wait_log(r"heartbeat interval 2s failed; back to 1s")
        self.wait_reconnected(before)
        self.push(2)
        self.collect()
        time.sleep(3.5)  # three pongs and more at 1 s: no stretching again on this network
        self.assertNotRegex(self.log_since(mark), r"stretched")
        self.finish()

    def test_connect_to_a_silent_address_times_out(self):
        # SYNs go unanswered (a listener whose accept queue is full drops them): the client must
        # give up on its own and try again, not sit in CONNECTING until the kernel gives up
        # (about two minutes). Bound: the handshake deadline, 15 s before any Welcome.
        silent = socket.socket()
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)
        fill = []
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(silent.getsockname())
            fill.append(s)
            self.addCleanup(s.close)
        time.sleep(0.2)
        self.start_listener(port=silent.getsockname()[1])
        t0 = time.monotonic()
        self.lst.wait_log(r"state CONNECT_FAILED: ", 15 + 3)
        self.assertLess(time.monotonic() - t0, 15 + 3)

    def test_silent_server_after_connect_times_out(self):
        # TCP is accepted, nothing ever comes back (sticky blackhole): no Welcome within the
        # handshake deadline (15 s, the default timeout) -> CONNECT_FAILED, and retry.
        self.start_server()
        self.start_proxy()
        self.proxy.blackhole(sticky=True)
        self.start_listener()
        t0 = time.monotonic()
        failed = self.lst.wait_log(r"state CONNECT_FAILED: ", 15 + 3)
        self.assertGreater(time.monotonic() - t0, 14)
        self.assertRegex(failed[0], r"handshake timed out|connect timed out")

    # -- the server goes away --
    def test_server_killed_and_restarted_on_the_same_port(self):
        port = free_port()
        server = self.start_server(FixedPortServer(BUILD, biz=BIZ, extra_args=HEARTBEAT,
                                                   link_port=port))
        self.start_listener(port=port)
        self.lst.wait_connected()
        self.push(3)
        self.collect()
        self.push(1)    # committed on the server (S3); may or may not reach the client first
        server.kill()
        self.lst.wait_log(r"link lost: ")
        self.lst.wait_log(r"state CONNECT_FAILED: ", 5)   # at least one refused attempt
        time.sleep(1.5)
        before = self.connects()
        server.start()
        self.assertEqual(server.link_port, port)
        ready = time.monotonic()
        self.push(2)    # stored for the client: it is offline on the new server
        self.wait_reconnected(before, 70)
        took = time.monotonic() - ready
        self.push(2)
        self.finish()
        # Back-off: full jitter under a ceiling that doubles from 1 s (C11), and each attempt
        # made when its timer said, not later: the one pending when the server came back, too.
        with self.lst._log_cond:
            timed = list(self.lst.timed)
        plan = [(t, int(m.group(1))) for t, m in
                ((t, re.search(r"reconnect in (\d+) ms", l)) for t, l in timed) if m]
        tries = [t for t, l in timed if re.search(r"state CONNECTING$", l)][1:]
        delays = [d for _, d in plan]
        self.assertTrue(plan, "\n".join(self.lst.log))
        self.assertEqual(len(tries), len(plan), "one attempt per scheduled reconnect")
        for attempt, (at, d) in enumerate(plan):
            self.assertLessEqual(d, min(1000 << attempt, 60000), delays)
            self.assertGreaterEqual(d, 50, delays)
            self.assertAlmostEqual(tries[attempt] - at, d / 1000, delta=0.5,
                                   msg="attempt %d made when scheduled" % attempt)
        self.assertLess(took, delays[-1] / 1000 + SLACK_S, (took, delays))

    def test_server_requested_retry_after_is_honoured(self):
        self.start_all()
        self.push(2)
        self.collect()
        before = self.connects()
        connecting = len(self.lst.wait_log(r"state CONNECTING$"))
        answer = self.server.admin("links/close", instanceId=INSTANCE, code="RETRY_LATER",
                                   retryAfter=10)
        t0 = time.monotonic()
        self.assertEqual(answer["closed"], 1, answer)
        self.lst.wait_log(r"server closed the link \(6\)")
        self.lst.wait_log(r"reconnect in 10000 ms")
        self.push(2)    # offline now: stored, delivered after the pause
        self.wait_reconnected(before, 10 + 5)
        waited = time.monotonic() - t0
        self.assertGreaterEqual(waited, 10.0, "the client came back before the server's delay")
        self.assertLess(waited, 10.0 + 3)
        # One attempt after the pause, none during it.
        self.assertEqual(len(self.lst.wait_log(r"state CONNECTING$")), connecting + 1)
        self.push(1)
        self.finish()

    def test_server_retry_after_is_clamped_to_10_600_s(self):
        self.start_server()
        lows = listener_on(self.server.link_port, os.path.join(self.tmp, "low"), user=USER,
                           biz=["UCHAT"], instance="clamp_low")
        highs = listener_on(self.server.link_port, os.path.join(self.tmp, "high"), user=USER,
                            biz=["UCHAT"], instance="clamp_high")
        for lst in (lows, highs):
            lst.start()
            self.addCleanup(lst.stop)
            lst.wait_connected()
        self.server.admin("links/close", instanceId="clamp_low", code="RETRY_LATER", retryAfter=1)
        self.server.admin("links/close", instanceId="clamp_high", code="RETRY_LATER",
                          retryAfter=100000)
        lows.wait_log(r"reconnect in 10000 ms")
        highs.wait_log(r"reconnect in 600000 ms")
        time.sleep(1.5)
        for lst in (lows, highs):
            self.assertEqual(len([l for l in lst.log if re.search(CONNECTED, l)]), 1,
                             "\n".join(lst.log))


if __name__ == "__main__":
    BUILD = build_dir_from_env_or_argv()
    unittest.main()
