"""Pure decoding steps of the OpenPose annotator: heat-maps and PAFs in, pixel keypoints out.

Each function reproduces one step of the ControlNet annotator (``annotator/openpose``, also shipped as
``controlnet_aux.open_pose``) on numpy arrays, so it can be tested on synthetic maps:

- :func:`find_peaks`: Gaussian-smoothed (sigma 3) heat-map, local maxima over the 4 neighbours (ties kept,
  borders compared with 0) above a threshold; the score is the *unsmoothed* value at the peak.
- :func:`connect_limbs`: for each limb, every candidate pair is scored by sampling the PAF at 10 points on
  the segment; pairs are accepted greedily by score.
- :func:`assemble_people`: the annotator's greedy merge of limbs into people, then pruning of people with
  fewer than 4 parts or a mean score under 0.4.
- :func:`hand_boxes` / :func:`face_box`: the square crops derived from a body.
- :func:`hand_peaks` / :func:`face_peaks`: one argmax per heat-map.

Peaks are integer pixels by default: the annotator takes the argmax of the upsampled, smoothed map, and the
OpenPose ControlNet was trained on drawings of those points. ``refine=True`` adds a sub-pixel offset from a
parabola through the peak and its two neighbours along x and along y (clipped to half a pixel).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from magicpose.pose.render import LIMB_SEQ

__all__ = [
    "LIMB_SEQ",
    "PAF_CHANNELS",
    "assemble_people",
    "connect_limbs",
    "decode_bodies",
    "face_box",
    "face_peaks",
    "find_peaks",
    "gaussian_smooth",
    "hand_boxes",
    "hand_peaks",
    "pad_right_down",
    "people_to_bodies",
    "refine_peak",
    "resize_maps",
]

# (x, y) channels of the PAF for each limb of LIMB_SEQ (the annotator's mapIdx minus the 19 heat-maps).
PAF_CHANNELS: tuple[tuple[int, int], ...] = (
    (12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5), (6, 7),
    (8, 9), (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27),
)  # fmt: skip
# The last two limbs (shoulder-ear) may join existing people but never start one.
_LIMBS_STARTING_PEOPLE = 17
# A present keypoint never gets score 0 (= missing), even where the unsmoothed map is <= 0 at its peak.
MIN_SCORE = 1e-4


def gaussian_smooth(m: np.ndarray, sigma: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(m, sigma)`` (radius ``int(4 sigma + 0.5)``, mirror-reflected borders)
    for a 2-D map, without scipy."""
    radius = int(4.0 * sigma + 0.5)
    k = 2 * radius + 1
    return cv2.GaussianBlur(m, (k, k), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def resize_maps(x: np.ndarray, width: int, height: int) -> np.ndarray:
    """The annotator's ``smart_resize`` of an (H, W[, C]) array: area averaging when shrinking (by the sum of
    the sides), Lanczos-4 otherwise. Each channel is resized independently, so one multi-channel call equals
    the annotator's channel-by-channel loop; area resizing goes in groups of 4 channels (cv2's limit)."""
    h, w = x.shape[:2]
    interp = cv2.INTER_AREA if (height + width) / (h + w) < 1 else cv2.INTER_LANCZOS4
    if x.ndim == 2 or x.shape[2] <= 4 or interp == cv2.INTER_LANCZOS4:
        out = cv2.resize(x, (width, height), interpolation=interp)
        return out.reshape(height, width, *x.shape[2:])
    parts = [
        cv2.resize(np.ascontiguousarray(x[:, :, i : i + 4]), (width, height), interpolation=interp)
        for i in range(0, x.shape[2], 4)
    ]
    return np.concatenate([p.reshape(height, width, -1) for p in parts], axis=2)


def pad_right_down(img: np.ndarray, stride: int, pad_value: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad bottom and right up to multiples of ``stride``; returns the image and (pad_down, pad_right)."""
    h, w = img.shape[:2]
    down, right = (-h) % stride, (-w) % stride
    if down or right:
        img = np.pad(img, ((0, down), (0, right), (0, 0)), constant_values=pad_value)
    return img, (down, right)


def refine_peak(m: np.ndarray, x: int, y: int) -> tuple[float, float]:
    """Sub-pixel (x, y) of a local maximum of ``m`` at integer (x, y): a parabola through the peak and its two
    neighbours along each axis; no offset on an axis at the border or where the map is flat there."""
    h, w = m.shape

    def offset(lo: float, c: float, hi: float) -> float:
        denom = lo - 2.0 * c + hi
        return 0.0 if denom >= 0 else float(np.clip(0.5 * (lo - hi) / denom, -0.5, 0.5))

    dx = offset(m[y, x - 1], m[y, x], m[y, x + 1]) if 0 < x < w - 1 else 0.0
    dy = offset(m[y - 1, x], m[y, x], m[y + 1, x]) if 0 < y < h - 1 else 0.0
    return x + dx, y + dy


def find_peaks(
    heatmap: np.ndarray, threshold: float = 0.1, sigma: float = 3.0, refine: bool = False
) -> np.ndarray:
    """Peaks of one (H, W) heat-map as an (N, 3) float64 array of (x, y, score), in row-major order.

    A peak is a pixel of the smoothed map that is >= its 4 neighbours (outside the map counts as 0) and
    > ``threshold``; equal neighbours are both kept, as in the annotator. The score is the unsmoothed value.
    """
    heatmap = np.asarray(heatmap, dtype=np.float64)
    s = gaussian_smooth(heatmap, sigma) if sigma > 0 else heatmap
    p = np.pad(s, 1)
    peak = (
        (s >= p[:-2, 1:-1]) & (s >= p[2:, 1:-1]) & (s >= p[1:-1, :-2]) & (s >= p[1:-1, 2:]) & (s > threshold)
    )
    ys, xs = np.nonzero(peak)
    out = np.stack([xs, ys, heatmap[ys, xs]], axis=1).astype(np.float64)
    if refine:
        for row in out:
            row[0], row[1] = refine_peak(s, int(row[0]), int(row[1]))
    return out


def connect_limbs(
    peaks: Sequence[np.ndarray], paf: np.ndarray, image_height: int, mid_num: int = 10, thre2: float = 0.05
) -> list[np.ndarray]:
    """Score joint pairs along the PAF and keep the best disjoint pairs per limb.

    ``peaks``: per joint an (N_j, 3) array (x, y, score); ``paf``: (H, W, 38). Returns per limb of
    :data:`LIMB_SEQ` an (K, 5) array of (global id of A, global id of B, connection score, i, j), global
    ids counting the peaks of all joints in order. A pair is a candidate when more than 80% of its
    ``mid_num`` samples have PAF . direction > ``thre2`` and its mean plus the distance prior
    ``min(0.5 * image_height / length - 1, 0)`` is positive; candidates are taken by decreasing score while
    neither end is used, up to min(N_A, N_B) pairs.
    """
    offsets = np.cumsum([0] + [len(p) for p in peaks])
    h, w = paf.shape[:2]
    out = []
    for (ja, jb), (cx, cy) in zip(LIMB_SEQ, PAF_CHANNELS):
        cand_a, cand_b = peaks[ja], peaks[jb]
        if len(cand_a) == 0 or len(cand_b) == 0:
            out.append(np.zeros((0, 5)))
            continue
        candidates = []
        for i, a in enumerate(cand_a):
            for j, b in enumerate(cand_b):
                vec = b[:2] - a[:2]
                norm = max(0.001, math.sqrt(vec[0] * vec[0] + vec[1] * vec[1]))
                vec = vec / norm
                # np.rint rounds half to even, as Python's round() on numpy floats in the annotator
                xs = np.rint(np.linspace(a[0], b[0], num=mid_num)).astype(int).clip(0, w - 1)
                ys = np.rint(np.linspace(a[1], b[1], num=mid_num)).astype(int).clip(0, h - 1)
                dots = paf[ys, xs, cx] * vec[0] + paf[ys, xs, cy] * vec[1]
                # a sequential sum in the annotator's order, so scores (and ties) match to the last bit
                score = sum(dots.tolist()) / len(dots) + min(0.5 * image_height / norm - 1, 0)
                if np.count_nonzero(dots > thre2) > 0.8 * len(dots) and score > 0:
                    candidates.append((i, j, score))
        candidates.sort(key=lambda c: c[2], reverse=True)  # stable, as the annotator's sorted()
        rows, used_a, used_b = [], set(), set()
        for i, j, score in candidates:
            if i not in used_a and j not in used_b:
                rows.append((offsets[ja] + i, offsets[jb] + j, score, i, j))
                used_a.add(i)
                used_b.add(j)
                if len(rows) >= min(len(cand_a), len(cand_b)):
                    break
        out.append(np.array(rows, dtype=np.float64).reshape(-1, 5))
    return out


def assemble_people(
    peaks: Sequence[np.ndarray],
    connections: Sequence[np.ndarray],
    min_parts: int = 4,
    min_mean_score: float = 0.4,
) -> np.ndarray:
    """Group limbs into people: a (P, 20) array whose columns 0-17 hold the global peak id of each joint
    (-1 = missing), 18 the total score and 19 the number of parts.

    Limbs are visited in :data:`LIMB_SEQ` order. A limb sharing a joint with one person extends it; one
    touching two people merges them if they share no joint (else extends the first); one touching nobody
    starts a person (except the two shoulder-ear limbs). People with fewer than ``min_parts`` parts or a
    total score per part under ``min_mean_score`` are dropped.
    """
    scores = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 3)[:, 2] for p in peaks])
    subset = np.zeros((0, 20))
    for k, conn in enumerate(connections):
        if len(conn) == 0:
            continue
        ja, jb = LIMB_SEQ[k]
        for id_a, id_b, score, _, _ in conn:
            found = [r for r in range(len(subset)) if subset[r, ja] == id_a or subset[r, jb] == id_b]
            # the annotator indexes a 2-slot list here; a third match (possible only after an overlapping
            # "merge" below) would crash it, so only the first two are used
            found = found[:2]
            if len(found) == 1:
                r = found[0]
                if subset[r, jb] != id_b:
                    _extend(subset[r], jb, id_b, scores[int(id_b)] + score)
            elif len(found) == 2 and _overlap(subset[found[0]], subset[found[1]]):
                # the annotator extends the first person here without checking whether B is already its own
                _extend(subset[found[0]], jb, id_b, scores[int(id_b)] + score)
            elif len(found) == 2:
                r1, r2 = found
                subset[r1, :-2] += subset[r2, :-2] + 1  # -1 + (id + 1) = id for r2's joints
                subset[r1, -2:] += subset[r2, -2:]
                subset[r1, -2] += score
                subset = np.delete(subset, r2, axis=0)
            elif k < _LIMBS_STARTING_PEOPLE:
                row = -np.ones(20)
                row[ja], row[jb] = id_a, id_b
                row[-1] = 2
                row[-2] = scores[int(id_a)] + scores[int(id_b)] + score
                subset = np.vstack([subset, row])
    keep = (subset[:, -1] >= min_parts) & (subset[:, -2] / np.maximum(subset[:, -1], 1) >= min_mean_score)
    return subset[keep]


def _extend(row: np.ndarray, joint: int, peak_id: float, score: float) -> None:
    row[joint] = peak_id
    row[-1] += 1
    row[-2] += score


def _overlap(row1: np.ndarray, row2: np.ndarray) -> bool:
    return bool(np.any((row1[:18] >= 0) & (row2[:18] >= 0)))


def people_to_bodies(subset: np.ndarray, peaks: Sequence[np.ndarray]) -> np.ndarray:
    """(P, 18, 3) bodies (x, y, score; missing joints all 0) from :func:`assemble_people`'s rows."""
    cand = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 3) for p in peaks])
    bodies = np.zeros((len(subset), 18, 3))
    for n, row in enumerate(subset):
        for j in range(18):
            if row[j] >= 0:
                x, y, s = cand[int(row[j])]
                bodies[n, j] = (x, y, max(s, MIN_SCORE))
    return bodies


