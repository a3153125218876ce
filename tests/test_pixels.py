"""Tests for hrinpaint.pixels: the one place where pixel values change dtype."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from hrinpaint.pixels import float_to_dtype, from_float, to_8bit, to_16bit, to_bit_depth, to_float


def test_paste_conversion_rounds_like_from_float_and_clips_floats():
    values = np.random.default_rng(1).uniform(-0.2, 1.2, (37, 53, 3)).astype(np.float32)
    values[0, 0] = [0.5 / 255, 1.5 / 255, 2.5 / 255]  # ties round to even
    assert np.array_equal(float_to_dtype(values, np.dtype(np.uint8)), from_float(values, np.uint8))
    assert np.array_equal(float_to_dtype(values, np.dtype(np.uint16)), from_float(values, np.uint16))
    assert float_to_dtype(values[0, 0], np.uint8).tolist() == [0, 2, 2]
    as_float = float_to_dtype(values, np.dtype(np.float32))
    assert as_float.dtype == np.float32 and as_float.min() == 0.0 and as_float.max() == 1.0
    inside = (values >= 0) & (values <= 1)
    assert np.array_equal(as_float[inside], values[inside])


def test_sixteen_to_eight_bits_rounds_to_nearest_and_round_trips():
    every = np.arange(65536, dtype=np.uint16)
    eight = to_8bit(every)
    assert eight.dtype == np.uint8
    assert np.array_equal(eight, np.round(every / 257.0).astype(np.uint8))  # no .5 ties: 257 is odd
    # the same rule as going through float: 16 -> float -> 8
    assert np.array_equal(eight, from_float(to_float(every), np.uint8))
    byte = np.arange(256, dtype=np.uint8)
    assert np.array_equal(to_8bit(to_16bit(byte)), byte)
    assert to_16bit(byte)[-1] == 65535 and to_bit_depth(byte, np.dtype(np.uint16)).dtype == np.uint16
    assert to_bit_depth(every, np.dtype(np.uint8)) is not every and to_8bit(byte) is byte


def test_ops_import_the_conversions_without_the_file_layer():
    code = "import sys, hrinpaint.ops.resize; print('hrinpaint.io' in sys.modules, 'PIL.Image' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
