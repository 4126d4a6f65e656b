"""Alignment of driving poses to the reference body: global scale + shift, per-bone ratios, missing joints,
sequences and the preview image."""

from __future__ import annotations

import math

import numpy as np
import pytest

from magicpose.pose import (
    NUM_BODY,
    FramePose,
    PersonPose,
    PoseInputError,
    align_bones,
    align_poses,
    alignment_preview,
    draw_pose,
    fit_bone_alignment,
    fit_global_alignment,
)
from magicpose.pose.align import ORDER, PARENT
from magicpose.synthetic import Identity, Motion, pose_sequence, split_ids

W, H = 512, 384
NOSE, NECK, R_SHOULDER, R_ELBOW, R_WRIST, L_WRIST, L_KNEE, R_HIP = 0, 1, 2, 3, 4, 7, 12, 8
# Bone lengths (indexed by the child joint) of the reference body; the driving body differs bone by bone.
REF_LENGTHS = np.array([30, 0, 40, 55, 50, 40, 55, 50, 95, 75, 70, 95, 75, 70, 9, 9, 12, 12], float)
DRV_LENGTHS = REF_LENGTHS * np.array(
    [1.2, 1, 0.8, 1.1, 0.9, 0.8, 1.1, 0.9, 1.3, 0.7, 1.25, 1.3, 0.7, 1.25, 1.3, 1.3, 0.75, 0.75]
)
# Bone directions (degrees, image coordinates: 0 = +x, 90 = down) of a standing pose.
STAND = np.array([-95, 0, 180, 110, 95, 0, 70, 85, 100, 92, 90, 80, 88, 90, -150, -30, 170, 10], float)


def body_from(lengths: np.ndarray, angles_deg: np.ndarray, neck=(256.0, 120.0)) -> np.ndarray:
    body = np.zeros((NUM_BODY, 3))
    body[NECK, :2] = neck
    for j in ORDER[1:]:
        a = math.radians(angles_deg[j])
        body[j, :2] = body[PARENT[j], :2] + lengths[j] * np.array([math.cos(a), math.sin(a)])
    body[:, 2] = 0.9
    return body


def person_from(body: np.ndarray, phase: float = 0.0) -> PersonPose:
    """A body with hands round the wrists and a face round the nose (sizes from the forearm / head)."""
    t = np.linspace(0, 2 * np.pi, 21, endpoint=False) + phase
    hands = []
    for wrist, elbow in ((L_WRIST, 6), (R_WRIST, R_ELBOW)):
        r = 0.4 * np.hypot(*(body[wrist, :2] - body[elbow, :2])) * np.linspace(0.1, 1, 21)
        hands.append(
            np.stack(
                [body[wrist, 0] + r * np.cos(t), body[wrist, 1] + r * np.sin(t), np.full(21, 0.8)], axis=1
            )
        )
    hands[0][0, :2] = body[L_WRIST, :2]
    hands[1][0, :2] = body[R_WRIST, :2]
    f = np.linspace(0, 2 * np.pi, 70, endpoint=False)
    face = np.stack([body[NOSE, 0] + 11 * np.cos(f), body[NOSE, 1] + 13 * np.sin(f), np.full(70, 0.7)], 1)
    face[30, :2] = body[NOSE, :2]
    return PersonPose(body=body, left_hand=hands[0], right_hand=hands[1], face=face)


def driving_angles(k: int) -> np.ndarray:
    """Frame k of a little dance: every bone turns by its own amount."""
    return STAND + 25 * np.sin(0.7 * k + np.arange(NUM_BODY))


def scaled(person: PersonPose, k: float, shift) -> PersonPose:
    arr = person.to_array()
    seen = arr[:, 2] > 0
    arr[seen, :2] = k * arr[seen, :2] + np.asarray(shift, np.float32)
    return PersonPose.from_array(arr)


def max_error(a: PersonPose, b: PersonPose) -> float:
    x, y = a.to_array(), b.to_array()
    assert np.array_equal(x[:, 2], y[:, 2])
    seen = x[:, 2] > 0
    return float(np.abs(x[seen, :2] - y[seen, :2]).max())


def bone_vector(body: np.ndarray, j: int) -> np.ndarray:
    return body[j, :2].astype(np.float64) - body[PARENT[j], :2].astype(np.float64)


# ------------------------------------------------------------------------------------------- exact copies


@pytest.mark.parametrize("mode", ["global", "bones"])
def test_scaled_shifted_copy_lands_exactly_on_the_reference(mode):
    ref_frames = [person_from(body_from(REF_LENGTHS, driving_angles(k)), 0.3 * k) for k in range(6)]
    k, shift = 0.62, (-37.5, 81.25)
    driving = [FramePose(W, H, [scaled(p, k, shift)]) for p in ref_frames]
    aligned = align_poses(FramePose(W, H, [ref_frames[0]]), driving, mode)
    for out, want in zip(aligned, ref_frames):
        assert (out.width, out.height) == (W, H)
        assert max_error(out.people[0], want) <= 1e-3  # body, both hands and the face


