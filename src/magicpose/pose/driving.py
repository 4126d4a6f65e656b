"""From a driving video to the poses a generator follows: extract -> smooth -> align to the reference body.

Smoothing runs on the driving dancer's own pixels (before alignment rescales them), at the kept frames'
rate; alignment maps them onto the reference image's canvas, fitted on the first frame that shows the
dancer (see :mod:`magicpose.pose.align`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from magicpose.errors import InputError
from magicpose.pose.align import align_poses, alignment_preview
from magicpose.pose.extract.base import PoseExtractor
from magicpose.pose.extract.frames import extract_poses
from magicpose.pose.extract.people import track_main_person
from magicpose.pose.schema import FramePose
from magicpose.pose.smooth import smooth_keypoints

DEFAULT_ALIGN = "bones"
DEFAULT_FPS = 8.0  # a folder of frames has no rate of its own


@dataclass
class DrivingPoses:
    raw: list[FramePose]  # as extracted (the tracked dancer), in the driving frames' pixels
    final: list[FramePose]  # smoothed and aligned: what the generator follows, on the reference's canvas
    names: list[str]
    fps: float | None  # the driving video's rate after the stride; None for a folder of frames
    reference_pose: FramePose
    preview: np.ndarray  # reference with its skeleton | first driving pose before | after alignment


def reference_pose_of(image: np.ndarray, extractor: PoseExtractor, what: str) -> FramePose:
    """The reference person's keypoints, extracted from the reference image itself."""
    chosen = next(track_main_person([list(extractor(image))]))
    if chosen is None:
        raise InputError(
            f"no person was found in {what}: pass its keypoints with --reference-pose "
            "(OpenPose JSON), or --align none"
        )
    return FramePose(image.shape[1], image.shape[0], [chosen])


def prepare_driving_poses(
    source: str | os.PathLike,
    reference_image: np.ndarray,
    extractor: PoseExtractor,
    *,
    reference_pose: FramePose | None = None,
    align: str = DEFAULT_ALIGN,
    smooth: bool = True,
    stride: int = 1,
    max_frames: int | None = None,
    person: str = "one",
    smooth_options: dict | None = None,
    normalize_to: list[FramePose] | None = None,
    progress: bool = True,
) -> DrivingPoses:
    """``normalize_to``: keypoints of the person to animate (e.g. from their own video): Everybody Dance Now's
    normalisation (:func:`~magicpose.pose.normalize.normalize_poses`) instead of ``align`` (which must then
    be "none")."""
    if normalize_to is not None and align != "none":
        raise InputError("--normalize-to replaces the alignment: pass --align none with it")
    extracted = extract_poses(
        source, extractor, person=person, stride=stride, max_frames=max_frames, progress=progress
    )
    if reference_pose is None and align != "none":
        reference_pose = reference_pose_of(reference_image, extractor, "the reference image")
    if reference_pose is not None and not reference_pose.people:
        raise InputError("the reference pose has no person: pass another --reference-pose, or --align none")
    poses = extracted.frames
    if smooth:
        poses = smooth_keypoints(poses, extracted.fps or DEFAULT_FPS, **(smooth_options or {}))
    height, width = reference_image.shape[:2]
    if normalize_to is not None:
        from magicpose.pose.normalize import normalize_poses

        final = normalize_poses(poses, normalize_to)
    elif align == "none" or reference_pose is None:
        final = poses
    else:
        final = align_poses(reference_pose, poses, align, canvas=(width, height))
    first = next((i for i, f in enumerate(poses) if f.people), 0)
    shown_reference = reference_pose if reference_pose is not None else FramePose(width, height, [])
    preview = alignment_preview(reference_image, shown_reference, poses[first], final[first])
    return DrivingPoses(extracted.frames, final, extracted.names, extracted.fps, shown_reference, preview)
