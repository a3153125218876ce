"""Runs a batch on the engine asked for and reports it the same way for all: a progress bar over all images,
one line per image as it finishes, the summary ``D of N images done, F failed`` and each failure again by name."""

from __future__ import annotations

import os
import posixpath
import sys
from collections.abc import Iterable, Iterator, Sequence

from hrinpaint.batch.plan import BatchOptions, Outcome, Task, is_url, local_path, plan_tasks
from hrinpaint.batch.task import build_inpainter, process, unexpected_outcome


def _sequential(tasks: Sequence[Task], options: BatchOptions) -> Iterator[Outcome]:
    for task in tasks:
        try:
            yield process(task, options)
        except Exception as error:  # a bug on one image is reported like a worker's, and the batch goes on
            yield unexpected_outcome(task, error)


def _report(outcomes: Iterable[Outcome], total: int, quiet: bool) -> list[Outcome]:
    from tqdm import tqdm

    results = []
    # a bar only on a terminal: in a log, its redraws would bury the per-image lines
    shown = not quiet and sys.stderr.isatty()
    with tqdm(total=total, unit="image", delay=1.0, disable=not shown, leave=False, file=sys.stderr) as bar:
        for outcome in outcomes:
            results.append(outcome)
            if outcome.status == "failed":
                bar.write(f"hrinpaint: error: {outcome.task.image}: {outcome.message}", file=sys.stderr)
            elif not quiet:
                bar.write(outcome.message, file=sys.stdout)
            bar.update(1)
    return results


def _remove_partial_writes(tasks: Sequence[Task]) -> None:
    """A worker killed while writing leaves its temporary file beside the output (its task ran again elsewhere
    and wrote the output); once every task has finished, those are removed. Remote outputs are uploaded whole."""
    from hrinpaint.io.atomic import remove_partial_writes

    names_by_folder: dict[str, set[str]] = {}
    for task in tasks:
        if not is_url(task.output):
            path = local_path(task.output)
            names_by_folder.setdefault(os.path.dirname(path) or ".", set()).add(os.path.basename(path))
    for folder, names in names_by_folder.items():
        remove_partial_writes(folder, names)


def check_spread(workers: int | None, retries: int, worker_memory: int | None) -> None:
    """Refuses out-of-bounds ``workers``, ``retries`` and ``worker_memory`` (bytes) with a ConfigError."""
    from hrinpaint.bounds import bounds_for, check_value

    memory_gib = worker_memory / 2**30 if worker_memory is not None else None
    for name, value in (("workers", workers), ("retries", retries), ("worker_memory", memory_gib)):
        check_value("--" + name.replace("_", "-"), value, bounds_for("batch")[name])


def run_batch(
    images: str,
    masks: str,
    output: str,
    options: BatchOptions,
    *,
    workers: int | None = None,
    dask: str | None = None,
    retries: int = 2,
    worker_memory: int | None = None,
    quiet: bool = False,
) -> list[Outcome]:
    """Inpaints every photo of ``images`` with the mask of the same stem in ``masks`` into ``output``.

    Args:
        images, masks, output: folders, as local paths or fsspec URLs.
        options: the per-image options.
        workers: local worker processes (None or 1: this process), or the size of ``dask="local"``'s cluster
            (None: one worker per core).
        dask: a Dask scheduler address, ``"local"`` for a local cluster, or None for no Dask.
        retries: Dask only: extra tries for a task that failed for a transient reason.
        worker_memory: bytes each worker may use (default: its share of the memory available).
        quiet: print only errors.

    Returns:
        One outcome per image, in completion order; the summary has been printed to stderr.

    Raises:
        ConfigError: an option is out of its bounds or the method is unknown; InputError: a folder is missing or
            empty. Both before any image is read.
    """
    check_spread(workers, retries, worker_memory)
    build_inpainter(options)  # an unknown method or bad option fails before any image is read
    tasks = plan_tasks(images, masks, output)
    if dask is not None:
        from hrinpaint.batch.cluster import connect, run_dask

        client, cluster = connect(dask, workers or os.cpu_count() or 1, worker_memory)
        try:
            outcomes = _report(run_dask(tasks, options, client, retries), len(tasks), quiet)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    elif workers is not None and workers > 1:
        from hrinpaint.batch.workers import default_memory, run_workers

        memory = worker_memory or default_memory(workers)
        outcomes = _report(run_workers(tasks, options, workers, memory), len(tasks), quiet)
    else:
        outcomes = _report(_sequential(tasks, options), len(tasks), quiet)
    _remove_partial_writes(tasks)
    failed = sum(outcome.status == "failed" for outcome in outcomes)
    skipped = sum(outcome.status == "skipped" for outcome in outcomes)
    if not quiet or failed:
        already = f", {skipped} already written (skipped)" if skipped else ""
        print(f"{len(tasks) - failed} of {len(tasks)} images done, {failed} failed{already}", file=sys.stderr)
    for outcome in sorted((o for o in outcomes if o.status == "failed"), key=lambda o: o.task.image):
        print(f"  failed: {posixpath.basename(outcome.task.image)}: {outcome.message}", file=sys.stderr)
    return outcomes