def test_global_fit_recovers_scale_and_shift():
    ref = person_from(body_from(REF_LENGTHS, STAND))
    fit = fit_global_alignment(ref, scaled(ref, 1.6, (10, -20)))
    assert fit.scale == pytest.approx(1 / 1.6, rel=1e-6)
    assert fit.shift_x == pytest.approx(-10 / 1.6, abs=1e-4)
    assert fit.shift_y == pytest.approx(20 / 1.6, abs=1e-4)
    all_joints = fit_global_alignment(ref, scaled(ref, 1.6, (10, -20)), joints="all")
    assert all_joints.scale == pytest.approx(1 / 1.6)


# ------------------------------------------------------------------------------------------------- bones


def test_bones_keep_every_driving_direction_and_take_the_reference_ratios():
    reference = person_from(body_from(REF_LENGTHS, STAND))
    driving = [
        person_from(body_from(DRV_LENGTHS, driving_angles(k), neck=(300 + 5 * k, 150)), 0.2 * k)
        for k in range(8)
    ]
    out = align_bones(reference, driving)
    fit = fit_bone_alignment(reference, driving[0])
    first = driving[0].body
    ratio = np.ones(NUM_BODY)
    for j in range(NUM_BODY):
        if PARENT[j] >= 0:
            ratio[j] = np.hypot(*bone_vector(reference.body, j)) / np.hypot(*bone_vector(first, j))
            assert fit.ratios[j] == pytest.approx(ratio[j], rel=1e-6)  # all within the default clip
    worst_angle = worst_length = 0.0
    for src, dst in zip(driving, out):
        for j in range(NUM_BODY):
            if PARENT[j] < 0:
                continue
            a, b = bone_vector(src.body, j), bone_vector(dst.body, j)
            diff = math.atan2(a[0] * b[1] - a[1] * b[0], a @ b)
            worst_angle = max(worst_angle, abs(diff))
            worst_length = max(worst_length, abs(np.hypot(*b) / (np.hypot(*a) * ratio[j]) - 1))
        # the neck is placed by the global alignment
        neck = fit.global_alignment.map_points(src.body[NECK : NECK + 1, :2])[0]
        np.testing.assert_allclose(dst.body[NECK, :2], neck, atol=1e-3)
        # hands follow their wrist, scaled by the forearm's ratio; the face the nose, by the head ratio
        for hand, new_hand, wrist in (
            (src.right_hand, dst.right_hand, R_WRIST),
            (src.left_hand, dst.left_hand, L_WRIST),
        ):
            want = dst.body[wrist, :2] + ratio[wrist] * (hand[:, :2] - src.body[wrist, :2])
            np.testing.assert_allclose(new_hand[:, :2], want, atol=1e-3)
        head = np.mean(ratio[[14, 15, 16, 17]])
        want = dst.body[NOSE, :2] + head * (src.face[:, :2] - src.body[NOSE, :2])
        np.testing.assert_allclose(dst.face[:, :2], want, atol=1e-3)
    assert worst_angle <= 1e-5  # measured 2.8e-6 rad (float32 keypoints)
    assert worst_length <= 1e-5  # measured 2.6e-6


def test_missing_joints_stay_missing_and_their_children_follow_the_nearest_visible_ancestor():
    reference = person_from(body_from(REF_LENGTHS, STAND))
    driving = [person_from(body_from(DRV_LENGTHS, driving_angles(k))) for k in range(3)]
    gap = driving[2].to_array()
    gap[R_ELBOW] = (0, 0, 0)  # elbow lost: the wrist hangs from the shoulder
    gap[NECK] = (7, 8, 0)  # neck lost: shoulders, hips and nose start their own subtrees
    driving[2] = PersonPose.from_array(gap)
    fit = fit_bone_alignment(reference, driving[0])
    out = align_bones(reference, driving)[2]
    assert out.body[R_ELBOW, 2] == 0 and out.body[NECK, 2] == 0
    np.testing.assert_array_equal(out.body[NECK], [7, 8, 0])  # missing points untouched
    src = driving[2].body.astype(np.float64)
    want = out.body[R_SHOULDER, :2] + 0.5 * (fit.ratios[R_ELBOW] + fit.ratios[R_WRIST]) * (
        src[R_WRIST, :2] - src[R_SHOULDER, :2]
    )
    np.testing.assert_allclose(out.body[R_WRIST, :2], want, atol=1e-3)
    for root in (R_SHOULDER, R_HIP, NOSE):
        placed = fit.global_alignment.map_points(src[root : root + 1, :2])[0]
        np.testing.assert_allclose(out.body[root, :2], placed, atol=1e-3)
    # the right hand still follows (its wrist is visible); every visible input point stays visible
    assert np.array_equal(out.to_array()[:, 2] > 0, driving[2].to_array()[:, 2] > 0)


