"""The ``magicpose`` command. ``infer.py`` and the bash scripts are thin wrappers over it; the infer job itself
lives in ``magicpose.infer``, shared with the web page.

Every user error (missing file, bad folder, wrong size, unwritable output) is reported as one line
``error: ...`` naming the file and the fix, with exit status 2 and no output left behind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from magicpose.errors import ArgumentParser, Cancelled, InputError, print_error
from magicpose.files import (
    check_beside,
    check_not_input,
    check_replaceable,
    check_writable,
    check_writable_folder,
    parents_removed_on_error,
)
from magicpose.infer import (
    DEFAULT_IMAGE,
    DEFAULT_OUTPUT,
    DEFAULT_POSE2VID_OUTPUT,
    check_extraction_flags,
    check_run_flags,
    count,
)

DTYPES = ("float32", "float16", "bfloat16")


def _add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default=None,
                   help="MagicPose pipeline folder or training checkpoint folder (default: the embedded demo "
                        "weights); with --generator pose2vid, a pose2vid folder (default: its demo weights)")
    p.add_argument("--steps", type=int, default=50, help="DDIM steps (50 in the original)")
    p.add_argument("--guidance-scale", type=float, default=7.0, help="image CFG scale (7 in the original); <=1 is off")
    p.add_argument("--seed", type=int, default=42, help="seed of the initial noise (42 in the original)")
    p.add_argument("--height", type=int, default=None, help="output height, a multiple of 8 (default: the model's)")
    p.add_argument("--width", type=int, default=None, help="output width, a multiple of 8 (default: the model's)")
    p.add_argument("--frames-per-batch", type=int, default=4, help="frames per network call")
    p.add_argument("--appearance-timestep", choices=("same", "zero"), default="same",
                   help="'zero' computes the reference features once (needs weights trained that way)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda if available)")
    p.add_argument("--dtype", choices=DTYPES, default=None, help="default: float16 on cuda, float32 elsewhere")
    p.add_argument("--xformers", action="store_true", help="use xformers attention (pip install 'magicpose[xformers]')")
    p.add_argument("--cpu-offload", action="store_true",
                   help="keep the models in CPU memory and move each to the GPU only while it runs "
                        "(diffusers enable_model_cpu_offload: least GPU memory, a little slower)")
    p.add_argument("--vae-slicing", action="store_true", help="VAE-decode one frame at a time (vae.enable_slicing)")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate of the written videos (default: 8, or the driving video's rate / --stride)")


def _add_extraction_args(p: argparse.ArgumentParser, device: bool) -> None:
    from magicpose.pose.extract import BACKENDS, DEFAULT_BACKEND, WEIGHTS_ENV
    from magicpose.pose.smooth import BETA, MIN_CUTOFF

    p.add_argument("--backend", choices=tuple(BACKENDS), default=DEFAULT_BACKEND,
                   help=f"pose extractor (default: {DEFAULT_BACKEND}, YOLOX + RTMPose whole-body on ONNX Runtime)")
    p.add_argument("--weights-dir", default=None,
                   help=f"folder of the extractor's weight files (default: ${WEIGHTS_ENV}, else "
                        "pretrained_weights/pose)")
    p.add_argument("--person", choices=("one", "all"), default="one",
                   help="one: the largest, most confident dancer, tracked across frames (default); all: everyone")
    p.add_argument("--stride", type=int, default=1, help="keep every N-th frame of the driving video (default: 1)")
    p.add_argument("--max-frames", type=int, default=None, help="keep at most this many frames")
    p.add_argument("--no-smooth", dest="smooth", action="store_false",
                   help="do not One-Euro-filter the keypoints over time")
    p.add_argument("--min-cutoff", type=float, default=MIN_CUTOFF,
                   help=f"One-Euro minimum cut-off in Hz: lower is smoother when still (default: {MIN_CUTOFF:g})")
    p.add_argument("--beta", type=float, default=BETA,
                   help=f"One-Euro speed coefficient: higher follows fast moves with less lag (default: {BETA:g})")
    if device:
        p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")


def build_parser() -> argparse.ArgumentParser:
    from magicpose import __version__

    parser = ArgumentParser(prog="magicpose", description="Pose retargeting with MagicPose.")
    parser.add_argument("--version", action="version", version=f"magicpose {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    infer = sub.add_parser("infer", help="animate a reference image with a pose sequence")
    infer.add_argument("--image", default=str(DEFAULT_IMAGE),
                       help=f"reference image of the person (default: the example's, {DEFAULT_IMAGE})")
    infer.add_argument("--poses", default=None,
                       help="folder of pose maps or OpenPose JSON files, or a .npy array (default: the example's "
                            "pose maps, or its OpenPose JSON with --generator pose2vid)")
    infer.add_argument("--output", default=None,
                       help="output mp4; frames go to <stem>_frames/, the preview to <stem>_preview.{mp4,png} "
                            f"(default: {DEFAULT_OUTPUT}, or {DEFAULT_POSE2VID_OUTPUT} with --generator pose2vid)")
    infer.add_argument("--generator", choices=("magicpose", "pose2vid"), default="magicpose",
                       help="magicpose: anyone, from the reference image; pose2vid: Everybody Dance Now, the one "
                            "person its --weights were trained on (--image is then only shown in the preview)")
    infer.add_argument("--face-blend", choices=("hard", "feather"), default=None,
                       help="pose2vid's face enhancer: paste the enhanced face back hard (as Everybody Dance "
                            "Now's code) or feathered into the frame (default: what the weights record: hard "
                            "for converted releases, feather for magicpose-trained ones)")
    infer.add_argument("--normalize-to", default=None, metavar="TARGET_POSES",
                       help="OpenPose JSON (file or folder) or keypoint .npy of the person to animate: map the "
                            "driving poses onto that person's scale and floor position (Everybody Dance Now "
                            "normalisation; --poses must then be keypoints too)")
    from magicpose.pose.align import ALIGN_MODES
    from magicpose.pose.driving import DEFAULT_ALIGN

    infer.add_argument("--driving-video", default=None, metavar="VIDEO_OR_FOLDER",
                       help="a dance video (or a folder of its frames) instead of --poses: its poses are "
                            "extracted, smoothed and aligned to the reference person, and saved beside the output")
    infer.add_argument("--align", choices=ALIGN_MODES, default=DEFAULT_ALIGN,
                       help="with --driving-video: fit the driving skeleton to the reference's body: none, global "
                            f"(one scale and shift) or bones (each bone's length ratio) (default: {DEFAULT_ALIGN})")
    infer.add_argument("--reference-pose", default=None, metavar="JSON",
                       help="the reference person's OpenPose JSON (default: extracted from --image)")
    _add_sampling_args(infer)
    _add_extraction_args(infer, device=False)

    extract = sub.add_parser("extract-poses", help="OpenPose JSON and pose maps from a video or frame folder")
    extract.add_argument("source", help="a video or a folder of frames")
    extract.add_argument("-o", "--output", required=True,
                         help="output folder: <output>/pose_json/*_keypoints.json and <output>/poses/*.png")
    _add_extraction_args(extract, device=True)

    dataset = sub.add_parser("infer-dataset", help="generate every test video of a TikTok-layout dataset")
    dataset.add_argument("--root", required=True, help="dataset root holding <split>_set/ and pose_map_<split>_set/")
    dataset.add_argument("--split", default="test", help="split name: reads <root>/<split>_set (default: test)")
    dataset.add_argument("--output", required=True, help="output folder: <output>/<video>/{gen,gt}_images, pose_maps")
    dataset.add_argument("--max-videos", type=int, default=None, help="process at most this many videos")
    dataset.add_argument("--max-frames", type=int, default=None, help="generate at most this many frames per video")
    _add_sampling_args(dataset)
    dataset.set_defaults(generator="magicpose")

    from magicpose.synthetic import add_make_synthetic_arguments

    add_make_synthetic_arguments(sub.add_parser(
        "make-synthetic", help="write a synthetic-dancers dataset (TikTok layout + OpenPose JSON)"))
    from magicpose.data.from_video import add_add_video_arguments

    add_add_video_arguments(sub.add_parser(
        "add-video", help="add a video and its OpenPose JSON to a TikTok-layout training dataset"))
    from magicpose.convert import add_convert_parser

    add_convert_parser(sub)
    from magicpose.eval.command import add_evaluate_parser

    add_evaluate_parser(sub)
    from magicpose.ui.command import add_ui_parser

    add_ui_parser(sub)
    # Training takes its own arguments (config file + key=value overrides): everything after the
    # subcommand is handed over as is.
    sub.add_parser("train", add_help=False, help="two-stage MagicPose training (see: magicpose train --help)")
    sub.add_parser("train-base", add_help=False, help="stage 0 of the CPU demo: small VAE and base UNet")
    sub.add_parser("train-pose2vid", add_help=False,
                   help="Everybody Dance Now pose2vid training (see: magicpose train-pose2vid --help)")
    return parser


# -- infer ----------------------------------------------------------------------------------------


def run_infer(args) -> int:
    from magicpose.infer import check_run_flags, generate_video, load_generator, output_size, prepare_inputs

    check_run_flags(args)
    inputs = prepare_inputs(args)
    pipe = load_generator(args)
    height, width = output_size(pipe, args)
    out = generate_video(pipe, height, width, inputs, args)
    print(f"wrote {out.video}, {out.frames_dir}/ ({count(out.num_frames, 'frame')}), {out.preview_mp4} and "
          f"{out.preview_png} in {out.seconds:.1f} s")
    if inputs.driving is not None:
        stem = out.video.with_suffix("")
        print(f"wrote the driving poses to {stem}_poses/ (rerun with --poses {stem}_poses/pose_json) and the "
              f"alignment preview to {stem}_alignment.png")
    return 0


# -- extract-poses ----------------------------------------------------------------------------------------


def run_extract_poses(args) -> int:
    from magicpose.devices import check_device
    from magicpose.pose.extract import load_extractor
    from magicpose.pose.extract.frames import check_frame_source, extract_poses, write_pose_folder
    from magicpose.pose.smooth import smooth_keypoints

    check_extraction_flags(args)
    check_device(args.device)
    out = Path(args.output)
    check_replaceable(out, "--output", inputs=[args.source, args.weights_dir], kind="poses")
    check_not_input(out, (), "--output", input_folders=[args.source, args.weights_dir])
    check_writable(out / "keypoints.json")  # probes the folder itself
    check_frame_source(args.source)  # the input's own problems first, then the extractor's files
    extractor = load_extractor(args.backend, args.weights_dir, device=args.device)
    extracted = extract_poses(args.source, extractor, person=args.person, stride=args.stride,
                              max_frames=args.max_frames)
    frames = extracted.frames
    if args.smooth:
        from magicpose.pose.driving import DEFAULT_FPS

        frames = smooth_keypoints(frames, extracted.fps or DEFAULT_FPS, min_cutoff=args.min_cutoff, beta=args.beta)
    with parents_removed_on_error(out.parent):
        write_pose_folder(frames, extracted.names, out)
    seen = sum(1 for f in frames if f.people)
    rate = f" at {extracted.fps:g} fps" if extracted.fps else ""
    print(f"wrote {out}/pose_json/ and {out}/poses/: {count(len(frames), 'frame')}{rate}, {seen} with a person"
          f"{', smoothed' if args.smooth else ''}")
    return 0


# -- infer-dataset ----------------------------------------------------------------------------------


DATASET_VIDEO_FOLDERS = ("gen_images", "gt_images", "pose_maps")


def _write_dataset_video(pipe, out, reference, targets, poses, latents, height, width, batch_size) -> None:
    """gen_images/, gt_images/ (the real frames, cropped like the output), pose_maps/, condition.png."""
    from magicpose.image_utils import center_crop_resize, load_image
    from magicpose.video import FrameFolderWriter, atomic_outputs, save_marked_png

    with parents_removed_on_error(out), atomic_outputs() as tmp:
        # each frame keeps its source frame's name (as PNG), so evaluation matches it to the ground truth
        with FrameFolderWriter(tmp(out / "gen_images", kind="frames"), atomic=False) as gen, \
                FrameFolderWriter(tmp(out / "gt_images", kind="frames"), atomic=False) as gt, \
                FrameFolderWriter(tmp(out / "pose_maps", kind="frames"), atomic=False) as pose_dir:
            for i, frame in enumerate(pipe.iter_frames(latents, batch_size=batch_size)):
                name = Path(targets[i].image).stem + ".png"
                gen.write(frame, name)
                gt.write(center_crop_resize(load_image(targets[i].image), width, height), name)
                pose_dir.write(center_crop_resize(poses[i], width, height), name)
        save_marked_png(center_crop_resize(reference, width, height), tmp(out / "condition.png"))


def run_infer_dataset(args) -> int:
    """Every video of the split, or, as one of several processes (``torchrun``, ``accelerate launch``), this
    rank's share of them (``magicpose.distributed``): every rank first checks the whole run, then generates and
    writes only its own videos, each seeded by itself, so the files equal one process's."""
    from magicpose.distributed import rank_from_environ

    rank = rank_from_environ()
    try:
        return _infer_dataset(args, rank)
    except InputError as err:  # one line per failing rank, naming it
        if rank.several:
            raise InputError(f"{rank.prefix}{err}") from None
        raise


