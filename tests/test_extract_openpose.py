"""The built-in OpenPose backend: network layouts, weight loading, each decoding step on planted maps, the
extractor end to end with tiny or fake networks, and the controlnet-aux result conversion."""

from __future__ import annotations

import sys
from collections import namedtuple

import numpy as np
import pytest
import torch
from torch import nn

from magicpose.errors import InputError
from magicpose.pose import PersonPose
from magicpose.pose.extract.base import MissingWeightsError
from magicpose.pose.extract.controlnet_aux_backend import (
    ControlNetAuxOpenPoseExtractor,
    pose_results_to_people,
)
from magicpose.pose.extract.openpose import (
    OpenPoseExtractor,
    assemble_people,
    connect_limbs,
    face_box,
    find_peaks,
    hand_boxes,
    load_net,
    resize_for_detection,
)
from magicpose.pose.extract.openpose_decode import (
    LIMB_SEQ,
    PAF_CHANNELS,
    decode_bodies,
    face_peaks,
    gaussian_smooth,
    hand_peaks,
    people_to_bodies,
)
from magicpose.pose.extract.openpose_nets import build_net, param_count, to_file_state_dict

FILES = {"body": "body_pose_model.pth", "hand": "hand_pose_model.pth", "face": "facenet.pth"}
TINY = 16  # width divisor of the tiny test networks


# ---------------------------------------------------------------- networks and weights


def test_real_parameter_counts():
    assert param_count("body") == 52_311_446
    assert param_count("hand") == 36_832_324
    assert param_count("face") == 38_425_706


def test_tiny_networks_keep_the_published_names_and_outputs():
    for kind in FILES:
        real, tiny = build_net(kind, device="meta"), build_net(kind, TINY)
        assert list(to_file_state_dict(real)) == list(to_file_state_dict(tiny))
    body = to_file_state_dict(build_net("body", device="meta"))
    assert "conv1_1.weight" in body and "Mconv7_stage6_L2.bias" in body
    assert "model0.conv1_1.weight" not in body
    assert body["Mconv1_stage2_L1.weight"].shape == (128, 185, 7, 7)
    assert "Mconv7_stage6.bias" in to_file_state_dict(build_net("hand", device="meta"))
    face = to_file_state_dict(build_net("face", device="meta"))
    assert face["Mconv1_stage2.weight"].shape == (128, 199, 7, 7) and face["conv6_2_CPM.bias"].shape == (71,)
    x = torch.zeros(1, 3, 64, 48)
    with torch.no_grad():
        paf, heat = build_net("body", TINY)(x)
        assert paf.shape == (1, 38, 8, 6) and heat.shape == (1, 19, 8, 6)
        assert build_net("hand", TINY)(x).shape == (1, 22, 8, 6)
        assert build_net("face", TINY)(x).shape == (1, 71, 8, 6)


def save_tiny_weights(folder, seed=0, heat_bias=None):
    """The three files as published (flat body/hand names), from tiny networks; returns the networks."""
    torch.manual_seed(seed)
    nets = {kind: build_net(kind, TINY) for kind in FILES}
    if heat_bias is not None:  # hand and face maps above threshold everywhere: every point is found
        with torch.no_grad():
            nets["hand"].model6.Mconv7_stage6.bias.fill_(heat_bias)
            nets["face"].Mconv7_stage6.bias.fill_(heat_bias)
    folder.mkdir(exist_ok=True)
    for kind, net in nets.items():
        torch.save(to_file_state_dict(net), folder / FILES[kind])
    return nets


def test_published_files_load_strictly(tmp_path):
    nets = save_tiny_weights(tmp_path)
    for kind, net in nets.items():
        loaded = load_net(kind, tmp_path / FILES[kind], width_div=TINY)
        loaded_state = loaded.state_dict()
        assert all(torch.equal(loaded_state[k], v) for k, v in net.state_dict().items())
    ext = OpenPoseExtractor.from_weights_dir(tmp_path, width_div=TINY)
    assert torch.equal(ext.body_net.model0.conv1_1.weight, nets["body"].model0.conv1_1.weight)
    assert torch.equal(ext.face_net.Mconv7_stage6.bias, nets["face"].Mconv7_stage6.bias)


