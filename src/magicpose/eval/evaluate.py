"""One streaming pass over paired videos that computes every requested metric.

Each frame pair is read once; per-frame metrics are accumulated as sums, and network features go straight
into running Gaussian statistics (magicpose.eval.frechet), so memory does not grow with the test set:
only one batch of network inputs and, per video, the last ``clip_length`` prepared frames are held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from magicpose.errors import InputError
from magicpose.eval import metrics as m
from magicpose.eval.folders import VideoPair
from magicpose.eval.frechet import GaussianStats, stats_distance
from magicpose.eval.identity import embedding_distance
from magicpose.eval.keypoints import KeypointScores, main_body
from magicpose.eval.preprocess import (
    CLIP_LENGTH,
    FID_INPUTS,
    FID_PROTOCOLS,
    GIF_FPS,
    ClipWindows,
    clip_count,
    fid_vid_frame,
    fvd_frame,
    gif_round_trip,
)
from magicpose.image_utils import load_image

FRAME_METRICS = {  # name -> function of (generated, ground truth) uint8 RGB arrays
    "l1": m.l1,
    "l1_disco": m.l1_disco,
    "psnr": lambda a, b: m.psnr(a, b, identical=m.PSNR_IDENTICAL),
    "psnr_disco": m.psnr_disco,
    "ssim": m.ssim,
}
NETWORK_METRICS = ("lpips", "lpips_disco", "fid", "fid_vid", "fvd", "akd", "mkr", "aed")
KEYPOINT_METRICS = ("akd", "mkr")
ALL_METRICS = (*FRAME_METRICS, *NETWORK_METRICS)
LABELS = {
    "l1": "L1",
    "l1_disco": "L1 (DisCo: /H·W)",
    "psnr": "PSNR",
    "psnr_disco": "PSNR (DisCo: uint8 wrap)",
    "ssim": "SSIM",
    "lpips": "LPIPS",
    "lpips_disco": "LPIPS (DisCo: [0,1] input)",
    "fid": "FID",
    "fid_vid": "FID-VID",
    "fvd": "FVD",
    "akd": "AKD",
    "mkr": "MKR",
    "aed": "AED",
}
# The smallest frame side each metric can score: SSIM's 7x7 window, LPIPS' VGG (four 2x2 poolings leave 1 pixel).
MIN_FRAME_SIDE = {"ssim": 7, "lpips": 16, "lpips_disco": 16}
LOWER_IS_BETTER = {"l1", "l1_disco", "lpips", "lpips_disco", "fid", "fid_vid", "fvd", "akd", "mkr", "aed"}


@dataclass
class EvaluationOptions:
    metrics: tuple[str, ...] = ALL_METRICS
    clip_length: int = CLIP_LENGTH
    clip_stride: int = 1
    gif: bool = (
        False  # True: clips through GIF's palette (DisCo's June-2023 protocol); False: raw frames (today's)
    )
    fid_protocol: str = "pytorch-fid"  # or "clean-fid": which Inception and resize FID uses
    batch_size: int = 16  # frames per FID batch; clips go in batches of batch_size // 4
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.fid_protocol not in FID_PROTOCOLS:
            raise ValueError(f"fid_protocol must be one of {FID_PROTOCOLS}, got {self.fid_protocol!r}")


def protocol(options: EvaluationOptions) -> dict[str, str]:
    """Every convention that changes the numbers, written into the results."""
    palette = (
        f"each frame through a GIF palette (Pillow, as DisCo's June-2023 {GIF_FPS:g} fps GIFs)"
        if options.gif
        else "raw frames (no GIF), as DisCo's current protocol"
    )
    clips = (
        f"every window of {options.clip_length} consecutive frames of a video, stride {options.clip_stride}, "
        f"{palette}; frames stretched with clean-fid's float bicubic resize, not clipped"
    )
    fid = {
        "pytorch-fid": "pytorch-fid's protocol, as the papers: frames as x / 255, bilinear resize to 299x299 "
        "(align_corners=False), 2x - 1, pytorch-fid's Inception-v3 (pt_inception-2015-12-05), "
        "2048-d pool features",
        "clean-fid": "clean-fid's protocol: frames stretched to 299x299 with the float bicubic resize (not "
        "clipped), (x - 128) / 128 through the layers of clean-fid's Inception-v3 TorchScript "
        "(inception-2015-12-05.pt), 2048-d features",
    }[options.fid_protocol]
    return {
        "frames": "paired by file name; generated frames resized to the ground truth's size (bilinear) only with "
        "--resize, for the per-frame metrics (FID, FID-VID and FVD read the generated frame as it is)",
        "l1": "mean |gen - gt| with pixels in [0, 1], RGB, per frame then mean over all frames",
        "l1_disco": "mean |gen - gt| of 0-255 values divided by H*W (DisCo)",
        "psnr": "float PSNR of 8-bit RGB, per frame (100 dB for identical frames), mean over all frames",
        "psnr_disco": "DisCo's PSNR: (gen - gt)**2 in uint8, wrapping modulo 256, per frame, mean",
        "ssim": "scikit-image structural_similarity defaults on OpenCV's 8-bit grey: 7x7 uniform window, "
        "sample covariance, K1 0.01, K2 0.03, data range 255; per frame, mean",
        "lpips": "LPIPS v0.1, VGG16, inputs in [-1, 1] at the frames' size, per frame, mean",
        "lpips_disco": "the same network fed [0, 1] images, as DisCo's script does",
        "fid": f"every frame of every video, generated vs ground truth; {fid}; Fréchet distance",
        "fid_vid": f"3D ResNet-50 (Hara et al., Kinetics) pooled features of clips at 112x112, ActivityNet mean "
        f"[114.7748, 107.7354, 99.4750] subtracted; clips: {clips}; pooled over all videos",
        "fvd": f"I3D features (400) of clips at 224x224 in [-1, 1]; clips: {clips}; pooled over all videos",
        "akd": "mean |dx|, |dy| in ground-truth pixels over the 18 body keypoints the pose extractor finds in "
        "both frames (most prominent person), per frame, mean over frames with any such keypoint",
        "mkr": "share of the body keypoints found in the true frame that are missing in the generated one, per "
        "frame, mean over frames where the true frame shows any",
        "aed": "squared L2 distance Σ(Δ²) between identity embeddings (the --identity-embedder TorchScript on "
        "256x128 ImageNet-normalised frames) of each generated frame and its ground truth, as MRAA's cmp.py, "
        "mean over all frames",
    }


def check_frame_sizes(pairs: list[VideoPair], metrics: tuple[str, ...]) -> None:
    """Refuse, before any scoring, frames too small for one of ``metrics`` (those that will be computed, not
    skipped), at the size they are scored at: the ground truth's."""
    for name, side in MIN_FRAME_SIDE.items():
        if name not in metrics:
            continue
        for pair in pairs:
            width, height = pair.gt_size
            if min(width, height) < side:
                raise InputError(
                    f"video '{pair.name}': frames are {width}x{height} ('{pair.gt[0]}'), smaller than the "
                    f"{side}x{side} pixels {LABELS[name]} needs: leave {name} out of --metrics or evaluate "
                    f"frames of at least {side}x{side}"
                )


