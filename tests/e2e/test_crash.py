"""Crash test (issue 3): a client killed with SIGKILL at random instants while oplogs stream in."""
# SPDX-License-Identifier: Apache-2.0

import os
import random
import signal
import subprocess
import sys
import tempfile
import shutil
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import CliRuns  # noqa: E402
from mpsync_harness import MockServer, build_dir_from_env_or_argv  # noqa: E402

BUILD = None
INSTANCE = "crash_app"
BIZS = ("UCHAT", "TRADE")
PER_BIZ = 1000
KILLS = 24


class Crash(unittest.TestCase):
    def test_sigkill_loses_nothing_and_never_repeats_a_reported_oplog(self):
        rnd = random.Random(int(os.environ.get("MPSYNC_CRASH_SEED", time.time())))
        tmp = tempfile.mkdtemp(prefix="mpsync-crash-")
        if not os.environ.get("MPSYNC_KEEP"):
            self.addCleanup(shutil.rmtree, tmp, True)
        else:
            print("keeping", tmp)
        biz = [{"bizType": b, "dimension": "user"} for b in BIZS]
        with MockServer(BUILD, biz=biz) as server:
            cmd = [os.path.join(BUILD, "bin", "mpsync-cli"), "listen",
                   "--server", "127.0.0.1:%d" % server.link_port, "--plaintext",
                   "--instance", INSTANCE, "--data", os.path.join(tmp, "client"),
                   "--biz", ",".join(BIZS), "--user", "crash-user", "--verbose"]

            pushed = []

            def push_all():
                for i in range(PER_BIZ):
                    for b in BIZS:
                        status, answer = server.push_single(INSTANCE, {
                            "bizType": b, "linkToken": "crash-user",
                            "thirdMsgId": "%s-%04d" % (b, i), "payload": "p%d" % i})
                        assert status == 200 and answer["success"], answer
                        pushed.append((b, i))

            pusher = threading.Thread(target=push_all)
            pusher.start()
            runs = CliRuns()
            collect = runs.collect
            seen = runs.seen
            run = 0

            def one_run(kill_after):
                nonlocal run
                run += 1
                out = open(os.path.join(tmp, "run%d.log" % run), "w+b")
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
                if kill_after is None:
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline and len(seen) < PER_BIZ * len(BIZS):
                        time.sleep(0.2)
                        collect(out, run)
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(10)
                else:
                    time.sleep(kill_after)
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(10)
                collect(out, run)
                out.close()

            for _ in range(KILLS):
                one_run(rnd.uniform(0.05, 0.6))
            pusher.join()
            one_run(None)

        self.assertEqual(len(pushed), PER_BIZ * len(BIZS))
        # 1. Every oplog was dispatched at least once.
        for b in BIZS:
            mks = sorted(mk for (bb, mk) in seen if bb == b)
            self.assertEqual(len(mks), PER_BIZ, "%s: %d of %d dispatched" % (b, len(mks), PER_BIZ))
        # 2. In order per bizType, within a run and at first sight; 3. never dispatched after
        # it was reported.
        self.assertEqual(runs.violations(BIZS), [])
        kills_with_reports = len({e[4] for e in runs.events if e[0] == "reported"})
        print("crash: %d runs, %d dispatch events, %d runs reported something"
              % (run, runs.dispatch_count(), kills_with_reports))


class Collector(unittest.TestCase):
    def test_harness_reads_every_line_of_a_run_still_writing(self):
        """The collector reads a run's file while the run writes it (the last, unkilled run);
        reading must not move the offset the child writes at, or lines are overwritten unread
        (a CI run once counted 998 of 1000 that way)."""
        lines = 200000
        tmp = tempfile.mkdtemp(prefix="mpsync-collect-")
        self.addCleanup(shutil.rmtree, tmp, True)
        out = open(os.path.join(tmp, "run1.log"), "w+b")
        self.addCleanup(out.close)
        writer = ("import os\n"
                  "for i in range(1, %d):\n"
                  "    os.write(1, b'{\"biz\":\"B\",\"mk\":%%d,\"bId\":\"t\"}\\n' %% i)\n" % (lines + 1))
        proc = subprocess.Popen([sys.executable, "-c", writer], stdout=out)
        runs = CliRuns()
        while proc.poll() is None:
            runs.collect(out, 1)
        runs.collect(out, 1)
        self.assertEqual(len(runs.seen), lines)


if __name__ == "__main__":
    BUILD = build_dir_from_env_or_argv()
    unittest.main()
