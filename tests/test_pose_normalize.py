"""EDN pose normalisation: statistics, the per-frame map, exact-copy recovery, smoothing and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from magicpose.pose import (
    NUM_BODY,
    NUM_HAND,
    NUM_KEYPOINTS,
    FramePose,
    PersonPose,
    PoseInputError,
    fit_normalizer,
    load_pose_sequence,
    normalize_poses,
    person_pose_stats,
    pose_stats,
    smooth_poses,
)

W, H = 640, 480
NOSE, R_WRIST, L_WRIST, R_ANKLE, L_ANKLE, R_EAR, L_EAR = 0, 4, 7, 10, 13, 16, 17
LH = slice(NUM_BODY, NUM_BODY + NUM_HAND)
RH = slice(NUM_BODY + NUM_HAND, NUM_BODY + 2 * NUM_HAND)
FACE = slice(NUM_BODY + 2 * NUM_HAND, NUM_KEYPOINTS)


def figure(ground: float, height: float, cx: float, phase: float) -> np.ndarray:
    """One stick figure (130, 3): right ankle on ``ground``, nose ``height`` above the feet, hands and
    face attached to the wrists and the nose and sized with the figure."""
    wave = (math.cos(phase), math.sin(phase))
    body_uv = [
        (0.0, -1.0),
        (0.0, -0.85),
        (-0.12, -0.83),
        (-0.18, -0.65),
        (-0.2 - 0.1 * wave[0], -0.5 - 0.3 * wave[1]),
        (0.12, -0.83),
        (0.18, -0.65),
        (0.2 + 0.1 * wave[1], -0.5 - 0.3 * math.sin(phase + 1)),
        (-0.07, -0.5),
        (-0.08, -0.26),
        (-0.08, 0.0),
        (0.07, -0.5),
        (0.08, -0.27),
        (0.08, -0.04 * (1 + wave[1])),  # left foot lifted, never below right
        (-0.03, -1.02),
        (0.03, -1.02),
        (-0.06, -1.0),
        (0.06, -1.0),
    ]
    arr = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    uv = np.array(body_uv)
    arr[:NUM_BODY, 0] = cx + height * uv[:, 0]
    arr[:NUM_BODY, 1] = ground + height * uv[:, 1]
    angles = np.linspace(0, 2 * np.pi, NUM_HAND, endpoint=False) + phase
    radii = np.linspace(0.01, 0.06, NUM_HAND)
    for sl, wrist in ((LH, L_WRIST), (RH, R_WRIST)):
        arr[sl, 0] = arr[wrist, 0] + height * radii * np.cos(angles)
        arr[sl, 1] = arr[wrist, 1] + height * radii * np.sin(angles)
    face_angles = np.linspace(0, 2 * np.pi, 70, endpoint=False)
    arr[FACE, 0] = arr[NOSE, 0] + height * 0.05 * np.cos(face_angles)
    arr[FACE, 1] = arr[NOSE, 1] + height * 0.06 * np.sin(face_angles)
    arr[:, 2] = 0.9
    return arr


def target_arrays(n: int = 48) -> np.ndarray:
    """A dancer walking to and from the camera: ground y between 330 and 450, height linear in it."""
    out = []
    for i in range(n):
        # phase 0.3: no sample on the far band's open edge (the far statistic jumps there)
        ground = 330 + 120 * (0.5 - 0.5 * math.cos(2 * math.pi * (i + 0.3) / 24))
        height = 150 + 0.8 * (ground - 330)
        out.append(figure(ground, height, 320 + 80 * math.sin(2 * math.pi * i / 16), 2 * math.pi * i / 12))
    arr = np.stack(out)
    rng = np.random.default_rng(0)
    arr[rng.random(arr.shape[:2]) < 0.05, 2] = 0  # a few missing points everywhere
    if n > 30:
        arr[5, [NOSE, R_EAR, L_EAR], 2] = 0  # no head: no statistic in frame 5
        arr[20, [R_ANKLE, L_ANKLE], 2] = 0  # no ankle: none in frame 20
        arr[30, L_ANKLE, 2] = 0  # one ankle is enough
    arr[:, :, :2][arr[:, :, 2] == 0] = 0  # missing points at (0, 0, 0), as OpenPose writes them
    return arr


def scaled_copy(arr: np.ndarray, k: float, dy: float, width_in: int = W, width_out: int = W) -> np.ndarray:
    """``arr`` scaled by ``k`` about the canvas centre line, shifted by ``dy``; missing points untouched."""
    out = arr.copy()
    seen = arr[..., 2] > 0
    out[..., 0] = np.where(seen, width_out / 2 + k * (arr[..., 0] - width_in / 2), arr[..., 0])
    out[..., 1] = np.where(seen, k * arr[..., 1] + dy, arr[..., 1])
    return out


def frames_of(arr: np.ndarray, width: int = W, height: int = H) -> list[FramePose]:
    return [FramePose.from_array(a, width, height) for a in arr]


def first_people(frames: list[FramePose]) -> np.ndarray:
    return np.stack([f.people[0].to_array() for f in frames])


def max_point_error(a: np.ndarray, b: np.ndarray) -> float:
    assert np.array_equal(a[..., 2], b[..., 2])
    seen = a[..., 2] > 0
    return float(np.abs(a[seen][:, :2] - b[seen][:, :2]).max())


# ----------------------------------------------------------------------------------------------- statistics


def test_person_stats_head_and_ankle_rules():
    body = np.zeros((NUM_BODY, 3), np.float32)
    body[NOSE] = (100, 50, 1)
    body[R_ANKLE] = (90, 250, 1)
    body[L_ANKLE] = (110, 240, 1)
    toe, height = person_pose_stats(PersonPose(body=body))
    assert toe == 250  # the lower ankle
    assert height == pytest.approx(math.hypot(0, 245 - 50))  # nose to ankle midpoint (100, 245)

    no_nose = body.copy()
    no_nose[NOSE, 2] = 0
    no_nose[R_EAR] = (80, 60, 1)
    no_nose[L_EAR] = (120, 40, 1)  # ear mean (100, 50): same head as the nose
    assert person_pose_stats(PersonPose(body=no_nose)) == pytest.approx((250, 195))
    no_nose[L_EAR, 2] = 0  # one ear: (80, 60)
    assert person_pose_stats(PersonPose(body=no_nose)) == pytest.approx((250, math.hypot(20, 185)))

    # The official bug checked an ear's score for the left ankle: here each ankle stands on its own.
    left_only = body.copy()
    left_only[R_ANKLE, 2] = 0
    assert person_pose_stats(PersonPose(body=left_only)) == pytest.approx((240, math.hypot(10, 190)))
    right_only = body.copy()
    right_only[L_ANKLE] = (500, 999, 0)  # a missing ankle's coordinates are ignored
    assert person_pose_stats(PersonPose(body=right_only)) == pytest.approx((250, math.hypot(10, 200)))

    headless = body.copy()
    headless[NOSE, 2] = 0
    assert person_pose_stats(PersonPose(body=headless)) is None
    footless = body.copy()
    footless[[R_ANKLE, L_ANKLE], 2] = 0
    assert person_pose_stats(PersonPose(body=footless)) is None


def stats_frames(toes, heights) -> list[FramePose]:
    frames = []
    for toe, h in zip(toes, heights):
        body = np.zeros((NUM_BODY, 3), np.float32)
        body[NOSE] = (300, toe - h, 1)
        body[R_ANKLE] = (300, toe, 1)
        frames.append(FramePose(W, H, [PersonPose(body=body)]))
    return frames


def test_sequence_stats_close_far_heights_by_hand():
    toes = [10, 100, 110, 120, 130, 140, 150, 200, 197]
    heights = [40, 60, 55, 70, 80, 90, 100, 85, 120]
    s = pose_stats(stats_frames(toes, heights))
    assert s.close == 200
    assert s.median == 130
    # far band (130 - 0.5 * 70, 130] = (95, 130]: the outlier at 10 is ignored, far = 100
    assert s.far == 100
    assert s.depth_range == 100
    # within 5 px (5 % of 100) of close: toes 200 and 197 -> max height 120
    assert s.height_close == 120
    assert s.height_far == 60  # toe 100 only
    assert s.height_max == 120
    assert s.num_valid == len(toes)
    # median_frac 0.7 widens the band to (81, 130]; an outlier at 85 is then the horizon
    s7 = pose_stats(stats_frames([85, *toes[1:]], heights), median_frac=0.7)
    assert s7.far == 85 and s7.height_far == 40


def test_height_close_reset_when_far_below_max():
    # the close frames are short (70) against a max of 100 elsewhere: more than 10 % below -> reset
    s = pose_stats(stats_frames([100, 120, 140, 200], [60, 100, 80, 70]))
    assert s.height_close == 100
    # 95 is within 10 % of 100: kept
    s = pose_stats(stats_frames([100, 120, 140, 200], [60, 100, 80, 95]))
    assert s.height_close == 95


# ---------------------------------------------------------------------------------------- exact-copy recovery


@pytest.mark.parametrize(
    ("k", "dy", "source_width"),
    [(0.6, 150.0, W), (1.4, -200.0, W), (0.75, 40.0, 400)],
    ids=["smaller-source", "larger-source", "other-canvas"],
)
def test_exact_scaled_copy_lands_on_target(k, dy, source_width):
    target = target_arrays()
    source = scaled_copy(target, k, dy, width_out=source_width)
    target_frames = frames_of(target)
    source_frames = frames_of(source, width=source_width)

    norm = fit_normalizer(source_frames, target_frames)
    t, s = norm.target, norm.source
    assert t.close == pytest.approx(330 + 120 * (0.5 - 0.5 * math.cos(2 * math.pi * 12.3 / 24)), abs=1e-3)
    assert 360 < t.far <= t.median < t.close  # the robust horizon, not the raw minimum 330
    # the statistics are equivariant: the source's are the target's scaled and shifted
    for name in ("close", "far", "median"):
        assert getattr(s, name) == pytest.approx(k * getattr(t, name) + dy, abs=1e-3)
    for name in ("height_close", "height_far", "height_max"):
        assert getattr(s, name) == pytest.approx(k * getattr(t, name), abs=1e-3)
    assert not norm.recentered
    assert norm.scale_close == pytest.approx(1 / k) and norm.scale_far == pytest.approx(1 / k)

    out = norm.apply(source_frames, smooth_window=None)
    assert len(out) == len(target_frames)
    assert all((f.width, f.height) == (W, H) for f in out)  # on the target's canvas
    got, want = first_people(out), target
    # every confident point, frame by frame (ankles, heads, hands, face; invalid frames 5 and 20 included)
    assert max_point_error(got, want) < 0.01
    for j in (NOSE, R_ANKLE, L_ANKLE):
        seen = want[:, j, 2] > 0
        assert np.abs(got[seen, j, :2] - want[seen, j, :2]).max() < 1.0
    # the normalised source's statistics are the target's
    n = pose_stats(out)
    for name in ("close", "far", "median", "height_close", "height_far"):
        assert getattr(n, name) == pytest.approx(getattr(t, name), abs=1.0)

    # with the default 7-frame median smoothing, the result is the smoothed target
    smoothed = normalize_poses(source_frames, target_frames)
    assert max_point_error(first_people(smoothed), first_people(smooth_poses(target_frames))) < 0.01


def test_official_choices_would_miss_an_exact_copy():
    """Why the anchor and the re-centring deviate from the official code (see the module docstring)."""
    target = target_arrays()
    k, dy = 0.6, 150.0
    source_frames = frames_of(scaled_copy(target, k, dy))
    norm = fit_normalizer(source_frames, frames_of(target))

    # Official map: scale about the first valid frame's tip-toe A, then add diff = y_tgt - y_src.
    toes = np.array([person_pose_stats(f.people[0]) for f in source_frames if person_pose_stats(f.people[0])])
    anchor = toes[0, 0]
    official = []
    for y_src in toes[:, 0]:
        scale, y_tgt = norm.frame_params(y_src)
        official.append(scale * y_src + (1 - scale) * anchor + (y_tgt - y_src) - y_tgt)
    assert np.abs(official).max() > 20  # the ankle misses its target y by tens of pixels
    # ours scales about the frame's own tip-toe: the ankle lands on y_tgt
    out = [person_pose_stats(f.people[0]) for f in norm.apply(source_frames, smooth_window=None)]
    ours = [o[0] - norm.frame_params(y_src)[1] for o, y_src in zip([o for o in out if o], toes[:, 0])]
    assert np.abs(ours).max() < 1e-3

    # Official re-centring compares raw pixel ranges: a zoomed-out exact copy gets squeezed.
    official_fit = fit_normalizer(source_frames, frames_of(target), recenter="official")
    assert official_fit.recentered
    got = first_people(official_fit.apply(source_frames, smooth_window=None))
    assert max_point_error(got, target) > 5


# ------------------------------------------------------------------------- a genuinely different source dancer


def different_source(n: int = 40) -> np.ndarray:
    """Moves over a narrower floor band (ground 300..340) with a constant height 200: no copy of the target."""
    out = []
    for i in range(n):
        ground = 300 + 40 * (0.5 - 0.5 * math.cos(2 * math.pi * i / 20))
        out.append(figure(ground, 200, 250 + 30 * math.sin(i / 3), 2 * math.pi * i / 10))
    return np.stack(out)


def test_per_frame_map_follows_the_formula():
    source_frames, target_frames = frames_of(different_source()), frames_of(target_arrays())
    norm = fit_normalizer(source_frames, target_frames, recenter="none")
    s, t = norm.source, norm.target
    assert (norm.target_close, norm.target_far) == (t.close, t.far)
    scale_close, scale_far = t.height_close / s.height_close, t.height_far / s.height_far
    assert norm.scale_close == pytest.approx(scale_close) and norm.scale_far == pytest.approx(scale_far)
    assert abs(scale_close - scale_far) > 0.1  # the scale really varies with depth

    out = first_people(norm.apply(source_frames, smooth_window=None))
    src = different_source()
    transforms = norm.frame_transforms(source_frames)
    for i in range(len(src)):
        y_src, height = person_pose_stats(PersonPose.from_array(src[i]))
        p = (y_src - s.far) / (s.close - s.far)
        y_tgt = t.far + p * (t.close - t.far)
        scale = scale_far + p * (scale_close - scale_far)
        assert transforms[i, 0] == pytest.approx(scale)
        assert out[i, R_ANKLE, 1] == pytest.approx(y_tgt, abs=1e-3)  # the tip-toe lands on y_tgt
        new_toe, new_height = person_pose_stats(PersonPose.from_array(out[i]))
        assert new_toe == pytest.approx(y_tgt, abs=1e-3)
        assert new_height == pytest.approx(scale * height, abs=1e-3)
        # x scales about the canvas centre line
        assert out[i, NOSE, 0] == pytest.approx(W / 2 + scale * (src[i, NOSE, 0] - W / 2), abs=1e-3)
    # the source's close frame lands at the target's close position with the target's close height
    i_close = int(np.argmax(src[:, R_ANKLE, 1]))
    assert person_pose_stats(PersonPose.from_array(out[i_close]))[0] == pytest.approx(t.close, abs=1e-3)
    assert transforms[i_close, 0] == pytest.approx(scale_close)
    i_far = int(np.argmin(np.abs(src[:, R_ANKLE, 1] - s.far)))
    assert person_pose_stats(PersonPose.from_array(out[i_far]))[0] == pytest.approx(t.far, abs=1e-3)
    assert transforms[i_far, 0] == pytest.approx(scale_far)


def test_recentering_scaled_and_official():
    source_frames, target_frames = frames_of(different_source()), frames_of(target_arrays())
    norm = fit_normalizer(source_frames, target_frames)  # recenter="scaled"
    s, t = norm.source, norm.target
    width = s.depth_range * 0.5 * (t.height_close / s.height_close + t.height_far / s.height_far)
    assert width < t.depth_range and norm.recentered
    assert norm.target_close - norm.target_far == pytest.approx(width)
    assert (norm.target_close + norm.target_far) / 2 == pytest.approx((t.close + t.far) / 2)
    # target heights taken at the new positions, linear in floor y
    assert norm.scale_close * s.height_close == pytest.approx(t.height_at(norm.target_close))
    assert norm.scale_far * s.height_far == pytest.approx(t.height_at(norm.target_far))
    assert t.height_far < t.height_at(norm.target_far) < t.height_at(norm.target_close) < t.height_close

    official = fit_normalizer(source_frames, target_frames, recenter="official")
    assert official.recentered
    assert official.target_close - official.target_far == pytest.approx(s.depth_range)  # raw source pixels
    assert official.scale_close == pytest.approx(t.height_close / s.height_close)  # original heights
    with pytest.raises(ValueError, match="recenter"):
        fit_normalizer(source_frames, target_frames, recenter="sideways")


def test_hands_and_face_follow_the_body():
    src = different_source()
    source_frames = frames_of(src)
    norm = fit_normalizer(source_frames, frames_of(target_arrays()))
    scales = norm.frame_transforms(source_frames)[:, 0]
    assert np.ptp(scales) > 0.05  # the factor changes from frame to frame
    out = first_people(norm.apply(source_frames, smooth_window=None))
    for sl, anchor in ((LH, L_WRIST), (RH, R_WRIST), (FACE, NOSE)):
        got = out[:, sl, :2] - out[:, anchor, None, :2]
        want = scales[:, None, None] * (src[:, sl, :2] - src[:, anchor, None, :2])
        assert np.abs(got - want).max() < 1e-3


# ------------------------------------------------------------------------------------------- missing points


def test_missing_points_stay_missing_and_untouched():
    src = different_source()
    rng = np.random.default_rng(1)
    src[rng.random(src.shape[:2]) < 0.2, 2] = 0
    src[:, :, :2][src[:, :, 2] == 0] = -7.0  # odd coordinates on missing points: must come back as is
    src[:, [NOSE, R_ANKLE, R_EAR], 2] = 0.9  # keep every frame valid (their coordinates are real)
    src[:, [NOSE, R_ANKLE, R_EAR], :2] = different_source()[:, [NOSE, R_ANKLE, R_EAR], :2]
    out = first_people(normalize_poses(frames_of(src), frames_of(target_arrays())))
    assert np.array_equal(out[..., 2], src[..., 2])  # scores in = scores out: none created, none lost
    missing = src[..., 2] == 0
    assert np.array_equal(out[missing][:, :2], src[missing][:, :2])
    assert np.abs(out[~missing][:, :2] - src[~missing][:, :2]).max() > 10  # the others did move
    assert np.isfinite(out).all()


# ---------------------------------------------------------------------------------------------- smoothing


def point_track(values_x, scores=None) -> list[FramePose]:
    frames = []
    for i, x in enumerate(values_x):
        arr = np.zeros((NUM_KEYPOINTS, 3), np.float32)
        arr[0] = (x, 2 * x + 1, 1 if scores is None else scores[i])
        arr[1] = (50, 60, 1)  # a constant point
        frames.append(FramePose(W, H, [PersonPose.from_array(arr)]))
    return frames


def test_smoothing_removes_a_spike():
    xs = np.full(20, 37.0, dtype=np.float32)
    spiked = xs.copy()
    spiked[9] += 100
    out = first_people(smooth_poses(point_track(spiked), window=7))
    assert np.array_equal(out[:, 0, 0], xs)  # the spike is gone, the rest untouched
    assert np.array_equal(out[:, 0, 1], 2 * xs + 1)

    ramp = np.arange(20, dtype=np.float32) * 3 + 10
    spiked = ramp.copy()
    spiked[9] += 100
    out = first_people(smooth_poses(point_track(spiked), window=7))
    assert abs(out[9, 0, 0] - ramp[9]) <= 3  # 100 px spike -> at most one ramp step
    far = np.r_[3:6, 13:17]  # interior frames whose window misses the spike: a ramp's median is the ramp
    assert np.array_equal(out[far, 0, 0], ramp[far])
    assert np.abs(out[:, 0, 0] - ramp).max() <= 6  # the cut windows at the ends stay close


def test_smoothing_keeps_a_constant_sequence():
    frames = frames_of(np.repeat(target_arrays()[:1], 10, axis=0))
    out = smooth_poses(frames)
    assert np.array_equal(first_people(out), first_people(frames))


def test_smoothing_ignores_and_keeps_missing_samples():
    xs = [0, 0, 0, 999, 10, 10, 10, 10, 10]
    scores = [1, 1, 1, 0, 1, 1, 1, 1, 1]
    out = first_people(smooth_poses(point_track(xs, scores), window=7))
    assert out[3, 0, 2] == 0 and out[3, 0, 0] == 999  # still missing, coordinates untouched
    # frame 2 window (frames 0..5): present 0, 0, 0, 10, 10 -> 0; counting the 999 would give 10
    assert out[2, 0, 0] == 0
    # frame 4 window (1..7): present 0, 0, 10, 10, 10, 10 -> median 10 (999 ignored)
    assert out[4, 0, 0] == 10
    assert np.all(out[:, 1, :2] == (50, 60))
    with pytest.raises(ValueError, match="odd"):
        smooth_poses(point_track(xs), window=4)


# ------------------------------------------------------------------------------------------------ degenerate


def test_source_without_depth_motion_gives_a_constant_finite_scale():
    still = np.stack([figure(320, 180, 300 + 20 * math.sin(i), i) for i in range(12)])
    source_frames, target_frames = frames_of(still), frames_of(target_arrays())
    norm = fit_normalizer(source_frames, target_frames)
    assert norm.source.depth_range == 0
    scales = norm.frame_transforms(source_frames)[:, 0]
    assert np.isfinite(scales).all() and np.ptp(scales) == 0
    out = first_people(norm.apply(source_frames))
    assert np.isfinite(out).all()
    t = norm.target
    # re-centred to a zero-width range at the target's middle, at the height interpolated there
    assert np.allclose(out[:, R_ANKLE, 1], (t.close + t.far) / 2, atol=1e-3)
    assert scales[0] * norm.source.height_close == pytest.approx(t.height_at((t.close + t.far) / 2))

    # both dancers still: p = 0 everywhere, the target's own position and height
    norm2 = fit_normalizer(source_frames, frames_of(scaled_copy(still, 1.3, -50)))
    out2 = first_people(norm2.apply(source_frames, smooth_window=None))
    assert np.isfinite(out2).all()
    assert np.allclose(out2[:, R_ANKLE, 1], 1.3 * 320 - 50, atol=1e-3)
    assert norm2.frame_transforms(source_frames)[:, 0] == pytest.approx(1.3)


# ----------------------------------------------------------------------------------------- people and input


def test_other_people_dropped_kept_or_transformed():
    src = different_source(8)
    other = figure(400, 100, 500, 0.0)
    frames = [FramePose(W, H, [PersonPose.from_array(a), PersonPose.from_array(other)]) for a in src]
    target_frames = frames_of(target_arrays())
    dropped = normalize_poses(frames, target_frames)
    assert all(len(f.people) == 1 for f in dropped)
    assert np.array_equal(first_people(dropped), first_people(normalize_poses(frames_of(src), target_frames)))
    kept = normalize_poses(frames, target_frames, other_people="keep")
    assert all(np.array_equal(f.people[1].to_array(), other) for f in kept)
    norm = fit_normalizer(frames, target_frames)
    moved = norm.apply(frames, other_people="transform")
    scale, tx, ty = norm.frame_transforms(frames)[0]
    assert np.allclose(moved[0].people[1].to_array()[:, 0], scale * other[:, 0] + tx, atol=1e-3)
    assert np.allclose(moved[0].people[1].to_array()[:, 1], scale * other[:, 1] + ty, atol=1e-3)


def test_invalid_and_empty_frames_reuse_neighbour_transforms():
    src = different_source(10)
    frames = frames_of(src)
    frames[0].people[0].body[NOSE, 2] = 0
    frames[0].people[0].body[[R_EAR, L_EAR], 2] = 0  # leading frame without a head
    frames[6] = FramePose(W, H, [])  # a frame without anyone
    frames[7].people[0].body[[R_ANKLE, L_ANKLE], 2] = 0
    norm = fit_normalizer(frames, frames_of(target_arrays()))
    tr = norm.frame_transforms(frames)
    assert np.array_equal(tr[0], tr[1])  # the first valid frame's
    assert np.array_equal(tr[6], tr[5]) and np.array_equal(tr[7], tr[5])  # the last valid frame's
    out = norm.apply(frames)
    assert out[6].people == [] and len(out) == 10


def test_pose_sequence_input(tmp_path):
    src, tgt = different_source(12), target_arrays(24)
    np.save(tmp_path / "src.npy", src)
    np.save(tmp_path / "tgt.npy", tgt[:, None])  # (N, P, K, 3)
    got = normalize_poses(
        load_pose_sequence(tmp_path / "src.npy", W, H), load_pose_sequence(tmp_path / "tgt.npy", W, H)
    )
    want = normalize_poses(frames_of(src), frames_of(tgt))
    assert np.array_equal(first_people(got), first_people(want))

    (tmp_path / "maps").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "maps" / "0.png")
    with pytest.raises(PoseInputError, match="keypoints") as info:
        normalize_poses(load_pose_sequence(tmp_path / "maps"), frames_of(tgt))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("which", ["source", "target"])
def test_sequence_without_ankles_raises_one_line(which):
    good = target_arrays(6)
    bad = good.copy()
    bad[:, [R_ANKLE, L_ANKLE], 2] = 0
    args = (frames_of(bad), frames_of(good)) if which == "source" else (frames_of(good), frames_of(bad))
    with pytest.raises(PoseInputError) as info:
        normalize_poses(*args)
    msg = str(info.value)
    assert msg.startswith(which) and "ankle" in msg and "\n" not in msg
    with pytest.raises(PoseInputError, match="empty"):
        fit_normalizer([], frames_of(good))
