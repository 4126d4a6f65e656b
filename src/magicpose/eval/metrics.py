"""Image metrics that need no downloaded weights: PSNR, SSIM and foreground IoU.

PSNR is on 8-bit values; SSIM is computed on the grayscale image with an 11x11 Gaussian window
(sigma 1.5, K1 0.01, K2 0.03), the usual setting and the one DisCo/MagicPose report with.
"""

from __future__ import annotations

import cv2
import numpy as np


def _as_float(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {image.dtype}")
    return image.astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images of the same shape (inf if equal)."""
    mse = np.mean((_as_float(a) - _as_float(b)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _gray(image: np.ndarray) -> np.ndarray:
    image = _as_float(image)
    if image.ndim == 3:  # ITU-R BT.601 luma, as skimage's rgb2gray
        image = image @ np.array([0.299, 0.587, 0.114])
    return image


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of the grayscale images (1 if equal)."""
    x, y = _gray(a), _gray(b)
    blur = lambda img: cv2.GaussianBlur(img, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    ssim_map = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(ssim_map.mean())


def foreground_mask(image: np.ndarray, background: np.ndarray, threshold: float = 40.0) -> np.ndarray:
    """Pixels that differ from the known background by more than ``threshold`` (L2 over RGB)."""
    diff = _as_float(image) - _as_float(background)
    return np.sqrt((diff**2).sum(axis=-1)) > threshold


def foreground_iou(predicted: np.ndarray, target: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1 when both are empty)."""
    predicted, target = np.asarray(predicted, bool), np.asarray(target, bool)
    union = np.logical_or(predicted, target).sum()
    return 1.0 if union == 0 else float(np.logical_and(predicted, target).sum() / union)
