"""Tests for hrinpaint.io: formats, metadata, mask polarity, limits, errors and safe writes."""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, ImageOps, JpegImagePlugin

from hrinpaint import io as hio
from hrinpaint.errors import InputError, OutputError
from hrinpaint.io import (
    ImageInfo,
    check_output_path,
    from_float,
    mask_from_array,
    read_image,
    read_mask,
    to_float,
    write_image,
)

HEIGHT, WIDTH = 13, 21  # odd, unequal sides catch transposed axes


def _rgb8(seed: int = 0, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _rgb16(seed: int = 0, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, (height, width, 3), dtype=np.uint16)


def _smooth_rgb8(height: int = 48, width: int = 64) -> np.ndarray:
    """A smooth image, so that lossy codecs stay close to it."""
    rows = np.linspace(0, 255, height)[:, None]
    cols = np.linspace(0, 255, width)[None, :]
    return np.stack([rows + 0 * cols, 0 * rows + cols, (rows + cols) / 2], axis=2).astype(np.uint8)


def _to8(pixels: np.ndarray) -> np.ndarray:
    return pixels if pixels.dtype == np.uint8 else (pixels // 257).astype(np.uint8)


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif(orientation: int | None = None, make: str = "TestCam") -> bytes:
    exif = Image.Exif()
    exif[0x010F] = make
    if orientation is not None:
        exif[0x0112] = orientation
    return exif.tobytes()


def _one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def _files(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir())


# ------------------------------------------------------------------------------------ float conversion


def test_float_round_trip_is_exact_for_every_8_and_16_bit_value() -> None:
    for dtype in (np.uint8, np.uint16):
        values = np.arange(np.iinfo(dtype).max + 1, dtype=dtype)
        as_float = to_float(values)
        assert as_float.dtype == np.float32
        assert as_float.min() == 0.0 and as_float.max() == 1.0
        np.testing.assert_array_equal(from_float(as_float, dtype), values)


def test_to_float_writes_into_a_given_buffer() -> None:
    pixels = _rgb8()[3:20, 5:31]  # a view, as the pipeline passes windows of a photo
    out = np.full(pixels.shape, np.nan, np.float32)
    assert to_float(pixels, out=out) is out
    np.testing.assert_array_equal(out, to_float(pixels))
    assert to_float(np.array([True, False]), out=np.empty(2, np.float32)).tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="out must be"):
        to_float(pixels, out=np.empty(pixels.shape, np.float64))


def test_from_float_rounds_clips_and_zeroes_nan() -> None:
    image = np.array([-0.5, 0.0, 0.5 / 255 + 1e-4, 0.5, 1.0, 1.7, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(from_float(image, np.uint8), [0, 0, 1, 128, 255, 255, 0])
    assert from_float(image, np.uint16)[4] == 65535


def test_from_float_refuses_integer_input_and_other_dtypes() -> None:
    with pytest.raises(ValueError):
        from_float(np.zeros(3, np.uint8), np.uint8)
    with pytest.raises(ValueError):
        from_float(np.zeros(3, np.float32), np.int32)


# ------------------------------------------------------------------------------------ round trips


def test_png_8bit_round_trip_is_exact(tmp_path: Path) -> None:
    pixels = _rgb8()
    write_image(tmp_path / "out.png", pixels)
    loaded = read_image(tmp_path / "out.png")
    assert loaded.pixels.dtype == np.uint8
    np.testing.assert_array_equal(loaded.pixels, pixels)
    assert loaded.info.format == "PNG" and loaded.info.bit_depth == 8 and not loaded.info.grayscale
    np.testing.assert_allclose(loaded.to_float(), pixels / 255.0, atol=1e-7)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".tiff"])
def test_16bit_rgb_round_trip_is_exact(tmp_path: Path, suffix: str) -> None:
    pixels = _rgb16()
    write_image(tmp_path / f"out{suffix}", pixels)
    loaded = read_image(tmp_path / f"out{suffix}")
    assert loaded.pixels.dtype == np.uint16
    assert loaded.info.bit_depth == 16 and loaded.info.mode == "RGB16"
    np.testing.assert_array_equal(loaded.pixels, pixels)


def test_16bit_png_written_elsewhere_reads_all_16_bits(tmp_path: Path) -> None:
    pixels = _rgb16(3)
    cv2.imwrite(str(tmp_path / "cv.png"), pixels[:, :, ::-1])
    np.testing.assert_array_equal(read_image(tmp_path / "cv.png").pixels, pixels)


def test_16bit_tiff_planar_and_compressed_read_exactly(tmp_path: Path) -> None:
    pixels = _rgb16(4)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(pixels, 2, 0), photometric="rgb", planarconfig="separate")
    tifffile.imwrite(tmp_path / "zlib.tif", pixels, photometric="rgb", compression="zlib")
    cv2.imwrite(str(tmp_path / "lzw.tif"), pixels[:, :, ::-1])  # LZW: tifffile alone would need imagecodecs
    for name in ("planar.tif", "zlib.tif", "lzw.tif"):
        np.testing.assert_array_equal(read_image(tmp_path / name).pixels, pixels, err_msg=name)