def test_wrong_or_corrupt_file_is_one_input_error_line(tmp_path):
    save_tiny_weights(tmp_path)
    hand = tmp_path / FILES["hand"]
    with pytest.raises(InputError) as err:
        load_net("body", hand, width_div=TINY)
    msg = str(err.value)
    assert str(hand) in msg and "\n" not in msg and "conv4_3_CPM.weight" in msg
    with pytest.raises(InputError, match="facenet.pth"):
        load_net("hand", tmp_path / FILES["face"], width_div=TINY)
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a torch file at all")
    with pytest.raises(InputError) as err:
        load_net("face", bad, width_div=TINY)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InputError, match="does not fit"):  # real-size network, tiny file
        load_net("face", tmp_path / FILES["face"])


def test_missing_weights_names_the_missing_files(tmp_path):
    torch.save(to_file_state_dict(build_net("body", TINY)), tmp_path / FILES["body"])
    with pytest.raises(MissingWeightsError) as err:
        OpenPoseExtractor.from_weights_dir(tmp_path, width_div=TINY)
    msg = str(err.value)
    assert "\n" not in msg and "hand_pose_model.pth, facenet.pth" in msg and "body_pose_model" not in msg
    assert str(tmp_path) in msg and "lllyasviel/Annotators" in msg


# ---------------------------------------------------------------- peaks


def gaussian(h, w, x, y, sigma, amp=1.0):
    yy, xx = np.mgrid[0:h, 0:w]
    return amp * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))


def test_gaussian_smooth_is_scipy_gaussian_filter():
    # scipy's kernel (radius 12 for sigma 3, normalised) on an impulse, mirror border far away
    m = np.zeros((41, 41))
    m[20, 20] = 1.0
    k = np.exp(-0.5 * (np.arange(-12, 13) / 3.0) ** 2)
    k /= k.sum()
    np.testing.assert_allclose(gaussian_smooth(m, 3.0)[8:33, 8:33], np.outer(k, k), atol=1e-15)
    # 'reflect' border: the map extends as d c b a | a b c d, so column 0 is also seen at offset -1
    edge = np.zeros((30, 30))
    edge[:, 0] = 1.0
    assert gaussian_smooth(edge, 3.0)[15, 0] == pytest.approx(k[12] + k[11], abs=1e-15)


def test_find_peaks_integer_pixels_threshold_and_suppression():
    m = gaussian(60, 80, 20, 15, 2.0) + gaussian(60, 80, 50, 40, 2.0, 0.6)
    m += gaussian(60, 80, 70, 5, 2.0, 0.15)
    peaks = find_peaks(m, threshold=0.1, sigma=3.0)
    # the 0.15 blob is under 0.1 once smoothed (0.15 * 4 / 13); row-major order; raw value as score
    np.testing.assert_allclose(peaks, [[20, 15, m[15, 20]], [50, 40, m[40, 50]]])
    assert peaks[0, 2] == pytest.approx(1.0, abs=1e-3) and peaks[1, 2] == pytest.approx(0.6, abs=1e-3)
    # a peak on the border is compared with 0 outside the map
    np.testing.assert_allclose(find_peaks(gaussian(30, 30, 0, 12, 2.0))[:, :2], [[0, 12]])
    # two equal neighbours (a plateau) are both kept, as in the annotator
    plateau = np.zeros((20, 20))
    plateau[10, 9:11] = 20.0
    np.testing.assert_allclose(find_peaks(plateau)[:, :2], [[9, 10], [10, 10]])
    assert find_peaks(np.zeros((10, 10))).shape == (0, 3)


def test_find_peaks_subpixel_refinement_is_optional():
    m = gaussian(50, 60, 30.3, 22.7, 3.0)
    np.testing.assert_allclose(find_peaks(m)[:, :2], [[30, 23]])
    x, y, _ = find_peaks(m, refine=True)[0]
    assert abs(x - 30.3) < 0.05 and abs(y - 22.7) < 0.05


# ---------------------------------------------------------------- limbs and people

# One person in a 184 x 184 frame, centred at x = 0, y = 92: joint offsets in OpenPose-18 order.
TEMPLATE = np.array([
    (0, -60), (0, -45), (-15, -45), (-22, -20), (-26, 0), (15, -45), (22, -20), (26, 0), (-9, 5),
    (-10, 35), (-11, 65), (9, 5), (10, 35), (11, 65), (-4, -64), (4, -64), (-9, -61), (9, -61),
], dtype=float)  # fmt: skip


