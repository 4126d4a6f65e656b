"""Keypoint schema: OpenPose-18 body, two 21-point hands and 70 face points, in pixel coordinates.

Every point is ``(x, y, score)`` in pixels of a canvas of known ``width`` x ``height``. A point whose
score is 0 is missing; its x and y are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from magicpose.errors import InputError

__all__ = [
    "BODY25_TO_BODY18",
    "BODY_NAMES",
    "NUM_BODY",
    "NUM_FACE",
    "NUM_HAND",
    "NUM_KEYPOINTS",
    "FramePose",
    "PersonPose",
    "PoseInputError",
]


class PoseInputError(InputError):
    """A pose input (file, folder or array) cannot be used; the message is one line naming it and the fix."""


def check_pose_file(path, what: str, fix: str) -> None:
    """:func:`magicpose.files.check_regular_file` raising :class:`PoseInputError`: a named pipe, socket or device
    given as a pose input is refused at once instead of blocking the read."""
    from magicpose.files import check_regular_file

    try:
        check_regular_file(path, what, fix)
    except InputError as err:
        raise PoseInputError(str(err)) from None


# COCO-18 order as used by OpenPose and the ControlNet annotator.
BODY_NAMES: tuple[str, ...] = (
    "nose",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_eye",
    "left_eye",
    "right_ear",
    "left_ear",
)
NUM_BODY = 18
NUM_HAND = 21
NUM_FACE = 70
# One person flattened: body 18 + left hand 21 + right hand 21 + face 70.
NUM_KEYPOINTS = NUM_BODY + 2 * NUM_HAND + NUM_FACE

# BODY_25 index for each BODY_18 joint; BODY_25 adds MidHip (8) and six foot points (19-24), dropped here.
BODY25_TO_BODY18: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)

# Slices of the flattened (130, 3) layout.
_SLICES = {
    "body": slice(0, NUM_BODY),
    "left_hand": slice(NUM_BODY, NUM_BODY + NUM_HAND),
    "right_hand": slice(NUM_BODY + NUM_HAND, NUM_BODY + 2 * NUM_HAND),
    "face": slice(NUM_BODY + 2 * NUM_HAND, NUM_KEYPOINTS),
}
_COUNTS = {"body": NUM_BODY, "left_hand": NUM_HAND, "right_hand": NUM_HAND, "face": NUM_FACE}


def _zeros(n: int):
    return lambda: np.zeros((n, 3), dtype=np.float32)


def _as_points(name: str, value: object, n: int) -> np.ndarray:
    """Copy ``value`` to a float32 (n, 3) array, or raise ValueError naming the field."""
    try:
        with np.errstate(over="ignore"):  # a finite point far off the canvas (1e300) becomes inf: never drawn
            arr = np.array(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"PersonPose.{name} must be a numeric ({n}, 3) array: {exc}") from None
    if arr.shape != (n, 3):
        raise ValueError(f"PersonPose.{name} must have shape ({n}, 3), got {arr.shape}")
    return arr


@dataclass(eq=False)
class PersonPose:
    """One person's keypoints, each an (N, 3) float32 array of (x, y, score) in pixels.

    Fields default to all-missing (zeros), so ``PersonPose(body=b)`` is a body-only person.
    """

    body: np.ndarray = field(default_factory=_zeros(NUM_BODY))
    left_hand: np.ndarray = field(default_factory=_zeros(NUM_HAND))
    right_hand: np.ndarray = field(default_factory=_zeros(NUM_HAND))
    face: np.ndarray = field(default_factory=_zeros(NUM_FACE))

    def __post_init__(self) -> None:
        for name, n in _COUNTS.items():
            setattr(self, name, _as_points(name, getattr(self, name), n))

    @classmethod
    def empty(cls) -> PersonPose:
        """A person with every keypoint missing."""
        return cls()

    def to_array(self) -> np.ndarray:
        """Flatten to a (130, 3) float32 array: body 18, left hand 21, right hand 21, face 70."""
        return np.concatenate([self.body, self.left_hand, self.right_hand, self.face], axis=0)

    @classmethod
    def from_array(cls, arr: np.ndarray) -> PersonPose:
        """Build from a (130, 3) array (layout of :meth:`to_array`) or an (18, 3) body-only array."""
        arr = np.asarray(arr, dtype=np.float32)
        if arr.shape == (NUM_BODY, 3):
            return cls(body=arr)
        if arr.shape != (NUM_KEYPOINTS, 3):
            raise ValueError(
                f"person keypoints must have shape ({NUM_KEYPOINTS}, 3) or ({NUM_BODY}, 3), got {arr.shape}"
            )
        return cls(**{name: arr[sl] for name, sl in _SLICES.items()})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PersonPose):
            return NotImplemented
        return all(np.array_equal(getattr(self, n), getattr(other, n)) for n in _COUNTS)

    __hash__ = None  # mutable arrays: not hashable


@dataclass
class FramePose:
    """All people of one frame on a ``width`` x ``height`` pixel canvas."""

    width: int
    height: int
    people: list[PersonPose] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
                raise ValueError(f"FramePose.{name} must be a positive integer, got {value!r}")
            setattr(self, name, int(value))
        self.people = list(self.people)
        for i, person in enumerate(self.people):
            if not isinstance(person, PersonPose):
                raise ValueError(f"FramePose.people[{i}] must be a PersonPose, got {type(person).__name__}")

    def to_array(self) -> np.ndarray:
        """Stack people to a (P, 130, 3) float32 array (P may be 0)."""
        if not self.people:
            return np.zeros((0, NUM_KEYPOINTS, 3), dtype=np.float32)
        return np.stack([p.to_array() for p in self.people])

    @classmethod
    def from_array(cls, arr: np.ndarray, width: int, height: int) -> FramePose:
        """Build from (P, K, 3) or one person's (K, 3) keypoints, K in {18, 130}, in pixels."""
        arr = np.asarray(arr, dtype=np.float32)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise ValueError(f"frame keypoints must have shape (P, K, 3) or (K, 3), got {arr.shape}")
        return cls(width, height, [PersonPose.from_array(a) for a in arr])
