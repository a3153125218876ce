"""The ``masks`` and ``bench`` commands: generated holes and the measurements made with them."""

from __future__ import annotations

import argparse


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
