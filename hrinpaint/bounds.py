"""Bounds on every numeric option: one table that the CLI, the Python API and the server all check.

A filler's or lifter's typed ``Config`` checks that its values make sense (``patch_size`` odd, ``overlap`` in
(0, 1]); the bounds here add what keeps one run from holding a machine for minutes or asking for terabytes
(``cells`` 100000, ``iterations`` 150, ``grow`` 100000). :meth:`hrinpaint.registry.Registry.build` and
:class:`hrinpaint.pipeline.PipelineOptions` check them, so every front end refuses the same values with the same
one-line :class:`~hrinpaint.errors.ConfigError`; the server also writes them into its option schemas (``minimum``
and ``maximum``), where the page reads them.

A config may also carry its own bounds in a field's metadata (``field(default=3, metadata={"bounds": (1, 9)})``);
those take precedence over the table.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

from hrinpaint.errors import ConfigError

Bounds = tuple[float, float]

_THREADS: Bounds = (0, 256)
#: The options every network filler shares (``fillers/network.NetworkFillerConfig``).
_NETWORK_FILLER: dict[str, Bounds] = {
    "size": (0, 4096),
    "threads": _THREADS,
    "band": (0.0, 64.0),
    "weight": (0.0, 1.0),
    "gate_sigma": (0.0, 256.0),
}

#: The largest image accepted by default, in pixels: the CLI's ``--max-pixels``, :class:`PipelineOptions` and
#: :mod:`hrinpaint.io`'s readers start from it (here, not in ``io``, so that the CLI need not load numpy for it).
DEFAULT_MAX_PIXELS = 400_000_000

#: ``{(kind, name): {field: (lowest, highest)}}``, both ends allowed. ``kind`` is ``"filler"``, ``"lifter"``,
#: ``"pipeline"`` (:class:`~hrinpaint.pipeline.PipelineOptions`), ``"output"`` (how files are read and written) or
#: ``"batch"`` (how ``hrinpaint batch`` spreads the work).
OPTION_BOUNDS: dict[tuple[str, str], dict[str, Bounds]] = {
    ("pipeline", ""): {
        "working_size": (16, 4096),
        "context": (0.0, 16.0),
        "min_margin": (0, 2048),
        "max_pixels": (1, 4_000_000_000),
        "grow": (0, 1024),
    },
    ("output", ""): {"quality": (1, 100), "mask_threshold": (0.0, 0.99)},
    # hrinpaint batch: local worker processes (or a local Dask cluster's size), Dask retries, GiB per worker
    ("batch", ""): {"workers": (1, 1024), "retries": (0, 100), "worker_memory": (0.01, 65536.0)},
    ("filler", "telea"): {"radius": (0.5, 64.0)},
    ("filler", "ns"): {"radius": (0.5, 64.0)},
    ("filler", "patchmatch"): {
        "patch_size": (3, 31),
        "coarsest_size": (8, 1024),
        "max_levels": (1, 16),
        "em_iterations_coarsest": (1, 50),
        "em_iterations_finest": (1, 20),
        "pm_iterations": (1, 20),
        "fine_search_radius": (1, 256),
        "gradient_weight": (0.0, 100.0),
        "texture_weight": (0.0, 100.0),
        "gamma": (0.01, 10.0),
        "sigma_percentile": (0.01, 100.0),
        "top_k": (1, 64),
        "seed": (0, 2**32 - 1),
        "best_levels": (0, 16),
    },
    ("filler", "hifill"): _NETWORK_FILLER,
    ("filler", "zoom"): _NETWORK_FILLER,
    ("filler", "pyramid"): {**_NETWORK_FILLER, "extra_levels": (0, 4)},
    ("filler", "lama"): {"size": (0, 4096), "threads": _THREADS},
    ("lifter", "upsample"): {},
    ("lifter", "cra"): {
        "cells": (1, 128),
        "temperature": (0.001, 1000.0),
        "top_k": (1, 1024),
        "overlap": (0.01, 1.0),
        "context_margin": (0.0, 8.0),
        "feature_size": (1, 15),
        "structure_weight": (0.0, 100.0),
        "proximity": (0.0, 100.0),
        "chunk_size": (1, 65536),
    },
    ("lifter", "octave"): {
        "patch_size": (3, 31),
        "em_iterations": (0, 20),
        "pm_iterations": (1, 20),
        "search_radius": (1, 256),
        "gamma": (1.0, 10.0),
        "sigma_percentile": (0.01, 100.0),
        "gradient_weight": (0.0, 100.0),
        "search_side": (16, 8192),
        "cra_levels": (0, 16),
        "restore_gain": (1.0, 8.0),
        "coarse_gain": (1.0, 8.0),
        "restore_bands": (1, 8),
        "restore_context": (1, 64),
        "restore_passes": (1, 8),
        "restore_levels": (1, 16),
        "low_sigma": (0.0, 256.0),
        "low_weight": (0.0, 1.0),
        "low_grow": (0, 16),
        "keep_bands": (0, 8),
        "seed": (0, 2**32 - 1),
    },
    ("lifter", "refine"): {
        "max_scales": (1, 6),
        "pixel_budget": (1024, 8_000_000),
        "lr": (1e-6, 1.0),
        "iterations": (0, 60),
        "erosion": (0, 128),
        "max_side": (0, 2048),
        "min_side": (16, 4096),
        "keep_bands": (0, 8),
    },
    ("lifter", "shift"): {
        "shift": (0.0, 0.999),
        "tile": (64, 2048),
        "overlap": (0, 512),
        "max_pixels": (1, 16_777_216),
        "threads": _THREADS,
        "band": (0.0, 64.0),
        "keep_bands": (0, 8),
        "gate_sigma": (0.0, 256.0),
    },
}


def bounds_for(kind: str, name: str = "", config_class: type | None = None) -> dict[str, Bounds]:
    """The bounds of one part's (or the pipeline's) numeric options: the table's, then the config's own."""
    found = dict(OPTION_BOUNDS.get((kind, name), {}))
    if config_class is not None and dataclasses.is_dataclass(config_class):
        for item in dataclasses.fields(config_class):
            if "bounds" in item.metadata:
                found[item.name] = tuple(item.metadata["bounds"])  # type: ignore[assignment]
    return found


def check_value(label: str, value: Any, bounds: Bounds) -> None:
    """Raises :class:`ConfigError` unless ``value`` is a finite number within ``bounds`` (None passes: auto)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{label} must be a number, got {value!r}")
    low, high = bounds
    if not math.isfinite(value) or not low <= value <= high:
        raise ConfigError(f"{label} must be {_number(low)} to {_number(high)}, got {_number(value)}")


