"""Every generator of the package on one held-out set, scored by `magicpose evaluate`'s engine: one table.

    python benchmarks/compare_generators.py [--motions 4] [--frames 24] [--steps 50] [--seed 0]
        [--out outputs/compare_generators] [--eval-weights DIR] [--magicpose pretrained_weights/demo]
        [--pose2vid pretrained_weights/pose2vid_demo] [--vid2vid pretrained_weights/vid2vid_demo] [--gif]
        [--fid-protocol clean-fid] [--device cpu] [--quick]

The set (the self-reenactment set of benchmarks/eval_gan.py): the synthetic dancer the pose2vid demo was
trained on (example_data/README.md) performs --motions held-out motions (ids from the test range, picked
as eval_gan.py picks them; the demo trained on train-range motions only), --frames + 1 consecutive frames
each at the dance's 8 fps, at the models' 64x64. Frame 0 is the reference; frames 1..N are generated from
their poses and compared with the true renders of the dancer in those poses. These figures are
self-reenactment of pose2vid's own subject, i.e. pose2vid's home ground: pose2vid is person-specific and
trained on this dancer, while MagicPose sees the dancer only through frame 0.

Generators: ``magicpose`` (the demo weights, --steps DDIM steps), ``pose2vid`` (body generator only),
``pose2vid_face`` (with its face enhancer, when the weights folder has one), ``vid2vid`` (the vid2vid demo,
streamed from frame 0's pose as pose2vid's recursion is), ``mraa`` (the MRAA demo in standard mode, frame 0
moved as the true frames 1..N move: MRAA follows a driving video, not poses, so this is its self-
reenactment) and ``copy_reference`` (frame 0 repeated). A generator whose weights folder is missing is
skipped with the reason.

A second table scores MRAA across identities: another held-out dancer's frame 0 as the source, driven by the
demo dancer's true frames, against the true renders of that other dancer in the same motion, for each of
MRAA's modes (standard, relative, avd) and copy_reference.

Frames are written as OUT/gt/<motion>/<k>.png and OUT/<generator>/<motion>/<k>.png (k = 1..N), and each
generator folder is scored against OUT/gt with magicpose.eval (pair_folders + evaluate_videos, every
metric: L1, PSNR, SSIM, LPIPS, FID, FID-VID, FVD and the papers' variants), plus foreground IoU against
the dancer's known background, which the synthetic set allows and the papers' TikTok set does not, and the
temporal error of benchmarks/eval_gan.py (magicpose.eval.temporal.frame_difference_error: how far each
generated frame-to-frame change is from the true one, per motion, lower is steadier). ``--quick`` (1 motion,
one 16-frame clip, 1 MagicPose step) is a smoke run.
LPIPS, FID, FID-VID and FVD need their networks' weights as local files (--eval-weights or
$MAGICPOSE_EVAL_WEIGHTS, see magicpose.eval.networks), AKD and MKR the pose extractor's (--pose-weights);
none is ever downloaded, and a metric without its weights is reported as skipped, with the reason.

Writes OUT/compare_generators.md (the table, for the README) and OUT/compare_generators.json (the full
report of each generator), prints the table, and ends with one JSON line {generator: {metric: value}}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
from eval_gan import (
    SIZE,
    add_weights_arguments,
    case,
    demo_dancer,
    run_magicpose,
    run_mraa,
    run_pose2vid,
    run_vid2vid,
)
from PIL import Image
from results import record as keep_result

from magicpose.commands import keywords
from magicpose.commands.evaluate import add_network_arguments
from magicpose.eval import foreground_iou, foreground_mask
from magicpose.eval.evaluate import (
    ALL_METRICS,
    LABELS,
    LOWER_IS_BETTER,
    EvaluationOptions,
    evaluate_videos,
    format_value,
)
from magicpose.eval.folders import pair_folders
from magicpose.eval.networks import NETWORK_FILES, find_network_files, load_networks
from magicpose.eval.preprocess import CLIP_LENGTH, FID_PROTOCOLS, clip_count
from magicpose.eval.temporal import frame_difference_error
from magicpose.synthetic import split_ids

GENERATORS = ("magicpose", "pose2vid", "pose2vid_face", "vid2vid", "mraa", "copy_reference")
MRAA_MODES = ("standard", "relative", "avd")
CROSS = "cross_identity"  # the folder of the cross-identity set
GT = "gt"
SPLIT_SEED = 1234  # eval_gan.py's default --seed: the same held-out motions as its self-reenactment


def log(*parts, end: str = "\n") -> None:
    print(*parts, end=end, flush=True)


def unavailable(flag: str, folder: str) -> str | None:
    """Why the weights folder given as ``--flag`` is not loaded (None: it is)."""
    if folder == "none":
        return f"--{flag} none"
    if not Path(folder).is_dir():
        return f"weights folder '{folder}' does not exist"
    return None


def load_generators(args, device: str) -> tuple[dict, dict[str, str]]:
    """{name: function(truth, maps, keypoints, n) -> frames 1..N}, {name: why it does not run} and the MRAA
    pipeline (None when not run)."""
    from magicpose.pipelines.pipeline_pose2vid import Pose2VidPipeline
    from magicpose.weights import (
        load_mraa_pipeline,
        load_pipeline,
        load_pose2vid_pipeline,
        load_vid2vid_pipeline,
    )

    runs, not_run = {}, {}
    if reason := unavailable("magicpose", args.magicpose):
        not_run["magicpose"] = reason
    else:
        magicpose = load_pipeline(args.magicpose, device=device)
        magicpose.set_progress_bar_config(disable=True)
        runs["magicpose"] = lambda truth, maps, keypoints, n: run_magicpose(
            magicpose, truth[0], maps[1:], args.steps, args.seed + n
        )
    if reason := unavailable("pose2vid", args.pose2vid):
        not_run["pose2vid"] = not_run["pose2vid_face"] = reason
    else:
        pose2vid = load_pose2vid_pipeline(args.pose2vid, device=device)
        body_only = Pose2VidPipeline(generator=pose2vid.generator)
        # The recursion starts at frame 0's pose, as in a video; frame 0 itself is not scored.
        runs["pose2vid"] = lambda truth, maps, keypoints, n: run_pose2vid(body_only, maps, keypoints)[1:]
        if pose2vid.face_enhancer is None:
            not_run["pose2vid_face"] = f"weights folder '{args.pose2vid}' has no face enhancer"
        else:
            runs["pose2vid_face"] = lambda truth, maps, keypoints, n: run_pose2vid(pose2vid, maps, keypoints)[
                1:
            ]
    if reason := unavailable("vid2vid", args.vid2vid):
        not_run["vid2vid"] = reason
    else:
        vid2vid = load_vid2vid_pipeline(args.vid2vid, device=device)
        # as pose2vid: the stream starts at frame 0's pose (hallucinated), frame 0 itself is not scored
        runs["vid2vid"] = lambda truth, maps, keypoints, n: run_vid2vid(vid2vid, maps)[1:]
    mraa = None
    if reason := unavailable("mraa", args.mraa):
        not_run["mraa"] = reason
    else:
        mraa = load_mraa_pipeline(args.mraa, device=device)
        runs["mraa"] = lambda truth, maps, keypoints, n: run_mraa(mraa, truth[0], truth[1:], "standard")
    runs["copy_reference"] = lambda truth, maps, keypoints, n: [truth[0]] * (len(maps) - 1)
    return {name: runs[name] for name in GENERATORS if name in runs}, not_run, mraa


def write_frames(folder: Path, frames: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(folder / f"{k}.png")


def resolve_networks(args, device: str) -> tuple[dict, dict[str, str], dict[str, str]]:
    """The networks as `magicpose evaluate` finds them: keyword arguments of evaluate_videos, the reasons of
    the metrics that cannot be computed, and the files found."""
    files = find_network_files(keywords(args, *NETWORK_FILES), args.eval_weights)
    networks, skipped = load_networks(
        ALL_METRICS, files, device, args.pose_backend, args.pose_weights, fid_protocol=args.fid_protocol
    )
    return networks, skipped, {name: str(path) for name, path in files.items()}


def markdown(
    rows: dict[str, dict], skipped: dict[str, list[str]], not_run: dict[str, str], set_line: str
) -> str:
    """Rows = generators, columns = IoU, temporal error, then every metric of ALL_METRICS; skipped metrics as
    footnotes."""
    names = ["iou", "temporal", *ALL_METRICS]
    heads = ["IoU ↑", "temporal error ↓"] + [
        LABELS[n] + (" ↓" if n in LOWER_IS_BETTER else " ↑") for n in ALL_METRICS
    ]
    lines = ["| generator | " + " | ".join(heads) + " |", "|---|" + "---|" * len(names)]
    for generator, values in rows.items():
        cells = [format_value(n, values[n]) if n in values else "skipped" for n in names]
        lines.append(f"| {generator} | " + " | ".join(cells) + " |")
    lines.append("")
    by_reason: dict[str, list[str]] = {}  # one line per reason (LPIPS and its DisCo variant share theirs)
    for metric, reasons in skipped.items():
        by_reason.setdefault("; ".join(reasons), []).append(LABELS[metric])
    for reason, labels in by_reason.items():
        lines.append(f"- {' and '.join(labels)} skipped: {reason}.")
    for generator, reason in not_run.items():
        lines.append(f"- {generator} not run: {reason}.")
    lines.append(f"- {set_line}")
    return "\n".join(lines) + "\n"


CROSS_METRICS = ("l1", "psnr", "ssim")


def cross_identity(
    mraa, dancer: int, motions: list[int], frames: int, out: Path, split_seed: int, device
) -> dict:
    """MRAA across identities: another held-out dancer's frame 0 moved as the demo dancer's true frames move, each
    mode and copy_reference scored against that dancer's true renders of the motion."""
    other = split_ids(split_seed + 1, "test", 1)[0][0]
    runs = {f"mraa_{mode}": mode for mode in MRAA_MODES if mode != "avd" or mraa.avd_network is not None}
    ious: dict[str, list[float]] = {name: [] for name in (*runs, "copy_reference")}
    for motion in motions:
        _, _, driving, _ = case(dancer, motion, frames)
        _, _, truth, background = case(other, motion, frames)
        video = f"motion_{motion}"
        write_frames(out / CROSS / GT / video, truth[1:])
        figures = [foreground_mask(t, background) for t in truth[1:]]
        outputs = {name: run_mraa(mraa, truth[0], driving[1:], mode) for name, mode in runs.items()}
        outputs["copy_reference"] = [truth[0]] * frames
        for name, made in outputs.items():
            write_frames(out / CROSS / name / video, made)
            ious[name].extend(
                foreground_iou(foreground_mask(f, background), t) for f, t in zip(made, figures)
            )
    options = EvaluationOptions(metrics=CROSS_METRICS, device=device)
    rows = {}
    for name in ious:
        report = evaluate_videos(pair_folders(out / CROSS / name, out / CROSS / GT), options, progress=False)
        rows[name] = {"iou": float(np.mean(ious[name])), **report["metrics"]}
    return {"source_identity": other, "driving_identity": dancer, "rows": rows}


