"""One worker thread and a bounded queue of jobs.

Inpainting a photo takes seconds and hundreds of megabytes, so the server runs one job at a time and lets a few
wait; when the queue is full a new job is refused at once (the API answers 503 with ``Retry-After``) instead of
piling up memory. A finished job keeps its result until it is fetched or for ``keep_seconds``, whichever is first.
After every job the worker returns memory to the operating system.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("hrinpaint.server")

#: Job states, in order.
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


class QueueFull(Exception):
    """The queue holds as many waiting jobs as it may; ``retry_after`` estimates the seconds until a slot frees."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the server is busy; retry in about {retry_after} s")
        self.retry_after = retry_after


@dataclass(eq=False)
class Job:
    """A unit of work and what the client may see of it.

    Attributes:
        work: called as ``work(job)`` on the worker thread; its return value is the result. It may update
            ``stage``, ``done`` and ``total`` to report progress.
        cleanup: called on the worker thread after ``work`` (or when the job is dropped before it ran).
        id: random, unguessable; the only handle a client gets.
        state: ``queued``, ``running``, ``done`` or ``failed``.
        stage: finer-grained, set by ``work`` (``reading``, ``filling``, ``writing``).
        done, total: progress units (the pipeline's regions).
        future: resolves to the result, or raises the job's error.
    """

    work: Callable[[Job], Any]
    cleanup: Callable[[], None] | None = None
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    state: str = QUEUED
    stage: str = QUEUED
    done: int = 0
    total: int = 0
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)

    def progress(self, done: int, total: int) -> None:
        """A pipeline progress callback: ``done`` of ``total`` regions filled."""
        self.done, self.total = done, total

    @property
    def seconds(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.monotonic()) - self.started


