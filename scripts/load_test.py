"""Load test of ``hrinpaint serve`` on loopback: a burst of concurrent requests, then a long sequential run.

1. ``--concurrent`` requests (default 20) at once, a 1024 px photo each: every answer must be 200 (done) or 503
   (queue full, with Retry-After); anything else is a failure.
2. ``--sequential`` requests (default 100) one after another, reading the server's resident memory (psutil) after
   each: it must not grow across the run (the worker returns memory after every job).

The server runs in a subprocess (``python -m hrinpaint.cli serve``) on a free port of 127.0.0.1.

    python scripts/load_test.py                      # telea+cra, 20 concurrent, 100 sequential
    python scripts/load_test.py --method patchmatch+cra --sequential 30
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import psutil
from PIL import Image

from hrinpaint.masks import generate_mask


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_pair(size: int, seed: int = 0) -> tuple[bytes, bytes]:
    """A 1024 x 768 (for size 1024) photo-like PNG (gradients, edges, noise) and a thick-stroke mask."""
    height, width = size * 3 // 4, size
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(seed)
    sky = np.stack([0.35 + 0.3 * rows / height, 0.55 + 0.2 * rows / height, 0.9 - 0.2 * rows / height], axis=-1)
    ground = rows[..., None] > height * (0.6 + 0.05 * np.sin(columns[..., None] / 40.0))
    pixels = np.where(ground, np.array([0.3, 0.5, 0.2], np.float32), sky)
    pixels += rng.normal(0.0, 0.04, pixels.shape).astype(np.float32)
    image = (np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    mask = generate_mask("thick", (height, width), seed).astype(np.uint8) * 255
    encoded = []
    for array in (image, mask):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    return encoded[0], encoded[1]


def post(client: httpx.Client, url: str, image: bytes, mask: bytes, method: str) -> tuple[int, float, str]:
    start = time.perf_counter()
    response = client.post(
        f"{url}/api/inpaint",
        files={"image": ("photo.png", image, "image/png"), "mask": ("mask.png", mask, "image/png")},
        data={"method": method},
    )
    return response.status_code, time.perf_counter() - start, response.headers.get("retry-after", "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="telea+cra")
    parser.add_argument("--size", type=int, default=1024, help="long side of the test photo")
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--sequential", type=int, default=100)
    parser.add_argument("--queue-size", type=int, default=4)
    parser.add_argument("--max-growth-mb", type=float, default=32.0, help="allowed RSS growth over the sequential run")
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "hrinpaint.cli", "serve", "--port", str(port), "--quiet"]
    server = subprocess.Popen([*command, "--queue-size", str(args.queue_size)])
    failures = []
    try:
        process = psutil.Process(server.pid)
        with httpx.Client(timeout=120) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get(f"{url}/api/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    print("the server did not start", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            image, mask = test_pair(args.size)
            print(f"photo {args.size}x{args.size * 3 // 4} PNG {len(image) / 1e6:.2f} MB, method {args.method}")
            status, seconds, _ = post(client, url, image, mask, args.method)  # warm-up (imports, first allocations)
            print(f"warm-up: {status} in {seconds:.2f} s; server RSS {process.memory_info().rss / 2**20:.0f} MB")

        # 1. a burst: one client per request, all at once
        def one(_: int) -> tuple[int, float, str]:
            with httpx.Client(timeout=300) as own:
                return post(own, url, image, mask, args.method)

        start = time.perf_counter()
        with ThreadPoolExecutor(args.concurrent) as pool:
            burst = list(pool.map(one, range(args.concurrent)))
        wall = time.perf_counter() - start
        counts = collections.Counter(status for status, _, _ in burst)
        served = sorted(seconds for status, seconds, _ in burst if status == 200)
        retry_after = sorted({retry for status, _, retry in burst if status == 503})
        print(
            f"burst of {args.concurrent}: {json.dumps(dict(sorted(counts.items())))} in {wall:.1f} s; "
            f"200s took {served[0]:.2f} to {served[-1]:.2f} s; Retry-After values {retry_after}"
            if served
            else f"burst of {args.concurrent}: {dict(counts)} (none served)"
        )
        if set(counts) - {200, 503}:
            failures.append(f"statuses other than 200/503 in the burst: {dict(counts)}")
        if not served:
            failures.append("no request of the burst was served")

        # 2. sequential: resident memory after each request
        rss = []
        times = []
        with httpx.Client(timeout=120) as client:
            for _ in range(args.sequential):
                status, seconds, _ = post(client, url, image, mask, args.method)
                if status != 200:
                    failures.append(f"sequential request answered {status}")
                    break
                times.append(seconds)
                rss.append(process.memory_info().rss / 2**20)
        if rss:
            window = max(1, len(rss) // 10)
            early, late = float(np.mean(rss[:window])), float(np.mean(rss[-window:]))
            print(
                f"sequential {len(rss)}: median {np.median(times):.2f} s per request; server RSS MB: "
                f"first {rss[0]:.0f}, mean of first {window} {early:.0f}, mean of last {window} {late:.0f}, "
                f"max {max(rss):.0f}, last {rss[-1]:.0f}; growth {late - early:+.1f} MB"
            )
            if late - early > args.max_growth_mb:
                failures.append(f"RSS grew {late - early:.1f} MB over {len(rss)} requests")
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    print("OK" if not failures else "FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
