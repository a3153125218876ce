"""The method check: trained weights judged as the bench judges them, before anyone runs the bench.

A network's own validation (a few photos at its training size, thick holes, the network alone) does not predict
what a user gets: the first GPU run's weights scored +0.08 to +0.22 dB over the default there and about 0 (or
less than the shipped weights) on the bench, where each method runs as a user runs it (the default's prefill, the
gate, the lifter, full size, object holes). :class:`MethodCheck` runs that route on a few photos kept aside in the
GPU pack (``check.npz``, written by :func:`save_check`): each case through the family's method with the trained
weights, the shipped weights and the default method, hole PSNR and band energies against the truth. Each case
runs in a process of its own on the CPU (the networks are small; the default's fill and the lifters are CPU work),
and the default's working fill that the network fillers start from is computed once per case and kept on disk for
the later checkpoints and families (``shift``'s stage 1 and the default method itself compute theirs each time).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

#: The holes of the check, each drawn once per photo as ``hrinpaint bench`` draws it: users' objects and strokes.
CHECK_MASKS = ("object", "thick")
#: JPEG quality of the check's photos (the decoded photo is the truth for every method alike).
CHECK_QUALITY = 95
#: A difference to the default counted as better or worse (dB), as ``scripts/compare_routes.py`` counts it.
COUNTED = 0.005


def save_check(paths: list[Path], path: Path, side: int) -> None:
    """Writes the check's photos (long side ``side``) to ``path``: JPEG-coded, with their names (the holes'
    seeds)."""
    from hrinpaint.train import blobs
    from hrinpaint.train.data import load_rgb8

    encoded = [blobs.encode(load_rgb8(photo, side), CHECK_QUALITY) for photo in paths]
    np.savez(path, **blobs.joined(encoded), names=np.array([photo.stem for photo in paths]))


def check_cases(path: Path) -> list[tuple[int, str]]:
    """The check's cases: ``(photo index, mask kind)``."""
    with np.load(path) as stored:
        count = len(stored["names"])
    return [(index, kind) for index in range(count) for kind in CHECK_MASKS]