def test_tiff_8bit_round_trip_is_exact(tmp_path: Path) -> None:
    pixels = _rgb8(5)
    write_image(tmp_path / "out.tif", pixels)
    np.testing.assert_array_equal(read_image(tmp_path / "out.tif").pixels, pixels)


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".webp"])
def test_lossy_round_trip_is_close(tmp_path: Path, suffix: str) -> None:
    pixels = _smooth_rgb8()
    write_image(tmp_path / f"out{suffix}", pixels)
    loaded = read_image(tmp_path / f"out{suffix}")
    assert loaded.pixels.shape == pixels.shape and loaded.pixels.dtype == np.uint8
    error = np.abs(loaded.pixels.astype(int) - pixels.astype(int))
    assert error.mean() < 2.0 and error.max() < 24


def test_16bit_to_jpeg_rounds_down_to_8bit(tmp_path: Path) -> None:
    pixels = np.full((16, 16, 3), 257 * 200 + 128, dtype=np.uint16)  # 200.498 in 8-bit terms
    write_image(tmp_path / "out.jpg", pixels)
    loaded = read_image(tmp_path / "out.jpg")
    assert loaded.info.bit_depth == 8
    assert np.abs(loaded.pixels.astype(int) - 200).max() <= 1


def test_float_pixels_use_info_bit_depth(tmp_path: Path) -> None:
    pixels = _rgb16(6)
    info = ImageInfo(bit_depth=16)
    write_image(tmp_path / "out.png", to_float(pixels), info)
    np.testing.assert_array_equal(read_image(tmp_path / "out.png").pixels, pixels)
    write_image(tmp_path / "eight.png", to_float(pixels))
    assert read_image(tmp_path / "eight.png").pixels.dtype == np.uint8


# ------------------------------------------------------------------------------------ greyscale


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_greyscale_in_greyscale_out(tmp_path: Path, suffix: str) -> None:
    grey = _rgb8(7)[:, :, 0]
    Image.fromarray(grey).save(tmp_path / "grey.png")
    loaded = read_image(tmp_path / "grey.png")
    assert loaded.info.grayscale and loaded.info.mode == "L"
    assert loaded.pixels.shape == (HEIGHT, WIDTH, 3)
    for channel in range(3):
        np.testing.assert_array_equal(loaded.pixels[:, :, channel], grey)
    write_image(tmp_path / f"out{suffix}", loaded.pixels, loaded.info)
    with Image.open(tmp_path / f"out{suffix}") as written:
        assert written.mode == "L"
    if suffix != ".jpg":
        np.testing.assert_array_equal(read_image(tmp_path / f"out{suffix}").pixels[:, :, 0], grey)


def test_greyscale_16bit_round_trip_is_exact(tmp_path: Path) -> None:
    grey = _rgb16(8)[:, :, 0]
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    loaded = read_image(tmp_path / "grey16.png")
    assert loaded.info.grayscale and loaded.info.bit_depth == 16 and loaded.pixels.dtype == np.uint16
    write_image(tmp_path / "out.png", loaded.pixels, loaded.info)
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode.startswith("I")
    np.testing.assert_array_equal(read_image(tmp_path / "out.png").pixels[:, :, 0], grey)


def test_greyscale_output_is_the_rounded_channel_mean(tmp_path: Path) -> None:
    pixels = np.array([[[10, 20, 31], [0, 0, 2], [255, 255, 255]]], dtype=np.uint8)  # inpainting may tint
    write_image(tmp_path / "out.png", pixels, ImageInfo(grayscale=True))
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "L"
        np.testing.assert_array_equal(np.asarray(written), [[20, 1, 255]])


def test_greyscale_to_webp_writes_rgb(tmp_path: Path) -> None:
    Image.fromarray(_rgb8(9)[:, :, 0]).save(tmp_path / "grey.png")
    loaded = read_image(tmp_path / "grey.png")
    write_image(tmp_path / "out.webp", loaded.pixels, loaded.info)
    with Image.open(tmp_path / "out.webp") as written:
        assert written.mode == "RGB"


# ------------------------------------------------------------------------------------ alpha


