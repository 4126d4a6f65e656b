"""The one interface every pose-extraction backend implements, and where their weights come from.

A backend turns one RGB frame into the people it sees, as :class:`~magicpose.pose.PersonPose` in that frame's
pixel coordinates (OpenPose-18 body, 2 x 21 hands, 70 face; a missing point has score 0). Weights are always
local files: ``--weights-dir`` or the ``MAGICPOSE_POSE_WEIGHTS`` environment variable names the folder, and
a backend whose files are missing says which ones in one line. Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np

from magicpose.errors import InputError
from magicpose.pose.schema import PersonPose

WEIGHTS_ENV = "MAGICPOSE_POSE_WEIGHTS"
DEFAULT_WEIGHTS_DIR = Path("pretrained_weights") / "pose"


class MissingWeightsError(InputError):
    """A backend's weight files are not in the weights folder (the message names them and the fix)."""


def resolve_weights_dir(weights_dir: str | os.PathLike | None = None) -> Path:
    """``weights_dir`` if given, else ``$MAGICPOSE_POSE_WEIGHTS``, else ``pretrained_weights/pose``."""
    if weights_dir is not None:
        return Path(weights_dir)
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env) if env else DEFAULT_WEIGHTS_DIR


class PoseExtractor(ABC):
    """A pose-extraction backend. Subclasses set ``name`` and ``weight_files`` and implement
    :meth:`from_weights_dir` and :meth:`__call__`."""

    name: ClassVar[str]
    # file names the backend needs inside the weights folder, and where users get them (for the error line)
    weight_files: ClassVar[tuple[str, ...]]
    weights_hint: ClassVar[str] = ""

    @classmethod
    def check_weights(cls, weights_dir: str | os.PathLike | None = None) -> dict[str, Path]:
        """The backend's files in the weights folder, or one :class:`MissingWeightsError` line naming the
        missing ones, the folder, and both ways to point at another folder."""
        folder = resolve_weights_dir(weights_dir)
        paths = {name: folder / name for name in cls.weight_files}
        missing = [name for name, path in paths.items() if not path.is_file()]
        if missing:
            hint = f" ({cls.weights_hint})" if cls.weights_hint else ""
            raise MissingWeightsError(
                f"the {cls.name} pose extractor needs {', '.join(missing)} in '{folder}'{hint}: put them there, "
                f"or pass --weights-dir DIR or set {WEIGHTS_ENV}=DIR"
            )
        return paths

    @classmethod
    @abstractmethod
    def from_weights_dir(
        cls, weights_dir: str | os.PathLike | None = None, device: str = "cpu"
    ) -> PoseExtractor:
        """Load the backend from its files in the weights folder (:meth:`check_weights` first)."""

    @abstractmethod
    def __call__(self, image: np.ndarray) -> list[PersonPose]:
        """All people in ``image`` ((H, W, 3) uint8 RGB), keypoints in its pixel coordinates."""
