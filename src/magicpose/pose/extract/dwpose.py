"""DWPose on ONNX Runtime: YOLOX-L person boxes, then RTMPose (SimCC) whole-body keypoints per box.

The same two ONNX files and the same pre/post-processing as the ControlNet DWPose annotator (IDEA-Research
DWPose ``onnxdet.py`` / ``onnxpose.py``, reused by controlnet_aux and rtmlib), so its ControlNet conditions
match. Each step is a small pure function over numpy arrays, testable without a model. Model input sizes are
read from the ONNX files (fixed sizes), falling back to the real models' 640x640 and 288x384.

Channel order: YOLOX (Megvii export) was trained on OpenCV's BGR frames with raw 0..255 values; RTMPose was
trained on RGB with ImageNet mean/std (mmpose ``bgr_to_rgb=True``). We feed each model what it was trained on,
as controlnet_aux's mmpose-based annotator does (the ONNX annotator passes one array to both).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from magicpose.errors import InputError, first_line
from magicpose.files import check_regular_file
from magicpose.pose.extract.base import PoseExtractor
from magicpose.pose.extract.wholebody import NUM_WHOLEBODY, wholebody_to_openpose
from magicpose.pose.schema import PersonPose

__all__ = [
    "DWPoseExtractor",
    "bbox_to_center_scale",
    "decode_yolox",
    "fix_aspect_ratio",
    "letterbox",
    "nms",
    "pose_input",
    "select_people",
    "simcc_decode",
    "simcc_to_image",
    "warp_matrix",
]

INSTALL_HINT = "pip install 'magicpose[dwpose]'"

# Detector (annotator's onnxdet.py): letterbox pad value, strides of the three output grids, thresholds.
DET_INPUT_WH = (640, 640)
DET_PAD_VALUE = 114
DET_STRIDES = (8, 16, 32)
DET_CANDIDATE_SCORE = 0.1  # boxes entering NMS
DET_NMS_IOU = 0.45  # a box overlapping a better one by more than this is dropped
DET_KEEP_SCORE = 0.3  # boxes kept after NMS
PERSON_CLASS = 0

# Pose (annotator's onnxpose.py): input size (w, h), box padding, RGB mean/std, SimCC bins per pixel.
POSE_INPUT_WH = (288, 384)
BOX_PADDING = 1.25
POSE_MEAN = (123.675, 116.28, 103.53)
POSE_STD = (58.395, 57.12, 57.375)
SIMCC_SPLIT_RATIO = 2.0


# --- detector ---------------------------------------------------------------------------------------------


def letterbox(image: np.ndarray, input_wh: tuple[int, int], pad_value: int = DET_PAD_VALUE):
    """Resize ``image`` (H, W, 3) to fit ``input_wh`` keeping its aspect, top-left aligned on a ``pad_value``
    canvas. Returns the (h, w, 3) uint8 canvas and the scale ``ratio`` (input pixels per image pixel)."""
    in_w, in_h = input_wh
    h, w = image.shape[:2]
    ratio = min(in_h / h, in_w / w)
    new_w, new_h = int(w * ratio), int(h * ratio)  # truncated, as in the annotator
    canvas = np.full((in_h, in_w, 3), pad_value, dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return canvas, ratio


@functools.lru_cache(maxsize=8)
def yolox_grid(input_wh: tuple[int, int], strides=DET_STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """Cell offsets (N, 2) as (x, y) and their strides (N, 1) in YOLOX's output order: per stride, rows of
    cells top to bottom, each row left to right. Cached: the same for every frame."""
    in_w, in_h = input_wh
    grids, steps = [], []
    for s in strides:
        ys, xs = np.mgrid[0 : in_h // s, 0 : in_w // s]
        grids.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        steps.append(np.full((grids[-1].shape[0], 1), s))
    grid, step = np.concatenate(grids).astype(np.float32), np.concatenate(steps).astype(np.float32)
    grid.flags.writeable = step.flags.writeable = False
    return grid, step


def decode_yolox(
    outputs: np.ndarray, input_wh: tuple[int, int], ratio: float = 1.0, strides=DET_STRIDES
) -> tuple[np.ndarray, np.ndarray]:
    """Raw YOLOX head output ((1, N, 5 + C) or (N, 5 + C): cell-relative centre, log size, objectness and
    class probabilities) to boxes (N, 4) x1 y1 x2 y2 in image pixels (letterbox undone by ``ratio``) and
    class scores (N, C) = objectness x class probability. In float32, like the annotator."""
    pred = np.asarray(outputs, dtype=np.float32).reshape(-1, np.shape(outputs)[-1])
    grid, step = yolox_grid(tuple(input_wh), tuple(strides))
    if len(pred) != len(grid):
        raise ValueError(
            f"YOLOX output has {len(pred)} cells, a {input_wh[0]}x{input_wh[1]} input with strides "
            f"{tuple(strides)} gives {len(grid)}"
        )
    centre = (pred[:, :2] + grid) * step
    size = np.exp(pred[:, 2:4]) * step
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1) / np.float32(ratio)
    return boxes, pred[:, 4:5] * pred[:, 5:]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = DET_NMS_IOU) -> np.ndarray:
    """Indices of the boxes greedy non-maximum suppression keeps, best first. Overlap uses the annotator's
    inclusive-pixel areas ((x2 - x1 + 1) * (y2 - y1 + 1)); a box goes when its IoU with a kept one is
    above ``iou_threshold``."""
    boxes = np.asarray(boxes, dtype=np.float64)
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores, kind="stable")[::-1]
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        ih = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = iw * ih
        order = rest[inter / (areas[i] + areas[rest] - inter) <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def select_people(
    boxes: np.ndarray,
    class_scores: np.ndarray,
    candidate_score: float = DET_CANDIDATE_SCORE,
    iou_threshold: float = DET_NMS_IOU,
    keep_score: float = DET_KEEP_SCORE,
):
    """Person boxes (K, 4) and scores (K,), best first: the person column of the annotator's class-aware
    NMS (other classes never suppress a person), then its score filter."""
    scores = class_scores[:, PERSON_CLASS]
    cand = scores > candidate_score
    boxes, scores = boxes[cand], scores[cand]
    keep = nms(boxes, scores, iou_threshold)
    keep = keep[scores[keep] > keep_score]
    return boxes[keep], scores[keep]


# --- pose -------------------------------------------------------------------------------------------------


def bbox_to_center_scale(bbox, padding: float = BOX_PADDING) -> tuple[np.ndarray, np.ndarray]:
    """Box x1 y1 x2 y2 to its centre (x, y) and padded size (w, h)."""
    x1, y1, x2, y2 = np.asarray(bbox, dtype=np.float64)[:4]
    return np.array([x1 + x2, y1 + y2]) * 0.5, np.array([x2 - x1, y2 - y1]) * padding


def fix_aspect_ratio(scale: np.ndarray, aspect: float) -> np.ndarray:
    """Grow the shorter side of ``scale`` (w, h) so that w / h == ``aspect`` (the model input's)."""
    w, h = scale
    return np.array([w, w / aspect]) if w > h * aspect else np.array([h * aspect, h])


def warp_matrix(center: np.ndarray, scale: np.ndarray, output_wh: tuple[int, int]) -> np.ndarray:
    """2x3 affine taking the box ``center``/``scale`` (aspect already fixed) onto the ``output_wh`` crop.
    No rotation, so it is a uniform scale plus shift (the annotator builds the same map from three points)."""
    s = output_wh[0] / scale[0]
    return np.array([[s, 0.0, output_wh[0] / 2 - s * center[0]], [0.0, s, output_wh[1] / 2 - s * center[1]]])


def pose_input(image_rgb: np.ndarray, bbox, input_wh: tuple[int, int]):
    """The normalised (1, 3, h, w) float32 crop of one person box, with the crop's ``center`` and ``scale``."""
    center, scale = bbox_to_center_scale(bbox)
    scale = fix_aspect_ratio(scale, input_wh[0] / input_wh[1])
    crop = cv2.warpAffine(
        image_rgb, warp_matrix(center, scale, input_wh), tuple(input_wh), flags=cv2.INTER_LINEAR
    )
    crop = (crop.astype(np.float32) - np.float32(POSE_MEAN)) / np.float32(POSE_STD)
    return np.ascontiguousarray(crop.transpose(2, 0, 1)[None]), center, scale


def simcc_decode(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float = SIMCC_SPLIT_RATIO):
    """SimCC argmax: (N, K, Wx) and (N, K, Wy) 1-D distributions to locations (N, K, 2) in model-input
    pixels and scores (N, K) = the smaller of the two peaks. A point whose score is <= 0 gets location -1
    (before the split ratio), as in the annotator."""
    simcc_x, simcc_y = np.asarray(simcc_x), np.asarray(simcc_y)
    locs = np.stack([simcc_x.argmax(-1), simcc_y.argmax(-1)], axis=-1).astype(np.float64)
    scores = np.minimum(simcc_x.max(-1), simcc_y.max(-1)).astype(np.float64)
    locs[scores <= 0] = -1
    return locs / split_ratio, scores


def simcc_to_image(
    locs: np.ndarray, input_wh: tuple[int, int], center: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """Model-input pixel locations back to image pixels (inverse of :func:`warp_matrix`)."""
    return locs / np.asarray(input_wh, dtype=np.float64) * scale + center - scale / 2


# --- backend ----------------------------------------------------------------------------------------------


def _import_onnxruntime():
    try:
        import onnxruntime
    except ModuleNotFoundError:
        raise InputError(f"the dwpose pose extractor needs onnxruntime: {INSTALL_HINT}") from None
    except ImportError as err:  # installed but broken, e.g. a wheel built for numpy 1.x beside numpy 2
        detail = (
            first_line(err)
            if str(err).strip()
            else ("an empty ImportError, as onnxruntime < 1.19 gives beside numpy 2")
        )
        raise InputError(
            f"onnxruntime is installed but does not import ({detail}): pip install -U 'magicpose[dwpose]'"
        ) from None
    return onnxruntime


def _providers(ort, device: str) -> list:
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise InputError(
                f"device '{device}' needs onnxruntime with CUDA: pip install onnxruntime-gpu "
                f"(this onnxruntime has {', '.join(ort.get_available_providers())})"
            )
        index = int(device.partition(":")[2] or 0)
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    raise InputError(f"unknown device '{device}' for the dwpose pose extractor: use cpu, cuda or cuda:N")


def _session(ort, path: Path, providers: list):
    check_regular_file(path, "ONNX model", "pass the .onnx file")
    try:
        return ort.InferenceSession(str(path), providers=providers)
    except Exception as err:  # onnxruntime raises its own exception types for unreadable models
        raise InputError(f"cannot load '{path}' as an ONNX model: {first_line(err)}") from None


def _input_wh(session, default_wh: tuple[int, int]) -> tuple[int, int]:
    """(w, h) from a fixed (N, 3, H, W) input shape; ``default_wh`` where those dims are dynamic."""
    shape = session.get_inputs()[0].shape
    h, w = shape[2:4] if len(shape) == 4 else (None, None)
    if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
        return w, h
    return default_wh


class DWPoseExtractor(PoseExtractor):
    """DWPose (YOLOX-L detector + DWPose-L 384x288 whole-body RTMPose) on ONNX Runtime."""

    name: ClassVar[str] = "dwpose"
    weight_files: ClassVar[tuple[str, ...]] = ("yolox_l.onnx", "dw-ll_ucoco_384.onnx")
    weights_hint: ClassVar[str] = (
        "the ControlNet DWPose annotator files: Hugging Face repo yzd-v/DWPose, "
        "or annotator/ckpts of a ControlNet annotator install"
    )

    def __init__(self, detector, pose, whole_image_fallback: bool = True) -> None:
        self.detector, self.pose = detector, pose
        self.det_wh = _input_wh(detector, DET_INPUT_WH)
        self.pose_wh = _input_wh(pose, POSE_INPUT_WH)
        # The annotator poses the whole frame as one box when no person is detected.
        self.whole_image_fallback = whole_image_fallback

    @classmethod
    def from_weights_dir(
        cls,
        weights_dir: str | os.PathLike | None = None,
        device: str = "cpu",
        whole_image_fallback: bool = True,
    ) -> DWPoseExtractor:
        paths = cls.check_weights(weights_dir)
        ort = _import_onnxruntime()
        providers = _providers(ort, device)
        det_path, pose_path = (paths[name] for name in cls.weight_files)
        return cls(
            _session(ort, det_path, providers),
            _session(ort, pose_path, providers),
            whole_image_fallback=whole_image_fallback,
        )

    def detect(self, image_rgb: np.ndarray) -> np.ndarray:
        """Person boxes (K, 4) x1 y1 x2 y2 in image pixels, best first."""
        canvas, ratio = letterbox(image_rgb, self.det_wh)
        # YOLOX wants BGR; flipping after the (per-channel) resize gives the same pixels, on fewer of them
        blob = np.ascontiguousarray(canvas[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32)
        (raw, *_) = self.detector.run(None, {self.detector.get_inputs()[0].name: blob})
        try:
            boxes, class_scores = decode_yolox(raw, self.det_wh, ratio)
        except ValueError as err:  # not a YOLOX grid output: most likely the wrong file
            raise InputError(
                f"the dwpose detector output does not fit: {err}; is '{self.weight_files[0]}' "
                "the YOLOX-L ONNX export?"
            ) from None
        return select_people(boxes, class_scores)[0]

    def estimate(self, image_rgb: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """COCO-WholeBody keypoints (K, 133, 2) in image pixels and scores (K, 133), one row per box."""
        name = self.pose.get_inputs()[0].name
        keypoints, scores = [], []
        for box in boxes:
            blob, center, scale = pose_input(image_rgb, box, self.pose_wh)
            simcc_x, simcc_y = self.pose.run(None, {name: blob})[:2]
            locs, score = simcc_decode(simcc_x, simcc_y)
            if locs.shape[1] != NUM_WHOLEBODY:
                raise InputError(
                    f"the dwpose pose model gives {locs.shape[1]} keypoints, expected "
                    f"{NUM_WHOLEBODY} (COCO-WholeBody): is '{self.weight_files[1]}' the right file?"
                )
            keypoints.append(simcc_to_image(locs[0], self.pose_wh, center, scale))
            scores.append(score[0])
        if not keypoints:
            return np.zeros((0, NUM_WHOLEBODY, 2)), np.zeros((0, NUM_WHOLEBODY))
        return np.stack(keypoints), np.stack(scores)

    def __call__(self, image: np.ndarray) -> list[PersonPose]:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"DWPoseExtractor expects an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}"
            )
        boxes = self.detect(image)
        if len(boxes) == 0 and self.whole_image_fallback:
            boxes = np.array([[0.0, 0.0, image.shape[1], image.shape[0]]])
        people = wholebody_to_openpose(*self.estimate(image, boxes))
        # A person with every point below the threshold draws nothing in the annotator: leave it out.
        return [p for p in people if p.to_array()[:, 2].any()]