def two_people(scale=1):
    """Two bodies (18, 2) in pixels, the second without its left ankle (NaN)."""
    a = (TEMPLATE + (50, 92)) * scale
    b = (TEMPLATE + (134, 92)) * scale
    b[13] = np.nan
    return [a, b]


def plant_pafs(people, h, w, half_width=2.0):
    """Unit vectors along every limb of every person, within ``half_width`` px of the segment."""
    paf = np.zeros((h, w, 38))
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    for pts in people:
        for (a, b), (cx, cy) in zip(LIMB_SEQ, PAF_CHANNELS):
            if np.isnan(pts[a]).any() or np.isnan(pts[b]).any():
                continue
            v = pts[b] - pts[a]
            length = np.linalg.norm(v)
            u = v / length
            rx, ry = xx - pts[a, 0], yy - pts[a, 1]
            t = rx * u[0] + ry * u[1]
            across = np.abs(rx * u[1] - ry * u[0])
            near = (t >= -half_width) & (t <= length + half_width) & (across <= half_width)
            paf[near, cx], paf[near, cy] = u[0], u[1]
    return paf


def planted_peaks(people):
    return [
        np.array([(p[j, 0], p[j, 1], 1.0) for p in people if not np.isnan(p[j]).any()]).reshape(-1, 3)
        for j in range(18)
    ]


def test_connect_and_assemble_two_people():
    people = two_people()
    peaks = planted_peaks(people)
    conns = connect_limbs(peaks, plant_pafs(people, 184, 184), image_height=184)
    # each limb pairs the right joints: global ids (peaks counted joint by joint) of the same person
    assert [len(c) for c in conns] == [2] * 11 + [1] + [2] * 7
    neck_rsho = conns[0]
    assert sorted(neck_rsho[:, :2].tolist()) == [[2.0, 4.0], [3.0, 5.0]]
    assert np.all(conns[0][:, 2] == pytest.approx(1.0))  # PAF . direction = 1, no distance penalty
    subset = assemble_people(peaks, conns)
    bodies = people_to_bodies(subset, peaks)
    assert bodies.shape == (2, 18, 3)
    bodies = bodies[np.argsort(bodies[:, 0, 0])]
    for body, pts in zip(bodies, people):
        present = ~np.isnan(pts[:, 0])
        np.testing.assert_array_equal(body[present, :2], pts[present])
        assert np.all(body[present, 2] == 1.0)
    assert bodies[1, 13].tolist() == [0.0, 0.0, 0.0] and sorted(subset[:, 19]) == [17, 18]


def test_assembly_needs_pafs_and_four_parts():
    people = two_people()
    peaks = planted_peaks(people)
    # no PAF: no limb, nobody
    assert assemble_people(peaks, connect_limbs(peaks, np.zeros((184, 184, 38)), 184)).shape == (0, 20)
    # a PAF pointing backwards along each limb is rejected
    assert assemble_people(peaks, connect_limbs(peaks, -plant_pafs(people, 184, 184), 184)).shape == (0, 20)
    # three parts (nose, neck, right shoulder) are too few; four are enough
    few = [pts.copy() for pts in people[:1]]
    few[0][[3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]] = np.nan
    p = planted_peaks(few)
    assert len(assemble_people(p, connect_limbs(p, plant_pafs(few, 184, 184), 184))) == 0
    few[0][5] = people[0][5]
    p = planted_peaks(few)
    assert len(assemble_people(p, connect_limbs(p, plant_pafs(few, 184, 184), 184))) == 1


def test_decode_bodies_from_planted_maps():
    people = two_people()
    heat = np.zeros((184, 184, 19))
    for pts in people:
        for j in range(18):
            if not np.isnan(pts[j]).any():
                heat[:, :, j] = np.maximum(heat[:, :, j], gaussian(184, 184, *pts[j], 4.0))
    bodies = decode_bodies(heat, plant_pafs(people, 184, 184))
    bodies = bodies[np.argsort(bodies[:, 0, 0])]
    np.testing.assert_array_equal(bodies[0, :, :2], people[0])
    np.testing.assert_array_equal(bodies[1, :13, :2], people[1][:13])
    assert bodies[1, 13, 2] == 0 and np.all(bodies[1, 14:, :2] == people[1][14:])


