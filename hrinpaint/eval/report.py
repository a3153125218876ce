"""The benchmark's pictures for people: a plot of quality against time, and one HTML page with everything.

Reads what :func:`hrinpaint.eval.bench.run_bench` wrote into its output folder (``results.jsonl``, ``report.md``,
``sheets/*.png``) and adds

- ``plot.png``: per size (one column each), every method and peer as a point at its median time (log scale) and
  quality, one row per quality metric measured (hole PSNR, hole SSIM, sharpness, the median E1 band energy);
- ``index.html``: the report's tables, the plot and the sheets side by side, with relative links, so the folder
  can be moved or served as it is.

The plot needs matplotlib (the ``bench`` extra); without it the page is written without the plot and the
returned note says which extra adds it.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from hrinpaint.extras import missing_extra

#: Quality metrics plotted against time, in rows: (results key, axis label, reduction over a group, log scale).
#: Ratios to the truth (sharpness, band energy: 1 is ideal) span decades, from a blur to a speckle.
PLOT_METRICS = (
    ("psnr_hole", "hole PSNR (dB)", np.mean, False),
    ("ssim_hole", "hole SSIM", np.mean, False),
    ("sharpness", "sharpness (1 = truth, log)", np.mean, True),
    ("band_energy_1", "E1 band energy (median, 1 = truth, log)", np.median, True),
)


def read_rows(out: Path) -> list[dict[str, Any]]:
    """The successful rows of ``out/results.jsonl``."""
    path = out / "results.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row for row in rows if row.get("status") == "ok"]


def summarise(rows: list[dict[str, Any]]) -> dict[int, dict[str, dict[str, float]]]:
    """``size -> method -> {metric: value}``: the median time and the mean of each plotted metric."""
    grouped: dict[int, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        grouped[int(row["size"])][str(row["method"])].append(row)
    summary: dict[int, dict[str, dict[str, float]]] = {}
    for size in sorted(grouped):
        summary[size] = {}
        for method, method_rows in sorted(grouped[size].items()):
            values = {"time_s": _reduce([r.get("time_s") for r in method_rows], np.median)}
            for key, _, reduction, _ in PLOT_METRICS:
                values[key] = _reduce([r.get(key) for r in method_rows], reduction)
            values["count"] = float(len(method_rows))
            summary[size][method] = values
    return summary


def _reduce(values: list[Any], reduction: Any) -> float:
    kept = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(float(v))]
    return float(reduction(kept)) if kept else math.nan


def write_plot(summary: dict[int, dict[str, dict[str, float]]], path: Path) -> None:
    """Quality against median time, one column per size and one row per metric measured; PNG at ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    sizes = list(summary)
    metrics = [m for m in PLOT_METRICS if any(not math.isnan(v[m[0]]) for s in sizes for v in summary[s].values())]
    methods = sorted({method for size in sizes for method in summary[size]})
    colours = {method: f"C{index % 10}" for index, method in enumerate(methods)}
    markers = {method: "os^Dvp*hX<>"[index // 10 % 11] for index, method in enumerate(methods)}
    figure = Figure(figsize=(4.2 * len(sizes) + 2.6, 3.2 * len(metrics)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(metrics), len(sizes), squeeze=False)
    for column, size in enumerate(sizes):
        for row, (key, label, _, log_scale) in enumerate(metrics):
            axis = axes[row][column]
            for method, values in summary[size].items():
                if math.isnan(values[key]) or math.isnan(values["time_s"]) or values["time_s"] <= 0:
                    continue
                point = (values["time_s"], values[key])
                axis.scatter(*point, color=colours[method], marker=markers[method], s=42, label=method)
                axis.annotate(method, point, xytext=(4, 3), textcoords="offset points", fontsize=7, alpha=0.8)
            axis.set_xscale("log")
            axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axis.xaxis.set_minor_formatter(FuncFormatter(_minor_label))
            axis.margins(x=0.2)
            axis.grid(True, which="both", alpha=0.3)
            if log_scale:
                axis.set_yscale("log")
                axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
                axis.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
            if row == 0:
                axis.set_title(f"{size} px (long side)")
            if row == len(metrics) - 1:
                axis.set_xlabel("median time per image (s, log)")
            if column == 0:
                axis.set_ylabel(label)
    handles = {}
    for axis in figure.axes:
        for handle, name in zip(*axis.get_legend_handles_labels(), strict=True):
            handles.setdefault(name, handle)
    figure.legend(list(handles.values()), list(handles), loc="outside right upper", fontsize="small")
    figure.suptitle("hrinpaint bench: quality against time (dashed: the truth's ratio)")
    figure.savefig(path)


def _minor_label(value: float, _: Any) -> str:
    """Labels 2 and 5 between the decades of a log axis: a plot spanning less than a decade still reads."""
    leading = value / 10 ** math.floor(math.log10(value)) if value > 0 else 0
    return f"{value:g}" if round(leading) in (2, 5) and abs(leading - round(leading)) < 1e-6 else ""


def markdown_to_html(markdown: str) -> str:
    """The subset of Markdown that ``report.md`` uses: headings, paragraphs, pipe tables, inline code."""
    parts: list[str] = []
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("|"):
            table = []
            while index < len(lines) and lines[index].startswith("|"):
                table.append(lines[index])
                index += 1
            parts.append(_table_html(table))
            continue
        heading = re.match(r"(#+)\s+(.*)", line)
        if heading:
            level = min(len(heading.group(1)) + 1, 6)  # the page's own title is the only h1
            parts.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif line.strip():
            parts.append(f"<p>{_inline(line)}</p>")
        index += 1
    return "\n".join(parts)


def _inline(text: str) -> str:
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _table_html(lines: list[str]) -> str:
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    header, body = rows[0], [row for row in rows[1:] if not all(re.fullmatch(r":?-+:?", c) for c in row if c)]
    head = "".join(f"<th>{_inline(cell)}</th>" for cell in header)
    cells = "".join("<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
.sheets { display: grid; grid-template-columns: repeat(auto-fill, minmax(720px, 1fr)); gap: 1em; }
figure { margin: 0; } figure img, .plot img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
"""


def write_html(out: Path, plot: str | None, note: str | None) -> Path:
    """``out/index.html``: the tables of ``report.md``, the plot (if made) and every sheet, linked relatively."""
    report = out / "report.md"
    markdown = re.sub(r"\A# [^\n]*\n", "", report.read_text()) if report.exists() else ""  # the page has its title
    tables = markdown_to_html(markdown) if markdown else "<p>no report.md</p>"
    sheets = sorted((out / "sheets").glob("*.png")) if (out / "sheets").is_dir() else []
    figures = "\n".join(
        f'<figure><a href="sheets/{html.escape(sheet.name)}"><img src="sheets/{html.escape(sheet.name)}" '
        f'alt="{html.escape(sheet.stem)}" loading="lazy"></a><figcaption>{html.escape(sheet.stem)}</figcaption>'
        "</figure>"
        for sheet in sheets
    )
    plot_html = (
        f'<div class="plot"><img src="{plot}" alt="quality against time per method and size"></div>'
        if plot
        else f"<p>{html.escape(note or 'no plot')}</p>"
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hrinpaint bench</title><style>{_STYLE}</style></head>
<body>
<h1>hrinpaint bench</h1>
<h2>Quality against time</h2>
{plot_html}
{tables}
<h2>Sheets</h2>
<p>Each sheet: the input (hole in magenta), the truth and every method, at page scale (top) and a 1:1 crop of the
largest hole's box (bottom). Click for full size.</p>
<div class="sheets">
{figures}
</div>
</body></html>
"""
    path = out / "index.html"
    path.write_text(page)
    return path


def write_visual_report(out: str | Path) -> list[str]:
    """Writes ``plot.png`` and ``index.html`` into a bench output folder; returns one line per file written (and
    one saying why the plot is missing, when matplotlib is)."""
    out = Path(out)
    summary = summarise(read_rows(out))
    lines, plot, note = [], None, None
    if summary:
        try:
            write_plot(summary, out / "plot.png")
            plot = "plot.png"
            lines.append(f"wrote {out / 'plot.png'}")
        except ImportError as error:
            missing = missing_extra(error, "the bench plot")
            if missing is None:
                raise
            note = str(missing)
            lines.append(note)
    lines.append(f"wrote {write_html(out, plot, note)}")
    return lines


__all__ = ["markdown_to_html", "read_rows", "summarise", "write_html", "write_plot", "write_visual_report"]
