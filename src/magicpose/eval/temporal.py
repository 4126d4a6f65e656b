"""Temporal consistency of a generated video against its ground truth, without a flow network.

``frame_difference_error``: the mean over consecutive frame pairs and pixels of ``|(g_t - g_{t-1}) -
(r_t - r_{t-1})|``, pixels in [0, 1]. It is 0 when the generated video changes from frame to frame exactly as
the real one does, whatever its per-frame error; flicker, jitter and lag that the real video does not have
raise it, and a video frozen where the real one moves scores the real motion's own size. It is the ground
truth's frame differences standing in for a warp by a reference flow (the "warp error" of vid2vid's papers),
which needs a flow network this package does not download.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def frame_difference_error(generated: Sequence[np.ndarray], real: Sequence[np.ndarray]) -> float:
    """``generated`` and ``real``: the same number (>= 2) of uint8 (H, W, 3) frames of one size."""
    if len(generated) != len(real):
        raise ValueError(f"{len(generated)} generated frames but {len(real)} real ones")
    if len(generated) < 2:
        raise ValueError("temporal consistency needs at least 2 frames")
    g = np.stack(
        [np.asarray(f, dtype=np.int64) for f in generated]
    )  # whole levels: the differences are exact
    r = np.stack([np.asarray(f, dtype=np.int64) for f in real])
    if g.shape != r.shape:
        raise ValueError(f"generated frames {g.shape[1:]} and real frames {r.shape[1:]} differ in size")
    return float(np.abs(np.diff(g, axis=0) - np.diff(r, axis=0)).mean() / 255.0)