# ---------------------------------------------------------------- hand and face boxes


def body_with(points):
    b = np.zeros((18, 3))
    for j, (x, y) in points.items():
        b[j] = (x, y, 0.9)
    return b


def test_hand_boxes_follow_the_annotator_rules():
    # right arm straight down: centre = wrist + 0.33 (wrist - elbow) = (100, 179.9);
    # side = 1.5 max(30, 0.9 x 40) = 54; left arm lacks its elbow
    body = body_with({2: (100, 100), 3: (100, 140), 4: (100, 170), 5: (200, 100), 7: (200, 170)})
    assert hand_boxes(body, 300, 300) == [(73, 152, 54, False)]
    # left hand near the top-left corner: moved to (0, 0), side 1.5 x 0.9 x |(10, 20)| = 30.19
    body = body_with({5: (30, 40), 6: (20, 20), 7: (10, 5)})
    assert hand_boxes(body, 300, 300) == [(0, 0, 30, True)]
    # near the bottom-right corner: the side is cut to the nearer edge (300 - 275.61 = 24.39)
    body = body_with({2: (260, 240), 3: (280, 270), 4: (295, 290)})
    assert hand_boxes(body, 300, 300) == [(275, 272, 24, False)]
    # both hands, left first; a box under 20 px is dropped
    body = body_with(
        {2: (100, 100), 3: (100, 140), 4: (100, 170), 5: (150, 100), 6: (150, 108), 7: (150, 114)}
    )
    assert hand_boxes(body, 300, 300) == [(73, 152, 54, False)]
    body[6, 1] = 140
    body[7, 1] = 170
    assert hand_boxes(body, 300, 300) == [(123, 152, 54, True), (73, 152, 54, False)]


def test_face_box_follows_the_annotator_rules():
    # half-side = max(3 x eye distance, 1.5 x ear distance), Chebyshev distances to the nose
    body = body_with({0: (100, 100), 14: (94, 96), 15: (107, 95), 16: (88, 100)})
    assert face_box(body, 300, 300) == (79, 79, 42)
    # the annotator cuts the side only where the half-side crosses the edge: near the right edge the box
    # keeps its side and reaches past the frame (92 + 36 > 120); the crop is then cut by slicing
    body = body_with({0: (110, 50), 15: (104, 46)})
    assert face_box(body, 120, 200) == (92, 32, 36)
    # moved inside the top-left corner, side kept
    assert face_box(body_with({0: (10, 10), 14: (4, 6)}), 200, 200) == (0, 0, 36)
    assert face_box(body_with({14: (4, 6), 15: (10, 6)}), 200, 200) is None  # no nose
    assert face_box(body_with({0: (50, 50), 2: (40, 60)}), 200, 200) is None  # no eye or ear
    assert face_box(body_with({0: (50, 50), 14: (47, 48)}), 200, 200) is None  # 18 px < 20


def test_hand_peaks_keep_the_heaviest_region():
    maps = np.zeros((22, 128, 128))
    maps[0] = gaussian(128, 128, 64, 32, 4.0, 0.8)
    # a wide low blob (larger sum) beats a narrow higher one
    maps[1] = gaussian(128, 128, 30, 30, 8.0, 0.5) + gaussian(128, 128, 100, 100, 2.0, 0.9)
    maps[2] = gaussian(128, 128, 64, 64, 4.0, 0.01)  # under the threshold: missing
    pts = hand_peaks(maps, crop_height=200, crop_width=256)
    assert pts.shape == (21, 3)
    # argmax on the 128 grid, scaled to the crop and truncated: 64 x 256/128, 32 x 200/128 = 50
    np.testing.assert_allclose(pts[0], [128, 50, 0.8])
    np.testing.assert_allclose(pts[1], [60, 46, maps[1, 30, 30]])
    assert pts[2].tolist() == [0, 0, 0] and not pts[3:].any()
    refined = hand_peaks(maps, 128, 128, refine=True)
    np.testing.assert_allclose(refined[0, :2], [64, 32], atol=1e-9)


