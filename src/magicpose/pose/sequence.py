"""Load a driving pose sequence lazily from a folder of pose maps, OpenPose JSON files, or a .npy array."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from magicpose.files import RECORD
from magicpose.image_utils import IMAGE_READ_ERRORS, decode_rgb

from .openpose_json import read_openpose_json
from .render import draw_pose
from .schema import NUM_BODY, NUM_KEYPOINTS, FramePose, PoseInputError, check_pose_file

__all__ = ["IMAGE_EXTENSIONS", "PoseSequence", "load_pose_sequence", "natural_sort_key"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
# files operating systems drop into folders (besides hidden ``.*`` files such as .DS_Store and ._frame.png)
SYSTEM_FILES = frozenset({"thumbs.db", "ehthumbs.db", "ehthumbs_vista.db", "desktop.ini", "icon\r"})
_JSON_EXTENSION = ".json"
_NOT_A_FILE_FIX = "pass a regular file, or a folder of pose-map images or OpenPose JSON files"
_NPY_HINT = (
    "save uint8 (N, H, W, 3) RGB pose maps, or float (N, K, 3) / (N, P, K, 3) keypoints with K = 18 or 130 "
    "in pixel coordinates, with numpy.save"
)


def natural_sort_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: 'frame2' before 'frame10'."""
    # re.split with a capture group alternates text (even) and digits (odd), so same-position
    # items always have the same type; the original name breaks ties such as 'a01' vs 'a1'.
    parts = re.split(r"(\d+)", name)
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), name


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class PoseSequence:
    """A lazy sequence of uint8 (H, W, 3) RGB pose maps; frames are read or rendered on ``seq[i]``.

    Attributes: ``source`` (the path loaded), ``names`` (one name per frame: file stems, or zero-padded
    indices for a .npy), ``kind`` ('images', 'json', 'npy_maps' or 'npy_keypoints'), ``ignored`` (hidden
    and system files of the folder that were skipped).
    """

    def __init__(
        self,
        source: Path,
        kind: str,
        names: list[str],
        load_frame: Callable[[int], np.ndarray],
        load_pose: Callable[[int], FramePose] | None = None,
    ) -> None:
        self.source = source
        self.kind = kind
        self.names = names
        self._load_frame = load_frame
        self._load_pose = load_pose
        self.ignored: list[str] = []

    def __len__(self) -> int:
        return len(self.names)

    def _index(self, i: int) -> int:
        if not isinstance(i, int | np.integer) or isinstance(i, bool):
            raise TypeError(f"PoseSequence indices must be integers, got {type(i).__name__}")
        n = len(self.names)
        j = int(i) + n if i < 0 else int(i)
        if not 0 <= j < n:
            raise IndexError(f"pose frame index {i} out of range for {n} frames of '{self.source}'")
        return j

    def __getitem__(self, i: int) -> np.ndarray:
        """Frame ``i`` as a fresh uint8 (H, W, 3) RGB array."""
        return self._load_frame(self._index(i))

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self._load_frame(i)

    @property
    def has_keypoints(self) -> bool:
        """True when frames come from keypoints (JSON or keypoint .npy), so :meth:`pose` works."""
        return self._load_pose is not None

    def pose(self, i: int) -> FramePose:
        """Keypoints of frame ``i``; raises TypeError for sources that are already pose-map images."""
        if self._load_pose is None:
            raise TypeError(f"pose source '{self.source}' holds pose-map images, not keypoints")
        return self._load_pose(self._index(i))

    def __repr__(self) -> str:
        return f"PoseSequence(source='{self.source}', kind='{self.kind}', frames={len(self)})"

    @classmethod
    def from_poses(
        cls, frames: list[FramePose], names: list[str] | None = None, source: str | os.PathLike = "<poses>"
    ) -> PoseSequence:
        """Keypoints in memory (e.g. just extracted and aligned), rendered with :func:`draw_pose` on access."""
        frames = list(frames)
        names = names if names is not None else [f"{i:06d}" for i in range(len(frames))]
        return cls(Path(source), "keypoints", names, lambda i: draw_pose(frames[i]), lambda i: frames[i])


