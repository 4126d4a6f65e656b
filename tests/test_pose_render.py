"""Golden tests: draw_pose must match the ControlNet-1.1 OpenPose annotator pixel for pixel."""

from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np
import pytest

from magicpose.pose import (
    BODY_COLORS,
    HAND_EDGES,
    LIMB_SEQ,
    FramePose,
    PersonPose,
    draw_pose,
    draw_pose_batch,
)

W = H = 256


def body(points: dict[int, tuple[float, float]], score: float = 1.0) -> np.ndarray:
    arr = np.zeros((18, 3), np.float32)
    for i, (x, y) in points.items():
        arr[i] = (x, y, score)
    return arr


def hand(points: dict[int, tuple[float, float]]) -> np.ndarray:
    arr = np.zeros((21, 3), np.float32)
    for i, (x, y) in points.items():
        arr[i] = (x, y, 1.0)
    return arr


def frame(*people: PersonPose, width: int = W, height: int = H) -> FramePose:
    return FramePose(width, height, list(people))


def px(canvas: np.ndarray, x: int, y: int) -> tuple[int, ...]:
    return tuple(int(v) for v in canvas[y, x])


def test_output_is_black_uint8_rgb_of_canvas_size():
    out = draw_pose(frame(width=320, height=200))
    assert out.dtype == np.uint8
    assert out.shape == (200, 320, 3)
    assert not out.any()


@pytest.mark.parametrize("limb", range(17))
def test_limb_midpoint_is_60_percent_of_its_colour(limb):
    a, b = LIMB_SEQ[limb]
    out = draw_pose(frame(PersonPose(body=body({a: (108, 128), b: (148, 128)}))))
    expected = tuple(round(0.6 * c) for c in BODY_COLORS[limb])
    assert px(out, 128, 128) == expected


def test_limb_0_neck_to_right_shoulder_is_153_0_0():
    out = draw_pose(frame(PersonPose(body=body({1: (100, 60), 2: (60, 100)}))))
    assert px(out, 80, 80) == (153, 0, 0)


@pytest.mark.parametrize("joint", range(18))
def test_isolated_joint_has_full_colour_radius_4(joint):
    out = draw_pose(frame(PersonPose(body=body({joint: (50, 60)}))))
    assert px(out, 50, 60) == BODY_COLORS[joint]
    assert px(out, 54, 60) == BODY_COLORS[joint]  # radius 4 is filled
    assert px(out, 56, 60) == (0, 0, 0)
    # Only the disc is drawn.
    assert (out.any(axis=2)).sum() == (cv2.circle(np.zeros((H, W), np.uint8), (50, 60), 4, 1, -1)).sum()


def test_joint_uses_annotator_normalised_rounding():
    # The annotator stores x / W and draws at int(x / W * W), which can be x - 1 for integer x.
    width = 200
    x = next(v for v in range(10, width - 10) if (v / width) * width < v)
    out = draw_pose(frame(PersonPose(body=body({0: (x, 100)})), width=width, height=W))
    cols = np.flatnonzero(out[100].any(axis=1))
    assert (cols.min(), cols.max()) == (x - 1 - 4, x - 1 + 4)


@pytest.mark.parametrize(("a", "b"), [(2, 16), (5, 17)])
def test_ear_shoulder_limbs_are_not_drawn(a, b):
    out = draw_pose(frame(PersonPose(body=body({a: (60, 60), b: (160, 160)}))))
    assert px(out, 110, 110) == (0, 0, 0)
    only_a = draw_pose(frame(PersonPose(body=body({a: (60, 60)}))))
    only_b = draw_pose(frame(PersonPose(body=body({b: (160, 160)}))))
    np.testing.assert_array_equal(out, only_a | only_b)


