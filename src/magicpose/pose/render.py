"""Render keypoints to an RGB pose map, pixel-identical to the ControlNet-1.1 OpenPose annotator.

The pose ControlNet was trained on that annotator's drawings (``draw_bodypose``, ``draw_handpose``,
``draw_facepose`` applied in that order to a black canvas), so every rounding step is reproduced:
the annotator stores keypoints normalised (x / W) and multiplies back before truncating with ``int``.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence

import cv2
import numpy as np

from .schema import NUM_BODY, FramePose

__all__ = [
    "BODY_COLORS",
    "FACE_POINT_COLOR",
    "HAND_EDGES",
    "HAND_EDGE_COLORS",
    "HAND_POINT_COLOR",
    "LIMB_SEQ",
    "NUM_DRAWN_LIMBS",
    "draw_pose",
    "draw_pose_batch",
    "pose_is_visible",
]

STICKWIDTH = 4
# Body limbs as 0-based joint pairs (the annotator lists them 1-based). Only the first 17 are drawn:
# the last two (r-shoulder-r-ear, l-shoulder-l-ear) are defined but skipped by the annotator.
LIMB_SEQ: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
    (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17),
)  # fmt: skip
NUM_DRAWN_LIMBS = 17
# One RGB colour per joint, also used for limb i.
BODY_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip
HAND_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10),
    (10, 11), (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20),
)  # fmt: skip
# Float colours exactly as the annotator passes them (hsv_to_rgb(ie / 20, 1, 1) * 255); cv2 rounds them.
HAND_EDGE_COLORS: tuple[tuple[float, float, float], ...] = tuple(
    tuple(c * 255 for c in colorsys.hsv_to_rgb(ie / float(len(HAND_EDGES)), 1.0, 1.0))
    for ie in range(len(HAND_EDGES))
)
HAND_POINT_COLOR = (0, 0, 255)
FACE_POINT_COLOR = (255, 255, 255)

# Beyond this many pixels cv2's int32 geometry overflows; such points are treated as missing.
_MAX_ABS_COORD = float(1 << 20)


def _prepare(points: np.ndarray, width: int, height: int, threshold: float):
    """Pixel coords after the annotator's normalise/denormalise round trip, and the presence mask."""
    xs = points[:, 0].astype(np.float64) / width * width
    ys = points[:, 1].astype(np.float64) / height * height
    with np.errstate(invalid="ignore"):
        ok = (
            (points[:, 2] > threshold)
            & np.isfinite(xs)
            & np.isfinite(ys)
            & (np.abs(xs) < _MAX_ABS_COORD)
            & (np.abs(ys) < _MAX_ABS_COORD)
        )
    return xs, ys, ok


def _blend_limb(canvas: np.ndarray, xs: np.ndarray, ys: np.ndarray, color: tuple[int, int, int]) -> None:
    """Fill the limb ellipse on a copy and blend it 0.4/0.6 into ``canvas`` (in place)."""
    # The annotator's naming is swapped: Y holds x coordinates, X holds y coordinates.
    Y0, Y1 = float(xs[0]), float(xs[1])
    X0, X1 = float(ys[0]), float(ys[1])
    mX = (X0 + X1) / 2
    mY = (Y0 + Y1) / 2
    length = ((X0 - X1) ** 2 + (Y0 - Y1) ** 2) ** 0.5
    angle = math.degrees(math.atan2(X0 - X1, Y0 - Y1))
    poly = cv2.ellipse2Poly((int(mY), int(mX)), (int(length / 2), STICKWIDTH), int(angle), 0, 360, 1)
    # The annotator blends the whole canvas, but outside the polygon 0.4*c + 0.6*c rounds back to c,
    # so blending only the polygon's bounding box gives the same pixels much faster.
    h, w = canvas.shape[:2]
    x0, y0 = max(int(poly[:, 0].min()) - 1, 0), max(int(poly[:, 1].min()) - 1, 0)
    x1, y1 = min(int(poly[:, 0].max()) + 2, w), min(int(poly[:, 1].max()) + 2, h)
    if x0 >= x1 or y0 >= y1:
        return
    roi = canvas[y0:y1, x0:x1]
    cur = roi.copy()
    cv2.fillConvexPoly(cur, poly - np.array([x0, y0], dtype=poly.dtype), color)
    canvas[y0:y1, x0:x1] = cv2.addWeighted(roi, 0.4, cur, 0.6, 0)


