"""Turn a user's video and its OpenPose JSON output into one TikTok-layout training video.

OpenPose run on a video (``--write_json DIR``) writes one ``<name>_<12-digit index>_keypoints.json``
per frame. ``add_video`` pairs the i-th decoded frame with the i-th JSON file (natural sort) and writes::

    <root>/<split>_set/<name>/<index:06d>.png                                 the video frame
    <root>/pose_map_<split>_set/<name>/<index:06d>.png                        draw_pose of its keypoints
    <root>/openpose_json_<split>_set/<name>/<index:06d>_keypoints.json        its OpenPose JSON, as given

which is what `magicpose.data.layout.list_videos`, `PairDataset` and (with the keypoints, to find the head
for the pose2vid face stage) `ConsecutivePairDataset` read. ``index`` is the original frame number, so
frames kept with ``every > 1`` still name the moment of the video they come from. The JSON files are
copied byte for byte, renamed after their frames.

All or nothing: the three folders are written to hidden temporary siblings and renamed into place together
only when every frame succeeded (`magicpose.video.atomic_outputs`); on any error the temporaries and
any folder this call created are removed, so a failed call leaves the dataset exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from magicpose.errors import InputError
from magicpose.files import check_replaceable, make_parents, remove_if_empty
from magicpose.pose.openpose_json import read_openpose_json
from magicpose.pose.render import draw_pose
from magicpose.pose.sequence import natural_sort_key

__all__ = ["add_video"]

_JSON_FIX = "run OpenPose with --write_json on this very video (every frame, no --frame_step)"


def _check_component(what: str, value: str) -> str:
    """A single visible path component: anything else would escape the layout or be ignored by it."""
    value = str(value)
    if not value or value.startswith(".") or Path(value).name != value:
        raise InputError(
            f"{what} {value!r} is not usable: pass a plain folder name (no '/', not starting with '.')"
        )
    return value


def _check_positive(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InputError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _list_json(folder: Path) -> list[Path]:
    """The visible ``*.json`` files of the OpenPose output folder, in natural (frame) order."""
    if not folder.is_dir():
        state = "is a file, not a folder" if folder.exists() else "does not exist"
        raise InputError(f"OpenPose JSON folder '{folder}' {state}: {_JSON_FIX} and pass that folder")
    try:
        files = [p for p in folder.glob("*.json") if p.is_file() and not p.name.startswith(".")]
    except OSError as exc:
        raise InputError(
            f"OpenPose JSON folder '{folder}' cannot be listed ({exc}): check its permissions"
        ) from None
    if not files:
        raise InputError(f"OpenPose JSON folder '{folder}' holds no .json files: {_JSON_FIX}")
    return sorted(files, key=lambda p: natural_sort_key(p.name))


def _decode(video: Path) -> Iterator[np.ndarray]:
    """`read_video`, with a decode error part-way through reported as an InputError (opens at once)."""
    import av

    from magicpose.video import read_video

    frames = read_video(video)

    def gen() -> Iterator[np.ndarray]:
        try:
            while True:
                try:
                    frame = next(frames)
                except StopIteration:
                    return
                except (av.FFmpegError, OSError) as exc:
                    raise InputError(
                        f"cannot decode video '{video}' ({exc}): re-encode it as H.264 mp4"
                    ) from None
                yield frame
        finally:
            frames.close()

    return gen()


def _save_png(array: np.ndarray, path: Path) -> None:
    # compress_level 1 as FrameFolderWriter: lossless, and several times faster than the default
    Image.fromarray(array).save(path, compress_level=1)


def add_video(
    video: str | os.PathLike[str],
    pose_json: str | os.PathLike[str],
    root: str | os.PathLike[str],
    *,
    name: str | None = None,
    split: str = "train",
    every: int = 1,
    max_frames: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Add ``video`` with its OpenPose JSON folder to the TikTok-layout dataset at ``root``.

    Keeps frames 0, every, 2*every, ... (at most ``max_frames``), named by their original index, with
    their pose maps and their OpenPose JSON files.
    The video must have exactly one JSON file per frame (checked over the whole video). Returns the
    frame folder ``<root>/<split>_set/<name>``. Raises :class:`InputError` (one line naming the file
    and the fix) for a missing/unreadable video, a frame/JSON count mismatch, a malformed JSON, a pose
    canvas that is not the video's size, or an existing ``name`` without ``overwrite``; nothing is
    written then.
    """
    from tqdm.auto import tqdm

    from magicpose.video import atomic_outputs

    video, pose_json, root = Path(video), Path(pose_json), Path(root)
    name = _check_component("video name", video.stem if name is None else name)
    split = _check_component("split", split)
    every = _check_positive("every", every)
    if max_frames is not None:
        max_frames = _check_positive("max_frames", max_frames)
    if root.exists() and not root.is_dir():
        raise InputError(f"dataset root '{root}' is a file: pass a folder (it is created if missing)")
    frame_dir, pose_dir = root / f"{split}_set" / name, root / f"pose_map_{split}_set" / name
    json_dir = root / f"openpose_json_{split}_set" / name
    for folder in (frame_dir, pose_dir, json_dir):
        if folder.exists() or folder.is_symlink():
            if not overwrite:
                raise InputError(
                    f"video '{name}' already exists at '{folder}': pass --overwrite to replace it, "
                    "or choose another --name"
                )
            if not folder.is_dir() or folder.is_symlink():
                raise InputError(f"'{folder}' is not a video folder: move it away, then add the video again")
        # --overwrite replaces an earlier video of magicpose's only: never the inputs, never a user's files
        check_replaceable(folder, "--name", inputs=[video, pose_json], nested=True, kind=("video", "dataset"))
    jsons = _list_json(pose_json)
    decoder = _decode(video)  # opens the file now: a missing or unreadable video fails before any write

    created: list[Path] = []
    written = 0
    try:
        with contextlib.closing(decoder):
            created = make_parents(frame_dir.parent, pose_dir.parent, json_dir.parent)
            with (
                atomic_outputs(nested=True) as tmp,
                tqdm(total=len(jsons), desc="add-video", unit="frame", disable=None) as bar,
            ):
                frame_tmp, pose_tmp, json_tmp = (
                    tmp(folder, kind=("video", "dataset")) for folder in (frame_dir, pose_dir, json_dir)
                )
                for folder in (frame_tmp, pose_tmp, json_tmp):
                    folder.mkdir()
                count = 0
                for index, frame in enumerate(decoder):
                    count += 1
                    bar.update(1)
                    if (
                        index >= len(jsons)
                        or index % every
                        or (max_frames is not None and written >= max_frames)
                    ):
                        continue  # still decoded: the count check covers the whole video
                    height, width = frame.shape[:2]
                    pose = read_openpose_json(jsons[index], width=width, height=height)
                    if (pose.width, pose.height) != (width, height):
                        raise InputError(
                            f"OpenPose JSON '{jsons[index]}' is on a {pose.width}x{pose.height} "
                            f"canvas but the frames of '{video}' are {width}x{height}: {_JSON_FIX}"
                        )
                    _save_png(frame, frame_tmp / f"{index:06d}.png")
                    _save_png(draw_pose(pose), pose_tmp / f"{index:06d}.png")
                    shutil.copyfile(jsons[index], json_tmp / f"{index:06d}_keypoints.json")
                    written += 1
                if count != len(jsons):
                    raise InputError(
                        f"video '{video}' has {count} frames but '{pose_json}' holds {len(jsons)} "
                        f"OpenPose JSON files: they must match one to one; {_JSON_FIX}"
                    )
    except BaseException as exc:
        remove_if_empty(created)  # only what this call created, and only if still empty
        if isinstance(exc, OSError):
            raise InputError(
                f"cannot write video '{name}' under '{root}' ({exc}): check the free space and "
                "permissions there"
            ) from None
        raise
    return frame_dir
