#!/usr/bin/env python3
"""Charts of a `just bench` run (issue #9), drawn from the run's JSON as plain SVG.

    scripts/bench-charts.py RESULTS_DIR OUT_DIR [SUBTITLE]

Reads what RESULTS_DIR holds (reads.json, checkout.json, startup.json from `just bench`;
growth.json from `just bench-growth`) and writes, into OUT_DIR, one chart per source found:

    throughput-ratios.svg  reads: BFF ÷ raw gRPC, peer ÷ raw gRPC, BFF ÷ peer (closed loop)
    latency-vs-load.svg    checkout: p50 / p99 placed→CONFIRMED against the offered rate
    startup.svg            exec→ready of each process against the 500 ms target
    catalog-growth.svg     catalog page p50 / p99 against catalog size, page 1 and the deep page

Standard library only (the tools venv has no plotting library, and a new clone should not
need one): the SVG is written by hand, so a chart is a few rectangles, lines and labels.
"""

import html
import json
import math
import pathlib
import sys

WIDTH = 760
FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'"
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]


def esc(text):
    return html.escape(str(text), quote=True)


def svg(height, body, title, subtitle):
    head = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}' "
        f"viewBox='0 0 {WIDTH} {height}' {FONT} font-size='12'>",
        f"<rect width='{WIDTH}' height='{height}' fill='white'/>",
        f"<text x='12' y='22' font-size='15' font-weight='bold'>{esc(title)}</text>",
    ]
    for i, line in enumerate(subtitle.split("\n")):
        head.append(f"<text x='12' y='{38 + 14 * i}' font-size='11' fill='#555'>{esc(line)}</text>")
    return "\n".join(head + body + ["</svg>", ""])


def bars(rows, title, subtitle, unit, marks=()):
    """Horizontal bars: rows of (label, value, colour); marks are (value, label) lines."""
    left, right, top, row_h = 330, 70, 72, 24
    height = top + row_h * len(rows) + 30 + 13 * len(marks)
    top_value = max([v for _, v, _ in rows] + [m for m, _ in marks] + [1e-9]) * 1.1
    scale = (WIDTH - left - right) / top_value
    body = []
    for i, (label, value, colour) in enumerate(rows):
        y = top + i * row_h
        w = max(value * scale, 1)
        body.append(f"<text x='{left - 8}' y='{y + 16}' text-anchor='end'>{esc(label)}</text>")
        body.append(f"<rect x='{left}' y='{y + 4}' width='{w:.1f}' height='{row_h - 8}' fill='{colour}'/>")
        body.append(f"<text x='{left + w + 4:.1f}' y='{y + 16}'>{value:.3g}{esc(unit)}</text>")
    bottom = top + row_h * len(rows)
    # One label line per mark, so marks close together do not print over each other.
    for i, (value, label) in enumerate(sorted(marks)):
        x = left + value * scale
        body.append(f"<line x1='{x:.1f}' y1='{top}' x2='{x:.1f}' y2='{bottom + 4 + 13 * i}' stroke='#333' stroke-dasharray='4 3'/>")
        body.append(f"<text x='{x + 3:.1f}' y='{bottom + 14 + 13 * i}' font-size='11'>{esc(label)}</text>")
    body.append(f"<line x1='{left}' y1='{top}' x2='{left}' y2='{bottom}' stroke='#333'/>")
    return svg(height, body, title, subtitle)


def ticks(lo, hi, log):
    if log:
        first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        steps = (1, 2, 5) if last - first <= 2 else (1,)
        return [m * 10.0 ** e for e in range(first, last + 1) for m in steps if m * 10.0 ** e <= 10.0 ** last]
    step = 10 ** math.floor(math.log10(max(hi - lo, 1e-9)))
    if (hi - lo) / step < 4:
        step /= 2
    start = math.floor(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 2)]


