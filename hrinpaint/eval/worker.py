"""Runs one inpainting job at a time in a separate process, with a time limit and a peak-memory reading.

A run that exceeds its time limit is killed and the worker restarted, so one slow peer cannot stall a
benchmark. A worker ends when the benchmark that started it dies, even in the middle of a long job (see
:func:`_exit_with_parent`). Peak memory is the growth of the process's resident set during the job (see
:class:`_PeakMemory`), which counts native allocations (OpenCV, numba, torch) that Python's tracemalloc cannot see.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from hrinpaint.memory import libc, trim_heap


@dataclass
class JobResult:
    """Outcome of one job: ``status`` is ``"ok"``, ``"timeout"`` or ``"error"``."""

    status: str
    image: np.ndarray | None = None
    time_s: float = float("nan")
    peak_mb: float = float("nan")
    message: str = ""


def _make_runner(method: str, working_size: int, weights: str | None = None) -> Any:
    """A peer, or the project method; ``weights`` go to the method's filler when it takes weights."""
    from hrinpaint.eval.peers import PEERS

    if method in PEERS:
        return PEERS[method]
    from hrinpaint.methods import split_options
    from hrinpaint.pipeline import Inpainter

    name, filler, lifter = split_options(method)
    filler = {**filler, **(filler_weights(name, weights) or {})}
    return Inpainter.from_method(name, filler or None, lifter or None, working_size=working_size)


def filler_weights(method: str, weights: str | None) -> dict[str, Any] | None:
    """The filler config that loads ``weights``: None when there are none or the method's filler takes none."""
    import dataclasses

    from hrinpaint.fillers import FILLERS
    from hrinpaint.methods import resolve_method

    if weights is None:
        return None
    config = getattr(FILLERS.get(resolve_method(method).filler), "Config", None)
    takes = config is not None and any(field.name == "weights" for field in dataclasses.fields(config))
    return {"weights": weights} if takes else None


class _PeakMemory:
    """Peak resident memory of this process during a block, over its resident memory at the start.

    Freed memory is first handed back to the system (glibc ``malloc_trim``), so that a job cannot hide its
    allocations in memory an earlier job left behind. On Linux the kernel's high-water mark (``VmHWM``) is
    reset at the start and read at the end, which sees every allocation however brief; elsewhere a thread
    samples the resident size every few milliseconds.
    """

    def __init__(self, interval: float = 0.005) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = self._peak = 0

    @staticmethod
    def _reset_high_water_mark() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")  # "5" resets the peak resident set size (VmHWM)
            return True
        except OSError:
            return False

    @staticmethod
    def _high_water_mark() -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise OSError("no VmHWM")

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._process.memory_info().rss)
            time.sleep(self._interval)

    def __enter__(self) -> _PeakMemory:
        trim_heap()
        self._start = self._peak = self._process.memory_info().rss
        if not self._reset_high_water_mark():
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, self._process.memory_info().rss)
        else:
            self._peak = self._high_water_mark()

    @property
    def peak_mb(self) -> float:
        return max(0.0, (self._peak - self._start) / 2**20)


#: ``prctl`` option: the signal this process gets when the thread that started it ends (``<linux/prctl.h>``).
_PR_SET_PDEATHSIG = 1


def _exit_with_parent(parent: int, tied_to_thread: bool, poll_s: float = 0.5) -> None:
    """Ends this worker when its parent ``parent`` (the benchmark) dies, rather than running its job to the end as
    an orphan. On Linux the kernel sends SIGKILL at once (``PR_SET_PDEATHSIG``), which stops a job that holds the
    GIL in native code too; the signal follows the parent's starting thread, so it is asked for only when that
    thread is the main one (``tied_to_thread``). Everywhere, a daemon thread polls the parent pid and exits."""
    if tied_to_thread and sys.platform.startswith("linux"):
        library = libc()  # without one to ask, the polling thread below still ends the worker
        if library is not None and hasattr(library, "prctl"):
            library.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)  # the parent is gone: nothing to report to, nothing to clean up

    if os.getppid() != parent:  # it died before the signal was asked for
        os._exit(1)
    threading.Thread(target=watch, name="hrinpaint-parent-watch", daemon=True).start()


def _serve(connection: Any, parent: int | None = None, tied_to_thread: bool = False) -> None:
    if parent is not None:
        _exit_with_parent(parent, tied_to_thread)
    runners: dict[tuple[str, int, str | None], Any] = {}
    while True:
        job = connection.recv()
        if job is None:
            return
        method, working_size, weights, image, mask = job
        try:
            key = (method, working_size, weights)
            if key not in runners:
                runners[key] = _make_runner(method, working_size, weights)
                warm_image = np.full((48, 64, 3), 0.5, np.float32)
                warm_mask = np.zeros((48, 64), bool)
                warm_mask[16:32, 20:40] = True
                runners[key](warm_image, warm_mask)  # compile caches and lazy imports are not part of the timing
            with _PeakMemory() as sampler:
                start = time.perf_counter()
                result = runners[key](image, mask)
                elapsed = time.perf_counter() - start
            connection.send(JobResult("ok", result, elapsed, sampler.peak_mb))
        except Exception as error:  # report and keep serving: one failing method must not end the benchmark
            connection.send(JobResult("error", message=f"{type(error).__name__}: {error}"))


class Worker:
    """A spawned process that runs jobs one at a time; restarted after a timeout."""

    def __init__(self) -> None:
        self._context = mp.get_context("spawn")  # fork would copy the parent's thread pools into the child
        self._process: Any = None
        self._connection: Any = None

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        tied_to_thread = threading.current_thread() is threading.main_thread()
        self._process = self._context.Process(target=_serve, args=(child, os.getpid(), tied_to_thread), daemon=True)
        self._process.start()
        self._connection = parent

    def run(
        self,
        method: str,
        image: np.ndarray,
        mask: np.ndarray,
        working_size: int,
        timeout: float,
        weights: str | None = None,
    ) -> JobResult:
        """Runs ``method`` (a project method name or a peer name) on canonical arrays; ``weights`` go to the
        method's filler when it takes weights."""
        if self._process is None or not self._process.is_alive():
            self._start()
        self._connection.send((method, working_size, weights, image, mask))
        if self._connection.poll(timeout):
            return self._connection.recv()
        self.stop(kill=True)
        return JobResult("timeout", message=f"over {timeout:.0f} s")

    def stop(self, kill: bool = False) -> None:
        if self._process is None:
            return
        if kill or self._connection is None:
            self._process.kill()
        else:
            try:
                self._connection.send(None)
            except (BrokenPipeError, OSError):
                pass
        self._process.join(timeout=10)
        self._process = self._connection = None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
