"""Batches on local worker processes and on a Dask cluster: same outputs, bit for bit, as one process; a bad image
is listed; a killed worker loses no image and writes none twice; an interrupted run resumes."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hrinpaint.batch import BatchOptions, run_batch

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install .[cluster])")

GOOD = 10
# patchmatch+cra is deterministic and takes a noticeable fraction of a second per image: a kill lands midway
OPTIONS = BatchOptions(method="patchmatch+cra", working_size=128)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """GOOD photos with masks, one file that is no image, and the single-process outputs to compare with."""
    root = tmp_path_factory.mktemp("batch")
    images, masks = root / "images", root / "masks"
    images.mkdir()
    masks.mkdir()
    rng = np.random.default_rng(7)
    for index in range(GOOD):
        height, width = 150 + 7 * index, 200 + 5 * index
        # smooth colour ramps plus noise: structure for the fill to continue, and texture for cra to lift
        ramp = np.linspace(0, 1, width)[None, :, None] * rng.uniform(0.3, 1, 3)
        noise = rng.normal(0, 0.05, (height, width, 3))
        Image.fromarray((np.clip(ramp + noise, 0, 1) * 255).astype(np.uint8)).save(images / f"p{index:02d}.png")
        hole = np.zeros((height, width), np.uint8)
        hole[height // 3 : height // 3 + 40, width // 4 : width // 4 + 60 + index] = 255
        Image.fromarray(hole).save(masks / f"p{index:02d}.png")
    (images / "broken.png").write_bytes(b"this is not a PNG")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(masks / "broken.png")
    reference = root / "reference"
    outcomes = run_batch(str(images), str(masks), str(reference), OPTIONS, quiet=True)
    assert sorted(o.status for o in outcomes) == ["done"] * GOOD + ["failed"]
    return images, masks, reference


def assert_same_outputs(out: Path, reference: Path) -> None:
    names = sorted(path.name for path in reference.iterdir())
    assert sorted(path.name for path in out.iterdir()) == names  # no temporary file left either
    for name in names:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def assert_broken_listed(outcomes, stderr: str) -> None:
    failed = [o for o in outcomes if o.status == "failed"]
    assert [Path(o.task.image).name for o in failed] == ["broken.png"]
    assert "not a recognised image file" in failed[0].message
    assert f"{GOOD} of {GOOD + 1} images done, 1 failed" in stderr
    assert stderr.rstrip().splitlines()[-1] == f"  failed: broken.png: {failed[0].message}"


class WriteWatcher:
    """Polls a folder and records every version of each file (inode and change time): an atomic rewrite makes a
    new one, so a file written twice shows two versions."""

    def __init__(self, folder: Path):
        self.folder, self.versions, self.stop = folder, {}, threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.stop.is_set():
            for entry in os.scandir(self.folder) if self.folder.exists() else ():
                if not entry.name.startswith("."):
                    with_stat = entry.stat()
                    self.versions.setdefault(entry.name, set()).add((with_stat.st_ino, with_stat.st_ctime_ns))
            time.sleep(0.002)

    def finish(self) -> dict[str, set]:
        time.sleep(0.02)
        self.stop.set()
        self.thread.join()
        return self.versions


def test_workers_match_one_process(folders, tmp_path, capsys):
    images, masks, reference = folders
    outcomes = run_batch(str(images), str(masks), str(tmp_path / "out"), OPTIONS, workers=2)
    assert_broken_listed(outcomes, capsys.readouterr().err)
    assert_same_outputs(tmp_path / "out", reference)


def test_a_worker_over_its_memory_bound_fails_its_image_not_the_batch(tmp_path, capsys):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for name in ("a", "b", "c"):
        Image.fromarray(np.full((30, 40, 3), 90, np.uint8)).save(images / f"{name}.png")
        Image.fromarray(np.pad(np.full((10, 10), 255, np.uint8), 10)).resize((40, 30)).save(masks / f"{name}.png")
    # 32 MiB is less than a worker needs to load the method: each worker is stopped, its image reported
    out = tmp_path / "out"
    outcomes = run_batch(str(images), str(masks), str(out), OPTIONS, workers=2, worker_memory=32 << 20)
    assert sorted(Path(o.task.image).name for o in outcomes) == ["a.png", "b.png", "c.png"]
    assert all(o.status == "failed" and "over the 0.03 GiB per worker" in o.message for o in outcomes)
    assert "0 of 3 images done, 3 failed" in capsys.readouterr().err and not any(out.iterdir())


def test_dask_cluster_with_a_killed_worker(folders, tmp_path, capsys):
    images, masks, reference = folders
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            pids = client.run(os.getpid)  # worker address -> process id
        watcher = WriteWatcher(out)
        result: dict = {}
        address = cluster.scheduler_address
        thread = threading.Thread(
            target=lambda: result.update(outcomes=run_batch(str(images), str(masks), str(out), OPTIONS, dask=address))
        )
        thread.start()
        deadline = time.monotonic() + 120
        while not any(out.glob("p*.png")) and time.monotonic() < deadline:
            time.sleep(0.005)
        written_before_kill = len(list(out.glob("p*.png")))
        os.kill(next(iter(pids.values())), signal.SIGKILL)  # the nanny starts a new worker; its tasks move
        thread.join(timeout=300)
        versions = watcher.finish()
    assert 1 <= written_before_kill < GOOD, "the kill must land midway"
    assert_broken_listed(result["outcomes"], capsys.readouterr().err)
    assert_same_outputs(out, reference)
    assert {name: len(seen) for name, seen in versions.items()} == {f"p{i:02d}.png": 1 for i in range(GOOD)}


def settled(out: Path, quiet_seconds: float = 2.0) -> dict[str, tuple[int, int]]:
    """Each output's version (inode, change time) once the folder has not changed for ``quiet_seconds``."""
    deadline, last, since = time.monotonic() + 60, None, time.monotonic()
    while time.monotonic() < deadline:
        now = {path.name: (path.stat().st_ino, path.stat().st_ctime_ns) for path in out.glob("p*.png")}
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > quiet_seconds:
            return now
        time.sleep(0.1)
    raise AssertionError("the outputs kept changing after the client was gone")


