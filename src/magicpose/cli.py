"""The ``magicpose`` command. ``infer.py`` and the bash scripts are thin wrappers over it.

Every user error (missing file, bad folder, wrong size, unwritable output) is reported as one line
``error: ...`` naming the file and the fix, with exit status 2 and no output left behind.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from magicpose.errors import InputError
from magicpose.files import check_writable, parents_removed_on_error

# The example and the demo weights are package data, so the main job runs from any install (in a checkout,
# example_data/ and pretrained_weights/demo* are links to these folders).
ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_IMAGE = ASSETS / "example_data" / "reference.png"
DEFAULT_POSES = ASSETS / "example_data" / "poses"
DEFAULT_POSE2VID_POSES = ASSETS / "example_data" / "pose_json"  # keypoints: the face enhancer finds the head
DEFAULT_WEIGHTS = ASSETS / "pretrained_weights" / "demo"
DEFAULT_POSE2VID_WEIGHTS = ASSETS / "pretrained_weights" / "pose2vid_demo"
DEFAULT_OUTPUT = Path("outputs") / "demo.mp4"
DEFAULT_POSE2VID_OUTPUT = Path("outputs") / "pose2vid_demo.mp4"
DEFAULT_FPS = 8.0
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

    parser = argparse.ArgumentParser(prog="magicpose", description="Pose retargeting with MagicPose.")
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

    from magicpose.data.synthetic import add_make_synthetic_arguments

    add_make_synthetic_arguments(sub.add_parser(
        "make-synthetic", help="write a synthetic-dancers dataset (TikTok layout + OpenPose JSON)"))
    from magicpose.data.from_video import add_add_video_arguments

    add_add_video_arguments(sub.add_parser(
        "add-video", help="add a video and its OpenPose JSON to a TikTok-layout training dataset"))
    from magicpose.convert import add_convert_parser

    add_convert_parser(sub)
    from magicpose.eval.command import add_evaluate_parser

    add_evaluate_parser(sub)
    # Training takes its own arguments (config file + key=value overrides): everything after the
    # subcommand is handed over as is.
    sub.add_parser("train", add_help=False, help="two-stage MagicPose training (see: magicpose train --help)")
    sub.add_parser("train-base", add_help=False, help="stage 0 of the CPU demo: small VAE and base UNet")
    sub.add_parser("train-pose2vid", add_help=False,
                   help="Everybody Dance Now pose2vid training (see: magicpose train-pose2vid --help)")
    return parser


# -- shared set-up ------------------------------------------------------------------------------


def _device_and_dtype(args):
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    name = args.dtype or ("float16" if device.startswith("cuda") else "float32")
    return device, getattr(torch, name)


def _load_pipeline(args):
    from magicpose.image_utils import check_size
    from magicpose.weights import load_pipeline, weights_description

    if args.height is not None or args.width is not None:
        if args.height is None or args.width is None:
            raise InputError("pass both --height and --width, or neither to use the model's size")
        check_size(args.height, args.width)
    device, dtype = _device_and_dtype(args)
    if args.cpu_offload and device == "cpu":
        raise InputError("--cpu-offload moves models to a GPU while they run: pass --device cuda, or drop the flag")
    args.weights = args.weights or str(DEFAULT_WEIGHTS)
    pipe = load_pipeline(args.weights, device="cpu" if args.cpu_offload else device, dtype=dtype)
    if args.cpu_offload:
        pipe.enable_model_cpu_offload(device=device)
    if args.vae_slicing:
        pipe.vae.enable_slicing()
    note = weights_description(args.weights)
    if note:
        print(f"note: {note}")
    if args.xformers:
        pipe.enable_xformers_memory_efficient_attention()
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    height, width = (args.height or size), (args.width or size)
    _warn_far_from_native(height, width, (size, size))
    return pipe, height, width


def _load_pose2vid(args):
    """The pose2vid pipeline and output size (default: the size the weights were trained at), checked before any
    frame is generated."""
    from magicpose.image_utils import check_size
    from magicpose.weights import load_pose2vid_pipeline, weights_description

    args.weights = args.weights or str(DEFAULT_POSE2VID_WEIGHTS)
    if (args.height is None) != (args.width is None):
        raise InputError("pass both --height and --width, or neither for the size the weights were trained at")
    if args.height is not None:
        check_size(args.height, args.width)
    device, dtype = _device_and_dtype(args)
    pipe = load_pose2vid_pipeline(args.weights, device=device, dtype=dtype)
    height, width = (args.height, args.width) if args.height is not None else pipe.generator.default_size
    _warn_far_from_native(height, width, pipe.generator.default_size)
    note = weights_description(args.weights)
    if note:
        print(f"note: {note}")
    multiple = pipe.generator.size_multiple
    if height % multiple or width % multiple:
        raise InputError(f"--height and --width must be multiples of {multiple} for these pose2vid weights, "
                         f"got {height}x{width}")
    return pipe, height, width


def _warn_far_from_native(height: int, width: int, native: tuple[int, int]) -> None:
    """Networks trained at one scale give noise far from it (the 64 px demo at 512 px): say so up front."""
    ratios = (height / native[0], width / native[1])
    if max(ratios) > 2 or min(ratios) < 0.5:
        print(f"warning: {width}x{height} is far from the {native[1]}x{native[0]} these weights were trained at; "
              f"expect noise (leave out --height and --width to use their size)")


def _blank_frames_warning(blank: list[int]) -> str | None:
    if not blank:
        return None
    shown = ", ".join(str(i) for i in blank[:8]) + (", ..." if len(blank) > 8 else "")
    return (f"warning: {_count(len(blank), 'pose frame')} hold no person (frame {shown}): their output comes "
            f"from a blank pose")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _print_resize(reference, first_pose: np.ndarray, width: int, height: int) -> None:
    if (first_pose.shape[1], first_pose.shape[0]) != reference.size or (width, height) != reference.size:
        print(f"resize: reference {reference.width}x{reference.height} and poses "
              f"{first_pose.shape[1]}x{first_pose.shape[0]} are centre-cropped to {_aspect(width, height)} "
              f"and resized to {width}x{height}")


def _aspect(width: int, height: int) -> str:
    divisor = math.gcd(width, height)
    return f"{width // divisor}:{height // divisor}"


def _check_run_flags(args) -> None:
    """Every flag that can be wrong is checked before any model is loaded, each with one line."""
    import torch

    if args.fps is not None and (not math.isfinite(args.fps) or args.fps <= 0):
        raise InputError(f"--fps {args.fps:g} must be a positive number of frames per second (8 by default)")
    if args.steps < 1:
        raise InputError(f"--steps {args.steps} must be at least 1 (50 in the original)")
    if args.steps > 1000:
        raise InputError(f"--steps {args.steps} is more than the scheduler's 1000 training timesteps: use at most "
                         f"1000 (50 in the original)")
    if args.frames_per_batch < 1:
        raise InputError(f"--frames-per-batch {args.frames_per_batch} must be at least 1 (4 by default)")
    for name in ("height", "width"):
        value = getattr(args, name)
        if value is not None and value < 8:
            raise InputError(f"--{name} {value} must be a positive multiple of 8")
    if args.device is None:
        return
    try:
        device = torch.device(args.device)
    except (RuntimeError, ValueError):
        raise InputError(f"--device '{args.device}' is not a device: use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"--device {args.device}: this machine has no CUDA GPU that PyTorch can use "
                             f"(torch {torch.__version__}): use --device cpu")
        if device.index is not None and device.index >= count:
            raise InputError(f"--device {args.device}: this machine has {count} CUDA GPU(s), "
                             f"cuda:0 to cuda:{count - 1}")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"--device {args.device}: MPS is not available on this machine: use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"--device '{args.device}' is not supported: use cpu, cuda, cuda:N or mps")


def _generate(pipe, reference, poses, height, width, args):
    import torch

    return pipe(
        image=reference, pose_images=poses, height=height, width=width, num_inference_steps=args.steps,
        guidance_scale=args.guidance_scale, generator=torch.Generator().manual_seed(args.seed),
        frames_per_batch=args.frames_per_batch, appearance_timestep=args.appearance_timestep,
        output_type="latent",
    ).frames


# -- infer ----------------------------------------------------------------------------------------


def run_infer(args) -> int:
    from tqdm.auto import tqdm

    from magicpose.image_utils import center_crop_resize, load_image
    from magicpose.pose import load_pose_sequence
    from magicpose.video import (
        FrameFolderWriter,
        VideoWriter,
        atomic_outputs,
        make_preview_frame,
        write_preview_grid,
    )

    _check_run_flags(args)
    pose2vid = args.generator == "pose2vid"
    if args.driving_video is None:
        args.poses = args.poses or str(DEFAULT_POSE2VID_POSES if pose2vid else DEFAULT_POSES)
    output = Path(args.output or (DEFAULT_POSE2VID_OUTPUT if pose2vid else DEFAULT_OUTPUT))
    if output.suffix.lower() != ".mp4":
        raise InputError(f"output '{output}' must end in .mp4 (frames and preview are written beside it)")
    check_writable(output)
    reference = load_image(args.image, "reference image")
    driving = None
    if args.driving_video is not None:
        driving = _driving_poses(args, reference)
        poses = driving.sequence
    else:
        poses = load_pose_sequence(args.poses, width=reference.width, height=reference.height)
    fps = args.fps or (driving.fps if driving is not None and driving.fps else DEFAULT_FPS)
    if poses.ignored:
        print(f"ignored: {', '.join(poses.ignored)} in '{args.poses}' (hidden or system files)")
    if poses.has_keypoints:
        no_person = [i for i in range(len(poses))
                     if not any((part[:, 2] > 0).any() for person in poses.pose(i).people
                                for part in (person.body, person.left_hand, person.right_hand, person.face))]
        if no_person:
            print(_blank_frames_warning(no_person))
    if args.normalize_to is not None and driving is None:  # a driving video was normalised already
        from magicpose.pose import normalize_pose_sequence

        target = load_pose_sequence(args.normalize_to, width=reference.width, height=reference.height)
        poses = normalize_pose_sequence(poses, target)
        print(f"normalize: {len(poses)} driving poses mapped onto the scale and floor of '{args.normalize_to}'")
    if pose2vid:
        pipe, height, width = _load_pose2vid(args)
    else:
        pipe, height, width = _load_pipeline(args)
    _print_resize(reference, poses[0], width, height)

    started = time.perf_counter()
    if pose2vid:  # autoregressive: each frame is generated as it is written
        print(f"generating {_count(len(poses), 'frame')} at {width}x{height} with pose2vid (each from the "
              f"previous one)")
        keypoints = [poses.pose(i) for i in range(len(poses))] if poses.has_keypoints else None
        if pipe.face_enhancer is not None and keypoints is None:
            print("note: the face enhancer is skipped: it finds the head from keypoints, and --poses holds pose "
                  "maps (pass OpenPose JSON or a keypoint .npy)")
        decoded = pipe.iter_frames(poses, height, width, pose_keypoints=keypoints)
    else:
        print(f"generating {_count(len(poses), 'frame')} at {width}x{height}, {args.steps} steps, guidance "
              f"{args.guidance_scale}")
        latents = _generate(pipe, reference, poses, height, width, args)
        decoded = pipe.iter_frames(latents, batch_size=args.frames_per_batch)
    ref_small = np.asarray(center_crop_resize(reference, width, height))
    blank: list[int] = []
    preview_rows, preview_at = [], set(np.linspace(0, len(poses) - 1, min(4, len(poses))).round().astype(int))
    stem = output.with_suffix("")
    frames_dir, preview_mp4, preview_png = (Path(f"{stem}_frames"), Path(f"{stem}_preview.mp4"),
                                            Path(f"{stem}_preview.png"))
    with parents_removed_on_error(output.parent), atomic_outputs() as tmp:
        if driving is not None:  # beside the output, to inspect and rerun with --poses
            driving.write(tmp, stem)
        with VideoWriter(tmp(output), fps=fps, atomic=False) as video, \
                VideoWriter(tmp(preview_mp4), fps=fps, atomic=False) as preview, \
                FrameFolderWriter(tmp(frames_dir), atomic=False) as frames:
            for i, frame in enumerate(tqdm(decoded, total=len(poses), desc="writing", unit="frame")):
                pose_map = poses[i]
                if not pose_map.any():
                    blank.append(i)
                pose = center_crop_resize(pose_map, width, height)
                row = make_preview_frame(ref_small, pose, frame)
                video.write(frame)
                frames.write(frame)
                preview.write(row)
                if i in preview_at:
                    preview_rows.append(row)
        write_preview_grid(tmp(preview_png), preview_rows)
    if not poses.has_keypoints and _blank_frames_warning(blank):  # keypoint sources were checked up front
        print(_blank_frames_warning(blank))
    print(f"wrote {output}, {frames_dir}/ ({_count(len(poses), 'frame')}), {preview_mp4} and {preview_png} "
          f"in {time.perf_counter() - started:.1f} s")
    if driving is not None:
        print(f"wrote the driving poses to {stem}_poses/ (rerun with --poses {stem}_poses/pose_json) and the "
              f"alignment preview to {stem}_alignment.png")
    return 0


# -- driving video and extract-poses ---------------------------------------------------------------------


class _Driving:
    """The driving video's poses for ``infer``, and how to write them beside the output."""

    def __init__(self, prepared) -> None:
        from magicpose.pose import PoseSequence

        self.prepared = prepared
        self.fps = prepared.fps
        self.sequence = PoseSequence.from_poses(prepared.final, prepared.names, "<driving video>")

    def write(self, tmp, stem: Path) -> None:
        from PIL import Image

        from magicpose.pose.extract.frames import write_pose_folder

        p = self.prepared
        folder = tmp(Path(f"{stem}_poses"))
        write_pose_folder(p.final, p.names, folder)  # what the generator followed
        write_pose_folder(p.raw, p.names, folder / "extracted")  # as extracted, before smoothing and alignment
        Image.fromarray(p.preview).save(tmp(Path(f"{stem}_alignment.png")))


