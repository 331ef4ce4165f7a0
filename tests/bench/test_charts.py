#!/usr/bin/env python3
# CTest: scripts/bench_charts.py turns committed mpsync-bench --json samples into the PNG charts; skipped (77) without matplotlib.
# SPDX-License-Identifier: Apache-2.0
import glob
import os
import subprocess
import sys
import tempfile

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def main():
    src = sys.argv[1]
    script = os.path.join(src, "scripts", "bench_charts.py")
    samples = sorted(glob.glob(os.path.join(src, "tests", "bench", "sample-*.json")))
    if len(samples) < 2:
        print("need at least two sample runs (two backlog sizes)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="mpsync-charts-") as out:
        r = subprocess.run([sys.executable, script, out] + samples, capture_output=True, text=True)
        sys.stderr.write(r.stderr)
        if r.returncode == 77:
            print("SKIP: matplotlib is missing (scripts/deps.sh python3-matplotlib)")
            return 77
        if r.returncode != 0:
            print(f"bench_charts.py exited {r.returncode}", file=sys.stderr)
            return 1
        want = {os.path.join(out, n) for n in ("bench-latency.png", "bench-drain.png")}
        if set(r.stdout.split()) != want:
            print(f"printed {r.stdout.split()}, want {sorted(want)}", file=sys.stderr)
            return 1
        for path in sorted(want):
            with open(path, "rb") as f:
                data = f.read()
            # A chart with its axes, labels and data is tens of kB; an empty figure is a few.
            if not data.startswith(PNG_SIGNATURE) or len(data) < 15000:
                print(f"{path}: not a PNG chart ({len(data)} bytes)", file=sys.stderr)
                return 1
        # A file that is not bench output is refused, not drawn as an empty chart.
        bogus = os.path.join(out, "bogus.json")
        with open(bogus, "w") as f:
            f.write('{"schema": "something-else"}')
        r = subprocess.run([sys.executable, script, out, bogus], capture_output=True, text=True)
        if r.returncode == 0:
            print("a JSON that is not mpsync-bench output was accepted", file=sys.stderr)
            return 1
    print("ok: both charts made from", len(samples), "runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
