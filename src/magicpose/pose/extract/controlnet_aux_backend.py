"""Optional backend "controlnet-aux": ``controlnet_aux.OpenposeDetector`` from the local weights folder.

It runs the same annotator code as the built-in "openpose" backend (which it exists to cross-check) and
needs ``controlnet-aux`` with a torchvision that imports beside the installed torch. Its structured results
(``detect_poses`` -> ``PoseResult``, coordinates normalised by the frame size) are turned into
:class:`PersonPose` by :func:`pose_results_to_people`, a pure function.

What the annotator's results lose: body scores (``detect_poses`` rebuilds body keypoints with the default
score 1.0) and hand/face scores (always 1.0). Missing hand/face points come back with negative coordinates
(and a hand point at crop column or row 0 is reported missing too). The face list holds one entry per
heat-map that has a value over 0.05, in map order, skipping the others, with the background map last: only
a full list (71 entries) can be mapped to the 70 face points by index, so a shorter one is dropped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from magicpose.errors import InputError, first_line
from magicpose.pose.schema import NUM_BODY, NUM_FACE, NUM_HAND, PersonPose

from .base import PoseExtractor
from .openpose import WEIGHTS_HINT

__all__ = ["ControlNetAuxOpenPoseExtractor", "pose_results_to_people"]


def _points(keypoints: Sequence[Any] | None, n: int, width: int, height: int) -> np.ndarray:
    """``n`` keypoints (objects with normalised x, y and a score, or None) to an (n, 3) pixel array;
    None, negative coordinates, or a list of another length give missing points."""
    out = np.zeros((n, 3), np.float32)
    if keypoints is None or len(keypoints) < n:
        return out
    for i, kp in enumerate(list(keypoints)[:n]):
        if kp is None or kp.x < 0 or kp.y < 0:
            continue
        out[i] = (kp.x * width, kp.y * height, max(float(getattr(kp, "score", 1.0)), 1e-4))
    return out


def pose_results_to_people(results: Iterable[Any], width: int, height: int) -> list[PersonPose]:
    """controlnet-aux ``PoseResult``s (``body.keypoints`` 18, ``left_hand``/``right_hand`` 21 or None,
    ``face`` a list of up to 71 or None; x, y normalised) to :class:`PersonPose` in pixels of a
    ``width`` x ``height`` frame. A face list shorter than 71 (some map skipped, indices unknown) is dropped.
    """
    people = []
    for r in results:
        face = r.face if r.face is not None and len(r.face) >= NUM_FACE + 1 else None
        people.append(
            PersonPose(
                body=_points(r.body.keypoints, NUM_BODY, width, height),
                left_hand=_points(r.left_hand, NUM_HAND, width, height),
                right_hand=_points(r.right_hand, NUM_HAND, width, height),
                face=_points(face, NUM_FACE, width, height),
            )
        )
    return people


class ControlNetAuxOpenPoseExtractor(PoseExtractor):
    """OpenPose through controlnet-aux (hands and faces included)."""

    name = "controlnet-aux"
    weight_files = ("body_pose_model.pth", "hand_pose_model.pth", "facenet.pth")
    weights_hint = WEIGHTS_HINT

    def __init__(self, detector: Any, include_hands: bool = True, include_face: bool = True) -> None:
        self.detector = detector
        self.include_hands, self.include_face = include_hands, include_face

    @classmethod
    def from_weights_dir(
        cls, weights_dir: str | os.PathLike | None = None, device: str = "cpu", **options
    ) -> ControlNetAuxOpenPoseExtractor:
        paths = cls.check_weights(weights_dir)
        try:
            from controlnet_aux import OpenposeDetector
        except Exception as exc:  # ImportError, or torchvision's operator errors against another torch
            raise InputError(
                f"the controlnet-aux pose extractor cannot import controlnet_aux ({first_line(exc)}): "
                f"it needs controlnet-aux with a torchvision matching your torch; or use the built-in "
                f"'openpose' backend, which reads the same files"
            ) from None
        folder = next(iter(paths.values())).parent
        detector = OpenposeDetector.from_pretrained(str(folder))
        if not hasattr(detector, "detect_poses"):
            raise InputError(
                "this controlnet-aux is too old (no OpenposeDetector.detect_poses): upgrade it "
                "(pip install -U controlnet-aux) or use the built-in 'openpose' backend"
            )
        return cls(detector.to(device), **options)

    def __call__(self, image: np.ndarray) -> list[PersonPose]:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(
                f"the controlnet-aux extractor needs an (H, W, 3) uint8 RGB image, got "
                f"{image.shape} {image.dtype}"
            )
        h, w = image.shape[:2]
        # detect_poses takes RGB (it flips to BGR itself) and normalises by this frame's size
        results = self.detector.detect_poses(
            image, include_hand=self.include_hands, include_face=self.include_face
        )
        return pose_results_to_people(results, w, h)
