"""How frames are turned into the inputs of the feature networks (the FID/FID-VID/FVD protocol of DisCo).

- Resizing: clean-fid's "clean" resize, which DisCo's metric code uses for all three: PIL bicubic on each
  channel in float ('F' mode), clipped to [0, 255] and not re-quantised. Frames are stretched to the
  square input (no crop), as there.
- Clips: every window of ``length`` consecutive frames of a video (``stride`` 1 by default), as DisCo's
  ``gen_gifs_for_fvd.py`` writes one 16-frame GIF per start frame. Videos shorter than a clip give none.
- GIF round trip: DisCo scores the GIFs, so each frame goes through GIF's 256-colour palette. Pillow
  quantises every frame of a GIF on its own, so a frame reads back the same in every clip that holds it
  and is quantised once here (tests/test_eval_preprocess.py checks this against a 16-frame GIF). The
  frame rate (3 fps there) only sets the GIF's frame durations and does not change the pixels.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator

import numpy as np
from PIL import Image

FID_SIZE, FID_VID_SIZE, FVD_SIZE = 299, 112, 224
CLIP_LENGTH = 16
GIF_FPS = 3.0  # DisCo's GIFs: recorded in the protocol; no effect on the decoded pixels
# The mean RGB (0-255) of Kinetics that the 3D ResNet-50 was trained with; subtracted before it.
KINETICS_MEAN = np.array([114.7748, 107.7354, 99.4750], np.float32)


def resize_clean(frame: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 3) float32 in [0, 255]: bicubic per channel in float, as clean-fid's "clean" mode."""
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(frame[..., c]).astype(np.float32), mode="F")
                           .resize((size, size), Image.Resampling.BICUBIC))
                for c in range(3)]
    return np.clip(np.stack(channels, axis=-1), 0, 255)


def gif_round_trip(frame: np.ndarray) -> np.ndarray:
    """The RGB uint8 frame as it reads back from a GIF written by Pillow (adaptive 256-colour palette)."""
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="GIF", duration=int(1000 / GIF_FPS))
    buffer.seek(0)
    with Image.open(buffer) as image:
        return np.asarray(image.convert("RGB"))


def fid_input(frame: np.ndarray) -> np.ndarray:
    """(3, 299, 299) float32 in [0, 255], what the FID Inception TorchScript takes."""
    return resize_clean(frame, FID_SIZE).transpose(2, 0, 1)


def fid_vid_frame(frame: np.ndarray) -> np.ndarray:
    """(3, 112, 112) float32: Kinetics mean subtracted, a frame of a 3D ResNet-50 clip."""
    return (resize_clean(frame, FID_VID_SIZE) - KINETICS_MEAN).transpose(2, 0, 1)


def fvd_frame(frame: np.ndarray) -> np.ndarray:
    """(3, 224, 224) float32 in [-1, 1], a frame of an I3D clip."""
    return (resize_clean(frame, FVD_SIZE) / 127.5 - 1.0).transpose(2, 0, 1)


class ClipWindows:
    """Feed a video's frames one by one; yields each complete window as a (C, T, H, W) array."""

    def __init__(self, length: int = CLIP_LENGTH, stride: int = 1) -> None:
        if length < 1 or stride < 1:
            raise ValueError(f"clip length and stride must be at least 1, got {length} and {stride}")
        self.length, self.stride = length, stride
        self.reset()

    def reset(self) -> None:
        """Start a new video: no clip spans two videos."""
        self._window: deque[np.ndarray] = deque(maxlen=self.length)
        self._seen = 0

    def push(self, frame: np.ndarray) -> Iterator[np.ndarray]:
        self._window.append(frame)
        self._seen += 1
        start = self._seen - self.length
        if start >= 0 and start % self.stride == 0:
            yield np.stack(self._window, axis=1)


def clip_count(frames: int, length: int = CLIP_LENGTH, stride: int = 1) -> int:
    return 0 if frames < length else (frames - length) // stride + 1
