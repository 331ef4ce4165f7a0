#!/usr/bin/env python3
# Turns mpsync-bench --json output into PNG charts: latency per TLS mode, drain rate and per-oplog cost against backlog size, with the peer beside them.
# SPDX-License-Identifier: Apache-2.0
"""Usage: bench_charts.py OUTDIR RUN.json [RUN.json ...]

Each RUN.json is one `mpsync-bench --json` object (one run). Runs with different `--n` give the
backlog-size axis; the latency chart uses the run with the largest latency sample count. A run
with `--peer` puts mosquitto beside the SDK. Writes OUTDIR/bench-latency.png and
OUTDIR/bench-drain.png and prints their paths. Exit 77 when matplotlib is missing (Debian:
python3-matplotlib), so that CTest reports a skip rather than a failure.
"""
import json
import os
import sys

MODES = (("off", "TLS off"), ("on", "TLS on"))
QUANTILES = ("p50", "p99", "p999")


def load(paths):
    runs = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            run = json.load(f)
        if run.get("schema") != "mpsync-bench/1":
            raise SystemExit(f"{p}: not mpsync-bench/1 output")
        runs.append(run)
    return runs


def mode_figure(run, mode, key):
    m = (run.get("by_tls") or {}).get(mode)
    return m.get(key) if m else None


def latency_chart(plt, runs, out):
    # The latency loop is the same whatever --n was: take the run with the most samples.
    def samples(r):
        return max((mode_figure(r, m, "e2e_latency_us") or {}).get("samples", 0) for m, _ in MODES)
    run = max(runs, key=samples)
    series = []
    for mode, label in MODES:
        lat = mode_figure(run, mode, "e2e_latency_us")
        if lat:
            series.append((f"libmpsync, {label}", [lat[q] for q in QUANTILES]))
    peer = run.get("peer_mosquitto") or {}
    if peer.get("latency_us"):
        series.append(("mosquitto QoS 1 (peer)", [peer["latency_us"][q] for q in QUANTILES]))
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(series), 1)
    for i, (label, values) in enumerate(series):
        xs = [k + (i - (len(series) - 1) / 2) * width for k in range(len(QUANTILES))]
        bars = ax.bar(xs, values, width, label=label)
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=7, padding=2)
    ax.set_xticks(range(len(QUANTILES)), QUANTILES)
    ax.set_yscale("log")
    ax.set_ylabel("push → callback (µs, log scale)")
    n = samples(run)
    ax.set_title(f"Push → callback latency, {n} pushes per mode")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def drain_chart(plt, runs, out):
    fig, (rate_ax, cost_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for mode, label in MODES:
        points = sorted((r["params"]["n"], mode_figure(r, mode, "backlog_drain_ops_per_s"))
                        for r in runs if mode_figure(r, mode, "backlog_drain_ops_per_s"))
        if not points:
            continue
        ns = [n for n, _ in points]
        rate_ax.plot(ns, [v for _, v in points], marker="o", label=f"libmpsync, {label}")
        cost_ax.plot(ns, [1e6 / v for _, v in points], marker="o", label=f"libmpsync, {label}")
    peers = sorted((r["params"]["n"], r["peer_mosquitto"]["drain_msgs_per_s"]) for r in runs
                   if (r.get("peer_mosquitto") or {}).get("drain_msgs_per_s"))
    if peers:
        ns = [n for n, _ in peers]
        rate_ax.plot(ns, [v for _, v in peers], marker="s", linestyle="--",
                     label="mosquitto QoS 1 (peer)")
        cost_ax.plot(ns, [1e6 / v for _, v in peers], marker="s", linestyle="--",
                     label="mosquitto QoS 1 (peer)")
    for ax in (rate_ax, cost_ax):
        ax.set_xscale("log")
        ax.set_xlabel("backlog waiting at connect (oplogs)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        top = max((max(line.get_ydata()) for line in ax.get_lines()), default=1)
        ax.set_ylim(0, top * 1.15)  # from zero, so that ratios read true; room above the top point
    rate_ax.set_ylabel("drain rate (oplogs/s)")
    rate_ax.set_title("Backlog drain rate")
    cost_ax.set_ylabel("µs per oplog")
    cost_ax.set_title("Cost per oplog")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import matplotlib
        matplotlib.use("Agg")  # no display: files only
        import matplotlib.pyplot as plt
    except ImportError:
        # Debian's python3-matplotlib lives in Debian's interpreter, which a pyenv or venv python3
        # first on PATH does not see: try that one before giving up.
        system = "/usr/bin/python3"
        if os.path.realpath(sys.executable) != os.path.realpath(system) and os.access(system, os.X_OK):
            os.execv(system, [system] + argv)
        print("bench_charts: matplotlib is not installed (Debian: apt-get install "
              "python3-matplotlib); no charts made", file=sys.stderr)
        return 77
    outdir = argv[1]
    runs = load(argv[2:])
    os.makedirs(outdir, exist_ok=True)
    made = []
    for name, chart in (("bench-latency.png", latency_chart), ("bench-drain.png", drain_chart)):
        path = os.path.join(outdir, name)
        chart(plt, runs, path)
        made.append(path)
    print("\n".join(made))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