def test_face_peaks_keep_indices_and_ignore_the_background():
    maps = np.zeros((71, 40, 50))
    for i in range(70):
        maps[i, 5 + i % 30, 3 + i % 40] = 0.5
    maps[5] = 0.04  # nothing over 0.05: point 5 is missing, point 6 keeps its index
    maps[70] = 1.0
    pts = face_peaks(maps)
    assert pts.shape == (70, 3) and pts[5].tolist() == [0, 0, 0]
    np.testing.assert_array_equal(pts[6], [9, 11, 0.5])
    np.testing.assert_array_equal(pts[69], [3 + 69 % 40, 5 + 69 % 30, 0.5])


# ---------------------------------------------------------------- the extractor end to end


class PlantedBody(nn.Module):
    """Stands in for the body network: returns fixed 1/8-resolution heat-maps and PAFs placing each joint so
    that, after the annotator's upsampling (x8, then net input -> detection frame), it peaks at the given
    integer pixel of the detection frame."""

    def __init__(self, people, det_size, net_size=184):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # a device to read
        self.people, self.ratio, self.net_size = people, net_size / det_size, net_size

    def coarse(self, q):
        u = (q + 0.5) * self.ratio - 0.5  # detection frame -> network input (cv2.resize pixel centres)
        return (u - 3.5) / 8  # network input -> 1/8 grid (x8 upsampling)

    def forward(self, x):
        assert x.shape[2:] == (self.net_size, self.net_size)
        n = self.net_size // 8
        heat, paf = np.zeros((n, n, 19)), np.zeros((n, n, 38))
        coarse = [self.coarse(p) for p in self.people]
        for pts in coarse:
            for j in range(18):
                if not np.isnan(pts[j]).any():
                    heat[:, :, j] = np.maximum(heat[:, :, j], gaussian(n, n, *pts[j], 1.0))
        paf = plant_pafs(coarse, n, n, half_width=1.0)
        to_t = lambda m: torch.from_numpy(m.transpose(2, 0, 1)[None]).float()  # noqa: E731
        return to_t(paf), to_t(heat)


def test_extractor_with_planted_body_maps_gives_exact_keypoints():
    rng = np.random.RandomState(0)
    people = two_people()
    ext = OpenPoseExtractor(PlantedBody(people, det_size=184), detect_resolution=None)
    got = ext(rng.randint(0, 256, (184, 184, 3), dtype=np.uint8))
    assert len(got) == 2 and all(isinstance(p, PersonPose) for p in got)
    got.sort(key=lambda p: p.body[0, 0])
    np.testing.assert_array_equal(got[0].body[:, :2], people[0])
    np.testing.assert_array_equal(got[1].body[:13, :2], people[1][:13])
    assert got[1].body[13].tolist() == [0, 0, 0] and np.all(got[1].body[14:, :2] == people[1][14:])
    assert np.all(got[0].body[:, 2] > 0.9) and not got[0].left_hand.any() and not got[0].face.any()

    # a 768 px frame detected at 384 px (the annotator's resize_image): keypoints come back x2
    people384 = two_people(scale=2)
    ext = OpenPoseExtractor(PlantedBody(people384, det_size=384), detect_resolution=384)
    got = sorted(ext(rng.randint(0, 256, (768, 768, 3), dtype=np.uint8)), key=lambda p: p.body[0, 0])
    np.testing.assert_array_equal(got[0].body[:, :2], 2 * people384[0])
    assert got[1].body[13, 2] == 0


def test_extractor_hands_and_face_land_in_their_boxes(tmp_path):
    nets = save_tiny_weights(tmp_path, heat_bias=1.0)
    ext = OpenPoseExtractor(
        PlantedBody(two_people()[:1], det_size=184),
        nets["hand"].eval(),
        nets["face"].eval(),
        detect_resolution=None,
        hand_scales=(0.5,),
    )
    image = np.random.RandomState(1).randint(0, 256, (184, 184, 3), dtype=np.uint8)
    people = ext(image)
    assert len(people) == 1
    for person in people:
        boxes = {is_left: (x, y, s) for x, y, s, is_left in hand_boxes(person.body, 184, 184)}
        assert set(boxes) == {True, False}
        for is_left, hand in ((True, person.left_hand), (False, person.right_hand)):
            x, y, s = boxes[is_left]
            assert np.all(hand[:, 2] > 0)
            assert np.all((hand[:, 0] >= x) & (hand[:, 0] < x + s) & (hand[:, 1] >= y) & (hand[:, 1] < y + s))
        x, y, s = face_box(person.body, 184, 184)
        assert np.all(person.face[:, 2] > 0)
        assert np.all((person.face[:, 0] >= x) & (person.face[:, 0] < x + s))
        assert np.all((person.face[:, 1] >= y) & (person.face[:, 1] < y + s))


