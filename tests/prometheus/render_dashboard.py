#!/usr/bin/env python3
"""Draws the Grafana dashboard's panels from a metrics snapshot as one PNG.

    python3 tests/prometheus/render_dashboard.py SNAPSHOT.json docs/metrics-dashboard.png

SNAPSHOT.json is written by tests/observability.rs when LIVEPACK_METRICS_SNAPSHOT is set:
every panel query of config/grafana/dashboards/livepack.json evaluated by a real Prometheus
over the test's run (query_range, 1 s step). Grafana itself is not installable here; this
shows the same queries, panel by panel, in the dashboard's rows.
"""

import json
import math
import re
import sys
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLS = 4


def legend(fmt, metric):
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt or "")
    return text.strip() or json.dumps(metric)


def unit_scale(unit, peak):
    """(factor, axis label) for a Grafana unit and the largest value shown."""
    if unit == "s":
        for limit, factor, label in ((1, 1000.0, "ms"), (120, 1.0, "seconds"),
                                     (7200, 1 / 60, "minutes")):
            if peak < limit:
                return factor, label
        return 1 / 3600, "hours"
    return {
        "bytes": (1 / 2**20, "MiB"),
        "percentunit": (100.0, "%"),
        "ops": (1.0, "per second"),
        "reqps": (1.0, "requests / s"),
        "suffix: ₫": (1 / 1000.0, "thousand VND"),
    }.get(unit, (1.0, ""))


def number(v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x


def panels_of(snapshot):
    rows = OrderedDict()
    for q in snapshot["queries"]:
        row = rows.setdefault(q["row"], OrderedDict())
        row.setdefault(q["panel"], []).append(q)
    return rows


def peak_of(queries):
    vals = [abs(number(v)) for q in queries for s in q["result"] for _, v in s["values"]]
    vals = [v for v in vals if not math.isnan(v)]
    return max(vals) if vals else 0.0


def draw(ax, panel, queries, start):
    unit, kind = queries[0]["unit"], queries[0].get("kind", "timeseries")
    factor, label = unit_scale(unit, peak_of(queries))
    ax.set_title(panel, fontsize=10, loc="left")
    if kind in ("bargauge", "stat"):
        names, values = [], []
        for q in queries:
            for s in q["result"]:
                last = [number(v) for _, v in s["values"] if not math.isnan(number(v))]
                names.append(legend(q["legend"], s["metric"]))
                values.append((last[-1] if last else 0.0) * factor)
        if kind == "stat":
            ax.axis("off")
            for i, (n, v) in enumerate(zip(names, values)):
                ax.text(0.02, 0.8 - i * 0.28, f"{v:,.0f}", fontsize=22, weight="bold",
                        transform=ax.transAxes, color="#1f77b4")
                ax.text(0.45, 0.82 - i * 0.28, n, fontsize=10, transform=ax.transAxes)
            return
        ax.barh(range(len(values)), values, color="#2ca02c", height=0.6)
        ax.set_yticks([])
        ax.invert_yaxis()
        top = max(values + [1e-9])
        for i, (n, v) in enumerate(zip(names, values)):
            ax.text(0, i - 0.38, n, fontsize=8, va="bottom")
            ax.text(v, i, f" {v:,.0f}", va="center", fontsize=8)
        ax.set_xlabel(label, fontsize=8)
        ax.set_xlim(0, 110 if unit == "percentunit" else top * 1.25)
        ax.set_ylim(len(values) - 0.4, -0.9)
        ax.tick_params(labelsize=7)
        return
    plotted = 0
    for q in queries:
        for s in q["result"]:
            xs = [float(t) - start for t, _ in s["values"]]
            ys = [number(v) * factor for _, v in s["values"]]
            ax.plot(xs, ys, linewidth=1.6, label=legend(q["legend"], s["metric"]))
            plotted += 1
    if panel.startswith("Ack latency"):
        ax.axhline(250, color="red", linewidth=1, linestyle="--", label="target 250 ms")
    if plotted <= 8:
        ax.legend(fontsize=7, loc="best")
    ax.set_ylabel(label, fontsize=8)
    ax.set_xlabel("seconds into the run", fontsize=8)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7)


def main(src, dst):
    with open(src, encoding="utf-8") as f:
        snapshot = json.load(f)
    rows = panels_of(snapshot)
    lines = sum(math.ceil(len(p) / COLS) for p in rows.values())
    heights = []
    for panels in rows.values():
        heights += [0.22] + [1.0] * math.ceil(len(panels) / COLS)
    fig = plt.figure(figsize=(5 * COLS, 3.0 * sum(heights) + 0.6), layout="constrained")
    grid = fig.add_gridspec(len(heights), COLS, height_ratios=heights)
    line = 0
    for row, panels in rows.items():
        head = fig.add_subplot(grid[line, :])
        head.axis("off")
        head.text(0, 0.1, row, fontsize=15, weight="bold")
        line += 1
        for i, (panel, queries) in enumerate(panels.items()):
            ax = fig.add_subplot(grid[line + i // COLS, i % COLS])
            draw(ax, panel, queries, snapshot["start"])
        line += math.ceil(len(panels) / COLS)
    fig.suptitle(f"livepack dashboard (config/grafana) from Prometheus — site {snapshot['site']}, "
                 f"{len(snapshot['queries'])} queries over a {snapshot['end'] - snapshot['start']:.0f} s test run",
                 fontsize=14)
    fig.savefig(dst, dpi=70, bbox_inches="tight")
    print(f"wrote {dst}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