def lines(series, title, subtitle, x_label, y_label, x_log=False, y_log=True, marks=(), note=""):
    """series: (label, [(x, y)], colour, dashed). marks: horizontal (y, label) lines; note: a
    line of text under the chart."""
    left, right, top, bottom = 70, 190, 72, 50 + (18 if note else 0)
    height = 420 + (18 if note else 0)
    xs = [x for _, pts, _, _ in series for x, _ in pts]
    ys = [y for _, pts, _, _ in series for _, y in pts if y > 0] + [m for m, _ in marks]
    if not xs or not ys:
        return None
    x_lo, x_hi = min(xs), max(xs)
    if x_lo == x_hi:
        x_lo, x_hi = x_lo * 0.5, x_hi * 1.5
    y_lo, y_hi = min(ys), max(ys)
    x_ticks = ticks(x_lo, x_hi, x_log)
    y_ticks = ticks(y_lo, y_hi, y_log) if y_log else ticks(0, y_hi, False)
    x_lo, x_hi = (min(x_ticks), max(x_ticks)) if x_log else (min(x_lo, x_ticks[0]), x_hi)
    y_lo, y_hi = (min(y_ticks), max(y_ticks)) if y_log else (0, max(y_ticks))
    plot_w, plot_h = WIDTH - left - right, height - top - bottom

    def fx(x):
        if x_log:
            return left + (math.log10(x) - math.log10(x_lo)) / (math.log10(x_hi) - math.log10(x_lo)) * plot_w
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def fy(y):
        if y_log:
            y = max(y, y_lo)
            return top + plot_h - (math.log10(y) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo)) * plot_h
        return top + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h

    body = [f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='none' stroke='#333'/>"]
    for t in y_ticks:
        if y_lo <= t <= y_hi:
            y = fy(t)
            body.append(f"<line x1='{left}' y1='{y:.1f}' x2='{left + plot_w}' y2='{y:.1f}' stroke='#ddd'/>")
            body.append(f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end'>{t:g}</text>")
    for t in x_ticks:
        if x_lo <= t <= x_hi:
            x = fx(t)
            body.append(f"<line x1='{x:.1f}' y1='{top}' x2='{x:.1f}' y2='{top + plot_h}' stroke='#eee'/>")
            body.append(f"<text x='{x:.1f}' y='{top + plot_h + 16}' text-anchor='middle'>{t:g}</text>")
    body.append(f"<text x='{left + plot_w / 2}' y='{top + plot_h + 34}' text-anchor='middle'>{esc(x_label)}</text>")
    if note:
        body.append(f"<text x='{left}' y='{height - 10}' font-size='11' fill='#555'>{esc(note)}</text>")
    body.append(
        f"<text x='16' y='{top + plot_h / 2}' text-anchor='middle' transform='rotate(-90 16 {top + plot_h / 2})'>{esc(y_label)}</text>"
    )
    for value, label in marks:
        y = fy(value)
        body.append(f"<line x1='{left}' y1='{y:.1f}' x2='{left + plot_w}' y2='{y:.1f}' stroke='#333' stroke-dasharray='4 3'/>")
        body.append(f"<text x='{left + plot_w - 4}' y='{y - 4:.1f}' text-anchor='end' font-size='11'>{esc(label)}</text>")
    for i, (label, pts, colour, dashed) in enumerate(series):
        pts = [(x, y) for x, y in pts if y > 0]
        if not pts:
            continue
        dash = " stroke-dasharray='6 4'" if dashed else ""
        path = " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in pts)
        body.append(f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='2'{dash}/>")
        for x, y in pts:
            body.append(f"<circle cx='{fx(x):.1f}' cy='{fy(y):.1f}' r='3' fill='{colour}'/>")
        ly = top + 10 + i * 18
        lx = left + plot_w + 12
        body.append(f"<line x1='{lx}' y1='{ly}' x2='{lx + 24}' y2='{ly}' stroke='{colour}' stroke-width='2'{dash}/>")
        body.append(f"<text x='{lx + 30}' y='{ly + 4}' font-size='11'>{esc(label)}</text>")
    return svg(height, body, title, subtitle)


def number(value):
    """A finite number, or None: serde_json writes NaN and infinity (a burst's rate) as null."""
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def load(path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def throughput_ratios(reads, subtitle):
    rows = []
    titles = {"typename": "{ __typename }", "product": "product + stock", "page": "page of 20 + stock"}
    for i, ratio in enumerate(r for r in reads["ratios"] if "throughput" in r["name"]):
        if number(ratio["value"]) is None:
            continue
        name = ratio["name"].replace(" throughput (closed loop)", "").replace(" throughput", "")
        colour = COLOURS[0] if name.startswith("bff/") else COLOURS[1]
        rows.append((f"{titles.get(ratio['scenario'], ratio['scenario'])}: {name}", ratio["value"], colour))
    if not rows:
        return None
    return bars(
        rows,
        "Throughput ratios (closed loop, same run, same generator)",
        subtitle,
        "×",
        marks=[(1.0, "1×"), (0.25, "0.25 (BFF÷raw target)"), (5.0, "5 (BFF÷peer target)")],
    )


def latency_vs_load(checkout, subtitle):
    open_rows = [r for r in checkout["rows"] if r["mode"]["kind"] == "open" and number(r["mode"].get("rate"))]
    if not open_rows:
        return None
    rate = lambda r: r["mode"]["rate"]
    series = [
        ("p50 placed→CONFIRMED", [(rate(r), r["p50_ms"]) for r in open_rows], COLOURS[0], False),
        ("p99 placed→CONFIRMED", [(rate(r), r["p99_ms"]) for r in open_rows], COLOURS[1], False),
    ]
    confirmed = ", ".join(f"{rate(r):g}/s → {r['ok_per_s']:.1f}" for r in open_rows)
    return lines(
        series,
        "Checkout latency vs offered load (open loop, GraphQL)",
        subtitle,
        "offered checkouts/s",
        "ms (log)",
        marks=[(500.0, "p99 target at 50/s: 500 ms")],
        note=f"confirmed/s at each offered rate: {confirmed}",
    )


def startup(report, subtitle):
    rows = [(r["process"], r["max_ms"], COLOURS[0] if r["met"] else COLOURS[1]) for r in report["rows"]]
    if not rows:
        return None
    return bars(
        rows,
        f"exec→ready per process, slowest of {report['rounds']} starts",
        subtitle,
        " ms",
        marks=[(report["target_ms"], f"target {report['target_ms']:.0f} ms")],
    )


def catalog_growth(report, subtitle):
    series = []
    combos = sorted({(r["target"], r["page"]) for r in report["rows"]})
    for i, (target, page) in enumerate(combos):
        rows = sorted((r for r in report["rows"] if (r["target"], r["page"]) == (target, page)), key=lambda r: r["products"])
        name = "BFF" if target == "bff" else "raw gRPC"
        colour = COLOURS[i % len(COLOURS)]
        series.append((f"{name} page {page} p50", [(r["products"], r["p50_ms"]) for r in rows], colour, False))
        series.append((f"{name} page {page} p99", [(r["products"], r["p99_ms"]) for r in rows], colour, True))
    return lines(
        series,
        f"Catalog page of 20 with stock vs catalog size (closed loop x{report['concurrency']})",
        subtitle,
        "products in the catalog (log)",
        "ms (log)",
        x_log=True,
    )


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    results, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    extra = sys.argv[3] if len(sys.argv) == 4 else ""
    out.mkdir(parents=True, exist_ok=True)
    charts = [
        ("reads.json", "throughput-ratios.svg", throughput_ratios),
        ("checkout.json", "latency-vs-load.svg", latency_vs_load),
        ("startup.json", "startup.svg", startup),
        ("growth.json", "catalog-growth.svg", catalog_growth),
    ]
    written = []
    for source, name, draw in charts:
        data = load(results / source)
        if data is None:
            continue
        subtitle = f"MongoDB backend: {data.get('backend', '?')}" + (f"\n{extra}" if extra else "")
        chart = draw(data, subtitle)
        if chart:
            (out / name).write_text(chart)
            written.append(name)
    print(f"charts: {', '.join(written) or 'none'} in {out}")


if __name__ == "__main__":
    main()
