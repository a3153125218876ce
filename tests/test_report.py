"""The bench's plot and HTML page, from a bench output folder."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from hrinpaint.eval import report


def bench_folder(tmp_path):
    rows = []
    for size in (512, 1024):
        for method, psnr, seconds in (("telea+cra", 19.0, 0.5), ("patchmatch+cra", 19.5, 2.0), ("opencv-ns", 18.0, 1)):
            for photo in ("a", "b"):
                rows.append(
                    {
                        "photo": photo,
                        "size": size,
                        "method": method,
                        "status": "ok",
                        "psnr_hole": psnr + (photo == "b"),
                        "ssim_hole": 0.6,
                        "sharpness": 0.9,
                        "band_energy_1": 0.5 if photo == "a" else 0.7,
                        "time_s": seconds * size / 512 * (2 if photo == "b" else 1),
                    }
                )
    rows.append({"photo": "a", "size": 512, "method": "fsr-fast", "status": "timeout", "time_s": 30.0})
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "report.md").write_text(
        "# hrinpaint bench\n\ndata `x`, generated now.\n\n## 512 px (long side)\n\n"
        "| method | hole PSNR |\n|---|---:|\n| **patchmatch+cra** | 19.50 |\n| telea+cra | 19.00 |\n"
    )
    (tmp_path / "sheets").mkdir()
    Image.new("RGB", (40, 20), "white").save(tmp_path / "sheets" / "a_512_thick.png")
    return tmp_path


def test_summary_takes_median_time_and_mean_quality_of_ok_rows(tmp_path):
    summary = report.summarise(report.read_rows(bench_folder(tmp_path)))
    assert list(summary) == [512, 1024]
    assert "fsr-fast" not in summary[512]  # timed out: nothing to plot
    telea = summary[1024]["telea+cra"]
    assert telea["psnr_hole"] == pytest.approx(19.5) and telea["time_s"] == pytest.approx(1.5)
    assert telea["count"] == 2 and telea["band_energy_1"] == pytest.approx(0.6)  # median of two


def test_plot_and_page_are_written(tmp_path):
    pytest.importorskip("matplotlib")
    out = bench_folder(tmp_path)
    lines = report.write_visual_report(out)
    assert lines == [f"wrote {out / 'plot.png'}", f"wrote {out / 'index.html'}"]
    plot = np.asarray(Image.open(out / "plot.png").convert("RGB"))
    assert plot.shape[0] > 1000 and plot.shape[1] > 800  # two size columns, four metric rows
    assert (plot < 128).any() and (plot > 200).mean() > 0.5  # something drawn on a light page
    page = (out / "index.html").read_text()
    assert '<img src="plot.png"' in page and 'src="sheets/a_512_thick.png"' in page
    assert "<td><b>patchmatch+cra</b></td><td>19.50</td>" in page and "<code>x</code>" in page


def test_page_without_matplotlib_says_which_extra(tmp_path, monkeypatch):
    out = bench_folder(tmp_path)

    def no_matplotlib(summary, path):
        raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")

    monkeypatch.setattr(report, "write_plot", no_matplotlib)
    lines = report.write_visual_report(out)
    assert "the bench plot needs hrinpaint[bench]" in lines[0] and not (out / "plot.png").exists()
    assert "hrinpaint[bench]" in (out / "index.html").read_text()


def test_markdown_tables_become_html_tables():
    converted = report.markdown_to_html("## 2048 px\n\n| a | b |\n|---|---:|\n| x <y> | 1 |\n")
    assert converted == (
        "<h3>2048 px</h3>\n<table><thead><tr><th>a</th><th>b</th></tr></thead>"
        "<tbody><tr><td>x &lt;y&gt;</td><td>1</td></tr></tbody></table>"
    )
    assert math.isnan(report._reduce([None, "x"], np.mean))