class JobQueue:
    """Runs jobs one at a time on a worker thread; at most ``capacity`` jobs wait.

    Args:
        capacity: waiting jobs allowed besides the running one (0: only one job at a time, no queue).
        keep_seconds: how long a finished job's result is kept for a client that has not fetched it.
        max_kept: most finished jobs kept (the oldest go first).
    """

    def __init__(self, capacity: int = 4, keep_seconds: float = 300.0, max_kept: int = 8) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self.keep_seconds = keep_seconds
        self.max_kept = max_kept
        self._waiting: deque[Job] = deque()
        self._running: Job | None = None
        self._jobs: dict[str, Job] = {}
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._mean_seconds = 2.0  # a first guess for Retry-After; replaced by measured job times

    # ------------------------------------------------------------------------------------------ life cycle

    def start(self) -> None:
        with self._condition:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._loop, name="hrinpaint-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Drops the waiting jobs, lets the running one finish and joins the worker."""
        with self._condition:
            self._stopping = True
            dropped = list(self._waiting)
            self._waiting.clear()
            self._condition.notify_all()
        for job in dropped:
            self._finish(job, error=RuntimeError("the server is shutting down"))
            _run_cleanup(job)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # ------------------------------------------------------------------------------------------ clients

    def submit(self, work: Callable[[Job], Any], cleanup: Callable[[], None] | None = None) -> Job:
        """Queues ``work``; raises :class:`QueueFull` (and runs ``cleanup``) when the queue is full."""
        job = Job(work=work, cleanup=cleanup)
        with self._condition:
            self._expire()
            busy = self._running is not None or self._waiting
            if self._stopping or (busy and len(self._waiting) >= self.capacity):
                retry_after = self._retry_after()
                full = True
            else:
                self._waiting.append(job)
                self._jobs[job.id] = job
                self._condition.notify_all()
                full = False
        if full:
            _run_cleanup(job)
            raise QueueFull(retry_after)
        self.start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._condition:
            self._expire()
            return self._jobs.get(job_id)

    def forget(self, job_id: str) -> None:
        """Drops a finished job and its result (after the client has it)."""
        with self._condition:
            job = self._jobs.get(job_id)
            if job is not None and job.state in (DONE, FAILED):
                del self._jobs[job_id]

    def position(self, job: Job) -> int:
        """0 while running or finished; 1 for the next job to run, and so on."""
        with self._condition:
            try:
                return self._waiting.index(job) + 1
            except ValueError:
                return 0

    def is_full(self) -> bool:
        """True when a new job would be refused (a cheap check before reading a request's uploads)."""
        with self._condition:
            busy = self._running is not None or bool(self._waiting)
            return self._stopping or (busy and len(self._waiting) >= self.capacity)

    def retry_after(self) -> int:
        """Seconds until the queue probably has room: the running job and one waiting one, at the mean job time."""
        with self._condition:
            return self._retry_after()

    def status(self) -> dict[str, Any]:
        with self._condition:
            return {"running": self._running is not None, "waiting": len(self._waiting), "capacity": self.capacity}

    # ------------------------------------------------------------------------------------------ worker

    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._waiting and not self._stopping:
                    self._condition.wait()
                if self._stopping:
                    return
                job = self._waiting.popleft()
                if not job.future.set_running_or_notify_cancel():  # its client went away while it waited
                    job.state = job.stage = FAILED
                    job.finished = time.monotonic()
                    self._jobs.pop(job.id, None)
                    _run_cleanup(job)
                    continue
                self._running = job
                job.state, job.started = RUNNING, time.monotonic()
            try:
                self._finish(job, result=job.work(job))
            except BaseException as error:  # every failure goes to the client; the worker lives on
                self._finish(job, error=error)
            finally:
                _run_cleanup(job)
                with self._condition:
                    self._running = None
                    seconds = job.seconds or 0.0
                    self._mean_seconds = 0.7 * self._mean_seconds + 0.3 * seconds
                del job  # the worker must not hold the last job's arrays while it waits for the next one
                release_memory()

    def _finish(self, job: Job, result: Any = None, error: BaseException | None = None) -> None:
        job.finished = time.monotonic()
        job.state = job.stage = DONE if error is None else FAILED
        with contextlib.suppress(concurrent.futures.InvalidStateError):  # cancelled before it ran
            if error is None:
                job.future.set_result(result)
            else:
                job.future.set_exception(error)

    def _retry_after(self) -> int:
        return max(1, math.ceil(self._mean_seconds * min(len(self._waiting) + 1, 2)))

    def _expire(self) -> None:
        """Drops finished jobs older than ``keep_seconds`` and the oldest beyond ``max_kept``; holds the lock."""
        now = time.monotonic()
        finished = [job for job in self._jobs.values() if job.finished is not None]
        finished.sort(key=lambda job: job.finished or 0.0)
        excess = len(finished) - self.max_kept
        for index, job in enumerate(finished):
            if index < excess or now - (job.finished or now) > self.keep_seconds:
                del self._jobs[job.id]


def _run_cleanup(job: Job) -> None:
    if job.cleanup is None:
        return
    cleanup, job.cleanup = job.cleanup, None
    try:
        cleanup()
    except Exception:  # a failed clean-up must not take the worker down; it is logged
        logger.exception("clean-up of job %s failed", job.id)


_libc: Any = None


def release_memory() -> None:
    """Collects garbage and asks glibc to give freed heap pages back to the system (a no-op elsewhere).

    Large numpy arrays are memory-mapped and return on free; the many medium ones of a pipeline run land in
    malloc's arenas, which keep them unless trimmed, so a long-lived server would otherwise keep its peak.
    """
    global _libc
    gc.collect()
    if _libc is None:
        name = ctypes.util.find_library("c")
        _libc = False
        if name:
            with contextlib.suppress(OSError):
                candidate = ctypes.CDLL(name)
                if hasattr(candidate, "malloc_trim"):
                    _libc = candidate
    if _libc:
        _libc.malloc_trim(0)
