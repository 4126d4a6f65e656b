"""``magicpose evaluate GEN_DIR [GT_DIR]``: the TikTok-benchmark metrics over folders of frames."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from magicpose.errors import InputError

DESCRIPTION = """\
Scores generated videos against their ground truth with the metrics of the MagicPose/DisCo papers:
L1, PSNR, SSIM and LPIPS per frame, FID over all frames (pytorch-fid's protocol, as the papers, by
default), FID-VID and FVD over every 16-frame window of the raw frames, and MRAA's
AKD and MKR of the body keypoints when a pose extractor's weights are there, and its AED when an identity
embedder is given (--identity-embedder). The papers'
own variants (DisCo's L1 over H*W, its uint8-overflow PSNR, LPIPS fed [0, 1]) are reported beside the
correct ones under their own names. Every convention is written into the results (see README,
"Evaluation").

Layouts: `magicpose infer-dataset` output (GT_DIR may be left out), two folders of video folders, or two
folders of frames. Frames are paired by file name.

Network weights never download: LPIPS, FID, FID-VID and FVD need local files (flags below, or one folder
given by --eval-weights or $MAGICPOSE_EVAL_WEIGHTS holding them under their usual names); a metric without
its file is reported as skipped, with the reason.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from magicpose.eval.evaluate import ALL_METRICS
    from magicpose.eval.preprocess import CLIP_LENGTH, FID_PROTOCOLS

    parser = subparsers.add_parser(
        "evaluate",
        help="the papers' metrics (L1, PSNR, SSIM, LPIPS, FID, FID-VID, FVD) "
        "of generated frames against the ground truth",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "gen_dir",
        metavar="GEN_DIR",
        help="generated frames: infer-dataset output, a folder of video folders, or one folder of frames",
    )
    parser.add_argument(
        "gt_dir",
        metavar="GT_DIR",
        nargs="?",
        default=None,
        help="ground-truth frames in the same layout (default: infer-dataset's <video>/gt_images)",
    )
    parser.add_argument(
        "-o",
        "--output",
        default=None,
        help="results JSON; a Markdown table goes beside it (.md) (default: GEN_DIR/evaluation.json)",
    )
    parser.add_argument(
        "--metrics",
        default=None,
        help=f"comma-separated subset of {','.join(ALL_METRICS)} (default: all; with --mode reconstruction, "
        f"{','.join(RECONSTRUCTION_METRICS)}, MRAA's)",
    )
    parser.add_argument(
        "--mode",
        choices=("frames", "reconstruction"),
        default="frames",
        help="frames (default): score GEN_DIR against GT_DIR; reconstruction: MRAA's self-reconstruction, "
        "each video of --dataset rebuilt from its first frame by --mraa-weights into GEN_DIR, then scored",
    )
    parser.add_argument(
        "--mraa-weights", default=None, metavar="DIR", help="reconstruction: an MRAA pipeline folder"
    )
    parser.add_argument(
        "--dataset",
        default=None,
        metavar="ROOT",
        help="reconstruction: the videos (<ROOT>/<split>/ or <ROOT>/<split>_set/, frame folders or .mp4 files)",
    )
    parser.add_argument("--split", default="test", help="reconstruction: the dataset's split (default: test)")
    parser.add_argument(
        "--resize",
        action="store_true",
        help="resize generated frames to the ground truth's size (bilinear, as DisCo) instead of "
        "refusing different sizes",
    )
    parser.add_argument(
        "--clip-length",
        type=int,
        default=CLIP_LENGTH,
        help=f"frames per FID-VID/FVD clip (default: {CLIP_LENGTH}, the papers')",
    )
    parser.add_argument(
        "--clip-stride",
        type=int,
        default=1,
        help="start a clip every N frames (default: 1, every window, as DisCo)",
    )
    parser.add_argument(
        "--gif",
        action="store_true",
        help="score FID-VID/FVD clips through a GIF palette, DisCo's June-2023 protocol (default: "
        "the raw frames, its current one)",
    )
    # Before the default flipped to raw frames, --no-gif selected them; it is kept as a no-op for old scripts.
    parser.add_argument("--no-gif", dest="gif", action="store_false", help=argparse.SUPPRESS)
    parser.add_argument(
        "--fid-protocol",
        choices=FID_PROTOCOLS,
        default=FID_PROTOCOLS[0],
        help="pytorch-fid (default, as the papers: bilinear resize, pytorch-fid's Inception, "
        "--pytorch-fid-inception) or clean-fid (float bicubic resize, clean-fid's "
        "TorchScript Inception, --inception)",
    )
    add_network_arguments(
        parser,
        "folder holding the network files under their usual names",
        "; AKD and MKR are skipped when its files are not there",
    )
    parser.add_argument(
        "--device", default=None, help="torch device for the networks (default: cuda if present)"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="frames per network batch (default: 16)")
    return parser


def add_network_arguments(
    parser: argparse.ArgumentParser, eval_weights_help: str, pose_weights_note: str = ""
) -> None:
    """The metric networks' flags (``--eval-weights`` and one per file) and the pose extractor's, which
    ``benchmarks/compare_generators.py`` shares."""
    from magicpose.eval.networks import NETWORK_FILES
    from magicpose.pose.extract import BACKENDS, DEFAULT_BACKEND, WEIGHTS_ENV

    parser.add_argument(
        "--eval-weights",
        default=None,
        metavar="DIR",
        help=f"{eval_weights_help} (default: $MAGICPOSE_EVAL_WEIGHTS)",
    )
    for name, spec in NETWORK_FILES.items():
        parser.add_argument(
            f"--{spec.key}", dest=name, default=None, metavar="PATH", help=f"{spec.what} ({spec.filename})"
        )
    parser.add_argument(
        "--pose-backend",
        choices=list(BACKENDS),
        default=DEFAULT_BACKEND,
        help=f"pose extractor for AKD and MKR (default: {DEFAULT_BACKEND})",
    )
    parser.add_argument(
        "--pose-weights",
        default=None,
        metavar="DIR",
        help=f"its weights folder (default: ${WEIGHTS_ENV}, else pretrained_weights/pose){pose_weights_note}",
    )


RECONSTRUCTION_METRICS = ("l1", "akd", "mkr", "aed")  # MRAA's protocol: L1, (AKD, MKR), AED


def _metrics(text: str | None, mode: str = "frames") -> tuple[str, ...]:
    from magicpose.eval.evaluate import ALL_METRICS

    if text is None:
        return RECONSTRUCTION_METRICS if mode == "reconstruction" else ALL_METRICS

    names = tuple(dict.fromkeys(n.strip().lower().replace("-", "_") for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in ALL_METRICS]
    if unknown or not names:
        raise InputError(
            f"--metrics: unknown metric '{unknown[0] if unknown else text}': choose from "
            f"{','.join(ALL_METRICS)}"
        )
    return names


MAX_BATCH_SIZE, MAX_CLIP_LENGTH = 256, 256


def check_numbers(args) -> None:
    """Every numeric option, before any work: a bound on each keeps one batch or clip from exhausting memory."""
    from magicpose.eval.preprocess import CLIP_LENGTH

    for flag, value, most, default in (
        ("--clip-length", args.clip_length, MAX_CLIP_LENGTH, CLIP_LENGTH),
        ("--clip-stride", args.clip_stride, None, 1),
        ("--batch-size", args.batch_size, MAX_BATCH_SIZE, 16),
    ):
        if value < 1:
            raise InputError(f"{flag} {value} must be at least 1 ({default} by default)")
        if most is not None and value > most:
            raise InputError(
                f"{flag} {value} is more than {most}: use at most {most} ({default} by default); one "
                "batch or clip is held in memory at once"
            )


def run(args) -> int:
    from magicpose.commands import keywords
    from magicpose.eval.evaluate import EvaluationOptions, check_frame_sizes, evaluate_videos, markdown_table
    from magicpose.eval.folders import pair_folders
    from magicpose.eval.networks import NETWORK_FILES, find_network_files, load_networks, missing_reason
    from magicpose.files import MARK, atomic_outputs, check_beside, check_writable, parents_removed_on_error

    metrics = _metrics(args.metrics, args.mode)
    check_numbers(args)
    if args.mode != "reconstruction" and (args.mraa_weights or args.dataset):
        raise InputError(
            "--mraa-weights and --dataset belong to --mode reconstruction: add it, or leave them out"
        )
    from magicpose.devices import check_device

    device = check_device(args.device)
    output = Path(args.output) if args.output else Path(args.gen_dir) / "evaluation.json"
    if output.suffix.lower() != ".json":
        raise InputError(f"--output '{output}' must end in .json (the Markdown table goes beside it as .md)")
    table_path = output.with_suffix(".md")
    if args.mode == "reconstruction":
        reconstruct(args, device)
    pairs = pair_folders(args.gen_dir, args.gt_dir, resize=args.resize)  # every pairing error before any work
    check_writable(output)
    check_beside(table_path, output, "--output")  # a folder, or a file magicpose did not write, is refused
    files = find_network_files(keywords(args, *NETWORK_FILES), args.eval_weights)
    scored = tuple(m for m in metrics if not (m.startswith("lpips") and missing_reason("lpips", files)))
    check_frame_sizes(pairs, scored)  # frames too small for a metric, before loading any network

    with parents_removed_on_error(output.parent):  # a new folder for -o, removed again if the run fails
        networks, skipped = load_networks(
            metrics, files, device, args.pose_backend, args.pose_weights, fid_protocol=args.fid_protocol
        )
        passed = keywords(args, "clip_length", "clip_stride", "gif", "fid_protocol", "batch_size")
        options = EvaluationOptions(metrics=metrics, **passed, device=device)
        report = evaluate_videos(pairs, options, skipped=skipped, **networks)
        report["inputs"] = {
            "generated": str(args.gen_dir),
            "ground_truth": str(args.gt_dir or "<video>/gt_images"),
            "networks": {name: str(path) for name, path in files.items()},
        }
        table = markdown_table(report, label=Path(args.gen_dir).name or "generated")
        with atomic_outputs() as tmp:  # both files appear together, or neither
            tmp(output).write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
            tmp(table_path).write_text(f"{table}\n<!-- written by {MARK} -->\n", encoding="utf-8")
        if args.mode == "reconstruction" and output.parent.resolve() == Path(args.gen_dir).resolve():
            from magicpose.eval.reconstruction import KIND
            from magicpose.files import write_record

            write_record(args.gen_dir, KIND)  # the scores join the reconstruction: a rerun replaces them all
    print(table, end="")
    print(f"wrote {output} and {table_path}")
    return 0


def reconstruct(args, device) -> None:
    """--mode reconstruction: rebuild --dataset's videos into GEN_DIR (infer-dataset's layout) for scoring."""
    if not args.mraa_weights or not args.dataset:
        raise InputError(
            "--mode reconstruction needs --mraa-weights DIR (an MRAA pipeline) and --dataset ROOT"
        )
    if args.gt_dir:
        raise InputError("--mode reconstruction writes GEN_DIR's ground truth itself: leave GT_DIR out")
    from magicpose.data.video_frames import list_frame_videos
    from magicpose.eval.reconstruction import reconstruct_videos
    from magicpose.weights import load_mraa_pipeline

    list_frame_videos(args.dataset, args.split)  # a bad dataset is one line, before the networks load
    pipe = load_mraa_pipeline(args.mraa_weights, device=device)
    reconstruct_videos(pipe, args.dataset, args.split, args.gen_dir)
