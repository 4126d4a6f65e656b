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
* ``index``, ``video`` (its folder name) and ``name`` (frame ``t``'s file stem);
* with ``keypoints=True`` (the face-enhancer stage), ``keypoints_prev`` and ``keypoints``: each frame's first
  person's OpenPose-18 body as float32 ``(18, 3)`` (x, y, confidence), mapped into the ``width`` x ``height``
  training frame (through the same centre crop and resize as the pixels); all zeros when nobody was detected.
  They are read from ``<root>/openpose_json_<split>_set/<video>/<frame>_keypoints.json``, which
  ``magicpose add-video`` and ``magicpose make-synthetic`` write beside the frames; a JSON without a canvas
  size is taken to be on the frame's own canvas.

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
from magicpose.models.face_enhancer import body_in_output
from magicpose.pose.openpose_json import read_openpose_json
from magicpose.pose.schema import FramePose

__all__ = ["ConsecutivePairDataset", "check_keypoints", "keypoint_file", "read_frame_pose"]


def _pixels(path: Path, width: int, height: int, what: str) -> np.ndarray:
    return np.asarray(center_crop_resize(load_image(path, what), width, height), dtype=np.uint8)


def _uint8_chw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def _signed_chw(array: np.ndarray) -> torch.Tensor:
    return _uint8_chw(array).float() / 127.5 - 1.0


def keypoint_file(root: str | Path, split: str, video: str, frame: str) -> Path:
    """Where a frame's OpenPose JSON lives in the TikTok layout (beside ``<split>_set/<video>/<frame>``)."""
    return Path(root) / f"openpose_json_{split}_set" / video / f"{frame}_keypoints.json"


def read_frame_pose(path: Path, frame_size: tuple[int, int]) -> FramePose:
    """A frame's keypoints, on the canvas of the (width, height) frame they were detected on; a JSON that
    records another canvas is refused (its points would land elsewhere in the frame)."""
    pose = read_openpose_json(path, *frame_size)
    if (pose.width, pose.height) != tuple(frame_size):
        raise InputError(
            f"OpenPose JSON '{path}' is on a {pose.width}x{pose.height} canvas but its frame is "
            f"{frame_size[0]}x{frame_size[1]}: run OpenPose on the frames themselves"
        )
    return pose


def check_keypoints(root: Path, split: str, videos: list[VideoFolder]) -> None:
    """Every frame's JSON is there (checked at construction, not hours into training)."""
    for video in videos:
        folder = keypoint_file(root, split, video.name, "x").parent
        if not folder.is_dir():
            raise InputError(
                f"no OpenPose keypoints for video '{video.name}': '{folder}' does not exist; "
                "the face stage finds the head in them: re-add the video with `magicpose "
                "add-video` (it writes them), or put OpenPose's <frame>_keypoints.json there"
            )
        for frame in video.frames:
            path = keypoint_file(root, split, video.name, frame.name)
            if not path.is_file():
                raise InputError(
                    f"frame '{frame.image}' has no OpenPose keypoints ('{path}' does not "
                    "exist): every frame needs its <frame>_keypoints.json for the face stage"
                )


class ConsecutivePairDataset(torch.utils.data.Dataset):
    """(frame ``t-1``, frame ``t``) pairs with their pose maps, within each video of ``root``'s ``split``.

    Args:
        root: dataset root holding ``<split>_set/<video>/`` and ``pose_map_<split>_set/<video>/``.
        split: e.g. ``"train"``.
        height, width: output size in pixels.
        keypoints: also return each frame's keypoints (the face stage), read from the OpenPose JSON files.

    Raises:
        InputError: bad layout, no video with two frames, or (``keypoints``) a missing keypoint folder or file
            (at construction); an unreadable image or JSON (in ``__getitem__``, naming the file).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        height: int = 256,
        width: int = 256,
        keypoints: bool = False,
    ) -> None:
        if min(height, width) <= 0:
            raise InputError(f"height and width must be positive, got {height}x{width}")
        self.root, self.split = Path(root), split
        self.height, self.width = int(height), int(width)
        self.keypoints = keypoints
        self.videos: list[VideoFolder] = list_videos(self.root, split)
        if keypoints:
            check_keypoints(self.root, split, self.videos)
        pairs = np.array([max(0, len(v.frames) - 1) for v in self.videos], dtype=np.int64)
        if pairs.sum() == 0:
            raise InputError(
                f"no video of split '{split}' in '{self.root}' has two frames: pose2vid trains "
                "on consecutive frames, add videos of at least 2 frames"
            )
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
        item = {}
        for suffix, frame in (("_prev", previous), ("", current)):
            image = load_image(frame.image, "frame")
            item[f"pose{suffix}"] = _uint8_chw(_pixels(frame.pose, *size, "pose map"))
            item[f"frame{suffix}"] = _signed_chw(np.asarray(center_crop_resize(image, *size), dtype=np.uint8))
            if self.keypoints:
                path = keypoint_file(self.root, self.split, video.name, frame.name)
                pose = read_frame_pose(path, image.size)
                item[f"keypoints{suffix}"] = torch.from_numpy(body_in_output(pose, *size))
        return {**item, "index": index, "video": video.name, "name": current.name}
