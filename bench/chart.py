#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The benchmark's chart: bulkhead's and nftables' rates as a share of no
enforcement, one group of bars a workload, written as SVG text.

    bench/chart.py results.json chart.svg

Reads the summary of bench/report.jq (medians and their ratio to the median
with no enforcement of the same run); a workload without samples is left out.
"""
import json
import sys

# (section, case, metric, label)
ROWS = [
    ("connect", "loopback", "conn_per_s", "connect, loopback (pinned)"),
    ("connect", "loopback-unpinned", "conn_per_s", "connect, loopback (unpinned)"),
    ("connect", "veth", "conn_per_s", "connect, veth (pinned)"),
    ("throughput", "udp64-loopback", "recv_pps", "64-byte UDP, loopback"),
    ("throughput", "udp64-veth", "recv_pps", "64-byte UDP, veth"),
    ("throughput", "tcp-loopback", "gbit_per_s", "TCP stream, loopback"),
    ("throughput", "tcp-veth", "gbit_per_s", "TCP stream, veth"),
    ("scale", "100000", "conn_per_s", "connect, 100k prefixes"),
    ("scale", "1000000", "conn_per_s", "connect, 1M prefixes"),
]
SERIES = [  # config per section, label, colour
    ({"connect": "bh-partner", "throughput": "bh-partner", "scale": "bulkhead"},
     "bulkhead", "#2b6cb0"),
    ({"connect": "nft-partner", "throughput": "nft-partner", "scale": "nft"},
     "nftables", "#c05621"),
]
LEFT, TOP, BAR, GAP, WIDTH, LO, HI = 230, 50, 12, 14, 420, 0.5, 1.1


def ratio(summary, sec, case, metric, cfg):
    for s in summary:
        if (s["section"], s["case"], s["metric"], s["config"]) == (sec, case, metric, cfg):
            return s.get("ratio")
    return None


def x_of(r):
    return LEFT + WIDTH * (min(max(r, LO), HI) - LO) / (HI - LO)


def bars(summary):
    out, y = [], TOP
    for sec, case, metric, label in ROWS:
        vals = [ratio(summary, sec, case, metric, cfgs[sec]) for cfgs, _, _ in SERIES]
        if all(v is None for v in vals):
            continue
        out.append(f'<text x="{LEFT - 8}" y="{y + BAR + 4}" text-anchor="end">{label}</text>')
        for v, (_, name, colour) in zip(vals, SERIES):
            if v is not None:
                out.append(f'<rect x="{LEFT}" y="{y}" width="{x_of(v) - LEFT:.1f}" '
                           f'height="{BAR}" fill="{colour}"><title>{name}: '
                           f'{v * 100:.1f} %</title></rect>')
                out.append(f'<text x="{x_of(v) + 4:.1f}" y="{y + BAR - 2}">{v * 100:.1f} %</text>')
            y += BAR
        y += GAP
    return out, y


def svg(results):
    body, y = bars(results["summary"])
    h = y + 40
    axis = []
    for t in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1):
        x = x_of(t)
        dash = "" if t == 1.0 else ' stroke-dasharray="2,3"'
        axis.append(f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{y}" stroke="#888"{dash}/>')
        axis.append(f'<text x="{x:.1f}" y="{y + 14}" text-anchor="middle">{t * 100:.0f} %</text>')
    legend = []
    for i, (_, name, colour) in enumerate(SERIES):
        legend.append(f'<rect x="{LEFT + 160 * i}" y="{h - 18}" width="10" height="10" fill="{colour}"/>')
        legend.append(f'<text x="{LEFT + 160 * i + 14}" y="{h - 9}">{name}, partner</text>')
    m = results.get("machine", {})
    title = (f"Rate as a share of no enforcement (medians; {m.get('rounds', '?')} rounds, "
             f"{m.get('date', '')}, bulkhead {m.get('bulkhead', '')})")
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{LEFT + WIDTH + 80}" height="{h}" '
        'font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="10" y="20" font-size="13">{title}</text>',
        *axis, *body, *legend, "</svg>", ""])


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: chart.py results.json chart.svg")
    with open(sys.argv[1]) as f:
        results = json.load(f)
    with open(sys.argv[2], "w") as f:
        f.write(svg(results))


if __name__ == "__main__":
    main()
