"""How frames are turned into the inputs of the feature networks (the FID/FID-VID/FVD protocol of DisCo).

- FID, pytorch-fid (the default; what DisCo's ``gen_eval.sh`` runs, ``python -m pytorch_fid`` on the two
  frame folders): the 8-bit frame as [0, 1] floats (``x / 255``), stretched to 299x299 by
  ``F.interpolate(mode="bilinear", align_corners=False)``, then scaled to [-1, 1] (``2 x - 1``).
- FID, clean-fid (the option ``--fid-protocol clean-fid``) and FID-VID/FVD always: clean-fid's "clean"
  resize, a copy of which DisCo's ``tool/metrics/resize.py`` uses: PIL bicubic on each channel in float
  ('F' mode), neither clipped to [0, 255] nor re-quantised (bicubic overshoots a sharp edge by a few
  levels; those values are kept). Frames are stretched to the square input (no crop), as there.
- Clips: every window of ``length`` consecutive frames of a video (``stride`` 1 by default), as DisCo's
  ``DatasetFVDVideoFromFramesResize`` starts one 16-frame clip at every frame of the raw frame folders.
  Videos shorter than a clip give none.
- GIF round trip (the option ``--gif``; DisCo's June-2023 protocol scored 16-frame GIFs written by
  ``gen_gifs_for_fvd.py``): each frame goes through GIF's 256-colour palette. Pillow quantises every frame
  of a GIF on its own, so a frame reads back the same in every clip that holds it and is quantised once
  here (tests/test_eval_preprocess.py checks this against a 16-frame GIF). The frame rate (3 fps there)
  only sets the GIF's frame durations and does not change the pixels.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

FID_SIZE, FID_VID_SIZE, FVD_SIZE = 299, 112, 224
CLIP_LENGTH = 16
GIF_FPS = 3.0  # DisCo's GIFs: recorded in the protocol; no effect on the decoded pixels
# The mean RGB (0-255) subtracted before the 3D ResNet-50: the ActivityNet mean of Hara et al.'s
# 3D-ResNets code (get_mean(dataset="activitynet")), which their Kinetics models were trained with. Float64,
# as DisCo subtracts it (a float64 tensor) before casting the clip back to float32.
ACTIVITYNET_MEAN = np.array([114.7748, 107.7354, 99.4750], np.float64)
FID_PROTOCOLS = ("pytorch-fid", "clean-fid")


def resize_clean(frame: np.ndarray, size: int, clip: bool = False) -> np.ndarray:
    """(size, size, 3) float32: bicubic per channel in float, as clean-fid's "clean" mode and DisCo.

    Not clipped: bicubic's overshoot at sharp edges leaves values a few levels below 0 or above 255, and
    DisCo keeps them. ``clip=True`` clamps to [0, 255] (this package's protocol before; only for comparison).
    """
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(frame[..., c]).astype(np.float32), mode="F").resize(
                (size, size), Image.Resampling.BICUBIC
            )
        )
        for c in range(3)
    ]
    out = np.stack(channels, axis=-1)
    return np.clip(out, 0, 255) if clip else out


def gif_round_trip(frame: np.ndarray) -> np.ndarray:
    """The RGB uint8 frame as it reads back from a GIF written by Pillow (adaptive 256-colour palette)."""
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="GIF", duration=int(1000 / GIF_FPS))
    buffer.seek(0)
    with Image.open(buffer) as image:
        return np.asarray(image.convert("RGB"))


def clean_fid_input(frame: np.ndarray) -> np.ndarray:
    """(3, 299, 299) float32 on the 0-255 scale, what clean-fid's Inception TorchScript takes."""
    return resize_clean(frame, FID_SIZE).transpose(2, 0, 1)


def pytorch_fid_input(frame: np.ndarray) -> np.ndarray:
    """(3, 299, 299) float32 in [-1, 1], pytorch-fid's input: ``ToTensor`` (x / 255), bilinear resize to 299
    (inside its ``InceptionV3``, ``resize_input=True``), then ``2 x - 1`` (``normalize_input=True``).

    Resizing one frame gives the same numbers as resizing it within a batch (each output pixel reads only its
    own image), so frames of different sizes can share a batch here, unlike in pytorch-fid.
    """
    x = torch.tensor(frame).permute(2, 0, 1)[None].float().div(255)  # a copy: decoded frames are read-only
    x = F.interpolate(x, size=(FID_SIZE, FID_SIZE), mode="bilinear", align_corners=False)
    return (2 * x - 1)[0].numpy()


FID_INPUTS = {"pytorch-fid": pytorch_fid_input, "clean-fid": clean_fid_input}


def fid_vid_frame(frame: np.ndarray) -> np.ndarray:
    """(3, 112, 112) float32: the ActivityNet mean subtracted, a frame of a 3D ResNet-50 clip."""
    return (resize_clean(frame, FID_VID_SIZE) - ACTIVITYNET_MEAN).astype(np.float32).transpose(2, 0, 1)


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
