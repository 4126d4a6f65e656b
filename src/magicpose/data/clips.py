"""Clips of consecutive frames of one subject, for vid2vid's sequential training.

Item ``i`` is a clip of ``length`` consecutive frames of one video of a TikTok-layout dataset (see
`magicpose.data.layout`): every video of ``n`` frames contributes its ``n - length + 1`` clips, one starting at
each frame, in natural frame order; no clip straddles two videos. Each item holds:

* ``poses``: the pose maps as **uint8** ``(length, 3, H, W)`` (the trainer scales them as the pipeline does);
* ``frames``: the frames as float32 ``(length, 3, H, W)`` in [-1, 1];
* ``index``, ``video`` (its folder name) and ``name`` (the first frame's file stem).

Frames and pose maps are centre-cropped and resized exactly as for pose2vid
(`magicpose.data.consecutive`) and as ``Vid2VidPipeline`` treats its pose maps. No random choice is made,
so an item depends on its index only and any rank or worker returns the same item.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from magicpose.data.consecutive import _pixels, _signed_chw, _uint8_chw
from magicpose.data.layout import VideoFolder, list_videos
from magicpose.errors import InputError
from magicpose.image_utils import center_crop_resize, load_image

__all__ = ["ClipDataset"]


class ClipDataset(torch.utils.data.Dataset):
    """Clips of ``length`` consecutive frames (with their pose maps) within each video of ``root``'s ``split``.

    Raises:
        InputError: bad layout or no video of ``length`` frames (at construction); an unreadable image (in
            ``__getitem__``, naming the file).
    """

    def __init__(
        self, root: str | Path, split: str = "train", height: int = 256, width: int = 192, length: int = 6
    ) -> None:
        if min(height, width) <= 0:
            raise InputError(f"height and width must be positive, got {height}x{width}")
        if length < 2:
            raise InputError(f"clips must hold at least 2 frames, got {length}")
        self.root, self.split = Path(root), split
        self.height, self.width, self.length = int(height), int(width), int(length)
        self.videos: list[VideoFolder] = list_videos(self.root, split)
        clips = np.array([max(0, len(v.frames) - length + 1) for v in self.videos], dtype=np.int64)
        if clips.sum() == 0:
            longest = max(len(v.frames) for v in self.videos)
            raise InputError(
                f"no video of split '{split}' in '{self.root}' has {length} frames (the longest has "
                f"{longest}): lower the clip length (train.max_frames_total) or add longer videos"
            )
        self._offsets = np.concatenate([[0], np.cumsum(clips)])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(video number, position of the clip's first frame in that video) of clip ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} clips")
        v = int(np.searchsorted(self._offsets, index, side="right")) - 1
        return v, int(index - self._offsets[v])

    def __getitem__(self, index: int) -> dict:
        index = int(index)
        v, start = self.locate(index)
        video = self.videos[v]
        size = (self.width, self.height)
        frames = video.frames[start : start + self.length]
        poses = torch.stack([_uint8_chw(_pixels(f.pose, *size, "pose map")) for f in frames])
        images = torch.stack(
            [
                _signed_chw(
                    np.asarray(center_crop_resize(load_image(f.image, "frame"), *size), dtype=np.uint8)
                )
                for f in frames
            ]
        )
        return {"poses": poses, "frames": images, "index": index, "video": video.name, "name": frames[0].name}
