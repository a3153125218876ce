"""Command-line front end. Thin: parses arguments, calls the library, prints one-line errors.

Every command imports what it needs inside its handler, so ``hrinpaint --help`` does not load OpenCV or a model.

The package: ``parser`` (the argument parser), one module per command group (``inpaint``, ``models``, ``train``,
``bench``, ``serve``), ``entry`` (``main``) and ``common``; every name stays importable from ``hrinpaint.cli``.
"""

from hrinpaint.cli.bench import cmd_bench, cmd_masks
from hrinpaint.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, _csv
from hrinpaint.cli.entry import main
from hrinpaint.cli.inpaint import (
    _build_inpainter,
    _check_pipeline_numbers,
    _device_line,
    _progress_bar,
    _progress_lines,
    cmd_batch,
    cmd_inpaint,
)
from hrinpaint.cli.models import cmd_import_lama, cmd_methods, cmd_models
from hrinpaint.cli.parser import (
    _add_device_options,
    _add_pipeline_options,
    _csv_sizes,
    _Parser,
    _size,
    build_parser,
)
from hrinpaint.cli.serve import _serve_device_line, cmd_serve
from hrinpaint.cli.train import cmd_export, cmd_train

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "build_parser",
    "cmd_batch",
    "cmd_bench",
    "cmd_export",
    "cmd_import_lama",
    "cmd_inpaint",
    "cmd_masks",
    "cmd_methods",
    "cmd_models",
    "cmd_serve",
    "cmd_train",
    "main",
    "_Parser",
    "_add_device_options",
    "_add_pipeline_options",
    "_build_inpainter",
    "_check_pipeline_numbers",
    "_csv",
    "_csv_sizes",
    "_device_line",
    "_progress_bar",
    "_progress_lines",
    "_serve_device_line",
    "_size",
]
