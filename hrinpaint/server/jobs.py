"""One worker thread and a bounded queue of jobs.

Inpainting a photo takes seconds and hundreds of megabytes, so the server runs one job at a time and lets a few
wait; when the queue is full a new job is refused at once (the API answers 503 with ``Retry-After``) instead of
piling up memory. A finished job keeps its result until it is fetched or for ``keep_seconds``, whichever is first.
After every job the worker returns memory to the operating system.

No job can hold the worker for good: :meth:`JobQueue.cancel` stops a job (a client's ``DELETE``, a client that
went away) and a watchdog stops one that runs past ``time_limit``. A waiting job is dropped; a running one gets
the error raised in the worker thread (``PyThreadState_SetAsyncExc``, at the next Python bytecode: between numpy,
OpenCV or torch calls, so within a fraction of a second for the bounded options) and at its next progress report.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
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

from hrinpaint.errors import JobCancelled, JobTimedOut
from hrinpaint.memory import trim_heap

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
    #: why the job was stopped (the error its client gets), or None
    cancel_error: BaseException | None = None
    _thread_id: int | None = None  # the worker's, while the job's own code runs and may be interrupted
    _interrupted: bool = False

    def progress(self, done: int, total: int) -> None:
        """A pipeline progress callback: ``done`` of ``total`` regions filled; raises once the job is cancelled."""
        self.done, self.total = done, total
        if self.cancel_error is not None:
            raise JobCancelled(str(self.cancel_error))

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
        time_limit: seconds a job may run before it is stopped with :class:`JobTimedOut` (None: no limit).
    """

    def __init__(
        self, capacity: int = 4, keep_seconds: float = 300.0, max_kept: int = 8, time_limit: float | None = None
    ) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        if time_limit is not None and not time_limit > 0:
            raise ValueError(f"time_limit must be positive or None, got {time_limit}")
        self.capacity = capacity
        self.time_limit = time_limit
        self.keep_seconds = keep_seconds
        self.max_kept = max_kept
        self._waiting: deque[Job] = deque()
        self._running: Job | None = None
        self._jobs: dict[str, Job] = {}
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
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
            if self.time_limit is not None and (self._watchdog is None or not self._watchdog.is_alive()):
                self._watchdog = threading.Thread(target=self._watch, name="hrinpaint-watchdog", daemon=True)
                self._watchdog.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Drops the waiting jobs, stops the running one and joins the worker."""
        with self._condition:
            self._stopping = True
            dropped = list(self._waiting)
            self._waiting.clear()
            if self._running is not None:
                self._interrupt(self._running, JobCancelled("the server is shutting down"))
            self._condition.notify_all()
        for job in dropped:
            self._finish(job, error=RuntimeError("the server is shutting down"))
            _run_cleanup(job)
        for thread in (self._thread, self._watchdog):
            if thread is not None:
                thread.join(timeout)
        self._thread = self._watchdog = None

    def cancel(self, job_id: str, error: BaseException | None = None) -> bool:
        """Stops a job: a waiting one is dropped, a running one interrupted; ``error`` is what its client gets.

        Returns:
            True when the job was waiting or running, False when it had finished or is unknown.
        """
        error = error if error is not None else JobCancelled("the job was cancelled")
        with self._condition:
            job = self._jobs.get(job_id)
            if job is None or job.state in (DONE, FAILED):
                return False
            if job in self._waiting:
                self._waiting.remove(job)
                dropped = True
            else:
                self._interrupt(job, error)
                dropped = False
        if dropped:
            job.cancel_error = error
            self._finish(job, error=error)
            _run_cleanup(job)
        return True

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
                result, error = self._execute(job)
                if job.cancel_error is not None:  # cancelled: whatever the work did, the client gets why
                    result, error = None, job.cancel_error
                self._finish(job, result=result, error=error)
            finally:
                _run_cleanup(job)
                with self._condition:
                    self._running = None
                    seconds = job.seconds or 0.0
                    self._mean_seconds = 0.7 * self._mean_seconds + 0.3 * seconds
                del job  # the worker must not hold the last job's arrays while it waits for the next one
                release_memory()

    def _execute(self, job: Job) -> tuple[Any, BaseException | None]:
        """Runs ``job.work`` where :meth:`_interrupt` may raise into it; no interruption escapes this method."""
        try:
            try:
                with self._condition:
                    job._thread_id = threading.get_ident()
                    stopped = job.cancel_error  # cancelled between leaving the queue and starting
                try:
                    if stopped is not None:
                        return None, stopped
                    return job.work(job), None
                except BaseException as error:  # every failure goes to the client; the worker lives on
                    return None, error
                finally:
                    with self._condition:
                        job._thread_id = None  # from here on _interrupt leaves this thread alone
                    _set_async_exception(threading.get_ident(), None)  # drop one that has not fired yet
            except JobCancelled as late:  # it fired on the way out of the work: the job is stopped all the same
                return None, late
        except JobCancelled as late:  # or in the handler above; it is raised at most once per job
            return None, late

    def _interrupt(self, job: Job, error: BaseException) -> None:
        """Records why ``job`` stops and raises that error's type in the worker (once); holds the lock."""
        if job.cancel_error is None:
            job.cancel_error = error
        if job._thread_id is not None and not job._interrupted:
            job._interrupted = True
            # the type only (CPython raises a class); the worker reports job.cancel_error itself
            _set_async_exception(job._thread_id, JobTimedOut if isinstance(error, JobTimedOut) else JobCancelled)

    def _watch(self) -> None:
        """Stops the running job once it has run past ``time_limit``."""
        limit = self.time_limit
        assert limit is not None
        while True:
            with self._condition:
                if self._stopping:
                    return
                job = self._running
                if job is not None and job.started is not None and time.monotonic() - job.started > limit:
                    self._interrupt(job, JobTimedOut(f"the job ran past the server's time limit of {limit:g} s"))
            time.sleep(min(0.05, limit / 4))

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


def _set_async_exception(thread_id: int, error_type: type[BaseException] | None) -> None:
    """Raises ``error_type`` in the thread at its next bytecode (None clears a pending one)."""
    exception = None if error_type is None else ctypes.py_object(error_type)  # None goes as NULL: clear
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), exception)


def _run_cleanup(job: Job) -> None:
    if job.cleanup is None:
        return
    cleanup, job.cleanup = job.cleanup, None
    try:
        cleanup()
    except Exception:  # a failed clean-up must not take the worker down; it is logged
        logger.exception("clean-up of job %s failed", job.id)


def release_memory() -> None:
    """Collects garbage and hands freed heap pages back to the system (:func:`hrinpaint.memory.trim_heap`), so
    that a long-lived server does not keep the peak of its largest job."""
    gc.collect()
    trim_heap()