def decode_bodies(
    heatmaps: np.ndarray,
    paf: np.ndarray,
    threshold: float = 0.1,
    sigma: float = 3.0,
    mid_num: int = 10,
    thre2: float = 0.05,
    refine: bool = False,
) -> np.ndarray:
    """Full-resolution heat-maps (H, W, >=18) and PAFs (H, W, 38) to (P, 18, 3) bodies in pixels."""
    peaks = [find_peaks(heatmaps[:, :, j], threshold, sigma, refine) for j in range(18)]
    connections = connect_limbs(peaks, paf, heatmaps.shape[0], mid_num, thre2)
    return people_to_bodies(assemble_people(peaks, connections), peaks)


def _present(body: np.ndarray, i: int) -> bool:
    return bool(body[i, 2] > 0)


def hand_boxes(
    body: np.ndarray, width: int, height: int, ratio_wrist_elbow: float = 0.33
) -> list[tuple[int, int, int, bool]]:
    """Square hand crops (x, y, side, is_left) from one (18, 3) body, left hand first, as the annotator's
    ``handDetect``: centre = wrist + 0.33 (wrist - elbow), side = 1.5 max(|wrist - elbow|,
    0.9 |elbow - shoulder|),
    moved inside the image's top-left corner and shrunk to fit at the bottom-right; boxes under 20 px are
    dropped. A hand needs its shoulder, elbow and wrist."""
    out = []
    for (shoulder, elbow, wrist), is_left in (((5, 6, 7), True), ((2, 3, 4), False)):
        if not all(_present(body, i) for i in (shoulder, elbow, wrist)):
            continue
        (x1, y1), (x2, y2), (x3, y3) = body[shoulder, :2], body[elbow, :2], body[wrist, :2]
        x = x3 + ratio_wrist_elbow * (x3 - x2)
        y = y3 + ratio_wrist_elbow * (y3 - y2)
        side = 1.5 * max(math.hypot(x3 - x2, y3 - y2), 0.9 * math.hypot(x2 - x1, y2 - y1))
        x, y = max(x - side / 2, 0), max(y - side / 2, 0)
        side = min(width - x if x + side > width else side, height - y if y + side > height else side)
        if side >= 20:
            out.append((int(x), int(y), int(side), is_left))
    return out


