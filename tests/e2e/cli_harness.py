"""Runs mpsync-cli listen as a test client: collects its JSON lines, watches its log, stops it."""
# SPDX-License-Identifier: Apache-2.0

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time


class Listener:
    """One `mpsync-cli listen` process against a MockServer's link port."""

    def __init__(self, build_dir, server, data_dir, biz, instance="test_app", user=None,
                 session=None, device=None, os_type=None, app_version=None, report=True,
                 count=None):
        self.cmd = [os.path.join(build_dir, "bin", "mpsync-cli"), "listen",
                    "--server", "127.0.0.1:%d" % server.link_port, "--plaintext",
                    "--instance", instance, "--data", data_dir, "--biz", ",".join(biz),
                    "--verbose"]
        for flag, value in (("--user", user), ("--session", session), ("--device", device),
                            ("--os", os_type), ("--app-version", app_version),
                            ("--count", count)):
            if value is not None:
                self.cmd += [flag, str(value)]
        if not report:
            self.cmd.append("--no-report")
        self.proc = None
        self.lines = queue.Queue()
        self.log = []
        self._log_cond = threading.Condition()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, encoding="utf-8")
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        return self

    def _read_out(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def _read_err(self):
        for line in self.proc.stderr:
            with self._log_cond:
                self.log.append(line.rstrip("\n"))
                self._log_cond.notify_all()

    def wait_log(self, pattern, timeout=10.0, count=1):
        """Waits until `count` log lines match the regex; returns them."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._log_cond:
            while True:
                hits = [l for l in self.log if rx.search(l)]
                if len(hits) >= count:
                    return hits
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no log line /%s/ within %.1fs; log:\n%s"
                                         % (pattern, timeout, "\n".join(self.log)))
                self._log_cond.wait(left)

    def wait_connected(self, timeout=10.0):
        return self.wait_log(r"state CONNECTED", timeout)

    def take(self, n, timeout=10.0):
        """The next n oplog lines, in arrival order."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            try:
                out.append(self.lines.get(timeout=max(left, 0.01)))
            except queue.Empty:
                raise AssertionError("got %d of %d oplogs; log:\n%s"
                                     % (len(out), n, "\n".join(self.log)))
        return out

    def expect_nothing(self, seconds=1.0):
        try:
            line = self.lines.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError("unexpected oplog %r" % (line,))

    def wait_exit(self, timeout=10.0):
        return self.proc.wait(timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            for pipe in (self.proc.stdout, self.proc.stderr):
                if pipe and not pipe.closed:
                    try:
                        pipe.close()
                    except OSError:
                        pass
        return self.proc.returncode if self.proc else None


class CliRuns:
    """What successive `mpsync-cli listen --verbose` runs printed, each into its own file: oplogs
    dispatched and messages reported, in order, read as the files grow (a run killed with -9
    leaves a last line cut short: only whole lines count)."""

    def __init__(self):
        # ("dispatch", biz, mk, thirdMsgId, run) and ("reported", biz, upto_mk, None, run)
        self.events = []
        self.seen = set()  # (biz, mk) dispatched at least once
        self.thirds = {}   # biz -> thirdMsgIds dispatched at least once
        self._offsets = {}

    def collect(self, out, run_no):
        # pread, not seek + read: the child writes through the same open file description, so
        # moving its offset while the child runs would make the child overwrite unread lines.
        start = self._offsets.get(run_no, 0)
        chunks = []
        while True:
            chunk = os.pread(out.fileno(), 1 << 20, start + sum(map(len, chunks)))
            if not chunk:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        end = data.rfind(b"\n") + 1
        self._offsets[run_no] = self._offsets.get(run_no, 0) + end
        for line in data[:end].decode("utf-8", "replace").splitlines():
            if line.startswith("{"):
                o = json.loads(line)
                self.events.append(("dispatch", o["biz"], o["mk"], o["bId"], run_no))
                self.seen.add((o["biz"], o["mk"]))
                self.thirds.setdefault(o["biz"], set()).add(o["bId"])
            elif "reported " in line:
                # "mpsync-cli: reported BIZ message LASTROW,LASTMK,DELIVERY"
                parts = line.split()
                self.events.append(("reported", parts[2], int(parts[4].split(",")[1]), None, run_no))

    def violations(self, bizs):
        """Breaks of the promises across kills: nothing dispatched after its report (C5); ids
        rise within a run and at first sight, per bizType (C4)."""
        found = []
        reported_upto = {b: 0 for b in bizs}
        last_in_run = {}
        first_seen = {b: 0 for b in bizs}
        firsts = set()
        for kind, b, mk, _, run_no in self.events:
            if kind == "reported":
                reported_upto[b] = max(reported_upto[b], mk)
                continue
            if mk <= reported_upto[b]:
                found.append("%s mk %d dispatched in run %d after its report" % (b, mk, run_no))
            if mk <= last_in_run.get((b, run_no), 0):
                found.append("%s mk %d out of order in run %d" % (b, mk, run_no))
            last_in_run[(b, run_no)] = mk
            if (b, mk) not in firsts:
                firsts.add((b, mk))
                if mk <= first_seen[b]:
                    found.append("%s: new oplog %d after %d" % (b, mk, first_seen[b]))
                first_seen[b] = mk
        return found

    def dispatch_count(self):
        return sum(1 for e in self.events if e[0] == "dispatch")
