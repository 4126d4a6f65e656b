"""FID, FID-VID and FVD under each protocol option of `magicpose evaluate`, side by side on one set.

    python benchmarks/eval_protocols.py [--out outputs/eval_protocols] [--motions 4] [--frames 24]
        [--gen DIR --gt DIR] [--eval-weights DIR] [--device cpu]

The set (unless --gen/--gt name folders of video folders to score instead): compare_generators.py's
self-reenactment set, the pose2vid demo's body generator on its dancer's --motions held-out motions,
--frames generated frames each after the reference frame 0, 64x64, against the true renders. Written to
OUT/gen/<motion>/ and OUT/gt/<motion>/ (frames 0001.png ...).

Networks: the real files when --eval-weights (or $MAGICPOSE_EVAL_WEIGHTS) holds them; else stand-ins with
random weights, written to OUT/standins/ under the usual names: pytorch-fid's Inception-v3 (the full
architecture of magicpose.eval.inception_fid, He-initialised), a clean-fid-style TorchScript whose ``layers``
are that same network (so the two FID protocols differ only in their resize and scaling, as the two real
files are ports of one TensorFlow graph), Hara's 3D ResNet-50 (full architecture, magicpose.eval.resnet3d)
and, as the package has no I3D architecture, a small random 3D CNN with the I3D TorchScript's call in place
of FVD's I3D. Stand-in figures show how much each option moves the numbers through these networks, not
what a trained network would give.

Rows: the default protocol (DisCo's current one: pytorch-fid FID; FID-VID and FVD on every 16-frame window
of the raw frames; clean resize not clipped), then each option that departs from it: --fid-protocol
clean-fid, --gif (DisCo's June-2023 GIFs), the resize clipped to [0, 255] (this package's earlier protocol;
not an option any more, measured by patching the resize), and all of this package's earlier defaults at
once (clean-fid, GIF, clipped). Also printed: how many resized values fall outside [0, 255] on this set.

Writes OUT/eval_protocols.md and OUT/eval_protocols.json and prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import time
from pathlib import Path

import numpy as np
import torch
from results import record
from torch import Tensor, nn

from magicpose.eval import preprocess
from magicpose.eval.evaluate import EvaluationOptions, evaluate_videos
from magicpose.eval.folders import pair_folders
from magicpose.eval.inception_fid import FIDInceptionV3
from magicpose.eval.networks import find_network_files, load_feature_network
from magicpose.eval.resnet3d import resnet3d_50

NETWORK_METRICS = ("fid", "fid_vid", "fvd")
# (row, EvaluationOptions keywords, resize clipped, metrics it changes)
VARIANTS = (
    ("default (DisCo today): pytorch-fid FID, raw frames, resize not clipped", {}, False, NETWORK_METRICS),
    ("--fid-protocol clean-fid", {"fid_protocol": "clean-fid"}, False, ("fid",)),
    ("--gif (DisCo's June-2023 GIFs)", {"gif": True}, False, ("fid_vid", "fvd")),
    ("resize clipped to [0, 255] (clean-fid FID)", {"fid_protocol": "clean-fid"}, True, NETWORK_METRICS),
    (
        "this package before: clean-fid, GIF, clipped",
        {"fid_protocol": "clean-fid", "gif": True},
        True,
        NETWORK_METRICS,
    ),
)
# What each row is compared with: the default, except the clipped row's FID (clean-fid without clipping).
BASELINE_FID = {3: 1}


def log(*parts, end: str = "\n") -> None:
    print(*parts, end=end, flush=True)


# ------------------------------------------------------------------------------------------- stand-ins


def _he_init(model: nn.Module, seed: int) -> nn.Module:
    """Random weights whose activations stay bounded through a deep network, with non-trivial BN statistics:
    He-scaled convolutions, and each residual branch's last BatchNorm scaled down (0.1-0.3) so that 16
    bottlenecks do not compound."""
    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(module.weight)
        elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm3d)):
            module.running_var.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
        if hasattr(module, "bn3"):
            module.bn3.weight.data.uniform_(0.1, 0.3)
    return model.eval()


class CleanFIDStandIn(nn.Module):
    """clean-fid's TorchScript interface (a ``layers`` module on (x - 128) / 128) around given layers."""

    def __init__(self, layers: nn.Module) -> None:
        super().__init__()
        self.layers = layers

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor:
        return self.layers((x - 128) / 128)


