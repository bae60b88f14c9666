#!/usr/bin/env python3
"""Draws a `just bench` report as an SVG chart: for every workload and worker count, each
server's requests per second as a fraction of the fastest row, ruwsgi's bar first and
marked. No dependencies: the report's Markdown tables are the input.

    bench/chart.py docs/benchmarks/REPORT.md docs/benchmarks.svg
"""

import html
import re
import sys
from pathlib import Path

BAR_H = 13
GAP = 4
LEFT = 290
WIDTH = 900
PLOT = WIDTH - LEFT - 120


def tables(report: str):
    """(workload title, [(server, workers, req/s)]) for each workload section whose table
    has `workers` and `req/s` columns (the reload section's table has neither)."""
    section = None
    header = []
    rows = []
    out = []
    for line in report.splitlines():
        m = re.match(r"^## (\S+): (.*)$", line)
        if m:
            if section and rows:
                out.append((section, rows))
            section, header, rows = f"{m.group(1)}: {m.group(2)}", [], []
            continue
        if section is None or not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "server":
            header = cells
            continue
        if "workers" not in header or "req/s" not in header or len(cells) != len(header):
            continue
        row = dict(zip(header, cells))
        if not row["workers"].isdigit():
            continue
        try:
            rps = float(row["req/s"].replace(",", ""))
        except ValueError:
            continue  # a failed row
        rows.append((row["server"], int(row["workers"]), rps))
    if section and rows:
        out.append((section, rows))
    return out


def svg(report: str) -> str:
    parts = []
    y = 40
    for title, rows in tables(report):
        parts.append(f'<text x="10" y="{y}" class="h">{html.escape(title)}</text>')
        y += 8
        for workers in sorted({w for _, w, _ in rows}):
            group = [r for r in rows if r[1] == workers]
            best = max(r[2] for r in group) or 1.0
            group.sort(key=lambda r: (not r[0].startswith("ruwsgi"), -r[2]))
            y += 6 + BAR_H
            parts.append(f'<text x="10" y="{y}" class="w">{workers} worker(s)</text>')
            for server, _, rps in group:
                y += BAR_H + GAP
                width = PLOT * rps / best
                cls = "r" if server.startswith("ruwsgi") else "p"
                parts.append(
                    f'<text x="{LEFT - 6}" y="{y - 3}" class="l">{html.escape(server)}</text>'
                    f'<rect x="{LEFT}" y="{y - BAR_H}" width="{width:.1f}" height="{BAR_H}" class="{cls}"/>'
                    f'<text x="{LEFT + width + 4:.1f}" y="{y - 3}" class="v">{rps:,.0f} req/s</text>'
                )
        y += 24
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y}" '
        f'viewBox="0 0 {WIDTH} {y}" font-family="sans-serif">'
        "<style>.h{font-size:14px;font-weight:bold}.w{font-size:11px;fill:#555}"
        ".l{font-size:11px;text-anchor:end}.v{font-size:10px;fill:#333}"
        ".r{fill:#c0392b}.p{fill:#7f8c8d}</style>"
        f'<rect width="{WIDTH}" height="{y}" fill="white"/>'
        '<text x="10" y="20" class="h">requests per second, median of the rounds '
        "(ruwsgi in red; each group scaled to its fastest row)</text>"
    )
    return head + "".join(parts) + "</svg>\n"


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    report = Path(sys.argv[1]).read_text()
    if not tables(report):
        print(f"{sys.argv[1]}: no bench tables found", file=sys.stderr)
        return 1
    Path(sys.argv[2]).write_text(svg(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
