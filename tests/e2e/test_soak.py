"""Soak (issue 13): random kill -9s of both the client (mpsync-cli) and the mock server while
pushes stream in; nothing missing, order kept per stream, nothing dispatched after its report."""
# SPDX-License-Identifier: Apache-2.0

import http.client
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import CliRuns  # noqa: E402
from mpsync_harness import FixedPortServer, build_dir_from_env_or_argv, free_port  # noqa: E402

BUILD = None
INSTANCE = "soak_app"
USER = "soak-user"
BIZS = ("UCHAT", "TRADE")
# MPSYNC_SOAK_SECONDS: how long the kills go on (60 s in the test command; the long run is in
# docs/RELIABILITY.md). MPSYNC_SOAK_SEED replays a run.
SECONDS = float(os.environ.get("MPSYNC_SOAK_SECONDS", "60"))


class Pusher(threading.Thread):
    """Pushes UCHAT-n and TRADE-n in turn until stopped, through server kills: a push that got no
    answer is sent again with the same thirdMsgId, which the server deduplicates."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server = server
        self.stop = threading.Event()
        self.confirmed = {b: [] for b in BIZS}   # thirdMsgIds the server said it stored
        self.error = None

    def push_one(self, biz, third):
        # Until answered, even when stopped: an unanswered push may or may not be stored.
        while True:
            try:
                status, answer = self.server.push_single(INSTANCE, {
                    "bizType": biz, "linkToken": USER, "thirdMsgId": third, "payload": third})
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)   # the server is down, or died mid-answer
                continue
            # success: stored (for a device offline now too); DUPLICATED_BIZ_ID: by the first try
            if status == 200 and isinstance(answer, dict) and answer.get("success") is True:
                return
            raise AssertionError("push %s answered %r %r" % (third, status, answer))

    def run(self):
        n = 0
        try:
            while not self.stop.is_set():
                for biz in BIZS:
                    third = "%s-%06d" % (biz, n)
                    self.push_one(biz, third)
                    self.confirmed[biz].append(third)
                n += 1
                time.sleep(0.005)
        except AssertionError as e:
            self.error = e


class Soak(unittest.TestCase):
    def test_random_kill9_of_client_and_server_loses_nothing(self):
        seed = int(os.environ.get("MPSYNC_SOAK_SEED", time.time()))
        rnd = random.Random(seed)
        tmp = tempfile.mkdtemp(prefix="mpsync-soak-")
        if os.environ.get("MPSYNC_KEEP"):
            print("keeping", tmp)
        else:
            self.addCleanup(shutil.rmtree, tmp, True)
        biz = [{"bizType": b, "dimension": "user"} for b in BIZS]
        os.makedirs(os.path.join(tmp, "server"))
        # The server's data outlives its kills: same directory, same link port at every start.
        server = FixedPortServer(BUILD, biz=biz, link_port=free_port(),
                                 data_dir=os.path.join(tmp, "server"))
        server.start()
        self.addCleanup(server.cleanup)
        cmd = [os.path.join(BUILD, "bin", "mpsync-cli"), "listen",
               "--server", "127.0.0.1:%d" % server.fixed_link_port, "--plaintext",
               "--instance", INSTANCE, "--data", os.path.join(tmp, "client"),
               "--biz", ",".join(BIZS), "--user", USER, "--verbose"]
        runs = CliRuns()
        collect = runs.collect

        pusher = Pusher(server)
        pusher.start()
        client_kills = server_kills = run = 0
        proc = out = None
        deadline = time.monotonic() + SECONDS
        try:
            while time.monotonic() < deadline:
                if proc is None:
                    run += 1
                    out = open(os.path.join(tmp, "run%d.log" % run), "w+b")
                    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
                time.sleep(rnd.uniform(0.05, 1.0))
                if rnd.random() < 0.7:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(10)
                    collect(out, run)
                    out.close()
                    proc = None
                    client_kills += 1
                else:
                    server.kill()
                    server_kills += 1
                    time.sleep(rnd.uniform(0.05, 0.8))
                    server.start()
        finally:
            pusher.stop.set()
            pusher.join(60)
        if proc is not None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            collect(out, run)
            out.close()
        # A last run, left alone until everything confirmed has arrived.
        run += 1
        out = open(os.path.join(tmp, "run%d.log" % run), "w+b")
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        want = {b: set(pusher.confirmed[b]) for b in BIZS}
        until = time.monotonic() + 90
        while time.monotonic() < until and any(want[b] - runs.thirds.get(b, set()) for b in BIZS):
            time.sleep(0.3)
            collect(out, run)
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        collect(out, run)
        out.close()
        server.stop()

        self.assertIsNone(pusher.error)
        pushes = sum(len(v) for v in pusher.confirmed.values())
        missing = sum(len(want[b] - runs.thirds.get(b, set())) for b in BIZS)
        violations = runs.violations(BIZS)
        print("soak (seed %d, %.0f s): %d client kills, %d server kills, %d pushes, %d dispatch "
              "events, missing=%d, violations=%d"
              % (seed, SECONDS, client_kills, server_kills, pushes,
                 runs.dispatch_count(), missing, len(violations)))
        self.assertGreater(client_kills, 0)
        self.assertGreater(server_kills, 0)
        self.assertEqual(missing, 0, "missing: %r" % {
            b: sorted(want[b] - runs.thirds.get(b, set()))[:10] for b in BIZS})
        self.assertEqual(violations, [])


if __name__ == "__main__":
    BUILD = build_dir_from_env_or_argv()
    unittest.main(verbosity=2)