@pytest.mark.parametrize("suffix", [".png", ".tif", ".webp"])
def test_rgba_alpha_untouched_through_round_trip(tmp_path: Path, suffix: str) -> None:
    rgb = _rgb8(10)
    alpha = np.random.default_rng(11).integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "in.png")
    loaded = read_image(tmp_path / "in.png")
    assert loaded.info.alpha is not None and loaded.info.mode == "RGBA"
    np.testing.assert_array_equal(loaded.info.alpha, alpha)
    np.testing.assert_array_equal(loaded.pixels, rgb)
    if suffix == ".webp":  # lossy colour, but alpha is stored losslessly by default
        write_image(tmp_path / "out.webp", loaded.pixels, loaded.info, quality=90)
    else:
        write_image(tmp_path / f"out{suffix}", loaded.pixels, loaded.info)
    again = read_image(tmp_path / f"out{suffix}")
    np.testing.assert_array_equal(again.info.alpha, alpha)
    if suffix != ".webp":
        np.testing.assert_array_equal(again.pixels, rgb)


def test_rgba_to_jpeg_drops_alpha(tmp_path: Path) -> None:
    Image.fromarray(np.dstack([_rgb8(12), np.full((HEIGHT, WIDTH), 7, np.uint8)])).save(tmp_path / "in.png")
    loaded = read_image(tmp_path / "in.png")
    write_image(tmp_path / "out.jpg", loaded.pixels, loaded.info)
    with Image.open(tmp_path / "out.jpg") as written:
        assert written.mode == "RGB"


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_rgba_and_grey_alpha_round_trip(tmp_path: Path, suffix: str) -> None:
    rgb = _rgb16(13)
    alpha = _rgb16(14)[:, :, 0]
    info = ImageInfo(bit_depth=16, alpha=alpha)
    write_image(tmp_path / f"rgba{suffix}", rgb, info)
    loaded = read_image(tmp_path / f"rgba{suffix}")
    assert loaded.info.mode == "RGBA16"
    np.testing.assert_array_equal(loaded.pixels, rgb)
    np.testing.assert_array_equal(loaded.info.alpha, alpha)

    grey = np.repeat(rgb[:, :, :1], 3, axis=2)
    write_image(tmp_path / f"la{suffix}", grey, ImageInfo(bit_depth=16, alpha=alpha, grayscale=True))
    loaded = read_image(tmp_path / f"la{suffix}")
    assert loaded.info.grayscale and loaded.info.mode == "LA16"
    np.testing.assert_array_equal(loaded.pixels, grey)
    np.testing.assert_array_equal(loaded.info.alpha, alpha)


def test_palette_with_transparency_reads_as_rgba(tmp_path: Path) -> None:
    indices = np.zeros((HEIGHT, WIDTH), np.uint8)
    indices[2:5, 3:9] = 1
    palette_image = Image.fromarray(indices, mode="P")
    palette_image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    palette_image.save(tmp_path / "p.png", transparency=0)
    loaded = read_image(tmp_path / "p.png")
    assert loaded.info.mode == "P"
    np.testing.assert_array_equal(loaded.pixels[3, 4], [200, 100, 50])
    np.testing.assert_array_equal(loaded.info.alpha, np.where(indices == 1, 255, 0))


# ------------------------------------------------------------------------------------ CMYK, ICC, EXIF


