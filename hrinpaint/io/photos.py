"""Finding the photos in a folder: the one rule the training data, the benchmark and the GPU pack share."""

from __future__ import annotations

from pathlib import Path

from hrinpaint.errors import InputError
from hrinpaint.io.info import IMAGE_SUFFIXES


def find_photos(folder: str | Path, *, recursive: bool = False, limit: int | None = None) -> list[Path]:
    """The image files (by suffix, any case) in ``folder``, sorted by path.

    Args:
        folder: a local folder.
        recursive: also look in every folder below it.
        limit: keep only the first this many (None or 0: all).

    Raises:
        InputError: the folder does not exist or holds no photo.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"no photos under '{folder}': it is not a folder")
    found = folder.rglob("*") if recursive else folder.iterdir()
    photos = sorted(path for path in found if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())
    if not photos:
        raise InputError(f"no photos under '{folder}'")
    return photos[:limit] if limit else photos
