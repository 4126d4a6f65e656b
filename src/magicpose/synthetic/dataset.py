"""Synthetic dancers: a small, honest world to learn and measure pose retargeting in.

Procedurally drawn people (:class:`Identity`) perform procedural dances (:class:`Motion`); every
frame is rendered together with its exact OpenPose keypoints and pose map, in the TikTok layout the
training code reads (:mod:`magicpose.data.layout`). Because any identity can be rendered in any
motion, the ground truth of a retargeting result is always available.

Retargeting ground truth
------------------------
"Identity A performing motion M" is ``pose_sequence(A, M, n, size)``: the motion's joint angles,
turn, steps, camera and face applied to A's own body proportions. A model is driven by the pose
maps of those keypoints (``draw_pose``) and compared with
``render_ground_truth(A, pose_sequence(A, M, n, size), size)``. (Keypoints of another identity B
are not converted to A's skeleton; there is no ``retarget_pose``: the motion, not B's keypoints, is
what is transferred.)

Modules: :mod:`.identity` (who), :mod:`.motion` (how they move, keypoints), :mod:`.render` (drawing), this
one (sequences, the dataset writer and its CLI hooks).

Dataset (``make_synthetic``)::

    <out>/train_set/vid_0000/0000.png                    frames
    <out>/pose_map_train_set/vid_0000/0000.png           draw_pose of the exact keypoints
    <out>/openpose_json_train_set/vid_0000/0000_keypoints.json
    ... the same for test ...
    <out>/meta.json                                      identity/motion id per video, version, seed, size

Test identities and motions are drawn from id ranges disjoint from the training ones
(:data:`ID_RANGES`), for every seed, so held-out people and dances never appear in training.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from magicpose.errors import InputError
from magicpose.files import check_replaceable, check_writable_folder, parents_removed_on_error
from magicpose.pose.openpose_json import write_openpose_json
from magicpose.pose.render import draw_pose
from magicpose.pose.schema import FramePose, PersonPose
from magicpose.synthetic.identity import Identity
from magicpose.synthetic.motion import FPS, Motion
from magicpose.synthetic.render import render_ground_truth, render_person

__all__ = [
    "GENERATOR",
    "GENERATOR_VERSION",
    "ID_RANGES",
    "make_synthetic",
    "pose_sequence",
    "split_ids",
    "synthesize_video",
]

GENERATOR = "magicpose.synthetic"
GENERATOR_VERSION = 1  # bump whenever the same ids would draw different pixels or keypoints
SPLITS = ("train", "test")
# Identity ids and motion ids of each split come from these half-open ranges, whatever the seed.
ID_RANGES: dict[str, tuple[int, int]] = {"train": (0, 1_000_000_000), "test": (1_000_000_000, 2_000_000_000)}
MIN_SIZE, MAX_SIZE = 32, 2048
MAX_VIDEOS, MAX_FRAMES = (
    100_000,
    100_000,
)  # per split, per video: beyond them a run would not finish (or fit a disk)
_PNG = {"format": "PNG", "compress_level": 6, "optimize": False}


def pose_sequence(
    identity: Identity, motion: Motion, num_frames: int, size: int, fps: float = FPS, start: float = 0.0
) -> list[PersonPose]:
    """Keypoints of ``identity`` performing ``motion``: frame k at t = start + k / fps, on size x size."""
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    return [motion.keypoints(identity, start + k / fps, size) for k in range(num_frames)]


def synthesize_video(
    identity: Identity, motion: Motion, num_frames: int, size: int, fps: float = FPS, start: float = 0.0
) -> tuple[list[np.ndarray], list[PersonPose]]:
    """Frames and keypoints of ``identity`` performing ``motion``."""
    poses = pose_sequence(identity, motion, num_frames, size, fps, start)
    return render_ground_truth(identity, poses, size), poses


def split_ids(seed: int, split: str, count: int) -> list[tuple[int, int]]:
    """``count`` distinct (identity id, motion id) pairs for ``split``, from its :data:`ID_RANGES`.

    Each split has its own random stream, so a split's videos do not depend on the other's count.
    """
    if split not in ID_RANGES:
        raise ValueError(f"split must be one of {sorted(ID_RANGES)}, got {split!r}")
    low, high = ID_RANGES[split]
    rng = np.random.default_rng([int(seed), SPLITS.index(split)])
    pairs: list[tuple[int, int]] = []
    used_identities: set[int] = set()
    used_motions: set[int] = set()
    while len(pairs) < count:
        i, m = (int(x) for x in rng.integers(low, high, size=2))
        if i in used_identities or m in used_motions:
            continue
        used_identities.add(i)
        used_motions.add(m)
        pairs.append((i, m))
    return pairs


def _check_count(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise InputError(f"{name} must be at most {maximum:,}, got {value:,}")
    return int(value)


def _save_png(array: np.ndarray, path: Path) -> None:
    Image.fromarray(array).save(path, **_PNG)


def make_synthetic(
    out_dir: str | os.PathLike,
    num_train_videos: int = 200,
    num_test_videos: int = 20,
    frames_per_video: int = 24,
    size: int = 128,
    seed: int = 0,
    progress: bool = True,
    identity: int | None = None,
) -> Path:
    """Write a synthetic TikTok-layout dataset to ``out_dir`` and return its path.

    ``identity`` (an identity id) makes a one-person dataset, as a person-specific generator such as
    Everybody Dance Now trains on: every video shows that person, performing the split's motions (train
    and test motions stay disjoint).

    Same arguments, byte-identical files. The dataset appears at once when complete: it is written to a
    hidden sibling folder and renamed (an earlier dataset written by this function at ``out_dir`` is replaced;
    a folder holding anything else, such as a video added to that dataset since, is refused). Raises
    :class:`InputError` for bad arguments.
    """
    from tqdm.auto import tqdm

    from magicpose.video import atomic_outputs

    num_train_videos = _check_count("the number of train videos", num_train_videos, 0, MAX_VIDEOS)
    num_test_videos = _check_count("the number of test videos", num_test_videos, 0, MAX_VIDEOS)
    frames_per_video = _check_count("frames per video", frames_per_video, 1, MAX_FRAMES)
    size = _check_count("the frame size", size, MIN_SIZE)
    if size > MAX_SIZE:
        raise InputError(f"the frame size must be at most {MAX_SIZE}, got {size}")
    seed = _check_count("the seed", seed, 0)
    if num_train_videos + num_test_videos == 0:
        raise InputError("nothing to write: ask for at least one train or test video")
    out = Path(out_dir)
    check_replaceable(
        out, "--output", kind="dataset"
    )  # only an earlier dataset of make-synthetic's, with nothing added to it
    check_writable_folder(out, "--output")

    counts = {"train": num_train_videos, "test": num_test_videos}
    if identity is not None:
        identity = _check_count("the identity id", identity, 0)
    plan = {
        split: [
            (f"vid_{k:04d}", i if identity is None else identity, m)
            for k, (i, m) in enumerate(split_ids(seed, split, n))
        ]
        for split, n in counts.items()
        if n > 0
    }
    meta = {
        "generator": GENERATOR,
        "version": GENERATOR_VERSION,
        "seed": seed,
        "single_identity": identity,
        "size": size,
        "frames_per_video": frames_per_video,
        "fps": FPS,
        "id_ranges": {split: list(ID_RANGES[split]) for split in plan},
        "splits": {
            split: {name: {"identity": i, "motion": m} for name, i, m in videos}
            for split, videos in plan.items()
        },
    }
    total = sum(len(v) for v in plan.values()) * frames_per_video
    with (
        parents_removed_on_error(out.parent),
        atomic_outputs() as tmp,
        tqdm(total=total, desc="make-synthetic", unit="frame", disable=not progress) as bar,
    ):
        root = tmp(out, kind="dataset")
        root.mkdir()
        for split, videos in plan.items():
            for name, identity_id, motion_id in videos:
                frame_dir = root / f"{split}_set" / name
                pose_dir = root / f"pose_map_{split}_set" / name
                json_dir = root / f"openpose_json_{split}_set" / name
                for folder in (frame_dir, pose_dir, json_dir):
                    folder.mkdir(parents=True)
                identity, motion = Identity.from_id(identity_id), Motion.from_id(motion_id)
                for k, pose in enumerate(pose_sequence(identity, motion, frames_per_video, size)):
                    frame = FramePose(size, size, [pose])
                    _save_png(render_person(identity, pose, size), frame_dir / f"{k:04d}.png")
                    _save_png(draw_pose(frame), pose_dir / f"{k:04d}.png")
                    write_openpose_json(frame, json_dir / f"{k:04d}_keypoints.json")
                    bar.update(1)
        (root / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out