def test_cmyk_jpeg_reads_as_rgb_without_its_profile(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (WIDTH, HEIGHT), (0, 255, 255, 0))  # magenta + yellow inks = red
    fake_cmyk_icc = bytearray(_srgb_icc())
    fake_cmyk_icc[16:20] = b"CMYK"
    cmyk.save(tmp_path / "cmyk.jpg", quality=95, icc_profile=bytes(fake_cmyk_icc))
    loaded = read_image(tmp_path / "cmyk.jpg")
    assert loaded.info.mode == "CMYK" and loaded.info.icc_profile is None
    assert loaded.pixels.shape == (HEIGHT, WIDTH, 3)
    red, green, blue = loaded.pixels[HEIGHT // 2, WIDTH // 2].astype(int)
    assert red > 200 and green < 60 and blue < 60
    write_image(tmp_path / "out.jpg", loaded.pixels, loaded.info)
    with Image.open(tmp_path / "out.jpg") as written:
        assert written.mode == "RGB" and "icc_profile" not in written.info


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
@pytest.mark.parametrize("bit_depth", [8, 16])
def test_icc_profile_kept_on_write(tmp_path: Path, suffix: str, bit_depth: int) -> None:
    icc = _srgb_icc()
    Image.fromarray(_rgb8(15)).save(tmp_path / "in.png", icc_profile=icc)
    loaded = read_image(tmp_path / "in.png")
    assert loaded.info.icc_profile == icc
    pixels = loaded.pixels if bit_depth == 8 else loaded.pixels.astype(np.uint16) * 257
    write_image(tmp_path / f"out{suffix}", pixels, loaded.info)
    assert read_image(tmp_path / f"out{suffix}").info.icc_profile == icc


def test_rgb_profile_not_attached_to_greyscale_output(tmp_path: Path) -> None:
    info = ImageInfo(icc_profile=_srgb_icc(), grayscale=True)
    write_image(tmp_path / "out.png", np.zeros((4, 5, 3), np.uint8), info)
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "L" and "icc_profile" not in written.info


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow_exif_transpose(tmp_path: Path, orientation: int) -> None:
    pixels = _rgb8(16)
    Image.fromarray(pixels).save(tmp_path / "o.png", exif=_exif(orientation))
    with Image.open(tmp_path / "o.png") as source:
        expected = np.asarray(ImageOps.exif_transpose(source).convert("RGB"))
    loaded = read_image(tmp_path / "o.png")
    np.testing.assert_array_equal(loaded.pixels, expected)


def test_exif_orientation_applied_and_reset_on_write(tmp_path: Path) -> None:
    rgba = np.dstack([_rgb8(17), np.arange(HEIGHT * WIDTH, dtype=np.uint8).reshape(HEIGHT, WIDTH)])
    Image.fromarray(rgba).save(tmp_path / "rotated.png", exif=_exif(6))
    loaded = read_image(tmp_path / "rotated.png")
    assert loaded.pixels.shape == (WIDTH, HEIGHT, 3)
    np.testing.assert_array_equal(loaded.pixels, np.rot90(rgba[:, :, :3], k=-1))  # 6 = turn clockwise
    np.testing.assert_array_equal(loaded.info.alpha, np.rot90(rgba[:, :, 3], k=-1))
    assert loaded.info.exif is not None and loaded.info.exif.startswith(b"Exif\x00\x00")

    for suffix in (".jpg", ".png", ".webp", ".tif"):
        write_image(tmp_path / f"out{suffix}", loaded.pixels, loaded.info)
        with Image.open(tmp_path / f"out{suffix}") as written:
            assert written.size == (HEIGHT, WIDTH), suffix  # Pillow sizes are (width, height)
            exif = written.getexif()
            assert exif.get(0x0112) == 1, suffix
            assert exif.get(0x010F) == "TestCam", suffix
        assert read_image(tmp_path / f"out{suffix}").pixels.shape == (WIDTH, HEIGHT, 3)


def test_exif_orientation_in_jpeg_and_tiff_sources(tmp_path: Path) -> None:
    pixels = _smooth_rgb8(16, 24)
    Image.fromarray(pixels).save(tmp_path / "o.jpg", exif=_exif(8), quality=95)
    Image.fromarray(pixels).save(tmp_path / "raw.tif", exif=_exif(8))
    Image.fromarray(pixels).save(tmp_path / "deflate.tif", exif=_exif(8), compression="tiff_adobe_deflate")
    tifffile.imwrite(
        tmp_path / "wide.tif",
        pixels.astype(np.uint16) * 257,
        photometric="rgb",
        extratags=[(274, "H", 1, 8, True)],
    )
    assert read_image(tmp_path / "o.jpg").pixels.shape == (24, 16, 3)
    for name in ("raw.tif", "deflate.tif", "wide.tif"):
        tiff = read_image(tmp_path / name)
        np.testing.assert_array_equal(_to8(tiff.pixels), np.rot90(pixels, k=1), err_msg=name)  # 8: turn left
    tiff = read_image(tmp_path / "raw.tif")
    write_image(tmp_path / "from_tiff.jpg", tiff.pixels, tiff.info)
    with Image.open(tmp_path / "from_tiff.jpg") as written:
        exif = written.getexif()
        assert exif.get(0x0112) == 1 and exif.get(0x010F) == "TestCam"
        assert 0x0111 not in exif  # strip offsets of the TIFF source must not leak into another file


def test_exif_reset_keeps_other_bytes(tmp_path: Path) -> None:
    raw = _exif(3)
    Image.fromarray(_rgb8(18)).save(tmp_path / "o.jpg", exif=raw)
    kept = read_image(tmp_path / "o.jpg").info.exif
    assert kept is not None and len(kept) == len(raw)
    differing = [index for index in range(len(raw)) if raw[index] != kept[index]]
    assert 0 < len(differing) <= 2  # only the Orientation value changed


def test_16bit_png_exif_orientation_applied(tmp_path: Path) -> None:
    pixels = _rgb16(19)
    write_image(tmp_path / "o.png", pixels, ImageInfo(bit_depth=16, exif=_exif(6)))
    loaded = read_image(tmp_path / "o.png")
    np.testing.assert_array_equal(loaded.pixels, np.rot90(pixels, k=-1))
    parsed = Image.Exif()
    parsed.load(loaded.info.exif)
    assert parsed.get(0x0112) == 1 and parsed.get(0x010F) == "TestCam"


def test_jpeg_quality_and_subsampling_honoured(tmp_path: Path) -> None:
    pixels = _rgb8(20, 64, 64)
    write_image(tmp_path / "low.jpg", pixels, quality=30)
    write_image(tmp_path / "high.jpg", pixels, quality=95)
    assert (tmp_path / "low.jpg").stat().st_size < 0.7 * (tmp_path / "high.jpg").stat().st_size
    with Image.open(tmp_path / "high.jpg") as high, Image.open(tmp_path / "low.jpg") as low:
        assert JpegImagePlugin.get_sampling(high) == 0  # 4:4:4
        assert JpegImagePlugin.get_sampling(low) == 2  # 4:2:0


# ------------------------------------------------------------------------------------ masks


def test_mask_any_nonzero_channel_is_hole(tmp_path: Path) -> None:
    colour = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    colour[1, 2, 2] = 1  # blue only, faintest value
    colour[5, 6, 0] = 255
    Image.fromarray(colour).save(tmp_path / "m.png")
    hole = read_mask(tmp_path / "m.png")
    assert hole.dtype == np.bool_ and hole.shape == (HEIGHT, WIDTH)
    assert hole.sum() == 2 and hole[1, 2] and hole[5, 6]
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png", invert=True), ~hole)


def test_mask_16bit_and_bilevel(tmp_path: Path) -> None:
    grey = np.zeros((HEIGHT, WIDTH), np.uint16)
    grey[3, 4] = 1
    Image.fromarray(grey).save(tmp_path / "m16.png")
    assert read_mask(tmp_path / "m16.png").sum() == 1
    bilevel = Image.fromarray(grey.astype(bool))
    bilevel.save(tmp_path / "m1.png")
    assert read_mask(tmp_path / "m1.png")[3, 4] and read_mask(tmp_path / "m1.png").sum() == 1


def test_mask_alpha_strokes_on_transparent_layer(tmp_path: Path) -> None:
    layer = np.zeros((HEIGHT, WIDTH, 4), np.uint8)  # black strokes: colour alone would say "no hole"
    layer[2:4, 5:9, 3] = 255
    layer[7, 1, 3] = 10  # soft edge of a brush
    Image.fromarray(layer).save(tmp_path / "layer.png")
    hole = read_mask(tmp_path / "layer.png")
    assert hole.sum() == 2 * 4 + 1 and hole[2:4, 5:9].all() and hole[7, 1]

    grey_alpha = np.zeros((HEIGHT, WIDTH, 2), np.uint8)
    grey_alpha[6, 6, 1] = 255
    Image.fromarray(grey_alpha).save(tmp_path / "la.png")
    assert read_mask(tmp_path / "la.png").sum() == 1


def test_mask_opaque_alpha_uses_colour(tmp_path: Path) -> None:
    opaque = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    opaque[:, :, 3] = 255
    opaque[4, 4, :3] = 255
    Image.fromarray(opaque).save(tmp_path / "opaque.png")
    hole = read_mask(tmp_path / "opaque.png")
    assert hole.sum() == 1 and hole[4, 4]


def test_mask_from_array_rules() -> None:
    assert mask_from_array(np.array([[0, 3]], np.uint8)).tolist() == [[False, True]]
    assert mask_from_array(np.array([[0.0, 0.2]]), invert=True).tolist() == [[True, False]]
    assert mask_from_array(np.array([[True, False]])).tolist() == [[True, False]]
    rgba = np.zeros((1, 2, 4), np.float32)
    rgba[0, 1, 3] = 0.5
    assert mask_from_array(rgba).tolist() == [[False, True]]
    rgba[:, :, 3] = 1.0
    rgba[0, 0, 1] = 0.1
    assert mask_from_array(rgba).tolist() == [[True, False]]
    with pytest.raises(InputError, match="shape"):
        mask_from_array(np.zeros((2, 2, 5)))


def test_mask_size_mismatch_is_an_error(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((80, 100), np.uint8)).save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png", shape=(80, 100)).shape == (80, 100)
    with pytest.raises(InputError) as error:
        read_mask(tmp_path / "m.png", shape=(80, 120))
    assert _one_line(error) == f"mask '{tmp_path / 'm.png'}' is 100x80 but image is 120x80 (width x height)"


def test_mask_orientation_applied(tmp_path: Path) -> None:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[0, 0] = 255
    Image.fromarray(mask).save(tmp_path / "m.png", exif=_exif(6))
    hole = read_mask(tmp_path / "m.png", shape=(WIDTH, HEIGHT))
    assert hole[0, HEIGHT - 1] and hole.sum() == 1  # top-left turns clockwise to top-right


# ------------------------------------------------------------------------------------ read errors


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        read_image(tmp_path / "nope.jpg")
    assert _one_line(error) == f"cannot read '{tmp_path / 'nope.jpg'}': file does not exist"
    with pytest.raises(InputError) as error:
        read_mask(tmp_path)
    assert "directory" in _one_line(error) and "mask" in str(error.value)


def test_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("hello, not an image")
    with pytest.raises(InputError) as error:
        read_image(tmp_path / "notes.png")
    assert _one_line(error) == f"cannot read '{tmp_path / 'notes.png'}': not a recognised image file"


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_file(tmp_path: Path, suffix: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(_rgb8(21, 64, 64)).save(buffer, format="JPEG" if suffix == ".jpg" else "PNG")
    (tmp_path / f"cut{suffix}").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(InputError) as error:
        read_image(tmp_path / f"cut{suffix}")
    assert _one_line(error).startswith(f"cannot read '{tmp_path / f'cut{suffix}'}': ")
    assert "truncated" in str(error.value)


def test_truncated_16bit_png(tmp_path: Path) -> None:
    ok, encoded = cv2.imencode(".png", _rgb16(22, 64, 64))
    assert ok
    (tmp_path / "cut.png").write_bytes(encoded.tobytes()[: encoded.size // 2])
    with pytest.raises(InputError) as error:
        read_image(tmp_path / "cut.png")
    assert "truncated" in _one_line(error)


def test_over_pixel_limit_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.fromarray(_rgb8()).save(tmp_path / "big.png")
    decoded = []
    monkeypatch.setattr(hio.read, "_decode_pillow", lambda *args: decoded.append(args))
    with pytest.raises(InputError) as error:
        read_image(tmp_path / "big.png", max_pixels=HEIGHT * WIDTH - 1)
    message = _one_line(error)
    assert f"{WIDTH}x{HEIGHT}" in message and f"{HEIGHT * WIDTH - 1:,}" in message and "--max-pixels" in message
    with pytest.raises(InputError, match="--max-pixels"):
        read_mask(tmp_path / "big.png", max_pixels=10)
    assert decoded == []


def test_own_limit_replaces_pillows_global_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20)  # Pillow alone would call this a bomb
    Image.fromarray(_rgb8()).save(tmp_path / "in.png")
    assert read_image(tmp_path / "in.png").pixels.shape == (HEIGHT, WIDTH, 3)
    assert Image.MAX_IMAGE_PIXELS == 20


# ------------------------------------------------------------------------------------ write errors


def test_output_in_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "out.png"
    with pytest.raises(OutputError) as error:
        check_output_path(target)
    assert _one_line(error) == f"cannot write '{target}': directory '{tmp_path / 'missing'}' does not exist"
    with pytest.raises(OutputError, match="does not exist"):
        write_image(target, _rgb8())


def test_output_in_unwritable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running with privileges that ignore directory permissions")
        with pytest.raises(OutputError, match="not writable"):
            write_image(locked / "out.png", _rgb8())
    finally:
        locked.chmod(0o700)


def test_unwritable_directory_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == tmp_path else real_access(path, mode))
    with pytest.raises(OutputError) as error:
        check_output_path(tmp_path / "out.png")
    assert _one_line(error) == f"cannot write '{tmp_path / 'out.png'}': directory '{tmp_path}' is not writable"


@pytest.mark.parametrize("name", ["out.bmp", "out", "out.png.txt"])
def test_unknown_extension(tmp_path: Path, name: str) -> None:
    with pytest.raises(OutputError) as error:
        write_image(tmp_path / name, _rgb8())
    assert "extension" in _one_line(error)
    assert _files(tmp_path) == []


def test_output_path_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "out.png").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        check_output_path(tmp_path / "out.png")


def test_refuses_to_overwrite_input(tmp_path: Path) -> None:
    source = tmp_path / "photo.png"
    Image.fromarray(_rgb8()).save(source)
    original = source.read_bytes()
    loaded = read_image(source)
    changed = 255 - loaded.pixels

    with pytest.raises(OutputError) as error:
        check_output_path(source, [str(source)])
    assert "--overwrite" in _one_line(error)
    with pytest.raises(OutputError, match="input"):
        write_image(source, changed, loaded.info)  # info.path names the input
    with pytest.raises(OutputError, match="input"):
        write_image(tmp_path / "." / "photo.png", changed, source_path=str(source))  # another spelling
    (tmp_path / "link.png").symlink_to(source)
    with pytest.raises(OutputError, match="input"):
        write_image(tmp_path / "link.png", changed, source_path=str(source))
    assert source.read_bytes() == original

    write_image(source, changed, loaded.info, overwrite=True)
    np.testing.assert_array_equal(read_image(source).pixels, changed)


def test_overwriting_another_existing_output_is_allowed(tmp_path: Path) -> None:
    Image.fromarray(_rgb8(1)).save(tmp_path / "in.png")
    (tmp_path / "out.png").write_bytes(b"old result")
    write_image(tmp_path / "out.png", _rgb8(2), source_path=str(tmp_path / "in.png"))
    np.testing.assert_array_equal(read_image(tmp_path / "out.png").pixels, _rgb8(2))


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_image(tmp_path / "out.png", _rgb8())
    write_image(tmp_path / "out.tif", _rgb16())
    write_image(tmp_path / "out.jpg", _rgb8())
    assert _files(tmp_path) == ["out.jpg", "out.png", "out.tif"]


def test_failed_write_removes_temporary_and_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "out.png").write_bytes(b"previous")

    def failing_save(self: Image.Image, file: io.BufferedWriter, *args: object, **kwargs: object) -> None:
        file.write(b"half an image")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OutputError) as error:
        write_image(tmp_path / "out.png", _rgb8())
    assert _one_line(error) == f"cannot write '{tmp_path / 'out.png'}': no space left on device"
    assert _files(tmp_path) == ["out.png"]
    assert (tmp_path / "out.png").read_bytes() == b"previous"


