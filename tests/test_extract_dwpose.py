"""DWPose backend: decode steps on synthetic tensors, the 133 -> OpenPose mapping, and the ONNX wiring end to
end with tiny ONNX models built here (no real weights)."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from magicpose.errors import InputError
from magicpose.pose.extract.base import WEIGHTS_ENV, MissingWeightsError
from magicpose.pose.extract.dwpose import (
    DWPoseExtractor,
    bbox_to_center_scale,
    decode_yolox,
    fix_aspect_ratio,
    letterbox,
    nms,
    pose_input,
    select_people,
    simcc_decode,
    simcc_to_image,
    warp_matrix,
)
from magicpose.pose.extract.wholebody import wholebody_to_openpose

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

DET_FILE, POSE_FILE = DWPoseExtractor.weight_files


# --- detector decode --------------------------------------------------------------------------------------


def yolox_raw(input_wh, cells, num_classes=80):
    """A raw YOLOX output (1, N, 5 + C) with zero objectness except at ``cells``: each
    (stride, cx, cy, (dx, dy, log_w, log_h), obj, cls_index, cls_prob)."""
    w, h = input_wh
    sizes = [(s, (w // s) * (h // s)) for s in (8, 16, 32)]
    out = np.zeros((1, sum(n for _, n in sizes), 5 + num_classes), np.float32)
    for stride, cx, cy, reg, obj, cls, prob in cells:
        offset = sum(n for s, n in sizes if s < stride)
        row = offset + cy * (w // stride) + cx
        out[0, row, :4] = reg
        out[0, row, 4] = obj
        out[0, row, 5 + cls] = prob
    return out


def test_letterbox_keeps_aspect_pads_114_top_left():
    image = np.full((96, 128, 3), 7, np.uint8)
    canvas, ratio = letterbox(image, (64, 64))
    assert ratio == 0.5 and canvas.shape == (64, 64, 3) and canvas.dtype == np.uint8
    assert (canvas[:48] == 7).all() and (canvas[48:] == 114).all()


def test_yolox_decode_puts_planted_box_at_image_coordinates():
    # 64x64 input, image scaled by 0.5: a box centred (40, 24) in input pixels, 16 x 32, planted in stride-16
    # cell (2, 1) with offset (0.5, 0.5): centre = (2.5 * 16, 1.5 * 16) = (40, 24), size = exp(log 1, log 2) * 16
    reg = (0.5, 0.5, np.log(1.0), np.log(2.0))
    raw = yolox_raw((64, 64), [(16, 2, 1, reg, 0.9, 0, 0.5)])
    boxes, scores = decode_yolox(raw, (64, 64), ratio=0.5)
    row = 8 * 8 + 1 * 4 + 2
    np.testing.assert_allclose(boxes[row], [64, 16, 96, 80], atol=1e-4)  # (32..48, 8..40) / 0.5
    assert scores.shape == (84, 80)
    assert scores[row, 0] == pytest.approx(0.45) and np.count_nonzero(scores) == 1


def test_yolox_decode_rectangular_grid_order():
    # 96 wide, 32 high: stride-8 rows have 12 cells; cell (5, 2) is row 2 * 12 + 5
    raw = yolox_raw((96, 32), [(8, 5, 2, (0, 0, 0, 0), 1.0, 0, 1.0)])
    boxes, scores = decode_yolox(raw, (96, 32))
    assert raw.shape[1] == 12 * 4 + 6 * 2 + 3 * 1
    np.testing.assert_allclose(boxes[2 * 12 + 5], [36, 12, 44, 20])
    with pytest.raises(ValueError, match="cells"):
        decode_yolox(raw, (64, 64))


def test_nms_drops_overlapping_lower_score_keeps_disjoint_and_light_overlap():
    boxes = np.array([[0, 0, 9, 9], [1, 1, 10, 10], [20, 20, 29, 29], [0, 5, 9, 14]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    # inclusive-pixel IoU: box 1 vs 0 = 81 / 119 = 0.68 (dropped); box 3 vs 0 = 50 / 150 = 0.33 (kept)
    assert nms(boxes, scores, 0.45).tolist() == [0, 2, 3]
    assert nms(boxes, scores, 0.3).tolist() == [0, 2]
    assert nms(boxes, scores, 0.7).tolist() == [0, 1, 2, 3]


def test_select_people_person_class_only_and_thresholds():
    boxes = np.array([[0, 0, 9, 9], [1, 1, 10, 10], [50, 50, 60, 60], [80, 80, 90, 90]], float)
    cls = np.zeros((4, 80))
    cls[0, 0], cls[1, 0] = 0.8, 0.95  # two overlapping people: the better one stays
    cls[2, 1] = 0.99  # a bicycle: never a person
    cls[3, 0] = 0.3  # not above the 0.3 keep score
    kept, scores = select_people(boxes, cls)
    np.testing.assert_array_equal(kept, boxes[[1]])
    np.testing.assert_allclose(scores, [0.95])


# --- pose decode ------------------------------------------------------------------------------------------


def test_center_scale_aspect_and_warp_match_annotator_three_point_construction():
    center, scale = bbox_to_center_scale([10, 20, 50, 100])
    np.testing.assert_allclose(center, [30, 60])
    np.testing.assert_allclose(scale, [50, 100])
    np.testing.assert_allclose(fix_aspect_ratio(scale, 0.75), [75, 100])  # too narrow: widened
    np.testing.assert_allclose(fix_aspect_ratio(np.array([90.0, 100.0]), 0.75), [90, 120])  # too wide: taller

    # the annotator's get_warp_matrix: centre -> crop centre, the point w/2 above it -> w_crop/2 above that, and
    # a third point at a right angle to those two
    def third(a, b):
        d = a - b
        return b + np.array([-d[1], d[0]])

    scale = np.array([75.0, 100.0])
    src = [center, center + [0, -scale[0] / 2]]
    dst = [np.array([12.0, 16.0]), np.array([12.0, 16.0 - 12.0])]
    src, dst = np.float32([*src, third(*src)]), np.float32([*dst, third(*dst)])
    np.testing.assert_allclose(
        warp_matrix(center, scale, (24, 32)), cv2.getAffineTransform(src, dst), atol=1e-5
    )


def test_simcc_decode_peaks_scores_and_negative():
    sx, sy = np.zeros((1, 3, 48), np.float32), np.zeros((1, 3, 64), np.float32)
    sx[0, 0, 10], sy[0, 0, 33] = 0.9, 0.7
    sx[0, 1, 47], sy[0, 1, 0] = 0.2, 0.8
    sx[0, 2] -= 1.0  # no positive peak: location -1 before the split ratio
    sy[0, 2, 5] = 0.5
    locs, scores = simcc_decode(sx, sy, 2.0)
    np.testing.assert_allclose(locs[0], [[5, 16.5], [23.5, 0], [-0.5, -0.5]])
    np.testing.assert_allclose(scores[0], [0.7, 0.2, -1.0], atol=1e-7)


def test_simcc_to_image_inverts_the_crop_warp():
    # box (40, 16)-(88, 80): centre (64, 48), padded (60, 80), already 3:4; crop 24 x 32 -> 2.5 image px per px
    center, scale = bbox_to_center_scale([40, 16, 88, 80])
    scale = fix_aspect_ratio(scale, 24 / 32)
    np.testing.assert_allclose(scale, [60, 80])
    locs = np.array([[0.0, 0.0], [12.0, 16.0], [5.0, 16.5]])
    np.testing.assert_allclose(
        simcc_to_image(locs, (24, 32), center, scale), [[34, 8], [64, 48], [46.5, 49.25]]
    )
    back = cv2.transform(
        simcc_to_image(locs, (24, 32), center, scale)[None], warp_matrix(center, scale, (24, 32))
    )
    np.testing.assert_allclose(back[0], locs, atol=1e-9)


# --- 133 -> OpenPose --------------------------------------------------------------------------------------


def annotator_reorder(keypoints, scores):
    """The annotator's own steps (controlnet_aux dwpose/wholebody.py), as written there: insert the neck at 17,
    then ``new[:, openpose_idx] = new[:, mmpose_idx]``."""
    info = np.concatenate([keypoints, scores[..., None]], axis=-1)
    neck = info[:, [5, 6]].mean(axis=1)
    neck[:, 2] = np.logical_and(info[:, 5, 2] > 0.3, info[:, 6, 2] > 0.3).astype(int)
    new = np.insert(info, 17, neck, axis=1)
    mmpose_idx = [17, 6, 8, 10, 7, 9, 12, 14, 16, 13, 15, 2, 1, 4, 3]
    openpose_idx = [1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17]
    new[:, openpose_idx] = new[:, mmpose_idx]
    return new  # (P, 134, 3): body 0..17, feet 18..23, face 24..91, hands 92..112 and 113..133


def wholebody_person(scores=None):
    kp = np.stack([1000.0 + np.arange(133), 3000.0 + 2 * np.arange(133)], axis=1)[None]
    sc = np.full((1, 133), 0.9) if scores is None else np.asarray(scores, float)[None]
    return kp, sc


def test_body_mapping_explicit_table_and_neck():
    kp, sc = wholebody_person()
    (person,) = wholebody_to_openpose(kp, sc)
    # OpenPose-18 <- COCO: nose 0, neck = mid-shoulders, r-shoulder 6, r-elbow 8, r-wrist 10, l-shoulder 5,
    # l-elbow 7, l-wrist 9, r-hip 12, r-knee 14, r-ankle 16, l-hip 11, l-knee 13, l-ankle 15, r-eye 2, l-eye 1,
    # r-ear 4, l-ear 3
    coco = [0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]
    expected = np.array(
        [[1000 + i, 3000 + 2 * i, 0.9] if i is not None else [1005.5, 3011.0, 1.0] for i in coco], np.float32
    )
    np.testing.assert_allclose(person.body, expected, rtol=1e-6)
    np.testing.assert_allclose(person.body, annotator_reorder(kp, sc)[0, :18], rtol=1e-6)


def test_hands_face_mapping_and_missing_pupils():
    kp, sc = wholebody_person()
    (person,) = wholebody_to_openpose(kp, sc)
    ann = annotator_reorder(kp, sc)[0]
    # COCO-WholeBody 91..111 is the person's left hand ('left_hand_root' = 91) -> OpenPose hand_left
    np.testing.assert_allclose(person.left_hand[:, 0], 1091 + np.arange(21))
    np.testing.assert_allclose(person.right_hand[:, 0], 1112 + np.arange(21))
    np.testing.assert_allclose(person.left_hand, ann[92:113], rtol=1e-6)
    np.testing.assert_allclose(person.right_hand, ann[113:134], rtol=1e-6)
    np.testing.assert_allclose(person.face[:68, 0], 1023 + np.arange(68))
    np.testing.assert_allclose(person.face[:68], ann[24:92], rtol=1e-6)
    np.testing.assert_array_equal(person.face[68:], 0)  # the annotator has no pupils
    all_x = np.concatenate(
        [person.body[:, 0], person.left_hand[:, 0], person.right_hand[:, 0], person.face[:68, 0]]
    )
    assert not np.isin(1000 + np.arange(17, 23), all_x).any()  # feet dropped


def test_score_threshold_rules():
    scores = np.full(133, 0.9)
    scores[0] = 0.3  # body at exactly 0.3: hidden (annotator keeps body scores > 0.3)
    scores[7] = 0.29  # left elbow hidden
    scores[95] = 0.3  # hand at exactly 0.3: kept (annotator hides < 0.3)
    scores[96] = 0.29
    scores[30] = 0.1  # a face point
    kp, sc = wholebody_person(scores)
    (person,) = wholebody_to_openpose(kp, sc)
    assert person.body[0, 2] == 0 and person.body[6, 2] == 0 and person.body[1, 2] == 1.0
    assert person.left_hand[4, 2] == pytest.approx(0.3) and person.left_hand[5, 2] == 0
    assert person.face[7, 2] == 0 and person.face[8, 2] == pytest.approx(0.9)
    scores[6] = 0.31
    scores[5] = 0.3  # one shoulder not above 0.3: the neck is hidden, its position still the midpoint
    (person,) = wholebody_to_openpose(*wholebody_person(scores))
    assert person.body[1, 2] == 0 and person.body[5, 2] == 0 and person.body[2, 2] == pytest.approx(0.31)
    np.testing.assert_allclose(person.body[1, :2], [1005.5, 3011.0])


def test_mapping_many_people_and_bad_shape():
    kp = np.concatenate([wholebody_person()[0], wholebody_person()[0] + 5])
    people = wholebody_to_openpose(kp, np.full((2, 133), 0.5))
    assert len(people) == 2 and people[1].body[0, 0] == 1005
    assert wholebody_to_openpose(np.zeros((0, 133, 2)), np.zeros((0, 133))) == []
    with pytest.raises(ValueError, match="133"):
        wholebody_to_openpose(np.zeros((1, 17, 2)), np.zeros((1, 17)))


# --- preprocessing channel order (a recording stand-in for an ORT session) --------------------------------


class RecordingSession:
    def __init__(self, shape, outputs):
        self.shape, self.outputs, self.fed = shape, outputs, None

    def get_inputs(self):
        return [type("Input", (), {"name": "x", "shape": self.shape})()]

    def run(self, _names, feed):
        self.fed = feed["x"]
        return self.outputs


def test_detector_gets_bgr_0_255_and_pose_gets_normalised_rgb():
    image = np.zeros((32, 64, 3), np.uint8)
    image[:] = (200, 100, 50)
    det = RecordingSession(
        [1, 3, 64, 64], [yolox_raw((64, 64), [(8, 4, 2, (0, 0, np.log(4), np.log(4)), 1, 0, 1)])]
    )
    pose = RecordingSession(
        [1, 3, 32, 24], [np.ones((1, 133, 48), np.float32), np.ones((1, 133, 64), np.float32)]
    )
    extractor = DWPoseExtractor(det, pose)
    assert extractor.det_wh == (64, 64) and extractor.pose_wh == (24, 32)
    boxes = extractor.detect(image)
    assert det.fed.shape == (1, 3, 64, 64) and det.fed.dtype == np.float32
    np.testing.assert_array_equal(det.fed[0, :, 0, 0], [50, 100, 200])  # B, G, R
    np.testing.assert_array_equal(det.fed[0, :, 63, 0], [114, 114, 114])  # image is 64 x 32: padded below
    np.testing.assert_allclose(
        boxes, [[16, 0, 48, 32]], atol=1e-5
    )  # cell (4, 2) x 8 = centre (32, 16), 32 x 32, ratio 1
    extractor.estimate(image, boxes)
    assert pose.fed.shape == (1, 3, 32, 24) and pose.fed.dtype == np.float32
    expected = (np.array([200, 100, 50]) - [123.675, 116.28, 103.53]) / [58.395, 57.12, 57.375]
    np.testing.assert_allclose(pose.fed[0, :, 16, 12], expected, rtol=1e-5)


def test_wrong_model_outputs_name_the_file():
    image = np.zeros((32, 64, 3), np.uint8)
    wrong_det = RecordingSession([1, 3, 64, 64], [np.zeros((1, 100, 85), np.float32)])  # not 84 cells
    body_only = RecordingSession(
        [1, 3, 32, 24], [np.ones((1, 17, 48), np.float32), np.ones((1, 17, 64), np.float32)]
    )
    extractor = DWPoseExtractor(wrong_det, body_only)
    with pytest.raises(InputError, match="100 cells.*yolox_l.onnx"):
        extractor.detect(image)
    with pytest.raises(InputError, match="17 keypoints.*dw-ll_ucoco_384.onnx"):
        extractor.estimate(image, np.array([[0.0, 0.0, 10.0, 10.0]]))


def test_dynamic_input_dims_fall_back_to_real_sizes():
    extractor = DWPoseExtractor(
        RecordingSession(["n", 3, "h", "w"], []), RecordingSession([1, 3, None, None], [])
    )
    assert extractor.det_wh == (640, 640) and extractor.pose_wh == (288, 384)


# --- tiny ONNX models, end to end -------------------------------------------------------------------------


def constant_model(input_hw, outputs: dict[str, np.ndarray]):
    """A model taking (1, 3, h, w) float32 and returning fixed ``outputs``: each is the constant plus
    0 x mean(input), so the input is really consumed."""
    h, w = input_hw
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
    ]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    outs = []
    for name, value in outputs.items():
        inits.append(numpy_helper.from_array(value.astype(np.float32), f"{name}_const"))
        nodes.append(helper.make_node("Add", [f"{name}_const", "nothing"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, h, w])],
        outs,
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by onnxruntime >= 1.17
    onnx.checker.check_model(model)
    return model


# the planted person: image 128 x 96, detector input 64 x 64 (ratio 0.5); box (40, 16)-(88, 80) in the image is
# centre (32, 24), 24 x 32 in input pixels = stride-8 cell (4, 3) with zero offset and sizes exp(log 3), exp(log 4)
PERSON_CELL = (8, 4, 3, (0.0, 0.0, np.log(3.0), np.log(4.0)), 0.9, 0, 0.8)
# a weaker duplicate of the same person (removed by NMS) and a confident non-person
DUPLICATE_CELL = (8, 5, 3, (-0.5, 0.0, np.log(3.0), np.log(4.0)), 0.8, 0, 0.8)
BICYCLE_CELL = (16, 0, 0, (0.5, 0.5, 0.0, 0.0), 0.99, 1, 0.99)
X_BINS = np.arange(133) % 48
Y_BINS = (7 * np.arange(133)) % 64


def pose_outputs():
    sx, sy = np.zeros((1, 133, 48)), np.zeros((1, 133, 64))
    sx[0, np.arange(133), X_BINS] = 0.9
    sy[0, np.arange(133), Y_BINS] = 0.8
    sx[0, 9, X_BINS[9]] = 0.2  # left wrist below 0.3
    sy[0, 100, Y_BINS[100]] = 0.1  # a left-hand point below 0.3
    return {"simcc_x": sx, "simcc_y": sy}


def write_models(folder, det_cells):
    folder.mkdir(exist_ok=True)
    onnx.save(constant_model((64, 64), {"output": yolox_raw((64, 64), det_cells)}), folder / DET_FILE)
    onnx.save(constant_model((32, 24), pose_outputs()), folder / POSE_FILE)
    return folder


def test_end_to_end_tiny_onnx_models(tmp_path):
    extractor = DWPoseExtractor.from_weights_dir(
        write_models(tmp_path, [PERSON_CELL, DUPLICATE_CELL, BICYCLE_CELL])
    )
    assert extractor.det_wh == (64, 64) and extractor.pose_wh == (24, 32)
    image = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    np.testing.assert_allclose(extractor.detect(image), [[40, 16, 88, 80]], atol=1e-4)
    (person,) = extractor(image)
    # box centre (64, 48), padded 60 x 80 = the 24 x 32 crop at 2.5 px per input px; bin b is input px b / 2:
    # x = b * 1.25 + 34, y = b * 1.25 + 8
    x, y = X_BINS * 1.25 + 34, Y_BINS * 1.25 + 8
    coco = [0, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]
    np.testing.assert_allclose(person.body[[0, *range(2, 18)], 0], x[coco], atol=1e-4)
    np.testing.assert_allclose(person.body[[0, *range(2, 18)], 1], y[coco], atol=1e-4)
    np.testing.assert_allclose(person.body[1], [(x[5] + x[6]) / 2, (y[5] + y[6]) / 2, 1.0], atol=1e-4)
    assert person.body[7, 2] == 0  # left wrist 0.2
    np.testing.assert_allclose(person.body[[0, 2, 5, 17], 2], 0.8)
    np.testing.assert_allclose(person.left_hand[:, :2], np.stack([x[91:112], y[91:112]], 1), atol=1e-4)
    np.testing.assert_allclose(person.right_hand[:, :2], np.stack([x[112:], y[112:]], 1), atol=1e-4)
    assert person.left_hand[9, 2] == 0 and np.count_nonzero(person.left_hand[:, 2]) == 20
    np.testing.assert_allclose(person.face[:68, :2], np.stack([x[23:91], y[23:91]], 1), atol=1e-4)
    assert (person.face[68:] == 0).all()


def test_no_detection_poses_the_whole_image_like_the_annotator(tmp_path):
    extractor = DWPoseExtractor.from_weights_dir(write_models(tmp_path, [BICYCLE_CELL]))
    image = np.zeros((96, 128, 3), np.uint8)
    assert len(extractor.detect(image)) == 0
    (person,) = extractor(image)
    # whole image (0, 0)-(128, 96): centre (64, 48), padded 160 x 120 -> 3:4 is 160 x 213.3; 160 / 24 px per px
    s = 160 / 24
    np.testing.assert_allclose(
        person.body[0, :2], [X_BINS[0] / 2 * s + 64 - 80, Y_BINS[0] / 2 * s + 48 - 320 / 3], atol=1e-4
    )
    off = DWPoseExtractor.from_weights_dir(tmp_path, whole_image_fallback=False)
    assert off(image) == []


def test_weights_from_env_var(tmp_path, monkeypatch):
    write_models(tmp_path, [PERSON_CELL])
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    assert DWPoseExtractor.from_weights_dir().pose_wh == (24, 32)


# --- errors -----------------------------------------------------------------------------------------------


def test_missing_weights_one_line_names_file_and_fixes(tmp_path):
    (tmp_path / DET_FILE).write_bytes(b"x")
    with pytest.raises(MissingWeightsError) as info:
        DWPoseExtractor.from_weights_dir(tmp_path)
    msg = str(info.value)
    assert "\n" not in msg and POSE_FILE in msg and DET_FILE not in msg and str(tmp_path) in msg
    assert "--weights-dir" in msg and WEIGHTS_ENV in msg and "yzd-v/DWPose" in msg


def test_missing_onnxruntime_gives_install_line(tmp_path, monkeypatch):
    for name in DWPoseExtractor.weight_files:
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    with pytest.raises(InputError, match=r"pip install 'magicpose\[dwpose\]'") as info:
        DWPoseExtractor.from_weights_dir(tmp_path)
    assert "\n" not in str(info.value)


def test_broken_onnxruntime_says_so(tmp_path, monkeypatch):
    import builtins

    for name in DWPoseExtractor.weight_files:
        (tmp_path / name).write_bytes(b"x")
    real_import = builtins.__import__

    def broken(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("_ARRAY_API not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "onnxruntime")
    monkeypatch.setattr(builtins, "__import__", broken)
    with pytest.raises(
        InputError,
        match=r"does not import \(_ARRAY_API not found\): pip install -U "
        r"'magicpose\[dwpose\]'",
    ):
        DWPoseExtractor.from_weights_dir(tmp_path)


def test_unreadable_model_and_wrong_device(tmp_path):
    for name in DWPoseExtractor.weight_files:
        (tmp_path / name).write_bytes(b"not an onnx model")
    with pytest.raises(InputError, match=f"cannot load '.*{DET_FILE}' as an ONNX model"):
        DWPoseExtractor.from_weights_dir(tmp_path)
    with pytest.raises(InputError, match="unknown device"):
        DWPoseExtractor.from_weights_dir(tmp_path, device="tpu")


def test_pose_input_crop_content():
    # a white rectangle on black filling the box (40, 16)-(88, 80): crop pixel (c, r) samples image point
    # (2.5 c + 34, 2.5 r + 8), so fully white crop pixels are columns 3..21 (41.5..86.5) and rows 4..28 (18..78)
    image = np.zeros((96, 128, 3), np.uint8)
    image[16:80, 40:88] = 255
    blob, center, scale = pose_input(image, [40, 16, 88, 80], (24, 32))
    np.testing.assert_allclose(center, [64, 48])
    np.testing.assert_allclose(scale, [60, 80])
    white = (255 - 123.675) / 58.395
    rows, cols = np.nonzero(np.isclose(blob[0, 0], white, atol=1e-5))
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (4, 28, 3, 21)
