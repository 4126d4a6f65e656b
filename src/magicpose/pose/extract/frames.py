"""Run a pose extractor over a video or a folder of frames: one :class:`FramePose` per kept frame, the people
of each reduced to the tracked dancer (or all of them), and the folder of OpenPose JSON and pose maps that
``magicpose infer --poses`` reads back."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from magicpose.errors import InputError
from magicpose.pose.schema import FramePose, PersonPose

from .base import PoseExtractor
from .people import track_main_person

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".gif")
PERSON_MODES = ("one", "all")


@dataclass
class ExtractedPoses:
    """The kept frames' poses, their names (source frame numbers or file stems), and the frame rate after
    the stride (None for a folder of images)."""

    frames: list[FramePose]
    names: list[str]
    fps: float | None


def _frame_source(source: Path) -> tuple[Iterator[tuple[str, np.ndarray]], int | None, float | None]:
    """(name, RGB frame) pairs, the frame count when known, and the frame rate (None for images): from a video, a
    folder of frames or a single image."""
    from magicpose.image_utils import load_image
    from magicpose.pose.sequence import IMAGE_EXTENSIONS, SYSTEM_FILES, natural_sort_key
    from magicpose.video import read_video, video_info

    if not source.exists():
        raise InputError(
            f"driving source '{source}' does not exist: pass a video ({', '.join(VIDEO_EXTENSIONS)}) "
            "or a folder of frames"
        )
    if source.is_dir():
        files = sorted(
            (
                f
                for f in source.iterdir()
                if f.suffix.lower() in IMAGE_EXTENSIONS
                and not f.name.startswith(".")
                and f.name.lower() not in SYSTEM_FILES
            ),
            key=lambda f: natural_sort_key(f.name),
        )
        if not files:
            raise InputError(
                f"frame folder '{source}' holds no .png/.jpg frames: extract the video's frames "
                "into it, or pass the video itself"
            )
        return ((f.stem, np.asarray(load_image(f, "frame"))) for f in files), len(files), None
    if source.suffix.lower() in IMAGE_EXTENSIONS:  # one photo: a one-frame source (e.g. a reference's pose)
        image = np.asarray(load_image(source, "frame"))
        return iter([(source.stem, image)]), 1, None
    info = video_info(source)  # one InputError line for a missing, unreadable or stream-less file

    def numbered() -> Iterator[tuple[str, np.ndarray]]:
        try:
            yield from ((f"{i:06d}", frame) for i, frame in enumerate(read_video(source)))
        except InputError:
            raise
        except Exception as err:  # the decoder failing part-way: a damaged file
            reason = " ".join(str(err).split()) or type(err).__name__
            raise InputError(f"cannot read video '{source}' ({reason}): re-encode it as H.264 .mp4") from None

    return numbered(), info["frames"], info["fps"] or None


def kept_frames(
    source: str | os.PathLike, stride: int = 1, max_frames: int | None = None
) -> tuple[Iterator[tuple[str, np.ndarray]], int | None, float | None]:
    """Every ``stride``-th frame of ``source`` (at most ``max_frames``) as (name, RGB frame), read one at a time;
    their count when known, and the frame rate after the stride (None for a folder of images)."""
    frames, count, fps = _frame_source(Path(source))
    total = None if count is None else min(-(-count // stride), max_frames or count)

    def kept() -> Iterator[tuple[str, np.ndarray]]:
        taken = 0
        for index, (name, frame) in enumerate(frames):
            if index % stride:
                continue
            if max_frames is not None and taken >= max_frames:
                return
            if frame.ndim != 3 or frame.shape[2] != 3:
                raise InputError(f"frame '{name}' of '{source}' is not an RGB image")
            taken += 1
            yield name, frame

    return kept(), total, None if fps is None else fps / stride


def check_frame_source(source: str | os.PathLike) -> None:
    """Refuse a driving source that cannot be read (missing, not a video, an empty frame folder, a pipe), before
    the pose extractor is loaded: the user learns what is wrong with the input first."""
    _frame_source(Path(source))


def extract_poses(
    source: str | os.PathLike,
    extractor: PoseExtractor | Callable[[np.ndarray], list[PersonPose]],
    *,
    person: str = "one",
    stride: int = 1,
    max_frames: int | None = None,
    progress: bool = True,
) -> ExtractedPoses:
    """Poses of every ``stride``-th frame of ``source`` (at most ``max_frames`` of them).

    ``person="one"`` keeps the tracked dancer (:func:`track_main_person`), ``"all"`` everyone. Raises
    :class:`InputError` (one line) for an unreadable source, or when nobody is seen in any kept frame.
    """
    from tqdm.auto import tqdm

    if person not in PERSON_MODES:
        raise InputError(f"--person must be one of {', '.join(PERSON_MODES)}, got '{person}'")
    if stride < 1 or (max_frames is not None and max_frames < 1):
        raise InputError("--stride and --max-frames must be at least 1")
    source = Path(source)
    frames, total, fps = kept_frames(source, stride, max_frames)
    names: list[str] = []
    found: list[tuple[int, int, list[PersonPose]]] = []
    with tqdm(total=total, desc="extract poses", unit="frame", disable=not progress) as bar:
        for name, frame in frames:
            found.append((frame.shape[1], frame.shape[0], list(extractor(frame))))
            names.append(name)
            bar.update(1)
    if not found:
        raise InputError(f"'{source}' has no frames to read")
    if not any(people for _, _, people in found):
        raise InputError(
            f"no person was found in any of the {len(found)} frames of '{source}': use a video with "
            "one dancer in full view"
        )
    if person == "one":
        chosen = track_main_person(people for _, _, people in found)
        poses = [
            FramePose(w, h, [p] if p is not None else []) for (w, h, _), p in zip(found, chosen, strict=True)
        ]
    else:
        poses = [FramePose(w, h, people) for w, h, people in found]
    return ExtractedPoses(poses, names, fps)


def write_pose_folder(frames: list[FramePose], names: list[str], folder: str | os.PathLike) -> Path:
    """``folder/pose_json/<name>_keypoints.json`` and ``folder/poses/<name>.png`` (the rendered maps), written
    under a temporary name and committed at the end (``magicpose.files.atomic_path``): an earlier pose folder is
    replaced, a folder holding anything else is refused."""
    from PIL import Image

    from magicpose.files import atomic_path
    from magicpose.pose.openpose_json import write_openpose_json
    from magicpose.pose.render import draw_pose

    folder = Path(folder)
    with atomic_path(folder, kind="poses") as tmp:
        (tmp / "pose_json").mkdir(parents=True)
        (tmp / "poses").mkdir()
        for name, frame in zip(names, frames, strict=True):
            write_openpose_json(frame, tmp / "pose_json" / f"{name}_keypoints.json")
            Image.fromarray(draw_pose(frame)).save(tmp / "poses" / f"{name}.png", compress_level=1)
    return folder
