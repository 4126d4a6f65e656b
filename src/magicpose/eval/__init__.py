"""Evaluation: the papers' metrics (magicpose.eval.metrics, .frechet, .lpips, .resnet3d) and
``magicpose evaluate`` (magicpose.eval.evaluate streams paired folders through them)."""

from magicpose.eval.metrics import (
    foreground_iou,
    foreground_mask,
    l1,
    l1_disco,
    psnr,
    psnr_disco,
    ssim,
    ssim_gaussian,
)

__all__ = [
    "foreground_iou",
    "foreground_mask",
    "l1",
    "l1_disco",
    "psnr",
    "psnr_disco",
    "ssim",
    "ssim_gaussian",
]
