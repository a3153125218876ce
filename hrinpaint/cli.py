"""Command-line front end. Thin: parses arguments, calls the library, prints one-line errors.

Every command imports what it needs inside its handler, so ``hrinpaint --help`` does not load OpenCV or a model.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

EXIT_ERROR = 1
EXIT_USAGE = 2  # a bad command line or option: nothing was read, run or written
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``hrinpaint: error: ...`` and exit code 2, like every other usage error."""

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


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


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


def _build_inpainter(args: argparse.Namespace) -> Any:
    from hrinpaint.batch.plan import BatchOptions
    from hrinpaint.batch.task import build_inpainter

    _check_pipeline_numbers(args)  # before the pipeline is imported (half a second): a bad number answers at once
    inpainter = build_inpainter(BatchOptions.from_args(args))
    if args.verbose:
        print(f"hrinpaint: {inpainter.name}: {_device_line(inpainter.device, args.device, args.half)}", file=sys.stderr)
    return inpainter


def _device_line(device: str | None, asked: str, half: bool) -> str:
    """Where a method's networks run, for ``--verbose``."""
    if device is None:
        return "no network: runs on the CPU (--device applies to network methods)"
    how = "auto: no CUDA or MPS device found" if asked == "auto" and device == "cpu" else f"asked for {asked}"
    precision = "float16" if half and device != "cpu" else "float32"
    return f"device {device} ({how}), {precision}"


def cmd_inpaint(args: argparse.Namespace) -> int:
    from hrinpaint.batch.plan import BatchOptions
    from hrinpaint.batch.task import describe, inpaint_file

    inpainter = _build_inpainter(args)  # an unknown method fails before any file is read
    update, close = _progress_bar(args.quiet, Path(args.image).name)
    if args.progress_fd is not None:
        update = _progress_lines(args.progress_fd, inpainter.name)
    try:
        options = BatchOptions.from_args(args)
        filled = inpaint_file(args.image, args.mask, args.output, options, inpainter, progress=update)
    finally:
        close()
    if not args.quiet:
        print(describe(args.image, args.output, filled, inpainter.name))
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from hrinpaint.batch import BatchOptions, run_batch
    from hrinpaint.batch.run import check_spread

    memory = int(args.worker_memory * 2**30) if args.worker_memory is not None else None
    check_spread(args.workers, args.retries, memory)
    _build_inpainter(args)  # out-of-range numbers and an unknown method fail before any file is read or written
    outcomes = run_batch(
        args.images,
        args.masks,
        args.output,
        BatchOptions.from_args(args),
        workers=args.workers,
        dask=args.dask,
        retries=args.retries,
        worker_memory=memory,
        quiet=args.quiet,
    )
    return EXIT_ERROR if any(outcome.status == "failed" for outcome in outcomes) else 0


