"""vid2vid pose2body inference: a pose sequence in, the trained subject dancing it out, each frame warped from
the ones before it (:mod:`magicpose.models.vid2vid`).

Like pose2vid, the generator is person-specific: ``image`` is accepted and ignored. Frames are generated one
after another and yielded as they come (:meth:`Vid2VidPipeline.iter_frames`), so memory does not grow with
the video. Frame t sees the pose maps ``t - n_frames_G + 1 .. t`` and the ``n_frames_G - 1`` frames generated
before it; the first frame is hallucinated from poses alone, zeros standing in for the frames before it
(the original's ``--no_first_img``).

Where the original's test loop differs: it starts generating at pose ``n_frames_G - 1`` (the first poses only
fill its window, so its video is ``n_frames_G - 1`` frames shorter). Here the window starts filled with copies
of the first pose, so every pose gets a frame; ``original_start=True`` reproduces the original's start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput

from magicpose.image_utils import center_crop_resize
from magicpose.models.vid2vid import Vid2VidGenerator
from magicpose.pipelines.frame_output import PersonSpecificPipelineMixin, to_uint8
from magicpose.pipelines.generic_loading import GenericLoadingMixin

PoseImage = PIL.Image.Image | np.ndarray


@dataclass
class Vid2VidPipelineOutput(BaseOutput):
    """``frames``: a list of PIL images, a float array (F, H, W, 3) in [0, 1], or a tensor (F, 3, H, W)."""

    frames: list[PIL.Image.Image] | np.ndarray | torch.Tensor


class Vid2VidPipeline(PersonSpecificPipelineMixin, GenericLoadingMixin, DiffusionPipeline):
    r"""vid2vid pose2body: a person-specific, flow-warped sequential generator.

    Args:
        generator: the trained :class:`~magicpose.models.vid2vid.Vid2VidGenerator`.
    """

    model_cpu_offload_seq = "generator"

    def __init__(self, generator: Vid2VidGenerator) -> None:
        super().__init__()
        self.register_modules(generator=generator)

    def pose_input(self, pose_map: PoseImage, height: int, width: int) -> torch.Tensor:
        """A pose map as the generator reads it: centre-cropped and resized, (1, C, H, W) in [-1, 1]."""
        array = center_crop_resize(np.asarray(pose_map, dtype=np.uint8), width, height)
        pose = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None]
        return (pose.to(self._execution_device, self.generator.dtype) / 255.0) * 2 - 1

    @torch.no_grad()
    def iter_frames(
        self,
        pose_images: Sequence[PoseImage],
        height: int,
        width: int,
        original_start: bool = False,
        callback: Callable[[int], None] | None = None,
    ) -> Iterator[np.ndarray]:
        """Generate frame by frame, yielding uint8 (H, W, 3) arrays (``(x + 1) / 2 * 255``, clipped, truncated,
        as the original's ``tensor2im``); ``callback(i)`` after frame i."""
        self.check_inputs(pose_images, height, width)
        generator = self.generator
        window = generator.config.n_frames_G
        first = 0
        poses = [self.pose_input(pose_images[0], height, width)] * window  # the window, oldest first
        if original_start:  # the original fills its window with the first poses and starts after them
            if len(pose_images) < window:
                raise ValueError(
                    f"original_start needs at least n_frames_G = {window} pose maps, got {len(pose_images)}"
                )
            poses = [self.pose_input(pose_images[i], height, width) for i in range(window)]
            first = window - 1
        previous = generator.initial_previous(1, height, width)
        for i in range(first, len(pose_images)):
            if i > first or not original_start:
                poses = [*poses[1:], self.pose_input(pose_images[i], height, width)]
            step = generator(torch.cat(poses, dim=1), previous, use_raw_only=i == first)
            previous = generator.next_previous(previous, step)
            if callback is not None:
                callback(i)
            yield to_uint8(step.frame[0]).cpu().numpy()

    def __call__(
        self,
        pose_images: Sequence[PoseImage] = None,
        image: PIL.Image.Image | None = None,
        height: int | None = None,
        width: int | None = None,
        original_start: bool = False,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> Vid2VidPipelineOutput | tuple:
        r"""Render the trained subject in each pose; the arguments are :meth:`Pose2VidPipeline.__call__`'s, and
        ``original_start`` starts as the original's test loop, at pose ``n_frames_G - 1`` (fewer frames out)."""
        del image  # accepted for a uniform call across generators
        out = self.render_video(pose_images, height, width, output_type, original_start=original_start)
        return Vid2VidPipelineOutput(frames=out) if return_dict else (out,)
