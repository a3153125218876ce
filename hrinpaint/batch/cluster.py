"""``batch --dask ADDRESS``: each image a task on a Dask cluster (``dask.distributed``).

The scheduler moves the tasks of a worker that dies to the others; a task that raised a transient error (an
``OSError`` from storage or the network) runs again up to ``retries`` times; a bad input is reported at once.
Inputs and outputs are paths on a filesystem every worker sees, or fsspec URLs (object storage).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from hrinpaint.batch.plan import BatchOptions, Outcome, Task
from hrinpaint.batch.task import process, unexpected_outcome
from hrinpaint.errors import InpaintError
from hrinpaint.extras import require


def run_task(task: Task, options: BatchOptions, run_started: float) -> Outcome:
    """The function each Dask task runs: transient errors are raised so that the scheduler retries them, and a
    task moved off a lost worker does not write again what that worker wrote."""
    return process(task, options, raise_transient=True, run_started=run_started)


def task_key(task: Task, options: BatchOptions) -> str:
    """A key that names the task by what it writes and how, so that resubmitting the same work is recognised."""
    digest = hashlib.sha1(repr((task, options)).encode()).hexdigest()[:16]
    return f"hrinpaint-{digest}"


def connect(address: str, workers: int, memory_bytes: int | None) -> tuple[Any, Any]:
    """A client for ``address`` (``tcp://host:port``, any scheduler address, or ``local`` for a local cluster of
    ``workers`` single-threaded processes); returns ``(client, cluster or None)``."""
    # dask.distributed re-exports the distributed package; importing it directly keeps a missing one a
    # ModuleNotFoundError that names it (dask's shim turns it into a plain ImportError).
    distributed = require("distributed", "hrinpaint batch --dask")
    if address == "local":
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_bytes or "auto",
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
        return distributed.Client(cluster), cluster
    try:
        return distributed.Client(address, timeout="20s"), None
    except (OSError, TimeoutError) as error:
        raise InpaintError(f"cannot reach the Dask scheduler at '{address}': {error}") from None


def run_dask(
    tasks: Sequence[Task],
    options: BatchOptions,
    client: Any,
    retries: int,
) -> Iterator[Outcome]:
    """Submits one task per image and yields the outcomes as they finish. A task that still fails after its
    retries, or whose workers kept dying (``KilledWorker``), is reported as failed."""
    from dask.distributed import as_completed

    run_started = time.time()
    futures = {}
    for task in tasks:
        key = task_key(task, options)
        future = client.submit(run_task, task, options, run_started, key=key, retries=retries, pure=False)
        futures[future.key] = (future, task)
    for future in as_completed([future for future, _ in futures.values()]):
        task = futures[future.key][1]
        if future.status == "finished":
            yield future.result()
        else:
            yield unexpected_outcome(task, future.exception())
        future.release()
