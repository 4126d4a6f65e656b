"""The MagicPose training dataset: (reference, target, target pose) triples drawn within one video.

Each item is one *target* frame of a TikTok-layout dataset (see `magicpose.data.layout`); the
reference is another frame of the same video.  Compared with the original MagicPose loader:

* the pose map is the target's own pose map, paired by file name (layout.py), not by position;
* the reference really lies within ``max_frame_distance`` frames of the target (the original drew
  both indices uniformly over the whole video and ignored its documented limit);
* every random choice of an item (its reference, its crops) comes from a numpy Generator seeded by
  ``(seed, epoch, index)``, and the item carries a per-sample ``"seed"`` for the trainer's noise and
  timestep, also a function of ``(seed, epoch, index)`` only.  So an item is the same whichever rank
  or DataLoader worker loads it, and a run sharded over N processes (`ShardedSampler`) sees exactly
  the samples, crops and noise of a 1-process run.

Near-constant frames (spatial std of the [0, 1] pixels below ``min_std`` in every channel; e.g.
black frames from a failed decode) are never returned.  Nothing is read at construction: image
files are opened only in ``__getitem__``, and which frames are near-constant is cached per process.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from magicpose.data.layout import FramePair, VideoFolder, list_videos
from magicpose.errors import InputError
from magicpose.image_utils import center_crop_box, check_size, load_image

__all__ = ["PairDataset", "CROP_MODES"]

CROP_MODES = ("center", "random", "random_resized")

# Domain tags mixed into the (seed, epoch, index) entropy, so the generator that draws the data and
# the seed handed to the trainer are independent streams.
_DATA_STREAM = 0
_TRAINER_STREAM = 1

Box = tuple[float, float, float, float]  # left, top, right, bottom in pixels of the frame


def _nonneg_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _center_box(src_w: int, src_h: int, width: int, height: int) -> Box:
    """Largest centred box of aspect width/height (the box `center_crop_resize` uses)."""
    return tuple(float(v) for v in center_crop_box(src_w, src_h, width, height))


def _random_resized_box(
    src_w: int, src_h: int, width: int, height: int, scale: tuple[float, float], rng: np.random.Generator
) -> Box:
    """torchvision's ``RandomResizedCrop.get_params`` with the ratio range fixed to width/height.

    Up to 10 tries of an integer box whose area is a fraction `scale` of the whole frame, placed at
    a uniformly drawn integer position; if none fits, the fallback is torchvision's centred crop
    with the aspect clamped to the ratio range, which for a fixed ratio is exactly `_center_box`
    (same rounding: Python's round, then (src - size) // 2).  The ratio is a constant here, so no
    number is drawn for it (torchvision draws one from a degenerate range).
    """
    aspect = width / height
    for _ in range(10):
        target_area = src_w * src_h * rng.uniform(*scale)
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= src_w and 0 < h <= src_h:
            top = int(rng.integers(0, src_h - h + 1))
            left = int(rng.integers(0, src_w - w + 1))
            return float(left), float(top), float(left + w), float(top + h)
    return _center_box(src_w, src_h, width, height)


def _crop_resize(image: Image.Image, box: Box, width: int, height: int) -> Image.Image:
    """Crop the (rounded, clamped) box, then resize it to (width, height) with bilinear filtering.

    Cropping first (as `center_crop_resize` does) keeps the filter from sampling outside the box.
    """
    left = min(max(0, round(box[0])), image.width - 1)
    top = min(max(0, round(box[1])), image.height - 1)
    right = min(max(left + 1, round(box[2])), image.width)
    bottom = min(max(top + 1, round(box[3])), image.height)
    if (left, top, right, bottom) != (0, 0, image.width, image.height):
        image = image.crop((left, top, right, bottom))
    if image.size != (width, height):
        image = image.resize((width, height), resample=Image.BILINEAR)
    return image


def _scale_box(box: Box, src: tuple[int, int], dst: tuple[int, int]) -> Box:
    """Map a box on an image of size `src` (w, h) proportionally onto an image of size `dst`."""
    sx, sy = dst[0] / src[0], dst[1] / src[1]
    return box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy


def _to_tensor(image: Image.Image, signed: bool) -> torch.Tensor:
    arr = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).float()
    return arr / 127.5 - 1.0 if signed else arr / 255.0


class PairDataset(torch.utils.data.Dataset):
    """(reference, target, target pose) training triples from a TikTok-layout dataset.

    Args:
        root: dataset root holding ``<split>_set/<video>/`` and ``pose_map_<split>_set/<video>/``.
        split: e.g. ``"train"``.
        height, width: output size (positive multiples of 8).
        max_frame_distance: the reference is drawn uniformly among the other frames of the target's
            video at most this many positions away (positions in the natural-sorted frame list).
            ``None`` = anywhere in the video; ``0`` = the target itself (reconstruction).
        seed: dataset seed; items are a function of (seed, epoch, index).
        min_std: frames whose pixel std (per channel, over space, on [0, 1] values; the largest over
            the channels) is below this are skipped. ``0`` disables the check.
        crop: ``"center"``: the largest centred box of the output's aspect ratio (what
            `center_crop_resize` does); ``"random"``: a box of the output's aspect ratio whose area is
            a fraction ``crop_scale`` of that centred box's, placed uniformly at random;
            ``"random_resized"``: torchvision's ``RandomResizedCrop(scale=crop_scale, ratio=width /
            height)``, i.e. a box of the output's aspect ratio whose area is a fraction ``crop_scale``
            of the WHOLE frame's, at a uniformly random integer position, falling back to the
            ``"center"`` box when no such box fits in 10 tries.  The original MagicPose training
            applies ``RandomResizedCrop(512, scale=(0.9, 1), ratio=(1, 1))`` separately to the
            reference, the target and the pose.  On TikTok frames (604x1080 portrait) no square of
            90-100 % of the frame's area fits, so torchvision falls back to the centred square every
            time: there the original is effectively ``"center"``.  A square of area fraction s fits
            only when short side / long side >= s, so it crops randomly only on near-square frames
            (16:9 landscape falls back too).  ``"random_resized"`` is the original's augmentation
            except that target and pose share one box (the original misaligns them where it really
            crops); ``"center"`` is what it amounts to on portrait TikTok frames.  In every mode
            target and pose share one box (scaled onto the pose map's pixel size); the reference
            gets its own.
        crop_scale: (min, max) area fraction within (0, 1]: of the centred box for ``"random"``, of
            the whole frame for ``"random_resized"`` (torchvision's ``scale``); unused by ``"center"``.

    Items are dicts: ``reference``/``image`` float32 [3, H, W] in [-1, 1], ``pose`` float32
    [3, H, W] in [0, 1], ``seed`` (int in [0, 2**63); collated to int64), ``index``, and the strings
    ``video``, ``reference_frame``, ``target_frame``.

    Raises:
        InputError: bad layout (at construction); unreadable image or a video with no usable frame
            (in ``__getitem__``).
    """

    #: how many reference candidates are tried before falling back to the target itself
    max_reference_tries = 10

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        height: int = 64,
        width: int = 64,
        max_frame_distance: int | None = None,
        seed: int = 0,
        min_std: float = 0.02,
        crop: str = "center",
        crop_scale: tuple[float, float] = (0.9, 1.0),
    ) -> None:
        check_size(height, width)
        if max_frame_distance is not None:
            max_frame_distance = _nonneg_int("max_frame_distance", max_frame_distance)
        if crop not in CROP_MODES:
            raise InputError(f"crop {crop!r} is not supported: use one of {', '.join(CROP_MODES)}")
        lo, hi = (float(v) for v in crop_scale)
        if not 0.0 < lo <= hi <= 1.0:
            raise InputError(
                f"crop_scale {tuple(crop_scale)!r} is invalid: use (min, max) with 0 < min <= max <= 1"
            )
        if not min_std >= 0.0:
            raise InputError(f"min_std {min_std!r} is invalid: use a non-negative number such as 0.02")
        self.root = Path(root)
        self.split = split
        self.height, self.width = int(height), int(width)
        self.max_frame_distance = max_frame_distance
        self.seed = _nonneg_int("seed", seed)
        self.min_std = float(min_std)
        self.crop = crop
        self.crop_scale = (lo, hi)
        self.epoch = 0

        self.videos: list[VideoFolder] = list_videos(self.root, split)
        lengths = np.array([len(v.frames) for v in self.videos], dtype=np.int64)
        # offsets[v] = global index of the first frame of video v
        self._offsets = np.concatenate([[0], np.cumsum(lengths)])
        # global frame index -> usable (not near-constant); filled lazily, per process
        self._usable: dict[int, bool] = {}

    # ------------------------------------------------------------------ indexing
    def __len__(self) -> int:
        return int(self._offsets[-1])

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose draws ``__getitem__`` returns.

        Call it before creating the DataLoader iterator of that epoch; with ``persistent_workers=True``
        the workers keep their own copy of the dataset and would not see the change.
        """
        self.epoch = _nonneg_int("epoch", epoch)

    def locate(self, index: int) -> tuple[int, int]:
        """(video number, frame position in that video) of global item `index`."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} frames")
        v = int(np.searchsorted(self._offsets, index, side="right")) - 1
        return v, int(index - self._offsets[v])

    def sample_seed(self, index: int, epoch: int | None = None) -> int:
        """The per-sample seed of item `index` in `epoch` (default: the current one), in [0, 2**63)."""
        epoch = self.epoch if epoch is None else epoch
        state = np.random.SeedSequence([self.seed, epoch, int(index), _TRAINER_STREAM]).generate_state(
            1, np.uint64
        )
        return int(state[0] >> np.uint64(1))

    def _generator(self, index: int) -> np.random.Generator:
        return np.random.default_rng(
            np.random.SeedSequence([self.seed, self.epoch, int(index), _DATA_STREAM])
        )

    # ------------------------------------------------------------------ frames
    def _load(self, video: int, pos: int) -> Image.Image:
        return load_image(self.videos[video].frames[pos].image)

    def _is_usable(self, video: int, pos: int, image: Image.Image | None = None) -> bool:
        key = int(self._offsets[video]) + pos
        usable = self._usable.get(key)
        if usable is None:
            if self.min_std <= 0.0:
                usable = True
            else:
                image = self._load(video, pos) if image is None else image
                arr = np.asarray(image, dtype=np.float32).reshape(-1, 3) / 255.0
                usable = bool(arr.std(axis=0).max() >= self.min_std)
            self._usable[key] = usable
        return usable

    def _target(self, video: int, pos: int) -> tuple[int, Image.Image]:
        """The first usable frame at or after `pos` (cyclically) and its image."""
        n = len(self.videos[video].frames)
        for step in range(n):
            p = (pos + step) % n
            key = int(self._offsets[video]) + p
            if self._usable.get(key) is False:
                continue
            image = self._load(video, p)
            if self._is_usable(video, p, image):
                return p, image
        folder = self.videos[video].image_dir
        raise InputError(
            f"video folder '{folder}' has no usable frame (every frame is near-constant, pixel std "
            f"< {self.min_std}): remove the folder or re-extract its frames"
        )

    def _reference(
        self, video: int, target: int, target_image: Image.Image, rng: np.random.Generator
    ) -> tuple[int, Image.Image]:
        """A usable frame drawn uniformly within the distance limit of `target` (not `target` itself).

        Candidates are tried in a uniformly random order, so the first usable one is uniform among
        the usable candidates. After `max_reference_tries` near-constant candidates (or when there is
        no other frame in reach) the target itself is the reference.
        """
        n = len(self.videos[video].frames)
        d = n if self.max_frame_distance is None else self.max_frame_distance
        lo, hi = max(0, target - d), min(n - 1, target + d)
        count = hi - lo  # frames in [lo, hi] other than the target
        if count <= 0:
            return target, target_image
        tries = min(count, self.max_reference_tries)
        for k in rng.choice(count, size=tries, replace=False):
            p = lo + int(k)
            p += p >= target  # skip the target's own position
            if self._usable.get(int(self._offsets[video]) + p) is False:
                continue
            image = self._load(video, p)
            if self._is_usable(video, p, image):
                return p, image
        return target, target_image

    # ------------------------------------------------------------------ crops
    def _box(self, size: tuple[int, int], rng: np.random.Generator) -> Box:
        src_w, src_h = size
        if self.crop == "random_resized":
            return _random_resized_box(src_w, src_h, self.width, self.height, self.crop_scale, rng)
        left, top, right, bottom = _center_box(src_w, src_h, self.width, self.height)
        if self.crop == "center":
            return left, top, right, bottom
        scale = math.sqrt(rng.uniform(*self.crop_scale))
        w, h = (right - left) * scale, (bottom - top) * scale
        x, y = rng.uniform(0.0, src_w - w), rng.uniform(0.0, src_h - h)
        return x, y, x + w, y + h

    def _render(self, image: Image.Image, box: Box) -> Image.Image:
        return _crop_resize(image, box, self.width, self.height)

    # ------------------------------------------------------------------ items
    def __getitem__(self, index: int) -> dict:
        index = int(index)
        video, pos = self.locate(index)
        rng = self._generator(index)
        folder = self.videos[video]

        target, target_image = self._target(video, pos)
        ref, ref_image = self._reference(video, target, target_image, rng)
        pair: FramePair = folder.frames[target]
        pose_image = load_image(pair.pose)

        target_box = self._box(target_image.size, rng)
        ref_box = self._box(ref_image.size, rng)
        pose_box = target_box
        if pose_image.size != target_image.size:
            pose_box = _scale_box(target_box, target_image.size, pose_image.size)

        return {
            "reference": _to_tensor(self._render(ref_image, ref_box), signed=True),
            "image": _to_tensor(self._render(target_image, target_box), signed=True),
            "pose": _to_tensor(self._render(pose_image, pose_box), signed=False),
            "seed": self.sample_seed(index),
            "index": index,
            "video": folder.name,
            "reference_frame": folder.frames[ref].name,
            "target_frame": pair.name,
        }