def _infer_dataset(args, rank) -> int:
    from magicpose.data.layout import list_videos
    from magicpose.distributed import sigterm_interrupts
    from magicpose.infer import load_generator, output_size

    check_run_flags(args)
    for name, value in (("--max-videos", args.max_videos), ("--max-frames", args.max_frames)):
        if value is not None and value < 1:
            raise InputError(f"{name} {value} must be at least 1 (leave it out to process everything)")
    videos = list_videos(args.root, args.split)[: args.max_videos]
    for video in videos:  # checked before any work, not after generating the videos before it
        if len(video.frames) < 2:
            raise InputError(f"video folder '{video.image_dir}' has fewer than 2 frames: the first is the reference")
    out_root = Path(args.output)
    check_writable_folder(out_root, "--output")
    inputs = [args.root, args.weights]
    check_not_input(out_root, inputs, "--output", input_folders=inputs)
    _check_frames_open(videos, args.max_frames)  # every rank checks every video: all refuse before any work
    for video in videos:  # each video's folders may replace only an earlier infer-dataset output
        for folder in DATASET_VIDEO_FOLDERS:
            check_replaceable(out_root / video.name / folder, "--output", inputs, kind="frames")
        check_not_input(out_root / video.name / "condition.png", inputs, "--output")
        check_beside(out_root / video.name / "condition.png", out_root, "--output")
    args.device = rank.device(args.device)
    mine = rank.shard(videos)
    if not mine:
        print(f"{rank.prefix}no video to generate ({count(len(videos), 'video')} for {rank.world_size} processes)")
        return 0
    _use_device(args.device)
    if rank.local_rank != 0:  # one set of progress bars per node: its first process's
        _hide_loading_bars()
    pipe = load_generator(args, log=lambda line: print(rank.prefix + line))
    if rank.local_rank != 0:
        pipe.set_progress_bar_config(disable=True)
    height, width = output_size(pipe, args, log=lambda line: print(rank.prefix + line))
    done: list[str] = []
    try:
        # only the folders this rank made are removed on failure, and only when empty: never another rank's
        with sigterm_interrupts(), parents_removed_on_error(out_root):
            _generate_dataset(pipe, mine, out_root, height, width, args, rank, done)
    except KeyboardInterrupt:  # Ctrl+C, or the launcher stopping this rank because another failed
        kept = (f"the video in progress was not written; {count(len(done), 'finished video')} kept in {out_root}: "
                f"{', '.join(done)}") if done else "no output was written"
        print_error(rank.prefix + kept, prefix="interrupted")
        return 130
    if rank.several:
        print(f"{rank.prefix}wrote {count(len(done), 'video')} to {out_root}: {', '.join(done)} (this rank's share "
              f"of {count(len(videos), 'video')})")
    else:
        print(f"wrote {count(len(done), 'video')} to {out_root}")
    return 0


