"""Benchmark pieces: seeds, photo search, contact sheets, the worker's time limit and its end with the bench."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hrinpaint.errors import InputError
from hrinpaint.eval.aggregate import MetricAccumulator
from hrinpaint.eval.bench import REDUCTIONS, BenchConfig, crop_box, mask_seed, render_report, side_by_side
from hrinpaint.eval.worker import Worker
from hrinpaint.io import find_photos


def test_mask_seed_is_stable_and_distinct():
    photo = Path("/data/kodim01.png")
    assert mask_seed(photo, "thick", 512, 0) == mask_seed(Path("/other/kodim01.png"), "thick", 512, 0)
    assert mask_seed(photo, "thick", 512, 0) != mask_seed(photo, "box", 512, 0)
    assert mask_seed(photo, "thick", 512, 1) == mask_seed(photo, "thick", 512, 0) + 1


def test_find_photos_is_sorted_limited_and_recursive_when_asked(tmp_path):
    # the one photo finder: the benchmark walks folders below, the training data reads one folder
    (tmp_path / "b").mkdir()
    (tmp_path / "c.png").mkdir()  # a folder named like a photo is not one
    for name in ("b/2.png", "1.jpg", "3.TIF", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in find_photos(tmp_path, recursive=True)] == [
        "1.jpg",
        "3.TIF",
        "b/2.png",
    ]
    assert [p.name for p in find_photos(tmp_path)] == ["1.jpg", "3.TIF"]
    assert len(find_photos(str(tmp_path), recursive=True, limit=1)) == 1
    with pytest.raises(InputError, match="no photos under .*missing.*not a folder"):
        find_photos(str(tmp_path / "b" / "missing"))
    with pytest.raises(InputError, match="no photos under"):
        find_photos(tmp_path / "c.png")


def test_config_rejects_unknown_peers_and_masks(tmp_path):
    with pytest.raises(InputError, match="unknown peer"):
        BenchConfig(data=str(tmp_path), peers=("nope",))
    with pytest.raises(InputError, match="unknown mask kind"):
        BenchConfig(data=str(tmp_path), masks=("nope",))


def test_side_by_side_shows_whole_images_above_a_1_to_1_crop_of_the_hole_box():
    truth = np.random.default_rng(0).random((600, 900, 3), dtype=np.float32)
    mask = np.zeros((600, 900), bool)
    mask[400:450, 700:760] = True
    holed = np.where(mask[:, :, None], 0.0, truth).astype(np.float32)
    filled = np.where(mask[:, :, None], 0.5, truth).astype(np.float32)
    sheet = side_by_side(holed, truth, mask, {"a": filled}, tile=120)
    # the crop is the box with 16 px of context a side: 82 x 92, under the 120 x 180 page-scale view
    assert sheet.dtype == np.uint8 and sheet.shape[0] == 120 + 4 + 82
    assert sheet.shape[1] == 3 * 180 + 2 * 4  # input, truth, a: each as wide as the scaled photo
    crop_of_result = sheet[124:, 2 * 184 : 2 * 184 + 92]
    grey = (np.abs(crop_of_result.astype(int) - 128) <= 1).all(axis=-1)
    assert grey[16:66, 16:76].all() and grey.sum() == 50 * 60  # the hole at 1:1, exactly where the crop puts it
    crop_of_truth = sheet[124:, 184 : 184 + 92].astype(np.float32) / 255
    np.testing.assert_allclose(crop_of_truth, truth[384:466, 684:776], atol=1 / 255)


def test_crop_box_centres_on_the_largest_hole_and_stays_inside():
    mask = np.zeros((300, 400), bool)
    mask[10:20, 10:20] = True
    mask[100:260, 300:390] = True
    rows, cols = crop_box(mask, limit=1000)
    assert (rows.start, rows.stop) == (60, 300)  # 40 px margin, pushed back inside the bottom edge
    assert (cols.start, cols.stop) == (266, 400)  # 22 px margin a side, pushed inside the right edge
    rows, cols = crop_box(mask, limit=64)
    assert rows.stop - rows.start == 64 and cols.stop - cols.start == 64
    assert rows.start <= 180 < rows.stop and cols.start <= 345 < cols.stop


def test_object_masks_share_one_seed_across_sizes_and_report_band_energies(tmp_path):
    photo = Path("/data/kodim01.png")
    assert mask_seed(photo, "object", 2048, 0) == mask_seed(photo, "object", 4096, 0)
    assert mask_seed(photo, "thick", 2048, 0) != mask_seed(photo, "thick", 4096, 0)
    accumulator = MetricAccumulator(reductions=REDUCTIONS)
    for value in (0.5, 0.6, 50.0):  # one flat-truth outlier must not move the table
        accumulator.add({"method": "m", "size": 64, "band_energy_0": value, "time_s": 1.0})
    config = BenchConfig(data=str(tmp_path), sizes=(64,))
    report = render_report(accumulator, config)
    header = next(line for line in report.splitlines() if line.startswith("| method"))
    row = next(line for line in report.splitlines() if line.startswith("| m "))
    cells = dict(zip(header.split("|"), row.split("|"), strict=True))
    assert cells[" E0 "].strip() == "0.600"  # the median; a mean would read 17


def test_worker_times_out_and_recovers():
    image = np.zeros((8, 8, 3), np.float32)
    mask = np.zeros((8, 8), bool)
    mask[2:4, 2:4] = True
    with Worker() as worker:
        slow = worker.run("telea+upsample", np.zeros((3000, 3000, 3), np.float32), np.eye(3000, dtype=bool), 512, 0.01)
        assert slow.status == "timeout"
        fine = worker.run("telea+upsample", image, mask, 512, 60)
        assert fine.status == "ok" and fine.image.shape == image.shape and fine.time_s > 0
        broken = worker.run("telea+upsample", image, np.ones((8, 8), bool), 512, 60)
        assert broken.status == "error" and "whole image" in broken.message


def test_bench_weights_go_to_network_fillers_only(tmp_path):
    from hrinpaint.eval.worker import filler_weights

    path = str(tmp_path / "variant.safetensors")
    assert filler_weights("zoom+cra", path) == {"weights": path}
    assert filler_weights("hifill", path) == {"weights": path}
    assert filler_weights("telea+cra", path) is None  # Telea takes no weights
    assert filler_weights("zoom+cra", None) is None


def test_a_bench_method_can_carry_options_for_its_filler_and_lifter():
    from hrinpaint.errors import ConfigError
    from hrinpaint.eval.worker import _make_runner
    from hrinpaint.methods import split_options

    assert split_options("patchmatch+cra") == ("patchmatch+cra", {}, {})
    name, filler, lifter = split_options("patchmatch+octave:texture_weight=0:lifter.low_weight=0.5:vote=best")
    assert (name, filler, lifter) == ("patchmatch+octave", {"texture_weight": 0, "vote": "best"}, {"low_weight": 0.5})
    for bad in ("patchmatch+cra:texture_weight", "patchmatch+cra:colour=1", "patchmatch+cra:lifter.cells=0"):
        with pytest.raises(ConfigError):
            split_options(bad)
    runner = _make_runner("patchmatch+cra:texture_weight=0:lifter.cells=16", 256)
    assert runner.filler.config.texture_weight == 0 and runner.lifter.config.cells == 16


# A bench in its own process whose worker is inside a long job ("sleeping", a peer defined here) when it is killed.
KILLED_BENCH = """
import ctypes, sys, time
from pathlib import Path
import numpy as np
from hrinpaint.eval.peers import PEERS
from hrinpaint.eval.worker import Worker