def test_missing_keypoint_draws_nothing():
    present = {1: (128, 60), 2: (90, 70)}
    # Joint 3 (r-elbow) has score 0 but real-looking coordinates: the 2-3 limb must not appear.
    with_missing = body(present)
    with_missing[3] = (80, 140, 0.0)
    without = body(present)
    out_missing = draw_pose(frame(PersonPose(body=with_missing)))
    np.testing.assert_array_equal(out_missing, draw_pose(frame(PersonPose(body=without))))
    # Sanity: with the elbow present, the picture does change.
    with_missing[3, 2] = 1.0
    assert not np.array_equal(out_missing, draw_pose(frame(PersonPose(body=with_missing))))


def test_threshold_hides_low_scores():
    low = body({0: (50, 50)}, score=0.3)
    assert draw_pose(frame(PersonPose(body=low)), threshold=0.5).sum() == 0
    assert px(draw_pose(frame(PersonPose(body=low)), threshold=0.2), 50, 50) == BODY_COLORS[0]


def test_joint_at_limb_end_is_blended_under_the_limb():
    # Joints are drawn first, then the limb blends 0.4 * joint + 0.6 * limb colour over them.
    out = draw_pose(frame(PersonPose(body=body({1: (100, 128), 2: (140, 128)}))))
    neck, limb = np.array(BODY_COLORS[1]), np.array(BODY_COLORS[0])
    assert px(out, 100, 128) == tuple(int(v) for v in np.round(0.4 * neck + 0.6 * limb))


def test_negative_body_joint_is_clipped_but_negative_hand_point_is_skipped():
    out = draw_pose(frame(PersonPose(body=body({0: (-2, 50)}))))
    assert px(out, 0, 50) == BODY_COLORS[0]  # the annotator draws body joints off-canvas too
    out = draw_pose(frame(PersonPose(left_hand=hand({0: (-2, 50)}))))
    assert out.sum() == 0  # hand/face points need int(x) >= 0 and int(y) >= 0


HAND_GOLDEN = {0: (255, 0, 0), 1: (255, 77, 0), 5: (128, 255, 0), 10: (0, 255, 255), 15: (128, 0, 255)}


@pytest.mark.parametrize("edge", range(20))
@pytest.mark.parametrize("side", ["left_hand", "right_hand"])
def test_hand_edge_midpoint_has_hsv_colour_and_joints_are_blue(edge, side):
    a, b = HAND_EDGES[edge]
    out = draw_pose(frame(PersonPose(**{side: hand({a: (100, 100), b: (140, 100)})})))
    expected = tuple(round(c * 255) for c in colorsys.hsv_to_rgb(edge / 20, 1.0, 1.0))
    assert px(out, 120, 100) == expected
    if edge in HAND_GOLDEN:
        assert expected == HAND_GOLDEN[edge]
    assert px(out, 100, 100) == (0, 0, 255)
    assert px(out, 140, 100) == (0, 0, 255)


def test_face_dot_is_white_radius_3():
    face = np.zeros((70, 3), np.float32)
    face[10] = (30, 40, 1.0)
    out = draw_pose(frame(PersonPose(face=face)))
    assert px(out, 30, 40) == (255, 255, 255)
    assert px(out, 33, 40) == (255, 255, 255)
    assert px(out, 34, 40) == (0, 0, 0)
    assert out.any(axis=2).sum() == cv2.circle(np.zeros((H, W), np.uint8), (30, 40), 3, 1, -1).sum()


def test_hands_and_face_are_drawn_over_the_body_and_flags_select_parts():
    b = body({1: (100, 128), 2: (140, 128)})
    face = np.zeros((70, 3), np.float32)
    face[0] = (120, 128, 1.0)
    person = PersonPose(body=b, face=face, right_hand=hand({0: (20, 20), 1: (40, 20)}))
    out = draw_pose(frame(person))
    assert px(out, 120, 128) == (255, 255, 255)  # face drawn last, on top of the limb
    assert px(out, 20, 20) == (0, 0, 255)
    no_face = draw_pose(frame(person), draw_face=False)
    assert px(no_face, 120, 128) == (153, 0, 0)
    assert px(draw_pose(frame(person), draw_hands=False), 20, 20) == (0, 0, 0)
    assert px(draw_pose(frame(person), draw_body=False), 100, 128) == (0, 0, 0)