def _hide_loading_bars() -> None:
    """No 'Loading pipeline components' and 'Loading weights' bars from this process."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()


def _use_device(device: str | None) -> None:
    """Make ``cuda:N`` the current CUDA device, so that nothing of this rank lands on another rank's GPU 0."""
    if device and device.startswith("cuda:"):
        import torch

        torch.cuda.set_device(device)


def _check_frames_open(videos, max_frames: int | None) -> None:
    """Every frame and pose map that will be read opens as an image (its header, not its pixels): a bad file in
    the last video is named before the first is generated. A file damaged past its header still stops the run
    when it is read; the videos finished by then are kept, each complete."""
    from PIL import Image

    from magicpose.image_utils import IMAGE_READ_ERRORS

    for video in videos:
        for frame in video.frames[: max_frames + 1] if max_frames else video.frames:
            for path in (frame.image, frame.pose):
                try:
                    with Image.open(path):
                        pass
                except IMAGE_READ_ERRORS as exc:
                    raise InputError(f"cannot read image '{path}' ({exc}): re-export it as PNG or JPEG, or remove "
                                     "the frame and its pose map") from None


def _generate_dataset(pipe, videos, out_root: Path, height: int, width: int, args, rank, done: list[str]) -> None:
    """Generate and write ``videos``, appending each finished one's name to ``done``."""
    from tqdm.auto import tqdm

    from magicpose.image_utils import load_image
    from magicpose.infer import generate_latents, resize_note

    desc = f"videos (rank {rank.rank}/{rank.world_size})" if rank.several else "videos"
    for video in tqdm(videos, desc=desc, unit="video", disable=rank.local_rank != 0):
        frames = video.frames[: args.max_frames + 1] if args.max_frames else video.frames
        reference = load_image(frames[0].image)
        targets = frames[1:]
        poses = [np.asarray(load_image(f.pose)) for f in targets]
        note = resize_note(reference, poses[0], width, height)
        if note:
            print(rank.prefix + note)
        print(f"{rank.prefix}{video.name}: generating {count(len(poses), 'frame')} at {width}x{height}, "
              f"{args.steps} steps, guidance {args.guidance_scale}")
        latents = generate_latents(pipe, reference, poses, height, width, args)
        _write_dataset_video(pipe, out_root / video.name, reference, targets, poses, latents, height, width,
                             args.frames_per_batch)
        done.append(video.name)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"]:
        from magicpose.training import main as train_main

        return train_main(argv[1:])
    if argv[:1] == ["train-base"]:
        from magicpose.training.demo_stage0 import main as base_main

        return base_main(argv[1:], prog="magicpose train-base")
    if argv[:1] == ["train-pose2vid"]:
        from magicpose.training.pose2vid_trainer import main as pose2vid_main

        return pose2vid_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "infer":
            return run_infer(args)
        if args.command == "extract-poses":
            return run_extract_poses(args)
        if args.command == "infer-dataset":
            return run_infer_dataset(args)
        if args.command == "make-synthetic":
            from magicpose.synthetic import run_make_synthetic

            return run_make_synthetic(args)
        if args.command == "add-video":
            from magicpose.data.from_video import run_add_video

            return run_add_video(args)
        if args.command == "convert":
            from magicpose.convert import run_convert

            return run_convert(args)
        if args.command == "evaluate":
            from magicpose.eval.command import run_evaluate

            return run_evaluate(args)
        if args.command == "ui":
            from magicpose.ui.command import run_ui

            return run_ui(args)
    except InputError as err:
        print_error(str(err))
        return 2
    except (KeyboardInterrupt, Cancelled):
        print_error("no output was written", prefix="interrupted")
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
