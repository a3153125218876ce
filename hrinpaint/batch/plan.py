"""What a batch does: its options, its tasks (one per image) and what each task came to.

Folders are local paths or fsspec URLs (``s3://bucket/photos``, ``gcs://...``, ``memory://...``); a URL with the
``file`` protocol, or none, is a local path.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from hrinpaint.bounds import DEFAULT_MAX_PIXELS
from hrinpaint.errors import InputError
from hrinpaint.extras import require


@dataclass(frozen=True)
class BatchOptions:
    """The per-image options of a batch (the CLI's pipeline options); picklable, so workers get a copy."""

    method: str | None = None
    working_size: int = 512
    weights: str | None = None
    invert_mask: bool = False
    mask_threshold: float = 0.0
    grow: int = 0
    max_pixels: int = DEFAULT_MAX_PIXELS
    quality: int = 95
    overwrite: bool = False
    resume: bool = False
    device: str = "auto"
    half: bool = False
    threads: int = 0

    @classmethod
    def from_args(cls, args: Any) -> BatchOptions:
        """Takes the fields that an ``argparse.Namespace`` (or any object) has; the rest keep their defaults."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})


@dataclass(frozen=True)
class Task:
    """One image of a batch. ``problem`` is set when the task cannot run (no mask): it is then reported."""

    image: str
    mask: str | None
    output: str
    problem: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What a task came to: ``done`` (written), ``skipped`` (output already there, with resume) or ``failed``."""

    task: Task
    status: Literal["done", "skipped", "failed"]
    message: str
    seconds: float = 0.0


def is_url(location: str) -> bool:
    """True for an fsspec URL that is not a plain local file."""
    protocol, separator, _ = str(location).partition("://")
    return bool(separator) and protocol != "file"


def url_fs(location: str) -> tuple[Any, str]:
    """The fsspec filesystem of a URL and the path on it; without fsspec, a one-line
    :class:`~hrinpaint.extras.MissingExtraError` that names the ``cluster`` extra."""
    fsspec = require("fsspec", f"the URL '{location}'")
    return fsspec.core.url_to_fs(location)


def local_path(location: str) -> str:
    """A local path for ``location`` (strips ``file://``)."""
    location = os.fspath(location)
    return location[len("file://") :] if location.startswith("file://") else location


def _image_files(location: str) -> list[str]:
    """The image files directly inside a folder or URL prefix, sorted; raises InputError if it is no folder."""
    from hrinpaint.io import IMAGE_SUFFIXES

    if is_url(location):
        fs, root = url_fs(location)
        if not fs.isdir(root):
            raise InputError(f"'{location}' is not a directory")
        entries = [entry["name"] for entry in fs.ls(root, detail=True) if entry.get("type") == "file"]
        names = [fs.unstrip_protocol(name) for name in entries]
    else:
        folder = Path(local_path(location))
        if not folder.is_dir():
            raise InputError(f"'{location}' is not a directory")
        names = [str(path) for path in folder.iterdir() if path.is_file()]
    return sorted(name for name in names if posixpath.splitext(name)[1].lower() in IMAGE_SUFFIXES)


def _stem(name: str) -> str:
    return posixpath.splitext(posixpath.basename(name))[0]


def output_folder(location: str) -> None:
    """Creates the output folder (or prefix) if it is missing."""
    if is_url(location):
        fs, root = url_fs(location)
        fs.makedirs(root, exist_ok=True)
    else:
        try:
            Path(local_path(location)).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(f"cannot create the output folder '{location}': {error.strerror or error}") from None


def plan_tasks(images: str, masks: str, output: str) -> list[Task]:
    """One task per photo in ``images``, its mask the file of ``masks`` with the same stem, its output the
    photo's name in ``output`` (created if missing).

    Raises:
        InputError: ``images`` or ``masks`` is not a folder, or ``images`` holds no image.
    """
    images, masks, output = os.fspath(images), os.fspath(masks), os.fspath(output)
    photos = _image_files(images)
    by_stem: dict[str, str] = {}
    for mask in _image_files(masks):
        by_stem.setdefault(_stem(mask), mask)
    if not photos:
        raise InputError(f"no images in '{images}'")
    output_folder(output)
    tasks = []
    for photo in photos:
        mask = by_stem.get(_stem(photo))
        problem = None if mask else f"no mask named '{_stem(photo)}.*' in '{masks}'"
        name = posixpath.basename(photo)
        target = output.rstrip("/") + "/" + name if is_url(output) else os.path.join(output, name)
        tasks.append(Task(photo, mask, target, problem))
    return tasks