def test_background_far_from_keypoints_is_black():
    rng = np.random.default_rng(3)
    pts = np.zeros((130, 3), np.float32)
    pts[:, :2] = rng.uniform(10, 100, (130, 2))
    pts[:, 2] = 1.0
    out = draw_pose(frame(PersonPose.from_array(pts)))
    assert out[:100, :100].any()
    assert not out[130:].any() and not out[:, 130:].any()


def test_batch_stacks_frames():
    f1 = frame(PersonPose(body=body({0: (10, 10)})))
    f2 = frame(PersonPose(body=body({0: (20, 20)})))
    batch = draw_pose_batch([f1, f2])
    assert batch.shape == (2, H, W, 3)
    np.testing.assert_array_equal(batch[1], draw_pose(f2))
    with pytest.raises(ValueError, match="one canvas size"):
        draw_pose_batch([f1, frame(width=64, height=64)])


def test_blend_of_a_pixel_with_itself_is_identity():
    # The renderer blends only the limb's bounding box; valid because this holds for every value.
    v = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(cv2.addWeighted(v, 0.4, v, 0.6, 0), v)


# ---- Independent reference: a literal loop-based transcription of the annotator facts ----

REF_LIMBS_1BASED = [[2, 3], [2, 6], [3, 4], [4, 5], [6, 7], [7, 8], [2, 9], [9, 10], [10, 11], [2, 12],
                    [12, 13], [13, 14], [2, 1], [1, 15], [15, 17], [1, 16], [16, 18], [3, 17], [6, 18]]  # fmt: skip
REF_COLORS = [[255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0],
              [0, 255, 0], [0, 255, 85], [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255],
              [0, 0, 255], [85, 0, 255], [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85]]  # fmt: skip