def _check_extraction_flags(args) -> None:
    if args.stride < 1:
        raise InputError(f"--stride {args.stride} must be at least 1")
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f"--max-frames {args.max_frames} must be at least 1 (leave it out for every frame)")
    for name in ("min_cutoff", "beta"):
        value = getattr(args, name)
        if not math.isfinite(value) or value < 0 or (name == "min_cutoff" and value == 0):
            raise InputError(f"--{name.replace('_', '-')} {value:g} must be a positive number")


def _driving_poses(args, reference) -> _Driving:
    from magicpose.pose import read_openpose_json
    from magicpose.pose.driving import prepare_driving_poses
    from magicpose.pose.extract import load_extractor

    if args.poses is not None:
        raise InputError("pass either --poses or --driving-video, not both")
    _check_extraction_flags(args)
    reference_pose = normalize_to = None
    if args.reference_pose is not None:
        reference_pose = read_openpose_json(args.reference_pose, reference.width, reference.height)
    if args.normalize_to is not None:
        from magicpose.pose import load_pose_sequence

        if args.align != "none":
            raise InputError("--normalize-to replaces the alignment: pass --align none with it")
        target = load_pose_sequence(args.normalize_to, width=reference.width, height=reference.height)
        if not target.has_keypoints:
            raise InputError(f"--normalize-to '{args.normalize_to}' holds pose maps: it needs keypoints "
                             "(OpenPose JSON or a keypoint .npy)")
        normalize_to = [target.pose(i) for i in range(len(target))]
    extractor = load_extractor(args.backend, args.weights_dir, device="cpu")
    prepared = prepare_driving_poses(
        args.driving_video, np.asarray(reference), extractor, reference_pose=reference_pose, align=args.align,
        smooth=args.smooth, stride=args.stride, max_frames=args.max_frames, person=args.person,
        smooth_options={"min_cutoff": args.min_cutoff, "beta": args.beta}, normalize_to=normalize_to)
    seen = sum(1 for f in prepared.raw if f.people)
    fitted = f"normalised to '{args.normalize_to}'" if normalize_to is not None else f"aligned: {args.align}"
    print(f"driving: {_count(len(prepared.raw), 'frame')} from '{args.driving_video}' ({seen} with a person), "
          f"{'smoothed, ' if args.smooth else ''}{fitted}")
    return _Driving(prepared)


