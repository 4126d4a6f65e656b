"""Everybody Dance Now (EDN) pose normalisation: map a source dancer's poses onto a target's scale and floor.

Chan et al., *Everybody Dance Now* (ICCV 2019), §"Global pose normalization"; official code
``carolineec/EverybodyDanceNow: data_prep/graph_posenorm.py`` (Python 2). This is a fresh implementation
of the method from the paper and a reading of that code, on this package's pose types.

**Statistics.** For one person (OpenPose-18 body, see :data:`~magicpose.pose.schema.BODY_NAMES`) a frame's
*tip-toe* y is the larger (lower on screen) y of the visible ankles (right_ankle 10, left_ankle 13), and its
*height* is the distance from the head (the nose; else the mean of the visible ears) to the ankle midpoint
(or the one visible ankle). A frame without a head or an ankle, or with zero height, has no statistic. The
official ``get_pose_stats`` checked an ear's confidence where it meant the left ankle's; here each ankle is
checked on its own score. Over a sequence (:func:`pose_stats`, :class:`PoseStats`):

* ``close`` = max tip-toe y (the position closest to the camera);
* ``far`` ("horizon") = the smallest tip-toe y in ``(median - frac*(close - median), median]``; ``frac`` is
  ``median_frac``, 0.5 by default (the official code's help says "try 0.5 or 0.7"; the paper's cluster
  epsilon is 0.7). If no tip-toe falls in that interval (an even count with a gap at the median), ``far`` is
  the median itself;
* ``height_close`` = the max height among frames whose tip-toe is within 5 % of ``close - far`` of
  ``close``, reset to the sequence's max height if it is more than 10 % below it; ``height_far`` = the max
  height among frames within 5 % of the range of ``far`` (no reset: a far figure is legitimately smaller).
  With a zero range (a dancer who never moves in depth) the windows hold the frames at exactly that y.

**Per-frame mapping** (:func:`fit_normalizer`, :meth:`PoseNormalizer.frame_params`). For a source frame with
tip-toe ``y_src``::

    p       = (y_src - s_far) / (s_close - s_far)          (p = 0 when the source range is 0)
    y_tgt   = t_far + p * (t_close - t_far)                 (the target tip-toe y it maps to)
    scale   = scale_far + p * (scale_close - scale_far),
    scale_close = t_height_close / s_height_close,  scale_far = t_height_far / s_height_far

``p`` is not clipped: frames beyond the source's close/far positions extrapolate linearly, as in the
official code (this is also what keeps an exact scaled copy exact for such frames).

**Anchor (deviation from the official code, on purpose).** The official code moves every point by
``pts' = scale*pts + (anchor - scale*anchor) + (0, diff)`` with a fixed anchor ``(W/2, A)``, ``A`` the lower
ankle y of the first valid frame, and ``diff = y_tgt - y_src``. Scaling about ``A`` moves the ankle itself
by ``(scale - 1)*(y_src - A)`` before ``diff`` is added, so the ankle lands at
``y_tgt + (scale - 1)*(y_src - A)``, not at ``y_tgt``: with scale 1.5 and an ankle 100 px below the anchor
it misses by 50 px, and a source that is an exact scaled + shifted copy of the target does not land on the
target. Here the vertical anchor is the frame's own tip-toe (``diff`` is then exactly the ankle's move),
and the horizontal anchor is the canvas's vertical centre line::

    x' = W_tgt/2 + scale * (x - W_src/2)
    y' = y_tgt  + scale * (y - y_src)

so the tip-toe lands exactly on ``y_tgt`` and every other point keeps its offset from it, scaled. This is
the same map as the official form with ``diff`` computed for the ankle *after* scaling about ``A``
(``diff' = y_tgt - (A + scale*(y_src - A))``); any anchor with that corrected ``diff`` gives it. For a
source that is an exact copy of the target's motion, scaled by ``k`` about the canvas centre line and
shifted vertically, every statistic above is equivariant, so ``p`` and ``y_tgt`` are the target's own and
``scale = 1/k``: each normalised frame is the target frame (up to float32 rounding, far below 1 px). EDN
does not normalise horizontal position: a dancer off-centre stays off-centre (scaled about the centre line).

**Re-centring.** The official code, when the source's depth range ``s_close - s_far`` is smaller than the
target's (both in their own pixels), replaces the target's range by one of the source's width centred on
the target's midpoint, so a source that hardly moves in depth is not stretched over the target's whole
floor. Comparing raw pixels makes it depend on camera zoom: a smaller (zoomed-out) exact copy of the target
would be re-centred and squeezed. ``recenter`` picks the rule:

* ``"scaled"`` (default): compare the source range converted to target pixels (times the mean of
  ``scale_close`` and ``scale_far``) with the target range; when smaller, re-centre the target range to that
  width around the target's midpoint, and take the target heights at the new close/far positions by linear
  interpolation of ``height`` in tip-toe y between ``(t_far, t_height_far)`` and ``(t_close,
  t_height_close)`` (linear in floor y is exact for a flat floor seen by a pinhole camera);
* ``"official"``: the official rule, raw pixel widths, heights kept at the original target positions;
* ``"none"``: never re-centre.

**Application** (:meth:`PoseNormalizer.apply`, :func:`normalize_poses`). The first person of each frame is
normalised: every confident point (score > 0) of the body, both hands and the face is mapped; missing points
(score 0) keep their score 0 and their coordinates untouched. Frames without a statistic (no head or ankle,
or no person) reuse the last valid frame's ``(scale, y_src, y_tgt)`` (leading ones the first valid frame's).
Other people are dropped by default (``other_people="drop"``; ``"keep"`` copies them unchanged, in source
pixels; ``"transform"`` maps them with the first person's transform). Output frames are on the target's
canvas (width/height of the first target frame). Then the first person's keypoints are median-filtered
over time (:func:`smooth_poses`, window 7 by default, as the official ``getmedians_adapt``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .render import draw_pose
from .schema import BODY_NAMES, NUM_KEYPOINTS, FramePose, PersonPose, PoseInputError
from .sequence import PoseSequence

__all__ = [
    "PoseNormalizer",
    "PoseStats",
    "fit_normalizer",
    "normalize_pose_sequence",
    "normalize_poses",
    "person_pose_stats",
    "pose_stats",
    "smooth_poses",
]

NOSE = BODY_NAMES.index("nose")
RIGHT_ANKLE = BODY_NAMES.index("right_ankle")
LEFT_ANKLE = BODY_NAMES.index("left_ankle")
RIGHT_EAR = BODY_NAMES.index("right_ear")
LEFT_EAR = BODY_NAMES.index("left_ear")

_WINDOW_FRAC = 0.05  # heights near close/far: within 5 % of the depth range (official get_minmax_scales)
_RESET_FRAC = 0.10  # height_close more than 10 % below the max height is reset to the max
_RECENTER_MODES = ("scaled", "official", "none")
_RECENTER_TOL = 1e-4  # relative: re-centre only when the source range is narrower by more than this
_OTHER_PEOPLE = ("drop", "keep", "transform")
_SMOOTH_CHUNK = 512  # frames per chunk of the median filter (bounds its memory)


def person_pose_stats(person: PersonPose) -> tuple[float, float] | None:
    """``(tip_toe_y, height)`` of one person, or None without a head (nose or an ear) or an ankle.

    ``tip_toe_y`` is the larger y of the visible ankles; ``height`` the distance from the nose (else the
    mean of the visible ears) to the ankle midpoint (else the visible ankle). Zero height gives None.
    """
    body = np.asarray(person.body, dtype=np.float64)
    seen = body[:, 2] > 0
    if seen[NOSE]:
        head = body[NOSE, :2]
    else:
        ears = [body[i, :2] for i in (RIGHT_EAR, LEFT_EAR) if seen[i]]
        if not ears:
            return None
        head = np.mean(ears, axis=0)
    ankles = [body[i, :2] for i in (RIGHT_ANKLE, LEFT_ANKLE) if seen[i]]
    if not ankles:
        return None
    tip_toe = max(float(a[1]) for a in ankles)
    foot = np.mean(ankles, axis=0)
    height = math.hypot(*(head - foot))
    if not (height > 0 and math.isfinite(height) and math.isfinite(tip_toe)):
        return None
    return tip_toe, height


@dataclass(frozen=True)
class PoseStats:
    """Depth statistics of one dancer's sequence, in that sequence's pixels (see the module docstring).

    ``close``/``far``: tip-toe y closest to / farthest from the camera (``far`` is the robust "horizon");
    ``height_close``/``height_far``: head-to-ankle heights there; ``median``: median tip-toe y;
    ``height_max``: max height; ``num_valid``: frames with a statistic; ``median_frac``: the far band used.
    """

    close: float
    far: float
    median: float
    height_close: float
    height_far: float
    height_max: float
    num_valid: int
    median_frac: float

    @property
    def depth_range(self) -> float:
        """``close - far`` in pixels (0 for a dancer who never moves in depth)."""
        return self.close - self.far

    def height_at(self, y: float) -> float:
        """Height at tip-toe ``y``, linear between ``(far, height_far)`` and ``(close, height_close)``."""
        if self.depth_range <= 0:
            return self.height_close
        t = (y - self.far) / self.depth_range
        return self.height_far + t * (self.height_close - self.height_far)


def _max_height_near(toes: np.ndarray, heights: np.ndarray, y: float, tol: float) -> float:
    """Max height of the frames whose tip-toe is within ``tol`` of ``y`` (at least the nearest ones)."""
    dist = np.abs(toes - y)
    return float(heights[dist <= max(tol, float(dist.min()))].max())


def _stats_from_arrays(toes: np.ndarray, heights: np.ndarray, median_frac: float) -> PoseStats:
    close = float(toes.max())
    median = float(np.median(toes))
    low = median - median_frac * (close - median)
    band = toes[(toes > low) & (toes <= median)]
    far = float(band.min()) if band.size else median
    tol = _WINDOW_FRAC * (close - far)
    height_max = float(heights.max())
    height_close = _max_height_near(toes, heights, close, tol)
    if height_close < (1.0 - _RESET_FRAC) * height_max:
        height_close = height_max
    height_far = _max_height_near(toes, heights, far, tol)
    return PoseStats(close, far, median, height_close, height_far, height_max, int(toes.size), median_frac)


def _first_person_stats(frames: list[FramePose]) -> list[tuple[float, float] | None]:
    return [person_pose_stats(f.people[0]) if f.people else None for f in frames]


def _as_frames(frames: PoseSequence | Iterable[FramePose], what: str) -> list[FramePose]:
    if isinstance(frames, PoseSequence):
        if not frames.has_keypoints:
            raise PoseInputError(
                f"{what} poses '{frames.source}' are pose-map images: pose normalisation needs keypoints "
                "(a folder of OpenPose JSON files or a keypoint .npy)"
            )
        return [frames.pose(i) for i in range(len(frames))]
    out = list(frames)
    for i, f in enumerate(out):
        if not isinstance(f, FramePose):
            raise TypeError(f"{what} frame {i} must be a FramePose, got {type(f).__name__}")
    if not out:
        raise PoseInputError(f"{what} poses are empty: pass at least one frame of keypoints")
    return out


def _check_frac(median_frac: float) -> float:
    median_frac = float(median_frac)
    if not (median_frac >= 0 and math.isfinite(median_frac)):
        raise ValueError(f"median_frac must be a finite number >= 0, got {median_frac!r}")
    return median_frac


def pose_stats(
    frames: PoseSequence | Iterable[FramePose], median_frac: float = 0.5, *, what: str = "pose"
) -> PoseStats:
    """Depth statistics (:class:`PoseStats`) of the first person over ``frames``.

    Raises :class:`PoseInputError` (one line, ``what`` naming the sequence) when no frame has both a head
    and an ankle.
    """
    median_frac = _check_frac(median_frac)
    stats = [s for s in _first_person_stats(_as_frames(frames, what)) if s is not None]
    if not stats:
        raise PoseInputError(
            f"{what} poses have no frame whose first person has both a head (nose or an ear) and an ankle: "
            "pose normalisation needs full-body poses with visible ankles"
        )
    arr = np.asarray(stats, dtype=np.float64)
    return _stats_from_arrays(arr[:, 0], arr[:, 1], median_frac)


@dataclass(frozen=True)
class PoseNormalizer:
    """A fitted EDN normaliser from a source dancer to a target dancer (build it with :func:`fit_normalizer`).

    ``source``/``target``: the fitted statistics; ``target_close``/``target_far``: the target tip-toe ys the
    source's close/far map to (the target's own unless ``recentered``); ``scale_close``/``scale_far``: the
    scales there; ``target_width``/``target_height``: the output canvas.
    """

    source: PoseStats
    target: PoseStats
    target_close: float
    target_far: float
    scale_close: float
    scale_far: float
    recentered: bool
    target_width: int
    target_height: int

    def frame_params(self, tip_toe_y: float) -> tuple[float, float]:
        """``(scale, y_tgt)`` for a source frame with tip-toe ``tip_toe_y`` (the formula of the module doc)."""
        s_range = self.source.depth_range
        p = (tip_toe_y - self.source.far) / s_range if s_range > 0 else 0.0
        y_tgt = self.target_far + p * (self.target_close - self.target_far)
        scale = self.scale_far + p * (self.scale_close - self.scale_far)
        return scale, y_tgt

    def frame_transforms(self, frames: PoseSequence | Iterable[FramePose]) -> np.ndarray:
        """Per frame ``(scale, tx, ty)`` as a float64 (N, 3) array: ``x' = scale*x + tx``, ``y' = scale*y + ty``.

        Frames without a statistic reuse the last valid frame's ``(scale, y_src, y_tgt)`` (leading ones the
        first valid frame's). Raises :class:`PoseInputError` when no frame has a statistic.
        """
        frames = _as_frames(frames, "source")
        stats = _first_person_stats(frames)
        first = next((s for s in stats if s is not None), None)
        if first is None:
            raise PoseInputError(
                "source poses have no frame whose first person has both a head (nose or an ear) and an "
                "ankle: pose normalisation needs full-body poses with visible ankles"
            )
        out = np.empty((len(frames), 3), dtype=np.float64)
        y_src = first[0]
        scale, y_tgt = self.frame_params(y_src)
        for i, (frame, st) in enumerate(zip(frames, stats)):
            if st is not None:
                y_src = st[0]
                scale, y_tgt = self.frame_params(y_src)
            out[i] = (scale, self.target_width / 2 - scale * frame.width / 2, y_tgt - scale * y_src)
        return out

    def apply(
        self,
        frames: PoseSequence | Iterable[FramePose],
        *,
        smooth_window: int | None = 7,
        other_people: str = "drop",
    ) -> list[FramePose]:
        """Normalise ``frames`` (the source's, usually) onto the target; returns new frames on its canvas.

        The first person is mapped (all 130 points), then median-smoothed over ``smooth_window`` frames
        (odd; None or 1 turns smoothing off). ``other_people``: ``"drop"`` (default), ``"keep"`` (copied
        unchanged) or ``"transform"`` (mapped with the first person's transform, not smoothed).
        """
        if other_people not in _OTHER_PEOPLE:
            raise ValueError(f"other_people must be one of {_OTHER_PEOPLE}, got {other_people!r}")
        frames = _as_frames(frames, "source")
        transforms = self.frame_transforms(frames)
        out = []
        for frame, (scale, tx, ty) in zip(frames, transforms):
            people = []
            for j, person in enumerate(frame.people):
                if j == 0 or other_people == "transform":
                    people.append(_transform_person(person, scale, tx, ty))
                elif other_people == "keep":
                    people.append(PersonPose.from_array(person.to_array()))
            out.append(FramePose(self.target_width, self.target_height, people))
        if smooth_window is not None and smooth_window != 1:
            out = smooth_poses(out, smooth_window)
        return out


def _transform_person(person: PersonPose, scale: float, tx: float, ty: float) -> PersonPose:
    arr = person.to_array()
    seen = arr[:, 2] > 0
    pts = arr[seen, :2].astype(np.float64)
    arr[seen, 0] = scale * pts[:, 0] + tx
    arr[seen, 1] = scale * pts[:, 1] + ty
    return PersonPose.from_array(arr)


def fit_normalizer(
    source: PoseSequence | Iterable[FramePose],
    target: PoseSequence | Iterable[FramePose],
    *,
    median_frac: float = 0.5,
    target_median_frac: float | None = None,
    recenter: str = "scaled",
) -> PoseNormalizer:
    """Fit the EDN normaliser from the source (driving) and target (trained subject) pose sequences.

    ``median_frac`` sets the far band of the source (and of the target unless ``target_median_frac``);
    0.5 by default, 0.7 the other value the official code suggests. ``recenter``: ``"scaled"`` (default),
    ``"official"`` or ``"none"`` (see the module docstring). Raises :class:`PoseInputError` (one line)
    when either sequence has no frame with both a head and an ankle.
    """
    if recenter not in _RECENTER_MODES:
        raise ValueError(f"recenter must be one of {_RECENTER_MODES}, got {recenter!r}")
    median_frac = _check_frac(median_frac)
    target_median_frac = median_frac if target_median_frac is None else _check_frac(target_median_frac)
    target_frames = _as_frames(target, "target")
    s = pose_stats(source, median_frac, what="source")
    t = pose_stats(target_frames, target_median_frac, what="target")
    t_close, t_far = t.close, t.far
    h_close, h_far = t.height_close, t.height_far
    recentered = False
    if recenter != "none":
        if recenter == "scaled":
            width = s.depth_range * 0.5 * (t.height_close / s.height_close + t.height_far / s.height_far)
        else:
            width = s.depth_range
        # The tolerance keeps an exact copy (equal widths up to float32 keypoint rounding) from being
        # re-centred; a range narrower by under 0.01 % would only move points by hundredths of a pixel.
        if width < t.depth_range * (1.0 - _RECENTER_TOL):
            mid = 0.5 * (t.close + t.far)
            t_close, t_far = mid + 0.5 * width, mid - 0.5 * width
            recentered = True
            if recenter == "scaled":
                h_close, h_far = t.height_at(t_close), t.height_at(t_far)
    return PoseNormalizer(
        source=s,
        target=t,
        target_close=t_close,
        target_far=t_far,
        scale_close=h_close / s.height_close,
        scale_far=h_far / s.height_far,
        recentered=recentered,
        target_width=target_frames[0].width,
        target_height=target_frames[0].height,
    )


def normalize_poses(
    source: PoseSequence | Iterable[FramePose],
    target: PoseSequence | Iterable[FramePose],
    *,
    smooth_window: int | None = 7,
    other_people: str = "drop",
    **fit_options,
) -> list[FramePose]:
    """Fit on ``source`` and ``target`` (:func:`fit_normalizer`, given ``fit_options``: ``median_frac``,
    ``target_median_frac``, ``recenter``) and return the normalised source frames (:meth:`PoseNormalizer.apply`):
    one :class:`FramePose` per source frame, on the target's canvas."""
    source_frames = _as_frames(source, "source")
    normalizer = fit_normalizer(source_frames, target, **fit_options)
    return normalizer.apply(source_frames, smooth_window=smooth_window, other_people=other_people)


def smooth_poses(frames: Iterable[FramePose], window: int = 7) -> list[FramePose]:
    """Centred temporal median filter of the first person's keypoints over ``window`` frames (odd).

    Only confident samples (score > 0) enter a median; a point missing in a frame stays missing there
    (score 0, coordinates untouched); windows are cut at the sequence ends. Scores, other people and
    frames without people are copied unchanged.
    """
    frames = list(frames)
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1 or window % 2 == 0:
        raise ValueError(f"smooth window must be an odd positive integer, got {window!r}")
    n = len(frames)
    if n == 0:
        return []
    arrays = [f.people[0].to_array() if f.people else None for f in frames]
    xy = np.full((n, NUM_KEYPOINTS, 2), np.nan, dtype=np.float64)
    for i, a in enumerate(arrays):
        if a is not None:
            seen = a[:, 2] > 0
            xy[i, seen] = a[seen, :2]
    half = int(window) // 2
    padded = np.pad(xy, ((half, half), (0, 0), (0, 0)), constant_values=np.nan)
    med = np.empty_like(xy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: points missing throughout
        for start in range(0, n, _SMOOTH_CHUNK):
            stop = min(n, start + _SMOOTH_CHUNK)
            chunk = np.lib.stride_tricks.sliding_window_view(padded[start : stop + 2 * half], window, axis=0)
            med[start:stop] = np.nanmedian(chunk, axis=-1)
    out = []
    for i, (frame, a) in enumerate(zip(frames, arrays)):
        people = [PersonPose.from_array(p.to_array()) for p in frame.people]
        if a is not None:
            seen = a[:, 2] > 0
            a[seen, :2] = med[i, seen]
            people[0] = PersonPose.from_array(a)
        out.append(FramePose(frame.width, frame.height, people))
    return out


def normalize_pose_sequence(
    source: PoseSequence, target: PoseSequence | Iterable[FramePose], **kwargs
) -> PoseSequence:
    """:func:`normalize_poses` as a :class:`PoseSequence` of rendered pose maps (what the pipelines take),
    with the source's frame names; ``kwargs`` go to :func:`normalize_poses`."""
    frames = normalize_poses(source, target, **kwargs)
    return PoseSequence(
        Path(source.source),
        "normalized",
        list(source.names),
        lambda i: draw_pose(frames[i]),
        lambda i: frames[i],
    )