def test_interrupted_dask_run_resumes(folders, tmp_path, capsys):
    images, masks, reference = folders
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
        command = [sys.executable, "-m", "hrinpaint.cli", "batch", str(images), str(masks), "-o", str(out)]
        command += [
            "-m",
            OPTIONS.method,
            "--working-size",
            str(OPTIONS.working_size),
            "--dask",
            cluster.scheduler_address,
        ]
        client = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not any(out.glob("p*.png")) and time.monotonic() < deadline and client.poll() is None:
            time.sleep(0.005)
        client.kill()  # the client disconnects without a word, midway
        client.wait()
        before = settled(out)  # tasks that were running when the client vanished still finish
        assert 1 <= len(before) < GOOD, "the interruption must land midway"
        resumed = BatchOptions(**{**OPTIONS.__dict__, "resume": True})
        outcomes = run_batch(str(images), str(masks), str(out), resumed, dask=cluster.scheduler_address)
    skipped = sorted(Path(o.task.output).name for o in outcomes if o.status == "skipped")
    assert skipped == sorted(before)
    after = {name: (path.stat().st_ino, path.stat().st_ctime_ns) for name in before if (path := out / name)}
    assert after == before  # what was written is not written again
    assert_same_outputs(out, reference)
    stderr = capsys.readouterr().err
    assert f"{len(before)} already written (skipped)" in stderr and "1 failed" in stderr


def test_fsspec_urls(folders, capsys):
    """Inputs and outputs on an fsspec filesystem (in memory here, object storage on a cluster)."""
    import fsspec

    images, masks, reference = folders
    fs = fsspec.filesystem("memory")
    for folder in (images, masks):
        for path in folder.iterdir():
            fs.pipe_file(f"/in/{folder.name}/{path.name}", path.read_bytes())
    outcomes = run_batch("memory://in/images", "memory://in/masks", "memory://results", OPTIONS)
    assert_broken_listed(outcomes, capsys.readouterr().err)
    for path in reference.iterdir():
        assert fs.cat_file(f"/results/{path.name}") == path.read_bytes()


