"""Reading and writing images and masks: the only package that touches image files.

Images are read into their file's integer dtype (:class:`LoadedImage`), so the pipeline can paste hole pixels
into the original array and keep every known pixel bit-exact; :func:`to_float` gives the canonical float32
``H x W x 3`` RGB in [0, 1]. Masks come back as bool ``H x W`` with True = hole.

What is kept on a round trip: EXIF orientation is applied on read and reset to 1 in the kept EXIF; the ICC
profile and EXIF are written back where the format holds them; greyscale stays greyscale; 16-bit stays
16-bit in PNG and TIFF; alpha is passed through untouched (only RGB is inpainted). Writes are atomic and never
replace an input file unless asked.

Every problem a user can cause raises :class:`~hrinpaint.errors.InputError` or
:class:`~hrinpaint.errors.OutputError` with a one-line message that names the file.

Modules: :mod:`~hrinpaint.io.read` (decoding, the pixel limit), :mod:`~hrinpaint.io.exif` (orientation and
EXIF), :mod:`~hrinpaint.io.write` and :mod:`~hrinpaint.io.encoders` (output checks and encoders),
:mod:`~hrinpaint.io.atomic` (atomic files), :mod:`~hrinpaint.io.masks` (mask polarity),
:mod:`~hrinpaint.io.photos` (the photos in a folder), :mod:`~hrinpaint.io.info` (what they share).
:func:`to_float` and :func:`from_float` live in :mod:`hrinpaint.pixels`, which array code imports without this
package.
"""

from hrinpaint.io.info import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, ImageInfo, LoadedImage
from hrinpaint.io.masks import mask_from_array
from hrinpaint.io.photos import find_photos
from hrinpaint.io.read import read_image, read_mask
from hrinpaint.io.write import check_output_path, copy_file, encode_image, write_image
from hrinpaint.pixels import from_float, to_float

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageInfo",
    "LoadedImage",
    "IMAGE_SUFFIXES",
    "check_output_path",
    "copy_file",
    "encode_image",
    "find_photos",
    "from_float",
    "mask_from_array",
    "read_image",
    "read_mask",
    "to_float",
    "write_image",
]
