"""The command line: every bad input is a one-line error, a non-zero exit and nothing written."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hrinpaint.cli import main


def write_photo(path: Path, size=(64, 48), seed=0) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def write_mask(path: Path, size=(64, 48), box=(10, 10, 30, 25)) -> np.ndarray:
    mask = np.zeros((size[1], size[0]), np.uint8)
    left, top, right, bottom = box
    mask[top:bottom, left:right] = 255
    Image.fromarray(mask).save(path)
    return mask > 0


@pytest.fixture
def pair(tmp_path):
    photo = tmp_path / "photo.png"
    mask = tmp_path / "mask.png"
    pixels = write_photo(photo)
    hole = write_mask(mask)
    return photo, mask, pixels, hole


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_inpaint_writes_result_with_known_pixels_exact(pair, tmp_path, capsys):
    photo, mask, pixels, hole = pair
    out = tmp_path / "out.png"
    status, stdout, _ = run(capsys, "inpaint", photo, mask, "-o", out)
    assert status == 0 and "filled 300 pixels" in stdout
    result = np.array(Image.open(out))
    assert np.array_equal(result[~hole], pixels[~hole]) and not np.array_equal(result[hole], pixels[hole])


def test_quiet_prints_nothing(pair, tmp_path, capsys):
    photo, mask, _, _ = pair
    status, stdout, stderr = run(capsys, "inpaint", photo, mask, "-o", tmp_path / "o.png", "--quiet")
    assert status == 0 and stdout == "" and stderr == ""


def test_invert_mask(pair, tmp_path, capsys):
    photo, mask, pixels, hole = pair
    inverted = tmp_path / "inverted.png"
    Image.fromarray(np.where(hole, 0, 255).astype(np.uint8)).save(inverted)
    out = tmp_path / "out.png"
    assert run(capsys, "inpaint", photo, inverted, "-o", out, "--invert-mask")[0] == 0
    result = np.array(Image.open(out))
    assert np.array_equal(result[~hole], pixels[~hole])


def truncated_jpeg(tmp_path: Path) -> Path:
    full = tmp_path / "full.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(full)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[:400])
    return cut


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing image", "does not exist"),
        ("not an image", "not a recognised image"),
        ("truncated jpeg", "truncated"),
        ("mask size", "but image is"),
        ("pixel limit", "limit"),
        ("missing output dir", "does not exist"),
        ("unknown method", "unknown method 'nope'"),
        ("all hole", "whole image"),
        ("unknown extension", "unknown extension"),
        ("overwrite input", "--overwrite"),
    ],
)
def test_bad_input_is_one_line_error_and_writes_nothing(pair, tmp_path, capsys, case, message):
    photo, mask, _, _ = pair
    out = tmp_path / "out.png"
    extra: list = []
    if case == "missing image":
        photo = tmp_path / "nope.jpg"
    elif case == "not an image":
        photo = tmp_path / "notes.jpg"
        photo.write_text("hello, not a picture")
    elif case == "truncated jpeg":
        photo = truncated_jpeg(tmp_path)
    elif case == "mask size":
        write_mask(mask, size=(60, 48))
    elif case == "pixel limit":
        extra = ["--max-pixels", "1000"]
    elif case == "missing output dir":
        out = tmp_path / "no" / "such" / "out.png"
    elif case == "unknown method":
        extra = ["--method", "nope"]
    elif case == "all hole":
        Image.fromarray(np.full((48, 64), 255, np.uint8)).save(mask)
    elif case == "unknown extension":
        out = tmp_path / "out.xyz"
    elif case == "overwrite input":
        out = photo
    before = sorted(p.name for p in tmp_path.rglob("*"))
    before_bytes = photo.read_bytes() if photo.exists() else None
    status, stdout, stderr = run(capsys, "inpaint", photo, mask, "-o", out, *extra)
    assert status != 0
    assert message in stderr and stderr.count("\n") == 1 and stderr.startswith("hrinpaint: error:")
    assert "Traceback" not in stderr and stdout == ""
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    if before_bytes is not None:
        assert photo.read_bytes() == before_bytes


def test_unwritable_output_directory(pair, tmp_path, capsys, monkeypatch):
    photo, mask, _, _ = pair
    locked = tmp_path / "locked"
    locked.mkdir()
    import os

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == str(locked) else real_access(path, mode))
    status, _, stderr = run(capsys, "inpaint", photo, mask, "-o", locked / "out.png")
    assert status != 0 and "not writable" in stderr and not any(locked.iterdir())


def test_empty_mask_copies_input_and_says_so(pair, tmp_path, capsys):
    photo, mask, _, _ = pair
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(mask)
    out = tmp_path / "copy.png"
    status, stdout, _ = run(capsys, "inpaint", photo, mask, "-o", out)
    assert status == 0 and "mask is empty" in stdout
    assert out.read_bytes() == photo.read_bytes()


def test_batch_continues_past_failures_and_exits_non_zero(tmp_path, capsys):
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    images.mkdir()
    masks.mkdir()
    for name in ("a", "b", "c"):
        write_photo(images / f"{name}.png", seed=ord(name))
    write_mask(masks / "a.png")
    write_mask(masks / "b.png", size=(10, 10), box=(1, 1, 3, 3))  # wrong size
    write_mask(masks / "c.png")
    status, stdout, stderr = run(capsys, "batch", images, masks, "-o", out)
    assert status != 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]
    assert "b.png" in stderr and "2 of 3 images done, 1 failed" in stderr


def test_batch_reports_images_without_masks(tmp_path, capsys):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    write_photo(images / "lonely.png")
    status, _, stderr = run(capsys, "batch", images, masks, "-o", tmp_path / "out")
    assert status != 0 and "no mask named 'lonely.*'" in stderr


def test_methods_lists_default(capsys):
    status, stdout, _ = run(capsys, "methods")
    assert status == 0 and "default: " in stdout and "telea+upsample" in stdout


def test_masks_command_writes_requested_size(tmp_path, capsys):
    out = tmp_path / "m.png"
    status, stdout, _ = run(capsys, "masks", "--kind", "thick", "--seed", "3", "--size", "400x300", "-o", out)
    assert status == 0 and "hole" in stdout
    mask = np.array(Image.open(out))
    assert mask.shape == (300, 400) and set(np.unique(mask)) <= {0, 255} and mask.any()


def test_masks_command_rejects_bad_size(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["masks", "--size", "4000by3000", "-o", str(tmp_path / "m.png")])
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


def test_bench_writes_results_report_and_sheets(tmp_path, capsys):
    data = tmp_path / "data" / "nested"
    data.mkdir(parents=True)
    for seed in range(2):
        write_photo(data / f"photo{seed}.png", size=(96, 72), seed=seed)
    out = tmp_path / "bench"
    status, stdout, _ = run(
        capsys, "bench", "--data", tmp_path / "data", "--sizes", "64,128", "--masks", "box",
        "--methods", "telea+upsample", "--peers", "opencv-telea", "--out", out,
    )  # fmt: skip
    assert status == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 4  # 2 photos x 1 size (128 is larger than the photos) x 1 mask x 2 methods
    assert {row["method"] for row in rows} == {"telea+upsample", "opencv-telea"}
    assert all(row["status"] == "ok" and row["size"] == 64 for row in rows)
    # our methods keep known pixels exact; the OpenCV peer quantises the whole image to 8 bits
    assert all(row["known_exact"] for row in rows if row["role"] == "method")
    assert all(np.isfinite(row["psnr_hole"]) and row["time_s"] > 0 for row in rows)
    report = (out / "report.md").read_text()
    assert "## 64 px" in report and "telea+upsample" in report and "opencv-telea" in report
    assert len(list((out / "sheets").glob("*.png"))) == 2


def test_bench_rejects_unknown_names(tmp_path, capsys):
    status, _, stderr = run(capsys, "bench", "--data", tmp_path, "--methods", "nope")
    assert status != 0 and "unknown method" in stderr


def test_console_script_help_is_fast_and_works():
    result = subprocess.run([sys.executable, "-m", "hrinpaint.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "inpaint" in result.stdout and "bench" in result.stdout


@pytest.mark.parametrize(
    "option, value, words",
    [
        ("--working-size", "8", "--working-size must be 16 to 4096, got 8"),
        ("--working-size", "0", "--working-size must be 16 to 4096, got 0"),
        ("--max-pixels", "0", "--max-pixels must be 1 to"),
        ("--grow", "-1", "--grow must be 0 to 1024, got -1"),
        ("--grow", "100000", "--grow must be 0 to 1024"),
        ("--grow", "3000", "--grow must be 0 to 1024"),
        ("--quality", "0", "--quality must be 1 to 100"),
        ("--quality", "101", "--quality must be 1 to 100"),
        ("--mask-threshold", "1.5", "--mask-threshold must be 0 to 0.99"),
        ("--mask-threshold", "nan", "--mask-threshold must be 0 to 0.99"),
        ("--grow", "many", "argument --grow: invalid int value: 'many'"),
        ("--method", "nope", "unknown method 'nope'"),
        ("--mask", "m.png", "unrecognized arguments: --mask=m.png"),  # not taken for --mask-threshold
    ],
)
@pytest.mark.parametrize("command", ["inpaint", "batch"])
def test_bad_numbers_are_one_line_exit_2_before_any_work(pair, tmp_path, capsys, command, option, value, words):
    import time

    photo, mask, _, _ = pair
    out = tmp_path / ("out.png" if command == "inpaint" else "out")
    inputs = [photo, mask] if command == "inpaint" else [tmp_path, tmp_path]
    before = sorted(tmp_path.rglob("*"))
    start = time.perf_counter()
    try:
        status = main([command, *map(str, inputs), "-o", str(out), f"{option}={value}"])
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    seconds = time.perf_counter() - start
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.startswith("hrinpaint: error: ") and captured.err.count("\n") == 1, captured.err
    assert words in captured.err and captured.out == ""
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even the batch's output folder
    assert seconds < 1.0


def test_grow_beyond_the_image_is_refused_in_time_proportional_to_the_image(pair, tmp_path, capsys):
    import time

    photo, mask, _, _ = pair
    start = time.perf_counter()
    status, _, stderr = run(capsys, "inpaint", photo, mask, "-o", tmp_path / "out.png", "--grow", "1000")
    assert status == 1 and "grown by 1000 px covers the whole image" in stderr and stderr.count("\n") == 1
    assert time.perf_counter() - start < 2.0
    assert not (tmp_path / "out.png").exists()


def test_rgba_written_as_jpeg_warns_that_alpha_is_dropped(tmp_path, capsys):
    rgba = np.random.default_rng(3).integers(0, 256, (48, 64, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "logo.png")
    write_mask(tmp_path / "mask.png")
    status, _, stderr = run(capsys, "inpaint", tmp_path / "logo.png", tmp_path / "mask.png", "-o", tmp_path / "o.jpg")
    assert status == 0 and "warning:" in stderr and "alpha channel is dropped" in stderr
    status, _, stderr = run(capsys, "inpaint", tmp_path / "logo.png", tmp_path / "mask.png", "-o", tmp_path / "o.png")
    assert status == 0 and "warning" not in stderr


def test_batch_survives_broken_files_tiffs_wrong_masks_and_bugs(tmp_path, capsys, monkeypatch):
    """A broken file, a camera TIFF (EXIF sub-IFD), a wrong-size mask and a file that trips a bug: every other
    image is done and the summary lists each failure by name with its one-line reason."""
    from hrinpaint.pipeline import Inpainter

    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    images.mkdir()
    masks.mkdir()
    for name in ("a", "d", "e"):
        write_photo(images / f"{name}.png", seed=ord(name))
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x8769] = {0x8827: 200, 0x9003: "2024:01:01 10:00:00"}
    Image.fromarray(write_photo(tmp_path / "tmp.png", seed=7)).save(images / "camera.tif", exif=exif.tobytes())
    for name in ("a", "broken", "camera", "d", "e"):
        write_mask(masks / f"{name}.png")
    write_mask(masks / "d.png", size=(30, 20), box=(1, 1, 5, 5))  # wrong size
    original = Inpainter.__call__

    def flaky(self, image, mask, progress=None):
        if image[0, 0, 0] == np.random.default_rng(ord("e")).integers(0, 256, (48, 64, 3), dtype=np.uint8)[0, 0, 0]:
            raise RuntimeError("a bug\nover two lines")
        return original(self, image, mask, progress)

    monkeypatch.setattr(Inpainter, "__call__", flaky)
    status, _, stderr = run(capsys, "batch", images, masks, "-o", out, "-q")
    assert status == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "camera.tif"]
    summary = stderr[stderr.index("2 of 5 images done, 3 failed") :].splitlines()
    assert [line.split(":")[0] for line in summary[1:]] == ["  failed"] * 3
    assert "broken.jpg: cannot read" in summary[1]
    assert "d.png: mask" in summary[2] and "but image is 64x48" in summary[2]
    assert "e.png: unexpected RuntimeError: a bug over two lines" in summary[3]
    written = Image.open(out / "camera.tif")
    assert written.getexif()[0x010F] == "TestCam" and written.getexif().get_ifd(0x8769)[0x8827] == 200


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--sizes", "abc"], "sizes must be whole numbers"),
        (["--sizes", "8"], "sizes must be 16 to 16384 px"),
        (["--working-size", "8"], "--working-size must be 16 to 4096"),
        (["--peer-timeout", "-5"], "--peer-timeout must be"),
        (["--limit", "0"], "--limit must be 1 to"),
    ],
)
def test_bench_bad_numbers_are_one_line_exit_2(tmp_path, capsys, extra, words):
    try:
        status = main(["bench", "--data", str(tmp_path), "--out", str(tmp_path / "out"), *extra])
    except SystemExit as exit_:
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and words in err and not (tmp_path / "out").exists()


def test_a_bug_is_one_line_unless_debugging(pair, tmp_path, capsys, monkeypatch):
    from hrinpaint.pipeline import Inpainter

    def broken(self, image, mask, progress=None):
        raise RuntimeError("index out of range\nin some kernel")

    monkeypatch.setattr(Inpainter, "__call__", broken)
    photo, mask, _, _ = pair
    status, _, stderr = run(capsys, "inpaint", photo, mask, "-o", tmp_path / "out.png")
    assert status == 1 and stderr.count("\n") == 1
    assert "unexpected RuntimeError: index out of range in some kernel (a bug" in stderr
    monkeypatch.setenv("HRINPAINT_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["inpaint", str(photo), str(mask), "-o", str(tmp_path / "out.png")])


def test_a_bad_number_answers_before_the_pipeline_is_imported(tmp_path):
    code = (
        "import sys; from hrinpaint.cli import main; "
        "status = main(['inpaint', 'a.jpg', 'b.png', '-o', 'c.png', '--grow', '-1']); "
        "print(status, 'hrinpaint.pipeline' in sys.modules, 'numpy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.split() == ["2", "False", "False"] and done.stderr.count("\n") == 1


def test_a_reader_that_goes_away_is_not_reported_as_a_bug():
    # `hrinpaint methods | head`: the pipe closes before the listing is written
    child = subprocess.Popen(
        [sys.executable, "-m", "hrinpaint.cli", "methods"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    child.stdout.close()
    stderr = child.stderr.read().decode()
    child.wait(timeout=60)
    assert "a bug" not in stderr and "Traceback" not in stderr, stderr
