#!/usr/bin/env python3
"""Reads `just bench` reports (their Markdown tables).

    bench/summary.py pick REPORT...   which report is the median run: the one whose ruwsgi
                                      rows stand, against the best peer of each workload
                                      and worker count, in the middle of the runs (the
                                      geometric mean of ruwsgi req/s ÷ best peer req/s)
    bench/summary.py table REPORT     the README's table for that report: ruwsgi's row and
                                      the best peer's (the fastest non-nginx row that is not
                                      ruwsgi) for every workload and worker count, and for
                                      the static file nginx's beside it
"""

import math
import re
import sys
from pathlib import Path

WORKLOADS = {
    "hello": "hello world",
    "django": "Django view",
    "flask": "Flask view",
    "cpu": "3 ms view",
    "64k": "64 KiB response",
    "upload": "1 MiB upload",
    "headers": "browser headers",
    "static": "16 KiB static file",
    "nginx-cpu": "3 ms view behind nginx",
    "nginx-sleep": "200 ms view behind nginx",
}


def rows(report: str):
    """{(workload, workers): [row dict]} from the report's tables."""
    out = {}
    workload = None
    header = None
    for line in report.splitlines():
        m = re.match(r"^## (\S+): ", line)
        if m:
            workload, header = m.group(1), None
            continue
        if workload is None or not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "server":
            header = cells
            continue
        if (
            header is None
            or "req/s" not in header
            or len(cells) != len(header)
            or not cells[1].isdigit()
        ):
            continue
        row = dict(zip(header, cells))
        try:
            row["rps"] = float(row["req/s"].replace(",", ""))
        except ValueError:
            continue  # a failed row
        out.setdefault((workload, int(cells[1])), []).append(row)
    return out


def is_ruwsgi(row):
    return row["server"] == "ruwsgi"


def is_peer(row):
    s = row["server"]
    return not s.startswith("ruwsgi") and not s.startswith("nginx")


def pairs(report: str):
    """(workload, workers, ruwsgi row, best peer row) for each group with both."""
    for (workload, workers), group in rows(report).items():
        ours = [r for r in group if is_ruwsgi(r)]
        peers = [r for r in group if is_peer(r)]
        if ours and peers:
            yield workload, workers, ours[0], max(peers, key=lambda r: r["rps"])


def score(report: str) -> float:
    ratios = [ours["rps"] / peer["rps"] for _, _, ours, peer in pairs(report) if peer["rps"]]
    return math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else 0.0


def pick(paths):
    scored = sorted((score(Path(p).read_text()), p) for p in paths)
    for s, p in scored:
        print(f"{s:.3f}  {p}")
    print(f"median: {scored[len(scored) // 2][1]}")


def cell(row, nginx: bool):
    text = row["req/s"]
    if nginx:
        key = "max ms" if float(row["rps"]) < 100 else "p99 ms"
        if key == "max ms":
            text += f" (max {float(row[key]) / 1000:.1f} s)"
        else:
            text += f" (p99 {float(row[key]):.0f} ms)"
    return text


def cpu_cell(row, workload: str) -> str:
    """CPU per request as the README writes it: none for the sleeping view (it measures
    sleep), whole microseconds from 1,000 up."""
    if workload == "nginx-sleep":
        return "–"
    value = float(row["CPU µs/req"].replace(",", ""))
    return f"{value:,.0f}" if value >= 1000 else f"{value:.1f}"


def table(path):
    report = Path(path).read_text()
    print("| workload | workers | ruwsgi req/s | CPU µs/req | worker shares | best peer req/s | its CPU µs/req |")
    print("|---|---:|---:|---:|---:|---|---:|")
    order = {name: i for i, name in enumerate(WORKLOADS)}
    groups = rows(report)
    for workload, workers, ours, peer in sorted(
        pairs(report), key=lambda p: (order.get(p[0], 99), p[1])
    ):
        nginx = workload.startswith("nginx")
        share = ours["worker share"] if workers > 1 else "–"
        name = peer["server"]
        if " --" in name:
            server, flags = name.split(" --", 1)
            name = f"{server} `--{flags}`"
        # Files: nginx serving the same file is the yardstick beside the peers.
        beside = [r for r in groups[(workload, workers)] if r["server"] == "nginx static"]
        also = f" (nginx {beside[0]['req/s']})" if beside else ""
        print(
            f"| {WORKLOADS.get(workload, workload)} | {workers} | {cell(ours, nginx)} "
            f"| {cpu_cell(ours, workload)} | {share} | {name} {cell(peer, nginx)}{also} "
            f"| {cpu_cell(peer, workload)} |"
        )


def main() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "pick":
        pick(sys.argv[2:])
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "table":
        table(sys.argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
