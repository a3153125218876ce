"""The ``inpaint`` and ``batch`` commands and their progress reports."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hrinpaint.cli.common import EXIT_ERROR


def _progress_bar(quiet: bool, description: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A progress callback that shows a bar only when the work lasts over a second."""
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, desc=description, unit="region", delay=1.0, disable=quiet, leave=False)
        bar["bar"].update(done - bar["bar"].n)  # update() respects the delay; refresh() would force a draw

    def close() -> None:
        if "bar" in bar:
            bar["bar"].close()

    return update, close


def _progress_lines(fd: int, method: str) -> Callable[[int, int], None]:
    """A progress callback for programs that run the CLI (the GIMP plug-in): writes ``hrinpaint-method NAME``
    at once, then ``hrinpaint-progress DONE TOTAL`` after each region, one line each, to file descriptor ``fd``."""
    from hrinpaint.errors import InputError

    try:
        stream = open(fd, "w", buffering=1, closefd=False)  # open for as long as the command runs
    except OSError as error:
        raise InputError(f"--progress-fd {fd}: {error.strerror}") from None
    stream.write(f"hrinpaint-method {method}\n")

    def update(done: int, total: int) -> None:
        stream.write(f"hrinpaint-progress {done} {total}\n")

    return update


def _check_pipeline_numbers(args: argparse.Namespace) -> None:
    """Refuses out-of-range numbers of ``inpaint`` and ``batch`` before any file is read (ConfigError, exit 2)."""
    from hrinpaint.bounds import bounds_for, check_value

    for kind, name in (
        ("output", "quality"),
        ("output", "mask_threshold"),
        ("pipeline", "working_size"),
        ("pipeline", "max_pixels"),
        ("pipeline", "grow"),
    ):
        check_value("--" + name.replace("_", "-"), getattr(args, name), bounds_for(kind)[name])


def _build_inpainter(args: argparse.Namespace) -> tuple[Any, Any]:
    """The command's options (a ``BatchOptions``) and the inpainter they build."""
    from hrinpaint.batch.plan import BatchOptions
    from hrinpaint.batch.task import build_inpainter

    _check_pipeline_numbers(args)  # before the pipeline is imported (half a second): a bad number answers at once
    options = BatchOptions.from_args(args)
    inpainter = build_inpainter(options)
    if args.verbose:
        print(f"hrinpaint: {inpainter.name}: {_device_line(inpainter.device, args.device, args.half)}", file=sys.stderr)
    return options, inpainter


def _device_line(device: str | None, asked: str, half: bool) -> str:
    """Where a method's networks run, for ``--verbose``."""
    if device is None:
        return "no network: runs on the CPU (--device applies to network methods)"
    how = "auto: no CUDA or MPS device found" if asked == "auto" and device == "cpu" else f"asked for {asked}"
    from hrinpaint.device import half_precision

    precision = "float16" if half_precision(device, half) else "float32"
    return f"device {device} ({how}), {precision}"


def cmd_inpaint(args: argparse.Namespace) -> int:
    from hrinpaint.batch.task import describe, inpaint_file

    options, inpainter = _build_inpainter(args)  # an unknown method fails before any file is read
    update, close = _progress_bar(args.quiet, Path(args.image).name)
    if args.progress_fd is not None:
        update = _progress_lines(args.progress_fd, inpainter.name)
    try:
        filled = inpaint_file(args.image, args.mask, args.output, options, inpainter, progress=update)
    finally:
        close()
    if not args.quiet:
        print(describe(args.image, args.output, filled, inpainter.name))
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from hrinpaint.batch import run_batch
    from hrinpaint.batch.run import check_spread

    memory = int(args.worker_memory * 2**30) if args.worker_memory is not None else None
    check_spread(args.workers, args.retries, memory)
    options, _ = _build_inpainter(args)  # out-of-range numbers and an unknown method fail before any file is touched
    outcomes = run_batch(
        args.images,
        args.masks,
        args.output,
        options,
        workers=args.workers,
        dask=args.dask,
        retries=args.retries,
        worker_memory=memory,
        quiet=args.quiet,
    )
    return EXIT_ERROR if any(outcome.status == "failed" for outcome in outcomes) else 0
