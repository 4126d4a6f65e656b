"""Pose-extraction throughput of the DWPose ONNX backend on this machine, split into detector and pose time.

    python benchmarks/bench_extract.py [--frames 20] [--size 1280x720] [--people 1]
    python benchmarks/bench_extract.py --weights-dir DIR   # the real yolox_l.onnx + dw-ll_ucoco_384.onnx

Without --weights-dir it builds stand-in models with onnx at the real input sizes and output layouts (YOLOX:
640x640 in, (1, 8400, 85) out; DWPose: 384x288 in, simcc_x (1, 133, 576) and simcc_y (1, 133, 768) out), each a
few small convolutions, so the figures are the backend's own cost (letterbox, warps, decode, NMS, mapping)
plus ONNX Runtime overhead, not the real networks'. The stand-in detector always reports --people boxes, so
the pose model runs that many times per frame. With --weights-dir, --people is whatever the frame holds.
The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from results import record

ROOT = Path(__file__).resolve().parents[1]


def _conv(nodes, inits, name, x, cin, cout, k, stride, rng):
    inits.append(_arr(rng.normal(0, 0.1, (cout, cin, k, k)), f"{name}_w"))
    nodes.append(
        _node(
            "Conv",
            [x, f"{name}_w"],
            [f"{name}_c"],
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[k // 2] * 4,
        )
    )
    nodes.append(_node("Relu", [f"{name}_c"], [name]))
    return name


def _arr(value, name):
    from onnx import numpy_helper

    return numpy_helper.from_array(
        np.asarray(value, np.float32) if np.asarray(value).dtype.kind == "f" else np.asarray(value), name
    )


def _node(*args, **kwargs):
    from onnx import helper

    return helper.make_node(*args, **kwargs)


def _model(nodes, inits, input_hw, outputs):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "standin",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, *input_hw])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def standin_detector(people: int, frame_wh: tuple[int, int]):
    """Stride-8/16/32 conv pyramid with 85-channel 1x1 heads at 640x640, output (1, 8400, 85); the head output
    is scaled by 0 and added to a fixed grid that encodes ``people`` side-by-side person boxes."""
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    x = _conv(nodes, inits, "s2", "input", 3, 16, 3, 2, rng)
    x = _conv(nodes, inits, "s4", x, 16, 32, 3, 2, rng)
    heads = []
    for stride, cin, cout in ((8, 32, 64), (16, 64, 64), (32, 64, 64)):
        x = _conv(nodes, inits, f"s{stride}", x, cin, cout, 3, 2, rng)
        inits.append(_arr(rng.normal(0, 0.1, (85, cout, 1, 1)), f"h{stride}_w"))
        nodes.append(_node("Conv", [x, f"h{stride}_w"], [f"h{stride}"]))
        inits.append(_arr([1, 85, -1], f"shape{stride}"))
        nodes.append(_node("Reshape", [f"h{stride}", f"shape{stride}"], [f"r{stride}"]))
        heads.append(f"r{stride}")
    nodes.append(_node("Concat", heads, ["cat"], axis=2))
    nodes.append(_node("Transpose", ["cat"], ["raw"], perm=[0, 2, 1]))
    inits.append(_arr(np.zeros(()), "zero"))
    nodes.append(_node("Mul", ["raw", "zero"], ["nothing"]))
    inits.append(_arr(_planted_grid(people, frame_wh), "grid"))
    nodes.append(_node("Add", ["grid", "nothing"], ["output"]))
    return _model(nodes, inits, (640, 640), [("output", [1, 8400, 85])])


def _planted_grid(people: int, frame_wh: tuple[int, int]) -> np.ndarray:
    """YOLOX raw output with ``people`` boxes side by side, each a tall box filling a column of the letterboxed
    frame (stride-32 cells on the middle row)."""
    out = np.zeros((1, 8400, 85), np.float32)
    ratio = min(640 / frame_wh[1], 640 / frame_wh[0])
    content_w, content_h = frame_wh[0] * ratio, frame_wh[1] * ratio
    offset = 80 * 80 + 40 * 40
    for i in range(people):
        cx, cy = (i + 0.5) * content_w / people, content_h / 2
        gx, gy = int(cx // 32), int(cy // 32)
        row = offset + gy * 20 + gx
        out[0, row, :4] = (
            cx / 32 - gx,
            cy / 32 - gy,
            np.log(content_w / people * 0.6 / 32),
            np.log(content_h * 0.9 / 32),
        )
        out[0, row, 4], out[0, row, 5] = 0.9, 0.9
    return out


def standin_pose():
    """Two strided convs to 133 channels at 384x288, then SimCC heads: mean over rows / columns and a linear
    map to 2x the input width / height bins."""
    rng = np.random.default_rng(1)
    nodes, inits = [], []
    x = _conv(nodes, inits, "p1", "input", 3, 32, 3, 2, rng)
    x = _conv(nodes, inits, "p2", x, 32, 64, 3, 2, rng)
    inits.append(_arr(rng.normal(0, 0.1, (133, 64, 1, 1)), "k_w"))
    nodes.append(_node("Conv", [x, "k_w"], ["k"]))  # (1, 133, 96, 72)
    for axis, name, cells, bins in ((2, "simcc_x", 72, 576), (3, "simcc_y", 96, 768)):
        nodes.append(_node("ReduceMean", ["k"], [f"{name}_m"], axes=[axis], keepdims=0))  # opset 17 form
        inits.append(_arr(rng.normal(0, 0.1, (cells, bins)), f"{name}_w"))
        nodes.append(_node("MatMul", [f"{name}_m", f"{name}_w"], [name]))
    return _model(nodes, inits, (384, 288), [("simcc_x", [1, 133, 576]), ("simcc_y", [1, 133, 768])])


def frame(frame_wh: tuple[int, int]) -> np.ndarray:
    """The example reference image resized to the frame size (noise if it is missing)."""
    path = ROOT / "example_data" / "reference.png"
    try:
        from PIL import Image

        return np.asarray(Image.open(path).convert("RGB").resize(frame_wh))
    except (ImportError, OSError):
        return np.random.default_rng(0).integers(0, 256, (frame_wh[1], frame_wh[0], 3), dtype=np.uint8)


class Timed:
    """An ONNX Runtime session that adds the seconds spent in ``run`` to ``seconds``: the rest of a stage's
    time is the backend's own pre- and post-processing."""

    def __init__(self, session) -> None:
        self.session, self.seconds = session, 0.0

    def get_inputs(self):
        return self.session.get_inputs()

    def run(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.session.run(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def run(extractor, image: np.ndarray, frames: int, warmup: int = 2) -> dict:
    from magicpose.pose.extract.wholebody import wholebody_to_openpose

    extractor.detector, extractor.pose = Timed(extractor.detector), Timed(extractor.pose)
    times = {"detector": [], "pose": [], "mapping": [], "detector_onnx": [], "pose_onnx": []}
    people = 0
    for i in range(warmup + frames):
        extractor.detector.seconds = extractor.pose.seconds = 0.0
        t0 = time.perf_counter()
        boxes = extractor.detect(image)
        if len(boxes) == 0 and extractor.whole_image_fallback:
            boxes = np.array([[0.0, 0.0, image.shape[1], image.shape[0]]])
        t1 = time.perf_counter()
        keypoints, scores = extractor.estimate(image, boxes)
        t2 = time.perf_counter()
        wholebody_to_openpose(keypoints, scores)
        t3 = time.perf_counter()
        if i >= warmup:
            for key, dt in zip(
                times, (t1 - t0, t2 - t1, t3 - t2, extractor.detector.seconds, extractor.pose.seconds)
            ):
                times[key].append(dt)
            people = len(boxes)
    med = {k: float(np.median(v)) for k, v in times.items()}
    total = med["detector"] + med["pose"] + med["mapping"]
    return {
        **{f"{k}_ms": 1e3 * v for k, v in med.items()},
        "total_ms": 1e3 * total,
        "fps": 1.0 / total,
        "people": people,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights-dir", help="folder with the real yolox_l.onnx and dw-ll_ucoco_384.onnx")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--size", default="1280x720", help="frame WxH")
    parser.add_argument("--people", type=int, default=1, help="boxes the stand-in detector reports")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    frame_wh = tuple(int(v) for v in args.size.lower().split("x"))

    import onnxruntime

    from magicpose.errors import InputError
    from magicpose.pose.extract.dwpose import DWPoseExtractor

    with tempfile.TemporaryDirectory() as tmp:
        if args.weights_dir:
            models, folder = "real (yolox_l + dw-ll_ucoco_384)", args.weights_dir
        else:
            import onnx

            models, folder = "stand-ins at real input sizes", tmp
            onnx.save(standin_detector(args.people, frame_wh), Path(tmp) / DWPoseExtractor.weight_files[0])
            onnx.save(standin_pose(), Path(tmp) / DWPoseExtractor.weight_files[1])
        try:
            extractor = DWPoseExtractor.from_weights_dir(folder, device=args.device)
        except InputError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        result = run(extractor, frame(frame_wh), args.frames)

    print(
        f"DWPose ONNX backend, {models}; frame {frame_wh[0]}x{frame_wh[1]}, detector input "
        f"{extractor.det_wh[0]}x{extractor.det_wh[1]}, pose input {extractor.pose_wh[0]}x{extractor.pose_wh[1]}"
    )
    load = os.getloadavg()[0]
    print(
        f"onnxruntime {onnxruntime.__version__} on {args.device}, {platform.machine()} with {os.cpu_count()} "
        f"cores (load average {load:.1f}); median of {args.frames} frames, {result['people']} people per frame"
    )
    print(f"  {'stage':10s} {'ms/frame':>9s} {'in ONNX':>9s} {'own pre/post':>13s}")
    for key in ("detector", "pose"):
        ms, onnx_ms = result[key + "_ms"], result[key + "_onnx_ms"]
        print(f"  {key:10s} {ms:9.2f} {onnx_ms:9.2f} {ms - onnx_ms:13.2f}")
    print(f"  {'mapping':10s} {result['mapping_ms']:9.2f} {'':9s} {result['mapping_ms']:13.2f}")
    print(f"  {'total':10s} {result['total_ms']:9.2f}")
    print(f"  {'frames/s':10s} {result['fps']:9.2f}")
    summary = {
        "models": models,
        "frame": list(frame_wh),
        "device": args.device,
        "onnxruntime": onnxruntime.__version__,
        "cores": os.cpu_count(),
        "load_average": round(load, 2),
        **{k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()},
    }
    record("bench_extract", summary)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
