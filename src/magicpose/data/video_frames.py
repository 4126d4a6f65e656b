"""Videos as plain frames (no poses), for MRAA, which finds its own regions: the frame-pair dataset its
training draws from, and the whole-video reader its reconstruction evaluation uses.

Two layouts are read, whichever ``root`` has:

* this project's TikTok layout, ``<root>/<split>_set/<video>/<frame>.png`` (pose maps, if any, are ignored);
* the MRAA/FOMM layout, ``<root>/<split>/<video>/`` frame folders or ``<root>/<split>/<video>.mp4`` files
  (also .mov, .avi, .mkv, .webm, .gif).

An item of :class:`FramePairDataset` is two distinct frames of one video (``source``, ``driving``), each
centre-cropped to a square of ``size`` pixels, float32 (3, size, size) in [0, 1], with the original's
augmentations applied to both alike: a horizontal flip, a time flip (the pair swapped) and a colour jitter
(brightness, contrast, saturation; the original also jitters hue).
Every random choice comes from ``(seed, epoch, index)``, so any rank or worker, and a resumed run, draw the
same pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from magicpose.data.layout import _images_by_stem
from magicpose.errors import InputError
from magicpose.image_utils import center_crop_resize, load_image
from magicpose.pose.sequence import natural_sort_key

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif"}

__all__ = ["FramePairDataset", "FrameVideo", "list_frame_videos"]


@dataclass(frozen=True)
class FrameVideo:
    """One video: a folder of frames (``frames`` in natural order) or a video file (``frames`` empty)."""

    name: str
    path: Path
    frames: tuple[Path, ...] = ()

    def read(self, size: int) -> list[np.ndarray]:
        """Every frame, centre-cropped and resized to ``size``², uint8 (size, size, 3)."""
        if self.frames:
            pictures = (np.asarray(load_image(p, "frame")) for p in self.frames)
        else:
            from magicpose.video import read_video

            pictures = read_video(self.path)
        return [np.asarray(center_crop_resize(p, size, size), dtype=np.uint8) for p in pictures]

    def read_frames(self, indices: list[int], size: int) -> list[np.ndarray]:
        """The frames at ``indices`` (a frame folder reads only those; a video file is decoded whole)."""
        if self.frames:
            return [
                np.asarray(
                    center_crop_resize(load_image(self.frames[i], "frame"), size, size), dtype=np.uint8
                )
                for i in indices
            ]
        every = self.read(size)
        return [every[i] for i in indices]

    def __len__(self) -> int:
        if self.frames:
            return len(self.frames)
        from magicpose.video import video_info

        return int(video_info(self.path)["frames"])


def list_frame_videos(root: str | Path, split: str) -> list[FrameVideo]:
    """The videos of ``split`` under ``root``, in natural name order (see the module notes for the layouts)."""
    root = Path(root)
    folder = next((f for f in (root / f"{split}_set", root / split) if f.is_dir()), None)
    if folder is None:
        raise InputError(
            f"dataset '{root}' has neither '{split}_set/' nor '{split}/': put one folder of frames (or one "
            f".mp4) per video in <root>/{split}/ or <root>/{split}_set/"
        )
    videos = []
    for entry in sorted(folder.iterdir(), key=lambda p: natural_sort_key(p.name)):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            frames = _images_by_stem(entry)
            if len(frames) >= 2:
                videos.append(
                    FrameVideo(
                        entry.name, entry, tuple(frames[s] for s in sorted(frames, key=natural_sort_key))
                    )
                )
        elif entry.suffix.lower() in VIDEO_SUFFIXES:
            videos.append(FrameVideo(entry.stem, entry))
    if not videos:
        raise InputError(
            f"dataset folder '{folder}' holds no video of two or more frames: put one folder of frames "
            "(or one .mp4) per video there"
        )
    return videos


def jitter_colours(image: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Brightness, contrast and saturation of a float (H, W, 3) image in [0, 1] scaled by ``factors``."""
    brightness, contrast, saturation = factors
    image = image * brightness
    image = (image - image.mean()) * contrast + image.mean()
    grey = image @ np.array([0.299, 0.587, 0.114], dtype=image.dtype)
    image = (image - grey[..., None]) * saturation + grey[..., None]
    return np.clip(image, 0.0, 1.0)


class FramePairDataset(torch.utils.data.Dataset):
    """``num_repeats`` passes over the videos per epoch, one (source, driving) pair of frames per item."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        size: int = 256,
        num_repeats: int = 1,
        seed: int = 0,
        flip: bool = True,
        time_flip: bool = True,
        jitter: float = 0.1,
    ) -> None:
        if size <= 0 or num_repeats <= 0:
            raise InputError(f"size and num_repeats must be positive, got {size} and {num_repeats}")
        self.videos = list_frame_videos(root, split)
        self.size, self.num_repeats, self.seed = int(size), int(num_repeats), int(seed)
        self.flip, self.time_flip, self.jitter = flip, time_flip, float(jitter)
        self.epoch = 0
        self._lengths: dict[int, int] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.videos) * self.num_repeats

    def _length(self, v: int) -> int:
        if v not in self._lengths:
            self._lengths[v] = len(self.videos[v])
        return self._lengths[v]

    def __getitem__(self, index: int) -> dict:
        index = int(index)
        v = index % len(self.videos)
        video = self.videos[v]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        picked = sorted(rng.choice(self._length(v), size=2, replace=False).tolist())
        frames = [f.astype(np.float32) / 255 for f in video.read_frames(picked, self.size)]
        if self.time_flip and rng.random() < 0.5:
            frames.reverse()
        if self.flip and rng.random() < 0.5:
            frames = [f[:, ::-1] for f in frames]
        if self.jitter:
            factors = rng.uniform(1 - self.jitter, 1 + self.jitter, size=3).astype(np.float32)
            frames = [jitter_colours(f, factors) for f in frames]
        source, driving = (torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1))) for f in frames)
        return {"source": source, "driving": driving, "index": index, "video": video.name}
