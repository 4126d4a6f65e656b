"""Per-frame image metrics that need no downloaded weights, each under the name of what it computes.

The TikTok-benchmark papers (DisCo, MagicPose and the papers that copy their tables) score frames with
DisCo's ``tool/metrics/ssim_l1_lpips_psnr.py``. Its conventions are kept here under ``*_disco`` names so
a user can compare against published tables, beside the correct definitions:

- ``ssim``: scikit-image's ``structural_similarity`` defaults on the 8-bit grey image (7x7 uniform window,
  sample covariance, K1 0.01, K2 0.03, data range 255, mean over the window-complete interior). This *is*
  the papers' SSIM. ``ssim_gaussian`` is the 11x11 Gaussian (sigma 1.5) SSIM of Wang et al., kept for the
  figures the package's demo tables were measured with.
- ``psnr``: float PSNR of the 8-bit images. ``psnr_disco``: DisCo's routine, whose uint8 subtraction and
  squaring wrap around modulo 256 (kept there on purpose "for a fair comparison"); 100 for equal images.
- ``l1``: mean absolute difference with pixels in [0, 1]. ``l1_disco``: mean absolute difference of the
  0-255 values divided by H*W (DisCo's, hence values around 1e-4).

All take uint8 RGB arrays (H, W, 3) of the same shape.
"""

from __future__ import annotations

import cv2
import numpy as np

PSNR_IDENTICAL = (
    100.0  # what DisCo's routine returns for equal images, so one perfect frame keeps means finite
)


def _as_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {image.dtype}")
    return image


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_uint8(a), _as_uint8(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    return a, b


def _float(image: np.ndarray) -> np.ndarray:
    return _as_uint8(image).astype(np.float64)


def l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference with pixels in [0, 1]."""
    a, b = _pair(a, b)
    return float(np.mean(np.abs(_float(a) - _float(b))) / 255.0)


def l1_disco(a: np.ndarray, b: np.ndarray) -> float:
    """DisCo's L1: mean absolute difference of the 0-255 values divided by H*W."""
    a, b = _pair(a, b)
    return float(np.mean(np.abs(_float(a) - _float(b))) / (a.shape[0] * a.shape[1]))


def psnr(a: np.ndarray, b: np.ndarray, identical: float = float("inf")) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images (``identical`` when they are equal)."""
    a, b = _pair(a, b)
    mse = np.mean((_float(a) - _float(b)) ** 2)
    return identical if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def psnr_disco(a: np.ndarray, b: np.ndarray) -> float:
    """DisCo's PSNR: ``mean((a - b) ** 2)`` computed in uint8, so both the difference and its square wrap
    around modulo 256 (a difference of -1 counts as 255, and 255 squared as 1)."""
    a, b = _pair(a, b)
    diff = a - b  # uint8: wraps
    mse = float(np.mean(diff * diff))  # uint8 again: wraps
    return PSNR_IDENTICAL if mse == 0 else float(20 * np.log10(255.0 / np.sqrt(mse)))


def grey(image: np.ndarray) -> np.ndarray:
    """8-bit luma as OpenCV computes it (0.299 R + 0.587 G + 0.114 B, rounded), as DisCo does before SSIM."""
    image = _as_uint8(image)
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """The papers' SSIM: scikit-image's ``structural_similarity`` defaults on the 8-bit grey images."""
    a, b = _pair(a, b)
    x, y = grey(a).astype(np.float64), grey(b).astype(np.float64)
    win = 7
    if min(x.shape) < win:
        raise ValueError(f"SSIM needs images of at least {win}x{win} pixels, got {x.shape[1]}x{x.shape[0]}")
    # The border (where the window is incomplete) is cropped before the mean, so the padding mode is moot.
    mean = lambda img: cv2.blur(img, (win, win), borderType=cv2.BORDER_REFLECT)  # noqa: E731
    cov_norm = win * win / (win * win - 1.0)  # sample covariance, as scikit-image's default
    mx, my = mean(x), mean(y)
    vx = cov_norm * (mean(x * x) - mx * mx)
    vy = cov_norm * (mean(y * y) - my * my)
    vxy = cov_norm * (mean(x * y) - mx * my)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ssim_map = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    pad = (win - 1) // 2
    return float(ssim_map[pad:-pad, pad:-pad].mean())


def ssim_gaussian(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of Wang et al. with an 11x11 Gaussian window (sigma 1.5) on the grey images, mean over all pixels.

    Not the papers' SSIM (that is :func:`ssim`); the demo tables in the README were measured with this one.
    """
    a, b = _pair(a, b)
    x, y = _float(a), _float(b)
    if x.ndim == 3:  # ITU-R BT.601 luma in float, as skimage's rgb2gray
        x, y = x @ np.array([0.299, 0.587, 0.114]), y @ np.array([0.299, 0.587, 0.114])
    blur = lambda img: cv2.GaussianBlur(img, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    ssim_map = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(ssim_map.mean())


def foreground_mask(image: np.ndarray, background: np.ndarray, threshold: float = 40.0) -> np.ndarray:
    """Pixels that differ from the known background by more than ``threshold`` (L2 over RGB)."""
    diff = _float(image) - _float(background)
    return np.sqrt((diff**2).sum(axis=-1)) > threshold


def foreground_iou(predicted: np.ndarray, target: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1 when both are empty)."""
    predicted, target = np.asarray(predicted, bool), np.asarray(target, bool)
    union = np.logical_or(predicted, target).sum()
    return 1.0 if union == 0 else float(np.logical_and(predicted, target).sum() / union)