def test_bad_quality_and_pixels(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="quality"):
        write_image(tmp_path / "out.jpg", _rgb8(), quality=0)
    with pytest.raises(ValueError, match="H x W x 3"):
        write_image(tmp_path / "out.png", np.zeros((4, 4), np.uint8))
    assert _files(tmp_path) == []


def test_mask_threshold_ignores_jpeg_noise(tmp_path):
    keep = np.full((40, 60), 255, np.uint8)
    keep[10:30, 20:45] = 0  # black = hole, as HiFill's JPEG masks draw it
    path = tmp_path / "hifill_mask.jpg"
    Image.fromarray(keep).save(path, quality=75)
    noisy = read_mask(path, invert=True)  # strict rule: any non-zero is "keep", so JPEG noise eats the hole
    clean = read_mask(path, invert=True, threshold=0.5)
    expected = keep == 0
    assert (clean != expected).sum() <= 0.02 * expected.size
    assert (noisy != expected).sum() > (clean != expected).sum()
    with pytest.raises(InputError, match="threshold"):
        read_mask(path, threshold=1.5)


def test_mask_threshold_applies_to_arrays_and_alpha():
    grey = np.array([[0, 10, 200]], np.uint8)
    assert mask_from_array(grey).tolist() == [[False, True, True]]
    assert mask_from_array(grey, threshold=0.5).tolist() == [[False, False, True]]
    painted = np.zeros((1, 3, 4), np.uint8)
    painted[0, :, 3] = [0, 30, 255]
    assert mask_from_array(painted, threshold=0.5).tolist() == [[False, False, True]]


