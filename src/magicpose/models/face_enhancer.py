"""Where the face enhancer works: a square head crop from the pose, and the paste back.

Everybody Dance Now enhances the face on a square crop around the head (official code: 128 x 128 in
1024 x 512 frames, i.e. a quarter of the frame height, centred on the nose, else between the ears, else on
the visible ear; Lotayou: 48 x 48 in 288 x 512 frames, on the nose, its corner truncated to whole pixels)
and writes the enhanced crop back with a hard edge (``blend="hard"``, the default). That edge can show as a
seam that jitters with the box; ``blend="feather"`` blends the crop in with a mask that is 1 inside and
falls linearly to 0 at the box's border, so no pixel outside the box changes and the border itself keeps
the body generator's pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from magicpose.image_utils import center_crop_box
from magicpose.pose.schema import BODY_NAMES, FramePose

NOSE, RIGHT_EAR, LEFT_EAR = (BODY_NAMES.index(n) for n in ("nose", "right_ear", "left_ear"))
OFFICIAL_SIZE_FRACTION = 0.25  # 128 px crops in 512 px-high frames
LOTAYOU_SIZE_FRACTION = 1 / 6  # 48 px crops in 288 px-high frames (face_enhancer/enhance.py)


@dataclass(frozen=True)
class FaceBox:
    """A square crop ``[top:top+size, left:left+size]`` that lies inside the frame."""

    left: int
    top: int
    size: int

    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.size), slice(self.left, self.left + self.size)


def head_centre(body: np.ndarray) -> tuple[float, float] | None:
    """(x, y) of the nose, else the midpoint of the ears, else the visible ear; None without a head."""
    if body[NOSE, 2] > 0:
        return float(body[NOSE, 0]), float(body[NOSE, 1])
    ears = [body[i, :2] for i in (RIGHT_EAR, LEFT_EAR) if body[i, 2] > 0]
    if not ears:
        return None
    x, y = np.mean(ears, axis=0)
    return float(x), float(y)


def face_box_size(
    width: int, height: int, size_fraction: float = OFFICIAL_SIZE_FRACTION, multiple: int = 1
) -> int | None:
    """The side of every head crop in a ``width`` x ``height`` frame: ``size_fraction`` of the height, rounded
    to a multiple of ``multiple`` (a face generator's downsampling factor), at least twice it (instance norm
    needs more than one pixel at the generator's bottleneck), at most the frame; None when the frame is too
    small for such a crop. It depends on the frame size only, so all crops of one size of frame batch."""
    largest = min(width, height) // multiple * multiple
    if largest < 2 * multiple:
        return None
    return min(max(round(size_fraction * height / multiple) * multiple, 2 * multiple), largest)


def face_box(
    body: np.ndarray,
    width: int,
    height: int,
    size_fraction: float = OFFICIAL_SIZE_FRACTION,
    multiple: int = 1,
    rule: str = "official",
) -> FaceBox | None:
    """The head crop of an OpenPose-18 ``body`` (18, 3) in a ``width`` x ``height`` frame, of side
    :func:`face_box_size`, moved inside the frame when the head is near a border; None when no head point is
    visible (or the frame is smaller than the crop can be). ``rule``: "official" centres on
    :func:`head_centre` and rounds the corner to the nearest pixel; "lotayou" centres on the nose alone and
    truncates the corner (``int(nose - crop / 2)``, the same as flooring once clamped at 0)."""
    body = np.asarray(body)
    if rule == "lotayou":
        centre = (float(body[NOSE, 0]), float(body[NOSE, 1])) if body[NOSE, 2] > 0 else None
    else:
        centre = head_centre(body)
    size = face_box_size(width, height, size_fraction, multiple)
    if centre is None or size is None:
        return None
    snap = math.floor if rule == "lotayou" else round
    left = min(max(snap(centre[0] - size / 2), 0), width - size)
    top = min(max(snap(centre[1] - size / 2), 0), height - size)
    return FaceBox(int(left), int(top), int(size))


def body_in_output(pose: FramePose, width: int, height: int) -> np.ndarray:
    """The first person's OpenPose-18 body (18, 3) of ``pose`` in a ``width`` x ``height`` output frame: the
    keypoints go through the centre crop and resize that frames and pose maps get (``center_crop_resize``);
    all zeros (no head) when nobody was detected."""
    if not pose.people:
        return np.zeros((len(BODY_NAMES), 3), np.float32)
    left, top, right, bottom = center_crop_box(pose.width, pose.height, width, height)
    body = pose.people[0].body.astype(np.float32, copy=True)
    body[:, 0] = (body[:, 0] - left) * width / (right - left)
    body[:, 1] = (body[:, 1] - top) * height / (bottom - top)
    return body


def feather_mask(size: int, feather: int, device=None) -> Tensor:
    """(size, size) blending weights: 1 at least ``feather`` px inside the box, falling linearly to 0 on
    its outermost pixels."""
    if feather <= 0:
        return torch.ones(size, size, device=device)
    edge = torch.arange(size, device=device, dtype=torch.float32)
    distance = torch.minimum(edge, size - 1 - edge)  # 0 on the border
    ramp = (distance / feather).clamp(max=1.0)
    return torch.minimum(ramp[:, None], ramp[None, :])


def crop(frames: Tensor, box: FaceBox) -> Tensor:
    """The box of (..., H, W) ``frames``."""
    rows, cols = box.slices()
    return frames[..., rows, cols]


BLENDS = ("hard", "feather")


def paste_back(
    frames: Tensor, enhanced: Tensor, box: FaceBox, blend: str = "hard", feather: int | None = None
) -> Tensor:
    """``frames`` (..., H, W) with the enhanced crop written into ``box``; a new tensor. ``blend="hard"``
    replaces the box (both originals); "feather" blends over ``feather`` px (default an eighth of the box)."""
    if blend not in BLENDS:
        raise ValueError(f"blend must be 'hard' or 'feather', got {blend!r}")
    out = frames.clone()
    rows, cols = box.slices()
    if blend == "hard":
        out[..., rows, cols] = enhanced
        return out
    feather = max(1, box.size // 8) if feather is None else feather
    mask = feather_mask(box.size, feather, frames.device).to(frames.dtype)
    region = frames[..., rows, cols]
    out[..., rows, cols] = region + mask * (enhanced - region)  # exactly the frame where the weight is 0
    return out