def check_known(given: Iterable[str], allowed: Iterable[str], owner: str, error: type[Exception] = ConfigError) -> None:
    """Refuses option names that ``owner`` does not have, with one line that lists the ones it has.

    Every place that takes options by name (a filler's or lifter's config, a mask kind's overrides, a trainer's
    options) checks them here, so an unknown key is the same error with the same words everywhere.

    Args:
        given: the names given; allowed: the names ``owner`` takes.
        owner: what the message names, e.g. ``"filler 'telea'"`` or ``"mask"``.
        error: the exception raised (a :class:`ConfigError` unless the caller's contract says otherwise).

    Raises:
        ``error``: ``"<owner> has no option a, b; options: c, d"``.
    """
    known = set(allowed)
    unknown = sorted(set(given) - known)
    if unknown:
        raise error(f"{owner} has no option {', '.join(unknown)}; options: {', '.join(sorted(known))}")


def check_bounds(kind: str, name: str, values: Mapping[str, Any], config_class: type | None = None) -> None:
    """Checks every bounded option present in ``values``; the message names the part and the option."""
    owner = f"{kind} {name!r}: " if name else ""
    for option, limits in bounds_for(kind, name, config_class).items():
        if option in values:
            check_value(f"{owner}{option}", values[option], limits)


def _number(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value)) if abs(value) >= 1 or value == 0 else str(value)
    if isinstance(value, int) and abs(value) >= 100_000:
        return f"{value:,}"
    return str(value)
