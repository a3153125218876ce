"""``main``: parses the command line, runs the handler and turns errors into one line and an exit status."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from hrinpaint.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE
from hrinpaint.cli.parser import build_parser


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
    except BrokenPipeError:  # the reader went away (`hrinpaint methods | head`): not an error of ours
        # Python would report the failed flush of stdout at exit: point stdout at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as error:  # a bug: one line for the user, the traceback on request
        if os.environ.get("HRINPAINT_DEBUG"):
            raise
        print(
            f"hrinpaint: error: {one_line(error)} (a bug: please report it; HRINPAINT_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_ERROR
