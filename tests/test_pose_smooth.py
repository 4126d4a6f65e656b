"""One-Euro keypoint smoothing: constants, noise and jitter on synthetic dancers, step lag, gaps, missing
points, people, striding."""

from __future__ import annotations

import numpy as np
import pytest

from magicpose.eval.keypoints import keypoint_jitter, mean_keypoint_error
from magicpose.pose import (
    NUM_KEYPOINTS,
    FramePose,
    OneEuroFilter,
    PersonPose,
    smooth_keypoints,
    stride_frames,
)
from magicpose.synthetic import Identity, Motion, pose_sequence, split_ids

FPS = 30.0
S = 128  # the synthetic dancers' canvas
R_WRIST = 4


def dancer(k: int, frames: int = 60) -> np.ndarray:
    """Exact keypoints (frames, 130, 3) of held-out dancer k doing a held-out dance at 30 fps."""
    identity_id, motion_id = split_ids(5, "test", 3)[k]
    people = pose_sequence(Identity.from_id(identity_id), Motion.from_id(motion_id), frames, S, fps=FPS)
    return np.stack([p.to_array() for p in people]).astype(np.float64)


def frames_of(arr: np.ndarray, width: int = S, height: int = S) -> list[FramePose]:
    return [FramePose.from_array(a, width, height) for a in arr]


def array_of(frames: list[FramePose]) -> np.ndarray:
    return np.stack([f.people[0].to_array() for f in frames]).astype(np.float64)


def point_track(xs, ys=None, scores=None, height: int = S) -> list[FramePose]:
    """One person whose nose follows ``xs``, ``ys`` (the other points missing)."""
    out = []
    for i, x in enumerate(xs):
        body = np.zeros((18, 3))
        body[0] = (x, 50 if ys is None else ys[i], 1 if scores is None else scores[i])
        out.append(FramePose(S, height, [PersonPose(body=body)]))
    return out


def nose_x(frames: list[FramePose]) -> np.ndarray:
    return np.array([f.people[0].body[0, 0] for f in frames], np.float64)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_a_constant_signal_passes_unchanged(bidirectional):
    still = np.repeat(dancer(0, 1), 20, axis=0)
    out = array_of(smooth_keypoints(frames_of(still, 200, 150), FPS, bidirectional=bidirectional))
    assert np.abs(out - still).max() <= 1e-6
    filt = OneEuroFilter(FPS)
    assert all(np.array_equal(filt(np.full(5, 3.25)), np.full(5, 3.25)) for _ in range(10))


def test_noise_jitter_and_error_drop_on_synthetic_dancers():
    rng = np.random.default_rng(0)
    before_j, after_j, causal_j, before_e, after_e = [], [], [], [], []
    for k in range(3):
        truth = dancer(k)
        noisy = truth.copy()
        noisy[..., :2] += rng.normal(0, 1.0, noisy[..., :2].shape)  # 1 px on 128 px
        smoothed = array_of(smooth_keypoints(frames_of(noisy), FPS))
        causal = array_of(smooth_keypoints(frames_of(noisy), FPS, bidirectional=False))
        before_j.append(keypoint_jitter(noisy))
        after_j.append(keypoint_jitter(smoothed))
        causal_j.append(keypoint_jitter(causal))
        before_e.append(mean_keypoint_error(noisy, truth))
        after_e.append(mean_keypoint_error(smoothed, truth))
    # measured: jitter 3.51 -> 1.21 px (x0.34; causal 1.32, x0.38), mean error 1.26 -> 0.69 px (x0.55)
    assert np.mean(after_j) < 0.40 * np.mean(before_j)
    assert np.mean(causal_j) < 0.42 * np.mean(before_j)
    assert np.mean(after_e) < 0.60 * np.mean(before_e)


