"""The ``serve`` command: the browser page and the HTTP API."""

from __future__ import annotations

import argparse
import sys

from hrinpaint.cli.common import _csv


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
    from hrinpaint.device import describe_device, half_precision
    from hrinpaint.extras import MissingExtraError

    try:
        line = describe_device(device)
    except MissingExtraError as error:
        return f"unavailable ({error})"
    return line + (", float16" if half_precision(device, half) else ", float32")