class I3DStandIn(nn.Module):
    """A small random 3D CNN with the I3D TorchScript's call; 400-d features."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv3d(3, 32, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3)),
            nn.ReLU(),
            nn.Conv3d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv3d(64, 128, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.fc = nn.Linear(128, 400)

    def forward(
        self, x: Tensor, rescale: bool = False, resize: bool = False, return_features: bool = True
    ) -> Tensor:
        return self.fc(self.net(x).mean((2, 3, 4)))


def write_standins(folder: Path, seed: int = 0) -> dict[str, Path]:
    """Random networks in the formats `magicpose evaluate` loads, under their usual file names."""
    folder.mkdir(parents=True, exist_ok=True)
    inception = _he_init(FIDInceptionV3(), seed)
    torch.save(inception.state_dict(), folder / "pt_inception-2015-12-05-6726825d.pth")
    with torch.no_grad():
        traced = torch.jit.trace(inception, torch.zeros(2, 3, 299, 299))
    torch.jit.script(CleanFIDStandIn(traced)).save(str(folder / "inception-2015-12-05.pt"))
    resnet = _he_init(resnet3d_50(), seed + 1)
    torch.save(
        {"state_dict": {"module." + k: v for k, v in resnet.state_dict().items()}},
        folder / "resnet-50-kinetics.pth",
    )
    torch.jit.script(_he_init(I3DStandIn(), seed + 2)).save(str(folder / "i3d_torchscript.pt"))
    return {
        "pytorch_fid_inception": folder / "pt_inception-2015-12-05-6726825d.pth",
        "inception": folder / "inception-2015-12-05.pt",
        "resnet3d": folder / "resnet-50-kinetics.pth",
        "i3d": folder / "i3d_torchscript.pt",
    }


# ------------------------------------------------------------------------------------------------- set


def write_set(out: Path, motions: int, frames: int, device: str) -> tuple[Path, Path, str]:
    """compare_generators.py's set with the pose2vid demo's body generator: OUT/gen, OUT/gt."""
    from compare_generators import SPLIT_SEED
    from eval_demo import ROOT
    from eval_gan import SIZE, case, demo_dancer, run_pose2vid
    from PIL import Image

    from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline
    from magicpose.synthetic import split_ids
    from magicpose.weights import load_pose2vid_pipeline

    pipe = load_pose2vid_pipeline(str(ROOT / "pretrained_weights" / "pose2vid_demo"), device=device)
    body = Pose2VidPipeline(generator=pipe.generator)
    dancer = demo_dancer()
    chosen = [motion for _, motion in split_ids(SPLIT_SEED, "test", motions)]
    for motion in chosen:
        keypoints, maps, truth, _ = case(dancer, motion, frames)
        generated = run_pose2vid(body, maps, keypoints)[1:]  # frame 0 is the reference, not scored
        for side, video in (("gt", truth[1:]), ("gen", generated)):
            folder = out / side / f"motion_{motion}"
            folder.mkdir(parents=True, exist_ok=True)
            for k, frame in enumerate(video, start=1):
                Image.fromarray(frame).save(folder / f"{k:04d}.png")
    what = (
        f"pose2vid demo (body generator) vs the true renders of its dancer {dancer}, {len(chosen)} held-out "
        f"motions x {frames} frames, {SIZE}x{SIZE}"
    )
    return out / "gen", out / "gt", what


PHOTOS = ("astronaut", "coffee", "rocket", "immunohistochemistry")  # scikit-image's sample photographs
PHOTO_SIZE, PAN = 384, 4


def write_photo_set(out: Path, frames: int) -> tuple[Path, Path, str]:
    """Real photographs, whose shadows and highlights reach 0 and 255 as a camera's do (the synthetic frames
    stay within 9-252): each panned as a video, a 384x384 window moving 4 px a frame; the "generated" video
    is the same pan 3 px right and 2 px down, blurred (Gaussian, sigma 1) and saved as JPEG at quality 75,
    then read back."""
    import io

    import cv2
    import skimage.data
    from PIL import Image

    for name in PHOTOS:
        photo = getattr(skimage.data, name)()
        for k in range(1, frames + 1):
            x = PAN * k
            truth = photo[8 : 8 + PHOTO_SIZE, x : x + PHOTO_SIZE]
            shifted = cv2.GaussianBlur(photo[10 : 10 + PHOTO_SIZE, x + 3 : x + 3 + PHOTO_SIZE], (0, 0), 1.0)
            buffer = io.BytesIO()
            Image.fromarray(shifted).save(buffer, format="JPEG", quality=75)
            generated = np.asarray(Image.open(buffer).convert("RGB"))
            for side, frame in (("gt", truth), ("gen", generated)):
                folder = out / side / name
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.ascontiguousarray(frame)).save(folder / f"{k:04d}.png")
    what = (
        f"scikit-image's photographs ({', '.join(PHOTOS)}) panned as {frames}-frame videos, "
        f"{PHOTO_SIZE}x{PHOTO_SIZE}, against a shifted, blurred, JPEG-compressed copy of each pan"
    )
    return out / "gen", out / "gt", what


# ------------------------------------------------------------------------------------------- measuring


@contextlib.contextmanager
def clipped_resize(clip: bool):
    """The resize as this package did it before (clipped to [0, 255]), for one row."""
    original = preprocess.resize_clean
    if clip:
        preprocess.resize_clean = functools.partial(original, clip=True)
    try:
        yield
    finally:
        preprocess.resize_clean = original


def out_of_range(pairs) -> dict[str, float]:
    """Share of resized values outside [0, 255] and the largest excursion, at each network's input size."""
    from magicpose.image_utils import load_image

    stats = {}
    frames = [np.asarray(load_image(p)) for pair in pairs for p in (*pair.gen, *pair.gt)]
    for size in (preprocess.FID_SIZE, preprocess.FVD_SIZE, preprocess.FID_VID_SIZE):
        values = np.stack([preprocess.resize_clean(f, size) for f in frames])
        outside = (values < 0) | (values > 255)
        stats[f"{size}px_share_outside"] = float(outside.mean())
        stats[f"{size}px_most_levels_outside"] = float(max(-values.min(), values.max() - 255, 0))
    return stats


