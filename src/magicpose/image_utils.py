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
from .files import check_regular_file

__all__ = [
    "InputError",
    "decode_rgb",
    "load_image",
    "scale_16_to_8",
    "center_crop_resize",
    "check_size",
    "to_uint8",
]

ImageLike = TypeVar("ImageLike", Image.Image, np.ndarray)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
IMAGE_READ_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError)


def scale_16_to_8(values: np.ndarray) -> np.ndarray:
    """16-bit samples (0..65535; larger values are clipped) to 8 bit: ``round(v * 255 / 65535)``.

    ``v * 255 / 65535`` is ``v / 257``, never halfway between two integers, so the rounding has no ties."""
    wide = np.clip(np.asarray(values, dtype=np.int64), 0, 65535)
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)


def _is_16_bit_png(path: str) -> bool:
    """True for a PNG whose IHDR says 16 bits per sample (Pillow truncates colour ones to their high byte)."""
    with open(path, "rb") as f:
        head = f.read(26)
    return len(head) == 26 and head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR" and head[24] == 16


def _png_16_to_rgb8(path: str) -> np.ndarray:
    """Decode a 16-bit PNG at its real depth with OpenCV and scale it to 8-bit RGB (alpha dropped)."""
    import cv2

    data = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if data is None or data.dtype != np.uint16:
        raise OSError("OpenCV cannot decode this 16-bit PNG")
    if data.ndim == 2:
        data = np.repeat(data[:, :, None], 3, axis=2)
    else:
        data = data[:, :, 2::-1]  # BGR(A) -> RGB, alpha dropped
    return scale_16_to_8(data)


def decode_rgb(path: str | os.PathLike[str]) -> Image.Image:
    """Decode an image file to an 8-bit RGB PIL image at the file's real bit depth.

    16-bit images (greyscale, RGB, RGBA, grey+alpha PNGs; Pillow's ``I;16``/``I`` images of other formats)
    are scaled with :func:`scale_16_to_8` rather than saturated or truncated. Alpha is dropped (not
    composited), palette/greyscale images are expanded, and EXIF orientation is applied. The decoders'
    own exceptions (:data:`IMAGE_READ_ERRORS`) propagate; callers turn them into an :class:`InputError`
    naming the file. The one image reader behind ``infer``'s reference and pose-map images and
    ``evaluate``'s frames."""
    path = os.fspath(path)
    with Image.open(path) as img:
        img.load()  # decode now so truncated/corrupt data fails here, not later
        if _is_16_bit_png(path):
            rgb = Image.fromarray(_png_16_to_rgb8(path))
            rgb.info = dict(img.info)  # keeps the EXIF/XMP orientation for exif_transpose
        elif img.mode in _SIXTEEN_BIT_MODES:
            rgb = Image.fromarray(scale_16_to_8(np.asarray(img))).convert("RGB")
            rgb.info = dict(img.info)
        else:
            rgb = img
        return ImageOps.exif_transpose(rgb).convert("RGB")


def load_image(path: str | os.PathLike[str], what: str = "image") -> Image.Image:
    """Load an image file as an RGB PIL image (:func:`decode_rgb`); ``what`` names it in errors
    ("reference image", ...).

    Raises:
        InputError: the file is missing, not a regular file (a named pipe would block), or cannot be decoded.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{what} '{path}' does not exist: pass the path of a .png/.jpg image")
    if os.path.isdir(path):
        raise InputError(f"{what} '{path}' is a folder: pass the path of one .png/.jpg image in it")
    check_regular_file(path, what, "pass the path of a .png/.jpg image file")
    try:
        return decode_rgb(path)
    except IMAGE_READ_ERRORS as exc:
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