def test_memory_readings_without_psutil(monkeypatch):
    """The core install has no psutil: --workers then reads Linux's /proc, and gets the same resident memory."""
    from hrinpaint.batch.workers import default_memory, resident_memory

    with_psutil = resident_memory(os.getpid())
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil now raises ImportError
    assert abs(resident_memory(os.getpid()) - with_psutil) < 64 << 20
    assert resident_memory(2**22 + 12345) == 0  # no such process
    assert 0 < default_memory(2) < default_memory(1)


def test_dask_retries_transient_storage_errors(folders, capsys):
    """A storage read that fails once (a dropped connection) is retried by Dask and the image is done; with no
    retries left it is listed with its error. Workers are threads here, so they share the flaky filesystem."""
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    class FlakyFileSystem(MemoryFileSystem):
        protocol = "flaky"
        store, pseudo_dirs = {}, [""]
        failed: set = set()

        @classmethod
        def _strip_protocol(cls, path):
            return MemoryFileSystem._strip_protocol(path.removeprefix("flaky://"))

        def get_file(self, path, lpath, **kwargs):
            if path not in self.failed:
                self.failed.add(path)
                raise ConnectionError(f"connection reset while reading {path}")
            return super().get_file(path, lpath, **kwargs)

    fsspec.register_implementation("flaky", FlakyFileSystem, clobber=True)
    images, masks, reference = folders
    fs = FlakyFileSystem()
    for folder in (images, masks):
        for path in folder.iterdir():
            fs.pipe_file(f"/in/{folder.name}/{path.name}", path.read_bytes())
    in_process = {"n_workers": 1, "threads_per_worker": 2, "processes": False, "dashboard_address": ":0"}
    with distributed.LocalCluster(**in_process) as cluster:
        address = cluster.scheduler_address
        outcomes = run_batch("flaky://in/images", "flaky://in/masks", "flaky://retried", OPTIONS, dask=address)
        assert_broken_listed(outcomes, capsys.readouterr().err)
        for path in reference.iterdir():
            assert fs.cat_file(f"/retried/{path.name}") == path.read_bytes()
        assert len(FlakyFileSystem.failed) == 2 * (GOOD + 1)  # every photo and mask failed once, then was read
        FlakyFileSystem.failed.clear()
        outcomes = run_batch("flaky://in/images", "flaky://in/masks", "flaky://once", OPTIONS, dask=address, retries=0)
    failed = [o.message for o in outcomes if o.status == "failed"]  # the broken file's first read fails too
    assert len(failed) == GOOD + 1
    assert all(m.startswith("unexpected ConnectionError: connection reset while reading") for m in failed), failed


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [("--workers", "0", "--workers must be 1 to 1024"), ("--retries", "-1", "--retries must be 0 to 100")],
)
def test_bad_spread_is_one_line_exit_2_before_any_work(tmp_path, capsys, option, value, words):
    from hrinpaint.cli import main

    status = main(["batch", str(tmp_path), str(tmp_path), "-o", str(tmp_path / "out"), option, value])
    captured = capsys.readouterr()
    assert status == 2 and captured.err.startswith("hrinpaint: error: ") and captured.err.count("\n") == 1
    assert words in captured.err and not (tmp_path / "out").exists()


def test_partial_writes_of_killed_workers_are_removed(tmp_path):
    """What a write killed midway leaves (io's temporary name) goes; anything else stays."""
    from hrinpaint.io import write_image
    from hrinpaint.io.atomic import remove_partial_writes

    write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    names = [".a.png.0123abcd.tmp", ".b.png.0123abcd.tmp", ".a.png.notahex.tmp", "a.png.0123abcd.tmp"]
    for name in names:
        (tmp_path / name).write_bytes(b"partial")
    assert remove_partial_writes(tmp_path, {"a.png"}) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["a.png", *names[1:]])


def test_cli_dask_local_starts_and_stops_its_own_cluster(folders, tmp_path, capsys):
    from hrinpaint.cli import main

    images, masks, reference = folders
    argv = ["batch", str(images), str(masks), "-o", str(tmp_path / "out"), "-m", OPTIONS.method]
    argv += ["--working-size", str(OPTIONS.working_size), "--dask", "local", "--workers", "1"]
    assert main(argv) == 1  # the broken image
    captured = capsys.readouterr()
    assert f"{GOOD} of {GOOD + 1} images done, 1 failed" in captured.err
    assert captured.out.count("filled") == GOOD
    assert_same_outputs(tmp_path / "out", reference)
