"""The MagicPosePipeline call the benchmarks time and score: one seeded run at a square size."""

from __future__ import annotations

import numpy as np
import torch


def sample(pipe, reference, poses, size: int, steps: int, seed: int, **options):
    """The first video's frames of a ``size`` x ``size`` run seeded with ``seed``; ``options`` go to the
    pipeline as they are (``output_type``, ``guidance_scale``, ``frames_per_batch``, ...)."""
    return pipe(
        image=reference,
        pose_images=poses,
        height=size,
        width=size,
        num_inference_steps=steps,
        generator=torch.Generator().manual_seed(seed),
        **options,
    ).frames[0]


def sample_uint8(pipe, reference, poses, size: int, steps: int, seed: int, **options) -> list[np.ndarray]:
    """:func:`sample` with ``output_type="np"``, each frame as uint8 RGB."""
    return to_uint8(sample(pipe, reference, poses, size, steps, seed, output_type="np", **options))


def to_uint8(frames) -> list[np.ndarray]:
    """The pipeline's float frames in [0, 1] -> uint8."""
    return [(f * 255).round().astype(np.uint8) for f in frames]