def measure(pairs, features: dict, device: str) -> list[dict]:
    rows = []
    for label, options, clip, metrics in VARIANTS:
        tic = time.perf_counter()
        opts = EvaluationOptions(metrics=metrics, device=device, **options)
        nets = {"fid": features[opts.fid_protocol], "fid_vid": features["fid_vid"], "fvd": features["fvd"]}
        with torch.no_grad(), clipped_resize(clip):
            report = evaluate_videos(pairs, opts, features={m: nets[m] for m in metrics}, progress=False)
        rows.append({"protocol": label, "metrics": report["metrics"], "counts": report["counts"]})
        log(f"  {label}: {report['metrics']} ({time.perf_counter() - tic:.0f} s)")
    return rows


def markdown(rows: list[dict], set_what: str, ranges: dict[str, float]) -> str:
    default = rows[0]["metrics"]
    lines = ["| protocol | FID | FID-VID | FVD |", "|---|---|---|---|"]
    for i, row in enumerate(rows):
        cells = []
        for name in NETWORK_METRICS:
            if name not in row["metrics"]:
                cells.append("= default")
                continue
            base = (
                rows[BASELINE_FID[i]]["metrics"][name]
                if name == "fid" and i in BASELINE_FID
                else default[name]
            )
            value = row["metrics"][name]
            change = "" if i == 0 else f" ({100 * (value - base) / base:+.2f} %)"
            cells.append(f"{value:.5g}{change}")
        lines.append(f"| {row['protocol']} | " + " | ".join(cells) + " |")
    counts = rows[0]["counts"]
    lines += [
        "",
        f"Set: {set_what}: {counts['videos']} videos, {counts['frames']} frames and {counts['clips']} "
        "clips of 16 per side. Changes against the default; the clipped row's FID against clean-fid "
        "unclipped. Resized values outside [0, 255]: "
        + ", ".join(
            f"{size} px {100 * ranges[f'{size}px_share_outside']:.3f} % (up to "
            f"{ranges[f'{size}px_most_levels_outside']:.1f} levels)"
            for size in (299, 224, 112)
        )
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="outputs/eval_protocols")
    parser.add_argument("--sets", default="pose2vid,photos", help="which built-in sets: pose2vid, photos")
    parser.add_argument("--motions", type=int, default=4)
    parser.add_argument("--frames", type=int, default=24, help="frames per video (at least 16)")
    parser.add_argument("--gen", default=None, help="score this folder of generated video folders instead")
    parser.add_argument("--gt", default=None, help="its ground truth (with --gen)")
    parser.add_argument(
        "--eval-weights",
        default=None,
        metavar="DIR",
        help="real network files (default: $MAGICPOSE_EVAL_WEIGHTS; else random stand-ins)",
    )
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if (args.gen is None) != (args.gt is None):
        parser.error("--gen and --gt go together")
    started = time.perf_counter()
    out = Path(args.out)
    files = find_network_files({}, args.eval_weights)
    needed = ("pytorch_fid_inception", "inception", "resnet3d", "i3d")
    if all(name in files for name in needed):
        networks_what = "real network files: " + ", ".join(files[n].name for n in needed)
    else:
        files = write_standins(out / "standins")
        networks_what = (
            "random stand-ins (no real weights here): pytorch-fid's Inception-v3 and the same weights "
            "behind a clean-fid-style TorchScript, Hara's 3D ResNet-50, a small 3D CNN for the I3D"
        )
    features = {
        "pytorch-fid": load_feature_network(
            "pytorch_fid_inception", files["pytorch_fid_inception"], args.device
        ),
        "clean-fid": load_feature_network("inception", files["inception"], args.device),
        "fid_vid": load_feature_network("resnet3d", files["resnet3d"], args.device),
        "fvd": load_feature_network("i3d", files["i3d"], args.device),
    }
    if args.gen:
        sets = {"given": (Path(args.gen), Path(args.gt), f"'{args.gen}' vs '{args.gt}'")}
    else:
        builders = {
            "pose2vid": lambda: write_set(out / "pose2vid", args.motions, args.frames, args.device),
            "photos": lambda: write_photo_set(out / "photos", args.frames),
        }
        sets = {name: builders[name]() for name in args.sets.split(",")}
    log(f"networks: {networks_what}")
    tables, summary = [], {"networks": networks_what, "sets": {}}
    for name, (gen, gt, set_what) in sets.items():
        log(f"set {name}: {set_what}")
        pairs = pair_folders(gen, gt)
        rows = measure(pairs, features, args.device)
        ranges = out_of_range(pairs)
        tables.append(markdown(rows, set_what, ranges))
        summary["sets"][name] = {"set": set_what, "rows": rows, "resize_out_of_range": ranges}
    text = "\n".join(tables) + f"\nNetworks: {networks_what}.\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval_protocols.md").write_text(text)
    (out / "eval_protocols.json").write_text(json.dumps(summary, indent=2) + "\n")
    record("eval_protocols", summary)
    log("")
    log(text, end="")
    log(f"wrote {out / 'eval_protocols.md'} ({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