def run_extract_poses(args) -> int:
    from magicpose.pose.extract import load_extractor
    from magicpose.pose.extract.frames import check_pose_folder, extract_poses, write_pose_folder
    from magicpose.pose.smooth import smooth_keypoints

    _check_extraction_flags(args)
    out = Path(args.output)
    check_pose_folder(out)
    check_writable(out / "keypoints.json")  # probes the folder itself
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
    print(f"wrote {out}/pose_json/ and {out}/poses/: {_count(len(frames), 'frame')}{rate}, {seen} with a person"
          f"{', smoothed' if args.smooth else ''}")
    return 0


# -- infer-dataset ----------------------------------------------------------------------------------


def _write_dataset_video(pipe, out, reference, targets, poses, latents, height, width, batch_size) -> None:
    """gen_images/, gt_images/ (the real frames, cropped like the output), pose_maps/, condition.png."""
    from magicpose.image_utils import center_crop_resize, load_image
    from magicpose.video import FrameFolderWriter, atomic_outputs

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_outputs() as tmp:
            # each frame keeps its source frame's name (as PNG), so evaluation matches it to the ground truth
            with FrameFolderWriter(tmp(out / "gen_images"), atomic=False) as gen, \
                    FrameFolderWriter(tmp(out / "gt_images"), atomic=False) as gt, \
                    FrameFolderWriter(tmp(out / "pose_maps"), atomic=False) as pose_dir:
                for i, frame in enumerate(pipe.iter_frames(latents, batch_size=batch_size)):
                    name = Path(targets[i].image).stem + ".png"
                    gen.write(frame, name)
                    gt.write(center_crop_resize(load_image(targets[i].image), width, height), name)
                    pose_dir.write(center_crop_resize(poses[i], width, height), name)
            center_crop_resize(reference, width, height).save(tmp(out / "condition.png"))
    except BaseException:
        if created and not any(out.iterdir()):
            out.rmdir()
        raise


