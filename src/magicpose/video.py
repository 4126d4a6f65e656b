"""Video and frame I/O: streaming, atomic writers, readers and preview images.

Atomicity design
----------------
Every writer produces its output under a temporary name in the *same folder* as the final path and commits it
with :func:`magicpose.files.commit` (fsync, atomic rename or folder exchange; an existing folder is replaced only
when it is an earlier output of the program's) on success; on failure the temporary is deleted, so a crash never
leaves a half-written output.

* Stand-alone use: ``VideoWriter(path)`` / ``FrameFolderWriter(folder)`` handle their own temporary
  (``atomic=True``, the default).
* Several outputs that must appear together: use ``atomic_outputs()``, which yields ``tmp(final)``
  returning a temporary path for ``final``. Pass that to the writers with ``atomic=False`` (they then
  write exactly where they are told) and every temporary is renamed when the block succeeds, or all
  are removed when it raises::

      with atomic_outputs() as tmp:
          with VideoWriter(tmp("out.mp4"), atomic=False) as video, \
               FrameFolderWriter(tmp("out_frames"), atomic=False) as frames:
              for frame in frames_iter:
                  video.write(frame)
                  frames.write(frame)
          write_preview_grid(tmp("out_preview.png"), rows)

Frames are uint8 RGB (H, W, 3) numpy arrays; PIL images are accepted wherever a frame is taken.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np
from PIL import Image

from .errors import InputError
from .files import (
    atomic_outputs,
    atomic_path,
    check_regular_file,
    commit,
    mark_text,
    remove_path,
    temp_sibling,
)

__all__ = [
    "FrameFolderWriter",
    "VideoWriter",
    "atomic_outputs",
    "make_preview_frame",
    "read_video",
    "save_marked_png",
    "temp_path_for",
    "video_info",
    "write_preview_grid",
]

PathLike = str | os.PathLike[str]
temp_path_for = temp_sibling  # the name earlier versions exported
Frame = np.ndarray | Image.Image


# --------------------------------------------------------------------------------------------------
# frames


def _as_frame(frame: Frame) -> np.ndarray:
    """Validate/convert to a contiguous uint8 (H, W, 3) array."""
    if isinstance(frame, Image.Image):
        frame = np.asarray(frame.convert("RGB"))
    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {arr.dtype} (convert floats with image_utils.to_uint8)")
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"frames must have shape (H, W, 3), got {arr.shape}")
    return np.ascontiguousarray(arr)


class _AtomicTarget:
    """Shared bookkeeping: where to write, and commit/cleanup on exit."""

    def __init__(self, path: PathLike, atomic: bool) -> None:
        self.path = Path(path)
        self.atomic = atomic
        self.work_path = temp_sibling(self.path) if atomic else self.path
        self.frames_written = 0
        self._closed = False
        self._size: tuple[int, int] | None = None  # (height, width) of the first frame

    def _check_size(self, arr: np.ndarray) -> None:
        if self._closed:
            raise ValueError(f"writer for '{self.path}' is already closed")
        size = (arr.shape[0], arr.shape[1])
        if self._size is None:
            self._size = size
        elif size != self._size:
            raise ValueError(
                f"frame {self.frames_written} is {size[1]}x{size[0]} but the first frame was "
                f"{self._size[1]}x{self._size[0]}: all frames must have the same size"
            )

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @contextlib.contextmanager
    def _aborting_on_error(self) -> Iterator[None]:
        """An error inside (Ctrl+C included) deletes the working output before it propagates."""
        try:
            yield
        except BaseException:
            self.abort()
            raise

    def close(self) -> None:
        """Finish the output and (if atomic) move it to `path`; zero frames is an error and leaves nothing."""
        if self._closed:
            return
        if self.frames_written == 0:
            self.abort()
            raise ValueError(f"no frames were written to '{self.path}'")
        with self._aborting_on_error():
            self._finish()
        self._closed = True

    def abort(self) -> None:
        """Stop writing and delete the working output."""
        self._closed = True
        self._release()
        remove_path(self.work_path)

    def _finish(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _release(self) -> None:
        """Let go of any open handle before the working output is deleted (none by default)."""


class VideoWriter(_AtomicTarget):
    """Stream frames into an H.264 (libx264, yuv420p) mp4 with PyAV, one frame at a time.

    The size comes from the first frame; odd widths/heights get one black column/row on the right/bottom
    because yuv420p needs even dimensions (no rescaling). With ``atomic=True`` the file appears at `path`
    only when the writer closes successfully; on error (or zero frames) nothing is left behind.
    """

    def __init__(
        self, path: PathLike, fps: float = 8, crf: int = 18, *, preset: str = "medium", atomic: bool = True
    ) -> None:
        super().__init__(path, atomic)
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = fps
        self.crf = crf
        self.preset = preset
        self._container: Any = None
        self._stream: Any = None

    def _open(self, height: int, width: int) -> None:
        # Opened lazily: the size is only known at the first frame, and no frames means no file.
        rate = Fraction(self.fps).limit_denominator(1001)
        self._container = av.open(os.fspath(self.work_path), mode="w", format="mp4")
        self._container.metadata["comment"] = mark_text()  # lets a later run tell its own earlier output
        with self._aborting_on_error():
            stream = self._container.add_stream("libx264", rate=rate)
            stream.width = width + width % 2
            stream.height = height + height % 2
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(self.crf), "preset": self.preset}
            stream.codec_context.time_base = 1 / rate
        self._stream = stream

    def write(self, frame: Frame) -> None:
        """Encode one uint8 RGB (H, W, 3) frame (or PIL image)."""
        arr = _as_frame(frame)
        self._check_size(arr)
        h, w = arr.shape[:2]
        if self._container is None:
            self._open(h, w)
        if h % 2 or w % 2:
            padded = np.zeros((h + h % 2, w + w % 2, 3), np.uint8)
            padded[:h, :w] = arr
            arr = padded
        vf = av.VideoFrame.from_ndarray(arr, format="rgb24")
        vf.pts = self.frames_written
        with self._aborting_on_error():
            for packet in self._stream.encode(vf):
                self._container.mux(packet)
        self.frames_written += 1

    def _finish(self) -> None:
        """Flush the encoder, finish the file and (if atomic) move it to `path`."""
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._container = None
        if self.atomic:
            commit(self.work_path, self.path)

    def _release(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None

    def __enter__(self) -> VideoWriter:
        return self


class FrameFolderWriter(_AtomicTarget):
    """Write numbered image files (``pattern.format(index)``, PNG by default) into a folder.

    With ``atomic=True`` frames go to a temporary sibling folder that replaces `folder` (including an
    existing one) only when the writer closes successfully; on error it is removed and any previous
    `folder` is left untouched. Zero frames is an error, as for VideoWriter.
    """

    def __init__(
        self, folder: PathLike, pattern: str = "{:06d}.png", *, atomic: bool = True, kind: str = "frames"
    ) -> None:
        super().__init__(folder, atomic)
        self.pattern = pattern
        self.kind = kind  # what the folder's record says it is (magicpose.files.KINDS)

    def write(self, frame: Frame, name: str | None = None) -> Path:
        """Save one uint8 RGB frame (or PIL image) as ``name`` (default: the pattern's next number); returns
        its final path."""
        arr = _as_frame(frame)
        self._check_size(arr)
        name = name or self.pattern.format(self.frames_written)
        with self._aborting_on_error():
            self.work_path.mkdir(parents=False, exist_ok=True)
            # compress_level 1: PNG stays lossless, and saving is several times faster than the default
            Image.fromarray(arr).save(self.work_path / name, compress_level=1)
        self.frames_written += 1
        return self.path / name

    def _finish(self) -> None:
        """(If atomic) move the folder into place."""
        if self.atomic:
            commit(self.work_path, self.path, kind=self.kind)

    def __enter__(self) -> FrameFolderWriter:
        return self


# --------------------------------------------------------------------------------------------------
# reading


def _open_input(path: PathLike) -> Any:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"video '{path}' does not exist: pass the path of an .mp4/.mov/.avi video")
    check_regular_file(path, "video", "pass the path of an .mp4/.mov/.avi video file")
    try:
        container = av.open(path, mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"cannot read video '{path}' ({exc}): re-encode it as H.264 mp4") from exc
    if not container.streams.video:
        container.close()
        raise InputError(f"'{path}' has no video stream: pass a video file")
    return container


def read_video(path: PathLike) -> Iterator[np.ndarray]:
    """Iterate over the frames of a video as uint8 RGB (H, W, 3) arrays, decoding one at a time.

    The file is opened immediately, so a missing/unreadable file raises InputError at call time
    rather than at the first ``next()``.
    """
    container = _open_input(path)

    def frames() -> Iterator[np.ndarray]:
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
        finally:
            container.close()

    return frames()


def video_info(path: PathLike) -> dict[str, Any]:
    """Return ``{"frames": int, "width": int, "height": int, "fps": float}`` for a video.

    The frame count comes from the container when it records one, otherwise by decoding the stream.
    """
    container = _open_input(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        n = int(stream.frames or 0)
        if n <= 0:
            n = sum(1 for _ in container.decode(stream))
        return {
            "frames": n,
            "width": int(stream.codec_context.width),
            "height": int(stream.codec_context.height),
            "fps": float(rate) if rate else 0.0,
        }
    finally:
        container.close()


# --------------------------------------------------------------------------------------------------
# previews

SEPARATOR_PX = 4


def _resize_to_height(arr: np.ndarray, height: int) -> np.ndarray:
    h, w = arr.shape[:2]
    if h == height:
        return arr
    new_w = max(1, round(w * height / h))
    return np.asarray(Image.fromarray(arr).resize((new_w, height), resample=Image.BILINEAR))


def make_preview_frame(reference: Frame, pose: Frame, output: Frame) -> np.ndarray:
    """Side-by-side ``reference | pose | output`` at the output's height, with 4 px black separators.

    Inputs are resized (bilinear) keeping their aspect ratio; the output is used as is.
    """
    out = _as_frame(output)
    height = out.shape[0]
    parts = [_resize_to_height(_as_frame(reference), height), _resize_to_height(_as_frame(pose), height), out]
    sep = np.zeros((height, SEPARATOR_PX, 3), np.uint8)
    return np.concatenate([parts[0], sep, parts[1], sep, parts[2]], axis=1)


def write_preview_grid(path: PathLike, rows: Sequence[Frame]) -> Path:
    """Save `rows` (e.g. preview frames) stacked vertically as a PNG, written atomically.

    Rows narrower than the widest are padded with black on the right; rows are separated by 4 px of
    black. Returns the final path.
    """
    if not rows:
        raise ValueError("write_preview_grid needs at least one row")
    arrays = [_as_frame(r) for r in rows]
    width = max(a.shape[1] for a in arrays)
    pieces: list[np.ndarray] = []
    for i, a in enumerate(arrays):
        if i:
            pieces.append(np.zeros((SEPARATOR_PX, width, 3), np.uint8))
        if a.shape[1] < width:
            a = np.pad(a, ((0, 0), (0, width - a.shape[1]), (0, 0)))
        pieces.append(a)
    path = Path(path)
    with atomic_path(path) as tmp:
        save_marked_png(np.concatenate(pieces, axis=0), tmp)
    return path


def save_marked_png(image: Frame, path: PathLike) -> None:
    """Save a PNG carrying magicpose's mark (its "Software" text chunk), so that a later run may replace it
    (``magicpose.files.check_beside``)."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", mark_text())
    (image if isinstance(image, Image.Image) else Image.fromarray(_as_frame(image))).save(
        path, format="PNG", pnginfo=info
    )