def face_box(body: np.ndarray, width: int, height: int) -> tuple[int, int, int] | None:
    """Square face crop (x, y, side) from one (18, 3) body, as the annotator's ``faceDetect``, or None.

    Needs the nose and at least one eye or ear. Half-side = max over the present ones of the Chebyshev
    distance to the nose, times 3 for eyes and 1.5 for ears; the box is centred on the nose, moved inside
    the top-left corner, and side 2 x half-side is cut to the image edge only when the *half*-side would
    cross it (the annotator's rule, kept so crops match). Boxes under 20 px are dropped."""
    if not _present(body, 0) or not any(_present(body, i) for i in (14, 15, 16, 17)):
        return None
    x0, y0 = body[0, :2]
    half = 0.0
    for i, factor in ((14, 3.0), (15, 3.0), (16, 1.5), (17, 1.5)):
        if _present(body, i):
            half = max(half, factor * max(abs(x0 - body[i, 0]), abs(y0 - body[i, 1])))
    x, y = max(x0 - half, 0), max(y0 - half, 0)
    w1 = width - x if x + half > width else 2 * half
    w2 = height - y if y + half > height else 2 * half
    side = min(w1, w2)
    return (int(x), int(y), int(side)) if side >= 20 else None


def hand_peaks(
    heatmaps: np.ndarray,
    crop_height: int,
    crop_width: int,
    threshold: float = 0.05,
    sigma: float = 3.0,
    refine: bool = False,
) -> np.ndarray:
    """(21, 3) hand points in crop pixels from averaged (>=21, S, S) heat-maps (the annotator uses S=128).

    Per point: threshold the smoothed map, keep the 8-connected region with the largest sum of the raw map,
    take the raw map's argmax inside it and scale by crop/S, truncating to int as the annotator does
    (``refine`` gives float coordinates with a sub-pixel offset instead). Score = raw value at the argmax.
    """
    out = np.zeros((21, 3))
    for part in range(21):
        raw = np.asarray(heatmaps[part], dtype=np.float64)
        s_h, s_w = raw.shape
        binary = (gaussian_smooth(raw, sigma) > threshold).astype(np.uint8)
        if not binary.any():
            continue
        n, labels = cv2.connectedComponents(binary, connectivity=8)
        sums = np.bincount(labels.ravel(), weights=raw.ravel(), minlength=n)[1:]
        best = 1 + int(np.argmax(sums))
        masked = np.where(labels == best, raw, 0.0)
        y, x = np.unravel_index(int(np.argmax(masked)), masked.shape)
        score = max(float(masked[y, x]), MIN_SCORE)
        if refine:
            fx, fy = refine_peak(masked, int(x), int(y))
            out[part] = (fx * crop_width / s_w, fy * crop_height / s_h, score)
        else:
            out[part] = (int(x * crop_width / s_w), int(y * crop_height / s_h), score)
    return out


def face_peaks(heatmaps: np.ndarray, threshold: float = 0.05, refine: bool = False) -> np.ndarray:
    """(70, 3) face points in crop pixels from (>=70, H, W) heat-maps already at the crop's size: per map the
    argmax among values > ``threshold`` (first in row-major order), score = that value; the 71st map
    (background) is not a point. Unlike the annotator, which skips maps with no value over the threshold
    and so shifts later indices, a missing point keeps its index with score 0."""
    out = np.zeros((70, 3))
    for part in range(70):
        m = np.asarray(heatmaps[part], dtype=np.float64)
        masked = np.where(m > threshold, m, -np.inf)
        idx = int(np.argmax(masked))
        y, x = np.unravel_index(idx, m.shape)
        if not np.isfinite(masked[y, x]):
            continue
        fx, fy = refine_peak(m, int(x), int(y)) if refine else (x, y)
        out[part] = (fx, fy, max(float(m[y, x]), MIN_SCORE))
    return out