def test_a_bone_missing_in_the_reference_takes_its_mirror_ratio_then_the_global_scale():
    ref = body_from(REF_LENGTHS, STAND)
    ref[L_KNEE, 2] = 0
    drv = body_from(DRV_LENGTHS, STAND)
    fit = fit_bone_alignment(PersonPose(body=ref), PersonPose(body=drv))
    assert not fit.measured[L_KNEE] and not fit.measured[13]  # thigh and shin of the left leg
    assert fit.ratios[L_KNEE] == pytest.approx(fit.ratios[9])  # the right thigh's
    ref[[L_KNEE, 9], 2] = 0
    fit = fit_bone_alignment(PersonPose(body=ref), PersonPose(body=drv))
    assert fit.ratios[L_KNEE] == pytest.approx(fit.global_alignment.scale)


def test_ratios_are_clipped_around_the_global_scale():
    ref = body_from(REF_LENGTHS, STAND)
    drv = body_from(DRV_LENGTHS, STAND)
    drv[R_WRIST, :2] = drv[R_ELBOW, :2] + (0.5, 0)  # forearm pointing at the camera: 0.5 px long
    fit = fit_bone_alignment(PersonPose(body=ref), PersonPose(body=drv))
    assert fit.ratios[R_WRIST] == pytest.approx(2 * fit.global_alignment.scale)
    assert fit_bone_alignment(PersonPose(body=ref), PersonPose(body=drv), max_ratio=None).ratios[R_WRIST] > 50


# --------------------------------------------------------------------------------------- sequences, errors


def test_align_poses_people_canvas_and_none():
    reference = person_from(body_from(REF_LENGTHS, STAND))
    first = person_from(body_from(DRV_LENGTHS, STAND))
    other = person_from(body_from(DRV_LENGTHS, STAND, neck=(100, 100)))
    frames = [FramePose(640, 480, [first, other]), FramePose(640, 480, [])]
    none = align_poses(reference, frames, "none", other_people="keep")
    assert none[0].people == frames[0].people and (none[0].width, none[0].height) == (640, 480)
    dropped = align_poses(FramePose(W, H, [reference]), frames, "bones")
    assert len(dropped[0].people) == 1 and dropped[1].people == []
    assert (dropped[0].width, dropped[0].height) == (W, H)
    moved = align_poses(reference, frames, "global", other_people="transform", canvas=(320, 240))
    fit = fit_global_alignment(reference, first)
    assert max_error(moved[0].people[1], fit.apply(other)) == 0
    assert (moved[0].width, moved[0].height) == (320, 240)
    with pytest.raises(ValueError, match="alignment mode"):
        align_poses(reference, frames, "affine")
    lonely = np.zeros((NUM_BODY, 3))
    lonely[NOSE] = (5, 5, 1)
    with pytest.raises(PoseInputError, match="sharing two visible body joints"):
        align_poses(reference, [FramePose(W, H, [PersonPose(body=lonely)])], "global")


def test_bones_beat_global_beat_none_on_synthetic_dancers():
    """Dancer B's poses aligned to dancer A's first pose, against A's true poses (same dance)."""
    ids = split_ids(99, "test", 10)
    errors = {m: [] for m in ("none", "global", "bones")}
    for k in range(5):
        a, b, motion = (
            Identity.from_id(ids[2 * k][0]),
            Identity.from_id(ids[2 * k + 1][0]),
            Motion.from_id(ids[2 * k + 1][1]),
        )
        truth = pose_sequence(a, motion, 6, 128, fps=2.0)
        driving = [FramePose(128, 128, [p]) for p in pose_sequence(b, motion, 6, 128, fps=2.0)]
        for mode in errors:
            for out, want in zip(align_poses(truth[0], driving, mode)[1:], truth[1:]):
                p, q = out.people[0].body, want.body
                seen = (p[:, 2] > 0) & (q[:, 2] > 0)
                errors[mode].append(np.linalg.norm(p[seen, :2] - q[seen, :2], axis=1).mean())
    mean = {m: float(np.mean(v)) for m, v in errors.items()}
    # measured: none 2.59, global 1.43, bones 0.86 px (mean over body joints, 128 px canvas)
    assert mean["bones"] < 0.7 * mean["global"] < 0.5 * mean["none"]
    assert mean["bones"] < 1.0


def test_alignment_preview_panels():
    reference = FramePose(W, H, [person_from(body_from(REF_LENGTHS, STAND))])
    before = FramePose(640, 480, [person_from(body_from(DRV_LENGTHS, STAND))])
    after = align_poses(reference, [before], "bones")[0]
    image = np.full((H, W, 3), 100, np.uint8)
    preview = alignment_preview(image, reference, before, after)
    assert preview.dtype == np.uint8 and preview.shape == (H, W + 4 + W + 4 + W, 3)  # 640x480 -> 512x384
    drawn = draw_pose(reference)
    mask = drawn.any(axis=2)
    np.testing.assert_array_equal(preview[:, :W][mask], drawn[mask])
    np.testing.assert_array_equal(preview[:, :W][~mask], 100)
    assert (preview[:, 2 * W + 8 :][~draw_pose(after).any(axis=2)] == 35).all()  # dimmed reference under it
