"""COCO-WholeBody 133 keypoints -> our OpenPose layout, exactly as the ControlNet DWPose annotator maps them.

The annotator (controlnet_aux ``dwpose/wholebody.py`` + ``dwpose/__init__.py``, same in the ONNX variant of
ControlNet-v1-1-nightly) inserts a neck at the shoulders' midpoint, reorders COCO-17 to OpenPose-18, drops the
six foot points, keeps the 68 face points and the two 21-point hands, and hides points scored below 0.3.
Indices below are into the *original* 133-point array (the annotator's 24..91 / 92..112 / 113..133 are the
same ranges shifted by the inserted neck).
"""

from __future__ import annotations

import numpy as np

from magicpose.pose.schema import NUM_FACE, PersonPose

__all__ = [
    "COCO_TO_OPENPOSE_BODY",
    "FACE_INDICES",
    "LEFT_HAND_INDICES",
    "NECK",
    "NUM_WHOLEBODY",
    "RIGHT_HAND_INDICES",
    "SCORE_THRESHOLD",
    "wholebody_to_openpose",
]

NUM_WHOLEBODY = 133
NECK = -1  # marker in COCO_TO_OPENPOSE_BODY: no COCO point, the mean of both shoulders
COCO_LEFT_SHOULDER, COCO_RIGHT_SHOULDER = 5, 6

# COCO-17 index for each OpenPose-18 joint (schema.BODY_NAMES order). COCO: 0 nose, 1/2 l/r eye, 3/4 l/r ear,
# 5/6 l/r shoulder, 7/8 elbow, 9/10 wrist, 11/12 hip, 13/14 knee, 15/16 ankle.
COCO_TO_OPENPOSE_BODY: tuple[int, ...] = (0, NECK, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
# 17..22 are the feet (dropped). The face is the iBUG 68 layout, which is OpenPose's face 0..67; the annotator
# has no pupils (OpenPose face 68, 69), so those stay missing.
FACE_INDICES: tuple[int, ...] = tuple(range(23, 91))
# COCO-WholeBody 91 is 'left_hand_root' (the person's left, mmpose coco_wholebody metainfo) = OpenPose
# hand_left_keypoints_2d; both use the same 21-point order (root, then 4 per finger from the thumb).
LEFT_HAND_INDICES: tuple[int, ...] = tuple(range(91, 112))
RIGHT_HAND_INDICES: tuple[int, ...] = tuple(range(112, 133))

SCORE_THRESHOLD = 0.3


def _visible(points: np.ndarray, scores: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(N, 3) float32 (x, y, score), score zeroed where ``keep`` is false."""
    out = np.zeros((len(points), 3), dtype=np.float32)
    out[:, :2] = points
    out[:, 2] = np.where(keep, scores, 0.0)
    return out


def wholebody_to_openpose(
    keypoints: np.ndarray, scores: np.ndarray, threshold: float = SCORE_THRESHOLD
) -> list[PersonPose]:
    """Map (P, 133, 2) pixel keypoints and (P, 133) scores to one :class:`PersonPose` per person.

    Visible points keep their model score; the rest get score 0. As in the annotator the body needs
    ``score > threshold`` and hands/face ``score >= threshold`` (it hides ``score < 0.3``), and the neck's
    score is 1 when both shoulders are ``> threshold``, else 0.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if (
        keypoints.ndim != 3
        or keypoints.shape[1:] != (NUM_WHOLEBODY, 2)
        or scores.shape != keypoints.shape[:2]
    ):
        raise ValueError(
            f"expected keypoints (P, {NUM_WHOLEBODY}, 2) and scores (P, {NUM_WHOLEBODY}), "
            f"got {keypoints.shape} and {scores.shape}"
        )
    body_src = np.array([COCO_LEFT_SHOULDER if i == NECK else i for i in COCO_TO_OPENPOSE_BODY])
    neck_row = COCO_TO_OPENPOSE_BODY.index(NECK)
    people = []
    for kp, sc in zip(keypoints, scores):
        body_xy, body_sc = kp[body_src].copy(), sc[body_src].copy()
        body_xy[neck_row] = kp[[COCO_LEFT_SHOULDER, COCO_RIGHT_SHOULDER]].mean(axis=0)
        shoulders_seen = sc[COCO_LEFT_SHOULDER] > threshold and sc[COCO_RIGHT_SHOULDER] > threshold
        body_sc[neck_row] = 1.0 if shoulders_seen else 0.0
        face = np.zeros((NUM_FACE, 3), dtype=np.float32)
        face[: len(FACE_INDICES)] = _visible(
            kp[list(FACE_INDICES)], sc[list(FACE_INDICES)], sc[list(FACE_INDICES)] >= threshold
        )
        hands = [
            _visible(kp[list(idx)], sc[list(idx)], sc[list(idx)] >= threshold)
            for idx in (LEFT_HAND_INDICES, RIGHT_HAND_INDICES)
        ]
        people.append(
            PersonPose(
                body=_visible(body_xy, body_sc, body_sc > threshold),
                left_hand=hands[0],
                right_hand=hands[1],
                face=face,
            )
        )
    return people
