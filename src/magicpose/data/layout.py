"""The TikTok dataset layout used by MagicPose (and DisCo):

    <root>/<split>_set/<video>/<frame>.{png,jpg}
    <root>/pose_map_<split>_set/<video>/<frame>.{png,jpg}

Frames and pose maps are matched by file stem, never by position, so a frame dropped from one
folder cannot silently shift every pose after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from magicpose.errors import InputError
from magicpose.files import check_regular_file
from magicpose.pose.sequence import natural_sort_key

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


@dataclass(frozen=True)
class FramePair:
    name: str
    image: Path
    pose: Path


@dataclass(frozen=True)
class VideoFolder:
    name: str
    image_dir: Path
    pose_dir: Path
    frames: list[FramePair]


def _images_by_stem(folder: Path) -> dict[str, Path]:
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    for p in entries:  # a pipe or device named like a frame would block the reader: named, not skipped
        if p.suffix.lower() in IMAGE_SUFFIXES:
            check_regular_file(p, "frame", "replace it with an image file")
    files = [p for p in entries if p.is_file()]
    by_stem: dict[str, Path] = {}
    for p in sorted(files):
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if p.stem in by_stem:  # which one would win depends on the file system's listing order
            raise InputError(
                f"folder '{folder}' holds two images named '{p.stem}' ({by_stem[p.stem].name} and "
                f"{p.name}): frames are matched by name, keep only one"
            )
        by_stem[p.stem] = p
    return by_stem


def _pair_frames(image_dir: Path, pose_dir: Path) -> list[FramePair]:
    images, poses = _images_by_stem(image_dir), _images_by_stem(pose_dir)
    if not images:
        raise InputError(f"video folder '{image_dir}' holds no images: remove it or add its frames")
    unmatched = sorted(set(images) ^ set(poses), key=natural_sort_key)
    if unmatched:
        shown = ", ".join(unmatched[:5]) + (" ..." if len(unmatched) > 5 else "")
        raise InputError(
            f"frames and pose maps of '{image_dir.name}' do not match by name ({len(unmatched)} "
            f"unmatched: {shown}): every frame in '{image_dir}' needs a pose map of the same name "
            f"in '{pose_dir}'"
        )
    return [FramePair(stem, images[stem], poses[stem]) for stem in sorted(images, key=natural_sort_key)]


def list_videos(root: str | Path, split: str) -> list[VideoFolder]:
    """Every video of ``split`` under ``root`` with its frames paired to pose maps by name."""
    root = Path(root)
    image_root, pose_root = root / f"{split}_set", root / f"pose_map_{split}_set"
    for folder in (image_root, pose_root):
        if not folder.is_dir():
            raise InputError(
                f"dataset folder '{folder}' does not exist: the layout is <root>/{split}_set/<video>/ "
                f"with pose maps in <root>/pose_map_{split}_set/<video>/"
            )
    names = sorted(
        (p.name for p in image_root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=natural_sort_key,
    )
    if not names:
        raise InputError(
            f"dataset folder '{image_root}' holds no video folders: put one folder of frames per video"
        )
    videos = []
    for name in names:
        pose_dir = pose_root / name
        if not pose_dir.is_dir():
            raise InputError(f"video '{name}' has no pose folder '{pose_dir}': render its pose maps there")
        videos.append(
            VideoFolder(name, image_root / name, pose_dir, _pair_frames(image_root / name, pose_dir))
        )
    return videos