def _draw_bodies(canvas: np.ndarray, bodies: Sequence[np.ndarray], threshold: float) -> None:
    h, w = canvas.shape[:2]
    prepared = [_prepare(b, w, h, threshold) for b in bodies]
    # Joints first (all people, joint by joint), then limbs blended over them, limb by limb.
    for i in range(NUM_BODY):
        for xs, ys, ok in prepared:
            if ok[i]:
                cv2.circle(canvas, (int(xs[i]), int(ys[i])), 4, BODY_COLORS[i], thickness=-1)
    for i in range(NUM_DRAWN_LIMBS):
        a, b = LIMB_SEQ[i]
        for xs, ys, ok in prepared:
            if ok[a] and ok[b]:
                _blend_limb(canvas, xs[[a, b]], ys[[a, b]], BODY_COLORS[i])


def _int_points(points: np.ndarray, width: int, height: int, threshold: float):
    """Truncated pixel coords and mask of points drawn by the hand/face passes (present, coords >= 0)."""
    xs, ys, ok = _prepare(points, width, height, threshold)
    ix = [int(x) if k else -1 for x, k in zip(xs, ok)]
    iy = [int(y) if k else -1 for y, k in zip(ys, ok)]
    drawn = [k and x >= 0 and y >= 0 for x, y, k in zip(ix, iy, ok)]
    return ix, iy, drawn


def _draw_hand(canvas: np.ndarray, hand: np.ndarray, threshold: float) -> None:
    h, w = canvas.shape[:2]
    ix, iy, drawn = _int_points(hand, w, h, threshold)
    for ie, (a, b) in enumerate(HAND_EDGES):
        if drawn[a] and drawn[b]:
            cv2.line(canvas, (ix[a], iy[a]), (ix[b], iy[b]), HAND_EDGE_COLORS[ie], thickness=2)
    for i, k in enumerate(drawn):
        if k:
            cv2.circle(canvas, (ix[i], iy[i]), 4, HAND_POINT_COLOR, thickness=-1)


def _draw_face(canvas: np.ndarray, face: np.ndarray, threshold: float) -> None:
    h, w = canvas.shape[:2]
    ix, iy, drawn = _int_points(face, w, h, threshold)
    for i, k in enumerate(drawn):
        if k:
            cv2.circle(canvas, (ix[i], iy[i]), 3, FACE_POINT_COLOR, thickness=-1)


def draw_pose(
    frame: FramePose,
    draw_body: bool = True,
    draw_hands: bool = True,
    draw_face: bool = True,
    threshold: float = 0.0,
) -> np.ndarray:
    """Render ``frame`` as a uint8 (H, W, 3) RGB pose map on black, as the ControlNet-1.1 annotator does.

    A keypoint is drawn when its score is > ``threshold``; hand and face points also need
    non-negative pixel coordinates (as in the annotator). Bodies of all people are drawn first,
    then hands (each person's left, then right), then faces.
    """
    canvas = np.zeros((frame.height, frame.width, 3), dtype=np.uint8)
    if draw_body:
        _draw_bodies(canvas, [p.body for p in frame.people], threshold)
    if draw_hands:
        for person in frame.people:
            _draw_hand(canvas, person.left_hand, threshold)
            _draw_hand(canvas, person.right_hand, threshold)
    if draw_face:
        for person in frame.people:
            _draw_face(canvas, person.face, threshold)
    return canvas


def pose_is_visible(frame: FramePose, threshold: float = 0.0) -> bool:
    """True when :func:`draw_pose` (same ``threshold``, all parts) draws at least one pixel of ``frame``.

    False for a frame without people or present keypoints, and for one whose keypoints all lie off the canvas
    (negative, beyond its size, or too far out to draw, e.g. 1e30), whose pose map is therefore black.
    Cheap for ordinary frames: a present keypoint on the canvas answers at once; only frames whose present
    keypoints are all off the canvas are rendered, since a limb between two of them may still cross it."""
    any_present = False
    for person in frame.people:
        for points in (person.body, person.left_hand, person.right_hand, person.face):
            xs, ys, ok = _prepare(points, frame.width, frame.height, threshold)
            for x, y in zip(xs[ok], ys[ok]):
                any_present = True
                if 0 <= int(x) < frame.width and 0 <= int(y) < frame.height:
                    return True
    return any_present and bool(draw_pose(frame, threshold=threshold).any())


def draw_pose_batch(frames: Sequence[FramePose], **kwargs) -> np.ndarray:
    """Render same-sized frames to a uint8 (N, H, W, 3) array; ``kwargs`` go to :func:`draw_pose`."""
    if not frames:
        raise ValueError("draw_pose_batch needs at least one frame")
    sizes = {(f.width, f.height) for f in frames}
    if len(sizes) != 1:
        raise ValueError(f"draw_pose_batch needs frames of one canvas size, got {sorted(sizes)}")
    return np.stack([draw_pose(f, **kwargs) for f in frames])