def sleeping(image, mask):
    Path(sys.argv[1]).touch()
    if sys.argv[2] == "holds-gil":
        ctypes.PyDLL(None).sleep(60)  # native code that keeps the GIL: no Python thread of the worker runs
    else:
        time.sleep(60)
    return image

PEERS["sleeping"] = sleeping  # in the worker too: spawn runs this file there as __mp_main__

if __name__ == "__main__":
    worker = Worker()
    worker._start()
    print(worker._process.pid, flush=True)
    worker.run("sleeping", np.zeros((8, 8, 3), np.float32), np.eye(8, dtype=bool), 512, 120)
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie that no one has reaped yet counts as gone)."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (FileNotFoundError, ProcessLookupError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(
    "job",
    [
        "sleeps",
        pytest.param(
            "holds-gil",
            marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's"),
        ),
    ],
)
def test_worker_ends_when_the_bench_is_killed_in_the_middle_of_a_job(tmp_path, job):
    script, started = tmp_path / "bench.py", tmp_path / "started"
    script.write_text(KILLED_BENCH)
    bench = subprocess.Popen([sys.executable, str(script), str(started), job], stdout=subprocess.PIPE, text=True)
    worker = None
    try:
        worker = int(bench.stdout.readline())
        deadline = time.monotonic() + 120
        while not started.exists():
            assert bench.poll() is None and time.monotonic() < deadline, "the job did not start"
            time.sleep(0.05)
        assert _alive(worker)
        bench.send_signal(signal.SIGTERM)  # as when a bench is killed: no clean-up of its own runs
        bench.wait(timeout=30)
        deadline = time.monotonic() + 5
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker), f"the worker ({job}) outlived the bench by over 5 s"
    finally:
        bench.kill()
        bench.wait()
        if worker is not None and _alive(worker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
