"""The GAN generators' frames as the pipelines return them: 8-bit as the originals save them, then in the
``output_type`` asked for."""

from __future__ import annotations

import numpy as np
import PIL.Image
import torch


def to_uint8(frame: torch.Tensor) -> torch.Tensor:
    """(3, H, W) in [-1, 1] -> (H, W, 3) uint8 as the originals' ``tensor2im``: ``(x + 1) / 2 * 255``,
    clipped to [0, 255], truncated (not rounded: up to one level below rounding)."""
    return ((frame.float() + 1) / 2 * 255).clamp(0, 255).to(torch.uint8).permute(1, 2, 0)


def format_frames(frames: np.ndarray, output_type: str) -> list[PIL.Image.Image] | np.ndarray | torch.Tensor:
    """(F, H, W, 3) uint8 -> "pil" (a list of images), "np" ((F, H, W, 3) float in [0, 1]) or "pt"
    ((F, 3, H, W) float in [0, 1])."""
    if output_type == "pil":
        return [PIL.Image.fromarray(f) for f in frames]
    if output_type == "np":
        return frames.astype(np.float32) / 255.0
    if output_type == "pt":
        return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    raise ValueError(f"output_type must be 'pil', 'np' or 'pt', got {output_type!r}")
