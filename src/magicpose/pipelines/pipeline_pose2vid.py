"""Everybody Dance Now inference: a pose sequence in, the trained subject dancing it out.

The pose2vid generator is person-specific: it renders the subject it was trained on, so there is no
reference image (``image`` is accepted and ignored, so every generator of the package takes the same
call). Frames are generated autoregressively: frame ``t`` is ``G(cat(pose_t, frame_{t-1}))``, the first
one from a zero frame, as in EDN's test script. With a face enhancer and the poses' keypoints, each frame's
head crop is replaced by the enhanced crop, blended in with a feathered mask; frames without a visible head
pass through unchanged.
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
from magicpose.models.face_enhancer import (
    FaceBox,
    body_in_output,
    crop,
    face_box,
    paste_back,
)
from magicpose.models.pose2vid import FaceEnhancer, Pose2VidGenerator
from magicpose.pose.schema import FramePose

PoseImage = PIL.Image.Image | np.ndarray


@dataclass
class Pose2VidPipelineOutput(BaseOutput):
    """``frames``: a list of PIL images, a float array (F, H, W, 3) in [0, 1], or a tensor (F, 3, H, W)."""

    frames: list[PIL.Image.Image] | np.ndarray | torch.Tensor


def _box_in_output(pose: FramePose, width: int, height: int, size_fraction: float,
                   multiple: int) -> FaceBox | None:
    """The head box of ``pose``'s first person, in the output frame (after the centre crop and resize)."""
    return face_box(body_in_output(pose, width, height), width, height, size_fraction, multiple)


class Pose2VidPipeline(DiffusionPipeline):
    r"""Everybody Dance Now: a person-specific pose2vid generator with temporal smoothing, and an optional
    face enhancer.

    Args:
        generator: the trained :class:`~magicpose.models.pose2vid.Pose2VidGenerator`.
        face_enhancer: optional :class:`~magicpose.models.pose2vid.FaceEnhancer` applied on the head crop.
    """

    _optional_components = ["face_enhancer"]
    model_cpu_offload_seq = "generator->face_enhancer"

    def __init__(self, generator: Pose2VidGenerator, face_enhancer: FaceEnhancer | None = None) -> None:
        super().__init__()
        self.register_modules(generator=generator, face_enhancer=face_enhancer)

    def check_inputs(self, pose_images, height: int, width: int) -> None:
        multiple = self.generator.size_multiple
        if height <= 0 or width <= 0 or height % multiple or width % multiple:
            raise ValueError(f"height and width must be positive multiples of {multiple} for this generator, "
                             f"got {height}x{width}")
        if pose_images is None or len(pose_images) == 0:
            raise ValueError("`pose_images` is empty: pass one pose map per output frame")

    @torch.no_grad()
    def iter_frames(
        self,
        pose_images: Sequence[PoseImage],
        height: int,
        width: int,
        pose_keypoints: Sequence[FramePose] | None = None,
        face_size_fraction: float | None = None,
        first_frame: torch.Tensor | None = None,
        callback: Callable[[int], None] | None = None,
    ) -> Iterator[np.ndarray]:
        """Generate frame by frame, yielding uint8 (H, W, 3) arrays: memory does not grow with the video.

        ``pose_keypoints`` (one :class:`FramePose` per pose map) locate the head for the face enhancer;
        without them the face enhancer is not used. ``face_size_fraction`` (the head crop's side over the
        frame height) defaults to the one the face enhancer was trained on. ``first_frame`` (3, H, W) in
        [-1, 1] replaces the zero frame fed with the first pose (Lotayou's ``--use_first_frame``).
        """
        self.check_inputs(pose_images, height, width)
        device, dtype = self._execution_device, self.generator.dtype
        enhance = self.face_enhancer is not None and pose_keypoints is not None
        fraction = face_size_fraction or (self.face_enhancer.config.size_fraction if enhance else None)
        previous = None if first_frame is None else first_frame[None].to(device, dtype)
        for i in range(len(pose_images)):
            pose_map = center_crop_resize(np.asarray(pose_images[i], dtype=np.uint8), width, height)
            pose = torch.from_numpy(np.ascontiguousarray(pose_map)).permute(2, 0, 1)[None].to(device)
            pose = self.generator.pose_input(pose).to(dtype)
            frame = self.generator(pose, previous)
            previous = frame  # the generator's own output feeds the next step, before any face enhancement
            if enhance:
                box = _box_in_output(pose_keypoints[i], width, height, fraction,
                                     self.face_enhancer.size_multiple)
                if box is not None:
                    enhanced = self.face_enhancer(crop(frame, box), crop(pose, box))
                    frame = paste_back(frame, enhanced, box)
            image = ((frame[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            if callback is not None:
                callback(i)
            yield image.permute(1, 2, 0).cpu().numpy()

    def __call__(
        self,
        pose_images: Sequence[PoseImage] = None,
        image: PIL.Image.Image | None = None,
        height: int | None = None,
        width: int | None = None,
        pose_keypoints: Sequence[FramePose] | None = None,
        first_frame: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> Pose2VidPipelineOutput | tuple:
        r"""Render the trained subject in each pose.

        Args:
            pose_images: one OpenPose map per frame (PIL or uint8 arrays), centre-cropped and resized.
            image: ignored (the subject is the one the generator was trained on).
            height, width: output size, multiples of ``generator.size_multiple``; default
                ``generator.default_size`` (the training size, when the weights record it).
            pose_keypoints: the poses' keypoints, for the face enhancer's head box.
            first_frame: (3, H, W) in [-1, 1] replacing the first step's zero frame.
            output_type: "pil", "np" ((F, H, W, 3) float in [0, 1]) or "pt" ((F, 3, H, W) float in [0, 1]).
        """
        del image  # accepted for a uniform call across generators
        default_height, default_width = self.generator.default_size
        height, width = height or default_height, width or default_width
        frames = np.stack(list(self.iter_frames(pose_images, height, width, pose_keypoints=pose_keypoints,
                                                first_frame=first_frame)))
        if output_type == "pil":
            out = [PIL.Image.fromarray(f) for f in frames]
        elif output_type == "np":
            out = frames.astype(np.float32) / 255.0
        elif output_type == "pt":
            out = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
        else:
            raise ValueError(f"output_type must be 'pil', 'np' or 'pt', got {output_type!r}")
        return Pose2VidPipelineOutput(frames=out) if return_dict else (out,)
