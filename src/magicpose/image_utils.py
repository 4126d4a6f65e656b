"""Image loading, resizing and size checks shared by the CLI and the pipelines.

The resize policy generalises the original MagicPose, which centre-cropped a square and resized it to
512x512: `center_crop_resize` centre-crops the largest region with the target aspect ratio and resizes
that to the exact target size, so nothing is ever stretched.
"""

from __future__ import annotations

import os
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError

__all__ = ["InputError", "load_image", "center_crop_resize", "check_size", "to_uint8"]

ImageLike = TypeVar("ImageLike", Image.Image, np.ndarray)


def load_image(path: str | os.PathLike[str], what: str = "image") -> Image.Image:
    """Load an image file as an RGB PIL image; ``what`` names it in errors ("reference image", ...).

    Alpha is dropped (not composited) and palette/greyscale images are expanded to RGB. EXIF
    orientation is applied so phone photos come out upright.

    Raises:
        InputError: the file is missing or cannot be decoded.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{what} '{path}' does not exist: pass the path of a .png/.jpg image")
    if os.path.isdir(path):
        raise InputError(f"{what} '{path}' is a folder: pass the path of one .png/.jpg image in it")
    try:
        with Image.open(path) as img:
            img.load()  # decode now so truncated/corrupt data fails here, not later
            img = ImageOps.exif_transpose(img)
            return img.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        reason = str(exc) or type(exc).__name__
        raise InputError(f"cannot read image '{path}' ({reason}): re-export it as PNG or JPEG") from exc


def center_crop_box(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Largest centred (left, top, right, bottom) box of `src` with aspect ratio width/height."""
    if src_w * height > src_h * width:  # source is wider than the target: trim left and right
        crop_w, crop_h = max(1, round(src_h * width / height)), src_h
    else:  # source is taller (or equal): trim top and bottom
        crop_w, crop_h = src_w, max(1, round(src_w * height / width))
    left = (src_w - crop_w) // 2
    top = (src_h - crop_h) // 2
    return left, top, left + crop_w, top + crop_h


def center_crop_resize(
    image: ImageLike, width: int, height: int, resample: int = Image.BILINEAR
) -> ImageLike:
    """Centre-crop `image` to the aspect ratio width/height, then resize to exactly (width, height).

    Accepts a PIL image or a uint8 (H, W, 3) numpy array and returns the same kind.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"target size must be positive, got {width}x{height}")
    as_array = isinstance(image, np.ndarray)
    pil = Image.fromarray(image) if as_array else image
    box = center_crop_box(pil.width, pil.height, width, height)
    # crop() first (rather than resize(box=...)) so the filter never samples pixels outside the crop
    if box != (0, 0, pil.width, pil.height):
        pil = pil.crop(box)
    if pil.size != (width, height):
        pil = pil.resize((width, height), resample=resample)
    return np.asarray(pil).copy() if as_array else pil


def _size_hint(value: int) -> str:
    lower = (value // 8) * 8
    upper = lower + 8
    return f"{lower} or {upper}" if lower > 0 else f"{upper}"


def check_size(height: int, width: int) -> None:
    """Raise InputError unless height and width are both positive multiples of 8.

    The VAE downsamples by 8, so other sizes cannot round-trip through the latent space.
    """
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise InputError(f"{name} {value!r} is not an integer: use a multiple of 8 such as 512")
        if value <= 0:
            raise InputError(f"{name} {value} is not positive: use a multiple of 8 such as 512")
        if value % 8:
            raise InputError(f"{name} {value} is not a multiple of 8: use e.g. {_size_hint(value)}")


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Convert float values in [0, 1] (any shape, e.g. (N, H, W, 3)) to uint8, rounding and clipping.

    uint8 input is returned unchanged.
    """
    arr = np.asarray(frames)
    if arr.dtype == np.uint8:
        return arr
    arr = arr.astype(np.float32, copy=False)
    # NaNs become 0 rather than an undefined cast
    return np.clip(np.rint(np.nan_to_num(arr, nan=0.0) * 255.0), 0, 255).astype(np.uint8)
