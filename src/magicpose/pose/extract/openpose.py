"""Built-in OpenPose backend: the CMU body, hand and face networks run as the ControlNet annotator runs them.

Needs ``body_pose_model.pth``, ``hand_pose_model.pth`` and ``facenet.pth`` (``lllyasviel/Annotators`` on
the Hugging Face hub, the files ControlNet keeps in ``annotator/ckpts``) and only torch + OpenCV.

Per frame, as the annotator: the RGB frame is resized so its short side is ``detect_resolution`` (sides
rounded to multiples of 64; ``None`` keeps the frame), flipped to BGR; the body network runs at scale
0.5 x 368 / height (padded to a multiple of 8 with 128, input / 256 - 0.5); its PAFs and heat-maps are
upsampled x8, un-padded and resized to the frame; then :mod:`.openpose_decode` finds peaks, connects limbs
and assembles people. For each person, each hand box runs the hand network on the (sigma 0.8 blurred) crop
at 368 x (0.5, 1, 1.5, 2) px, averaging 128 x 128 heat-maps; the face box runs the face network at 384 px
and reads its maps resized to the crop. Keypoints are mapped back to the input frame's pixels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from magicpose.errors import InputError, first_line
from magicpose.files import check_regular_file
from magicpose.pose.schema import PersonPose

from .base import PoseExtractor
from .openpose_decode import (
    assemble_people,
    connect_limbs,
    decode_bodies,
    face_box,
    face_peaks,
    find_peaks,
    hand_boxes,
    hand_peaks,
    pad_right_down,
    resize_maps,
)
from .openpose_nets import build_net, from_file_state_dict

__all__ = [
    "WEIGHTS_HINT",
    "OpenPoseExtractor",
    "assemble_people",
    "body_maps",
    "connect_limbs",
    "face_box",
    "face_maps",
    "find_peaks",
    "hand_boxes",
    "hand_maps",
    "load_net",
    "resize_for_detection",
]

WEIGHTS_HINT = (
    "CMU OpenPose weights from the Hugging Face repo lllyasviel/Annotators, also in ControlNet's "
    "annotator/ckpts; non-commercial license"
)
_FILE_KIND = {"body_pose_model.pth": "body", "hand_pose_model.pth": "hand", "facenet.pth": "face"}


def load_net(kind: str, path: str | os.PathLike, width_div: int = 1, device: str = "cpu") -> nn.Module:
    """Build the ``kind`` network and load ``path`` into it strictly (tensors only, never pickled code).

    A file that cannot be read, or that lacks the network's tensors or has other shapes (e.g. the hand
    file given as the body one), raises one :class:`InputError` line naming the file."""
    net = build_net(kind, width_div)
    check_regular_file(path, f"OpenPose {kind} weights", "pass the .pth file (lllyasviel/Annotators)")
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, not a torch file, or pickled objects beyond tensors
        raise InputError(
            f"cannot read '{path}' as the OpenPose {kind} weights: {first_line(exc)}; "
            f"re-download it (lllyasviel/Annotators)"
        ) from None
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise InputError(f"'{path}' is not the OpenPose {kind} weights (expected a dict of tensors)")
    try:
        net.load_state_dict(from_file_state_dict(net, weights), strict=True)
    except KeyError as exc:
        missing = exc.args[0]
        raise InputError(
            f"'{path}' is not the OpenPose {kind} weights: {len(missing)} of "
            f"{len(net.state_dict())} tensors missing (e.g. '{missing[0]}'); "
            f"is it the right file?"
        ) from None
    except RuntimeError as exc:  # shape mismatch
        raise InputError(
            f"'{path}' does not fit the OpenPose {kind} network: {first_line(exc, 300)}"
        ) from None
    return net.to(device).eval()


def resize_for_detection(image: np.ndarray, resolution: int | None) -> np.ndarray:
    """The annotator's ``resize_image``: short side to ``resolution``, both sides rounded to multiples of 64
    (Lanczos-4 up, area down). ``None`` returns the image unchanged."""
    if resolution is None:
        return image
    h, w = image.shape[:2]
    k = float(resolution) / min(h, w)
    nh, nw = int(np.round(h * k / 64.0)) * 64, int(np.round(w * k / 64.0)) * 64
    if (nh, nw) == (h, w):
        return image
    return cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LANCZOS4 if k > 1 else cv2.INTER_AREA)


def _to_input(img: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()[None].to(device) / 256 - 0.5


def _net_device(net: nn.Module) -> torch.device:
    p = next(net.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _upsample(out: torch.Tensor, stride: int, padded: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    """(1, C, h, w) network output to (H, W, C) at the unpadded input's size, as the annotator does it."""
    m = out[0].float().cpu().numpy().transpose(1, 2, 0)
    m = resize_maps(m, m.shape[1] * stride, m.shape[0] * stride)
    return m[: padded.shape[0] - pad[0], : padded.shape[1] - pad[1]]


