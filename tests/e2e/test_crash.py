"""Crash test (issue 3): a client killed with SIGKILL at random instants while oplogs stream in."""
# SPDX-License-Identifier: Apache-2.0

import json
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
            events = []  # ("dispatch", biz, mk, run) and ("reported", biz, upto, run)
            run = 0
            seen = set()

            def one_run(kill_after):
                nonlocal run
                run += 1
                out = open(os.path.join(tmp, "run%d.log" % run), "w+b")
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
                if kill_after is None:
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline and len(seen) < PER_BIZ * len(BIZS):
                        time.sleep(0.2)
                        collect(out, run, final=False)
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(10)
                else:
                    time.sleep(kill_after)
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(10)
                collect(out, run, final=True)
                out.close()

            offsets = {}

            def collect(out, run_no, final):
                out.flush()
                out.seek(offsets.get(run_no, 0))
                data = out.read()
                end = data.rfind(b"\n") + 1
                offsets[run_no] = offsets.get(run_no, 0) + end
                for line in data[:end].decode("utf-8", "replace").splitlines():
                    if line.startswith("{"):
                        o = json.loads(line)
                        events.append(("dispatch", o["biz"], o["mk"], run_no))
                        seen.add((o["biz"], o["mk"]))
                    elif "reported " in line:
                        # "mpsync-cli: reported BIZ message LASTROW,LASTMK,DELIVERY"
                        parts = line.split()
                        b, msg_id = parts[2], parts[4]
                        events.append(("reported", b, int(msg_id.split(",")[1]), run_no))

            for _ in range(KILLS):
                one_run(rnd.uniform(0.05, 0.6))
            pusher.join()
            one_run(None)

        self.assertEqual(len(pushed), PER_BIZ * len(BIZS))
        # 1. Every oplog was dispatched at least once.
        for b in BIZS:
            mks = sorted(mk for (bb, mk) in seen if bb == b)
            self.assertEqual(len(mks), PER_BIZ, "%s: %d of %d dispatched" % (b, len(mks), PER_BIZ))
        # 2. In order per bizType: within a run ids rise; the first dispatch of each id rises.
        last_in_run = {}
        first_seen = {b: 0 for b in BIZS}
        firsts = set()
        reported_upto = {b: 0 for b in BIZS}
        for kind, b, mk, run_no in events:
            if kind == "reported":
                reported_upto[b] = max(reported_upto[b], mk)
                continue
            # 3. Never dispatched after it was reported.
            self.assertGreater(mk, reported_upto[b],
                               "%s mk %d dispatched in run %d after it was reported" % (b, mk, run_no))
            key = (b, run_no)
            self.assertGreater(mk, last_in_run.get(key, 0), "%s out of order in run %d" % (b, run_no))
            last_in_run[key] = mk
            if (b, mk) not in firsts:
                firsts.add((b, mk))
                self.assertGreater(mk, first_seen[b], "%s: new oplog %d after %d" % (b, mk, first_seen[b]))
                first_seen[b] = mk
        kills_with_reports = len({r for (k, _, _, r) in events if k == "reported"})
        print("crash: %d runs, %d dispatch events, %d runs reported something"
              % (run, sum(1 for e in events if e[0] == "dispatch"), kills_with_reports))


if __name__ == "__main__":
    BUILD = build_dir_from_env_or_argv()
    unittest.main()