def _read_image(path: Path) -> np.ndarray:
    check_pose_file(path, "pose image", _NOT_A_FILE_FIX)
    try:
        rgb = decode_rgb(path)  # 16-bit maps are scaled to 8 bit, not saturated
    except IMAGE_READ_ERRORS as exc:
        raise PoseInputError(
            f"pose image '{path}' cannot be read ({_one_line(exc)}): re-export it as PNG/JPEG or remove it"
        ) from None
    return np.array(rgb, dtype=np.uint8)


def _image_sequence(source: Path, files: list[Path]) -> PoseSequence:
    return PoseSequence(source, "images", [f.stem for f in files], lambda i: _read_image(files[i]))


def _json_sequence(source: Path, files: list[Path], width: int | None, height: int | None) -> PoseSequence:
    def load_pose(i: int) -> FramePose:
        return read_openpose_json(files[i], width, height)

    return PoseSequence(source, "json", [f.stem for f in files], lambda i: draw_pose(load_pose(i)), load_pose)


def _folder_sequence(folder: Path, width: int | None, height: int | None) -> PoseSequence:
    try:
        listed = list(folder.iterdir())
    except OSError as exc:
        raise PoseInputError(
            f"pose folder '{folder}' cannot be listed ({_one_line(exc)}): check its permissions"
        ) from None
    listed = [e for e in listed if e.name != RECORD]  # magicpose's own record of an output folder: not a pose
    ignored = sorted(e.name for e in listed if e.name.startswith(".") or e.name.lower() in SYSTEM_FILES)
    visible = [e for e in listed if e.name not in ignored]
    entries = sorted(visible, key=lambda e: natural_sort_key(e.name))
    if not entries:
        raise PoseInputError(
            f"pose folder '{folder}' is empty: put pose-map images (.png/.jpg) or OpenPose *_keypoints.json "
            "files in it"
        )
    images: list[Path] = []
    jsons: list[Path] = []
    for entry in entries:
        check_pose_file(entry, "pose folder entry", "remove it from the folder")
        suffix = entry.suffix.lower()
        if entry.is_file() and suffix in IMAGE_EXTENSIONS:
            images.append(entry)
        elif entry.is_file() and suffix == _JSON_EXTENSION:
            jsons.append(entry)
        elif entry.is_symlink() and not entry.exists():  # dangling, or a loop
            raise PoseInputError(
                f"pose folder '{folder}' contains '{entry.name}', a link that leads to no file: remove it or point "
                "it at a pose file"
            )
        else:
            what = "folder" if entry.is_dir() else "file"
            raise PoseInputError(
                f"pose folder '{folder}' contains '{entry.name}', a {what} that is neither a pose-map image "
                f"({'/'.join(IMAGE_EXTENSIONS)}) nor OpenPose .json: remove it or move it out of the folder"
            )
    if images and jsons:
        raise PoseInputError(
            f"pose folder '{folder}' mixes pose-map images ('{images[0].name}') and OpenPose JSON files "
            f"('{jsons[0].name}'): keep only one kind in the folder"
        )
    sequence = _image_sequence(folder, images) if images else _json_sequence(folder, jsons, width, height)
    sequence.ignored = ignored
    return sequence


def _check_finite(path: Path, arr: np.ndarray, chunk: int = 256) -> None:
    """Refuse a keypoint array holding nan or inf, naming the first such frame (read in chunks: memory-mapped)."""
    for start in range(0, arr.shape[0], chunk):
        block = np.asarray(arr[start : start + chunk])
        finite = np.isfinite(block).reshape(len(block), -1).all(axis=1)
        if not finite.all():
            frame = int(np.argmin(finite))
            value = block[frame][~np.isfinite(block[frame])][0]
            raise PoseInputError(
                f"pose array '{path}' holds {value} in frame {start + frame}, not a finite coordinate or score: "
                "set each missing point to (0, 0, 0) (score 0 marks it missing) and save the array again"
            )


