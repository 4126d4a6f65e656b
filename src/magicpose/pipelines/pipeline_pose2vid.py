"""Everybody Dance Now inference: a pose sequence in, the trained subject dancing it out.

The pose2vid generator is person-specific: it renders the subject it was trained on, so there is no
reference image (``image`` is accepted and ignored, so every generator of the package takes the same
call). Frames are generated autoregressively: frame ``t`` is ``G(cat(pose_t, frame_{t-1}))``, the first
one from a zero frame, as in EDN's test scripts. With a face enhancer and the poses' keypoints, each frame's
head crop is replaced by the enhanced crop (pasted hard as the originals, or feathered); frames without a
visible head pass through unchanged. :meth:`Pose2VidPipeline.iter_frames` follows each release's test loop.
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
from magicpose.models.face_enhancer import body_in_output, crop, face_box, paste_back
from magicpose.models.pose2vid import FaceEnhancer, Pose2VidGenerator
from magicpose.pipelines.frame_output import PersonSpecificPipelineMixin, to_uint8
from magicpose.pipelines.generic_loading import GenericLoadingMixin
from magicpose.pose.schema import FramePose

PoseImage = PIL.Image.Image | np.ndarray


@dataclass
class Pose2VidPipelineOutput(BaseOutput):
    """``frames``: a list of PIL images, a float array (F, H, W, 3) in [0, 1], or a tensor (F, 3, H, W)."""

    frames: list[PIL.Image.Image] | np.ndarray | torch.Tensor


class Pose2VidPipeline(PersonSpecificPipelineMixin, GenericLoadingMixin, DiffusionPipeline):
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
        face_blend: str | None = None,
        face_norm_statistics: str | None = None,
    ) -> Iterator[np.ndarray]:
        """Generate frame by frame, yielding uint8 (H, W, 3) arrays: memory does not grow with the video.

        ``pose_keypoints`` (one :class:`FramePose` per pose map) locate the head for the face enhancer;
        without them the face enhancer is not used. ``face_size_fraction`` (the head crop's side over the
        frame height), ``face_blend`` ("hard" or "feather") and ``face_norm_statistics`` ("crop" or
        "running") default to the face enhancer's config (see :class:`FaceEnhancer`). ``first_frame``
        (3, H, W) in [-1, 1] replaces the zero frame fed with the first pose (Lotayou's ``--use_first_frame``).

        The loop is each release's own test loop: for the official face models the face residual is added
        to the generated frame and that enhanced frame is fed back (``test_fullts.py``); Lotayou's face model
        enhances the saved 8-bit frame (``enhance.py``: crop, residual, clamp, truncate, paste) and the body
        generator's own frame is fed back. Frames become 8-bit as both originals do (``tensor2im``: scale,
        clip, truncate).
        """
        self.check_inputs(pose_images, height, width)
        device, dtype = self._execution_device, self.generator.dtype
        face = self.face_enhancer if pose_keypoints is not None else None
        if face is not None:
            fraction = face_size_fraction or face.config.size_fraction
            blend = face_blend or face.config.paste
            rule = "lotayou" if face.config.variant == "lotayou" else "official"
        previous = None if first_frame is None else first_frame[None].to(device, dtype)
        for i in range(len(pose_images)):
            pose_map = center_crop_resize(np.asarray(pose_images[i], dtype=np.uint8), width, height)
            pose = torch.from_numpy(np.ascontiguousarray(pose_map)).permute(2, 0, 1)[None].to(device)
            pose = self.generator.pose_input(pose).to(dtype)
            frame = self.generator(pose, previous)
            box = None
            if face is not None:
                box = face_box(
                    body_in_output(pose_keypoints[i], width, height),
                    width,
                    height,
                    fraction,
                    face.size_multiple,
                    rule,
                )
            previous = frame
            if box is None:
                image = to_uint8(frame[0])
            elif face.uses_pose:  # official: the residual on the float frame, in place
                enhanced = face(crop(frame, box), crop(pose, box), norm_statistics=face_norm_statistics)
                enhanced_frame = paste_back(frame, enhanced, box, blend)
                previous = enhanced_frame if face.feeds_back_enhanced else frame
                image = to_uint8(enhanced_frame[0])
            else:  # Lotayou: the saved 8-bit frame's crop, normalised to [-1, 1], enhanced, pasted as 8 bit
                image = to_uint8(frame[0])
                head = crop(image.permute(2, 0, 1), box)[None].to(dtype) / 255.0 * 2 - 1
                enhanced = to_uint8(face(head, norm_statistics=face_norm_statistics)[0])
                image = (
                    paste_back(image.permute(2, 0, 1).float(), enhanced.permute(2, 0, 1).float(), box, blend)
                    .round()
                    .to(torch.uint8)
                    .permute(1, 2, 0)
                )
                if face.feeds_back_enhanced:
                    previous = image.permute(2, 0, 1)[None].to(dtype) / 255.0 * 2 - 1
            if callback is not None:
                callback(i)
            yield image.cpu().numpy()

    def __call__(
        self,
        pose_images: Sequence[PoseImage] = None,
        image: PIL.Image.Image | None = None,
        height: int | None = None,
        width: int | None = None,
        pose_keypoints: Sequence[FramePose] | None = None,
        first_frame: torch.Tensor | None = None,
        face_blend: str | None = None,
        face_norm_statistics: str | None = None,
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
            face_blend: "hard" (the originals) or "feather"; default the face enhancer's ``paste``.
            face_norm_statistics: "crop" (the originals) or "running", for BatchNorm face enhancers; default
                the face enhancer's ``norm_statistics``.
            output_type: "pil", "np" ((F, H, W, 3) float in [0, 1]) or "pt" ((F, 3, H, W) float in [0, 1]).
        """
        del image  # accepted for a uniform call across generators
        out = self.render_video(
            pose_images,
            height,
            width,
            output_type,
            pose_keypoints=pose_keypoints,
            first_frame=first_frame,
            face_blend=face_blend,
            face_norm_statistics=face_norm_statistics,
        )
        return Pose2VidPipelineOutput(frames=out) if return_dict else (out,)
