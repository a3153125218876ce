"""The argument parser: every command, its options and its handler."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hrinpaint.cli.bench import cmd_bench, cmd_masks
from hrinpaint.cli.common import EXIT_USAGE, _csv
from hrinpaint.cli.inpaint import cmd_batch, cmd_inpaint
from hrinpaint.cli.models import cmd_methods, cmd_models
from hrinpaint.cli.serve import cmd_serve
from hrinpaint.cli.train import cmd_export, cmd_train


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``hrinpaint: error: ...`` and exit code 2, like every other usage error.

    No abbreviated options: ``--mask m.png`` (the mask is positional) must be refused as an unknown option, not
    taken for ``--mask-threshold`` and reported as a bad number."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:  # type: ignore[override]
        print(f"hrinpaint: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _size(text: str) -> tuple[int, int]:
    """Parses ``WIDTHxHEIGHT`` into ``(height, width)``."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, for example 4000x3000, got {text!r}") from None
    if not (1 <= width <= 65_535 and 1 <= height <= 65_535):
        raise argparse.ArgumentTypeError(f"size must be 1 to 65535 pixels a side, got {text!r}")
    return height, width


def _csv_sizes(text: str) -> list[int]:
    """Comma-separated long sides, each 16 to 16384 px."""
    try:
        sizes = [int(part) for part in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes must be whole numbers, comma-separated, got {text!r}") from None
    if not sizes or not all(16 <= size <= 16384 for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be 16 to 16384 px, got {text!r}")
    return sizes


def _add_pipeline_options(parser: argparse.ArgumentParser) -> None:
    from hrinpaint.bounds import DEFAULT_MAX_PIXELS  # light: no numpy

    parser.add_argument("--method", "-m", default=None, help="filler+lifter or alias (default: the measured best)")
    parser.add_argument("--working-size", type=int, default=512, help="long side of the working resolution")
    parser.add_argument("--weights", default=None, help="network weights for the filler (.safetensors + manifest)")
    parser.add_argument("--invert-mask", action="store_true", help="mask is zero (black) where the hole is")
    parser.add_argument(
        "--mask-threshold",
        type=float,
        default=0.0,
        help="hole where the mask is above this fraction of white (default 0: any non-zero; 0.5 for JPEG masks)",
    )
    parser.add_argument("--grow", type=int, default=0, help="grow the hole by this many pixels (rough masks)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="largest image accepted, in pixels")
    parser.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality of the output (1-100)")
    parser.add_argument("--overwrite", action="store_true", help="allow the output to replace an input file")
    _add_device_options(parser)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads for network methods (0: default)")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    parser.add_argument("--verbose", "-v", action="store_true", help="say which device the method runs on")


def _add_device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device", default="auto", help="where network methods run: auto (CUDA, then MPS, then CPU), cpu, cuda, mps"
    )
    parser.add_argument("--half", action="store_true", help="float16 for network methods on a GPU (not on the CPU)")


def build_parser() -> argparse.ArgumentParser:
    from hrinpaint import __version__

    parser = _Parser(prog="hrinpaint", description="Fill masked regions of photos at any resolution.")
    parser.add_argument("--version", action="version", version=f"hrinpaint {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    inpaint = commands.add_parser("inpaint", help="fill the hole of one image")
    inpaint.add_argument("image", help="photo (JPEG, PNG, WebP, TIFF)")
    inpaint.add_argument("mask", help="mask image of the same size; non-zero = hole")
    inpaint.add_argument("-o", "--output", required=True, help="output file; the format follows the extension")
    _add_pipeline_options(inpaint)
    inpaint.add_argument(
        "--progress-fd", type=int, default=None, help="write 'hrinpaint-progress DONE TOTAL' lines to this descriptor"
    )
    inpaint.set_defaults(handler=cmd_inpaint)

    batch = commands.add_parser("batch", help="fill every image of a folder; masks matched by file stem")
    batch.add_argument("images", help="folder of photos")
    batch.add_argument("masks", help="folder of masks (same stems as the photos)")
    batch.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    _add_pipeline_options(batch)
    batch.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local worker processes (default 1; with --dask local: its size, default one per core)",
    )
    batch.add_argument("--dask", default=None, help="run each image as a task on this Dask scheduler (or 'local')")
    batch.add_argument("--retries", type=int, default=2, help="with --dask: extra tries after a transient failure")
    batch.add_argument("--resume", action="store_true", help="skip images whose output already exists")
    batch.add_argument("--worker-memory", type=float, default=None, help="GiB per worker (default: a fair share)")
    batch.set_defaults(handler=cmd_batch)

    methods = commands.add_parser("methods", help="list the available methods")
    methods.set_defaults(handler=cmd_methods)

    masks = commands.add_parser("masks", help="write a generated hole mask (255 = hole)")
    masks.add_argument("--kind", default="thick", help="thin, medium, thick, deepfill, center, box")
    masks.add_argument("--seed", type=int, default=0)
    masks.add_argument("--size", type=_size, default=(512, 512), help="WIDTHxHEIGHT")
    masks.add_argument("-o", "--output", required=True)
    masks.add_argument("--quiet", "-q", action="store_true")
    masks.set_defaults(handler=cmd_masks)

    models = commands.add_parser(
        "models",
        help="list the shipped (or given) weights and how they measured; "
        "'models import-lama CKPT -o OUT.safetensors' converts an official LaMa checkpoint",
    )
    models.add_argument(
        "weights",
        nargs="*",
        help=".safetensors files (default: the shipped ones); or 'import-lama CKPT -o OUT.safetensors' to convert "
        "an official LaMa checkpoint (best.ckpt) for the lama filler",
    )
    models.add_argument("-o", "--output", default=None, help="with import-lama: the .safetensors to write")
    models.add_argument("--quiet", "-q", action="store_true")
    models.set_defaults(handler=cmd_models)

    train = commands.add_parser("train", help="train a generator from a TOML config")
    train.add_argument("config", help="TOML training config (see configs/)")
    train.add_argument("--run", required=True, help="run folder: config, checkpoint and log go here")
    train.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    train.add_argument("--steps", type=int, default=None, help="override the number of steps")
    train.add_argument("--threads", type=int, default=None, help="override the torch CPU threads")
    train.add_argument("--device", default=None, help="cpu, cuda or auto (overrides the config)")
    train.add_argument("--export", default=None, help="after training, write the weights here (.safetensors)")
    train.add_argument("--quiet", "-q", action="store_true")
    train.set_defaults(handler=cmd_train)

    export = commands.add_parser("export", help="write a training run's generator as .safetensors + manifest")
    export.add_argument("run", help="run folder")
    export.add_argument("-o", "--output", required=True, help="output .safetensors path")
    export.add_argument("--quiet", "-q", action="store_true")
    export.set_defaults(handler=cmd_export)

    serve = commands.add_parser("serve", help="serve the browser page and the HTTP API (FastAPI, uvicorn)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--max-upload-mb", type=float, default=100.0, help="largest upload (photo and mask), MB")
    serve.add_argument(
        "--max-pixels", type=int, default=None, help="largest photo accepted, in pixels (default: from the memory)"
    )
    serve.add_argument("--queue-size", type=int, default=4, help="jobs that may wait while one runs; more get 503")
    _add_device_options(serve)
    serve.add_argument(
        "--job-timeout", type=float, default=300.0, help="seconds a job may run before it is stopped (504); 0: none"
    )
    serve.add_argument(
        "--allow-host",
        default=None,
        help="host names clients use to reach a server on a non-loopback --host, comma-separated ('*': any)",
    )
    serve.add_argument("--quiet", "-q", action="store_true", help="log only warnings")
    serve.set_defaults(handler=cmd_serve)

    bench = commands.add_parser("bench", help="measure methods and peers on photos with generated holes")
    bench.add_argument("--data", required=True, help="folder of ground-truth photos")
    bench.add_argument("--masks", type=_csv, default=["thick", "box"], help="mask kinds, comma-separated")
    bench.add_argument("--sizes", type=_csv_sizes, default=[512], help="long sides, comma-separated")
    bench.add_argument(
        "--methods",
        type=_csv,
        default=None,
        help="project methods, each METHOD or METHOD:key=value[:key=value...] (filler options; lifter. before a "
        "lifter's) (default: telea+upsample, telea+cra, patchmatch+cra, patchmatch+octave)",
    )
    bench.add_argument(
        "--peers",
        type=_csv,
        default=None,
        help="peers at full resolution (default: opencv-telea, opencv-ns, fsr-fast, shiftmap; "
        "opt-in: pypatchmatch, patchmatch-cython; '' for none)",
    )
    bench.add_argument("--out", default="bench-out", help="folder for results.jsonl, tables and pictures")
    bench.add_argument("--limit", type=int, default=None, help="use at most this many photos")
    bench.add_argument("--seed", type=int, default=0, help="mask seed offset")
    bench.add_argument("--peer-timeout", type=float, default=60.0, help="seconds before a peer run is abandoned")
    bench.add_argument("--working-size", type=int, default=512)
    bench.add_argument("--weights", help="weights for the methods' network filler (one trained variant per run)")
    bench.add_argument("--no-images", action="store_true", help="skip the side-by-side PNGs")
    bench.add_argument("--quiet", "-q", action="store_true")
    bench.set_defaults(handler=cmd_bench)
    return parser