def test_from_float_fast_image_path_matches_the_reference_formula() -> None:
    image = np.random.default_rng(2).uniform(-0.3, 1.3, (37, 53, 3)).astype(np.float32)
    image[0, 0] = [0.5 / 255, 1.5 / 255, 2.5 / 255]  # ties round to even
    image[1, 0] = [np.nan, np.inf, -np.inf]
    # the numpy path's formula, in float32 like from_float (where 0.5/255 * 255 is exactly 0.5)
    with np.errstate(over="ignore"):  # inf * 255 is inf, as intended
        reference = np.clip(np.rint(np.nan_to_num(image, nan=0.0) * np.float32(255)), 0, 255).astype(np.uint8)
    assert np.array_equal(hio.from_float(image, np.uint8), reference)
    assert np.array_equal(hio.from_float(image[:, :, :1], np.uint8), reference[:, :, :1])


def test_from_float_converts_a_single_pixel():
    # OpenCV reads arrays of four values or fewer as scalars; a one-pixel hole box must still convert exactly.
    from hrinpaint.io import from_float

    pixel = np.array([[[0.0, 0.5, 1.0]]], np.float32)
    assert from_float(pixel, np.uint8).tolist() == [[[0, 128, 255]]]


# ----------------------------------------------------------------------------------- camera metadata, in memory


