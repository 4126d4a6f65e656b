"""Inputs and runs of tiny pipelines that several test modules share: random pose maps, keypoints with only a nose,
networks with random trained-looking parameters, and a MagicPosePipeline's frames at 32x32."""

from __future__ import annotations

import numpy as np
import torch

from magicpose.models.face_enhancer import NOSE
from magicpose.pose.schema import FramePose, PersonPose


def random_pose_maps(n: int, size: int = 32, seed: int = 0) -> list[np.ndarray]:
    """``n`` random (size, size, 3) uint8 pose maps, the same for the same seed."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def nose_only(nose: tuple[float, float] | None, size: int = 32) -> FramePose:
    """One person whose only confident keypoint is the nose at (x, y); ``None``: a person without a head."""
    body = np.zeros((18, 3), np.float32)
    if nose is not None:
        body[NOSE] = (*nose, 1.0)
    return FramePose(width=size, height=size, people=[PersonPose(body=body)])


def randomise(
    model: torch.nn.Module, seed: int, scale: float = 0.1, weights: bool = False
) -> torch.nn.Module:
    """Random biases and BatchNorm running statistics (``scale`` the BatchNorm spread), as a trained model has them,
    so every tensor is tested; ``weights``: the BatchNorm scales and convolution weights too. Returns it in eval
    mode."""
    g = torch.Generator().manual_seed(seed)

    def rand(tensor: torch.Tensor, spread: float) -> torch.Tensor:
        return torch.randn(tensor.shape, generator=g) * spread

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(rand(module.running_mean, scale))
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=g) + 0.5)
                if weights:
                    module.weight.copy_(1 + rand(module.weight, scale))
                module.bias.copy_(rand(module.bias, scale))
            elif isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                if weights:
                    module.weight.copy_(rand(module.weight, 0.1))
                if module.bias is not None:
                    module.bias.copy_(rand(module.bias, 0.1))
    return model.eval()


def magicpose_frames(pipe, image, poses, steps: int = 2, seed: int = 0) -> np.ndarray:
    """The 32x32 frames (numpy, in [0, 1]) a MagicPosePipeline makes of ``image`` and ``poses`` in ``steps`` steps
    from a generator seeded ``seed``; no progress bar."""
    pipe.set_progress_bar_config(disable=True)
    return pipe(
        image=image,
        pose_images=poses,
        height=32,
        width=32,
        num_inference_steps=steps,
        generator=torch.Generator().manual_seed(seed),
        output_type="np",
    ).frames[0]