def _npy_sequence(path: Path, width: int | None, height: int | None) -> PoseSequence:
    check_pose_file(path, "pose array", _NOT_A_FILE_FIX)
    try:
        # Memory-mapped so a long sequence is not read into memory up front.
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise PoseInputError(f"pose array '{path}' cannot be read ({_one_line(exc)}): {_NPY_HINT}") from None
    if not isinstance(arr, np.ndarray):
        raise PoseInputError(f"pose array '{path}' is not a single .npy array: {_NPY_HINT}")
    bad = PoseInputError(f"pose array '{path}' has shape {arr.shape} and dtype {arr.dtype}: {_NPY_HINT}")
    if arr.ndim < 3 or arr.shape[-1] != 3 or 0 in arr.shape:
        raise bad
    names = [f"{i:06d}" for i in range(arr.shape[0])]
    if arr.dtype == np.uint8 and arr.ndim == 4:
        return PoseSequence(path, "npy_maps", names, lambda i: np.array(arr[i]))
    if (
        np.issubdtype(arr.dtype, np.floating)
        and arr.ndim in (3, 4)
        and arr.shape[-2] in (NUM_BODY, NUM_KEYPOINTS)
    ):
        if width is None or height is None:
            raise PoseInputError(
                f"pose array '{path}' holds keypoints in pixels but no canvas size was given: "
                "pass width=... and height=... to load_pose_sequence"
            )

        _check_finite(path, arr)

        def load_pose(i: int) -> FramePose:
            with np.errstate(over="ignore"):  # float64 points far off the canvas become inf: never drawn
                return FramePose.from_array(np.asarray(arr[i], dtype=np.float32), width, height)

        return PoseSequence(path, "npy_keypoints", names, lambda i: draw_pose(load_pose(i)), load_pose)
    raise bad


def load_pose_sequence(
    path: str | os.PathLike, width: int | None = None, height: int | None = None
) -> PoseSequence:
    """Open a pose sequence lazily; nothing is decoded until a frame is indexed.

    ``path`` may be a folder of pose-map images (.png/.jpg/.jpeg/.bmp/.webp, any size, returned as RGB),
    a folder of OpenPose JSON files (rendered with :func:`draw_pose`), a single such image or JSON file,
    or a .npy file of uint8 (N, H, W, 3) pose maps or float (N, K, 3) / (N, P, K, 3) pixel keypoints,
    K in {18, 130}. Folders are sorted naturally by file name; hidden and system files (Thumbs.db,
    desktop.ini) are ignored and listed in ``ignored``.
    ``width``/``height`` give the canvas of keypoint sources (JSON files without canvas_width/height
    fields, and keypoint arrays, where they are required). Raises :class:`PoseInputError`.
    """
    path = Path(path)
    for name, value in (("width", width), ("height", height)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0
        ):
            raise PoseInputError(
                f"load_pose_sequence({name}={value!r}) for '{path}': pass a positive integer"
            )
    width = None if width is None else int(width)
    height = None if height is None else int(height)
    if not path.exists():
        raise PoseInputError(
            f"pose source '{path}' does not exist: pass a folder of pose-map images or OpenPose JSON files, "
            "or a .npy file"
        )
    if path.is_dir():
        return _folder_sequence(path, width, height)
    check_pose_file(path, "pose source", _NOT_A_FILE_FIX)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _npy_sequence(path, width, height)
    if suffix in IMAGE_EXTENSIONS:
        return _image_sequence(path, [path])
    if suffix == _JSON_EXTENSION:
        return _json_sequence(path, [path], width, height)
    raise PoseInputError(
        f"pose source '{path}' has unsupported type '{path.suffix}': pass a folder of pose-map images or "
        "OpenPose JSON files, or a .npy file (extract video frames to a folder first)"
    )
