"""Pose extraction from frames, behind one interface (:class:`PoseExtractor`), weights from local paths only.

Backends: ``dwpose`` (YOLOX + RTMPose whole-body on ONNX Runtime), ``openpose`` (the body/hand/face networks
of the OpenPose ControlNet annotator, in PyTorch), ``controlnet-aux`` (that package's OpenposeDetector, where
it imports).
"""

from __future__ import annotations

import importlib
import os

from magicpose.errors import InputError

from .base import WEIGHTS_ENV, MissingWeightsError, PoseExtractor, resolve_weights_dir
from .people import box_iou, person_box, person_score, track_main_person

# name -> "module:class", imported only when chosen (each backend has its own optional dependencies); a
# PoseExtractor subclass may also be registered directly
BACKENDS: dict[str, str | type[PoseExtractor]] = {
    "dwpose": "magicpose.pose.extract.dwpose:DWPoseExtractor",
    "openpose": "magicpose.pose.extract.openpose:OpenPoseExtractor",
    "controlnet-aux": "magicpose.pose.extract.controlnet_aux_backend:ControlNetAuxOpenPoseExtractor",
}
DEFAULT_BACKEND = "dwpose"


def extractor_class(backend: str) -> type[PoseExtractor]:
    if backend not in BACKENDS:
        raise InputError(f"unknown pose extractor '{backend}': choose one of {', '.join(BACKENDS)}")
    target = BACKENDS[backend]
    if isinstance(target, type):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def load_extractor(
    backend: str = DEFAULT_BACKEND, weights_dir: str | os.PathLike | None = None, device: str = "cpu"
) -> PoseExtractor:
    """The backend, loaded from its files in ``weights_dir`` (see :func:`resolve_weights_dir`)."""
    return extractor_class(backend).from_weights_dir(weights_dir, device=device)


__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "WEIGHTS_ENV",
    "MissingWeightsError",
    "PoseExtractor",
    "box_iou",
    "extractor_class",
    "load_extractor",
    "person_box",
    "person_score",
    "resolve_weights_dir",
    "track_main_person",
]