def cmd_methods(args: argparse.Namespace) -> int:
    from hrinpaint.methods import DEFAULT_METHOD, list_methods

    listed = list_methods()
    print(f"default: {DEFAULT_METHOD}")
    print("\nmethods (filler+lifter):")
    for method in listed:
        alias = f"  (= {method.alias_of})" if method.alias_of else ""
        missing = "" if method.available else ", not installed"
        needs = f"  [needs hrinpaint[{method.needs}]{missing}]" if method.needs else ""
        print(f"  {method.name}{alias}{needs}")
    parts = {(part.kind, part.name): part for method in listed for part in (method.filler, method.lifter)}
    for kind in ("filler", "lifter"):
        print(f"\n{kind}s:")
        for (part_kind, name), part in sorted(parts.items()):
            if part_kind != kind:
                continue
            print(f"  {name:<12} {part.help}")
            if part.options:
                print(f"  {'':<12} options: {', '.join(f'{o.name}={o.default!r}' for o in part.options)}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from hrinpaint.errors import InputError
    from hrinpaint.fillers.network import shipped_weights
    from hrinpaint.nn.weights import read_manifest

    if args.weights[:1] == ["import-lama"]:
        if len(args.weights) != 2 or not args.output:
            raise InputError("usage: hrinpaint models import-lama CKPT -o OUT.safetensors")
        return cmd_import_lama(args.weights[1], args.output, args.quiet)
    if args.output:
        raise InputError("-o/--output goes with 'models import-lama CKPT'")
    paths = [Path(p) for p in args.weights] if args.weights else sorted(shipped_weights("").glob("*.safetensors"))
    if not paths:
        print("no shipped weights")
    for path in paths:
        manifest = read_manifest(path)
        training = manifest.get("training", {})
        hours = training.get("seconds", 0) / 3600
        print(f"{path.name}: {manifest['model']}, {manifest.get('parameters', '?')} parameters, {manifest['config']}")
        print(
            f"  trained {training.get('steps', '?')} steps x batch {training.get('batch_size', '?')} at "
            f"{training.get('resolution', '?')} px in {hours:.2f} h on {training.get('data')}"
        )
        for key, value in manifest.get("validation", {}).items():
            print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
        print(f"  sha256 {manifest['sha256']}")
    return 0


def cmd_import_lama(checkpoint: str, output: str, quiet: bool) -> int:
    from hrinpaint.nn.convert import import_lama

    manifest = import_lama(checkpoint, output)
    if not quiet:
        print(f"wrote {output}: lama {manifest['config']}, {manifest['parameters']:,} parameters (from {checkpoint})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from hrinpaint.bounds import check_value

    if args.steps is not None:
        check_value("--steps", args.steps, (1, 10**9))
    if args.threads is not None:
        check_value("--threads", args.threads, (0, 256))
    from hrinpaint.train.config import load_config
    from hrinpaint.train.loop import train

    config = load_config(args.config)
    overrides = (("steps", args.steps), ("threads", args.threads), ("device", args.device))
    changes = {key: value for key, value in overrides if value is not None}
    config = config.replace(**changes)

    def show(record: dict[str, Any]) -> None:
        if args.quiet:
            return
        if "validation" in record:
            values = ", ".join(f"{k} {v:.4f}" for k, v in record["validation"].items())
            print(f"step {record['step']}: validation {values}", flush=True)
        else:
            values = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k not in ("step", "seconds"))
            print(f"step {record['step']} ({record['seconds']:.0f} s): {values}", flush=True)

    train(config, args.run, resume=args.resume, on_log=show)
    if args.export:
        from hrinpaint.train.export import export_run

        manifest = export_run(args.run, args.export)
        if not args.quiet:
            print(f"wrote {args.export} (sha256 {manifest['sha256'][:12]})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from hrinpaint.train.export import export_run

    manifest = export_run(args.run, args.output)
    if not args.quiet:
        print(f"wrote {args.output}: {manifest['training']['steps']} steps, validation {manifest['validation']}")
    return 0


def cmd_masks(args: argparse.Namespace) -> int:
    import numpy as np

    from hrinpaint import io
    from hrinpaint.masks import generate_mask

    io.check_output_path(args.output, overwrite=True)
    mask = generate_mask(args.kind, args.size, args.seed)
    pixels = np.repeat((mask.astype(np.uint8) * 255)[:, :, None], 3, axis=2)
    io.write_image(args.output, pixels, io.ImageInfo(grayscale=True), overwrite=True)
    if not args.quiet:
        print(f"{args.output}: {args.kind} mask, seed {args.seed}, {mask.mean():.1%} hole")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from hrinpaint.bounds import bounds_for, check_value

    check_value("--working-size", args.working_size, bounds_for("pipeline")["working_size"])
    check_value("--peer-timeout", args.peer_timeout, (0.1, 86_400))
    if args.limit is not None:
        check_value("--limit", args.limit, (1, 10**9))
    from hrinpaint.eval.bench import DEFAULT_METHODS, BenchConfig, run_bench
    from hrinpaint.eval.peers import DEFAULT_PEERS
    from hrinpaint.extras import require

    require("psutil", "hrinpaint bench")  # the workers measure peak memory with it: fail here, not in every run

    config = BenchConfig(
        data=args.data,
        masks=tuple(args.masks),
        sizes=tuple(int(size) for size in args.sizes),
        methods=tuple(args.methods) if args.methods is not None else DEFAULT_METHODS,
        peers=tuple(args.peers) if args.peers is not None else DEFAULT_PEERS,
        out=args.out,
        limit=args.limit,
        seed=args.seed,
        peer_timeout=args.peer_timeout,
        working_size=args.working_size,
        weights=args.weights,
        save_images=not args.no_images,
    )
    run_bench(config, quiet=args.quiet)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from hrinpaint.bounds import check_value
    from hrinpaint.device import check_device_name
    from hrinpaint.errors import ConfigError
    from hrinpaint.server.app import ServerSettings, allowed_hosts_for, is_loopback

    check_value("--port", args.port, (0, 65535))
    check_value("--max-upload-mb", args.max_upload_mb, (0.001, 1_000_000))
    if args.max_pixels is not None:
        check_value("--max-pixels", args.max_pixels, (1, 4_000_000_000))
    timeout = args.job_timeout if args.job_timeout else None  # 0: no limit
    if timeout is not None and not 0 < timeout <= 86_400:
        raise ConfigError(f"--job-timeout must be 0 (no limit) or above 0 up to 86400 s, got {args.job_timeout:g}")
    settings = ServerSettings(
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_pixels=args.max_pixels,
        queue_size=args.queue_size,
        # refuse Host names not listed: a web page that rebinds its name to this address gets nothing
        allowed_hosts=allowed_hosts_for(args.host, tuple(_csv(args.allow_host or ""))),
        job_timeout=timeout,
        device=check_device_name(args.device),
        half=args.half,
    )
    import uvicorn

    from hrinpaint.server import create_app

    if not is_loopback(args.host):
        print(f"hrinpaint: warning: listening on {args.host}: other machines can reach this server", file=sys.stderr)
    if not args.quiet:
        print(f"hrinpaint: network methods: {_serve_device_line(args.device, args.half)}")
        shown = f"[{args.host}]" if ":" in args.host else args.host
        print(f"hrinpaint: serving the page on http://{shown}:{args.port}/ (API docs at /docs); Ctrl+C stops it")
        print(f"hrinpaint: photos up to {settings.pixel_limit / 1e6:.0f} MP ({settings.max_pixels_source})")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning" if args.quiet else "info")
    return 0


def _serve_device_line(device: str, half: bool) -> str:
    """Where the server's network methods will run; a device this machine lacks fails here, before serving."""
    from hrinpaint.device import describe_device
    from hrinpaint.extras import MissingExtraError

    try:
        line = describe_device(device)
    except MissingExtraError as error:
        return f"unavailable ({error})"
    return line + (", float16" if half and "cpu" not in line.split("(")[0] else ", float32")


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
        help="project methods (default: telea+upsample, telea+cra, patchmatch+cra, patchmatch+octave)",
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hrinpaint`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    from hrinpaint.errors import ConfigError, InpaintError, one_line

    try:
        return int(args.handler(args))
    except ConfigError as error:
        print(f"hrinpaint: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except InpaintError as error:
        print(f"hrinpaint: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except ImportError as error:
        from hrinpaint.extras import missing_extra

        missing = missing_extra(error, f"hrinpaint {args.command}")
        if missing is None:
            raise
        print(f"hrinpaint: error: {missing}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("hrinpaint: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug: one line for the user, the traceback on request
        if os.environ.get("HRINPAINT_DEBUG"):
            raise
        print(
            f"hrinpaint: error: {one_line(error)} (a bug: please report it; HRINPAINT_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