@pytest.mark.parametrize("bidirectional, lag", [(False, 2), (True, 1)])
def test_a_step_is_followed_within_a_few_frames(bidirectional, lag):
    """A 10 px step (8 % of the canvas height) at 30 fps reaches 90 % within ``lag`` frames after the step
    frame (measured: causal 2, bidirectional 1, whose look-ahead moves 16 % one frame early)."""
    xs = np.r_[np.full(30, 50.0), np.full(30, 60.0)]
    frac = (nose_x(smooth_keypoints(point_track(xs), FPS, bidirectional=bidirectional)) - 50) / 10
    assert np.all(np.abs(frac[30 + lag :] - 1) <= 0.1)
    assert np.abs(frac[30 + lag - 1] - 1) > 0.1  # and not sooner: the lag is stated exactly
    assert (frac[:30].max() == 0) if not bidirectional else (frac[:29].max() < 0.1)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_a_short_gap_is_bridged_without_a_jump_and_touches_no_neighbour(bidirectional):
    truth = dancer(1)
    rng = np.random.default_rng(1)
    noisy = truth.copy()
    noisy[..., :2] += rng.normal(0, 1.0, noisy[..., :2].shape)
    gappy = noisy.copy()
    gappy[20:23, R_WRIST] = (0, 0, 0)  # missing for 3 frames, as OpenPose writes it
    full = array_of(smooth_keypoints(frames_of(noisy), FPS, bidirectional=bidirectional))
    out = array_of(smooth_keypoints(frames_of(gappy), FPS, bidirectional=bidirectional))
    np.testing.assert_array_equal(out[20:23, R_WRIST], 0)  # missing stays missing, not moved
    others = np.ones(NUM_KEYPOINTS, bool)
    others[R_WRIST] = False
    np.testing.assert_array_equal(out[:, others], full[:, others])  # neighbours unaffected

    # back without a jump: at the return frame the error is of the size of the gapless filter's (measured:
    # bidirectional 0.22 px, typical 0.68; causal 2.04 px, typical 1.24, gapless at that frame 1.41)
    def wrist_error(a: np.ndarray, i: int) -> float:
        return float(np.hypot(*(a[i, R_WRIST, :2] - truth[i, R_WRIST, :2])))

    typical = np.mean([wrist_error(full, i) for i in range(5, 60)])
    assert wrist_error(out, 23) < 2 * typical
    assert wrist_error(out, 23) < wrist_error(full, 23) + 1.0
    moved, true_move = (np.hypot(*(a[23, R_WRIST, :2] - a[19, R_WRIST, :2])) for a in (out, truth))
    assert moved < true_move + 2  # measured 5.9 (causal 4.6) px against a true 6.9


def test_a_long_gap_restarts_the_point_and_missing_points_are_untouched():
    xs = np.r_[np.full(10, 20.0), np.zeros(8), np.full(10, 90.0)]
    scores = np.r_[np.ones(10), np.zeros(8), np.ones(10)]
    out = smooth_keypoints(point_track(xs, scores=scores), FPS, max_gap=5, bidirectional=False)
    assert nose_x(out)[18] == 90.0  # restarted: the first sample passes through, no pull from x = 20
    bridged = smooth_keypoints(point_track(xs, scores=scores), FPS, max_gap=8, bidirectional=False)
    assert 20.0 < nose_x(bridged)[18] < 90.0  # bridged: still pulled by the state before the gap
    assert all(f.people[0].body[0, 2] == 0 and f.people[0].body[0, 0] == 0 for f in out[10:18])
    # low-score points count as missing with min_score, and keep their values
    low = np.r_[np.ones(5), [0.05], np.ones(5)]
    out = smooth_keypoints(
        point_track(np.r_[np.full(5, 10.0), [99.0], np.full(5, 10.0)], scores=low), FPS, min_score=0.1
    )
    assert nose_x(out)[5] == 99.0 and np.allclose(nose_x(out)[[4, 6]], 10.0)
    assert out[5].people[0].body[0, 2] == pytest.approx(0.05)


def test_people_are_filtered_by_index_and_frames_may_lack_them():
    a, b = dancer(0, 6), dancer(2, 6)
    frames = [FramePose.from_array(np.stack([a[i], b[i]]), S, S) for i in range(6)]
    frames[3] = FramePose.from_array(a[3], S, S)  # the second person is not detected in frame 3
    frames[4] = FramePose(S, S, [])
    out = smooth_keypoints(frames, FPS)
    assert [len(f.people) for f in out] == [2, 2, 2, 1, 0, 2]
    alone = smooth_keypoints(
        [FramePose.from_array(b[i], S, S) for i in (0, 1, 2, 5)], FPS, bidirectional=False
    )
    causal = smooth_keypoints(frames, FPS, bidirectional=False)
    # person 2's filter skips frames 3-4 (a gap of 2): its first three outputs match filtering it alone
    for i in range(3):
        np.testing.assert_allclose(causal[i].people[1].to_array(), alone[i].people[0].to_array(), atol=1e-4)
    assert smooth_keypoints([], FPS) == []
    with pytest.raises(ValueError, match="max_gap"):
        smooth_keypoints(frames, FPS, max_gap=-1)
    with pytest.raises(ValueError, match="frequency"):
        smooth_keypoints(frames, 0)


def test_stride_frames():
    assert stride_frames(list(range(10)), 3) == [0, 3, 6, 9]
    assert stride_frames(range(10), 4, offset=1) == [1, 5, 9]
    with pytest.raises(ValueError, match="stride"):
        stride_frames([1, 2], 0)


def test_jitter_and_error_by_hand() -> None:
    steady = np.zeros((4, 2, 3))
    steady[..., 0] = np.arange(4)[:, None] * 3.0  # constant velocity
    steady[..., 2] = 1
    assert keypoint_jitter(steady) == 0.0
    shaky = steady.copy()
    shaky[1, 0, :2] += (3.0, 4.0)  # point 0 off by 5 px in frame 1: second differences -10, +5 px long
    shaky[:, 1, 2] = 0  # point 1 unseen: ignored
    assert keypoint_jitter(shaky) == pytest.approx(np.sqrt((100 + 25) / 2))
    assert mean_keypoint_error(shaky, steady) == pytest.approx(5 / 8)  # the truth shows all 8 points
