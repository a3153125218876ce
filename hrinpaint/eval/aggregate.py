"""Streaming aggregation of per-image benchmark rows into grouped summaries and Markdown tables.

The benchmark runner adds one row per (image, mask, method, size) as it goes, then asks for summaries grouped
by resolution and by mask-area bin (LaMa's way of reporting), as plain dicts or as a Markdown table.

A row is a flat mapping. Keys named in ``labels`` (by default ``method``, ``size``, ``mask_kind``,
``area_bin``, ``seed``) and any key with a non-numeric value are *labels*, which rows are grouped by; every
other key with a numeric value is a *metric*, which is reduced per group. ``None`` is a missing value of
either kind.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["DEFAULT_LABELS", "DEFAULT_REDUCTIONS", "MetricAccumulator", "format_value"]

DEFAULT_LABELS = ("method", "size", "mask_kind", "area_bin", "seed")
DEFAULT_REDUCTIONS: Mapping[str, str] = {"time_s": "median", "peak_mb": "max"}
"""Reduction per metric; any metric not named here is averaged. The median keeps one slow first call (a JIT,
a cold cache) from moving a method's time; memory is reported as the worst case because that is what limits
a method."""

COUNT = "count"


def _finite_or_nan(values: np.ndarray) -> np.ndarray:
    return values[~np.isnan(values)]


def _reduce_mean(values: np.ndarray) -> float:
    kept = _finite_or_nan(values)
    return float(kept.mean()) if kept.size else math.nan


def _reduce_median(values: np.ndarray) -> float:
    kept = _finite_or_nan(values)
    return float(np.median(kept)) if kept.size else math.nan


def _reduce_max(values: np.ndarray) -> float:
    kept = _finite_or_nan(values)
    return float(kept.max()) if kept.size else math.nan


def _reduce_min(values: np.ndarray) -> float:
    kept = _finite_or_nan(values)
    return float(kept.min()) if kept.size else math.nan


_REDUCERS: dict[str, Callable[[np.ndarray], float]] = {
    "mean": _reduce_mean,
    "median": _reduce_median,
    "max": _reduce_max,
    "min": _reduce_min,
}


def _is_metric_value(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _natural_key(value: Any) -> tuple[Any, ...]:
    """Label sort key: numbers numerically, ``"0-10%"`` before ``"10-20%"``, ``"512"`` before ``"1024"``.

    Mixed label types (numbers, text, None) still compare, numbers first and None last.
    """
    if value is None:
        return (2, ())
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return (0, ((0, float(value), ""),))
    parts = re.split(r"(\d+(?:\.\d+)?)", str(value))
    return (
        1,
        tuple((0, float(part), "") if index % 2 else (1, 0.0, part) for index, part in enumerate(parts)),
    )


def format_value(name: str, value: Any) -> str:
    """Formats one summary cell for a table: PSNR 2 decimals, SSIM-like 4, times 2, memory in whole MB, energy
    ratios 3.

    Args:
        name: the column (metric) name, which picks the precision.
        value: the cell; labels pass through ``str``.

    Returns:
        The text for the cell; ``"n/a"`` for nan (no finite value in the group).
    """
    if value is None:
        return ""
    if not _is_metric_value(value):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if name.startswith("psnr") or name.endswith("_s"):
        return f"{value:.2f}"
    if "ssim" in name or name.startswith("l1"):
        return f"{value:.4f}"
    if name.endswith("_mb"):
        return f"{value:.0f}"
    if name.startswith(("sharpness", "band_energy")):
        return f"{value:.3f}"
    return f"{value:.4g}"


class MetricAccumulator:
    """Collects benchmark rows one at a time and summarises them by any combination of labels.

    Example::

        accumulator = MetricAccumulator()
        accumulator.add({"method": "telea+upsample", "size": 2048, "area_bin": "10-20%", "psnr": 31.2,
                         "time_s": 0.8, "peak_mb": 900})
        print(accumulator.markdown(group_by=("size", "method"), columns=["psnr", "time_s"]))

    Args:
        labels: keys that are always labels, even when their values are numbers (``size``).
        reductions: metric name -> ``"mean"``, ``"median"``, ``"max"`` or ``"min"``; merged over
            :data:`DEFAULT_REDUCTIONS`. Unnamed metrics are averaged. All reductions skip nan.
    """

    def __init__(self, labels: Sequence[str] = DEFAULT_LABELS, reductions: Mapping[str, str] | None = None) -> None:
        merged = {**DEFAULT_REDUCTIONS, **(reductions or {})}
        unknown = sorted({how for how in merged.values() if how not in _REDUCERS})
        if unknown:
            raise ValueError(f"unknown reduction(s) {unknown}; choose from {sorted(_REDUCERS)}")
        self._labels = tuple(labels)
        self._reductions = merged
        self._label_rows: list[dict[str, Any]] = []
        self._metric_rows: list[dict[str, float]] = []
        self._metric_names: dict[str, None] = {}  # an ordered set: columns in the order first seen
        self._label_names: set[str] = set()

    def __len__(self) -> int:
        return len(self._label_rows)

    @property
    def metric_names(self) -> list[str]:
        """Every metric seen so far, in the order first seen."""
        return list(self._metric_names)

    def add(self, row: Mapping[str, Any]) -> None:
        """Adds one row: labels as given, metrics as floats. ``None`` means missing, for either kind.

        Raises:
            ValueError: a key is named ``count`` (reserved for group sizes), or a key that held numbers (a
                metric) in earlier rows holds text here or the other way round, which makes it ambiguous.
        """
        labels: dict[str, Any] = {}
        metrics: dict[str, float] = {}
        for key, value in row.items():
            if key == COUNT:
                raise ValueError(f"{COUNT!r} is reserved for the number of rows in a group")
            if value is None:
                # Missing either way: a metric lookup reads nan, a label lookup reads None.
                continue
            if key in self._labels or not _is_metric_value(value):
                if key in self._metric_names:
                    raise ValueError(f"{key!r} held numbers in earlier rows but {value!r} here")
                labels[key] = value
            else:
                if key in self._label_names:
                    raise ValueError(f"{key!r} held labels in earlier rows but the number {value!r} here")
                metrics[key] = float(value)
        self._label_names.update(labels)
        for key in metrics:
            self._metric_names.setdefault(key, None)
        self._label_rows.append(labels)
        self._metric_rows.append(metrics)

    def summary(
        self, group_by: Sequence[str] = ("size", "method"), where: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """One dict per group: the group's labels, every metric reduced over its rows, and ``count``.

        Groups come in natural order of their labels (sizes numerically, ``"0-10%"`` before ``"10-20%"``). A
        row without a grouping label falls in the group where that label is ``None``.

        Args:
            group_by: label keys to group by; ``()`` gives one overall group.
            where: only rows whose labels equal these values (``{"size": 2048}``); default all rows.

        Returns:
            ``[{**labels, **reduced_metrics, "count": rows}, ...]``; a metric no row of a group has is nan.
            Empty when no row matches.
        """
        group_by = tuple(group_by)
        conditions = dict(where or {})
        groups: dict[tuple[Any, ...], list[int]] = {}
        for index, labels in enumerate(self._label_rows):
            if all(labels.get(key) == value for key, value in conditions.items()):
                groups.setdefault(tuple(labels.get(key) for key in group_by), []).append(index)
        summaries = []
        for key in sorted(groups, key=lambda labels: tuple(_natural_key(value) for value in labels)):
            members = groups[key]
            summary: dict[str, Any] = dict(zip(group_by, key, strict=True))
            for name in self._metric_names:
                values = np.array([self._metric_rows[index].get(name, math.nan) for index in members])
                summary[name] = _REDUCERS[self._reductions.get(name, "mean")](values)
            summary[COUNT] = len(members)
            summaries.append(summary)
        return summaries

    def markdown(
        self,
        group_by: Sequence[str] = ("size", "method"),
        columns: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> str:
        """A Markdown table of :meth:`summary`: label columns left-aligned, metric columns right-aligned.

        Args:
            group_by: label keys to group by (the first columns).
            columns: metric columns to show, in order (``"count"`` allowed); default every metric, then count.
            headers: display names for columns or labels (``{"time_s": "median s"}``); others show their key.
            where: only rows whose labels equal these values, as in :meth:`summary`.

        Returns:
            The table as one string ending in a newline; ``""`` when no row matches, so callers can skip it.

        Raises:
            ValueError: a requested column is neither a metric seen so far nor ``count``.
        """
        summaries = self.summary(group_by, where)
        if not summaries:
            return ""
        group_by = tuple(group_by)
        columns = list(columns) if columns is not None else [*self._metric_names, COUNT]
        unknown = [name for name in columns if name != COUNT and name not in self._metric_names]
        if unknown:
            raise ValueError(f"unknown column(s) {unknown}; known metrics: {self.metric_names}")
        keys = [*group_by, *columns]
        names = headers or {}
        lines = [
            _table_row([names.get(key, key) for key in keys]),
            _table_row([":---"] * len(group_by) + ["---:"] * len(columns)),
        ]
        for summary in summaries:
            lines.append(_table_row([format_value(key, summary[key]) for key in keys]))
        return "\n".join(lines) + "\n"


def _table_row(cells: Sequence[str]) -> str:
    # A pipe inside a label (a method called "a|b") would split the cell.
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
