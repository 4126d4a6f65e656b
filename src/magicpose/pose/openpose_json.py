"""Read and write OpenPose ``*_keypoints.json`` files (BODY_18/COCO or BODY_25 body, hands, face)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from magicpose.files import write_text_atomic

from .schema import (
    BODY25_TO_BODY18,
    NUM_BODY,
    NUM_FACE,
    NUM_HAND,
    FramePose,
    PersonPose,
    PoseInputError,
    check_pose_file,
)

__all__ = ["read_openpose_json", "write_openpose_json"]

_BODY_KEY = "pose_keypoints_2d"
# (json key, PersonPose field, point count); an empty or absent array means "all missing".
_PART_KEYS = (
    ("hand_left_keypoints_2d", "left_hand", NUM_HAND),
    ("hand_right_keypoints_2d", "right_hand", NUM_HAND),
    ("face_keypoints_2d", "face", NUM_FACE),
)


def _numbers(path: Path, index: int, key: str, value: object) -> np.ndarray:
    """Flatten one keypoint list to float64 numbers (None or missing -> empty)."""
    if value is None:
        return np.zeros(0, dtype=np.float64)
    try:
        numbers = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise PoseInputError(
            f"OpenPose JSON '{path}': person {index} '{key}' is not a list of numbers; "
            "fix or regenerate the file"
        ) from None
    bad = np.flatnonzero(~np.isfinite(numbers))
    if bad.size:
        raise PoseInputError(
            f"OpenPose JSON '{path}': person {index} '{key}' holds {numbers[bad[0]]} (number {bad[0]}), not a "
            "finite value; write a missing point as 0, 0, 0 (score 0) or regenerate the file"
        )
    return numbers


def _parse_person(path: Path, index: int, entry: object) -> PersonPose:
    if not isinstance(entry, dict):
        raise PoseInputError(
            f"OpenPose JSON '{path}': people[{index}] is not an object; fix or regenerate the file"
        )
    body = _numbers(path, index, _BODY_KEY, entry.get(_BODY_KEY))
    if body.size == 3 * 25:
        body = body.reshape(25, 3)[list(BODY25_TO_BODY18)]  # drop MidHip and the feet
    elif body.size == 3 * NUM_BODY:
        body = body.reshape(NUM_BODY, 3)
    elif body.size == 0:
        body = np.zeros((NUM_BODY, 3))
    else:
        raise PoseInputError(
            f"OpenPose JSON '{path}': person {index} has {body.size} numbers in '{_BODY_KEY}'; "
            "expected 54 (BODY_18/COCO, 18 points) or 75 (BODY_25, 25 points)"
        )
    parts = {}
    for key, name, n in _PART_KEYS:
        values = _numbers(path, index, key, entry.get(key))
        if values.size == 0:
            parts[name] = np.zeros((n, 3))
        elif values.size == 3 * n:
            parts[name] = values.reshape(n, 3)
        else:
            raise PoseInputError(
                f"OpenPose JSON '{path}': person {index} has {values.size} numbers in '{key}'; "
                f"expected {3 * n} ({n} points) or an empty list"
            )
    return PersonPose(body=body, **parts)


MAX_CANVAS = 16384


def _canvas_size(path: Path, data: dict, width: int | None, height: int | None) -> tuple[int, int]:
    """Canvas size from the file's canvas_width/height fields, else from the arguments."""
    if "canvas_width" in data or "canvas_height" in data:
        w, h = data.get("canvas_width"), data.get("canvas_height")
        ok = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (w, h))
        if not ok:
            raise PoseInputError(
                f"OpenPose JSON '{path}': canvas_width/canvas_height must both be positive integers, "
                f"got {w!r}/{h!r}; fix them or delete both and pass width and height"
            )
        if max(w, h) > MAX_CANVAS:  # a pose map of that size would not fit in memory
            raise PoseInputError(
                f"OpenPose JSON '{path}': a canvas of {w}x{h} is larger than {MAX_CANVAS} pixels on a side; fix "
                "canvas_width/canvas_height (the size of the video the keypoints were measured on)"
            )
        return w, h
    if width is None or height is None:
        raise PoseInputError(
            f"OpenPose JSON '{path}' has no canvas_width/canvas_height fields: pass the canvas size "
            "(width=..., height=...) the keypoints were measured on"
        )
    return int(width), int(height)


def read_openpose_json(
    path: str | os.PathLike, width: int | None = None, height: int | None = None
) -> FramePose:
    """Read an OpenPose JSON file into a :class:`FramePose` with an 18-point body.

    The canvas size comes from the ``canvas_width``/``canvas_height`` fields when present, else from
    ``width``/``height``. BODY_25 bodies are mapped to BODY_18; empty or absent hand/face lists become
    missing points. Raises :class:`PoseInputError` for unreadable or malformed files.
    """
    path = Path(path)
    check_pose_file(path, "OpenPose JSON", "pass a regular .json file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PoseInputError(f"OpenPose JSON '{path}' does not exist: check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PoseInputError(f"OpenPose JSON '{path}' cannot be read ({exc}); check the file") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        reason = exc if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise PoseInputError(
            f"OpenPose JSON '{path}' is not valid JSON ({reason}); regenerate the file"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise PoseInputError(
            f"OpenPose JSON '{path}' has no 'people' list; expected OpenPose output "
            '({"version": 1.3, "people": [...]})'
        )
    w, h = _canvas_size(path, data, width, height)
    people = [_parse_person(path, i, entry) for i, entry in enumerate(data["people"])]
    return FramePose(w, h, people)


def _flat(points: np.ndarray) -> list[float]:
    """Points as a flat list of Python floats; non-finite points become (0, 0, 0) so the JSON stays valid."""
    pts = points.astype(np.float64)
    bad = ~np.isfinite(pts).all(axis=1)
    pts[bad] = 0.0
    # float32 -> float64 is exact and json writes repr(float), the shortest exact form: round trips bit-exact.
    return [float(v) for v in pts.reshape(-1)]


def write_openpose_json(frame: FramePose, path: str | os.PathLike) -> None:
    """Write ``frame`` as OpenPose JSON (18-point body, hands, face, plus canvas_width/canvas_height).

    The write is atomic: a temporary file in the same folder is renamed over ``path``.
    """
    path = Path(path)
    data = {
        "version": 1.3,
        "canvas_width": frame.width,
        "canvas_height": frame.height,
        "people": [
            {
                "person_id": [-1],
                _BODY_KEY: _flat(p.body),
                "hand_left_keypoints_2d": _flat(p.left_hand),
                "hand_right_keypoints_2d": _flat(p.right_hand),
                "face_keypoints_2d": _flat(p.face),
            }
            for p in frame.people
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # A hidden temporary sibling renamed over ``path``: a half-written file is never picked up by a folder loader.
    write_text_atomic(path, json.dumps(data, allow_nan=False))
