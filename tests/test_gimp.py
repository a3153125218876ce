"""The GIMP 2.10 plug-in, headless: build it, run GIMP's batch mode with a Script-Fu script that loads a photo, selects
an ellipse and calls the plug-in; only selected pixels change, and they are what the CLI gives for the same input."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hrinpaint.cli import main

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_SOURCE = ROOT / "integrations" / "gimp"
METHOD = "telea+cra"

missing = [tool for tool in ("gimptool-2.0", "gimp-console-2.10", "cc", "make") if shutil.which(tool) is None]
needs_gimp = pytest.mark.skipif(
    bool(missing), reason=f"needs GIMP 2.10 and a C toolchain (apt install gimp libgimp2.0-dev): {missing} missing"
)


@pytest.fixture(scope="module")
def gimp(tmp_path_factory):
    """A private GIMP profile with the plug-in built and installed into it by the Makefile, and an hrinpaint
    program that runs this checkout."""
    root = tmp_path_factory.mktemp("gimp")
    profile = root / "profile"
    build = subprocess.run(
        ["make", "-C", str(PLUGIN_SOURCE), "install", f"BUILD={root / 'build'}", f"GIMP_DIRECTORY={profile}"],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert (profile / "plug-ins" / "hrinpaint-gimp" / "hrinpaint-gimp").is_file()
    program = root / "hrinpaint"
    program.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m hrinpaint.cli "$@"\n')
    program.chmod(0o755)
    return profile, program


def run_gimp(profile: Path, *commands: str) -> subprocess.CompletedProcess:
    argv = ["gimp-console-2.10", "-i", "-d", "-f"]
    for command in (*commands, "(gimp-quit 0)"):
        argv += ["-b", command]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=300, env={**_environment(), "GIMP2_DIRECTORY": str(profile)}
    )


def _environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "HRINPAINT"}


@needs_gimp
def test_plugin_fills_the_selection_like_the_cli(gimp, tmp_path):
    profile, program = gimp
    photo, result, selection = tmp_path / "photo.png", tmp_path / "result.png", tmp_path / "selection.png"
    Image.open(ROOT / "examples" / "signpost.jpg").convert("RGB").crop((400, 250, 720, 490)).save(photo)
    script = f"""
    (let* ((image (car (gimp-file-load RUN-NONINTERACTIVE "{photo}" "{photo}")))
           (layer (car (gimp-image-get-active-layer image))))
      (gimp-context-set-antialias TRUE)
      (gimp-image-select-ellipse image CHANNEL-OP-REPLACE 120 70 90 75)
      (plug-in-hrinpaint RUN-NONINTERACTIVE image layer "{METHOD}" 0 0 "{program}")
      (let ((new-layer (car (gimp-image-get-active-layer image)))
            (saved (car (gimp-selection-save image))))
        (gimp-message (string-append "layers: " (number->string (car (gimp-image-get-layers image)))
                                     ", new: " (car (gimp-item-get-name new-layer))))
        (file-png-save RUN-NONINTERACTIVE image new-layer "{result}" "{result}" 0 9 0 0 0 0 0)
        (file-png-save RUN-NONINTERACTIVE image saved "{selection}" "{selection}" 0 9 0 0 0 0 0)
        (gimp-message (if (= (car (gimp-item-get-visible layer)) TRUE) "original kept" "original gone"))))
    """
    done = run_gimp(profile, script)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert f"layers: 2, new: hrinpaint: {METHOD}" in log and "original kept" in log, log

    before, after = np.array(Image.open(photo)), np.array(Image.open(result).convert("RGB"))
    coverage = np.array(Image.open(selection).convert("L"))
    hole = coverage >= 128  # the plug-in's rule: more than half selected
    partial = (coverage > 0) & (coverage < 255)
    assert partial.any() and (partial & ~hole).any(), "an antialiased ellipse has pixels selected under one half"
    changed = (after != before).any(axis=2)
    assert changed.any() and not (changed & ~hole).any(), "only pixels more than half selected may change"

    mask = tmp_path / "mask.png"
    Image.fromarray(coverage).save(mask)
    expected = tmp_path / "cli.png"
    assert main(["inpaint", str(photo), str(mask), "-o", str(expected), "-m", METHOD, "--mask-threshold", "0.5"]) == 0
    assert np.array_equal(after, np.array(Image.open(expected)))


@needs_gimp
def test_plugin_reports_a_missing_program_and_cli_errors(gimp, tmp_path):
    profile, program = gimp
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((40, 60, 3), 120, np.uint8)).save(photo)
    missing_program = tmp_path / "nowhere" / "hrinpaint"

    def call(method: str, path: Path) -> str:
        return f"""
        (let* ((image (car (gimp-file-load RUN-NONINTERACTIVE "{photo}" "{photo}")))
               (layer (car (gimp-image-get-active-layer image))))
          (gimp-image-select-rectangle image CHANNEL-OP-REPLACE 10 10 20 15)
          (plug-in-hrinpaint RUN-NONINTERACTIVE image layer "{method}" 0 0 "{path}"))
        """

    done = run_gimp(profile, call("", missing_program), call("no-such-method", program))
    output = done.stdout + done.stderr
    assert f"the hrinpaint program was not found at {missing_program}" in output, output
    assert "pip install --user hrinpaint" in output
    assert "hrinpaint: error: unknown method 'no-such-method'" in output, output


def test_progress_lines(tmp_path, capfd):
    """The machine-readable progress that the plug-in reads: the method, then DONE TOTAL per region."""
    photo, mask = tmp_path / "photo.png", tmp_path / "mask.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 300, 3), dtype=np.uint8)).save(photo)
    hole = np.zeros((50, 300), np.uint8)
    hole[10:20, 10:20] = hole[30:40, 250:260] = 255  # two holes far apart: two regions
    Image.fromarray(hole).save(mask)
    argv = ["inpaint", str(photo), str(mask), "-o", str(tmp_path / "o.png"), "-m", "telea+upsample", "--quiet"]
    assert main([*argv, "--progress-fd", "1"]) == 0
    lines = capfd.readouterr().out.splitlines()
    assert lines == ["hrinpaint-method telea+upsample", "hrinpaint-progress 1 2", "hrinpaint-progress 2 2"]
