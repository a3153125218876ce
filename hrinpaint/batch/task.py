"""One image of a batch, run wherever it is sent: this process, a local worker process or a Dask worker.

A bad input (an :class:`~hrinpaint.errors.InpaintError`) is an answer, not a crash: it comes back as a failed
:class:`~hrinpaint.batch.plan.Outcome` and is never retried. A failure that may pass on a second try (an
``OSError`` from remote storage or the network) is raised when the caller can retry (Dask), reported otherwise.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hrinpaint.batch.plan import BatchOptions, Outcome, Task, is_url, local_path, url_fs
from hrinpaint.errors import InpaintError, InputError, OutputError, one_line

ProgressCallback = Callable[[int, int], None]

#: One built method per option set and process: weights load once per worker, not once per image.
_INPAINTERS: dict[tuple[Any, ...], Any] = {}


def build_inpainter(options: BatchOptions) -> Any:
    """The :class:`~hrinpaint.pipeline.Inpainter` for ``options``, built once per process."""
    from hrinpaint.pipeline import Inpainter

    key = (options.method, options.weights, options.working_size, options.max_pixels, options.grow)
    key += (options.device, options.half, options.threads)
    if key not in _INPAINTERS:
        filler_config = {"weights": options.weights} if options.weights else None
        _INPAINTERS[key] = Inpainter.from_method(
            options.method,
            filler_config,
            device=options.device,
            half=options.half,
            threads=options.threads,
            working_size=options.working_size,
            max_pixels=options.max_pixels,
            grow=options.grow,
        )
    return _INPAINTERS[key]


def inpaint_file(
    image_path: str,
    mask_path: str,
    output: str,
    options: BatchOptions,
    inpainter: Any,
    progress: ProgressCallback | None = None,
) -> int:
    """Inpaints one local file pair and writes ``output``; returns the number of hole pixels filled (0: the mask
    was empty and the image was copied unchanged). Raises InpaintError on bad input."""
    from hrinpaint import io

    io.check_output_path(output, [image_path, mask_path], overwrite=options.overwrite)
    loaded = io.read_image(image_path, max_pixels=options.max_pixels)
    mask = io.read_mask(
        mask_path,
        shape=loaded.pixels.shape[:2],
        invert=options.invert_mask,
        max_pixels=options.max_pixels,
        threshold=options.mask_threshold,
    )
    if loaded.info.alpha is not None and Path(output).suffix.lower() in (".jpg", ".jpeg"):
        print(
            f"hrinpaint: warning: {image_path} has transparency and JPEG has none: the alpha channel is dropped "
            "(write .png, .webp or .tif to keep it)",
            file=sys.stderr,
        )
    if not mask.any():
        if Path(image_path).suffix.lower() == Path(output).suffix.lower():
            io.copy_file(image_path, output, overwrite=options.overwrite)
        else:
            io.write_image(output, loaded.pixels, loaded.info, quality=options.quality, overwrite=options.overwrite)
        return 0
    result = inpainter(loaded.pixels, mask, progress=progress)
    io.write_image(output, result, loaded.info, quality=options.quality, overwrite=options.overwrite)
    return int(mask.sum())


def describe(image: str, output: str, filled: int, method: str) -> str:
    """The one-line summary of an inpainted file."""
    if not filled:
        return f"{image}: the mask is empty, copied the image unchanged to {output}"
    return f"{image}: filled {filled:,} pixels with {method} -> {output}"


def output_exists(location: str) -> bool:
    if is_url(location):
        fs, path = url_fs(location)
        return bool(fs.exists(path))
    return os.path.exists(local_path(location))


def written_since(location: str, since: float) -> bool:
    """True if ``location`` exists and was last written at or after ``since`` (seconds since the epoch)."""
    try:
        if is_url(location):
            fs, path = url_fs(location)
            return bool(fs.exists(path)) and fs.modified(path).timestamp() >= since
        return os.stat(local_path(location)).st_mtime >= since
    except (OSError, NotImplementedError):
        return False


def _same_location(first: str, second: str) -> bool:
    """True when two locations (fsspec URLs or paths) name the same file on the same filesystem."""
    (fs_a, path_a), (fs_b, path_b) = url_fs(first), url_fs(second)
    return fs_a.protocol == fs_b.protocol and path_a.rstrip("/") == path_b.rstrip("/")


def _refuse_remote_overwrite(task: Task) -> None:
    """A remote output that is the task's own image or mask is refused as a local one is (the local check sees only
    the downloaded copies)."""
    for location in (task.image, task.mask):
        if location is not None and is_url(task.output) and _same_location(task.output, location):
            raise OutputError(f"cannot write '{task.output}': it is the input file (use --overwrite to replace it)")


@contextlib.contextmanager
def _local_files(task: Task) -> Iterator[tuple[str, str, str]]:
    """Local paths for the task's image, mask and output: remote inputs are downloaded into a private temporary
    folder and the output is uploaded from it when the block succeeds; local ones are used in place."""
    assert task.mask is not None
    if not any(is_url(location) for location in (task.image, task.mask, task.output)):
        yield local_path(task.image), local_path(task.mask), local_path(task.output)
        return
    with tempfile.TemporaryDirectory(prefix="hrinpaint-") as folder:
        paths = []
        for role, location in (("image", task.image), ("mask", task.mask)):
            if not is_url(location):
                paths.append(local_path(location))
                continue
            fs, remote = url_fs(location)
            if not fs.isfile(remote):
                raise InputError(f"cannot read '{location}': it does not exist")
            copy = os.path.join(folder, f"{role}-{posixpath.basename(remote)}")
            fs.get_file(remote, copy)
            paths.append(copy)
        if not is_url(task.output):
            yield paths[0], paths[1], local_path(task.output)
            return
        output = os.path.join(folder, "output-" + posixpath.basename(task.output))
        yield paths[0], paths[1], output
        fs, remote = url_fs(task.output)
        fs.put_file(output, remote)


def process(
    task: Task,
    options: BatchOptions,
    progress: ProgressCallback | None = None,
    *,
    raise_transient: bool = False,
    run_started: float | None = None,
) -> Outcome:
    """Runs one task; returns its outcome.

    Args:
        task: the image.
        options: the batch's options.
        progress: called as ``progress(done, total)`` after each region.
        raise_transient: raise an ``OSError`` that is not an input or output error (storage or network trouble)
            so that the caller may retry the task, instead of reporting it.
        run_started: when the batch started (seconds since the epoch). A task run a second time, because the
            worker that ran it first was lost after writing, finds its output newer than this and does not write
            it again.
    """
    start = time.perf_counter()

    def outcome(status: Any, message: str) -> Outcome:
        return Outcome(task, status, message, time.perf_counter() - start)

    try:
        if task.problem:
            raise InputError(task.problem)
        if options.resume and output_exists(task.output):
            return outcome("skipped", f"{task.image}: {task.output} exists, skipped")
        if run_started is not None and written_since(task.output, run_started):
            return outcome("done", f"{task.image}: {task.output} was written in this run by a worker since lost")
        if not options.overwrite:
            _refuse_remote_overwrite(task)
        inpainter = build_inpainter(options)
        with _local_files(task) as (image, mask, output):
            filled = inpaint_file(image, mask, output, options, inpainter, progress)
        return outcome("done", describe(task.image, task.output, filled, inpainter.name))
    except InpaintError as error:
        return outcome("failed", str(error))
    except MemoryError:
        return outcome("failed", "out of memory (give each worker more memory, or use fewer workers)")
    except OSError as error:
        if raise_transient:
            raise
        return outcome("failed", one_line(error))


def unexpected_outcome(task: Task, error: BaseException) -> Outcome:
    """The outcome of a task that raised instead of answering: a bug, a transient error that outlived its
    retries, or a Dask task whose workers kept dying. The batch goes on and the image is listed as failed."""
    if type(error).__name__ == "KilledWorker":
        return Outcome(task, "failed", "its worker died on every try (out of memory?)")
    return Outcome(task, "failed", one_line(error))