def _camera_jpeg(path: Path) -> tuple[bytes, bytes]:
    """A JPEG as a camera writes it: an ICC profile and EXIF with an EXIF sub-IFD (exposure, date, ISO)."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "TestCam", "Model 7"
    exif[0x8769] = {0x829A: (1, 250), 0x9003: "2024:05:06 07:08:09", 0x8827: 400}
    icc = _srgb_icc()
    Image.fromarray(_smooth_rgb8()).save(path, exif=exif.tobytes(), icc_profile=icc, quality=95)
    return icc, exif.tobytes()


@pytest.mark.parametrize("suffix", [".tif", ".png", ".webp", ".jpg"])
@pytest.mark.parametrize("bits", [8, 16])
def test_camera_icc_and_exif_sub_ifd_survive_every_format(tmp_path: Path, suffix: str, bits: int) -> None:
    import dataclasses

    icc, _ = _camera_jpeg(tmp_path / "camera.jpg")
    loaded = read_image(tmp_path / "camera.jpg")
    pixels, info = loaded.pixels, loaded.info
    if bits == 16:  # a 16-bit TIFF or PNG goes through tifffile / OpenCV, not Pillow
        pixels, info = pixels.astype(np.uint16) * 257, dataclasses.replace(info, bit_depth=16)
    write_image(tmp_path / f"out{suffix}", pixels, info)
    again = read_image(tmp_path / f"out{suffix}")
    assert again.info.icc_profile == icc
    exif = Image.Exif()
    exif.load(again.info.exif)
    assert exif[0x010F] == "TestCam" and exif[0x0110] == "Model 7"
    sub_ifd = exif.get_ifd(0x8769)
    exposure = sub_ifd[0x829A]  # a rational: Pillow gives a tuple or an IFDRational depending on the format
    assert (exposure[0] / exposure[1] if isinstance(exposure, tuple) else float(exposure)) == 0.004
    assert sub_ifd[0x9003] == "2024:05:06 07:08:09" and sub_ifd[0x8827] == 400
    if suffix in (".tif", ".png"):
        assert np.array_equal(again.pixels, pixels)  # metadata added after encoding leaves the pixels alone


def test_tiff_with_exif_is_read_by_tifffile_too(tmp_path: Path) -> None:
    _camera_jpeg(tmp_path / "camera.jpg")
    loaded = read_image(tmp_path / "camera.jpg")
    write_image(tmp_path / "out.tif", loaded.pixels, loaded.info)
    with tifffile.TiffFile(tmp_path / "out.tif") as tiff:
        page = tiff.pages.first
        assert page.tags["Make"].value == "TestCam"
        assert page.tags["ExifTag"].value["ISOSpeedRatings"] == 400
        assert np.array_equal(page.asarray(), loaded.pixels)


def test_read_image_and_mask_from_bytes_and_file_objects(tmp_path: Path) -> None:
    _camera_jpeg(tmp_path / "camera.jpg")
    from_path = read_image(tmp_path / "camera.jpg")
    data = (tmp_path / "camera.jpg").read_bytes()
    for source in (data, io.BytesIO(data)):
        loaded = read_image(source, name="upload.jpg")
        assert np.array_equal(loaded.pixels, from_path.pixels) and loaded.info.path is None
        assert loaded.info.exif == from_path.info.exif and loaded.info.format == "JPEG"
    mask = np.zeros((48, 64), np.uint8)
    mask[5:9, 6:20] = 255
    buffer = io.BytesIO()
    Image.fromarray(mask).save(buffer, format="PNG")
    assert np.array_equal(read_mask(buffer.getvalue(), shape=(48, 64)), mask > 0)
    with pytest.raises(InputError) as error:
        read_image(data[: len(data) // 2], name="holiday.jpg")
    assert _one_line(error).startswith("cannot read 'holiday.jpg': ") and str(tmp_path) not in str(error.value)
    with pytest.raises(InputError, match="'<memory>': not a recognised image"):
        read_image(b"hello, not a picture")
    with pytest.raises(InputError, match="over the limit"):
        read_image(data, max_pixels=100)


def test_formats_outside_the_photo_formats_are_refused_not_interpreted(tmp_path):
    # EPS would be rendered by Ghostscript; GIF is not a photo format here. Both are "not a recognised image file".
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 50 40\nnewpath 0 0 moveto 50 40 lineto stroke\nshowpage\n"
    with pytest.raises(InputError, match="not a recognised image file"):
        read_image(eps)
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    with pytest.raises(InputError, match="not a recognised image file"):
        read_image(gif.getvalue())


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_grey_from_rgb_is_the_rounded_channel_mean_and_keeps_replicated_grey(dtype):
    """The one RGB -> grey rule of the writer and the greyscale adapter: float64 reference, rounded to nearest."""
    from hrinpaint.io.write import grey_from_rgb

    top = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
    rng = np.random.default_rng(7)
    pixels = (rng.random((37, 53, 3)) * top).astype(dtype)
    pixels[0, :3] = top  # the brightest pixel must not wrap
    reference = pixels.astype(np.float64).mean(axis=2)
    grey = grey_from_rgb(pixels)
    assert grey.dtype == dtype and grey.shape == (37, 53)
    if np.issubdtype(dtype, np.integer):
        assert np.array_equal(grey, np.rint(reference).astype(dtype))
    else:
        assert np.allclose(grey, reference, atol=1e-6)
    plane = pixels[:, :, 0]
    replicated = grey_from_rgb(np.repeat(plane[:, :, None], 3, axis=2))
    if np.issubdtype(dtype, np.integer):  # floats: (v + v + v) / 3 can be one ulp off v
        assert np.array_equal(replicated, plane)