class _FeatureStats:
    """Batches prepared inputs through a feature network into running Gaussian statistics."""

    def __init__(self, network: Callable[[torch.Tensor], torch.Tensor], batch_size: int, device) -> None:
        self.network, self.batch_size, self.device = network, batch_size, device
        self.buffer: list[np.ndarray] = []
        self.stats = GaussianStats()

    def add(self, item: np.ndarray) -> None:
        self.buffer.append(item)
        if len(self.buffer) >= self.batch_size:
            self.flush()

    @torch.no_grad()
    def flush(self) -> None:
        if self.buffer:
            batch = torch.from_numpy(np.stack(self.buffer)).to(self.device)
            self.stats.update(self.network(batch).double().cpu().numpy())
            self.buffer = []


def _read(path) -> np.ndarray:
    return np.asarray(load_image(path, "frame"))


def _resized(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The frame at ``size`` (width, height), bilinear, as DisCo's per-frame metrics resize it."""
    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    return cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)


def _lpips_pair(model, gen: np.ndarray, gt: np.ndarray, device) -> tuple[float, float]:
    """(LPIPS on [-1, 1] inputs, LPIPS on [0, 1] inputs as DisCo feeds them)."""
    to = lambda a: torch.tensor(a).permute(2, 0, 1)[None].float().div(255).to(device)  # noqa: E731
    a, b = to(gen), to(gt)
    with torch.no_grad():
        return float(model(a * 2 - 1, b * 2 - 1)), float(model(a, b))


