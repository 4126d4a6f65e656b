"""Consecutive frame pairs of one subject, for Everybody Dance Now's temporal pose2vid training.

Item ``i`` is the pair (frame ``t-1``, frame ``t``) of one video of a TikTok-layout dataset (see
`magicpose.data.layout`): every video of the split contributes its ``n - 1`` pairs, in natural frame order,
and no pair straddles two videos. EDN trains one person-specific generator, so the split should hold
videos of that one subject (any number of them).

Each item holds:

* ``pose_prev``, ``pose``: the pose maps as **uint8** ``(3, H, W)`` tensors. The trainer turns them into the
  generator's input range with ``Pose2VidGenerator.pose_input``, the very function inference uses, so
  training and ``Pose2VidPipeline`` cannot disagree on the pose range ("signed" [-1, 1] or "unit" [0, 1],
  a property of the saved generator);
* ``frame_prev``, ``frame``: the frames as float32 ``(3, H, W)`` in [-1, 1];
* ``index``, ``video`` (its folder name) and ``name`` (frame ``t``'s file stem).

Frames and pose maps are centre-cropped to the output's aspect ratio and resized (bilinear) to
``width`` x ``height``, exactly as ``Pose2VidPipeline`` treats its pose maps. There is no flip: EDN's
official code trains with ``--no_flip``, since flipping mirrors the skeleton and puts the left limbs' colours
on the right. No random choice is made, so an item depends on its index only (a fortiori on
``(seed, epoch, index)``): any rank or DataLoader worker returns the same item, and the order of the items
is the sampler's business (`magicpose.data.sampler.ShardedSampler`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from magicpose.data.layout import VideoFolder, list_videos
from magicpose.errors import InputError
from magicpose.image_utils import center_crop_resize, load_image

__all__ = ["ConsecutivePairDataset"]


def _pixels(path: Path, width: int, height: int, what: str) -> np.ndarray:
    return np.asarray(center_crop_resize(load_image(path, what), width, height), dtype=np.uint8)


def _uint8_chw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def _signed_chw(array: np.ndarray) -> torch.Tensor:
    return _uint8_chw(array).float() / 127.5 - 1.0


class ConsecutivePairDataset(torch.utils.data.Dataset):
    """(frame ``t-1``, frame ``t``) pairs with their pose maps, within each video of ``root``'s ``split``.

    Args:
        root: dataset root holding ``<split>_set/<video>/`` and ``pose_map_<split>_set/<video>/``.
        split: e.g. ``"train"``.
        height, width: output size in pixels.

    Raises:
        InputError: bad layout, or no video with two frames (at construction); an unreadable image (in
            ``__getitem__``, naming the file).
    """

    def __init__(self, root: str | Path, split: str = "train", height: int = 256, width: int = 256) -> None:
        if min(height, width) <= 0:
            raise InputError(f"height and width must be positive, got {height}x{width}")
        self.root, self.split = Path(root), split
        self.height, self.width = int(height), int(width)
        self.videos: list[VideoFolder] = list_videos(self.root, split)
        pairs = np.array([max(0, len(v.frames) - 1) for v in self.videos], dtype=np.int64)
        if pairs.sum() == 0:
            raise InputError(f"no video of split '{split}' in '{self.root}' has two frames: pose2vid trains "
                             "on consecutive frames, add videos of at least 2 frames")
        # offsets[v] = global index of the first pair of video v
        self._offsets = np.concatenate([[0], np.cumsum(pairs)])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(video number, position of frame ``t`` in that video) of pair ``index``; frame ``t-1`` is just
        before it."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} frame pairs")
        v = int(np.searchsorted(self._offsets, index, side="right")) - 1
        return v, int(index - self._offsets[v]) + 1

    def __getitem__(self, index: int) -> dict:
        index = int(index)
        v, t = self.locate(index)
        video = self.videos[v]
        previous, current = video.frames[t - 1], video.frames[t]
        size = (self.width, self.height)
        return {
            "pose_prev": _uint8_chw(_pixels(previous.pose, *size, "pose map")),
            "pose": _uint8_chw(_pixels(current.pose, *size, "pose map")),
            "frame_prev": _signed_chw(_pixels(previous.image, *size, "frame")),
            "frame": _signed_chw(_pixels(current.image, *size, "frame")),
            "index": index,
            "video": video.name,
            "name": current.name,
        }
