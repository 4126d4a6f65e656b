"""Tests for magicpose.image_utils."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from magicpose.errors import InputError
from magicpose.image_utils import center_crop_resize, check_size, load_image, to_uint8

RED = (255, 0, 0)
GREEN = (0, 255, 0)


def _portrait_bands() -> np.ndarray:
    """60 wide x 100 tall: top and bottom 20 rows red, middle 60 rows green."""
    arr = np.zeros((100, 60, 3), np.uint8)
    arr[:] = RED
    arr[20:80] = GREEN
    return arr


def test_center_crop_resize_portrait_takes_centre_square() -> None:
    out = center_crop_resize(Image.fromarray(_portrait_bands()), 32, 32)
    assert isinstance(out, Image.Image)
    assert out.size == (32, 32)
    assert (np.asarray(out) == np.array(GREEN, np.uint8)).all()


def test_center_crop_resize_landscape_and_numpy_roundtrip() -> None:
    # 100 wide x 40 tall, left/right 30 columns red, middle 40 green; target 16x16 -> centre 40x40 square
    arr = np.zeros((40, 100, 3), np.uint8)
    arr[:] = RED
    arr[:, 30:70] = GREEN
    out = center_crop_resize(arr, 16, 16)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.uint8 and out.shape == (16, 16, 3)
    assert (out == np.array(GREEN, np.uint8)).all()


def test_center_crop_resize_non_square_target_exact_size() -> None:
    # 60x100 to 24x32 (aspect 0.75): crop is 60 wide x 80 tall, rows 10..89
    arr = np.zeros((100, 60, 3), np.uint8)
    arr[:10] = RED
    arr[90:] = RED
    arr[10:90] = GREEN
    out = center_crop_resize(arr, 24, 32)
    assert out.shape == (32, 24, 3)
    assert (out == np.array(GREEN, np.uint8)).all()
    # wide target from the same image: 60 wide x 30 tall crop of the (green) middle
    wide = center_crop_resize(Image.fromarray(arr), 40, 20, resample=Image.NEAREST)
    assert wide.size == (40, 20)
    assert (np.asarray(wide) == np.array(GREEN, np.uint8)).all()


def test_center_crop_resize_identity_when_same_size() -> None:
    arr = np.random.default_rng(0).integers(0, 256, (24, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(center_crop_resize(arr, 16, 24), arr)


def test_load_image_missing(tmp_path) -> None:
    p = tmp_path / "nope.png"
    with pytest.raises(InputError) as info:
        load_image(p)
    msg = str(info.value)
    assert str(p) in msg and "does not exist" in msg and "\n" not in msg


def test_load_image_corrupt(tmp_path) -> None:
    p = tmp_path / "bad.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with pytest.raises(InputError) as info:
        load_image(p)
    msg = str(info.value)
    assert str(p) in msg and "cannot read image" in msg and "re-export" in msg and "\n" not in msg
    assert isinstance(info.value, ValueError)


def test_load_image_truncated(tmp_path) -> None:
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(good)
    bad = tmp_path / "trunc.png"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(InputError, match="cannot read image"):
        load_image(bad)


def test_load_image_rgba_and_palette_to_rgb(tmp_path) -> None:
    rgba = np.zeros((8, 10, 4), np.uint8)
    rgba[..., 0] = 10
    rgba[..., 1] = 20
    rgba[..., 2] = 30
    rgba[..., 3] = 0  # fully transparent: colour must survive (alpha dropped, not composited)
    p = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(p)
    img = load_image(p)
    assert img.mode == "RGB" and img.size == (10, 8)
    assert (np.asarray(img) == np.array([10, 20, 30], np.uint8)).all()

    q = tmp_path / "p.png"
    pimg = Image.new("P", (4, 4), 1)
    pimg.putpalette([0, 0, 0, 77, 88, 99])
    pimg.save(q)
    pal = load_image(q)
    assert pal.mode == "RGB" and (np.asarray(pal) == np.array([77, 88, 99], np.uint8)).all()


def test_check_size_accepts_multiples_of_8() -> None:
    check_size(512, 384)
    check_size(8, 8)


def test_check_size_messages() -> None:
    with pytest.raises(InputError) as info:
        check_size(100, 512)
    assert str(info.value) == "height 100 is not a multiple of 8: use e.g. 96 or 104"
    with pytest.raises(InputError) as info:
        check_size(512, 5)
    assert str(info.value) == "width 5 is not a multiple of 8: use e.g. 8"
    with pytest.raises(InputError, match="height 0 is not positive"):
        check_size(0, 512)
    with pytest.raises(InputError, match="width -16 is not positive"):
        check_size(512, -16)


def test_to_uint8_rounds_and_clips() -> None:
    x = np.array([[-0.5, 0.0, 0.5, 1.0, 1.7, 0.002, 0.998]], np.float32)
    np.testing.assert_array_equal(to_uint8(x), np.array([[0, 0, 128, 255, 255, 1, 254]], np.uint8))
    frames = np.random.default_rng(2).random((2, 4, 5, 3))
    out = to_uint8(frames)
    assert out.dtype == np.uint8 and out.shape == (2, 4, 5, 3)
    assert np.abs(out.astype(np.float64) - frames * 255).max() <= 0.5
    u = np.arange(6, dtype=np.uint8)
    assert to_uint8(u) is u
