"""MRAA-style keypoint metrics: the pose extractor run on the generated and the true frame.

- AKD (average keypoint distance): per frame, the mean absolute coordinate difference (x and y, pixels of
  the ground-truth frame) over the 18 OpenPose body keypoints found in both frames; mean over the frames
  where any keypoint is found in both (as MRAA's pose-evaluation ``cmp_with_missing.py``).
- MKR (missing keypoint rate): per frame, the share of keypoints found in the true frame that are missing
  in the generated one; mean over frames whose true frame shows any keypoint.

The person compared is the most prominent one in each frame (largest box x confidence).

Also the two measures of a keypoint track that the smoothing tests and ``benchmarks/eval_pose_tools.py`` use:
its jitter and its mean error against the true track.
"""

from __future__ import annotations

import numpy as np

from magicpose.pose.extract.people import person_score
from magicpose.pose.schema import PersonPose


def main_body(people: list[PersonPose]) -> np.ndarray:
    """The (18, 3) body of the most prominent person (all missing when nobody is found)."""
    if not people:
        return PersonPose.empty().body
    return max(people, key=person_score).body


def frame_akd_mkr(gen_body: np.ndarray, gt_body: np.ndarray) -> tuple[float | None, float | None]:
    """(AKD, MKR) of one frame; None where the frame does not count for that metric."""
    in_gt, in_gen = gt_body[:, 2] > 0, gen_body[:, 2] > 0
    both = in_gt & in_gen
    akd = float(np.abs(gen_body[both, :2] - gt_body[both, :2]).mean()) if both.any() else None
    mkr = float((in_gt & ~in_gen).sum() / in_gt.sum()) if in_gt.any() else None
    return akd, mkr


class KeypointScores:
    """Accumulates AKD and MKR over frames (each metric over the frames that count for it)."""

    def __init__(self) -> None:
        self.sums = {"akd": 0.0, "mkr": 0.0}
        self.counts = {"akd": 0, "mkr": 0}

    def add(self, gen_body: np.ndarray, gt_body: np.ndarray) -> None:
        for name, value in zip(("akd", "mkr"), frame_akd_mkr(gen_body, gt_body)):
            if value is not None:
                self.sums[name] += value
                self.counts[name] += 1

    def mean(self, name: str) -> float | None:
        return self.sums[name] / self.counts[name] if self.counts[name] else None


def keypoint_jitter(track: np.ndarray) -> float:
    """RMS length (px) of the second difference p[t+1] - 2 p[t] + p[t-1] of a (T, K, 3) track, over the points
    seen (score > 0) in all three frames: 0 for motion at constant velocity."""
    seen = track[..., 2] > 0
    all_three = seen[2:] & seen[1:-1] & seen[:-2]
    d2 = track[2:, :, :2] - 2 * track[1:-1, :, :2] + track[:-2, :, :2]
    return float(np.sqrt((d2**2).sum(-1)[all_three].mean()))


def mean_keypoint_error(track: np.ndarray, truth: np.ndarray) -> float:
    """Mean distance (px) between a (T, K, 3) track and the true one, over the points the truth shows."""
    seen = truth[..., 2] > 0
    return float(np.linalg.norm(track[..., :2] - truth[..., :2], axis=-1)[seen].mean())
