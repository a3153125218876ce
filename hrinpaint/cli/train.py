"""The ``train`` and ``export`` commands."""

from __future__ import annotations

import argparse
from typing import Any


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