def reference_draw(f: FramePose) -> np.ndarray:
    w, h = f.width, f.height

    # Normalised coordinates, None when missing.
    def norm(points):
        return [(float(x) / w, float(y) / h) if s > 0 else None for x, y, s in points]

    bodies = [norm(p.body) for p in f.people]
    hands = [norm(hd) for p in f.people for hd in (p.left_hand, p.right_hand)]
    faces = [norm(p.face) for p in f.people]
    canvas = np.zeros((h, w, 3), np.uint8)
    for i in range(18):
        for pts in bodies:
            if pts[i] is not None:
                cv2.circle(canvas, (int(pts[i][0] * w), int(pts[i][1] * h)), 4, REF_COLORS[i], thickness=-1)
    for i in range(17):
        for pts in bodies:
            p, q = pts[REF_LIMBS_1BASED[i][0] - 1], pts[REF_LIMBS_1BASED[i][1] - 1]
            if p is None or q is None:
                continue
            cur = canvas.copy()
            Y = np.array([p[0], q[0]]) * float(w)
            X = np.array([p[1], q[1]]) * float(h)
            mX, mY = np.mean(X), np.mean(Y)
            length = ((X[0] - X[1]) ** 2 + (Y[0] - Y[1]) ** 2) ** 0.5
            angle = math.degrees(math.atan2(X[0] - X[1], Y[0] - Y[1]))
            poly = cv2.ellipse2Poly((int(mY), int(mX)), (int(length / 2), 4), int(angle), 0, 360, 1)
            cv2.fillConvexPoly(cur, poly, REF_COLORS[i])
            canvas = cv2.addWeighted(canvas, 0.4, cur, 0.6, 0)
    edges = [[0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [0, 9], [9, 10], [10, 11],
             [11, 12], [0, 13], [13, 14], [14, 15], [15, 16], [0, 17], [17, 18], [18, 19], [19, 20]]  # fmt: skip
    for pts in hands:
        ipts = [(-1, -1) if p is None else (int(p[0] * w), int(p[1] * h)) for p in pts]
        for ie, (a, b) in enumerate(edges):
            (x1, y1), (x2, y2) = ipts[a], ipts[b]
            if x1 >= 0 and y1 >= 0 and x2 >= 0 and y2 >= 0:
                color = np.array(colorsys.hsv_to_rgb(ie / float(len(edges)), 1.0, 1.0)) * 255
                cv2.line(canvas, (x1, y1), (x2, y2), color, thickness=2)
        for x, y in ipts:
            if x >= 0 and y >= 0:
                cv2.circle(canvas, (x, y), 4, (0, 0, 255), thickness=-1)
    for pts in faces:
        for p in pts:
            if p is not None and int(p[0] * w) >= 0 and int(p[1] * h) >= 0:
                cv2.circle(canvas, (int(p[0] * w), int(p[1] * h)), 3, (255, 255, 255), thickness=-1)
    return canvas


def random_person(rng: np.random.Generator, w: int, h: int) -> PersonPose:
    pts = np.zeros((130, 3), np.float32)
    spread = np.where(np.arange(130) < 18, 0.3, 0.05)[:, None]  # bodies reach well off-canvas
    lo, hi = -spread * [w, h], (1 + spread) * [w, h]
    pts[:, :2] = rng.uniform(lo, hi)
    if rng.random() < 0.5:
        pts[:, :2] = np.round(pts[:, :2] * 2) / 2  # exact .0 / .5 coordinates stress the rounding
    pts[:, 2] = (rng.random(130) < 0.8) * rng.uniform(0.05, 1.0, 130)
    return PersonPose.from_array(pts)


@pytest.mark.parametrize("seed", range(6))
def test_matches_independent_reference_bitwise(seed):
    rng = np.random.default_rng(seed)
    for _ in range(8):
        w, h = (int(v) for v in rng.integers(24, 320, 2))
        f = FramePose(w, h, [random_person(rng, w, h) for _ in range(int(rng.integers(1, 4)))])
        np.testing.assert_array_equal(draw_pose(f), reference_draw(f))


def _one_body(points: dict[int, tuple[float, float]], score: float = 1.0) -> FramePose:
    return frame(PersonPose(body=body(points, score)))


@pytest.mark.parametrize(
    "pose, visible",
    [
        (frame(), False),  # nobody
        (_one_body({0: (100, 100)}, score=0.0), False),  # a missing point on the canvas
        (_one_body({0: (100, 100)}), True),
        (_one_body({i: (-40.0, -40.0) for i in range(18)}), False),  # all negative
        (_one_body({i: (W + 30.0, 50.0) for i in range(18)}), False),  # all right of the canvas
        (_one_body({i: (1e30, 1e30) for i in range(18)}), False),  # too far out to draw
        (_one_body({i: (np.inf, 5.0) for i in range(18)}), False),  # 1e300 read as float32
        (_one_body({0: (W + 2.0, 50.0)}), True),  # centre off the canvas, the circle's edge on it
        (_one_body({1: (-30.0, 100.0), 2: (W + 30.0, 100.0)}), True),  # a limb across, both ends off
        (frame(PersonPose(left_hand=hand({0: (-3.0, 10.0), 1: (10.0, -3.0)}))), False),  # hand points < 0
        (frame(PersonPose(face=np.array([[5.0, 5.0, 1.0]] + [[0.0, 0.0, 0.0]] * 69, np.float32))), True),
    ],
)
def test_pose_is_visible_says_whether_draw_pose_draws_anything(pose, visible):
    from magicpose.pose import pose_is_visible

    assert bool(draw_pose(pose).any()) is visible  # the ground truth: the rendered map
    assert pose_is_visible(pose) is visible


def test_pose_is_visible_follows_the_threshold():
    from magicpose.pose import pose_is_visible

    pose = _one_body({0: (100, 100)}, score=0.3)
    assert pose_is_visible(pose, threshold=0.2) and not pose_is_visible(pose, threshold=0.3)
