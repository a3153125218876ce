"""``batch --workers N``: N local worker processes, each with its share of the cores and a memory bound.

Each worker is a fresh interpreter (spawned, not forked from a process whose thread pools already run) that takes
one task at a time over its own pipe. The parent watches every worker's resident memory: a worker that grows past
its bound is stopped, its image is reported as failed, and a new worker takes the next image. (A hard limit set
inside the worker, such as ``RLIMIT_DATA``, is no good here: some native libraries spin on a failed allocation
instead of failing.) A worker that dies for any other reason is replaced the same way.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from hrinpaint.batch.plan import BatchOptions, Outcome, Task
from hrinpaint.batch.task import process, unexpected_outcome

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
#: How often the parent looks at the workers' memory, in seconds.
_WATCH_INTERVAL = 0.2


def _available_memory() -> int:
    """Bytes of memory available now (psutil where installed, else Linux's /proc/meminfo)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        return int(fields["MemAvailable"].split()[0]) * 1024


def resident_memory(pid: int) -> int:
    """Resident memory of process ``pid`` in bytes (0 if it is gone)."""
    try:
        import psutil

        try:
            return int(psutil.Process(pid).memory_info().rss)
        except psutil.Error:
            return 0
    except ImportError:
        try:
            with open(f"/proc/{pid}/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            return 0


def default_memory(workers: int) -> int:
    """Each worker's share of the memory available now, in bytes."""
    return int(_available_memory() / max(1, workers))


def _worker(connection: Connection, threads: int, options: BatchOptions) -> None:
    """A worker's life: fix the thread pools before torch, OpenCV or numba load, then run tasks until told to
    stop (None)."""
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    while (task := connection.recv()) is not None:
        try:
            outcome = process(task, options)
        except Exception as error:  # a bug on one image is reported, and the worker goes on
            outcome = unexpected_outcome(task, error)
        connection.send(outcome)


@dataclass
class _Slot:
    process: Any
    connection: Connection
    task: Task | None = None


def run_workers(tasks: Sequence[Task], options: BatchOptions, workers: int, memory_bytes: int) -> Iterator[Outcome]:
    """Yields each task's outcome as it finishes, in completion order."""
    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // workers)
    waiting = deque(tasks)

    def start() -> _Slot:
        parent, child = context.Pipe()
        worker = context.Process(target=_worker, args=(child, threads, options), daemon=True)
        worker.start()
        child.close()
        return _Slot(worker, parent)

    def give_work(slot: _Slot) -> None:
        slot.task = waiting.popleft() if waiting else None
        if slot.task is not None:
            slot.connection.send(slot.task)

    def retire(slot: _Slot) -> None:
        slot.process.kill()
        slot.process.join()
        slot.connection.close()

    slots = [start() for _ in range(min(workers, len(tasks)))]
    for slot in slots:
        give_work(slot)
    try:
        while any(slot.task is not None for slot in slots):
            busy = [slot for slot in slots if slot.task is not None]
            ready = set(wait([s.connection for s in busy] + [s.process.sentinel for s in busy], _WATCH_INTERVAL))
            for index, slot in enumerate(slots):
                if slot.task is None:
                    continue
                outcome = None
                if slot.connection in ready:
                    try:
                        outcome = slot.connection.recv()
                    except (EOFError, OSError):
                        pass
                if outcome is not None:
                    give_work(slot)
                    yield outcome
                    continue
                problem = None
                if not slot.process.is_alive():
                    problem = f"its worker process died (exit code {slot.process.exitcode})"
                else:
                    resident = resident_memory(slot.process.pid)
                    if resident > memory_bytes:
                        problem = (
                            f"its worker used {resident / 2**30:.2f} GiB, over the {memory_bytes / 2**30:.2f} GiB "
                            "per worker (--worker-memory; or use fewer workers)"
                        )
                if problem is not None:
                    failed = Outcome(slot.task, "failed", problem)
                    retire(slot)
                    slot.task = None
                    if waiting:
                        slots[index] = start()
                        give_work(slots[index])
                    yield failed
    finally:
        for slot in slots:  # idle workers stop by themselves; busy ones (an interrupted batch) are stopped
            if slot.task is None and slot.process.is_alive():
                with contextlib.suppress(OSError):
                    slot.connection.send(None)
                slot.process.join(timeout=5)
            if slot.process.is_alive():
                retire(slot)