def cross_markdown(result: dict, motions: list[int], frames: int) -> str:
    names = ("iou", *CROSS_METRICS)
    heads = ["IoU ↑"] + [LABELS[n] + (" ↓" if n in LOWER_IS_BETTER else " ↑") for n in CROSS_METRICS]
    lines = ["| MRAA, another dancer | " + " | ".join(heads) + " |", "|---|" + "---|" * len(names)]
    for name, values in result["rows"].items():
        lines.append(f"| {name} | " + " | ".join(format_value(n, values[n]) for n in names) + " |")
    lines.append("")
    lines.append(
        f"- Set: dancer {result['source_identity']}'s frame 0 moved as dancer {result['driving_identity']}'s true "
        f"frames 1..{frames} of {len(motions)} held-out motions move, scored against the true renders of dancer "
        f"{result['source_identity']} in those motions, {SIZE}x{SIZE}."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--motions", type=int, default=4, help="held-out motions of the demo dancer")
    parser.add_argument(
        "--frames",
        type=int,
        default=24,
        help=f"generated frames per motion after the reference frame 0 (at least {CLIP_LENGTH}, "
        "one FID-VID/FVD clip)",
    )
    parser.add_argument("--steps", type=int, default=50, help="MagicPose DDIM steps")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="MagicPose noise seed (motion n uses seed + n; 0 gives eval_gan.py's samples)",
    )
    parser.add_argument(
        "--split-seed",
        type=int,
        default=SPLIT_SEED,
        help="picks the held-out motions (default: eval_gan.py's)",
    )
    parser.add_argument("--out", default="outputs/compare_generators")
    # the same network and pose-extractor flags as `magicpose evaluate`
    add_network_arguments(parser, "folder of the LPIPS/FID/FID-VID/FVD network files")
    add_weights_arguments(
        parser,
        {
            "magicpose": "MagicPose weights, or 'none' to skip it",
            "pose2vid": "pose2vid weights (with or without face enhancer), or 'none' to skip both",
            "vid2vid": "vid2vid weights, or 'none' to skip it",
            "mraa": "MRAA weights, or 'none' to skip it (and the cross-identity table)",
        },
    )
    parser.add_argument(
        "--gif",
        action="store_true",
        help="score FID-VID/FVD clips through a GIF palette (DisCo's June-2023 protocol; default: "
        "the raw frames, as `magicpose evaluate`)",
    )
    parser.add_argument(
        "--fid-protocol",
        choices=FID_PROTOCOLS,
        default=FID_PROTOCOLS[0],
        help="FID as pytorch-fid (default, as the papers) or clean-fid, as `magicpose evaluate`",
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda if present)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"1 motion, {CLIP_LENGTH} frames (one clip), 1 MagicPose step: a smoke run of seconds",
    )
    args = parser.parse_args()
    if args.quick:
        args.motions, args.frames, args.steps = 1, CLIP_LENGTH, 1
    if args.frames < CLIP_LENGTH:
        parser.error(
            f"--frames {args.frames}: FID-VID/FVD need {CLIP_LENGTH}-frame clips, so at least "
            f"{CLIP_LENGTH} generated frames per motion ({CLIP_LENGTH + 1} with the reference)"
        )
    if args.motions < 1 or args.steps < 1:
        parser.error("--motions and --steps must be at least 1")

    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    started = time.perf_counter()
    networks, network_skipped, network_files = resolve_networks(args, device)
    generators, not_run, mraa = load_generators(args, device)
    for name, reason in not_run.items():
        log(f"{name}: not run ({reason})")

    out = Path(args.out)
    for name in (GT, *GENERATORS, CROSS):  # stale frames of an earlier run would break the pairing by name
        shutil.rmtree(out / name, ignore_errors=True)
    dancer = demo_dancer()
    motions = [motion for _, motion in split_ids(args.split_seed, "test", args.motions)]
    seconds = dict.fromkeys(generators, 0.0)
    ious: dict[str, list[float]] = {name: [] for name in generators}
    temporal: dict[str, list[float]] = {name: [] for name in generators}  # one figure per motion
    for n, motion in enumerate(motions):
        keypoints, maps, truth, background = case(dancer, motion, args.frames)
        video = f"motion_{motion}"
        write_frames(out / GT / video, truth[1:])
        figures = [foreground_mask(t, background) for t in truth[1:]]
        for name, generate in generators.items():
            tic = time.perf_counter()
            frames = generate(truth, maps, keypoints, n)
            seconds[name] += time.perf_counter() - tic
            assert len(frames) == args.frames, (name, len(frames))
            write_frames(out / name / video, frames)
            values = [foreground_iou(foreground_mask(f, background), t) for f, t in zip(frames, figures)]
            ious[name].extend(values)
            temporal[name].append(frame_difference_error(frames, truth[1:]))
            log(
                f"motion {n + 1}/{len(motions)} ({motion}) {name:15s} {time.perf_counter() - tic:7.1f} s  "
                f"IoU {np.mean(values):.3f}"
            )

    options = EvaluationOptions(gif=args.gif, fid_protocol=args.fid_protocol, device=device)
    reports, rows, skipped = {}, {}, {}
    for name in generators:
        tic = time.perf_counter()
        report = evaluate_videos(
            pair_folders(out / name, out / GT), options, skipped=network_skipped, progress=False, **networks
        )
        report["foreground_iou"] = float(np.mean(ious[name]))
        report["temporal_error"] = float(np.mean(temporal[name]))
        report["generation_seconds"] = round(seconds[name], 1)
        reports[name] = report
        rows[name] = {
            "iou": report["foreground_iou"],
            "temporal": report["temporal_error"],
            **report["metrics"],
        }
        for metric, reason in report["skipped"].items():
            if reason not in skipped.setdefault(metric, []):
                skipped[metric].append(reason)
        log(f"scored {name} in {time.perf_counter() - tic:.1f} s")

    clips = clip_count(args.frames, CLIP_LENGTH, 1) * len(motions)
    timing = ", ".join(f"{name} {s:.1f} s" for name, s in seconds.items())
    set_line = (
        f"Set: self-reenactment of synthetic dancer {dancer} (the pose2vid demo's subject; MagicPose sees "
        f"it only through frame 0) on {len(motions)} held-out motions ({', '.join(map(str, motions))}), "
        f"frame 0 the reference and frames 1..{args.frames} scored: {len(motions) * args.frames} frames, "
        f"{clips} clips of {CLIP_LENGTH} per generator, {SIZE}x{SIZE}; MagicPose {args.steps} DDIM steps, "
        f"seed {args.seed}; generation time on {device} per generator: {timing}."
    )
    table = markdown(rows, skipped, not_run, set_line)
    cross = None
    if mraa is not None:
        cross = cross_identity(mraa, dancer, motions, args.frames, out, args.split_seed, device)
        table += "\n" + cross_markdown(cross, motions, args.frames)
    (out / "compare_generators.md").write_text(table)
    record = {
        "set": {
            "dancer": dancer,
            "motions": motions,
            "frames_per_motion": args.frames,
            "size": SIZE,
            "steps": args.steps,
            "seed": args.seed,
            "split_seed": args.split_seed,
            "gif": args.gif,
            "fid_protocol": args.fid_protocol,
            "device": device,
            "networks": network_files,
        },
        "not_run": not_run,
        "generators": reports,
        "cross_identity": cross,
    }
    (out / "compare_generators.json").write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    log("")
    log(table, end="")
    log(
        f"wrote {out / 'compare_generators.md'} and {out / 'compare_generators.json'} "
        f"({time.perf_counter() - started:.0f} s in all)"
    )
    keep_result("compare_generators", record)  # the whole record, with the machine, in benchmarks/results/
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
