"""What the person-specific GAN pipelines (pose2vid, vid2vid) share: the checks of a request, and their frames as
they return them: 8-bit as the originals save them, then in the ``output_type`` asked for."""

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


def check_pose_request(pose_images, height: int, width: int, multiple: int) -> None:
    """A pose sequence and an output size a generator whose sides must be multiples of ``multiple`` can take."""
    if height <= 0 or width <= 0 or height % multiple or width % multiple:
        raise ValueError(
            f"height and width must be positive multiples of {multiple} for this generator, got {height}x{width}"
        )
    if pose_images is None or len(pose_images) == 0:
        raise ValueError("`pose_images` is empty: pass one pose map per output frame")


class PersonSpecificPipelineMixin:
    """The request checks and the whole-video call of a pipeline whose ``generator`` renders one trained person
    frame by frame through ``iter_frames``."""

    def check_inputs(self, pose_images, height: int, width: int) -> None:
        check_pose_request(pose_images, height, width, self.generator.size_multiple)

    def render_video(self, pose_images, height: int | None, width: int | None, output_type: str, **options):
        """Every frame of ``iter_frames`` at ``height`` x ``width`` (default: the generator's training size), in
        ``output_type``."""
        default_height, default_width = self.generator.default_size
        height, width = height or default_height, width or default_width
        return format_frames(
            np.stack(list(self.iter_frames(pose_images, height, width, **options))), output_type
        )