def run_infer_dataset(args) -> int:
    from tqdm.auto import tqdm

    from magicpose.data.layout import list_videos
    from magicpose.image_utils import load_image

    _check_run_flags(args)
    for name, value in (("--max-videos", args.max_videos), ("--max-frames", args.max_frames)):
        if value is not None and value < 1:
            raise InputError(f"{name} {value} must be at least 1 (leave it out to process everything)")
    videos = list_videos(args.root, args.split)[: args.max_videos]
    for video in videos:  # checked before any work, not after generating the videos before it
        if len(video.frames) < 2:
            raise InputError(f"video folder '{video.image_dir}' has fewer than 2 frames: the first is the reference")
    out_root = Path(args.output)
    check_writable(out_root / "x")
    pipe, height, width = _load_pipeline(args)
    for video in tqdm(videos, desc="videos", unit="video"):
        frames = video.frames[: args.max_frames + 1] if args.max_frames else video.frames
        reference = load_image(frames[0].image)
        targets = frames[1:]
        poses = [np.asarray(load_image(f.pose)) for f in targets]
        _print_resize(reference, poses[0], width, height)
        print(f"{video.name}: generating {_count(len(poses), 'frame')} at {width}x{height}, {args.steps} steps, "
              f"guidance {args.guidance_scale}")
        latents = _generate(pipe, reference, poses, height, width, args)
        _write_dataset_video(pipe, out_root / video.name, reference, targets, poses, latents, height, width,
                             args.frames_per_batch)
    print(f"wrote {_count(len(videos), 'video')} to {out_root}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"]:
        from magicpose.training import main as train_main

        return train_main(argv[1:])
    if argv[:1] == ["train-base"]:
        from magicpose.training.base import main as base_main

        return base_main(argv[1:], prog="magicpose train-base")
    if argv[:1] == ["train-pose2vid"]:
        from magicpose.training.gan_trainer import main as pose2vid_main

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
            from magicpose.data.synthetic import run_make_synthetic

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
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no output was written", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