def check_case(path: Path, index: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """A case's truth (float32 RGB) and hole, the hole drawn as the bench draws it for a photo of that name."""
    from hrinpaint.eval.bench import mask_seed
    from hrinpaint.io import to_float
    from hrinpaint.masks import generate_mask
    from hrinpaint.train import blobs

    with np.load(path) as stored:
        pixels, name = blobs.decode_at(stored, index), str(stored["names"][index])
    truth = to_float(pixels)
    return truth, generate_mask(kind, truth.shape[:2], mask_seed(Path(name), kind, max(truth.shape[:2]), 0))


def check_method(family: str, weights: str | None) -> Any:
    """The method a user runs for ``family`` with ``weights`` (None: the default method), on the CPU."""
    from hrinpaint.pipeline import Inpainter

    if weights is None:
        return Inpainter.from_method(None, device="cpu")
    if family == "shift":
        return Inpainter.from_method("shift", lifter={"weights": weights}, device="cpu")
    return Inpainter.from_method(family, filler={"weights": weights}, device="cpu")


def _start_process(cache: str) -> None:
    """A check process's set-up: one thread, a low priority (the check waits; the training and its fresh cases do
    not) and the default's working fill kept in ``cache`` (what the network fillers' prefill and band split call)."""
    import torch

    from hrinpaint.fillers import network

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    os.nice(10)
    network.default_fill = _on_disk(network.default_fill, Path(cache))


def _run_case(path: str, index: int, kind: str, family: str, weights: str | None) -> dict[str, Any]:
    """One case through one method in a check process: hole PSNR, band energies, known pixels kept."""
    from hrinpaint.eval.metrics import evaluate

    truth, mask = check_case(Path(path), index, kind)
    holed = np.where(mask[..., None], 0.0, truth).astype(np.float32)
    out = check_method(family, weights)(holed, mask)
    metrics = evaluate(np.where(mask[..., None], out, truth), truth, mask)
    return {
        "psnr": float(metrics["psnr_hole"]),
        "bands": [float(metrics[f"band_energy_{band}"]) for band in range(4)],
        "exact": bool(np.array_equal(out[~mask], holed[~mask])),
    }


def _on_disk(fill: Any, folder: Path) -> Any:
    """``fill`` (the default's working fill, deterministic) with its results kept in ``folder``, keyed by input."""

    def cached(image: np.ndarray, mask: np.ndarray) -> Any:
        key = hashlib.sha1(image.tobytes() + mask.tobytes() + str(image.shape).encode()).hexdigest()
        path = folder / f"{key}.pkl"
        if path.exists():
            return pickle.loads(path.read_bytes())
        result = fill(image, mask)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(pickle.dumps(result))
        os.replace(temporary, path)  # whole or absent, for the other processes
        return result

    return cached


class MethodCheck:
    """The pack's check photos through each family's method, with a pool of ``workers`` processes.

    The default method's and each family's shipped weights' scores are computed once; :meth:`judge` scores a
    trained file and sets it beside them.
    """

    def __init__(self, path: str | Path, workers: int) -> None:
        import multiprocessing

        self.path = Path(path)
        self.cases = check_cases(self.path)
        self._folder = tempfile.TemporaryDirectory()
        context = multiprocessing.get_context("spawn")  # no fork after CUDA has started
        self._pool = ProcessPoolExecutor(
            max(1, workers), mp_context=context, initializer=_start_process, initargs=(self._folder.name,)
        )
        self._pending: dict[tuple[str, str | None], list[Future]] = {}

    def start(self, family: str, weights: str | Path | None, shipped: str | Path | None = None) -> None:
        """Sends the cases of ``weights`` (None: the default method), of the default and of ``shipped`` (if given
        and not sent yet) to the processes, without waiting (:meth:`judge` collects them)."""
        runs = [(family, None if weights is None else str(weights)), ("default", None)]
        runs += [(family, str(shipped))] if shipped else []
        for run in runs:
            key = self._key(*run)
            if key not in self._pending:
                self._pending[key] = [
                    self._pool.submit(_run_case, str(self.path), index, kind, run[0], run[1])
                    for index, kind in self.cases
                ]

    def scores(self, family: str, weights: str | Path | None) -> list[dict[str, Any]]:
        """Each case's score through ``family``'s method with ``weights`` (None: the default method)."""
        self.start(family, weights)
        return [future.result() for future in self._pending[self._key(family, weights)]]

    def judge(self, family: str, weights: str | Path, shipped: str | Path | None) -> dict[str, Any]:
        """``weights`` against the default and, when given, the ``shipped`` weights: per hole kind, mean hole
        PSNR over the default's in the same cases, cases better / worse by more than :data:`COUNTED` dB, the
        worst case and the median band energies; ``gain``: the mean over the kinds of the mean difference, the
        number runs are chosen by; ``beats_shipped``: above the shipped weights' ``gain`` in every kind."""
        self.start(family, weights, shipped)
        found = [self.scores(family, weights), self.scores(family, None)]
        found += [self.scores(family, shipped)] if shipped else []
        trained, default = found[0], found[1]
        report = {"photos": len(self.cases) // len(CHECK_MASKS), "trained": self._summary(trained, default)}
        if shipped:
            report["shipped"] = self._summary(found[2], default)
            report["beats_shipped"] = all(
                report["trained"][kind]["over_default"] > report["shipped"][kind]["over_default"]
                for kind in CHECK_MASKS
            )
        report["exact"] = all(case["exact"] for run in found for case in run)
        report["gain"] = report["trained"]["gain"]
        return report

    def _summary(self, scores: list[dict[str, Any]], default: list[dict[str, Any]]) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        for kind in CHECK_MASKS:
            picks = [index for index, case in enumerate(self.cases) if case[1] == kind]
            diff = np.array([scores[index]["psnr"] - default[index]["psnr"] for index in picks])
            bands = np.median([scores[index]["bands"] for index in picks], axis=0)
            summary[kind] = {
                "hole_psnr": round(float(np.mean([scores[index]["psnr"] for index in picks])), 4),
                "over_default": round(float(diff.mean()), 4),
                "better": int((diff > COUNTED).sum()),
                "worse": int((diff < -COUNTED).sum()),
                "worst": round(float(diff.min()), 4),
                "bands": [round(float(value), 3) for value in bands],
            }
        summary["gain"] = round(float(np.mean([summary[kind]["over_default"] for kind in CHECK_MASKS])), 4)
        return summary

    @staticmethod
    def _key(family: str, weights: str | Path | None) -> tuple[str, str | None]:
        return ("default", None) if weights is None else (family, str(weights))

    def close(self) -> None:
        """Stops the processes and removes the cached fills."""
        self._pool.shutdown(cancel_futures=True)
        self._folder.cleanup()