@dataclass
class _Side:
    """The clip windows and feature statistics of one side (generated or ground truth)."""

    fid: _FeatureStats | None = None
    fid_vid: _FeatureStats | None = None
    fvd: _FeatureStats | None = None
    windows: dict[str, ClipWindows] = field(default_factory=dict)


def evaluate_videos(
    pairs: list[VideoPair],
    options: EvaluationOptions | None = None,
    features: dict[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
    lpips: torch.nn.Module | None = None,
    skipped: dict[str, str] | None = None,
    progress: bool = True,
    pose_extractor: Callable[[np.ndarray], list] | None = None,
    identity: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict:
    """Scores ``pairs``. ``features`` maps fid / fid_vid / fvd to their networks (prepared input -> (B, D));
    ``lpips`` is an LPIPS module; ``pose_extractor`` (an RGB frame -> people, magicpose.pose.extract) gives
    AKD and MKR; ``identity`` (prepared frames -> (B, D), magicpose.eval.identity) gives AED; metrics whose
    network is missing go to ``skipped`` with the given reason."""
    from tqdm.auto import tqdm

    options = options or EvaluationOptions()
    features = features or {}
    skipped = dict(skipped or {})
    wanted = [name for name in ALL_METRICS if name in options.metrics]
    for name in wanted:
        network_missing = (
            (name.startswith("lpips") and lpips is None)
            or (name in ("fid", "fid_vid", "fvd") and name not in features)
            or (name in KEYPOINT_METRICS and pose_extractor is None)
            or (name == "aed" and identity is None)
        )
        if network_missing:
            skipped.setdefault(name, "its network was not given")
    active = [name for name in wanted if name not in skipped]
    check_frame_sizes(pairs, tuple(active))
    device = options.device
    clip_batch = max(1, options.batch_size // 4)

    def side() -> _Side:
        s = _Side()
        if "fid" in active:
            s.fid = _FeatureStats(features["fid"], options.batch_size, device)
        for name in ("fid_vid", "fvd"):
            if name in active:
                setattr(s, name, _FeatureStats(features[name], clip_batch, device))
                s.windows[name] = ClipWindows(options.clip_length, options.clip_stride)
        return s

    gen_side, gt_side = side(), side()
    prepare = {"fid_vid": fid_vid_frame, "fvd": fvd_frame}
    fid_input = FID_INPUTS[options.fid_protocol]
    totals = {name: 0.0 for name in active if name not in ("fid", "fid_vid", "fvd", *KEYPOINT_METRICS)}
    use_keypoints = any(name in active for name in KEYPOINT_METRICS)
    keypoints = KeypointScores()
    per_video: dict[str, dict] = {}
    bar = tqdm(total=sum(len(p.gen) for p in pairs), desc="evaluate", unit="frame", disable=not progress)
    for pair in pairs:
        sums = {name: 0.0 for name in totals}
        video_keypoints = KeypointScores()
        for s in (gen_side, gt_side):
            for w in s.windows.values():
                w.reset()
        for gen_path, gt_path in zip(pair.gen, pair.gt):
            # DisCo resizes to the ground truth's size only for the per-frame metrics; its FID, FID-VID and FVD
            # read the generated file, so their inputs are resized from the original frame, once.
            original, gt = _read(gen_path), _read(gt_path)
            gen = _resized(original, pair.gt_size) if pair.resized else original
            for name in sums:
                if name in FRAME_METRICS:
                    sums[name] += FRAME_METRICS[name](gen, gt)
            if lpips is not None and ("lpips" in sums or "lpips_disco" in sums):
                plain, disco = _lpips_pair(lpips, gen, gt, device)
                for name, value in (("lpips", plain), ("lpips_disco", disco)):
                    if name in sums:
                        sums[name] += value
            if "aed" in sums:
                sums["aed"] += embedding_distance(identity, gen, gt, device)
            if use_keypoints:
                gen_body, gt_body = main_body(pose_extractor(gen)), main_body(pose_extractor(gt))
                for scores in (keypoints, video_keypoints):
                    scores.add(gen_body, gt_body)
            for s, frame in ((gen_side, original), (gt_side, gt)):
                if s.fid is not None:
                    s.fid.add(fid_input(frame))
                if s.windows:
                    clip_frame = gif_round_trip(frame) if options.gif else frame
                    for name, windows in s.windows.items():
                        for clip in windows.push(prepare[name](clip_frame)):
                            getattr(s, name).add(clip)
            bar.update(1)
        n = len(pair.gen)
        per_video[pair.name] = {"frames": n, **{name: total / n for name, total in sums.items()}}
        for name in KEYPOINT_METRICS:
            if name in active and video_keypoints.mean(name) is not None:
                per_video[pair.name][name] = video_keypoints.mean(name)
        for name in totals:
            totals[name] += sums[name]
    bar.close()

    frames = sum(len(p.gen) for p in pairs)
    clips = sum(clip_count(len(p.gen), options.clip_length, options.clip_stride) for p in pairs)
    results = {name: total / frames for name, total in totals.items()}
    for name in KEYPOINT_METRICS:
        if name in active:
            if keypoints.mean(name) is None:
                skipped[name] = "the pose extractor found no body keypoint in " + (
                    "any pair of frames" if name == "akd" else "any ground-truth frame"
                )
            else:
                results[name] = keypoints.mean(name)
    for name in ("fid", "fid_vid", "fvd"):
        if name not in active:
            continue
        gen_stats, gt_stats = getattr(gen_side, name), getattr(gt_side, name)
        gen_stats.flush()
        gt_stats.flush()
        unit = "frames" if name == "fid" else f"clips of {options.clip_length} frames"
        if gen_stats.stats.count < 2:
            skipped[name] = f"needs at least 2 {unit}, the videos give {gen_stats.stats.count}" + (
                f" (a clip needs a video of {options.clip_length} frames)" if name != "fid" else ""
            )
            continue
        results[name] = stats_distance(gen_stats.stats, gt_stats.stats)
    return {
        "metrics": {name: results[name] for name in wanted if name in results},
        "skipped": {name: skipped[name] for name in wanted if name in skipped},
        "counts": {
            "videos": len(pairs),
            "frames": frames,
            "clips": clips if any(n in active for n in ("fid_vid", "fvd")) else 0,
        },
        "resized_videos": [p.name for p in pairs if p.resized],
        "per_video": per_video,
        "protocol": {
            name: text for name, text in protocol(options).items() if name == "frames" or name in wanted
        },
    }


def format_value(name: str, value: float) -> str:
    """A metric as the tables print it (a value that rounds to zero prints without a minus sign)."""
    if name == "l1_disco":
        text = f"{value:.3e}"
    elif name.startswith(("psnr", "fid", "fvd", "akd")):
        text = f"{value:.2f}"
    else:
        text = f"{value:.4f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def markdown_table(report: dict, label: str = "generated") -> str:
    """The summary row (and one row per video for the per-frame metrics), skipped metrics as footnotes."""
    names = [n for n in ALL_METRICS if n in report["metrics"] or n in report["skipped"]]
    arrows = [LABELS[n] + (" ↓" if n in LOWER_IS_BETTER else " ↑") for n in names]
    lines = ["| | " + " | ".join(arrows) + " |", "|---|" + "---|" * len(names)]
    cells = [format_value(n, report["metrics"][n]) if n in report["metrics"] else "skipped" for n in names]
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
    counts = report["counts"]
    lines += [
        "",
        f"{counts['videos']} videos, {counts['frames']} frames"
        + (f", {counts['clips']} clips" if counts["clips"] else "")
        + ".",
    ]
    for name, reason in report["skipped"].items():
        lines.append(f"- {LABELS[name]} skipped: {reason}.")
    frame_names = [n for n in names if n in report["metrics"] and n not in ("fid", "fid_vid", "fvd")]
    if len(report["per_video"]) > 1 and frame_names:
        lines += [
            "",
            "| video | frames | " + " | ".join(LABELS[n] for n in frame_names) + " |",
            "|---|---|" + "---|" * len(frame_names),
        ]
        for video, row in report["per_video"].items():
            cells = [format_value(n, row[n]) if n in row else "–" for n in frame_names]
            lines.append(f"| {video} | {row['frames']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