@torch.no_grad()
def body_maps(
    net: nn.Module,
    image_bgr: np.ndarray,
    scales: Sequence[float] = (0.5,),
    boxsize: int = 368,
    stride: int = 8,
    pad_value: int = 128,
) -> tuple[np.ndarray, np.ndarray]:
    """Heat-maps (H, W, 19) and PAFs (H, W, 38), float64, at the image's size, averaged over ``scales``
    (each relative to ``boxsize / height``). The annotator uses one scale, 0.5; its multi-scale sum has a
    bug (it adds the running sum to itself), so more scales are a plain mean here."""
    h, w = image_bgr.shape[:2]
    heat, paf = np.zeros((h, w, 19)), np.zeros((h, w, 38))
    for s in scales:
        f = s * boxsize / h
        img = resize_maps(image_bgr, int(w * f), int(h * f))
        padded, pad = pad_right_down(img, stride, pad_value)
        out_paf, out_heat = net(_to_input(padded, _net_device(net)))
        heat += resize_maps(_upsample(out_heat, stride, padded, pad), w, h) / len(scales)
        paf += resize_maps(_upsample(out_paf, stride, padded, pad), w, h) / len(scales)
    return heat, paf


@torch.no_grad()
def hand_maps(
    net: nn.Module,
    crop_bgr: np.ndarray,
    scales: Sequence[float] = (0.5, 1.0, 1.5, 2.0),
    boxsize: int = 368,
    stride: int = 8,
    pad_value: int = 128,
    size: int = 128,
) -> np.ndarray:
    """Hand heat-maps (22, size, size), float64, averaged over square inputs of ``boxsize * scale`` px."""
    crop = cv2.GaussianBlur(crop_bgr, (0, 0), 0.8)
    avg = np.zeros((size, size, 22))
    for s in scales:
        side = int(s * boxsize)
        padded, pad = pad_right_down(resize_maps(crop, side, side), stride, pad_value)
        out = net(_to_input(padded, _net_device(net)))
        avg += resize_maps(_upsample(out, stride, padded, pad), size, size) / len(scales)
    return avg.transpose(2, 0, 1)


@torch.no_grad()
def face_maps(net: nn.Module, crop_bgr: np.ndarray, size: int = 384) -> np.ndarray:
    """Face heat-maps (71, h, w) at the crop's size: the network at ``size`` x ``size``, its last stage
    resized bilinearly (corners aligned) to the crop."""
    h, w = crop_bgr.shape[:2]
    x = _to_input(resize_maps(crop_bgr, size, size), _net_device(net))
    out = F.interpolate(net(x).float(), (h, w), mode="bilinear", align_corners=True)
    return out[0].cpu().numpy()


class OpenPoseExtractor(PoseExtractor):
    """OpenPose-18 bodies with hands and faces, from the CMU networks (see the module docstring).

    ``hand_net`` / ``face_net`` may be None to skip them. ``refine=True`` adds sub-pixel peak offsets
    (default off: integer argmax peaks, as the annotator and so the OpenPose ControlNet's training data)."""

    name = "openpose"
    weight_files = tuple(_FILE_KIND)
    weights_hint = WEIGHTS_HINT

    def __init__(
        self,
        body_net: nn.Module,
        hand_net: nn.Module | None = None,
        face_net: nn.Module | None = None,
        *,
        detect_resolution: int | None = 512,
        body_scales: Sequence[float] = (0.5,),
        hand_scales: Sequence[float] = (0.5, 1.0, 1.5, 2.0),
        refine: bool = False,
    ) -> None:
        self.body_net, self.hand_net, self.face_net = body_net, hand_net, face_net
        self.detect_resolution = detect_resolution
        self.body_scales, self.hand_scales = tuple(body_scales), tuple(hand_scales)
        self.refine = refine

    @classmethod
    def from_weights_dir(
        cls, weights_dir: str | os.PathLike | None = None, device: str = "cpu", width_div: int = 1, **options
    ) -> OpenPoseExtractor:
        """Load the three networks from the weights folder; ``options`` go to the constructor."""
        paths: dict[str, Path] = cls.check_weights(weights_dir)
        nets = {_FILE_KIND[n]: load_net(_FILE_KIND[n], path, width_div, device) for n, path in paths.items()}
        return cls(nets["body"], nets["hand"], nets["face"], **options)

    def __call__(self, image: np.ndarray) -> list[PersonPose]:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(
                f"the openpose extractor needs an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}"
            )
        h, w = image.shape[:2]
        det = resize_for_detection(image, self.detect_resolution)[:, :, ::-1].copy()  # networks take BGR
        dh, dw = det.shape[:2]
        heat, paf = body_maps(self.body_net, det, self.body_scales)
        scale = np.array([w / dw, h / dh, 1.0])
        people = []
        for body in decode_bodies(heat, paf, refine=self.refine):
            hands = {True: np.zeros((21, 3)), False: np.zeros((21, 3))}
            if self.hand_net is not None:
                for x, y, side, is_left in hand_boxes(body, dw, dh):
                    crop = det[y : y + side, x : x + side]
                    pts = hand_peaks(
                        hand_maps(self.hand_net, crop, self.hand_scales), *crop.shape[:2], refine=self.refine
                    )
                    hands[is_left] = _offset(pts, x, y)
            face = np.zeros((70, 3))
            box = face_box(body, dw, dh) if self.face_net is not None else None
            if box is not None:
                x, y, side = box
                crop = det[y : y + side, x : x + side]
                face = _offset(face_peaks(face_maps(self.face_net, crop), refine=self.refine), x, y)
            people.append(
                PersonPose(
                    body=body * scale,
                    left_hand=hands[True] * scale,
                    right_hand=hands[False] * scale,
                    face=face * scale,
                )
            )
        return people


def _offset(points: np.ndarray, x: int, y: int) -> np.ndarray:
    """Crop points to frame points; missing ones stay all-zero."""
    out = points.copy()
    present = out[:, 2] > 0
    out[present, 0] += x
    out[present, 1] += y
    return out