def test_extractor_with_tiny_random_networks(tmp_path):
    save_tiny_weights(tmp_path, seed=3)
    ext = OpenPoseExtractor.from_weights_dir(tmp_path, width_div=TINY, detect_resolution=256)
    assert ext.detect_resolution == 256 and ext.hand_scales == (0.5, 1.0, 1.5, 2.0)
    image = np.random.RandomState(2).randint(0, 256, (120, 160, 3), dtype=np.uint8)
    people = ext(image)
    assert isinstance(people, list) and all(isinstance(p, PersonPose) for p in people)
    for p in people:
        pts = p.to_array()
        present = pts[:, 2] > 0
        assert pts.shape == (130, 3) and np.all(pts[~present] == 0)
        assert np.all((pts[present, 0] >= 0) & (pts[present, 0] < 160) & (pts[present, 1] < 120))
    with pytest.raises(InputError, match="uint8"):
        ext(image.astype(np.float32))


def test_resize_for_detection_matches_the_annotator_sizes():
    img = np.zeros((720, 1280, 3), np.uint8)
    assert resize_for_detection(img, 512).shape == (512, 896, 3)  # 910.2 -> 896 (multiple of 64)
    assert resize_for_detection(np.zeros((300, 200, 3), np.uint8), 512).shape == (768, 512, 3)
    assert resize_for_detection(img, None) is img


# ---------------------------------------------------------------- controlnet-aux results

Keypoint = namedtuple("Keypoint", "x y score id", defaults=(1.0, -1))
BodyResult = namedtuple("BodyResult", "keypoints total_score total_parts")
PoseResult = namedtuple("PoseResult", "body left_hand right_hand face")


def test_pose_results_to_people_in_pixels():
    body = [Keypoint(0.5, 0.25)] + [None] * 16 + [Keypoint(0.1, 0.2)]
    hand = [Keypoint(0.25, 0.5)] + [Keypoint(-1 / 200, 0.5)] + [Keypoint(0.3, 0.3)] * 19  # point 1 missing
    face = [Keypoint(i / 100, i / 200) for i in range(71)]  # 70 points + the background map
    people = pose_results_to_people([PoseResult(BodyResult(body, 10.0, 2), hand, None, face)], 200, 100)
    (p,) = people
    np.testing.assert_array_equal(p.body[0], [100, 25, 1])
    np.testing.assert_array_equal(p.body[17], [20, 20, 1])
    assert not p.body[1:17].any() and not p.right_hand.any()
    np.testing.assert_array_equal(p.left_hand[0], [50, 50, 1])
    assert p.left_hand[1].tolist() == [0, 0, 0]
    np.testing.assert_allclose(p.face[69], [138, 34.5, 1])
    # a face list with a map skipped cannot be indexed: dropped
    short = pose_results_to_people([PoseResult(BodyResult(body, 10.0, 2), None, None, face[:69])], 200, 100)
    assert not short[0].face.any()


def test_controlnet_aux_import_failure_is_one_line(tmp_path, monkeypatch):
    for name in FILES.values():
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "controlnet_aux", None)  # import fails
    with pytest.raises(InputError) as err:
        ControlNetAuxOpenPoseExtractor.from_weights_dir(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and "torchvision" in msg and "'openpose'" in msg


def test_controlnet_aux_result_types_convert():
    try:
        pytest.importorskip("controlnet_aux")
    except Exception as exc:  # a torchvision built for another torch fails with RuntimeError, not ImportError
        pytest.skip(f"controlnet_aux does not import: {exc}")
    from controlnet_aux.open_pose import PoseResult as RealPose
    from controlnet_aux.open_pose.body import BodyResult as RealBody
    from controlnet_aux.open_pose.body import Keypoint as RealKeypoint

    body = [RealKeypoint(0.5, 0.5)] + [None] * 17
    (p,) = pose_results_to_people([RealPose(RealBody(body, 1.0, 1), None, None, None)], 64, 32)
    np.testing.assert_array_equal(p.body[0], [32, 16, 1])
