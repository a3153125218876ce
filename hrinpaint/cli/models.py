"""The ``methods`` and ``models`` commands: what can run, and the weights it runs with."""

from __future__ import annotations

import argparse
from pathlib import Path


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
